//! What a user sees around the data path: the relay host keeps working
//! while fwd is attached, fwd leaves nothing behind when stopped, and bad
//! input is refused with a message that names it, before anything is
//! attached. Needs root and the release binary (FWD_BIN).

use std::{net::IpAddr, time::Duration};

use integration_test::{
    addr::sa,
    maps_toml,
    relay::{run_fwd, xdp_attached, xdp_mode, TempDir},
    topology::{backend_addr, vip, RELAY_BACKEND_ADDR, RELAY_CLIENT_ADDR},
    traffic::{tcp_echo_check, udp_exchange, Echo, EchoServer},
    Relay, ServiceSpec, Topology,
};

/// How long a refused `fwd attach` may take to exit.
const ERROR_EXIT: Duration = Duration::from_secs(30);

fn one_service() -> String {
    maps_toml(
        &[ServiceSpec::new(
            "web",
            vip(0),
            &[backend_addr(0).to_string()],
        )],
        &[],
    )
}

/// The relay's own services (on its own addresses, not VIPs) and its own
/// outgoing connections keep working while fwd is attached, and the VIP
/// works at the same time.
#[test]
fn relay_host_traffic_is_untouched_while_attached() {
    let topo = Topology::two_arm(1).unwrap();
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &one_service()).unwrap();
    for i in topo.relay_if_names() {
        assert_eq!(
            xdp_mode(&topo.relay, i).unwrap().as_deref(),
            Some("xdp"),
            "native XDP on {i}"
        );
    }

    // Client -> relay's own TCP and UDP services.
    let own_tcp = EchoServer::tcp(&topo.relay, sa(RELAY_CLIENT_ADDR, 7000), Echo::Same).unwrap();
    let own_udp = EchoServer::udp(&topo.relay, sa(RELAY_CLIENT_ADDR, 7000), Echo::Same).unwrap();
    let stream = topo
        .client
        .ns
        .tcp_connect(own_tcp.addr(), Duration::from_secs(5))
        .unwrap();
    tcp_echo_check(stream, 1, 1 << 20).unwrap();
    assert_eq!(own_tcp.peers()[0].ip(), IpAddr::V4(topo.client.addr()));
    let socket = topo
        .client
        .ns
        .udp_bind("0.0.0.0:0".parse().unwrap())
        .unwrap();
    let (reply, from) =
        udp_exchange(&socket, own_udp.addr(), b"own", Duration::from_secs(5)).unwrap();
    assert_eq!((reply.as_slice(), from), (&b"own"[..], own_udp.addr()));

    // Relay -> backend on its own (kernel-chosen port): replies to the
    // relay's own connections must reach the relay's stack.
    let b = &topo.backends[0];
    let backend_server = EchoServer::tcp(&b.ns, sa(b.addr(), 9000), Echo::Same).unwrap();
    let stream = topo
        .relay
        .tcp_connect(backend_server.addr(), Duration::from_secs(5))
        .unwrap();
    tcp_echo_check(stream, 2, 1 << 20).unwrap();

    // And the VIP, at the same time.
    let stream = topo
        .client
        .ns
        .tcp_connect(sa(vip(0), 9000), Duration::from_secs(5))
        .unwrap();
    tcp_echo_check(stream, 3, 1 << 20).unwrap();
    let peers = backend_server.peers();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert!(
        peers
            .iter()
            .all(|p| p.ip() == IpAddr::V4(RELAY_BACKEND_ADDR)),
        "{peers:?}"
    );

    let log = relay.stop().unwrap();
    let left = xdp_attached(&topo.relay).unwrap();
    assert!(left.is_empty(), "XDP left after SIGTERM: {left:?}\n{log}");

    // Detached, the VIP is gone again (the relay has no route for it).
    let gone = topo
        .client
        .ns
        .tcp_connect(sa(vip(0), 9000), Duration::from_secs(5));
    assert!(gone.is_err(), "the VIP still answers after fwd stopped");
}

/// SIGTERM: exit status 0, every XDP program detached, in both shapes.
#[test]
fn sigterm_exits_zero_and_detaches() {
    for topo in [Topology::two_arm(1).unwrap(), Topology::one_arm(1).unwrap()] {
        let ifs = topo.relay_if_names();
        let relay = Relay::start(&topo.relay, &ifs, &one_service()).unwrap();
        assert_eq!(xdp_attached(&topo.relay).unwrap().len(), ifs.len());
        let log = relay.stop().unwrap();
        let left = xdp_attached(&topo.relay).unwrap();
        assert!(
            left.is_empty(),
            "{:?}: XDP left: {left:?}\n{log}",
            topo.shape
        );
    }
}

