//! The bench's own tiny XDP programs (the wire, the sink, the generator),
//! written as raw instructions and loaded with `bpf(2)`: xtask cannot link
//! the eBPF toolchain, and these are a handful of instructions each.

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{ensure, Context as _, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`: BPF_XDP.
const BPF_XDP: u32 = 37;

/// XDP_DROP.
pub const XDP_DROP: i32 = 1;
/// `bpf_get_prandom_u32`.
pub const HELPER_PRANDOM: i32 = 7;
/// `bpf_redirect`.
pub const HELPER_REDIRECT: i32 = 23;

/// One `struct bpf_insn`: opcode, destination and source registers,
/// offset, immediate.
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from((dst & 0xf) | (src << 4)) << 8)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// `r0 = imm; exit`.
pub fn return_action(action: i32) -> Vec<u64> {
    vec![insn(0xb7, 0, 0, 0, action), insn(0x95, 0, 0, 0, 0)]
}

/// `return bpf_redirect(ifindex, 0)`.
pub fn redirect_to(ifindex: u32) -> Vec<u64> {
    vec![
        insn(0xb7, 1, 0, 0, ifindex as i32),
        insn(0xb7, 2, 0, 0, 0),
        insn(0x85, 0, 0, 0, HELPER_REDIRECT),
        insn(0x95, 0, 0, 0, 0),
    ]
}

/// `bpf(cmd, attr)`.
pub fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live `repr(C)` prefix of `union bpf_attr` of the
    // size passed; the pointers inside point to live buffers of the sizes
    // given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

fn owned(fd: libc::c_long) -> Result<OwnedFd> {
    let fd = i32::try_from(fd).context("bpf() returned no descriptor")?;
    // SAFETY: bpf() returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Loads an XDP program; the verifier's log is in the error.
pub fn load_xdp(name: &str, insns: &[u64]) -> Result<OwnedFd> {
    let license = CString::new("GPL").expect("no NUL");
    let mut log = vec![0u8; 64 * 1024];
    let mut prog_name = [0u8; 16];
    let n = name.len().min(15);
    prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name,
        expected_attach_type: BPF_XDP,
        ..Default::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr).with_context(|| {
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        format!(
            "loading XDP program {name}: {}",
            String::from_utf8_lossy(&log[..end])
        )
    })?;
    owned(fd)
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// Attaches `prog` to interface `ifindex` (native XDP) through a BPF link;
/// detached when the returned descriptor is closed.
pub fn attach_xdp(prog: &OwnedFd, ifindex: u32) -> Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: 0,
    };
    let fd = bpf(BPF_LINK_CREATE, &mut attr).context("attaching an XDP program")?;
    owned(fd)
}

/// The ifindex of `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name)?;
    // SAFETY: a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    ensure!(
        i != 0,
        "no interface {name}: {}",
        io::Error::last_os_error()
    );
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_instructions() {
        // r0 = 2; exit
        assert_eq!(return_action(2), vec![0x0000_0002_0000_00b7, 0x95]);
        // r1 = r6 -> code 0xbf, dst 1, src 6
        assert_eq!(insn(0xbf, 1, 6, 0, 0), 0x61bf);
        // negative offsets and immediates keep their bits
        assert_eq!(insn(0x05, 0, 0, -1, -1), 0xffff_ffff_ffff_0005);
    }
}
