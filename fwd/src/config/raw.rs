//! The file as TOML: every value kept with its span so that validation can
//! say where a bad value is. Unknown keys are refused (typos).

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub service: Vec<RawService>,
    pub relay: Option<RawRelay>,
}

/// One `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub name: Spanned<String>,
    pub listen: Spanned<String>,
    pub protocol: Option<Spanned<String>>,
    pub backends: Spanned<Vec<Spanned<RawBackend>>>,
    pub snat: Option<Spanned<String>>,
    /// `"auto"`, `"off"` or a number (see `mss_clamp.rs`).
    pub mss_clamp: Option<Spanned<super::mss_clamp::RawMssClamp>>,
    /// Source prefixes that may open flows (`"198.18.52.0/24"`).
    pub allow: Option<Spanned<Vec<Spanned<String>>>>,
    /// Source prefixes that may not (evaluated first).
    pub deny: Option<Spanned<Vec<Spanned<String>>>>,
    /// `[service.health]` (see `health.rs`).
    pub health: Option<Spanned<super::validate::RawHealth>>,
}

/// One entry of `backends`: `"A.B.C.D[:PORT]"` (or `"NAME[:PORT]"`) or
/// `{ address = "A.B.C.D[:PORT]", weight = N }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawBackend {
    /// The plain string form (weight 1).
    Address(String),
    /// The table form.
    Weighted(RawWeighted),
}

/// The table form of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeighted {
    pub address: String,
    pub weight: Option<i64>,
}

/// The `[relay]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelay {
    pub snat_ports: Option<Spanned<String>>,
    pub max_flows: Option<Spanned<i64>>,
    pub tcp_established_timeout: Option<Spanned<String>>,
    pub tcp_transitory_timeout: Option<Spanned<String>>,
    pub tcp_opening_timeout: Option<Spanned<String>>,
    pub udp_timeout: Option<Spanned<String>>,
    pub udp_single_timeout: Option<Spanned<String>>,
    pub tcp_closed_timeout: Option<Spanned<String>>,
    pub icmp_timeout: Option<Spanned<String>>,
    pub gc_interval: Option<Spanned<String>>,
    pub max_services: Option<Spanned<i64>>,
    /// Servers that resolve backend names (`"198.18.0.53"`, `"[2001:db8::53]:53"`).
    pub dns_servers: Option<Spanned<Vec<Spanned<String>>>>,
    /// `"auto"`, `"off"` or a number (see `mss_clamp.rs`).
    pub mss_clamp: Option<Spanned<super::mss_clamp::RawMssClamp>>,
}
