//! Label values and the arithmetic behind them: pure functions of the plan
//! and of the datapath's enums, so they are unit-tested without a kernel.
//!
//! No label ever holds a client address: the only addresses in labels are
//! the backends and the SNAT addresses of the plan, a bounded set chosen by
//! the operator.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};

use fwd_common::{counters::xdp_action, events::end_reason, Reason};

use crate::plan::{proto_name, Plan, PlannedBackend};

/// `direction` label of traffic from the client to the backend.
pub const TO_BACKEND: &str = "to_backend";
/// `direction` label of traffic from the backend to the client.
pub const TO_CLIENT: &str = "to_client";

/// The end reasons a flow can close with, in the order they are exported.
pub const END_REASONS: [u8; 5] = [
    end_reason::FIN,
    end_reason::RST,
    end_reason::TIMEOUT,
    end_reason::EVICTED,
    end_reason::BACKEND_DOWN,
];

/// The `backend` label: the address, and the port when the plan remaps it
/// (`198.19.0.10:80`), as written in the service file.
pub fn backend_label(b: &PlannedBackend) -> String {
    match b.port {
        Some(p) => format!("{}:{p}", b.addr),
        None => b.addr.to_string(),
    }
}

/// The `protocol` label of an IP protocol number.
pub fn protocol_label(proto: u8) -> &'static str {
    proto_name(proto)
}

/// The `action` label of a reason: what XDP did with the packet.
pub fn action_label(reason: Reason) -> &'static str {
    match reason.action() {
        xdp_action::PASS => "pass",
        xdp_action::DROP => "drop",
        xdp_action::TX => "tx",
        xdp_action::REDIRECT => "redirect",
        _ => "unknown",
    }
}

/// How many flows each SNAT address can hold at once.
///
/// The datapath claims a SNAT port per (backend address, backend port,
/// protocol): the same port can serve a flow to each distinct backend
/// address:port and protocol at the same time. So an address serves
/// `ports` flows for every distinct such triple among the backends that use
/// it. A backend without a port (whole-address service, port kept) counts
/// once per protocol, although each destination port has its own range:
/// for those the result is a lower bound.
pub fn snat_capacity(plan: &Plan) -> BTreeMap<Ipv4Addr, u64> {
    let ports = u64::from(
        plan.settings
            .snat_ports
            .end()
            .saturating_sub(*plan.settings.snat_ports.start()),
    ) + 1;
    let mut triples: BTreeMap<Ipv4Addr, BTreeSet<(Ipv4Addr, Option<u16>, u8)>> = BTreeMap::new();
    for (s, b) in plan.backends() {
        let set = triples.entry(b.snat).or_default();
        for &proto in &s.protocols {
            set.insert((b.addr, b.port, proto));
        }
    }
    triples
        .into_iter()
        .map(|(snat, set)| (snat, ports * set.len() as u64))
        .collect()
}

#[cfg(test)]
mod tests {
    use fwd_common::{IPPROTO_TCP, IPPROTO_UDP};

    use super::*;
    use crate::{config::RelaySettings, plan::PlannedService};

    fn backend(id: u32, addr: [u8; 4], port: Option<u16>, snat: [u8; 4]) -> PlannedBackend {
        PlannedBackend {
            id,
            addr: addr.into(),
            port,
            snat: snat.into(),
            weight: 1,
        }
    }

    fn service(id: u32, protocols: &[u8], backends: Vec<PlannedBackend>) -> PlannedService {
        PlannedService {
            id,
            name: format!("s{id}"),
            vip: Ipv4Addr::new(198, 18, 100, 1 + id as u8),
            port: None,
            protocols: protocols.to_vec(),
            mss_clamp: Default::default(),
            access: Default::default(),
            backends,
        }
    }

    #[test]
    fn backend_label_is_address_and_port_as_planned() {
        assert_eq!(
            backend_label(&backend(0, [198, 19, 0, 10], None, [198, 19, 0, 1])),
            "198.19.0.10"
        );
        assert_eq!(
            backend_label(&backend(0, [198, 19, 0, 10], Some(80), [198, 19, 0, 1])),
            "198.19.0.10:80"
        );
    }

    #[test]
    fn action_labels_follow_the_reason_action() {
        assert_eq!(action_label(Reason::ForwardedTx), "tx");
        assert_eq!(action_label(Reason::ForwardedRedirect), "redirect");
        assert_eq!(action_label(Reason::PassNoService), "pass");
        assert_eq!(action_label(Reason::DropSnatExhausted), "drop");
        for r in Reason::ALL {
            assert_ne!(action_label(*r), "unknown", "{r:?}");
        }
    }

    #[test]
    fn protocol_labels() {
        assert_eq!(protocol_label(IPPROTO_TCP), "tcp");
        assert_eq!(protocol_label(IPPROTO_UDP), "udp");
    }

    #[test]
    fn end_reason_labels() {
        let names: Vec<&str> = END_REASONS.iter().map(|&r| end_reason::name(r)).collect();
        assert_eq!(names, ["fin", "rst", "timeout", "evicted", "backend_down"]);
    }

    #[test]
    fn snat_capacity_counts_distinct_backend_port_protocol_per_address() {
        let snat_a = [198, 19, 0, 1];
        let snat_b = [198, 19, 1, 1];
        let plan = Plan {
            services: vec![
                // tcp+udp to .10 (port kept) and .11:80 -> 4 triples on A.
                service(
                    0,
                    &[IPPROTO_TCP, IPPROTO_UDP],
                    vec![
                        backend(0, [198, 19, 0, 10], None, snat_a),
                        backend(1, [198, 19, 0, 11], Some(80), snat_a),
                    ],
                ),
                // The same .11:80 over tcp again: shares its ports (no new
                // triple); .11:443 is a new one.
                service(
                    1,
                    &[IPPROTO_TCP],
                    vec![
                        backend(2, [198, 19, 0, 11], Some(80), snat_a),
                        backend(3, [198, 19, 0, 11], Some(443), snat_a),
                    ],
                ),
                // Another SNAT address.
                service(
                    2,
                    &[IPPROTO_UDP],
                    vec![backend(4, [198, 19, 1, 20], Some(53), snat_b)],
                ),
            ],
            settings: RelaySettings {
                snat_ports: 20_000..=20_999,
                ..Default::default()
            },
        };
        let cap = snat_capacity(&plan);
        assert_eq!(cap.len(), 2);
        assert_eq!(cap[&Ipv4Addr::from(snat_a)], 1000 * 5);
        assert_eq!(cap[&Ipv4Addr::from(snat_b)], 1000);
    }

    #[test]
    fn snat_capacity_of_the_default_range_and_a_single_port_range() {
        let mut plan = Plan {
            services: vec![service(
                0,
                &[IPPROTO_TCP],
                vec![backend(0, [198, 19, 0, 10], None, [198, 19, 0, 1])],
            )],
            settings: RelaySettings::default(),
        };
        let snat = Ipv4Addr::new(198, 19, 0, 1);
        assert_eq!(snat_capacity(&plan)[&snat], 22_768);
        plan.settings.snat_ports = 65_535..=65_535;
        assert_eq!(snat_capacity(&plan)[&snat], 1);
        plan.services.clear();
        assert!(snat_capacity(&plan).is_empty());
    }
}
