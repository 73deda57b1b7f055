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

use std::{io, os::fd::OwnedFd};

use crate::{
    error::{Error, Result},
    netns::Netns,
    rawbpf::{self, BpfError, XDP_PASS},
};

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
            .map_err(|e| Error::Enter {
                name: format!("{} (XDP on {ifname})", ns.name()),
                // Boxed, not flattened: the chain keeps the BpfError and
                // its OS error.
                source: io::Error::other(e),
            })?;
        Ok(XdpPass { _link: link })
    }
}

fn load_and_attach(ifname: &str) -> Result<OwnedFd, BpfError> {
    let prog = rawbpf::load_xdp("xdp_pass", &rawbpf::return_action(XDP_PASS))?;
    rawbpf::link_xdp(&prog, rawbpf::ifindex(ifname)?)
}
