//! What gets installed: the datapath-independent result of the service map
//! and the host's facts (the SNAT address of each backend).
//!
//! Built by `fwd attach` from a [`crate::config::Config`], or by hand in the
//! integration tests (explicit SNAT addresses, ids from 0); read by
//! [`crate::datapath::Datapath::install`] and by the GC (its
//! [`RelaySettings`]).

use std::net::Ipv4Addr;

use fwd_common::{Service4Key, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

use crate::config::{Config, MssClamp, Protocol, RelaySettings, Snat};

/// Everything `fwd attach` installs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Services; `services[i].id == i`.
    pub services: Vec<PlannedService>,
    /// Datapath and GC settings.
    pub settings: RelaySettings,
}

/// One service: its VIP entries and its backends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedService {
    /// Service id: 0.. in file order; selects its backend slots.
    pub id: u32,
    /// Name, for logs and metrics.
    pub name: String,
    /// The VIP.
    pub vip: Ipv4Addr,
    /// The VIP port; `None` for a whole-address service (stored as port 0).
    pub port: Option<u16>,
    /// IP protocols ([`fwd_common::IPPROTO_TCP`], [`fwd_common::IPPROTO_UDP`]):
    /// one `SERVICES4` key each.
    pub protocols: Vec<u8>,
    /// Backends, in slot order.
    pub backends: Vec<PlannedBackend>,
    /// MSS clamp of its TCP flows: its own `mss_clamp`, else the
    /// `[relay]` one.
    pub mss_clamp: MssClamp,
    /// Who may open flows (`allow`, `deny`).
    pub access: crate::config::Access,
}

impl PlannedService {
    /// The `SERVICES4` keys of this service, one per protocol.
    pub fn keys(&self) -> impl Iterator<Item = Service4Key> + '_ {
        self.protocols
            .iter()
            .map(|&proto| Service4Key::new(self.vip, self.port.unwrap_or(0), proto))
    }
}

/// One backend with its SNAT source address resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedBackend {
    /// Backend id: 0.. over all services in file order; indexes
    /// `BACKENDS4` and `BACKEND_STATS`.
    pub id: u32,
    /// Backend address.
    pub addr: Ipv4Addr,
    /// Backend port; `None` keeps the client's destination port.
    pub port: Option<u16>,
    /// Source address of packets towards this backend.
    pub snat: Ipv4Addr,
    /// Relative weight in the service's Maglev table; 0 drains (no new
    /// flows, existing flows continue).
    pub weight: u32,
}

/// A backend of a service, as health checks and the file name it: stable
/// across reloads (unlike its id, a backend keeps this identity).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendRef {
    /// Service name.
    pub service: String,
    /// Backend address.
    pub addr: Ipv4Addr,
    /// Backend port (`None`: the VIP port is kept).
    pub port: Option<u16>,
}

impl BackendRef {
    /// The identity of backend `b` of service `service`.
    pub fn of(service: &str, b: &PlannedBackend) -> BackendRef {
        BackendRef {
            service: service.to_string(),
            addr: b.addr,
            port: b.port,
        }
    }
}

/// A backend whose `snat = "auto"` could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("service {service:?}: no source address for backend {backend}")]
pub struct UnresolvedSnat<E: std::error::Error + 'static> {
    /// The service name.
    pub service: String,
    /// The backend.
    pub backend: Ipv4Addr,
    /// Why the resolver found none.
    #[source]
    pub source: E,
}

