//! What goes over the control socket: one JSON [`Request`] line from the
//! client, one JSON [`Response`] line back. Field names are a stable
//! interface: `fwd status --json` and `fwd flows --json` print the reports
//! as they are, for scripts.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddrV4},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub(crate) enum Request {
    /// `{"request":"status"}`: the [`StatusReport`].
    Status,
    /// `{"request":"flows","service":"web","snat":"198.19.0.1:20001"}`:
    /// the live flows that match every given filter.
    Flows(FlowFilter),
    /// `{"request":"reload"}`: re-read the service file and apply it.
    Reload,
    /// `{"request":"stop","keep":false}`: stop; with `keep`, leave the
    /// datapath running and pinned for the next `fwd attach` (upgrades).
    Stop(StopRequest),
}

/// How to stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StopRequest {
    /// Leave the datapath attached and its state pinned.
    pub keep: bool,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub(crate) enum Response {
    /// The answer to [`Request::Status`].
    Status(Box<StatusReport>),
    /// The answer to [`Request::Flows`].
    Flows(FlowsReport),
    /// The answer to [`Request::Reload`]: the file is installed.
    Reloaded(ReloadReport),
    /// The answer to [`Request::Stop`]: the instance is stopping.
    Stopping(StopRequest),
    /// The request could not be answered.
    Error {
        /// Why, for people.
        message: String,
    },
}

/// What a reload installed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReloadReport {
    /// The file read.
    pub file: String,
    /// Services installed.
    pub services: usize,
    /// Backends installed.
    pub backends: usize,
}

/// Filters of a flows request; a flow must match all that are set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FlowFilter {
    /// The service's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The client's address (and port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<AddrFilter>,
    /// The backend's address (and port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<AddrFilter>,
    /// The SNAT address (and port) the backend sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snat: Option<AddrFilter>,
}

impl FlowFilter {
    /// Whether a flow of service `service` between these endpoints matches.
    pub(crate) fn matches(
        &self,
        service: &str,
        client: SocketAddrV4,
        backend: SocketAddrV4,
        snat: SocketAddrV4,
    ) -> bool {
        let addr = |f: &Option<AddrFilter>, a| f.as_ref().is_none_or(|f| f.matches(a));
        self.service.as_deref().is_none_or(|s| s == service)
            && addr(&self.client, client)
            && addr(&self.backend, backend)
            && addr(&self.snat, snat)
    }
}

/// `A.B.C.D` (any port) or `A.B.C.D:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddrFilter {
    /// The address.
    pub addr: Ipv4Addr,
    /// The port, if it must match too.
    pub port: Option<u16>,
}

impl AddrFilter {
    /// Whether `a` matches.
    pub fn matches(&self, a: SocketAddrV4) -> bool {
        *a.ip() == self.addr && self.port.is_none_or(|p| p == a.port())
    }
}

/// An address filter that is neither `A.B.C.D` nor `A.B.C.D:PORT`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPv4 address or IPv4 address:port (like 198.19.0.1 or 198.19.0.1:20001)")]
pub struct BadAddrFilter(pub String);

impl FromStr for AddrFilter {
    type Err = BadAddrFilter;

    fn from_str(s: &str) -> Result<AddrFilter, BadAddrFilter> {
        if let Ok(addr) = s.parse::<Ipv4Addr>() {
            return Ok(AddrFilter { addr, port: None });
        }
        s.parse::<SocketAddrV4>()
            .map(|sa| AddrFilter {
                addr: *sa.ip(),
                port: Some(sa.port()),
            })
            .map_err(|_| BadAddrFilter(s.to_string()))
    }
}

impl TryFrom<String> for AddrFilter {
    type Error = BadAddrFilter;

    fn try_from(s: String) -> Result<AddrFilter, BadAddrFilter> {
        s.parse()
    }
}

impl From<AddrFilter> for String {
    fn from(f: AddrFilter) -> String {
        f.to_string()
    }
}

impl fmt::Display for AddrFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl From<fwd_common::Counter> for Count {
    fn from(c: fwd_common::Counter) -> Count {
        Count {
            packets: c.packets,
            bytes: c.bytes,
        }
    }
}

