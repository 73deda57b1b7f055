//! fwd relaying real TCP and UDP between namespaces, in both shapes, for a
//! whole-address service and a port-remapped one. Needs root and the
//! release binary (`cargo xtask test` sets FWD_BIN).
//!
//! What users rely on, and each test checks:
//! - every byte of many parallel TCP connections arrives, both ways;
//! - UDP datagrams reach the backend and the replies come back from the VIP;
//! - the backend sees the relay's SNAT address (it has no route to the
//!   client, so a reply could not come back otherwise);
//! - fwd exits 0 on SIGTERM and leaves no XDP program behind.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::Duration,
};

use integration_test::{
    addr::sa,
    error::report,
    maps_toml,
    relay::{is_ready_line, xdp_attached},
    topology::{backend_addr, vip, RELAY_BACKEND_ADDR},
    traffic::{pattern, tcp_echo_check, udp_exchange, Echo, EchoServer},
    Relay, ServiceSpec, Topology,
};

/// Parallel TCP connections per test.
const CONNECTIONS: u64 = 16;
/// Bytes each connection sends (and gets back).
const BYTES: usize = 4 << 20;
/// UDP datagrams per service.
const DATAGRAMS: u64 = 64;
/// Port of the whole-address service (kept end to end).
const WHOLE_PORT: u16 = 9000;
/// The port-remapped service: VIP port -> backend port.
const REMAP_FROM: u16 = 8080;
const REMAP_TO: u16 = 80;
/// The SNAT port range the tests configure, to check it is honoured.
const SNAT_PORTS: (u16, u16) = (20_000, 20_999);

/// The map file of these tests: `whole` (every port of VIP 0, to every
/// backend) and `remap` (VIP 1 port 8080 to port 80 of backend 0).
fn maps(backends: usize) -> String {
    let whole: Vec<String> = (0..backends).map(|i| backend_addr(i).to_string()).collect();
    let remap = vec![format!("{}:{REMAP_TO}", backend_addr(0))];
    let snat_ports = format!("snat_ports = \"{}-{}\"", SNAT_PORTS.0, SNAT_PORTS.1);
    maps_toml(
        &[
            ServiceSpec::new("whole", vip(0), &whole),
            ServiceSpec::new("remap", format!("{}:{REMAP_FROM}", vip(1)), &remap),
        ],
        &[&snat_ports],
    )
}

/// Opens `CONNECTIONS` connections from the client to `targets` (round
/// robin) at once and checks the echo of each, byte for byte.
fn parallel_tcp(topo: &Topology, targets: &[SocketAddr]) {
    thread::scope(|s| {
        let handles: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                let to = targets[i as usize % targets.len()];
                s.spawn(move || {
                    let stream = topo
                        .client
                        .ns
                        .tcp_connect(to, Duration::from_secs(5))
                        .unwrap_or_else(|e| panic!("connection {i} to {to}: {}", report(&e)));
                    tcp_echo_check(stream, i, BYTES)
                        .unwrap_or_else(|e| panic!("connection {i} to {to}: {e}"));
                })
            })
            .collect();
        for h in handles {
            h.join().expect("a connection failed");
        }
    });
}

/// Sends `DATAGRAMS` datagrams of sizes 1..=1400 to `to` and checks that
/// each reply is the same bytes, coming from `to`.
fn udp_round_trips(topo: &Topology, to: SocketAddr) {
    let socket = topo
        .client
        .ns
        .udp_bind("0.0.0.0:0".parse().unwrap())
        .unwrap();
    for i in 0..DATAGRAMS {
        let size = 1 + (i as usize * 97) % 1400;
        let payload = pattern(1000 + i, size);
        let (reply, from) = udp_exchange(&socket, to, &payload, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("datagram {i} ({size} bytes) to {to}: {e}"));
        assert_eq!(
            from, to,
            "the reply must come from the VIP the client sent to"
        );
        assert!(reply == payload, "datagram {i} to {to}: reply differs");
    }
}

