//! What the service file says about checking a service's backends
//! (`[service.health]`), with the defaults filled in.
//!
//! Parsed by the validator (`config/validate/health.rs`), read by the
//! health task (`crate::tasks::health`) and by `fwd status`.

use std::time::Duration;

/// Default `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Default `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default `rise`.
pub const DEFAULT_RISE: u32 = 2;
/// Default `fall`.
pub const DEFAULT_FALL: u32 = 3;
/// Default `path` of an HTTP check.
pub const DEFAULT_PATH: &str = "/";
/// Default expected `status` of an HTTP check.
pub const DEFAULT_STATUS: u16 = 200;
/// Default `syn_timeout` (passive health).
pub const DEFAULT_SYN_TIMEOUT: Duration = Duration::from_secs(3);
/// Default `passive_failures` (passive health).
pub const DEFAULT_PASSIVE_FAILURES: u32 = 3;
/// Shortest accepted `interval`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Largest `rise` and `fall`.
pub const MAX_RISE_FALL: u32 = 100;
/// Largest `passive_failures`.
pub const MAX_PASSIVE_FAILURES: u32 = 1000;

/// Whether and how a service's backends are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Every backend is checked.
    Checked(HealthCheck),
    /// No backend is checked (said at start, shown by `fwd status`).
    Unchecked(Unchecked),
}

impl Default for Health {
    /// The default of a `protocol = "tcp"` service with a port: a TCP
    /// connect check.
    fn default() -> Health {
        Health::Checked(HealthCheck::default())
    }
}

/// Why a service is not checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unchecked {
    /// `type = "none"`.
    Off,
    /// A whole-address service (no port) without `port` in its
    /// `[service.health]`: there is no port to connect to.
    NoPort,
    /// A service that carries UDP (`protocol = "udp"` or `"any"`) without
    /// a `[service.health]` table: a TCP check does not say whether its
    /// UDP is served, so checking it is a decision of the file.
    Udp,
}

impl Unchecked {
    /// The reason, for logs and `fwd status`.
    pub fn why(self) -> &'static str {
        match self {
            Unchecked::Off => "health checks are off (type = \"none\")",
            Unchecked::NoPort => {
                "a whole-address service has no port to check: give [service.health] port = N"
            }
            Unchecked::Udp => {
                "a service that carries UDP (protocol \"udp\" or \"any\") is checked only when \
                 asked: add a [service.health] table (its checks use TCP)"
            }
        }
    }

    /// A short word for tables and JSON: `off`, `no_port`, `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Unchecked::Off => "off",
            Unchecked::NoPort => "no_port",
            Unchecked::Udp => "udp",
        }
    }
}

/// The checks of one service's backends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// What one check does.
    pub probe: Probe,
    /// `port`: the port checked; `None` checks each backend's own port
    /// (its port in `backends`, else the listen port).
    pub port: Option<u16>,
    /// `interval`: time between the starts of two checks of a backend.
    pub interval: Duration,
    /// `timeout`: how long one check may take (at most `interval`).
    pub timeout: Duration,
    /// `rise`: consecutive successes that bring a down backend back.
    pub rise: u32,
    /// `fall`: consecutive failures that take an up backend out.
    pub fall: u32,
    /// `on_down`: what happens to a down backend's existing flows.
    pub on_down: OnDown,
    /// `syn_timeout` (passive health): a SYN forwarded to a backend and not
    /// answered by a SYN within this time is a failure.
    pub syn_timeout: Duration,
    /// `passive_failures` (passive health): consecutive failed connection
    /// attempts that take a backend out before the next check; 0 turns
    /// passive health off.
    pub passive_failures: u32,
}

impl Default for HealthCheck {
    fn default() -> HealthCheck {
        HealthCheck {
            probe: Probe::Tcp,
            port: None,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            on_down: OnDown::Keep,
            syn_timeout: DEFAULT_SYN_TIMEOUT,
            passive_failures: DEFAULT_PASSIVE_FAILURES,
        }
    }
}

impl HealthCheck {
    /// The port checked on a backend of a service listening on
    /// `listen_port` whose backend entry has `backend_port`: `port`, else
    /// the backend's port, else the listen port (`None` only for a
    /// whole-address service without `port`, which is not checked).
    pub fn target_port(&self, listen_port: Option<u16>, backend_port: Option<u16>) -> Option<u16> {
        self.port.or(backend_port).or(listen_port)
    }

    /// Whether passive health is on.
    pub fn passive(&self) -> bool {
        self.passive_failures > 0
    }

    /// One line for logs: `tcp port 80 every 2s (timeout 1s, rise 2, fall 3)`.
    pub fn describe(&self, port: u16) -> String {
        let what = match &self.probe {
            Probe::Tcp => format!("tcp connect to port {port}"),
            Probe::Http { path, status } => format!("http GET :{port}{path} expecting {status}"),
        };
        let passive = if self.passive() {
            format!(
                "; passive: {} unanswered SYNs within {}",
                self.passive_failures,
                humantime::format_duration(self.syn_timeout)
            )
        } else {
            "; passive off".to_string()
        };
        format!(
            "{what} every {} (timeout {}, rise {}, fall {}, on_down {}{passive})",
            humantime::format_duration(self.interval),
            humantime::format_duration(self.timeout),
            self.rise,
            self.fall,
            self.on_down.name(),
        )
    }
}

/// What one check does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `type = "tcp"`: a TCP connection is opened, then closed.
    Tcp,
    /// `type = "http"`: `GET path` over HTTP/1.1; the answer's status must
    /// be `status`.
    Http {
        /// `path`, starting with `/`.
        path: String,
        /// `status`: the expected status code.
        status: u16,
    },
}

impl Probe {
    /// `tcp` or `http`.
    pub fn name(&self) -> &'static str {
        match self {
            Probe::Tcp => "tcp",
            Probe::Http { .. } => "http",
        }
    }
}

/// `on_down`: what happens to the flows a backend has when it goes down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDown {
    /// `"keep"` (the default): they continue; only new flows avoid the
    /// backend.
    #[default]
    Keep,
    /// `"reset"`: their connection-table entries are removed, so their next
    /// packet is treated as new (see README, "Health checks").
    Reset,
}

impl OnDown {
    /// The word used in the file.
    pub fn name(self) -> &'static str {
        match self {
            OnDown::Keep => "keep",
            OnDown::Reset => "reset",
        }
    }
}
