//! [`XdpPass`]: a two-instruction `return XDP_PASS` program attached to a
//! veth, so that frames another XDP program sends to it with XDP_TX are
//! delivered at once.
//!
//! Why: a veth's XDP_TX hands frames to its peer's XDP ring and then kicks
//! the peer's NAPI only if the peer has an XDP program (`veth_xdp_flush` in
//! drivers/net/veth.c checks the receiver's `xdp_prog`, unlike the
//! XDP_REDIRECT path, `veth_xdp_xmit` with XDP_XMIT_FLUSH, which only needs
//! NAPI, i.e. GRO on). With GRO alone the frames sit in the ring until
//! unrelated traffic schedules the peer: seconds of delay. A physical NIC
//! has no such peer; this only makes veth behave like a wire.

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::fd::{FromRawFd as _, OwnedFd},
};

use crate::{
    error::{Error, Result},
    netns::Netns,
};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`: BPF_XDP.
const BPF_XDP: u32 = 37;
const XDP_PASS: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

/// `r0 = XDP_PASS; exit`.
const PASS_PROGRAM: [Insn; 2] = [
    // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
    Insn {
        code: 0xb7,
        regs: 0,
        off: 0,
        imm: XDP_PASS,
    },
    // BPF_JMP | BPF_EXIT
    Insn {
        code: 0x95,
        regs: 0,
        off: 0,
        imm: 0,
    },
];

/// The head of `union bpf_attr` for BPF_PROG_LOAD (the kernel zero-fills
/// the fields after `expected_attach_type`).
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

/// The head of `union bpf_attr` for BPF_LINK_CREATE.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// `bpf(cmd, attr)`, returning the new fd.
fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` points to a live, initialised `repr(C)` prefix of
    // `union bpf_attr` of the size passed; the kernel only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(ret).map_err(|_| io::Error::other("bpf() returned no fd"))?;
    // SAFETY: bpf() returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pass-everything XDP program attached (native mode) to an interface
/// through a BPF link. Detached when dropped (or when the interface goes).
#[derive(Debug)]
pub struct XdpPass {
    _link: OwnedFd,
}

impl XdpPass {
    /// Loads the program and attaches it to `ifname` in `ns`.
    pub fn attach(ns: &Netns, ifname: &str) -> Result<XdpPass> {
        let name = ifname.to_string();
        let link = ns
            .enter(move || load_and_attach(&name))?
            .map_err(|source| Error::Enter {
                name: format!("{} (XDP on {ifname})", ns.name()),
                source,
            })?;
        Ok(XdpPass { _link: link })
    }
}

fn load_and_attach(ifname: &str) -> io::Result<OwnedFd> {
    let license = CString::new("GPL").expect("no NUL");
    let mut prog_name = [0u8; 16];
    prog_name[..9].copy_from_slice(b"xdp_pass\0");
    let prog = bpf(
        BPF_PROG_LOAD,
        &ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: PASS_PROGRAM.len() as u32,
            insns: PASS_PROGRAM.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name,
            expected_attach_type: BPF_XDP,
            ..Default::default()
        },
    )?;
    let c_name = CString::new(ifname).map_err(io::Error::other)?;
    // SAFETY: `c_name` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    use std::os::fd::AsRawFd as _;
    bpf(
        BPF_LINK_CREATE,
        &LinkCreateAttr {
            prog_fd: prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: 0,
        },
    )
}
