//! ICMP errors through the relay, end to end: what the iptables relay VM
//! gives an operator and fwd must too.
//!
//! - Path MTU discovery across a narrower hop beyond the relay: the router
//!   between the relay and the backend forwards at most 1400 bytes (as an
//!   IPsec or dedicated-line hop) and answers larger DF packets with a
//!   "fragmentation needed" to the relay's SNAT address. fwd translates it
//!   back to the client, whose kernel lowers its path MTU to the VIP, so a
//!   4 MiB echo completes; without the translation the connection stalls (a
//!   PMTU black hole) until the test's I/O timeout.
//! - A UDP client whose backend port is closed gets ECONNREFUSED: the
//!   backend's port unreachable, translated.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use integration_test::{
    addr::sa,
    relay::run_fwd,
    topology::{backend_addr, vip, ROUTED_BACKEND_ADDR},
    traffic::{tcp_echo_check, Echo, EchoServer},
    Relay, Topology,
};
use serde_json::Value;

/// The service port, kept to the backend.
const PORT: u16 = 9000;
/// What the router's route to the backend forwards.
const HOP_MTU: u16 = 1400;
/// Bytes echoed through the narrow hop.
const ECHO_LEN: usize = 4 << 20;

fn maps(backend: SocketAddr) -> String {
    format!(
        "[[service]]\nname = \"db\"\nlisten = \"{}\"\nbackends = [\"{backend}\"]\n",
        sa::<SocketAddr>(vip(0), PORT)
    )
}

/// Packets counted under `reason` in `fwd status --json`.
fn reason_packets(topo: &Topology, relay: &Relay, reason: &str) -> u64 {
    let control = relay.control().to_string_lossy().into_owned();
    let argv = ["status", "--control", control.as_str(), "--json"];
    let (status, out) = run_fwd(&topo.relay, &argv, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "fwd status: {status}\n{out}");
    let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == reason)
        .map(|r| r["packets"].as_u64().unwrap())
        .sum()
}

#[test]
fn pmtu_across_a_narrower_hop_beyond_the_relay() {
    let topo = Topology::via_router(HOP_MTU).unwrap();
    let backend = sa(ROUTED_BACKEND_ADDR, PORT);
    let _echo = EchoServer::tcp(&topo.backends[0].ns, backend, Echo::Same).unwrap();
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps(backend)).unwrap();

    let stream = topo
        .client
        .ns
        .tcp_connect(sa(vip(0), PORT), Duration::from_secs(5))
        .unwrap();
    if let Err(e) = tcp_echo_check(stream, 1, ECHO_LEN) {
        panic!(
            "4 MiB echo through a {HOP_MTU}-byte hop: {e}\nrelay log:\n{}",
            relay.log()
        );
    }

    // The client learnt the hop's MTU from the translated error.
    let route = topo
        .client
        .ns
        .ip(&["route", "get", &vip(0).to_string()])
        .unwrap();
    assert!(
        route.contains(&format!("mtu {HOP_MTU}")),
        "the client's route to the VIP: {route}"
    );
    let translated = reason_packets(&topo, &relay, "forwarded_icmp_error_redirect");
    assert!(translated >= 1, "no ICMP error translated\n{}", relay.log());
}

#[test]
fn a_closed_backend_port_refuses_a_udp_client() {
    let topo = Topology::two_arm(1).unwrap();
    // No server on the backend's port: its kernel answers port unreachable.
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &maps(sa(backend_addr(0), PORT)),
    )
    .unwrap();
    let err = topo
        .client
        .ns
        .enter(|| -> std::io::Error {
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.connect(sa::<SocketAddr>(vip(0), PORT)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            socket.send(b"anyone?").unwrap();
            let mut buf = [0u8; 64];
            socket.recv(&mut buf).expect_err("no server answers")
        })
        .unwrap();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{err}\nrelay log:\n{}",
        relay.log()
    );
    let translated = reason_packets(&topo, &relay, "forwarded_icmp_error_redirect");
    assert_eq!(translated, 1, "{}", relay.log());
}
