//! IPv4 fragments through the relay, end to end: a 4,000-byte UDP
//! datagram, which the client's kernel cuts into three fragments for its
//! 1,500-byte link, reaches the backend whole (the backend's kernel
//! reassembles what fwd translated fragment by fragment), and the
//! backend's 4,000-byte answer, fragmented the same way, reaches the client
//! whole: a large DNS answer with EDNS, say.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use integration_test::{
    addr::sa,
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

    let control = relay.control().to_string_lossy().into_owned();
    let argv = ["status", "--control", control.as_str(), "--json"];
    let (status, out) = run_fwd(&topo.relay, &argv, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{out}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let later: u64 = json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "forwarded_fragment_redirect")
        .map(|r| r["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(later, 4, "two later fragments each way\n{json:#}");
}
