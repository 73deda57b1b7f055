//! The floor under every T6 figure: an XDP program that only returns
//! XDP_PASS, loaded and test-run with raw `bpf(2)` calls exactly like the
//! real program (same frame, same context, `repeat = 1`).

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{Context as _, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// Size of `struct xdp_md`.
const XDP_MD_LEN: usize = 24;

/// `r0 = XDP_PASS (2); exit`, as raw `struct bpf_insn`s.
const PASS_PROGRAM: [u64; 2] = [
    // BPF_ALU64 | BPF_MOV | BPF_K (0xb7), dst r0, imm 2
    0xb7 | (2u64 << 32),
    // BPF_JMP | BPF_EXIT
    0x95,
];

/// The head of `union bpf_attr` for BPF_PROG_LOAD.
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
}

/// `union bpf_attr` for BPF_PROG_TEST_RUN (the `test` member).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    pad: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `repr(C)` prefix of `union
    // bpf_attr` of the size passed; the pointers inside it point to live
    // buffers of the sizes given.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

/// The loaded pass-only program.
pub struct EmptyProgram {
    fd: OwnedFd,
}

impl EmptyProgram {
    /// Loads the program (not attached anywhere).
    pub fn load() -> Result<EmptyProgram> {
        let license = CString::new("GPL").expect("no NUL");
        let mut name = [0u8; 16];
        name[..10].copy_from_slice(b"bench_pass");
        let fd = bpf(
            BPF_PROG_LOAD,
            &mut ProgLoadAttr {
                prog_type: BPF_PROG_TYPE_XDP,
                insn_cnt: PASS_PROGRAM.len() as u32,
                insns: PASS_PROGRAM.as_ptr() as u64,
                license: license.as_ptr() as u64,
                prog_name: name,
                ..Default::default()
            },
        )
        .context("loading the empty XDP program")?;
        let fd = i32::try_from(fd).context("bpf() returned no fd")?;
        // SAFETY: a new file descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EmptyProgram { fd })
    }

    /// One test run on `frame` arriving on `ingress_ifindex`; the kernel's
    /// time for it in nanoseconds.
    pub fn run(&self, ingress_ifindex: u32, frame: &[u8]) -> Result<u64> {
        let mut ctx = [0u8; XDP_MD_LEN];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
        let mut out = vec![0u8; frame.len() + 256];
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: frame.len() as u32,
            data_size_out: out.len() as u32,
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ctx_size_in: XDP_MD_LEN as u32,
            ctx_in: ctx.as_ptr() as u64,
            ..Default::default()
        };
        bpf(BPF_PROG_TEST_RUN, &mut attr).context("BPF_PROG_TEST_RUN of the empty program")?;
        anyhow::ensure!(
            attr.retval == 2,
            "the empty program returned {}",
            attr.retval
        );
        Ok(u64::from(attr.duration))
    }
}
