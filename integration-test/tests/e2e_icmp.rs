//! ICMP errors through the relay, end to end: what the iptables relay VM
//! gives an operator and fwd must too.
//!
//! - Path MTU discovery across a narrower hop beyond the relay: the router
//!   between the relay and the backend forwards at most 1400 bytes (as an
//!   IPsec or dedicated-line hop) and answers larger DF packets with a
//!   "fragmentation needed" to the relay's SNAT address. fwd translates it
//!   back to the client, whose kernel lowers its path MTU to the VIP, so a
//!   4 MiB echo completes; without the translation the connection stalls (a
//!   PMTU black hole) until the test's I/O timeout. Its twin clamps the MSS
//!   to the hop (`[relay] mss_clamp = 1360`): each end sees the other
//!   announce 1360, and the echo completes with no error to translate.
//! - A UDP client whose backend port is closed gets ECONNREFUSED: the
//!   backend's port unreachable, translated.
//! - `traceroute` through the relay shows the relay, then the VIP.
//! - `ping` through a whole-address VIP is answered by the backend (which
//!   has no route to the client: only a translated echo gets an answer
//!   back), and `ping` to a VIP of a port service by the relay itself.
//! - A `ping` whose TTL expires at the router beyond the relay hears the
//!   router's time exceeded, translated: from the VIP, quoting the echo as
//!   the client sent it, which is what `ping` needs to report it.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    time::Duration,
};

use integration_test::{
    addr::sa,
    relay::run_fwd,
    topology::{backend_addr, vip, RELAY_BACKEND_ADDR, RELAY_CLIENT_ADDR, ROUTED_BACKEND_ADDR},
    traffic::{tcp_echo_check, Echo, EchoServer},
    xdp_pass::XdpPass,
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

/// A two-arm relay with one port service, VIP 0:[`PORT`] -> backend 0.
fn port_service() -> (Topology, Relay) {
    let topo = Topology::two_arm(1).unwrap();
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &maps(sa(backend_addr(0), PORT)),
    )
    .unwrap();
    (topo, relay)
}

/// One whole-address service of every protocol on VIP 0 (ICMP is
/// relayed) to `backend`.
fn whole_address_maps(backend: Ipv4Addr) -> String {
    format!(
        "[[service]]\nname = \"host\"\nlisten = \"{}\"\nbackends = [\"{backend}\"]\n",
        vip(0),
    )
}

