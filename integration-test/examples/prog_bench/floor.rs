//! The floor under every T6 figure: an XDP program that only returns
//! XDP_PASS, loaded and test-run with raw `bpf(2)` calls exactly like the
//! real program (same frame, same context, `repeat = 1`).

use std::os::fd::OwnedFd;

use anyhow::{Context as _, Result};
use integration_test::rawbpf::{self, TestRun, XDP_PASS};

/// Size of `struct xdp_md`.
const XDP_MD_LEN: usize = 24;

/// The loaded pass-only program.
pub struct EmptyProgram {
    fd: OwnedFd,
}

impl EmptyProgram {
    /// Loads the program (not attached anywhere).
    pub fn load() -> Result<EmptyProgram> {
        let fd = rawbpf::load_xdp("bench_pass", &rawbpf::return_action(XDP_PASS))
            .context("loading the empty XDP program")?;
        Ok(EmptyProgram { fd })
    }

    /// One test run on `frame` arriving on `ingress_ifindex`; the kernel's
    /// time for it in nanoseconds.
    pub fn run(&self, ingress_ifindex: u32, frame: &[u8]) -> Result<u64> {
        // struct xdp_md: data 0, data_end, data_meta, ingress_ifindex, ...
        let mut ctx = [0u8; XDP_MD_LEN];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
        let mut out = vec![0u8; frame.len() + 256];
        let outcome = rawbpf::test_run(
            &self.fd,
            TestRun {
                data_in: frame,
                data_out: &mut out,
                ctx_in: &ctx,
                repeat: 1,
                ..Default::default()
            },
        )
        .context("BPF_PROG_TEST_RUN of the empty program")?;
        anyhow::ensure!(
            outcome.retval == XDP_PASS as u32,
            "the empty program returned {}",
            outcome.retval
        );
        Ok(u64::from(outcome.duration_ns))
    }
}
