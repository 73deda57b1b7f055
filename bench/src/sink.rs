//! The UDP sink on the backend's interface: an XDP program that drops
//! every frame, so the backend spends the least possible per packet and
//! sends nothing back; the veth driver counts the drops
//! (`rx_queue_0_xdp_drops`), which is the forwarded-packet count.
//!
//! xdp-tools' `xdp-bench drop` would do the same, but the xdp-tools of
//! Debian 12 (1.3.1) fail to load on recent kernels (their programs refer
//! to the `xdp_redirect_map_err` tracepoint, which no longer exists).

use std::os::fd::OwnedFd;

use anyhow::{Context as _, Result};

use crate::{
    bpf::{attach_xdp, ifindex, load_xdp, return_action, XDP_DROP},
    counters::EthtoolStats,
    infra::Netns,
};

/// The veth statistic that counts frames the program dropped.
const DROPS: &str = "rx_queue_0_xdp_drops";

/// The drop program attached to one interface, with its counter. Detached
/// on drop.
pub(crate) struct Sink {
    _link: OwnedFd,
    stats: EthtoolStats,
}

impl Sink {
    /// Attaches to `ifname` in `ns`.
    pub(crate) fn attach(ns: &Netns, ifname: &str) -> Result<Sink> {
        let name = ifname.to_string();
        let link = ns
            .enter(move || -> Result<OwnedFd> {
                let prog = load_xdp("bench_sink", &return_action(XDP_DROP))?;
                attach_xdp(&prog, ifindex(&name)?)
            })?
            .with_context(|| format!("attaching the XDP sink to {ifname}"))?;
        let stats = EthtoolStats::open(ns, ifname)?;
        Ok(Sink { _link: link, stats })
    }

    /// Frames dropped (received) so far.
    pub(crate) fn count(&self) -> Result<u64> {
        self.stats.read(DROPS)
    }
}
