//! Host facts built by hand, for the checks' and the pipeline's tests.

use std::{collections::BTreeMap, net::Ipv4Addr};

use fwd_common::{IPPROTO_TCP, IPPROTO_UDP};

use super::{HostFacts, Interface, Listener, LocalAddr, NoRoute, Route, RouteKind};

/// `eth0`'s index: the clients' side.
pub const ETH0: u32 = 2;
/// `eth1`'s index: the backends' side.
pub const ETH1: u32 = 3;
/// `lo`'s index.
pub const LO: u32 = 1;

/// An address from text.
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// An interface.
pub fn iface(name: &str, index: u32) -> Interface {
    Interface {
        name: name.into(),
        index,
    }
}

/// A relay with 198.18.0.1 on eth0 (clients) and 198.19.0.1 on eth1
/// (backends in 198.19.0.0/24), sshd on 0.0.0.0:22, ephemeral ports
/// 32768-60999.
pub fn facts() -> HostFacts {
    let mut routes = BTreeMap::new();
    for last in 1..=20u8 {
        let backend = Ipv4Addr::new(198, 19, 0, last);
        let route = if last == 1 {
            Route {
                dst: backend,
                kind: RouteKind::Local,
                oif: Some(LO),
                prefsrc: Some(backend),
                gateway: None,
            }
        } else {
            Route {
                dst: backend,
                kind: RouteKind::Unicast,
                oif: Some(ETH1),
                prefsrc: Some(ip("198.19.0.1")),
                gateway: None,
            }
        };
        routes.insert(backend, Ok(route));
    }
    for vip in ["198.18.0.1", "198.18.0.10", "198.18.0.11"] {
        let kind = if vip == "198.18.0.1" {
            RouteKind::Local
        } else {
            RouteKind::Unicast
        };
        let route = Route {
            dst: ip(vip),
            kind,
            oif: Some(ETH0),
            prefsrc: Some(ip("198.18.0.1")),
            gateway: None,
        };
        routes.insert(ip(vip), Ok(route));
    }
    // 198.19.1.0/24 goes out of eth0; 198.19.2.0/24 has no route.
    routes.insert(
        ip("198.19.1.5"),
        Ok(Route {
            dst: ip("198.19.1.5"),
            kind: RouteKind::Unicast,
            oif: Some(ETH0),
            prefsrc: Some(ip("198.18.0.1")),
            gateway: None,
        }),
    );
    routes.insert(
        ip("198.19.2.5"),
        Err(NoRoute {
            errno: libc::ENETUNREACH,
        }),
    );
    HostFacts {
        interfaces: vec![iface("lo", LO), iface("eth0", ETH0), iface("eth1", ETH1)],
        local_addrs: vec![
            LocalAddr {
                addr: Ipv4Addr::LOCALHOST,
                ifname: "lo".into(),
            },
            LocalAddr {
                addr: ip("198.18.0.1"),
                ifname: "eth0".into(),
            },
            LocalAddr {
                addr: ip("198.19.0.1"),
                ifname: "eth1".into(),
            },
        ],
        listeners: vec![
            Listener {
                proto: IPPROTO_TCP,
                addr: Ipv4Addr::UNSPECIFIED,
                port: 22,
            },
            Listener {
                proto: IPPROTO_UDP,
                addr: ip("198.18.0.11"),
                port: 5353,
            },
        ],
        local_port_range: 32768..=60999,
        routes,
    }
}

/// Both of the relay's interfaces.
pub fn both() -> Vec<Interface> {
    vec![iface("eth0", ETH0), iface("eth1", ETH1)]
}
