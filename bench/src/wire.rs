//! The wire: a namespace between the client and the relay and between the
//! relay and the backend, where XDP programs pass every frame straight on
//! (`bpf_redirect` to the other side).
//!
//! Why: a frame sent by a local socket or an AF_PACKET socket is an skb,
//! and a veth with an XDP program (fwd's) must copy such an skb into a page
//! before the program can run; a NIC has no such cost. Through the wire,
//! the relay's interfaces receive frames the way a NIC's driver does (as
//! XDP frames, through `ndo_xdp_xmit`, in bursts), the same for every
//! competitor: the kernel path builds its skbs around them without a copy.

use std::os::fd::OwnedFd;

use anyhow::{Context as _, Result};

use crate::{
    bpf::{attach_xdp, ifindex, load_xdp, redirect_to},
    infra::Netns,
};

/// The four redirect programs of one arena's wire, detached on drop.
pub(crate) struct Wire {
    _links: Vec<OwnedFd>,
}

impl Wire {
    /// In `ns`, joins `a` <-> `b` and `c` <-> `d` (each frame arriving on
    /// one leaves through the other).
    pub(crate) fn attach(ns: &Netns, pairs: [(&str, &str); 2]) -> Result<Wire> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let links = ns
            .enter(move || -> Result<Vec<OwnedFd>> {
                let mut links = Vec::new();
                for (a, b) in &pairs {
                    let (ia, ib) = (ifindex(a)?, ifindex(b)?);
                    for (from, to) in [(ia, ib), (ib, ia)] {
                        let prog = load_xdp("bench_wire", &redirect_to(to))?;
                        links.push(attach_xdp(&prog, from)?);
                    }
                }
                Ok(links)
            })?
            .context("attaching the wire's XDP programs")?;
        Ok(Wire { _links: links })
    }
}
