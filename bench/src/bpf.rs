//! The bench's own tiny XDP programs (the wire, the sink, the generator),
//! written as raw instructions and loaded with `bpf(2)`: the bench cannot
//! link the eBPF toolchain, and these are a handful of instructions each.
//! The `bpf(2)` plumbing is the integration-test crate's ([`rawbpf`]); here are the
//! bench's program bodies and its `anyhow` edge.

use std::os::fd::OwnedFd;

use anyhow::Result;

use crate::infra::rawbpf;
pub(crate) use crate::infra::rawbpf::{ifindex, insn, return_action, XDP_DROP};

/// `bpf_get_prandom_u32`.
pub(crate) const HELPER_PRANDOM: i32 = 7;
/// `bpf_redirect`.
pub(crate) const HELPER_REDIRECT: i32 = 23;

/// `return bpf_redirect(ifindex, 0)`.
pub(crate) fn redirect_to(ifindex: u32) -> Vec<u64> {
    vec![
        insn(0xb7, 1, 0, 0, ifindex as i32),
        insn(0xb7, 2, 0, 0, 0),
        insn(0x85, 0, 0, 0, HELPER_REDIRECT),
        insn(0x95, 0, 0, 0, 0),
    ]
}

/// Loads an XDP program; the verifier's log is in the error.
pub(crate) fn load_xdp(name: &str, insns: &[u64]) -> Result<OwnedFd> {
    Ok(rawbpf::load_xdp(name, insns)?)
}

/// Attaches `prog` to interface `ifindex` (native XDP) through a BPF link;
/// detached when the returned descriptor is closed.
pub(crate) fn attach_xdp(prog: &OwnedFd, ifindex: u32) -> Result<OwnedFd> {
    Ok(rawbpf::link_xdp(prog, ifindex)?)
}
