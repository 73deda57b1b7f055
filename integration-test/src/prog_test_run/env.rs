//! The environment of the packet tests: a private network namespace with the
//! relay's two interfaces, fixed MACs and permanent neighbours, so that
//! `bpf_fib_lookup` inside `BPF_PROG_TEST_RUN` gives deterministic answers;
//! and the datapath loaded with a known plan.
//!
//! The namespace is made by [`in_private_netns`] on a thread of the test's
//! own: nothing names it, so the kernel removes it (and its veths) when the
//! thread ends, whether the test passed or panicked.

use std::{net::Ipv4Addr, process::Command};

use crate::netns::in_private_netns;
use fwd::{
    config::RelaySettings,
    datapath::Datapath,
    plan::{Plan, PlannedBackend, PlannedService},
};
use fwd_common::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

/// Relay interface towards the clients.
pub const CLIENT_IF: &str = "fa";
/// Relay interface towards the backends.
pub const BACKEND_IF: &str = "fb";
/// MAC of [`CLIENT_IF`].
pub const CLIENT_IF_MAC: [u8; 6] = [0x02, 0xfa, 0, 0, 0, 0x01];
/// MAC of [`BACKEND_IF`].
pub const BACKEND_IF_MAC: [u8; 6] = [0x02, 0xfb, 0, 0, 0, 0x01];
/// The client's MAC (a permanent neighbour on [`CLIENT_IF`]).
pub const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 0x02];
/// The backend's MAC (a permanent neighbour on [`BACKEND_IF`]).
pub const BACKEND_MAC: [u8; 6] = [0x02, 0xb1, 0, 0, 0, 0x02];

/// The relay's address on the client side.
pub const RELAY_CLIENT_SIDE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// A client.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The relay's address on the backend side: the SNAT address.
pub const SNAT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The backend (has a neighbour entry).
pub const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// A backend on the connected subnet without a neighbour entry.
pub const BACKEND_NO_NEIGH: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 3);
/// A backend behind an `unreachable` route.
pub const BACKEND_NO_ROUTE: Ipv4Addr = Ipv4Addr::new(198, 19, 9, 1);

/// VIP of the whole-address service (every port, port kept, TCP and UDP).
pub const VIP_WHOLE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
/// VIP of the port services.
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 101);
/// TCP service port on [`VIP`], remapped to [`BACKEND`]:80.
pub const VIP_TCP_PORT: u16 = 8080;
/// UDP service port on [`VIP`], remapped to [`BACKEND`]:53.
pub const VIP_UDP_PORT: u16 = 5353;
/// TCP port on [`VIP`] of the service whose backend has no neighbour.
pub const VIP_NO_NEIGH_PORT: u16 = 81;
/// TCP port on [`VIP`] of the service whose backend has no route.
pub const VIP_NO_ROUTE_PORT: u16 = 82;

/// First SNAT port of the test range.
pub const SNAT_PORT_MIN: u16 = 20_000;
/// Last SNAT port of the test range.
pub const SNAT_PORT_MAX: u16 = 20_099;
/// The SNAT port secret of the packet tests' datapaths ([`datapath_with`]
/// sets it in place of the random one), so that their expected ports can
/// be computed; `keyed_snat_ports` tests the random ones.
pub const PORT_KEY: [u32; 4] = [0x7465_7374, 0x6677_6400, 0x0bad_cafe, 0x1234_5678];

/// Backend ids in [`plan`] order.
pub mod backend_id {
    /// Whole-address service's backend.
    pub const WHOLE: u32 = 0;
    /// TCP 8080 -> 80.
    pub const TCP: u32 = 1;
    /// UDP 5353 -> 53.
    pub const UDP: u32 = 2;
    /// No neighbour.
    pub const NO_NEIGH: u32 = 3;
    /// No route.
    pub const NO_ROUTE: u32 = 4;
}

/// Runs a command in the current namespace; panics on failure.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `aa:bb:..` form of a MAC.
pub fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Ifindex of `name` in the current namespace.
pub fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "no interface {name}");
    i
}

/// Runs `body` on a thread of its own in a private network namespace
/// ([`in_private_netns`]) holding the relay's interfaces; returns what it
/// returns, resumes its panic. Panics if the namespace cannot be made (run
/// as root).
pub fn in_relay_netns<T: Send>(body: impl FnOnce() -> T + Send) -> T {
    in_private_netns(|| {
        build_interfaces();
        body()
    })
    .expect("a private network namespace (run as root)")
}

