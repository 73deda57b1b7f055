//! Hot reload under load: while long-lived connections run, new
//! connections keep opening and UDP keeps flowing, the service file is
//! changed and reloaded (`fwd reload`, and SIGHUP): a service is added, a
//! backend removed, weights changed, a broken file refused. No connection
//! fails or is reset, except what a change targets; a broken file changes
//! nothing and says why.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use integration_test::{
    addr::sa,
    longlived::Streams,
    maps_toml,
    relay::run_fwd,
    topology::{backend_addr, vip},
    traffic::{pattern, tcp_echo_check, udp_exchange, Echo, EchoServer},
    Relay, ServiceSpec, Topology,
};

const WAIT: Duration = Duration::from_secs(10);

/// The file at each step: `web` on VIP 0 over the given backends (with
/// weights), `dns` (UDP) on VIP 1, and `extra` on VIP 2 when asked.
fn file(web: &[(usize, u32)], extra: bool) -> String {
    let backends: Vec<String> = web
        .iter()
        .map(|(i, w)| format!("{{ address = \"{}:80\", weight = {w} }}", backend_addr(*i)))
        .collect();
    let mut text = format!(
        "[[service]]\nname = \"web\"\nlisten = \"{}:8080\"\nprotocol = \"tcp\"\nbackends = [{}]\n",
        vip(0),
        backends.join(", ")
    );
    text += &maps_toml(
        &[ServiceSpec::new(
            "dns",
            format!("{}:5353", vip(1)),
            &[format!("{}:53", backend_addr(0))],
        )
        .protocol("udp")],
        &[],
    );
    if extra {
        text += &format!(
            "\n[[service]]\nname = \"extra\"\nlisten = \"{}:9000\"\nbackends = [\"{}:9000\"]\n",
            vip(2),
            backend_addr(1)
        );
    }
    text
}

#[test]
fn reloads_under_load_lose_no_connection() {
    let topo = Topology::two_arm(2).unwrap();
    let mut echoes = Vec::new();
    for b in &topo.backends {
        echoes.push(EchoServer::tcp(&b.ns, sa(b.addr(), 80), Echo::Same).unwrap());
        echoes.push(EchoServer::tcp(&b.ns, sa(b.addr(), 9000), Echo::Same).unwrap());
    }
    echoes.push(
        EchoServer::udp(
            &topo.backends[0].ns,
            sa(topo.backends[0].addr(), 53),
            Echo::Same,
        )
        .unwrap(),
    );
    let mut relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &file(&[(0, 1), (1, 1)], false),
    )
    .unwrap();
    let control = relay.control().to_str().unwrap().to_owned();
    let reload = || run_fwd(&topo.relay, &["reload", "--control", &control], WAIT).unwrap();

    // Load: long-lived connections, a stream of new connections, UDP.
    let streams = Streams::open(&topo.client.ns, sa(vip(0), 8080), 16).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (opened, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    thread::scope(|scope| {
        let churn = {
            let (ns, stop, opened, failed) = (
                &topo.client.ns,
                Arc::clone(&stop),
                Arc::clone(&opened),
                Arc::clone(&failed),
            );
            scope.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) && i < 100_000 {
                    let ok = ns
                        .tcp_connect(sa(vip(0), 8080), Duration::from_secs(5))
                        .map_err(|e| e.to_string())
                        .and_then(|s| tcp_echo_check(s, i, 2048).map_err(|e| e.to_string()));
                    match ok {
                        Ok(()) => opened.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    i += 1;
                }
            })
        };
        let udp = topo
            .client
            .ns
            .udp_bind("0.0.0.0:0".parse().unwrap())
            .unwrap();
        let udp_round = |n: u64| {
            let payload = pattern(n, 100);
            let (reply, from) = udp_exchange(&udp, sa(vip(1), 5353), &payload, WAIT)
                .unwrap_or_else(|e| panic!("udp round {n}: {e}"));
            assert_eq!((reply, from), (payload, sa(vip(1), 5353)));
        };
        udp_round(0);
        assert!(streams.progress(1 << 20, WAIT));

        // 1. Add a service: it works at once.
        relay.rewrite_map(&file(&[(0, 1), (1, 1)], true)).unwrap();
        let (status, out) = reload();
        assert!(status.success(), "{out}");
        assert!(out.contains("3 services"), "{out}");
        let s = topo.client.ns.tcp_connect(sa(vip(2), 9000), WAIT).unwrap();
        tcp_echo_check(s, 7, 4096).unwrap();
        udp_round(1);

        // 2. Remove backend 1 from web: its open connections go on (drained).
        relay.rewrite_map(&file(&[(0, 1)], true)).unwrap();
        let (status, out) = reload();
        assert!(status.success(), "{out}");
        assert!(
            streams.progress(1 << 20, WAIT),
            "long-lived connections after removing a backend"
        );
        let peers_before = echoes[2].peers().len();
        for i in 0..20 {
            let s = topo.client.ns.tcp_connect(sa(vip(0), 8080), WAIT).unwrap();
            tcp_echo_check(s, 100 + i, 1024).unwrap();
        }
        assert_eq!(
            echoes[2].peers().len(),
            peers_before,
            "no new connection reaches a removed backend"
        );

        // 3. Back with weights 1:3, by SIGHUP this time.
        relay.rewrite_map(&file(&[(0, 1), (1, 3)], true)).unwrap();
        relay.signal(libc::SIGHUP).unwrap();
        // The reload is asynchronous: backend 1 gets new connections again.
        let deadline = std::time::Instant::now() + WAIT;
        while echoes[2].peers().len() == peers_before {
            assert!(
                std::time::Instant::now() < deadline,
                "backend 1 never came back after SIGHUP"
            );
            thread::sleep(Duration::from_millis(50));
        }
        assert!(streams.progress(1 << 20, WAIT));
        udp_round(2);

        // 4. A broken file: refused with the line, nothing changes.
        relay.rewrite_map("[[service]]\nname = \"web\"\nlisten = \"198.18.100.1:99999\"\nbackends = [\"198.19.0.10:80\"]\n").unwrap();
        let (status, out) = reload();
        assert!(!status.success(), "a broken file must be refused: {out}");
        assert!(
            out.contains("line 3") && out.contains("nothing changed"),
            "{out}"
        );
        let s = topo.client.ns.tcp_connect(sa(vip(2), 9000), WAIT).unwrap();
        tcp_echo_check(s, 8, 4096).expect("the extra service still works after a refused reload");
        udp_round(3);
        assert!(streams.progress(1 << 20, WAIT));

        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
    });
    let errors = streams.finish();
    assert!(
        errors.is_empty(),
        "long-lived connections broken: {errors:?}"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "new connections failed ({} succeeded)",
        opened.load(Ordering::Relaxed)
    );
    assert!(
        opened.load(Ordering::Relaxed) > 20,
        "the stream of new connections ran"
    );
    println!(
        "reload under load: 16 long-lived connections, {} new connections, 0 failed or reset",
        opened.load(Ordering::Relaxed)
    );
    let log = relay.stop().unwrap();
    assert!(log.contains("reload refused"), "{log}");
}
