//! The checks `fwd attach` runs before it installs or changes anything: a
//! pure function of the config, the host's facts and the interfaces to
//! attach to, so that every refusal can be tested without a host.

use std::{net::Ipv4Addr, ops::RangeInclusive};

use thiserror::Error;

use super::{HostFacts, Interface, NoRoute, RouteKind};
use crate::{
    config::{Config, Snat},
    plan::proto_name,
};

/// A reason not to attach. Each names the service (`service`), the line of
/// the value at fault (`line`) and the addresses in question.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HostProblem {
    /// No route to a backend.
    #[error("line {line}: service {service:?}: backend {backend} is not routable: {why}")]
    BackendUnroutable {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The backend address.
        backend: Ipv4Addr,
        /// What the kernel answered.
        why: NoRoute,
    },
    /// The route to a backend was not looked up (facts from another config).
    #[error("line {line}: service {service:?}: the route to backend {backend} is unknown")]
    BackendRouteUnknown {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The backend address.
        backend: Ipv4Addr,
    },
    /// A backend that is an address of this host.
    #[error("line {line}: service {service:?}: backend {backend} is an address of this host: fwd relays to other hosts only")]
    BackendIsLocal {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The backend address.
        backend: Ipv4Addr,
    },
    /// A backend routed through an interface fwd is not attached to.
    #[error(
        "line {line}: service {service:?}: the route to backend {backend} leaves through {ifname}, \
         which fwd is not attached to: replies would miss the program: attach to {ifname} too, or fix the route"
    )]
    BackendNotAttached {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The backend address.
        backend: Ipv4Addr,
        /// The interface the route leaves through.
        ifname: String,
    },
    /// `snat = "auto"` and the route has no preferred source.
    #[error("line {line}: service {service:?}: the route to backend {backend} has no preferred source address: set snat to a local address")]
    NoSourceAddress {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The backend address.
        backend: Ipv4Addr,
    },
    /// An explicit `snat` that is not an address of this host.
    #[error("line {line}: service {service:?}: snat {snat} is not an address of this host (replies to it would not come here)")]
    SnatNotLocal {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The `snat` address.
        snat: Ipv4Addr,
    },
    /// The SNAT ports overlap the host's ephemeral ports.
    #[error(
        "[relay] snat_ports {}-{} overlaps the host's ephemeral ports {}-{} (net.ipv4.ip_local_port_range): \
         local connections and relayed flows would take the same ports; move snat_ports or change the sysctl",
        snat_ports.start(), snat_ports.end(), local.start(), local.end()
    )]
    SnatPortsOverlap {
        /// `[relay] snat_ports`.
        snat_ports: RangeInclusive<u16>,
        /// `net.ipv4.ip_local_port_range`.
        local: RangeInclusive<u16>,
    },
    /// A whole-address VIP that is a SNAT address.
    #[error(
        "line {line}: service {service:?}: VIP {vip} is the SNAT address of backend {backend} of service {other:?}: \
         a whole-address VIP there would take the backends' replies"
    )]
    VipIsSnatAddress {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The VIP.
        vip: Ipv4Addr,
        /// The service whose backend has this SNAT address.
        other: String,
        /// The backend address.
        backend: Ipv4Addr,
    },
    /// A VIP:port on a SNAT address with the port in the SNAT range.
    #[error(
        "line {line}: service {service:?}: VIP {vip} is a SNAT address and port {port} is inside snat_ports {}-{}: \
         replies to relayed flows could land on it; pick a port outside the range",
        snat_ports.start(), snat_ports.end()
    )]
    VipPortInSnatRange {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The VIP.
        vip: Ipv4Addr,
        /// The port.
        port: u16,
        /// `[relay] snat_ports`.
        snat_ports: RangeInclusive<u16>,
    },
    /// A VIP that would take the traffic of a local socket.
    #[error(
        "line {line}: service {service:?}: VIP {vip} is this host's and a local {} socket listens on {addr}:{port}: \
         fwd would take its traffic away (choose a VIP the host does not use{})",
        proto_name(*proto), if *whole { ", or give listen a port" } else { "" }
    )]
    VipHijacksSocket {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The VIP.
        vip: Ipv4Addr,
        /// The protocol of the socket.
        proto: u8,
        /// The address the socket is bound to (0.0.0.0: every address).
        addr: Ipv4Addr,
        /// The port.
        port: u16,
        /// Whether the service is whole-address.
        whole: bool,
    },
}

impl HostProblem {
    /// The line of the value at fault (`None` for `[relay]` settings).
    pub fn line(&self) -> Option<usize> {
        match self {
            HostProblem::BackendUnroutable { line, .. }
            | HostProblem::BackendRouteUnknown { line, .. }
            | HostProblem::BackendIsLocal { line, .. }
            | HostProblem::BackendNotAttached { line, .. }
            | HostProblem::NoSourceAddress { line, .. }
            | HostProblem::SnatNotLocal { line, .. }
            | HostProblem::VipIsSnatAddress { line, .. }
            | HostProblem::VipPortInSnatRange { line, .. }
            | HostProblem::VipHijacksSocket { line, .. } => Some(*line),
            HostProblem::SnatPortsOverlap { .. } => None,
        }
    }
}

