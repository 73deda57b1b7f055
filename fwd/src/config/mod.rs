//! The service map file (`maps.toml`): parsing and static validation.
//!
//! Read by `fwd check` and `fwd attach`. Everything that can be decided from
//! the file alone is decided here, and each refused value is reported with
//! its line, column, key and reason; what depends on the host (routes, local
//! addresses, listening sockets) is checked later by [`crate::host`].
//!
//! The format is a contract with users: keys are added, never renamed.
//!
//! ```toml
//! [[service]]
//! name = "aix-01"              # used in logs and metrics
//! listen = "198.18.82.70"      # whole address: every TCP and UDP port, port kept
//! backends = ["198.19.150.195"]
//!
//! [[service]]
//! name = "object-storage"
//! listen = "198.18.82.80:8080" # one port
//! protocol = "tcp"             # "tcp", "udp" or "any" (default)
//! backends = ["198.19.10.11:80"]
//! snat = "auto"                # or an explicit local IPv4 address
//! mss_clamp = 1360             # optional: overrides [relay] mss_clamp
//! [service.health]             # optional (config/health.rs): checks, passive health
//! type = "http"
//! path = "/health"
//!
//! [relay]                      # optional, every key optional
//! snat_ports = "10000-32767"
//! max_flows = 131072
//! tcp_established_timeout = "2h4m"
//! tcp_transitory_timeout = "4m"
//! tcp_opening_timeout = "2m"
//! tcp_closed_timeout = "2m"
//! udp_timeout = "5m"
//! udp_single_timeout = "30s"
//! gc_interval = "10s"
//! dns_servers = ["198.18.0.53"]  # default: those of /etc/resolv.conf
//! mss_clamp = "auto"           # "auto" (default), "off" or 536..=65495
//! ```
//!
//! A backend may be a DNS name (`"storage.example:443"`): [`crate::dns`]
//! resolves it and each address of the answer becomes a backend.

mod error;
pub mod health;
mod mss_clamp;
mod raw;
mod relay;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
};

pub use error::{ConfigError, ConfigWarning, Invalid, Position, Problem};
pub use mss_clamp::MssClamp;
pub use relay::RelaySettings;
pub use validate::{MAX_MAX_FLOWS, MIN_MAX_FLOWS};
pub(crate) use values::usable;

/// A validated service map file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The services, in file order (their ids are their indexes).
    pub services: Vec<Service>,
    /// The `[relay]` settings, defaults filled in.
    pub relay: RelaySettings,
    /// `[relay] dns_servers`: the servers that resolve backend names;
    /// empty: those of `/etc/resolv.conf`.
    pub dns_servers: Vec<SocketAddr>,
    /// Accepted values worth a warning (logged by the caller).
    pub warnings: Vec<ConfigWarning>,
}

/// One `[[service]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `name`: unique, used in logs and metrics.
    pub name: String,
    /// `listen`.
    pub listen: Listen,
    /// `protocol` (default any).
    pub protocol: Protocol,
    /// `backends` given by address, in file order.
    pub backends: Vec<BackendSpec>,
    /// `backends` given by DNS name, in file order: each address of the
    /// name's answer is a backend ([`crate::dns::expand`]).
    pub names: Vec<NamedBackend>,
    /// `snat` (default auto).
    pub snat: Snat,
    /// Where the `snat` value is (the `listen` position when absent).
    pub snat_at: Position,
    /// `mss_clamp`; `None`: the `[relay]` one.
    pub mss_clamp: Option<MssClamp>,
    /// Who may open flows (`allow`, `deny`).
    pub access: Access,
    /// `[service.health]`, defaults filled in.
    pub health: health::Health,
}

/// A service's `allow` and `deny` source prefixes (see
/// `fwd_common::access`): `deny` is evaluated first; without an `allow`
/// list every source not denied is admitted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// `allow`; `None`: every source.
    pub allow: Option<Vec<Prefix4>>,
    /// `deny`.
    pub deny: Vec<Prefix4>,
}

