//! `fwd flows`, `fwd status` and the control socket's life.

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    os::unix::net::UnixListener,
    thread,
    time::{Duration, Instant},
};

use fwd_common::flow::tcp_flags::SYN;
use integration_test::{
    addr::sa,
    netns::Netns,
    packet::PacketBuilder,
    raw::send_ipv4,
    relay::{run_fwd, xdp_attached, TempDir},
    topology::{backend_addr, vip},
    traffic::{Echo, EchoServer},
    Topology,
};

use crate::env::{start, start_relay, tcp_exchange, u, COMMAND, PORT};

#[test]
fn flows_and_status_answer_while_connections_are_open() {
    let r = start();
    let b = &r.topo.backends[0];
    let _server = EchoServer::tcp(&b.ns, sa(b.addr(), PORT), Echo::WithPeer).unwrap();
    let (client, snat, stream) = tcp_exchange(&r.topo, 1, true);
    let (other, _, _other_stream) = tcp_exchange(&r.topo, 2, true);

    // Which client is behind this relay port?
    let f = r.json("flows", &["--snat", &snat]);
    let flows = f["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{f:#}");
    let flow = &flows[0];
    assert_eq!(flow["client"], client, "{f:#}");
    assert_eq!(flow["snat"], snat, "{f:#}");
    assert_eq!(flow["service"], "web", "{f:#}");
    assert_eq!(flow["protocol"], "tcp", "{f:#}");
    assert_eq!(flow["state"], "established", "{f:#}");
    assert_eq!(
        flow["backend"],
        format!("{}:{PORT}", backend_addr(0)),
        "{f:#}"
    );
    assert!(u(&flow["to_client"]["packets"]) > 0, "{f:#}");
    assert_eq!(u(&f["tracked"]), 2, "{f:#}");

    let clients = |args: &[&str]| -> Vec<String> {
        let f = r.json("flows", args);
        f["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["client"].as_str().unwrap().to_string())
            .collect()
    };
    let mut both = vec![client.clone(), other.clone()];
    both.sort();
    let mut got = clients(&["--service", "web"]);
    got.sort();
    assert_eq!(got, both);
    assert_eq!(clients(&["--client", &client]), vec![client.clone()]);
    assert_eq!(
        clients(&["--client", &r.topo.client.addr().to_string()]).len(),
        2
    );
    assert!(clients(&["--client", "198.18.0.99"]).is_empty());
    assert_eq!(
        clients(&["--backend", &backend_addr(0).to_string(), "--snat", &snat]),
        vec![client.clone()]
    );
    let argv = [
        "flows",
        "--control",
        r.control.to_str().unwrap(),
        "--service",
        "nope",
    ];
    let (status, out) = run_fwd(&r.topo.relay, &argv, COMMAND).unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("no service named \"nope\" (services: web)"),
        "{out}"
    );

    let text = r.text("flows", &["--snat", &snat]);
    assert!(
        text.contains(&client) && text.contains("established"),
        "{text}"
    );
    assert!(text.contains("1 of 2 tracked flows"), "{text}");

    let s = r.json("status", &[]);
    let ifs: Vec<(&str, &str)> = s["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(ifs, [("c0", "native"), ("b0", "native")], "{s:#}");
    let service = &s["services"][0];
    assert_eq!(
        (&service["name"], &service["listen"]),
        (&"web".into(), &vip(0).to_string().into()),
        "{s:#}"
    );
    assert_eq!(service["protocol"], "any", "{s:#}");
    let backend = &service["backends"][0];
    assert_eq!(backend["address"], backend_addr(0).to_string(), "{s:#}");
    assert_eq!(backend["snat"], snat.split(':').next().unwrap(), "{s:#}");
    assert_eq!(u(&backend["active_flows"]), 2, "{s:#}");
    assert_eq!(u(&backend["flows_created"]), 2, "{s:#}");
    assert_eq!(u(&s["connection_table"]["entries"]), 4, "{s:#}");
    assert_eq!(u(&s["flow_events_lost"]), 0, "{s:#}");
    assert!(s["version"].is_string() && s["uptime_s"].is_u64(), "{s:#}");

    let text = r.text("status", &[]);
    for expected in [
        "interfaces",
        "c0",
        "native",
        "web",
        "connection table  4 of",
        "forwarded_redirect",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    drop(stream);
    r.relay.stop().unwrap();
}

#[test]
fn no_instance_second_instance_and_stale_socket() {
    let ns = Netns::new("ctl").unwrap();
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("none.sock");
    for command in ["status", "flows"] {
        let argv = [command, "--control", missing.to_str().unwrap()];
        let (status, out) = run_fwd(&ns, &argv, COMMAND).unwrap();
        assert_eq!(status.code(), Some(1), "{out}");
        let expected = format!(
            "no running fwd instance (no control socket at {}); start one with `fwd attach`",
            missing.display()
        );
        assert!(out.contains(&expected), "{out}");
    }

    // A socket file left by an instance that died is replaced.
    let topo = Topology::two_arm(1).unwrap();
    let control = dir.path().join("fwd.sock");
    drop(UnixListener::bind(&control).unwrap());
    let relay = start_relay(&topo, &control, &[]).unwrap();
    assert!(
        relay.log().contains("replacing the stale control socket"),
        "{}",
        relay.log()
    );

    // A second instance on the same socket stops before touching anything.
    let map = relay.map_path().to_str().unwrap().to_string();
    let argv = [
        "attach",
        "c0",
        "b0",
        "--map",
        &map,
        "--control",
        control.to_str().unwrap(),
    ];
    let (status, out) = run_fwd(&topo.relay, &argv, COMMAND).unwrap();
    assert!(!status.success(), "{out}");
    assert!(out.contains("another fwd instance is running"), "{out}");
    assert_eq!(xdp_attached(&topo.relay).unwrap().len(), 2);
    let argv = ["status", "--control", control.to_str().unwrap(), "--json"];
    let (status, out) = run_fwd(&topo.relay, &argv, COMMAND).unwrap();
    assert!(status.success(), "the first instance still answers: {out}");

    relay.stop().unwrap();
    assert!(!control.exists(), "the control socket is removed at exit");
}

/// The state and the backend-to-client packets of the flow of `client`
/// (`None` once it is gone).
fn state_of(r: &crate::env::Running, client: &str) -> Option<(String, u64)> {
    let f = r.json("flows", &["--client", client]);
    let flows = f["flows"].as_array().unwrap();
    flows.iter().find(|f| f["client"] == client).map(|f| {
        (
            f["state"].as_str().unwrap().to_string(),
            u(&f["to_client"]["packets"]),
        )
    })
}

/// A SYN from an address nobody holds on the client's link (a spoofed
/// source): the backend answers, the SYN-ACK finds no one, and the flow
/// stays half-open: shown `opening`, not `established`, and gone after
/// `tcp_opening_timeout` (3 s here), while an idle established connection
/// stays.
#[test]
fn a_syn_from_a_spoofed_source_stays_half_open_and_expires_early() {
    let r = start();
    let b = &r.topo.backends[0];
    let _server = EchoServer::tcp(&b.ns, sa(b.addr(), PORT), Echo::WithPeer).unwrap();
    let (client, _, _stream) = tcp_exchange(&r.topo, 1, true);

    let spoofed = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 77), 41_000);
    let syn = PacketBuilder::tcp(spoofed, sa(vip(0), PORT), SYN).build();
    r.topo
        .client
        .ns
        .enter(|| send_ipv4(&[&syn[14..]]))
        .unwrap()
        .unwrap();
    let spoofed = spoofed.to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    let answered = loop {
        match state_of(&r, &spoofed) {
            Some((state, to_client)) if to_client > 0 => break state,
            _ if Instant::now() > deadline => panic!("no SYN-ACK reached the relay"),
            _ => thread::sleep(Duration::from_millis(100)),
        }
    };
    assert_eq!(
        answered, "opening",
        "a SYN and its SYN-ACK are not a connection"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while state_of(&r, &spoofed).is_some() {
        assert!(
            Instant::now() < deadline,
            "the half-open flow outlived tcp_opening_timeout"
        );
        thread::sleep(Duration::from_millis(200));
    }
    let kept = state_of(&r, &client).map(|(state, _)| state);
    assert_eq!(
        kept.as_deref(),
        Some("established"),
        "the idle connection stays"
    );
}
