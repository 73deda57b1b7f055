//! The flow log: TCP start and `fin` end once each, UDP `timeout`.

use std::{
    thread,
    time::{Duration, Instant},
};

use integration_test::{
    addr::sa,
    topology::{backend_addr, vip},
    traffic::{udp_exchange, Echo, EchoServer},
};

use crate::env::{of_kind, start, tcp_exchange, u, CONNECTIONS, PORT};

#[test]
fn tcp_connections_start_and_end_once_in_the_flow_log() {
    let r = start();
    let b = &r.topo.backends[0];
    let _server = EchoServer::tcp(&b.ns, sa(b.addr(), PORT), Echo::WithPeer).unwrap();
    let conns: Vec<(String, String)> = (0..CONNECTIONS)
        .map(|i| {
            let (client, snat, _) = tcp_exchange(&r.topo, i, false);
            (client, snat)
        })
        .collect();

    let n = CONNECTIONS as usize;
    let lines = r.wait_log("every end", Duration::from_secs(10), |l| {
        of_kind(l, "end").len() >= n
    });
    let (starts, ends) = (of_kind(&lines, "start"), of_kind(&lines, "end"));
    assert_eq!((starts.len(), ends.len()), (n, n), "{lines:#?}");
    for (client, snat) in &conns {
        let start: Vec<_> = starts.iter().filter(|l| l["client"] == *client).collect();
        let end: Vec<_> = ends.iter().filter(|l| l["client"] == *client).collect();
        assert_eq!((start.len(), end.len()), (1, 1), "{client}: {lines:#?}");
        for l in [start[0], end[0]] {
            assert_eq!(l["protocol"], "tcp", "{l}");
            assert_eq!(l["service"], "web", "{l}");
            assert_eq!(l["vip"], format!("{}:{PORT}", vip(0)), "{l}");
            assert_eq!(l["backend"], format!("{}:{PORT}", backend_addr(0)), "{l}");
            assert_eq!(
                l["snat"], *snat,
                "the SNAT address:port the backend saw: {l}"
            );
            let time = l["time"].as_str().unwrap();
            assert!(
                time.len() == 24 && time.ends_with('Z') && &time[19..20] == ".",
                "{l}"
            );
        }
        let e = end[0];
        assert_eq!(e["reason"], "fin", "{e}");
        assert!(e["time"].as_str() >= start[0]["time"].as_str(), "{e}");
        // 1000 bytes of data each way (plus the peer line) and headers.
        assert!(
            u(&e["packets_to_backend"]) >= 3 && u(&e["bytes_to_backend"]) > 1000,
            "{e}"
        );
        assert!(
            u(&e["packets_to_client"]) >= 3 && u(&e["bytes_to_client"]) > 1000,
            "{e}"
        );
        assert!(e["duration_ms"].is_u64(), "{e}");
        assert!(start[0].get("reason").is_none(), "{}", start[0]);
    }

    // The closed flows leave the table (tcp_transitory_timeout, 2 s) with
    // no second end event: the datapath already sent theirs.
    let deadline = Instant::now() + Duration::from_secs(15);
    while u(&r.json("flows", &[])["tracked"]) > 0 {
        assert!(Instant::now() < deadline, "closed flows still tracked");
        thread::sleep(Duration::from_millis(200));
    }
    thread::sleep(Duration::from_millis(500));
    assert_eq!(of_kind(&r.log(), "end").len(), n, "{:#?}", r.log());

    let s = r.json("status", &[]);
    let backend = &s["services"][0]["backends"][0];
    assert_eq!(s["services"][0]["name"], "web", "{s:#}");
    assert_eq!(u(&backend["flows_created"]), CONNECTIONS, "{s:#}");
    assert_eq!(u(&backend["active_flows"]), 0, "{s:#}");
    assert_eq!(u(&s["flows_closed"]["fin"]), CONNECTIONS, "{s:#}");
    assert_eq!(u(&s["connection_table"]["entries"]), 0, "{s:#}");
    assert!(u(&s["gc"]["expired_timeout"]) >= CONNECTIONS, "{s:#}");
    // Every translated packet is counted once by reason and once by backend.
    let translated: u64 = s["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let reason = c["reason"].as_str().unwrap();
            reason.starts_with("forwarded_")
                || reason == "pass_no_neighbour"
                || reason == "pass_not_attached"
        })
        .map(|c| u(&c["packets"]))
        .sum();
    let by_backend = u(&backend["to_backend"]["packets"]) + u(&backend["to_client"]["packets"]);
    assert_eq!(translated, by_backend, "{s:#}");
    assert!(u(&s["totals"]["forwarded"]["packets"]) > 0, "{s:#}");
    r.relay.stop().unwrap();
}

#[test]
fn udp_flows_end_by_timeout() {
    let r = start();
    let b = &r.topo.backends[0];
    let server = EchoServer::udp(&b.ns, sa(b.addr(), PORT), Echo::WithPeer).unwrap();
    let socket = r
        .topo
        .client
        .ns
        .udp_bind(sa(r.topo.client.addr(), 0))
        .unwrap();
    let (reply, _) =
        udp_exchange(&socket, sa(vip(0), PORT), b"ping", Duration::from_secs(5)).unwrap();
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.ends_with(": ping"), "{reply}");
    let client = socket.local_addr().unwrap().to_string();
    let snat = server.peers()[0].to_string();

    let lines = r.wait_log("the UDP start", Duration::from_secs(5), |l| {
        of_kind(l, "start").iter().any(|e| e["client"] == client)
    });
    assert_eq!(of_kind(&lines, "end").len(), 0, "{lines:#?}");
    // udp_timeout 2 s, gc_interval 1 s.
    let lines = r.wait_log("the UDP end", Duration::from_secs(15), |l| {
        of_kind(l, "end").iter().any(|e| e["client"] == client)
    });
    let ends = of_kind(&lines, "end");
    assert_eq!(ends.len(), 1, "{lines:#?}");
    let e = ends[0];
    assert_eq!(
        (&e["protocol"], &e["reason"]),
        (&"udp".into(), &"timeout".into()),
        "{e}"
    );
    assert_eq!(e["snat"], snat, "{e}");
    assert_eq!(e["vip"], format!("{}:{PORT}", vip(0)), "{e}");
    assert_eq!(
        (u(&e["packets_to_backend"]), u(&e["packets_to_client"])),
        (1, 1),
        "{e}"
    );
    assert_eq!(u(&e["bytes_to_backend"]), 20 + 8 + 4, "{e}");
    assert!(
        u(&e["duration_ms"]) >= 2000,
        "ended before udp_timeout: {e}"
    );

    let s = r.json("status", &[]);
    assert_eq!(u(&s["flows_closed"]["timeout"]), 1, "{s:#}");
    r.relay.stop().unwrap();
}