/// An interface that does not exist: non-zero exit, a message naming it,
/// and the interfaces that do exist were not touched.
#[test]
fn unknown_interface_is_refused_and_nothing_attached() {
    let topo = Topology::two_arm(1).unwrap();
    let dir = TempDir::new().unwrap();
    let map = dir.write("maps.toml", &one_service()).unwrap();
    let map = map.to_str().unwrap();
    for argv in [
        vec!["attach", "nosuchif0", "--map", map],
        vec!["attach", "c0", "nosuchif0", "b0", "--map", map],
    ] {
        let (status, output) = run_fwd(&topo.relay, &argv, ERROR_EXIT).unwrap();
        assert!(!status.success(), "{argv:?} succeeded:\n{output}");
        assert!(
            output.contains("nosuchif0"),
            "{argv:?}: the error must name the interface:\n{output}"
        );
        assert!(!output.contains("panicked"), "{output}");
        let left = xdp_attached(&topo.relay).unwrap();
        assert!(
            left.is_empty(),
            "{argv:?}: XDP left after an error: {left:?}\n{output}"
        );
    }
}

/// An interface without Ethernet framing (a tun device, as WireGuard's
/// `wg0` is): refused with a message that says so, before anything is
/// attached to the Ethernet interfaces named with it.
#[test]
fn a_layer_3_interface_is_refused_and_nothing_attached() {
    let topo = Topology::two_arm(1).unwrap();
    topo.relay
        .ip(&["tuntap", "add", "dev", "fwdtun0", "mode", "tun"])
        .unwrap();
    topo.relay.ip(&["link", "set", "fwdtun0", "up"]).unwrap();
    let dir = TempDir::new().unwrap();
    let map = dir.write("maps.toml", &one_service()).unwrap();
    let argv = ["attach", "c0", "fwdtun0", "--map", map.to_str().unwrap()];
    let (status, output) = run_fwd(&topo.relay, &argv, ERROR_EXIT).unwrap();
    assert!(!status.success(), "a tun device was accepted:\n{output}");
    assert!(
        output.contains("fwdtun0") && output.contains("Ethernet"),
        "the error must name the interface and say why:\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    let left = xdp_attached(&topo.relay).unwrap();
    assert!(
        left.is_empty(),
        "XDP left after an error: {left:?}\n{output}"
    );
}

/// A map file with a bad value: non-zero exit, a message naming the value
/// and its line, nothing attached.
#[test]
fn bad_map_file_is_refused_and_nothing_attached() {
    let topo = Topology::two_arm(1).unwrap();
    let dir = TempDir::new().unwrap();
    let bad = "[[service]]\nname = \"web\"\nlisten = \"198.18.100.1:99999\"\nbackends = [\"198.19.0.10\"]\n";
    let map = dir.write("maps.toml", bad).unwrap();
    let (status, output) = run_fwd(
        &topo.relay,
        &["attach", "c0", "b0", "--map", map.to_str().unwrap()],
        ERROR_EXIT,
    )
    .unwrap();
    assert!(!status.success(), "a bad map file was accepted:\n{output}");
    assert!(
        output.contains("99999"),
        "the error must show the bad value:\n{output}"
    );
    assert!(
        output.contains("line 3"),
        "the error must give the line:\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert!(xdp_attached(&topo.relay).unwrap().is_empty());

    let missing = dir.path().join("missing.toml");
    let (status, output) = run_fwd(
        &topo.relay,
        &["attach", "c0", "b0", "--map", missing.to_str().unwrap()],
        ERROR_EXIT,
    )
    .unwrap();
    assert!(
        !status.success(),
        "a missing map file was accepted:\n{output}"
    );
    assert!(
        output.contains("missing.toml"),
        "the error must name the file:\n{output}"
    );
    assert!(xdp_attached(&topo.relay).unwrap().is_empty());
}

/// An attach that fails after its state was pinned (the third interface
/// refuses native XDP: the loopback device has no driver support) leaves
/// nothing behind: the first two interfaces detached, no pin left for the
/// next start to take for a datapath to adopt.
#[test]
fn a_failed_attach_removes_what_it_pinned() {
    let topo = Topology::two_arm(1).unwrap();
    let dir = TempDir::new().unwrap();
    let map = dir.write("maps.toml", &one_service()).unwrap();
    let pin_dir = integration_test::relay::test_bpffs()
        .unwrap()
        .join(format!("failed-attach-{}", std::process::id()));
    let control = dir.path().join("fwd.sock");
    let argv = [
        "attach",
        "c0",
        "b0",
        "lo",
        "--mode",
        "native",
        "--map",
        map.to_str().unwrap(),
        "--pin-dir",
        pin_dir.to_str().unwrap(),
        "--control",
        control.to_str().unwrap(),
        "--metrics",
        "off",
    ];
    let (status, output) = run_fwd(&topo.relay, &argv, ERROR_EXIT).unwrap();
    assert!(
        !status.success(),
        "native XDP on lo was accepted:\n{output}"
    );
    assert!(
        output.contains("state pinned in"),
        "the failure must come after the state was pinned:\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        xdp_attached(&topo.relay).unwrap().is_empty(),
        "XDP left after a failed attach:\n{output}"
    );
    assert!(
        !pin_dir.exists(),
        "pins left after a failed attach: {:?}",
        std::fs::read_dir(&pin_dir).map(|d| d.count())
    );
}