/// Something to tell the user that does not stop the attach.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HostWarning {
    /// A VIP that is not an address of this host.
    #[error("line {line}: service {service:?}: VIP {vip} is not an address of this host: make sure {vip} is routed to this host")]
    VipNotLocal {
        /// The service name.
        service: String,
        /// Line of the value at fault.
        line: usize,
        /// The VIP.
        vip: Ipv4Addr,
    },
}

/// Checks that attaching `config` to `attach` on the host described by
/// `facts` is safe. Returns the warnings, or every problem found.
pub fn preflight(
    config: &Config,
    facts: &HostFacts,
    attach: &[Interface],
) -> Result<Vec<HostWarning>, Vec<HostProblem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let snat_ports = &config.relay.snat_ports;
    let local = &facts.local_port_range;
    if snat_ports.start() <= local.end() && local.start() <= snat_ports.end() {
        problems.push(HostProblem::SnatPortsOverlap {
            snat_ports: snat_ports.clone(),
            local: local.clone(),
        });
    }

    // Backends: routable, through an attached interface, with a SNAT address.
    let mut snat_addrs: Vec<(Ipv4Addr, &str, Ipv4Addr)> = Vec::new();
    for s in &config.services {
        let service = s.name.clone();
        if let Snat::Address(snat) = s.snat {
            if !facts.local_addrs.iter().any(|a| a.addr == snat) {
                problems.push(HostProblem::SnatNotLocal {
                    service: service.clone(),
                    line: s.snat_at.line,
                    snat,
                });
            }
        }
        for b in &s.backends {
            let (line, backend) = (b.at.line, b.addr);
            let route = match facts.routes.get(&backend) {
                None => {
                    problems.push(HostProblem::BackendRouteUnknown {
                        service: service.clone(),
                        line,
                        backend,
                    });
                    continue;
                }
                Some(Err(why)) => {
                    problems.push(HostProblem::BackendUnroutable {
                        service: service.clone(),
                        line,
                        backend,
                        why: *why,
                    });
                    continue;
                }
                Some(Ok(route)) => route,
            };
            if route.kind == RouteKind::Local {
                problems.push(HostProblem::BackendIsLocal {
                    service: service.clone(),
                    line,
                    backend,
                });
                continue;
            }
            if let Some(oif) = route
                .oif
                .filter(|oif| !attach.iter().any(|i| i.index == *oif))
            {
                let ifname = facts
                    .ifname(oif)
                    .map_or_else(|| format!("ifindex {oif}"), str::to_string);
                problems.push(HostProblem::BackendNotAttached {
                    service: service.clone(),
                    line,
                    backend,
                    ifname,
                });
            }
            let snat = match s.snat {
                Snat::Address(a) => a,
                Snat::Auto => {
                    if let Some(a) = route.prefsrc {
                        a
                    } else {
                        problems.push(HostProblem::NoSourceAddress {
                            service: service.clone(),
                            line,
                            backend,
                        });
                        continue;
                    }
                }
            };
            snat_addrs.push((snat, &s.name, backend));
        }
    }

    // VIPs: no clash with SNAT addresses or local sockets.
    for s in &config.services {
        let (service, line, vip) = (s.name.clone(), s.listen.at.line, s.listen.addr);
        let on_snat = snat_addrs.iter().find(|(a, _, _)| *a == vip);
        match (s.listen.port, on_snat) {
            (None, Some((_, other, backend))) => problems.push(HostProblem::VipIsSnatAddress {
                service: service.clone(),
                line,
                vip,
                other: other.to_string(),
                backend: *backend,
            }),
            (Some(port), Some(_)) if snat_ports.contains(&port) => {
                problems.push(HostProblem::VipPortInSnatRange {
                    service: service.clone(),
                    line,
                    vip,
                    port,
                    snat_ports: snat_ports.clone(),
                });
            }
            _ => {}
        }
        let local = facts.is_local(vip);
        let protos = s.protocol.ipprotos();
        // A wildcard socket receives on the VIP only if the VIP is local; a
        // socket bound to the VIP itself (IP_FREEBIND) always does.
        let hijacked = facts.listeners.iter().find(|l| {
            protos.contains(&l.proto)
                && (l.addr == vip || (l.addr.is_unspecified() && local))
                && s.listen.port.is_none_or(|p| p == l.port)
        });
        if let Some(l) = hijacked {
            problems.push(HostProblem::VipHijacksSocket {
                service: service.clone(),
                line,
                vip,
                proto: l.proto,
                addr: l.addr,
                port: l.port,
                whole: s.listen.port.is_none(),
            });
        }
        if !local {
            warnings.push(HostWarning::VipNotLocal { service, line, vip });
        }
    }
    problems.sort_by_key(HostProblem::line);
    if problems.is_empty() {
        Ok(warnings)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests;
