//! Prometheus metrics of `fwd attach`: `GET /metrics` on `--metrics ADDR`
//! (default [`DEFAULT_ADDR`], `off` to disable).
//!
//! Every scrape reads the running relay afresh ([`snapshot`]: the
//! datapath's per-CPU counters summed over CPUs, the connection table, the
//! userspace counters of [`crate::state::Shared`], `/proc/self`), encodes it
//! with prometheus-client (`collector.rs`) and serves it over HTTP on the
//! attach command's tokio runtime ([`server`]); the reading runs on a
//! blocking thread so a large connection table never stalls the runtime.
//! Started by [`crate::run`] after the program is attached; the families are
//! documented in README.md ("Metrics").

mod collector;
pub mod exposition;
pub mod labels;
pub mod process;
pub mod server;
pub mod snapshot;

use std::{fmt, io, net::SocketAddr, str::FromStr};

use prometheus_client::registry::Registry;
use thiserror::Error;

use self::{exposition::to_prometheus_text, snapshot::Snapshot};
pub use self::{
    exposition::Format,
    server::{MetricsListener, MetricsServer},
};
use crate::{datapath::DatapathError, state::Shared};

/// Where `fwd attach` serves metrics unless told otherwise: loopback only,
/// so nothing is exposed beyond the host by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9785";

/// The value of `--metrics`: an address to listen on, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAddr {
    /// No metrics endpoint.
    Off,
    /// Serve `/metrics` on this address.
    Listen(SocketAddr),
}

/// A `--metrics` value that is neither `off` nor `ADDRESS:PORT`.
#[derive(Debug, Error)]
#[error("expected ADDRESS:PORT (e.g. {DEFAULT_ADDR} or [::1]:9785) or \"off\", got {value:?}")]
pub struct BadMetricsAddr {
    /// What was given.
    pub value: String,
}

impl FromStr for MetricsAddr {
    type Err = BadMetricsAddr;

    fn from_str(s: &str) -> Result<MetricsAddr, BadMetricsAddr> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(MetricsAddr::Off);
        }
        s.parse()
            .map(MetricsAddr::Listen)
            .map_err(|_| BadMetricsAddr {
                value: s.to_string(),
            })
    }
}

impl fmt::Display for MetricsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsAddr::Off => f.write_str("off"),
            MetricsAddr::Listen(a) => a.fmt(f),
        }
    }
}

/// What can go wrong while serving metrics.
#[derive(Debug, Error)]
pub enum MetricsError {
    /// The metrics address could not be bound (in use, not local, ...).
    #[error("cannot listen for metrics on {addr} (--metrics ADDR to choose another, --metrics off to disable)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Reading the datapath failed during a scrape.
    #[error("reading the datapath for a scrape")]
    Read(#[source] DatapathError),
    /// prometheus-client failed to encode (it only fails if a writer does).
    #[error("encoding the metrics")]
    Encode(#[source] fmt::Error),
}

/// Binds the `--metrics` address (`None` for `off`).
pub fn bind(addr: MetricsAddr) -> Result<Option<MetricsListener>, MetricsError> {
    match addr {
        MetricsAddr::Off => Ok(None),
        MetricsAddr::Listen(addr) => MetricsListener::bind(addr).map(Some),
    }
}

/// One scrape: reads the relay now and encodes every family in `format`.
pub fn render(shared: &Shared, format: Format) -> Result<String, MetricsError> {
    let snapshot = Snapshot::read(shared).map_err(MetricsError::Read)?;
    encode(snapshot, format)
}

/// Encodes a snapshot in `format`.
pub fn encode(snapshot: Snapshot, format: Format) -> Result<String, MetricsError> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(MetricsError::Encode)?;
    Ok(match format {
        Format::OpenMetrics => text,
        Format::PrometheusText => to_prometheus_text(&text),
    })
}

#[cfg(test)]
mod tests;
