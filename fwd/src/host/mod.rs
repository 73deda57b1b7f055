//! What fwd needs to know about the host before it installs anything, and
//! the few settings it changes.
//!
//! [`HostFacts::gather`] reads everything once (interfaces, addresses,
//! listening sockets, the ephemeral port range, the routes to every backend
//! and VIP); [`checks::preflight`] then decides, as a pure function of the
//! config and those facts, whether attaching is safe. `fwd check` shows the
//! same facts.

pub mod checks;
pub mod ifaces;
pub mod listeners;
pub mod privileges;
pub mod routes;
pub mod sysctl;
#[cfg(test)]
pub mod testing;

use std::{
    collections::{btree_map::Entry, BTreeMap},
    io,
    net::Ipv4Addr,
    ops::RangeInclusive,
};

use thiserror::Error;

pub use checks::{preflight, HostProblem, HostWarning};
pub use ifaces::{Interface, LocalAddr};
pub use listeners::Listener;
pub use routes::{NoRoute, Route, RouteKind};

use crate::config::Config;

/// Why the host is not ready (or could not be examined).
#[derive(Debug, Error)]
pub enum HostError {
    /// Missing capabilities.
    #[error("fwd needs {} (missing: {}): run as root (sudo fwd attach ...)", "CAP_BPF and CAP_NET_ADMIN", missing.join(", "))]
    NotPrivileged {
        /// The missing capabilities.
        missing: Vec<&'static str>,
    },
    /// An interface given on the command line does not exist.
    #[error("no interface named {name:?}; the interfaces are: {}", existing.join(", "))]
    UnknownInterface {
        /// The name given.
        name: String,
        /// The names that exist.
        existing: Vec<String>,
    },
    /// An interface whose frames have no Ethernet header (WireGuard, tun,
    /// IP tunnels): the datapath could not parse them.
    #[error("interface {name:?} is {kind} (link type {link_type}): fwd relays Ethernet frames; attach it to the Ethernet interface that traffic arrives on")]
    NotEthernet {
        /// The name given.
        name: String,
        /// `ARPHRD_*`.
        link_type: u16,
        /// What that link type is, in words.
        kind: &'static str,
    },
    /// The same interface given twice.
    #[error("interface {name:?} is given twice")]
    DuplicateInterface {
        /// The name.
        name: String,
    },
    /// A fact could not be read.
    #[error("{what}")]
    Io {
        /// What was being read.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A sysctl could not be read or set.
    #[error(transparent)]
    Sysctl(#[from] sysctl::SysctlError),
    /// The checks before attaching found problems.
    #[error("{}", list(problems))]
    Checks {
        /// Every problem found.
        problems: Vec<HostProblem>,
    },
}

fn list(problems: &[HostProblem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut s = format!("{} problems with this host:", many.len());
            for p in many {
                s.push_str("\n  ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> HostError {
    move |source| HostError::Io { what, source }
}

/// Refuses to go on without the capabilities to load and attach XDP.
pub fn check_privileges() -> Result<(), HostError> {
    let missing =
        privileges::missing_capabilities().map_err(io_err("reading /proc/self/status"))?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(HostError::NotPrivileged { missing })
    }
}

/// The interfaces named on the command line, in order; an unknown or
/// repeated name is an error that lists the existing ones, an interface
/// without Ethernet framing an error that says so.
pub fn resolve_interfaces(names: &[String]) -> Result<Vec<Interface>, HostError> {
    let all = ifaces::interfaces().map_err(io_err("listing network interfaces"))?;
    let mut out: Vec<Interface> = Vec::new();
    for name in names {
        if out.iter().any(|i| &i.name == name) {
            return Err(HostError::DuplicateInterface { name: name.clone() });
        }
        match all.iter().find(|i| &i.name == name) {
            Some(i) => {
                let link_type =
                    ifaces::link_type(name).map_err(io_err("reading an interface's link type"))?;
                if link_type != ifaces::ARPHRD_ETHER && link_type != ifaces::ARPHRD_LOOPBACK {
                    let kind = if link_type == ifaces::ARPHRD_NONE {
                        "a layer-3 interface without a link-layer header (WireGuard, tun)"
                    } else {
                        "not an Ethernet interface"
                    };
                    return Err(HostError::NotEthernet {
                        name: name.clone(),
                        link_type,
                        kind,
                    });
                }
                out.push(i.clone());
            }
            None => {
                return Err(HostError::UnknownInterface {
                    name: name.clone(),
                    existing: all.iter().map(|i| i.name.clone()).collect(),
                })
            }
        }
    }
    Ok(out)
}

/// A snapshot of the host, taken before anything is installed. Fields are
/// public so that checks can be tested on facts built by hand.
#[derive(Clone, Debug)]
pub struct HostFacts {
    /// Every interface.
    pub interfaces: Vec<Interface>,
    /// Every IPv4 address of the host.
    pub local_addrs: Vec<LocalAddr>,
    /// Every listening TCP socket and unconnected UDP socket.
    pub listeners: Vec<Listener>,
    /// `net.ipv4.ip_local_port_range`.
    pub local_port_range: RangeInclusive<u16>,
    /// The route to every backend and VIP of the config.
    pub routes: BTreeMap<Ipv4Addr, Result<Route, NoRoute>>,
}

/// Why `snat = "auto"` has no address for a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum AutoSnatError {
    /// No route to the backend.
    #[error("no route to it: {0}")]
    NoRoute(NoRoute),
    /// The route has no preferred source address.
    #[error("the route to it has no preferred source address; set snat to a local address")]
    NoPrefSrc,
    /// The route was not looked up (not in the config when gathered).
    #[error("its route was not looked up")]
    NotLookedUp,
}

impl HostFacts {
    /// Reads the host's facts for `config`: no privileges needed.
    pub fn gather(config: &Config) -> Result<HostFacts, HostError> {
        let mut lookup =
            routes::RouteLookup::new().map_err(io_err("opening a netlink route socket"))?;
        let mut routes = BTreeMap::new();
        for s in &config.services {
            let addrs = std::iter::once(s.listen.addr).chain(s.backends.iter().map(|b| b.addr));
            for addr in addrs {
                if let Entry::Vacant(e) = routes.entry(addr) {
                    e.insert(
                        lookup
                            .get(addr)
                            .map_err(io_err("looking up a route (RTM_GETROUTE)"))?,
                    );
                }
            }
        }
        Ok(HostFacts {
            interfaces: ifaces::interfaces().map_err(io_err("listing network interfaces"))?,
            local_addrs: ifaces::local_addrs().map_err(io_err("listing local addresses"))?,
            listeners: listeners::listeners().map_err(io_err("listing local sockets"))?,
            local_port_range: sysctl::ip_local_port_range()?,
            routes,
        })
    }

    /// The address `snat = "auto"` gives towards `backend`: the preferred
    /// source of the route to it.
    pub fn auto_snat(&self, backend: Ipv4Addr) -> Result<Ipv4Addr, AutoSnatError> {
        match self.routes.get(&backend) {
            None => Err(AutoSnatError::NotLookedUp),
            Some(Err(e)) => Err(AutoSnatError::NoRoute(*e)),
            Some(Ok(r)) => r.prefsrc.ok_or(AutoSnatError::NoPrefSrc),
        }
    }

    /// The name of interface `index`.
    pub fn ifname(&self, index: u32) -> Option<&str> {
        self.interfaces
            .iter()
            .find(|i| i.index == index)
            .map(|i| i.name.as_str())
    }

    /// Whether the host takes packets to `addr` as its own: an address on an
    /// interface, or a local route (`ip route add local ...`).
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.local_addrs.iter().any(|a| a.addr == addr)
            || matches!(self.routes.get(&addr), Some(Ok(r)) if r.kind == RouteKind::Local)
    }
}
