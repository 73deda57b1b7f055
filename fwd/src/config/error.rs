//! What can be wrong with a service map file, with where it is.

use std::{fmt, io, net::Ipv4Addr, path::PathBuf, time::Duration};

use thiserror::Error;

/// A place in the file: 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the text).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why the service map file could not be used. Returned by
/// [`crate::config::Config::parse`] and [`crate::config::Config::load`].
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Not valid TOML, a value of the wrong type, a missing or unknown key
    /// (the message comes from the TOML parser and names the key).
    #[error("{}{message}", at.map(|p| format!("{p}: ")).unwrap_or_default())]
    Syntax {
        /// Where, when the parser knows.
        at: Option<Position>,
        /// The parser's message.
        message: String,
    },
    /// Valid TOML whose values are not acceptable; every problem found.
    #[error("{}", list(problems))]
    Invalid {
        /// Each bad value, in file order.
        problems: Vec<Invalid>,
    },
}

fn list(problems: &[Invalid]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut s = format!("{} problems:", many.len());
            for p in many {
                s.push_str("\n  ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

/// One bad value: where it is, which key, the value, and why.
#[derive(Debug, Error)]
#[error("{at}: {key} = {value}: {problem}")]
pub struct Invalid {
    /// Where the value starts.
    pub at: Position,
    /// The key, with its table: `[[service]] "web": listen`, `[relay] max_flows`.
    pub key: String,
    /// The value as written (TOML syntax).
    pub value: String,
    /// Why it is refused.
    pub problem: Problem,
}

/// Why a value is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file has no `[[service]]`.
    #[error("the file defines no [[service]]: nothing to relay")]
    NoServices,
    /// `name = ""`.
    #[error("the name must not be empty")]
    EmptyName,
    /// Two services with the same name.
    #[error("the name is already used by the service at line {first_line}")]
    DuplicateName {
        /// Line of the first service with this name.
        first_line: usize,
    },
    /// An IPv6 address.
    #[error("IPv6 is not supported yet")]
    Ipv6,
    /// A hostname where the listen address goes.
    #[error(
        "a hostname cannot be a listen address: write the IPv4 address (A.B.C.D or A.B.C.D:PORT)"
    )]
    ListenHostname,
    /// A backend name that is not a valid DNS name.
    #[error("not a valid DNS name: {why} (a name is labels of letters, digits and '-' separated by dots, each label 1 to 63 characters, 253 in all)")]
    BadDnsName {
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `[relay] dns_servers` entry that is not an address of a DNS server.
    #[error("a DNS server is an IP address with an optional port: A.B.C.D, A.B.C.D:PORT, an IPv6 address or [IPv6]:PORT")]
    BadDnsServer,
    /// `[relay] dns_servers = []`.
    #[error("give at least one DNS server, or leave dns_servers out to use /etc/resolv.conf")]
    NoDnsServers,
    /// Not an IPv4 address (with or without port).
    #[error("not an IPv4 address: expected A.B.C.D or A.B.C.D:PORT")]
    BadAddress,
    /// A port that is not 1..=65535.
    #[error("the port must be a number from 1 to 65535")]
    BadPort,
    /// An address that cannot carry unicast traffic to or from another host.
    #[error("{addr} cannot be used here: it is {why}")]
    UnusableAddress {
        /// The address.
        addr: Ipv4Addr,
        /// `unspecified`, `a loopback address`, ...
        why: &'static str,
    },
    /// `protocol` other than tcp, udp, any.
    #[error("the protocol must be \"tcp\", \"udp\" or \"any\"")]
    BadProtocol,
    /// `backends = []`.
    #[error("a service needs at least one backend")]
    NoBackends,
    /// More backends in one service than the datapath has slots for.
    #[error("{count} backends: a service can have at most {max}")]
    TooManyBackends {
        /// Backends in this service.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// More services than `[relay] max_services`.
    #[error("this is service number {count}: at most {max} services (`[relay] max_services`, up to 1024)")]
    TooManyServices {
        /// The count reached at this service.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// More backends over all services than the datapath has ids for.
    #[error(
        "this is backend number {count} in the file: at most {max} backends are supported in total"
    )]
    TooManyBackendsTotal {
        /// The count reached at this backend.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// A backend with a port under a whole-address listen.
    #[error("a whole-address listen (no port) keeps the client's port, so its backends take no port; give listen a port to remap ports")]
    BackendPortUnderWholeAddress,
    /// Two services that would claim the same packets.
    #[error("overlaps service \"{other}\" (line {other_line}): same address and port with overlapping protocols")]
    ListenOverlap {
        /// Name of the earlier service.
        other: String,
        /// Line of its `listen`.
        other_line: usize,
    },
    /// An `allow` or `deny` entry that is not `A.B.C.D` or `A.B.C.D/LEN`.
    #[error("expected an IPv4 address or prefix (\"198.18.52.0/24\")")]
    BadPrefix,
    /// A prefix with bits set after its length.
    #[error("has bits set beyond its length: did you mean {network}?")]
    PrefixHostBits {
        /// The prefix with those bits cleared.
        network: String,
    },
    /// `allow = []`: nobody could connect.
    #[error("an empty allow list refuses every client: remove it to admit every client")]
    EmptyAllow,
    /// `snat` that is neither "auto" nor an IPv4 address.
    #[error("snat must be \"auto\" or an IPv4 address")]
    BadSnat,
    /// `mss_clamp` that is neither "auto", "off" nor a number.
    #[error("mss_clamp must be \"auto\", \"off\" or a number from 536 to 65495")]
    BadMssClamp,
    /// A port range that is not `"LO-HI"` with 1024 <= LO <= HI <= 65535.
    #[error("expected \"LO-HI\" with 1024 <= LO <= HI <= 65535")]
    BadPortRange,
    /// A number outside its range.
    #[error("must be from {min} to {max}")]
    OutOfRange {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// Not a duration.
    #[error("not a duration ({why}); write it like \"2h4m\", \"5m\" or \"30s\"")]
    BadDuration {
        /// What the duration parser said.
        why: String,
    },
    /// A zero duration.
    #[error("must be longer than zero")]
    ZeroDuration,
    /// A duration below its minimum.
    #[error("must be at least {}", humantime::format_duration(*min))]
    TooShort {
        /// The minimum.
        min: Duration,
    },
    /// `[service.health] type` other than tcp, http, none.
    #[error("the check type must be \"tcp\", \"http\" or \"none\"")]
    BadCheckType,
    /// `[service.health] on_down` other than keep, reset.
    #[error("on_down must be \"keep\" (existing flows continue) or \"reset\" (they are removed)")]
    BadOnDown,
    /// `path` or `status` in a check that is not HTTP.
    #[error("applies to type = \"http\" checks only")]
    HttpOnly,
    /// An HTTP path that cannot go into a request line.
    #[error("the path must start with / and hold printable ASCII without spaces")]
    BadHttpPath,
    /// A check timeout longer than its interval.
    #[error("must not be longer than the interval ({})", humantime::format_duration(*interval))]
    TimeoutOverInterval {
        /// The interval.
        interval: Duration,
    },
}

/// Something accepted but worth a warning; logged by `fwd check` and
/// `fwd attach`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// A timeout below the minimum the RFCs require of NATs.
    ShortTimeout {
        /// Where the value is.
        at: Position,
        /// The key (`[relay] udp_timeout`).
        key: &'static str,
        /// The configured value.
        value: Duration,
        /// The minimum.
        minimum: Duration,
        /// The RFC and requirement.
        rfc: &'static str,
    },
    /// A `[service.health]` of a whole-address service without `port`:
    /// the service is not checked.
    HealthNoPort {
        /// Where the table is.
        at: Position,
        /// The service (`[[service]] "name"`).
        service: String,
    },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::ShortTimeout {
                at,
                key,
                value,
                minimum,
                rfc,
            } => write!(
                f,
                "{at}: {key} = \"{}\" is shorter than {} ({rfc}): idle connections may be cut",
                humantime::format_duration(*value),
                humantime::format_duration(*minimum),
            ),
            ConfigWarning::HealthNoPort { at, service } => write!(
                f,
                "{at}: {service}: health has no port and the service listens on every port: \
                 its backends are not checked (give port = N)"
            ),
        }
    }
}