impl Plan {
    /// Builds the plan of `config`: ids in file order, `snat = "auto"`
    /// resolved by `auto_snat(backend)` (the host's preferred source on the
    /// route to the backend; see [`crate::host::HostFacts::auto_snat`]).
    pub fn build<E: std::error::Error + 'static>(
        config: &Config,
        mut auto_snat: impl FnMut(Ipv4Addr) -> Result<Ipv4Addr, E>,
    ) -> Result<Plan, UnresolvedSnat<E>> {
        let mut next_backend = 0u32;
        let mut services = Vec::with_capacity(config.services.len());
        for (id, s) in config.services.iter().enumerate() {
            let mut backends = Vec::with_capacity(s.backends.len());
            for b in &s.backends {
                let snat = match s.snat {
                    Snat::Address(a) => a,
                    Snat::Auto => auto_snat(b.addr).map_err(|source| UnresolvedSnat {
                        service: s.name.clone(),
                        backend: b.addr,
                        source,
                    })?,
                };
                backends.push(PlannedBackend {
                    id: next_backend,
                    addr: b.addr,
                    port: b.port,
                    snat,
                    weight: b.weight,
                });
                next_backend += 1;
            }
            let mut protocols = s.protocol.ipprotos();
            // A whole-address service of every protocol relays ICMP echo
            // too (ping through the VIP reaches a backend).
            if s.listen.port.is_none() && s.protocol == Protocol::Any {
                protocols.push(IPPROTO_ICMP);
            }
            services.push(PlannedService {
                id: id as u32,
                name: s.name.clone(),
                vip: s.listen.addr,
                port: s.listen.port,
                protocols,
                backends,
                mss_clamp: s.mss_clamp.unwrap_or(config.relay.mss_clamp),
                access: s.access.clone(),
            });
        }
        Ok(Plan {
            services,
            settings: config.relay.clone(),
        })
    }

    /// The ICMP keys of VIPs that no service relays ICMP to (none is
    /// whole-address with protocol "any"), with the id of the VIP's first
    /// service: the datapath answers echo requests to them itself.
    pub fn echo_answers(&self) -> Vec<(Service4Key, u32)> {
        let mut out: Vec<(Service4Key, u32)> = Vec::new();
        for s in &self.services {
            let relayed = self
                .services
                .iter()
                .any(|o| o.vip == s.vip && o.protocols.contains(&IPPROTO_ICMP));
            let key = Service4Key::new(s.vip, 0, IPPROTO_ICMP);
            if !relayed && !out.iter().any(|(k, _)| *k == key) {
                out.push((key, s.id));
            }
        }
        out
    }

    /// Every backend with its service, in id order.
    pub fn backends(&self) -> impl Iterator<Item = (&PlannedService, &PlannedBackend)> {
        self.services
            .iter()
            .flat_map(|s| s.backends.iter().map(move |b| (s, b)))
    }
}

/// Short name of an IP protocol number, for logs and tables.
pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        IPPROTO_TCP => "tcp",
        IPPROTO_UDP => "udp",
        IPPROTO_ICMP => "icmp",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[service]]
name = "a"
listen = "198.18.0.10"
backends = ["198.19.0.1", "198.19.0.2"]

[[service]]
name = "b"
listen = "198.18.0.11:53"
protocol = "udp"
backends = ["198.19.1.1:5353"]
snat = "198.19.1.254"
mss_clamp = 1360

[relay]
mss_clamp = "off"
"#;

    #[test]
    fn ids_in_file_order_and_snat_resolved() {
        let config = Config::parse(FILE).unwrap();
        let plan = Plan::build(&config, |b| {
            Ok::<_, std::io::Error>(Ipv4Addr::new(198, 19, b.octets()[2], 250))
        })
        .unwrap();
        assert_eq!(plan.services.len(), 2);
        let (a, b) = (&plan.services[0], &plan.services[1]);
        assert_eq!((a.id, b.id), (0, 1));
        assert_eq!(
            a.protocols,
            vec![IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP],
            "a whole-address service of every protocol relays ICMP echo"
        );
        assert_eq!(b.protocols, vec![IPPROTO_UDP]);
        let ids: Vec<u32> = plan.backends().map(|(_, b)| b.id).collect();
        assert_eq!(ids, vec![0, 1, 2]);
        assert_eq!(a.backends[1].snat, Ipv4Addr::new(198, 19, 0, 250));
        assert_eq!(
            b.backends[0].snat,
            Ipv4Addr::new(198, 19, 1, 254),
            "explicit snat kept"
        );
        assert_eq!(b.backends[0].port, Some(5353));
        let keys: Vec<Service4Key> = a.keys().chain(b.keys()).collect();
        assert_eq!(
            keys,
            vec![
                Service4Key::new(Ipv4Addr::new(198, 18, 0, 10), 0, IPPROTO_TCP),
                Service4Key::new(Ipv4Addr::new(198, 18, 0, 10), 0, IPPROTO_UDP),
                Service4Key::new(Ipv4Addr::new(198, 18, 0, 10), 0, IPPROTO_ICMP),
                Service4Key::new(Ipv4Addr::new(198, 18, 0, 11), 53, IPPROTO_UDP),
            ]
        );
        // b's VIP relays no ICMP: the datapath answers its echo requests.
        assert_eq!(
            plan.echo_answers(),
            vec![(
                Service4Key::new(Ipv4Addr::new(198, 18, 0, 11), 0, IPPROTO_ICMP),
                1
            )]
        );
        assert_eq!(
            (a.mss_clamp, b.mss_clamp),
            (MssClamp::Off, MssClamp::Value(1360)),
            "the relay's, or the service's own"
        );
        assert_eq!(
            plan.settings,
            RelaySettings {
                mss_clamp: MssClamp::Off,
                ..RelaySettings::default()
            }
        );
    }

    #[test]
    fn unresolved_auto_snat_names_service_and_backend() {
        let config = Config::parse(FILE).unwrap();
        let err = Plan::build(&config, |_| Err(std::io::Error::other("no route"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"a\"") && msg.contains("198.19.0.1"), "{msg}");
        assert_eq!(err.source.to_string(), "no route");
    }
}