/// `fwd <command> --json` of the running relay.
fn fwd_json(topo: &Topology, relay: &Relay, command: &str) -> Value {
    let control = relay.control().to_string_lossy().into_owned();
    let argv = [command, "--control", control.as_str(), "--json"];
    let (status, out) = run_fwd(&topo.relay, &argv, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "fwd {command}: {status}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Packets counted under `reason` in `fwd status --json`.
fn reason_packets(topo: &Topology, relay: &Relay, reason: &str) -> u64 {
    fwd_json(topo, relay, "status")["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == reason)
        .map(|r| r["packets"].as_u64().unwrap())
        .sum()
}

/// The client, relay, router and backend of the PMTU tests, the backend's
/// echo server running and fwd relaying `maps` to it.
fn behind_a_narrow_hop(maps: &str) -> (Topology, EchoServer, Relay) {
    let topo = Topology::via_router(HOP_MTU).unwrap();
    let echo = EchoServer::tcp(&topo.backends[0].ns, narrow_backend(), Echo::Same).unwrap();
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), maps).unwrap();
    (topo, echo, relay)
}

/// The backend behind the narrow hop.
fn narrow_backend() -> SocketAddr {
    sa(ROUTED_BACKEND_ADDR, PORT)
}

/// Echoes 4 MiB from the client through the relay and the narrow hop.
fn echo_through_the_hop(topo: &Topology, relay: &Relay) {
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
}

/// The client's route to the VIP, as `ip route get` shows it.
fn client_route_to_vip(topo: &Topology) -> String {
    topo.client
        .ns
        .ip(&["route", "get", &vip(0).to_string()])
        .unwrap()
}

#[test]
fn pmtu_across_a_narrower_hop_beyond_the_relay() {
    let (topo, _echo, relay) = behind_a_narrow_hop(&maps(narrow_backend()));
    echo_through_the_hop(&topo, &relay);

    // The client learnt the hop's MTU from the translated error.
    let route = client_route_to_vip(&topo);
    assert!(
        route.contains(&format!("mtu {HOP_MTU}")),
        "the client's route to the VIP: {route}"
    );
    let translated = reason_packets(&topo, &relay, "forwarded_icmp_error_redirect");
    assert!(translated >= 1, "no ICMP error translated\n{}", relay.log());
}

/// The MSS clamp of the twin test: a 1400-byte hop less 40.
const MSS_CLAMP: u16 = HOP_MTU - 40;
/// `TCPI_OPT_TIMESTAMPS` of `tcp_info.tcpi_options`
/// (include/uapi/linux/tcp.h).
const TCPI_OPT_TIMESTAMPS: u8 = 1;

/// The MSS the peer of `stream` announced in its SYN or SYN-ACK: the
/// socket's send MSS (`TCP_INFO`), plus the 12 bytes of the timestamps
/// option when it is on, which the kernel takes off the announced MSS.
/// (Its own route would allow 1460 at either end here: more than the
/// clamp, so the peer's announcement is what limits it.)
fn peers_announced_mss(stream: &TcpStream) -> u32 {
    // SAFETY: tcp_info is plain integers; getsockopt writes at most `len`
    // bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    let timestamps = info.tcpi_options & TCPI_OPT_TIMESTAMPS != 0;
    info.tcpi_snd_mss + if timestamps { 12 } else { 0 }
}

#[test]
fn mss_clamp_carries_the_echo_across_the_narrower_hop_without_pmtu_discovery() {
    // The echo service, and a probe service whose backend socket the
    // test accepts itself; the relay clamps both.
    let probe = sa::<SocketAddr>(ROUTED_BACKEND_ADDR, PORT + 1);
    let maps = format!(
        "{}[[service]]\nname = \"probe\"\nlisten = \"{}\"\nbackends = [\"{probe}\"]\n\
         [relay]\nmss_clamp = {MSS_CLAMP}\n",
        maps(narrow_backend()),
        sa::<SocketAddr>(vip(0), PORT + 1),
    );
    let (topo, _echo, relay) = behind_a_narrow_hop(&maps);

    // The client's SYN reaches the backend announcing the clamp, and the
    // backend's SYN-ACK reaches the client announcing it too, where each
    // side's own interface would have let it announce 1460.
    let listener = topo.backends[0].ns.tcp_listen(probe).unwrap();
    let client = topo
        .client
        .ns
        .tcp_connect(sa(vip(0), PORT + 1), Duration::from_secs(5))
        .unwrap();
    let (backend, _) = listener.accept().unwrap();
    assert_eq!(
        (peers_announced_mss(&client), peers_announced_mss(&backend)),
        (u32::from(MSS_CLAMP), u32::from(MSS_CLAMP)),
        "(the backend's SYN-ACK at the client, the client's SYN at the backend)"
    );

    echo_through_the_hop(&topo, &relay);

    // No segment was too large for the hop: no error to translate, no
    // path MTU for the client to learn.
    assert_eq!(
        reason_packets(&topo, &relay, "forwarded_icmp_error_redirect"),
        0,
        "{}",
        relay.log()
    );
    let route = client_route_to_vip(&topo);
    assert!(
        !route.contains("mtu"),
        "the client's route to the VIP: {route}"
    );
}

#[test]
fn a_closed_backend_port_refuses_a_udp_client() {
    // No server on the backend's port: its kernel answers port unreachable.
    let (topo, relay) = port_service();
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

/// `ping -c count` of `target` from the client: its output (fails unless
/// every echo was answered).
fn ping(topo: &Topology, target: std::net::Ipv4Addr, count: u32) -> String {
    let count = count.to_string();
    let out = topo
        .client
        .ns
        .run(&[
            "ping",
            "-n",
            "-c",
            &count,
            "-i",
            "0.2",
            "-W",
            "2",
            &target.to_string(),
        ])
        .unwrap_or_else(|e| panic!("ping {target}: {e}"));
    assert!(
        out.contains(&format!("{count} received")),
        "ping {target}: {out}"
    );
    out
}

#[test]
fn ping_through_a_whole_address_vip_is_answered_by_the_backend() {
    let topo = Topology::two_arm(1).unwrap();
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &whole_address_maps(backend_addr(0)),
    )
    .unwrap();
    ping(&topo, vip(0), 3);
    // One echo session, translated to the SNAT address towards the backend.
    let flows = fwd_json(&topo, &relay, "flows");
    let flows = flows["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{flows:#?}");
    let f = &flows[0];
    assert_eq!(f["protocol"], "icmp", "{f:#}");
    assert_eq!(f["state"], "icmp", "{f:#}");
    let snat: std::net::SocketAddrV4 = f["snat"].as_str().unwrap().parse().unwrap();
    assert_eq!(*snat.ip(), RELAY_BACKEND_ADDR, "{f:#}");
    let backend: std::net::SocketAddrV4 = f["backend"].as_str().unwrap().parse().unwrap();
    assert_eq!(*backend.ip(), backend_addr(0), "{f:#}");
    assert_eq!(f["to_backend"]["packets"], 3, "{f:#}");
    assert_eq!(f["to_client"]["packets"], 3, "{f:#}");
    assert_eq!(reason_packets(&topo, &relay, "answered_echo"), 0);
}

#[test]
fn ping_expiring_beyond_the_relay_hears_the_routers_time_exceeded_from_the_vip() {
    let topo = Topology::via_router(HOP_MTU).unwrap();
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &whole_address_maps(ROUTED_BACKEND_ADDR),
    )
    .unwrap();
    // TTL 2: the relay forwards the echo with TTL 1, the router expires
    // it and sends time exceeded to the SNAT address, quoting the echo
    // with the SNAT identifier. The relay sends it on from the VIP (as
    // for TCP and UDP: the client knows no other address of the path),
    // quoting the echo with the client's identifier, or ping would not
    // take it for its own.
    let vip = vip(0).to_string();
    let out = topo
        .client
        .ns
        .command("ping")
        .args(["-n", "-c", "1", "-t", "2", "-W", "2", &vip])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("From {vip} icmp_seq=1 Time to live exceeded")),
        "ping -t 2 {vip}: {stdout}{}\nrelay log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        relay.log()
    );
    assert_eq!(
        reason_packets(&topo, &relay, "forwarded_icmp_error_redirect"),
        1,
        "{}",
        relay.log()
    );
    // The echo session it was about, to the backend beyond the router.
    let flows = fwd_json(&topo, &relay, "flows");
    let flows = flows["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{flows:#?}");
    assert_eq!(flows[0]["protocol"], "icmp", "{flows:#?}");
}

