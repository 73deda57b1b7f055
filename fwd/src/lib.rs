//! fwd: the loader of the fwd XDP relay.
//!
//! `fwd attach` reads the service map ([`config`]), checks the host
//! ([`host`]), turns both into a [`plan::Plan`], installs it through
//! [`datapath::Datapath`] (the only owner of the eBPF maps), attaches the
//! program and expires idle flows ([`gc`]) until it is stopped ([`run`]).
//! `fwd check` validates a file and shows what would be installed
//! ([`report`]). While attached, flow events go to the flow log
//! ([`flowlog`]) and a control socket ([`control`]) answers `fwd status`
//! and `fwd flows`; [`serve`] runs those tasks.

pub mod cli;
pub mod config;
pub mod control;
pub mod datapath;
pub mod dns;
pub mod flowlog;
pub mod flows;
pub mod gc;
pub mod health;
pub mod host;
pub mod ids;
pub mod maglev;
pub mod metrics;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod serve;
pub mod state;
#[cfg(test)]
mod testing;

/// The XDP program object built by `build.rs` from `fwd-ebpf`.
pub const EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fwd"));

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