/// The answer to `fwd status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusReport {
    /// fwd's version.
    pub version: String,
    /// When this instance started (RFC 3339, UTC).
    pub started: String,
    /// Seconds since then.
    pub uptime_s: u64,
    /// The interfaces the program is attached to.
    pub interfaces: Vec<InterfaceStatus>,
    /// The installed services.
    pub services: Vec<ServiceStatus>,
    /// Packets and frame bytes by reason, over every interface (reasons
    /// with no packet are left out).
    pub reasons: Vec<ReasonCount>,
    /// The same, summed by outcome.
    pub totals: Totals,
    /// Flows ended since start, by reason (`fin`, `rst`, `timeout`,
    /// `evicted`; absent when zero).
    pub flows_closed: std::collections::BTreeMap<String, u64>,
    /// The connection table.
    pub connection_table: TableStatus,
    /// Flow events the datapath could not queue (the ring buffer was full).
    pub flow_events_lost: u64,
    /// The GC's totals since start.
    pub gc: GcStatus,
    /// Backend names and their answers (absent without names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::dns::report::DnsReport>,
}

/// One attached interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InterfaceStatus {
    /// Its name.
    pub name: String,
    /// Its ifindex.
    pub ifindex: u32,
    /// `native` or `generic`.
    pub mode: String,
}

/// One service and its backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// `A.B.C.D` (every port) or `A.B.C.D:PORT`.
    pub listen: String,
    /// `tcp`, `udp` or `any`.
    pub protocol: String,
    /// Its backends, in slot order.
    pub backends: Vec<BackendStatus>,
}

/// One backend's traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BackendStatus {
    /// `A.B.C.D` (port kept) or `A.B.C.D:PORT`.
    pub address: String,
    /// The source address the backend sees.
    pub snat: Ipv4Addr,
    /// Client -> backend packets and IPv4 bytes.
    pub to_backend: Count,
    /// Backend -> client packets and IPv4 bytes.
    pub to_client: Count,
    /// Flows created since start (TCP and UDP).
    pub flows_created: u64,
    /// Flows in the connection table that have not ended (a TCP flow that
    /// saw a FIN both ways or a RST stays in the table until its closing
    /// timeout, but is not counted).
    pub active_flows: u64,
    /// Its health checks.
    #[serde(default)]
    pub health: crate::health::report::HealthStatus,
}

/// Packets of one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReasonCount {
    /// The reason's name (as in the metrics).
    pub reason: String,
    /// `tx`, `redirect`, `pass` or `drop`.
    pub action: String,
    /// Packets.
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
}

/// Packets by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Totals {
    /// Translated and sent (TX or redirect).
    pub forwarded: Count,
    /// Handed to the kernel.
    pub passed: Count,
    /// Dropped.
    pub dropped: Count,
}

/// The connection table's use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableStatus {
    /// Entries (two per flow).
    pub entries: u64,
    /// Capacity in entries.
    pub capacity: u64,
    /// Complete flows (pairs of entries), ended ones included.
    pub flows: u64,
}

/// The GC's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GcStatus {
    /// Runs.
    pub runs: u64,
    /// Flows expired by their idle timeout.
    pub expired_timeout: u64,
    /// Opening flows expired because the table was nearly full.
    pub expired_pressure: u64,
    /// Lone halves deleted.
    pub orphans: u64,
    /// Expiries skipped because the flow saw a packet meanwhile.
    pub refreshed: u64,
    /// Deletions that failed.
    pub errors: u64,
}

/// The answer to `fwd flows`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FlowsReport {
    /// Complete flows in the table (before filtering).
    pub tracked: u64,
    /// The flows that match, by service, then client.
    pub flows: Vec<FlowEntry>,
}

/// One live flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FlowEntry {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The service's name.
    pub service: String,
    /// The client.
    pub client: SocketAddrV4,
    /// The VIP:port the client sends to.
    pub vip: SocketAddrV4,
    /// The SNAT address:port the backend sees.
    pub snat: SocketAddrV4,
    /// The backend.
    pub backend: SocketAddrV4,
    /// `opening`, `established`, `closing` (TCP) or `udp`.
    pub state: String,
    /// Milliseconds since the flow started.
    pub age_ms: u64,
    /// Milliseconds since its last packet (either way).
    pub idle_ms: u64,
    /// Client -> backend packets and IPv4 bytes.
    pub to_backend: Count,
    /// Backend -> client packets and IPv4 bytes.
    pub to_client: Count,
}