#[test]
fn ping_to_a_port_vip_is_answered_by_the_relay() {
    let (topo, relay) = port_service();
    // The answers leave the relay with XDP_TX, which a veth delivers at once
    // only to a peer with an XDP program (see `xdp_pass`).
    let _pass = XdpPass::attach(&topo.client.ns, "eth0").unwrap();
    ping(&topo, vip(0), 3);
    assert_eq!(reason_packets(&topo, &relay, "answered_echo"), 3);
    let flows = fwd_json(&topo, &relay, "flows");
    assert_eq!(flows["flows"].as_array().unwrap().len(), 0, "{flows:#}");
}

#[test]
fn traceroute_through_the_relay_shows_the_relay_then_the_vip() {
    let topo = Topology::two_arm(1).unwrap();
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &whole_address_maps(backend_addr(0)),
    )
    .unwrap();
    // The answers leave the relay with XDP_TX (see `xdp_pass`).
    let _pass = XdpPass::attach(&topo.client.ns, "eth0").unwrap();
    // UDP probes (the default): hop 1 expires at the relay, which answers
    // time exceeded from its client-side address; hop 2 reaches the
    // backend through the VIP, whose port unreachable comes back from the
    // VIP.
    let out = topo
        .client
        .ns
        .run(&[
            "traceroute",
            "-n",
            "-q",
            "1",
            "-w",
            "2",
            "-m",
            "4",
            &vip(0).to_string(),
        ])
        .unwrap();
    let hops: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        hops,
        vec![RELAY_CLIENT_ADDR.to_string(), vip(0).to_string()],
        "{out}\nrelay log:\n{}",
        relay.log()
    );
    assert!(reason_packets(&topo, &relay, "answered_time_exceeded") >= 1);
}
