//! IPv4 fragments through the relay, end to end: a 4,000-byte UDP
//! datagram, which the client's kernel cuts into three fragments for its
//! 1,500-byte link, reaches the backend whole (the backend's kernel
//! reassembles what fwd translated fragment by fragment), and the
//! backend's 4,000-byte answer, fragmented the same way, reaches the client
//! whole: a large DNS answer with EDNS, say. Then the same when the network
//! delivers each datagram's fragments last first: the relay holds the
//! later ones until the first comes, then relays them all.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use integration_test::{
    addr::sa,
    packet::PacketBuilder,
    raw::send_ipv4,
    relay::run_fwd,
    topology::{backend_addr, vip},
    traffic::{pattern, Echo, EchoServer},
    Relay, Topology,
};
use serde_json::Value;

const PORT: u16 = 5353;
const LEN: usize = 4000;

#[test]
fn a_fragmented_datagram_and_its_fragmented_answer_cross_whole() {
    let topo = Topology::two_arm(1).unwrap();
    let backend = sa(backend_addr(0), PORT);
    let echo = EchoServer::udp(&topo.backends[0].ns, backend, Echo::Same).unwrap();
    let maps = format!(
        "[[service]]\nname = \"dns\"\nlisten = \"{}\"\nprotocol = \"udp\"\nbackends = [\"{backend}\"]\n",
        sa::<SocketAddr>(vip(0), PORT)
    );
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps).unwrap();
    let query = pattern(7, LEN);
    let answer = topo
        .client
        .ns
        .enter(|| -> std::io::Result<Vec<u8>> {
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            socket.connect(sa::<SocketAddr>(vip(0), PORT))?;
            socket.set_read_timeout(Some(Duration::from_secs(5)))?;
            socket.send(&query)?;
            let mut buf = vec![0u8; 65_536];
            let n = socket.recv(&mut buf)?;
            buf.truncate(n);
            Ok(buf)
        })
        .unwrap()
        .unwrap_or_else(|e| panic!("no answer: {e}\nrelay log:\n{}", relay.log()));
    assert_eq!(answer.len(), LEN, "the answer arrived whole");
    assert!(answer == query, "the answer is the query, byte for byte");
    assert_eq!(echo.peers().len(), 1, "the backend got one datagram");
    let later = reason_packets(&topo, &relay, "forwarded_fragment_redirect");
    assert_eq!(later, 4, "two later fragments each way");
}

/// Packets the relay counted under `reason`, over its interfaces.
fn reason_packets(topo: &Topology, relay: &Relay, reason: &str) -> u64 {
    let control = relay.control().to_string_lossy().into_owned();
    let argv = ["status", "--control", control.as_str(), "--json"];
    let (status, out) = run_fwd(&topo.relay, &argv, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{out}");
    let json: Value = serde_json::from_str(&out).unwrap();
    json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == reason)
        .map(|r| r["packets"].as_u64().unwrap())
        .sum()
}

/// The IPv4 packets (no Ethernet header) of a UDP datagram carrying
/// `data`, cut into 1,480-byte fragments, last first.
fn fragments_last_first(from: SocketAddr, to: SocketAddr, id: u16, data: &[u8]) -> Vec<Vec<u8>> {
    let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
        panic!("IPv4 only")
    };
    let mut frames = PacketBuilder::udp(from, to)
        .payload(data)
        .ip_id(id)
        .fragments(1480);
    frames.reverse();
    frames.into_iter().map(|f| f[14..].to_vec()).collect()
}

#[test]
fn fragments_that_come_before_their_first_are_held_until_it_comes_both_ways() {
    let topo = Topology::two_arm(1).unwrap();
    let backend = sa::<SocketAddr>(backend_addr(0), PORT);
    let vip_at = sa::<SocketAddr>(vip(0), PORT);
    let client_at = sa::<SocketAddr>(topo.client.addr(), 40_123);
    let maps = format!(
        "[[service]]\nname = \"dns\"\nlisten = \"{vip_at}\"\nprotocol = \"udp\"\nbackends = [\"{backend}\"]\n"
    );
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps).unwrap();
    let timeout = Some(Duration::from_secs(5));
    let server = topo.backends[0]
        .ns
        .enter(|| UdpSocket::bind(backend))
        .unwrap()
        .unwrap();
    server.set_read_timeout(timeout).unwrap();
    let client = topo
        .client
        .ns
        .enter(|| UdpSocket::bind(client_at))
        .unwrap()
        .unwrap();
    client.set_read_timeout(timeout).unwrap();

    // The query, its fragments last first, from the client's address.
    let query = pattern(11, LEN);
    let packets = fragments_last_first(client_at, vip_at, 0x3131, &query);
    assert_eq!(packets.len(), 3);
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    topo.client.ns.enter(|| send_ipv4(&refs)).unwrap().unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, snat_at) = server
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no query at the backend: {e}\nrelay log:\n{}", relay.log()));
    assert!(buf[..n] == query[..], "the backend got the query whole");

    // The answer, its fragments last first, from the backend to the SNAT
    // address and port the query came from.
    let answer = pattern(12, LEN);
    let packets = fragments_last_first(backend, snat_at, 0x3232, &answer);
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    topo.backends[0]
        .ns
        .enter(|| send_ipv4(&refs))
        .unwrap()
        .unwrap();
    let (n, from) = client
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no answer at the client: {e}\nrelay log:\n{}", relay.log()));
    assert_eq!(from, vip_at, "the answer comes from the VIP");
    assert!(buf[..n] == answer[..], "the client got the answer whole");

    assert_eq!(reason_packets(&topo, &relay, "held_fragment"), 4);
    assert_eq!(
        reason_packets(&topo, &relay, "forwarded_fragment_redirect"),
        4,
        "the held fragments, run again once their first came"
    );
}

#[test]
fn a_ping_too_large_for_one_frame_crosses_a_whole_address_vip_both_ways() {
    let topo = Topology::two_arm(1).unwrap();
    let maps = format!(
        "[[service]]\nname = \"host\"\nlisten = \"{}\"\nbackends = [\"{}\"]\n",
        vip(0),
        backend_addr(0)
    );
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps).unwrap();
    // 3,000 bytes of data: each echo and each reply is cut in three.
    let out = topo
        .client
        .ns
        .run(&[
            "ping",
            "-n",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "2",
            "-s",
            "3000",
            &vip(0).to_string(),
        ])
        .unwrap_or_else(|e| panic!("ping: {e}\nrelay log:\n{}", relay.log()));
    assert!(out.contains("2 received"), "{out}");
    assert!(out.contains("3008 bytes from"), "{out}");
    assert_eq!(
        reason_packets(&topo, &relay, "forwarded_fragment_redirect"),
        8,
        "two later fragments of each echo and each reply"
    );
}