impl Access {
    /// Whether a new flow from `src` is admitted: the rule in words, for
    /// the tests (the datapath decides with `ACCESS4`, see
    /// `datapath::access`).
    #[cfg(test)]
    pub fn admits(&self, src: Ipv4Addr) -> bool {
        if self.deny.iter().any(|p| p.contains(src)) {
            return false;
        }
        self.allow
            .as_ref()
            .is_none_or(|allow| allow.iter().any(|p| p.contains(src)))
    }
}

/// An IPv4 prefix (`198.18.52.0/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix4 {
    /// The address (no bits set beyond `len`).
    pub addr: Ipv4Addr,
    /// Its length, 0 to 32.
    pub len: u8,
}

impl Prefix4 {
    /// The bits kept by the prefix.
    pub fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0)
    }

    /// `addr` with the bits beyond `len` cleared.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `addr` is in the prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// Whether every address of `other` is in this prefix.
    pub fn covers(&self, other: &Prefix4) -> bool {
        self.len <= other.len && self.contains(other.addr)
    }
}

impl fmt::Display for Prefix4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Where a service receives: the VIP and, unless whole-address, its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// The VIP.
    pub addr: Ipv4Addr,
    /// `None`: every port (whole-address mapping).
    pub port: Option<u16>,
    /// Where the value is.
    pub at: Position,
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_addr_port(f, self.addr, self.port)
    }
}

/// One entry of `backends`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendSpec {
    /// The backend address.
    pub addr: Ipv4Addr,
    /// `None`: the port the client sent to is kept.
    pub port: Option<u16>,
    /// Maglev weight (default 1; 0 drains).
    pub weight: u32,
    /// Where the value is.
    pub at: Position,
}

impl fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_addr_port(f, self.addr, self.port)
    }
}

/// One entry of `backends` given by DNS name (`"storage.example:443"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedBackend {
    /// The name, in lower case (a final dot kept: fully qualified).
    pub name: String,
    /// `None`: the port the client sent to is kept.
    pub port: Option<u16>,
    /// Maglev weight of each address of the name (default 1; 0 drains).
    pub weight: u32,
    /// Where the value is.
    pub at: Position,
}

impl fmt::Display for NamedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn fmt_addr_port(f: &mut fmt::Formatter<'_>, addr: Ipv4Addr, port: Option<u16>) -> fmt::Result {
    match port {
        Some(port) => write!(f, "{addr}:{port}"),
        None => write!(f, "{addr}"),
    }
}

/// `protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// TCP and UDP (the default).
    #[default]
    Any,
}

impl Protocol {
    /// The IP protocol numbers this covers ([`fwd_common::IPPROTO_TCP`],
    /// [`fwd_common::IPPROTO_UDP`]).
    pub fn ipprotos(self) -> Vec<u8> {
        match self {
            Protocol::Tcp => vec![fwd_common::IPPROTO_TCP],
            Protocol::Udp => vec![fwd_common::IPPROTO_UDP],
            Protocol::Any => vec![fwd_common::IPPROTO_TCP, fwd_common::IPPROTO_UDP],
        }
    }

    /// Whether both cover a common protocol.
    pub fn overlaps(self, other: Protocol) -> bool {
        self == Protocol::Any || other == Protocol::Any || self == other
    }

    /// The word used in the file.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Any => "any",
        }
    }
}

/// `snat`: the source address packets get towards the backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Snat {
    /// The preferred source of the route to each backend (the default).
    #[default]
    Auto,
    /// This address (must be a local address of the relay).
    Address(Ipv4Addr),
}

impl Config {
    /// Parses and validates the text of a service map file.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            at: e.span().map(|s| Position::of_offset(text, s.start)),
            message: e.message().trim_end().to_string(),
        })?;
        validate::validate(text, raw)
    }

    /// Reads, parses and validates the service map file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text)
    }
}
