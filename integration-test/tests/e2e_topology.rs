//! The test networks themselves, without fwd: they must route what the
//! end-to-end tests rely on, refuse what would make those tests pass
//! without fwd, and disappear afterwards. Needs root.

use std::{process::Command, time::Duration};

use integration_test::{
    addr::sa,
    netns::Netns,
    topology::{backend_addr, vip, RELAY_BACKEND_ADDR, RELAY_CLIENT_ADDR},
    traffic::{tcp_echo_check, Echo, EchoServer},
    Shape, Topology,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Plain routing in both shapes: the client reaches the relay's own
/// address, the relay reaches the backends, the backends cannot reach the
/// client at all, and a VIP without fwd goes nowhere.
#[test]
fn topologies_route_only_what_they_should() {
    for topo in [Topology::two_arm(2).unwrap(), Topology::one_arm(2).unwrap()] {
        let shape = topo.shape;
        // Client -> relay's own service.
        let server = EchoServer::tcp(&topo.relay, sa(RELAY_CLIENT_ADDR, 7000), Echo::Same).unwrap();
        let stream = topo
            .client
            .ns
            .tcp_connect(server.addr(), CONNECT_TIMEOUT)
            .unwrap();
        tcp_echo_check(stream, 1, 100_000).unwrap();
        assert_eq!(
            server.peers(),
            vec![sa(topo.client.addr(), server.peers()[0].port())]
        );

        // Relay -> every backend, from the SNAT address.
        for (i, b) in topo.backends.iter().enumerate() {
            assert_eq!(b.addr(), backend_addr(i));
            let server = EchoServer::tcp(&b.ns, sa(b.addr(), 80), Echo::Same).unwrap();
            let stream = topo
                .relay
                .tcp_connect(server.addr(), CONNECT_TIMEOUT)
                .unwrap();
            tcp_echo_check(stream, 2, 10_000).unwrap();
            assert_eq!(server.peers()[0].ip(), RELAY_BACKEND_ADDR, "{shape:?}");
        }

        // Backend -> client: no route, so replies can only come through a
        // relay that rewrites the source.
        let err = topo.backends[0]
            .ns
            .tcp_connect(sa(topo.client.addr(), 7000), CONNECT_TIMEOUT)
            .unwrap_err();
        let text = format!("{:?}", err);
        assert!(
            text.contains("NetworkUnreachable") || text.contains("unreachable"),
            "{shape:?}: {text}"
        );

        // Client -> VIP without fwd: the relay has no route for it.
        let err = topo
            .client
            .ns
            .tcp_connect(sa(vip(0), 80), CONNECT_TIMEOUT)
            .expect_err("a VIP must not answer without fwd");
        let text = format!("{err:?}");
        assert!(
            !text.contains("TimedOut"),
            "{shape:?}: expected an ICMP error, got {text}"
        );

        // Offloads the datapath relies on.
        let features = topo.client.ns.run(&["ethtool", "-k", "eth0"]).unwrap();
        assert!(features.contains("tx-checksumming: off"), "{features}");
        assert!(
            features.contains("generic-receive-offload: on"),
            "{features}"
        );
    }
}

/// The guard removes its namespace on drop, also when the test panics, and
/// kills what runs inside.
#[test]
fn namespaces_are_removed_even_on_panic() {
    let name = std::panic::catch_unwind(|| {
        let ns = Netns::new("panic").unwrap();
        let name = ns.name().to_string();
        let _sleeper = ns.spawn(&["sleep", "600"]).unwrap();
        assert!(netns_list().contains(&name));
        std::panic::panic_any(name);
    })
    .unwrap_err()
    .downcast::<String>()
    .unwrap();
    assert!(!netns_list().contains(name.as_str()), "{name} left behind");

    let topo = Topology::two_arm(1).unwrap();
    let names: Vec<String> = topo
        .namespaces()
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    assert_eq!(topo.shape, Shape::TwoArm);
    assert_eq!(names.len(), 3);
    drop(topo);
    let list = netns_list();
    for n in names {
        assert!(!list.contains(&n), "{n} left behind");
    }
}

/// A panic inside `Netns::enter` reaches the test, and a socket opened
/// there lives in the namespace (it sees only the namespace's addresses).
#[test]
fn enter_runs_in_the_namespace() {
    let ns = Netns::new("enter").unwrap();
    // /proc/net is the namespace of the process; thread-self is this thread's.
    let dev = ns
        .enter(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap())
        .unwrap();
    let links: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(links, vec!["    lo"], "{dev}");
    // 198.18.0.1 is not configured in this namespace: binding must fail.
    assert!(ns.tcp_listen(sa(RELAY_CLIENT_ADDR, 7000)).is_err());
    assert!(ns.tcp_listen("127.0.0.1:0".parse().unwrap()).is_ok());
    let panicked = std::panic::catch_unwind(|| ns.enter(|| panic!("inside")).unwrap());
    assert!(panicked.is_err());
}