/// Builds the relay's interfaces, neighbours and routes in the current
/// (private) namespace.
fn build_interfaces() {
    sh(&["ip", "link", "set", "lo", "up"]);
    sh(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (ifname, ifmac, addr, peer, neigh, neigh_mac) in [
        (
            CLIENT_IF,
            CLIENT_IF_MAC,
            "198.18.0.1/24",
            "fa-peer",
            CLIENT,
            CLIENT_MAC,
        ),
        (
            BACKEND_IF,
            BACKEND_IF_MAC,
            "198.19.0.1/24",
            "fb-peer",
            BACKEND,
            BACKEND_MAC,
        ),
    ] {
        sh(&[
            "ip",
            "link",
            "add",
            ifname,
            "address",
            &mac(ifmac),
            "type",
            "veth",
            "peer",
            "name",
            peer,
        ]);
        sh(&["ip", "addr", "add", addr, "dev", ifname]);
        sh(&["ip", "link", "set", ifname, "up"]);
        sh(&["ip", "link", "set", peer, "up"]);
        sh(&[
            "ip",
            "neigh",
            "replace",
            &neigh.to_string(),
            "lladdr",
            &mac(neigh_mac),
            "dev",
            ifname,
            "nud",
            "permanent",
        ]);
    }
    sh(&["ip", "route", "add", "unreachable", "198.19.9.0/24"]);
}

/// The plan the packet tests install.
pub fn plan() -> Plan {
    let backend = |id, addr, port| PlannedBackend {
        id,
        addr,
        port,
        snat: SNAT,
        weight: 1,
    };
    let service = |id: u32, name: &str, vip, port, protocols: &[u8], backends| PlannedService {
        id,
        name: name.to_string(),
        vip,
        port,
        protocols: protocols.to_vec(),
        mss_clamp: Default::default(),
        access: Default::default(),
        backends,
    };
    // A whole-address service of every protocol relays ICMP echo too, as
    // `Plan::build` makes it.
    let every = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP];
    Plan {
        services: vec![
            service(
                0,
                "whole",
                VIP_WHOLE,
                None,
                &every,
                vec![backend(backend_id::WHOLE, BACKEND, None)],
            ),
            service(
                1,
                "tcp",
                VIP,
                Some(VIP_TCP_PORT),
                &[IPPROTO_TCP],
                vec![backend(backend_id::TCP, BACKEND, Some(80))],
            ),
            service(
                2,
                "udp",
                VIP,
                Some(VIP_UDP_PORT),
                &[IPPROTO_UDP],
                vec![backend(backend_id::UDP, BACKEND, Some(53))],
            ),
            service(
                3,
                "no-neigh",
                VIP,
                Some(VIP_NO_NEIGH_PORT),
                &[IPPROTO_TCP],
                vec![backend(backend_id::NO_NEIGH, BACKEND_NO_NEIGH, Some(80))],
            ),
            service(
                4,
                "no-route",
                VIP,
                Some(VIP_NO_ROUTE_PORT),
                &[IPPROTO_TCP],
                vec![backend(backend_id::NO_ROUTE, BACKEND_NO_ROUTE, Some(80))],
            ),
        ],
        settings: settings(),
    }
}

/// Relay settings of the packet tests: a small SNAT range.
pub fn settings() -> RelaySettings {
    RelaySettings {
        snat_ports: SNAT_PORT_MIN..=SNAT_PORT_MAX,
        ..RelaySettings::default()
    }
}

/// Loads the datapath with [`plan`] and allows redirects to both interfaces.
pub fn datapath() -> Datapath {
    datapath_with(&plan())
}

/// Loads the datapath with `plan` (the packet tests' own, with services
/// added) and allows redirects to both interfaces, which have their
/// addresses.
pub fn datapath_with(plan: &Plan) -> Datapath {
    let mut dp = Datapath::load(&plan.settings).expect("load the datapath");
    dp.set_port_key(PORT_KEY)
        .expect("the fixed SNAT port secret");
    dp.install(plan).expect("install the plan");
    dp.allow_redirect(ifindex(CLIENT_IF))
        .expect("devmap client side");
    dp.allow_redirect(ifindex(BACKEND_IF))
        .expect("devmap backend side");
    dp.set_interface_addr(ifindex(CLIENT_IF), RELAY_CLIENT_SIDE)
        .expect("the client side's address");
    dp.set_interface_addr(ifindex(BACKEND_IF), SNAT)
        .expect("the backend side's address");
    dp
}
