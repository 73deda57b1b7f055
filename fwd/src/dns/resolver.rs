//! A/IPv4 lookups with hickory-resolver: the servers of `/etc/resolv.conf`
//! (and `/etc/hosts` first, as the C library would), or those of
//! `[relay] dns_servers` (and nothing else). Nothing is cached here: each
//! lookup asks a server, so that the TTL of each answer is the server's.

use std::{
    collections::BTreeSet,
    fmt,
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use hickory_resolver::{
    config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
    net::{runtime::TokioRuntimeProvider, NetError},
    proto::rr::RData,
    TokioResolver,
};

/// How long one server may take to answer one try.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(2);
/// Tries per server.
pub const ATTEMPTS: usize = 2;
/// The longest a whole lookup may take, whatever the number of servers.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A good answer: the IPv4 addresses of a name and how long they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The addresses (at least one).
    pub addrs: BTreeSet<Ipv4Addr>,
    /// The smallest TTL of the answer's records.
    pub ttl: Duration,
    /// When the answer arrived.
    pub at: Instant,
}

/// A resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("reading the system's DNS configuration (/etc/resolv.conf)")]
pub struct SetupError(#[source] NetError);

/// A lookup that gave no address.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The resolver failed (no answer, SERVFAIL, NXDOMAIN, no A record...).
    #[error("resolving {name}")]
    Failed {
        /// The name.
        name: String,
        /// What the resolver said.
        #[source]
        source: NetError,
    },
    /// The name does not exist (NXDOMAIN).
    #[error("{name} does not exist (NXDOMAIN)")]
    NoSuchName {
        /// The name.
        name: String,
    },
    /// An answer without any IPv4 address.
    #[error("{name} has no IPv4 address (the answer holds no A record)")]
    NoAddress {
        /// The name.
        name: String,
    },
    /// No answer within [`LOOKUP_TIMEOUT`].
    #[error("no answer for {name} within {}", humantime::format_duration(*after))]
    TimedOut {
        /// The name.
        name: String,
        /// The time waited.
        after: Duration,
    },
}

/// Which servers a [`Resolver`] asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Servers {
    /// Those of `/etc/resolv.conf` (and `/etc/hosts` first).
    System,
    /// These, from `[relay] dns_servers`.
    Given(Vec<SocketAddr>),
}

impl Servers {
    /// `System` when `given` is empty.
    pub fn of(given: &[SocketAddr]) -> Servers {
        if given.is_empty() {
            Servers::System
        } else {
            Servers::Given(given.to_vec())
        }
    }
}

impl fmt::Display for Servers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Servers::System => f.write_str("the servers of /etc/resolv.conf"),
            Servers::Given(list) => {
                let list: Vec<String> = list.iter().map(ToString::to_string).collect();
                write!(f, "{}", list.join(", "))
            }
        }
    }
}

/// Resolves backend names. Cheap to clone; needs a tokio runtime.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
    servers: Servers,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("servers", &self.servers)
            .finish()
    }
}

impl Resolver {
    /// A resolver asking `servers`.
    pub fn new(servers: Servers) -> Result<Resolver, SetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match &servers {
            Servers::System => TokioResolver::builder(provider).map_err(SetupError)?,
            Servers::Given(list) => {
                let name_servers = list.iter().map(|sa| name_server(*sa)).collect();
                let mut b = TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(name_servers),
                    provider,
                );
                b.options_mut().use_hosts_file = ResolveHosts::Never;
                b
            }
        };
        tune(builder.options_mut());
        let inner = builder.build().map_err(SetupError)?;
        Ok(Resolver { inner, servers })
    }

    /// The servers asked.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    /// The IPv4 addresses of `name` (A records, CNAMEs followed).
    pub async fn lookup(&self, name: &str) -> Result<Answer, LookupError> {
        let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, self.inner.ipv4_lookup(name))
            .await
            .map_err(|_| LookupError::TimedOut {
                name: name.to_string(),
                after: LOOKUP_TIMEOUT,
            })?
            .map_err(|source| {
                let name = name.to_string();
                if source.is_nx_domain() {
                    LookupError::NoSuchName { name }
                } else if source.is_no_records_found() {
                    LookupError::NoAddress { name }
                } else {
                    LookupError::Failed { name, source }
                }
            })?;
        let at = Instant::now();
        let mut addrs = BTreeSet::new();
        let mut ttl: Option<u32> = None;
        for record in lookup.answers() {
            ttl = Some(ttl.map_or(record.ttl, |t| t.min(record.ttl)));
            if let RData::A(a) = &record.data {
                addrs.insert(a.0);
            }
        }
        if addrs.is_empty() {
            return Err(LookupError::NoAddress {
                name: name.to_string(),
            });
        }
        let ttl = match ttl {
            Some(t) => Duration::from_secs(t.into()),
            None => lookup.valid_until().saturating_duration_since(at),
        };
        Ok(Answer { addrs, ttl, at })
    }
}

/// A server of `[relay] dns_servers`: UDP, and TCP for truncated answers.
fn name_server(sa: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = sa.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = sa.port();
    NameServerConfig::new(sa.ip(), true, vec![udp, tcp])
}

/// Options for both kinds: no cache (each lookup asks, so TTLs are the
/// server's), short timeouts (a failure is retried by the schedule).
fn tune(opts: &mut ResolverOpts) {
    opts.cache_size = 0;
    opts.timeout = SERVER_TIMEOUT;
    opts.attempts = ATTEMPTS;
}

#[cfg(test)]
mod tests;
