//! Raw `bpf(2)` for XDP programs of a handful of instructions, written as
//! `struct bpf_insn`s in Rust rather than built by the eBPF toolchain:
//! encode instructions ([`insn`]), load ([`load_xdp`]), attach through a
//! BPF link ([`link_xdp`]) and run once or many times
//! ([`test_run`], `BPF_PROG_TEST_RUN`).
//!
//! Why raw: this library is linked by xtask and the bench, which build
//! before the eBPF toolchain (bpf-linker) exists, so neither `fwd` nor aya
//! is available here. Users: [`crate::xdp_pass`] (a `return XDP_PASS` on
//! the veths of the topologies), the bench (its wire, sink and generator
//! programs) and the `prog_bench` example (the empty program under every
//! T6 figure).

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::fd::{AsFd, AsRawFd as _, FromRawFd as _, OwnedFd},
};

use thiserror::Error;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`: BPF_XDP.
const BPF_XDP: u32 = 37;
/// Bytes kept of the verifier's log of one load (the programs here are a
/// few dozen instructions; their log is far shorter).
const LOG_SIZE: usize = 64 * 1024;

/// XDP_DROP: the frame is dropped (the veth counts it in
/// `rx_queue_0_xdp_drops`).
pub const XDP_DROP: i32 = 1;
/// XDP_PASS: the frame goes on to the kernel's stack.
pub const XDP_PASS: i32 = 2;

/// What can go wrong in a raw `bpf(2)` call. Returned to the tests, to
/// the bench and to the `prog_bench` example, which show it with its
/// source.
#[derive(Debug, Error)]
pub enum BpfError {
    /// BPF_PROG_LOAD refused the program (the verifier, or no privilege).
    #[error("loading XDP program {name}{}", verifier_log(log))]
    Load {
        /// The program's name.
        name: String,
        /// What the verifier said (empty when it did not run).
        log: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// BPF_LINK_CREATE could not attach the program to the interface.
    #[error("attaching an XDP program to interface #{ifindex}")]
    Link {
        /// The interface.
        ifindex: u32,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// BPF_PROG_TEST_RUN failed.
    #[error("BPF_PROG_TEST_RUN")]
    TestRun {
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// No interface of that name in the calling thread's namespace.
    #[error("no interface {name}")]
    NoInterface {
        /// The interface name asked for.
        name: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// The verifier's log for [`BpfError::Load`]'s message, when there is one.
fn verifier_log(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; verifier log:\n{}", log.trim_end())
    }
}

/// One `struct bpf_insn`: opcode, destination and source registers,
/// offset, immediate (negative offsets and immediates keep their bits).
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from((dst & 0xf) | (src << 4)) << 8)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// `r0 = action; exit`: a program that returns `action` for every frame.
pub fn return_action(action: i32) -> [u64; 2] {
    [
        insn(0xb7, 0, 0, 0, action), // BPF_ALU64 | BPF_MOV | BPF_K: r0 = action
        insn(0x95, 0, 0, 0, 0),      // BPF_JMP | BPF_EXIT
    ]
}

/// `bpf(cmd, attr)`: the kernel's return value (a new descriptor for the
/// commands that create one, else 0).
///
/// # Safety
///
/// `attr` must be a `repr(C)` prefix of `union bpf_attr` for `cmd`, and
/// every pointer in it must point to a live buffer of the size given next
/// to it (the kernel reads and writes them).
pub unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller's promise; `attr` itself is live for the size
    // passed.
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

/// Takes ownership of the descriptor a `bpf()` command returned.
fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| io::Error::other("bpf() returned no descriptor"))?;
    // SAFETY: bpf() returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A slice as a `bpf_attr` pointer: null when empty (the kernel reads a
/// non-null pointer even with a zero size for some fields).
fn ptr(buf: &[u8]) -> u64 {
    if buf.is_empty() {
        0
    } else {
        buf.as_ptr() as u64
    }
}

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

/// Loads `insns` as an XDP program (GPL, attach type BPF_XDP) named `name`
/// (cut to 15 bytes); unloaded when the descriptor and every link to it are
/// closed. A refusal carries the verifier's log.
pub fn load_xdp(name: &str, insns: &[u64]) -> Result<OwnedFd, BpfError> {
    let license = CString::new("GPL").expect("no NUL");
    let mut log = vec![0u8; LOG_SIZE];
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
    // SAFETY: `insns`, `license` and `log` outlive the call and are of the
    // sizes given.
    unsafe { bpf(BPF_PROG_LOAD, &mut attr) }
        .and_then(owned_fd)
        .map_err(|source| {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            BpfError::Load {
                name: name.to_string(),
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
                source,
            }
        })
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

/// Attaches `prog` to interface `ifindex` of the calling thread's namespace
/// through a BPF link, in native (driver) mode where the driver has it, as
/// veth does. Detached when the returned link is closed, or when the
/// interface goes.
pub fn link_xdp(prog: impl AsFd, ifindex: u32) -> Result<OwnedFd, BpfError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_fd().as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: 0,
    };
    // SAFETY: the attr holds no pointers.
    unsafe { bpf(BPF_LINK_CREATE, &mut attr) }
        .and_then(owned_fd)
        .map_err(|source| BpfError::Link { ifindex, source })
}

/// The ifindex of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> Result<u32, BpfError> {
    let no_interface = |source| BpfError::NoInterface {
        name: name.to_string(),
        source,
    };
    let c = CString::new(name).map_err(|e| no_interface(io::Error::other(e)))?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(no_interface(io::Error::last_os_error())),
        i => Ok(i),
    }
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

/// The input of one BPF_PROG_TEST_RUN of an XDP program; empty slices and
/// zeros are left out (the kernel's defaults).
#[derive(Debug, Default)]
pub struct TestRun<'a> {
    /// The frame.
    pub data_in: &'a [u8],
    /// Where the kernel copies the frame as the program left it (empty:
    /// not copied).
    pub data_out: &'a mut [u8],
    /// A `struct xdp_md` (empty: the kernel's, for `data_in` on no
    /// interface).
    pub ctx_in: &'a [u8],
    /// How many times to run the program (0 counts as 1).
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// Frames per batch in live-frames mode (0: the kernel's 64).
    pub batch_size: u32,
}

/// What one BPF_PROG_TEST_RUN reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestRunOutcome {
    /// The program's verdict (of the last run).
    pub retval: u32,
    /// The kernel's mean time per run, in nanoseconds.
    pub duration_ns: u32,
    /// Length of the frame the program left (copied to `data_out` up to
    /// its size).
    pub data_len: u32,
}

/// Runs `prog` in the kernel on `run`'s input (`BPF_PROG_TEST_RUN`),
/// without attaching it anywhere.
pub fn test_run(prog: impl AsFd, run: TestRun<'_>) -> Result<TestRunOutcome, BpfError> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_fd().as_raw_fd() as u32,
        data_size_in: run.data_in.len() as u32,
        data_size_out: run.data_out.len() as u32,
        data_in: ptr(run.data_in),
        data_out: ptr(run.data_out),
        repeat: run.repeat,
        ctx_size_in: run.ctx_in.len() as u32,
        ctx_in: ptr(run.ctx_in),
        flags: run.flags,
        batch_size: run.batch_size,
        ..Default::default()
    };
    // SAFETY: the non-null pointers are to `run`'s slices, live for the
    // call and of the sizes given; the kernel writes only to `data_out`.
    unsafe { bpf(BPF_PROG_TEST_RUN, &mut attr) }.map_err(|source| BpfError::TestRun { source })?;
    Ok(TestRunOutcome {
        retval: attr.retval,
        duration_ns: attr.duration,
        data_len: attr.data_size_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Netns;

    #[test]
    fn encodes_instructions() {
        // r0 = 2; exit
        assert_eq!(return_action(2), [0x0000_0002_0000_00b7, 0x95]);
        // r1 = r6 -> code 0xbf, dst 1, src 6
        assert_eq!(insn(0xbf, 1, 6, 0, 0), 0x61bf);
        // negative offsets and immediates keep their bits
        assert_eq!(insn(0x05, 0, 0, -1, -1), 0xffff_ffff_ffff_0005);
    }

    #[test]
    fn test_run_gives_the_verdict_and_the_frame() {
        let prog = load_xdp("rawbpf_pass", &return_action(XDP_PASS)).unwrap();
        let frame: Vec<u8> = (0..64).collect();
        let mut out = vec![0u8; 128];
        let outcome = test_run(
            &prog,
            TestRun {
                data_in: &frame,
                data_out: &mut out,
                repeat: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(outcome.retval, XDP_PASS as u32);
        assert_eq!(outcome.data_len, 64);
        assert_eq!(&out[..64], &frame[..]);
    }

    #[test]
    fn a_refused_program_reports_the_verifier_log() {
        // No exit: the verifier refuses it.
        let err = load_xdp("rawbpf_bad", &[insn(0xb7, 0, 0, 0, XDP_PASS)]).unwrap_err();
        let BpfError::Load { name, log, source } = &err else {
            panic!("not a load error: {err:?}");
        };
        assert_eq!(name, "rawbpf_bad");
        assert!(!log.is_empty(), "no verifier log");
        assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
        assert!(err.to_string().contains(log.trim_end()));
    }

    #[test]
    fn a_link_attaches_until_closed() {
        let ns = Netns::new("rawbpf").unwrap();
        ns.ip(&[
            "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1",
        ])
        .unwrap();
        let link = ns
            .enter(|| {
                let prog = load_xdp("rawbpf_link", &return_action(XDP_PASS))?;
                link_xdp(&prog, ifindex("v0")?)
            })
            .unwrap()
            .unwrap();
        assert!(ns.ip(&["link", "show", "v0"]).unwrap().contains("xdp"));
        drop(link);
        assert!(!ns.ip(&["link", "show", "v0"]).unwrap().contains("xdp"));
        let err = ns.enter(|| ifindex("nonesuch")).unwrap().unwrap_err();
        assert!(matches!(err, BpfError::NoInterface { .. }), "{err:?}");
    }
}