/// Every peer a backend server saw is the relay's SNAT address, with a
/// port from the configured range.
fn assert_snat(servers: &[&EchoServer], expected: usize) {
    let peers: Vec<SocketAddr> = servers.iter().flat_map(|s| s.peers()).collect();
    assert_eq!(peers.len(), expected, "peers seen: {peers:?}");
    for p in &peers {
        assert_eq!(
            p.ip(),
            IpAddr::V4(RELAY_BACKEND_ADDR),
            "a backend saw {p}, not the relay"
        );
        assert!(
            (SNAT_PORTS.0..=SNAT_PORTS.1).contains(&p.port()),
            "SNAT port {} outside {SNAT_PORTS:?}",
            p.port()
        );
    }
}

/// Stops fwd (must exit 0) and checks no XDP program is left.
fn stop_and_check_detached(topo: &Topology, relay: Relay) {
    let log = relay.stop().unwrap();
    assert!(log.lines().any(is_ready_line), "{log}");
    let left = xdp_attached(&topo.relay).unwrap();
    assert!(left.is_empty(), "XDP left after SIGTERM: {left:?}\n{log}");
}

/// Whole-address and port-remapped services, TCP and UDP, through a relay
/// with one interface per side (translated frames are redirected).
fn relay_both_services(topo: Topology) {
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps(1)).unwrap();
    let b = &topo.backends[0];
    let whole_tcp = EchoServer::tcp(&b.ns, sa(b.addr(), WHOLE_PORT), Echo::Same).unwrap();
    let remap_tcp = EchoServer::tcp(&b.ns, sa(b.addr(), REMAP_TO), Echo::Same).unwrap();
    let whole_udp = EchoServer::udp(&b.ns, sa(b.addr(), WHOLE_PORT), Echo::Same).unwrap();
    let remap_udp = EchoServer::udp(&b.ns, sa(b.addr(), REMAP_TO), Echo::Same).unwrap();

    parallel_tcp(&topo, &[sa(vip(0), WHOLE_PORT), sa(vip(1), REMAP_FROM)]);
    udp_round_trips(&topo, sa(vip(0), WHOLE_PORT));
    udp_round_trips(&topo, sa(vip(1), REMAP_FROM));

    assert_snat(&[&whole_tcp, &remap_tcp], CONNECTIONS as usize);
    assert_eq!(whole_tcp.peers().len(), CONNECTIONS as usize / 2);
    assert_eq!(remap_tcp.peers().len(), CONNECTIONS as usize / 2);
    assert_snat(&[&whole_udp], DATAGRAMS as usize);
    assert_snat(&[&remap_udp], DATAGRAMS as usize);
    // One client socket, one flow: every datagram got the same SNAT port.
    let ports: std::collections::BTreeSet<u16> =
        whole_udp.peers().iter().map(|p| p.port()).collect();
    assert_eq!(ports.len(), 1, "one UDP flow, one SNAT port: {ports:?}");

    stop_and_check_detached(&topo, relay);
}

#[test]
fn two_arm_relays_tcp_and_udp_for_whole_address_and_remapped_services() {
    relay_both_services(Topology::two_arm(1).unwrap());
}

#[test]
fn one_arm_relays_tcp_and_udp_for_whole_address_and_remapped_services() {
    relay_both_services(Topology::one_arm(1).unwrap());
}

/// A whole-address service with two backends spreads connections over
/// both, and each connection stays on its backend (the echo checks every
/// byte, so a connection switching backends mid-stream would fail).
#[test]
fn connections_spread_over_backends() {
    let topo = Topology::two_arm(2).unwrap();
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps(2)).unwrap();
    let servers: Vec<EchoServer> = topo
        .backends
        .iter()
        .map(|b| EchoServer::tcp(&b.ns, sa(b.addr(), WHOLE_PORT), Echo::Same).unwrap())
        .collect();
    parallel_tcp(&topo, &[sa(vip(0), WHOLE_PORT)]);
    let refs: Vec<&EchoServer> = servers.iter().collect();
    assert_snat(&refs, CONNECTIONS as usize);
    for s in &servers {
        // 16 connections hashed over 2 backends: all on one has
        // probability 2^-15.
        assert!(
            !s.peers().is_empty(),
            "backend {} got no connection",
            s.addr()
        );
    }
    stop_and_check_detached(&topo, relay);
}
