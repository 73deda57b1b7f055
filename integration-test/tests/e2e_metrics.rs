//! fwd's Prometheus metrics, scraped by a real Prometheus while real TCP and
//! UDP cross the relay. Needs root, the release binary (FWD_BIN) and the
//! `prometheus` and `promtool` commands (`cargo xtask test` installs them).
//!
//! What users rely on, and each test checks:
//! - the counters Prometheus stores equal the traffic sent: flows created,
//!   active and closed per service, backend and protocol; UDP packets and
//!   IPv4 bytes exactly (20 + 8 + payload per datagram); TCP bytes within
//!   the header bounds of the packets counted; SNAT ports and
//!   connection-table entries held; reason counters that agree with the
//!   backend counters;
//! - the exposition passes `promtool check metrics`, and Prometheus gets
//!   OpenMetrics when it asks for it;
//! - the endpoint keeps answering, every scrape within a second, while
//!   connections are opened as fast as the client can;
//! - it listens on 127.0.0.1:9785 by default (and says so), an address in
//!   use stops fwd before anything is attached, `--metrics off` serves
//!   nothing.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use integration_test::{
    addr::sa,
    churn::{greet_and_close, short_connection},
    maps_toml,
    prometheus::{http_get, promtool_check_metrics, Prometheus},
    relay::{fwd_bin, is_ready_line, run_fwd, xdp_attached, TempDir},
    topology::{backend_addr, vip, RELAY_BACKEND_ADDR},
    traffic::{pattern, udp_exchange, Echo, EchoServer},
    Relay, ServiceSpec, Topology,
};

/// Where Prometheus listens, in the relay's namespace.
const PROMETHEUS: &str = "127.0.0.1:9090";
/// How long a value may take to show in Prometheus (scrapes every second).
const SETTLE: Duration = Duration::from_secs(20);
/// TCP connections held open at once.
const CONNECTIONS: usize = 8;
/// Bytes each TCP connection sends (and gets back).
const TCP_BYTES: usize = 100_000;
/// UDP datagrams sent over one flow.
const DATAGRAMS: usize = 20;
/// IPv4 + UDP headers.
const UDP_OVERHEAD: u64 = 20 + 8;
/// IPv4 + TCP headers without options, and with the most options.
const TCP_MIN_OVERHEAD: u64 = 20 + 20;
const TCP_MAX_OVERHEAD: u64 = 20 + 60;
/// SNAT ports the tests configure.
const SNAT_PORTS: u64 = 1000;

fn metrics_addr() -> SocketAddr {
    fwd::metrics::DEFAULT_ADDR.parse().unwrap()
}

/// `web`: TCP VIP 0:8080 -> backend 0:80; `dns`: UDP VIP 1:5353 ->
/// backend 0:5353.
fn maps() -> String {
    let b = backend_addr(0);
    maps_toml(
        &[
            ServiceSpec::new("web", format!("{}:8080", vip(0)), &[format!("{b}:80")])
                .protocol("tcp"),
            ServiceSpec::new("dns", format!("{}:5353", vip(1)), &[format!("{b}:5353")])
                .protocol("udp"),
        ],
        &["snat_ports = \"20000-20999\""],
    )
}

/// The size of UDP datagram `i`.
fn datagram_size(i: usize) -> usize {
    1 + (i * 71) % 1400
}

/// Opens a connection, sends `TCP_BYTES` and reads the echo back, leaving
/// the connection open.
fn open_and_echo(topo: &Topology, to: SocketAddr, seed: u64) -> TcpStream {
    let mut s = topo
        .client
        .ns
        .tcp_connect(to, Duration::from_secs(5))
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let data = pattern(seed, TCP_BYTES);
    let writer = {
        let mut s = s.try_clone().unwrap();
        let data = data.clone();
        thread::spawn(move || s.write_all(&data))
    };
    let mut echo = vec![0u8; TCP_BYTES];
    s.read_exact(&mut echo).unwrap();
    writer.join().unwrap().unwrap();
    assert!(echo == data, "echo of connection {seed} differs");
    s
}

/// Closes a connection both ways: FIN from the client, the server's FIN
/// after it, EOF read.
fn close(mut s: TcpStream) {
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn prometheus_scrapes_counters_that_match_the_traffic_sent() {
    let topo = Topology::two_arm(1).unwrap();
    let relay = Relay::start(&topo.relay, &topo.relay_if_names(), &maps()).unwrap();
    let b = &topo.backends[0];
    let _tcp = EchoServer::tcp(&b.ns, sa(b.addr(), 80), Echo::Same).unwrap();
    let _udp = EchoServer::udp(&b.ns, sa(b.addr(), 5353), Echo::Same).unwrap();
    let ns = &topo.relay;
    let prom = Prometheus::start(ns, PROMETHEUS.parse().unwrap(), "fwd", &[metrics_addr()])
        .unwrap_or_else(|e| panic!("{e:?}\n--- fwd ---\n{}", relay.log()));
    let wait = |expr: &str, value: f64| {
        prom.wait_for_value(ns, expr, value, SETTLE)
            .unwrap_or_else(|e| panic!("{e:?}\n--- fwd ---\n{}", relay.log()));
    };
    wait(r#"up{job="fwd"}"#, 1.0);

    // UDP: one flow, datagrams of known sizes, echoed.
    let socket = topo
        .client
        .ns
        .udp_bind("0.0.0.0:0".parse().unwrap())
        .unwrap();
    let mut udp_bytes = 0u64;
    for i in 0..DATAGRAMS {
        let payload = pattern(i as u64, datagram_size(i));
        let (reply, _) =
            udp_exchange(&socket, sa(vip(1), 5353), &payload, Duration::from_secs(5)).unwrap();
        assert!(reply == payload);
        udp_bytes += UDP_OVERHEAD + payload.len() as u64;
    }

    // TCP: connections held open.
    let streams: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|i| open_and_echo(&topo, sa(vip(0), 8080), i as u64))
        .collect();

    let n = CONNECTIONS as f64;
    let web = r#"service="web",backend="198.19.0.10:80""#;
    let dns = r#"service="dns",backend="198.19.0.10:5353""#;
    wait(
        &format!(r#"fwd_flows_created_total{{{web},protocol="tcp"}}"#),
        n,
    );
    wait(&format!(r#"fwd_flows_active{{{web},protocol="tcp"}}"#), n);
    wait(
        &format!(r#"fwd_flows_created_total{{{dns},protocol="udp"}}"#),
        1.0,
    );
    wait(&format!(r#"fwd_flows_active{{{dns},protocol="udp"}}"#), 1.0);
    for direction in ["to_backend", "to_client"] {
        let labels = format!(r#"{dns},direction="{direction}""#);
        wait(
            &format!("fwd_backend_packets_total{{{labels}}}"),
            DATAGRAMS as f64,
        );
        wait(
            &format!("fwd_backend_bytes_total{{{labels}}}"),
            udp_bytes as f64,
        );
    }
    let snat = format!(r#"snat_address="{RELAY_BACKEND_ADDR}""#);
    wait(&format!("fwd_snat_ports_in_use{{{snat}}}"), n + 1.0);
    // Two (backend, port, protocol): 198.19.0.10:80/tcp, :5353/udp.
    wait(
        &format!("fwd_snat_ports_limit{{{snat}}}"),
        2.0 * SNAT_PORTS as f64,
    );
    wait("fwd_conntrack_entries", 2.0 * (n + 1.0));
    wait("fwd_conntrack_entries_limit", 2.0 * 131_072.0);
    wait("fwd_snat_allocation_failures_total", 0.0);

    // Closing: FIN both ways ends every connection.
    for s in streams {
        close(s);
    }
    wait(
        &format!(r#"fwd_flows_closed_total{{{web},protocol="tcp",reason="fin"}}"#),
        n,
    );
    wait(&format!(r#"fwd_flows_active{{{web},protocol="tcp"}}"#), 0.0);
    wait(
        &format!(r#"sum(fwd_flows_closed_total{{{web},reason!="fin"}})"#),
        0.0,
    );

    // TCP bytes: every payload byte, plus 40 to 80 header bytes per packet
    // (IPv4 without options, TCP with up to 40 of options), evaluated on one
    // scrape so that packets and bytes agree.
    let payload = (CONNECTIONS * TCP_BYTES) as f64;
    for direction in ["to_backend", "to_client"] {
        let labels = format!(r#"{web},direction="{direction}""#);
        let bytes = format!("fwd_backend_bytes_total{{{labels}}}");
        let packets = format!("fwd_backend_packets_total{{{labels}}}");
        for (overhead, cmp) in [(TCP_MIN_OVERHEAD, ">="), (TCP_MAX_OVERHEAD, "<=")] {
            let expr = format!("({bytes} - {overhead} * {packets}) {cmp} bool {payload}");
            wait(&expr, 1.0);
        }
    }

    // Every translated packet got exactly one "forwarded" (or "translated,
    // kernel forwards") reason on its ingress interface.
    wait(
        r#"sum(fwd_datapath_packets_total{reason=~"forwarded_tx|forwarded_redirect|pass_no_neighbour|pass_not_attached"}) - sum(fwd_backend_packets_total)"#,
        0.0,
    );
    for interface in topo.relay_if_names() {
        wait(
            &format!(
                r#"fwd_datapath_packets_total{{interface="{interface}",reason="forwarded_redirect",action="redirect"}} > bool 0"#
            ),
            1.0,
        );
        wait(
            &format!(r#"fwd_interface_info{{interface="{interface}",mode="native"}}"#),
            1.0,
        );
    }
    wait(
        &format!(
            r#"fwd_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        ),
        1.0,
    );
    wait("fwd_flow_events_lost_total", 0.0);
    wait("process_resident_memory_bytes > bool 1e6", 1.0);
    wait("process_open_fds > bool 3", 1.0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    wait(
        &format!("abs(process_start_time_seconds - {now}) < bool 600"),
        1.0,
    );

    // The exposition itself: text for promtool and curl, OpenMetrics for
    // whoever asks.
    let text = http_get(ns, metrics_addr(), "/metrics", None).unwrap();
    assert_eq!(text.status, 200);
    assert_eq!(
        text.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    if let Err(e) = promtool_check_metrics(&text.body) {
        panic!("{e:?}\n--- exposition ---\n{}", text.body);
    }
    let om = http_get(
        ns,
        metrics_addr(),
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .unwrap();
    assert_eq!(om.status, 200);
    assert!(om.headers["content-type"].starts_with("application/openmetrics-text"));
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    assert!(
        !text.body.contains(&topo.client.addr().to_string())
            && !om.body.contains(&topo.client.addr().to_string()),
        "a client address in the metrics:\n{}",
        text.body
    );
    assert_eq!(
        http_get(ns, metrics_addr(), "/nothing", None)
            .unwrap()
            .status,
        404
    );

    drop(prom);
    let log = relay.stop().unwrap();
    assert!(log.lines().any(is_ready_line), "{log}");
    assert!(
        log.contains(&format!("metrics: http://{}/metrics", metrics_addr())),
        "{log}"
    );
}

/// How long the client opens connections.
const CHURN: Duration = Duration::from_secs(4);
/// At most this many connections (the client's ephemeral ports and the
/// relay's SNAT ports stay far from exhausted).
const CHURN_MAX: u64 = 12_000;
/// The longest a scrape may take.
const SCRAPE_BOUND: Duration = Duration::from_secs(1);

#[test]
fn metrics_keep_answering_while_connections_are_opened_as_fast_as_possible() {
    let topo = Topology::two_arm(1).unwrap();
    let service = ServiceSpec::new(
        "web",
        format!("{}:8080", vip(0)),
        &[format!("{}:80", backend_addr(0))],
    )
    .protocol("tcp");
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &maps_toml(&[service], &[]),
    )
    .unwrap();
    let b = &topo.backends[0];
    let listener = b.ns.tcp_listen(sa(b.addr(), 80)).unwrap();
    let to = sa(vip(0), 8080);

    let stop = AtomicBool::new(false);
    let server_stop = AtomicBool::new(false);
    let opened = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let mut scrapes: Vec<Duration> = Vec::new();
    thread::scope(|s| {
        s.spawn(|| greet_and_close(&listener, &server_stop).expect("the churn backend failed"));
        let clients: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    topo.client
                        .ns
                        .enter(|| {
                            while !stop.load(Ordering::Relaxed)
                                && opened.load(Ordering::Relaxed) < CHURN_MAX
                            {
                                match short_connection(to) {
                                    Ok(()) => opened.fetch_add(1, Ordering::Relaxed),
                                    Err(e) => {
                                        eprintln!("connection failed: {e} ({:?})", e.kind());
                                        failed.fetch_add(1, Ordering::Relaxed)
                                    }
                                };
                            }
                        })
                        .unwrap();
                })
            })
            .collect();
        let start = Instant::now();
        while start.elapsed() < CHURN {
            let t = Instant::now();
            let r = http_get(&topo.relay, metrics_addr(), "/metrics", None);
            let took = t.elapsed();
            let ok = matches!(&r, Ok(r) if r.status == 200 && r.body.contains("fwd_flows_created_total"));
            if !ok || took > SCRAPE_BOUND {
                stop.store(true, Ordering::Relaxed);
                server_stop.store(true, Ordering::Relaxed);
                panic!("scrape {} took {took:?}: {r:?}", scrapes.len());
            }
            scrapes.push(took);
            thread::sleep(Duration::from_millis(50));
        }
        // The clients finish their last connection before the server goes.
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            let _ = c.join();
        }
        server_stop.store(true, Ordering::Relaxed);
    });
    let opened = opened.into_inner();
    let failed = failed.into_inner();
    let slowest = scrapes.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{opened} connections ({failed} failed) in {CHURN:?}; {} scrapes, slowest {slowest:?}",
        scrapes.len()
    );
    assert!(
        scrapes.len() >= 20,
        "only {} scrapes in {CHURN:?}",
        scrapes.len()
    );
    assert!(
        opened >= 500,
        "only {opened} connections: no load to speak of"
    );
    assert_eq!(failed, 0, "connections failed through the relay");

    // Every connection was a flow, and the metrics say so.
    let text = http_get(&topo.relay, metrics_addr(), "/metrics", None).unwrap();
    let created: u64 = text
        .body
        .lines()
        .find(|l| l.starts_with("fwd_flows_created_total{service=\"web\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no flows created line:\n{}", text.body));
    assert_eq!(created, opened);
    relay.stop().unwrap();
}

/// `--metrics` on an address in use is refused before anything is
/// attached, with a message naming the address; `--metrics off` serves
/// nothing.
#[test]
fn metrics_address_in_use_is_refused_and_off_serves_nothing() {
    let topo = Topology::two_arm(1).unwrap();
    let taken = topo.relay.tcp_listen(metrics_addr()).unwrap();
    let dir = TempDir::new().unwrap();
    let map = dir.write("maps.toml", &maps()).unwrap();
    let mut argv = vec!["attach"];
    argv.extend(topo.relay_if_names());
    argv.extend(["--map", map.to_str().unwrap()]);
    let (status, out) = run_fwd(&topo.relay, &argv, Duration::from_secs(30)).unwrap();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!("cannot listen for metrics on {}", metrics_addr())),
        "{out}"
    );
    assert!(xdp_attached(&topo.relay).unwrap().is_empty(), "{out}");
    drop(taken);

    let relay = Relay::start_with(
        &topo.relay,
        &fwd_bin().unwrap(),
        &topo.relay_if_names(),
        &maps(),
        &["--metrics", "off"],
    )
    .unwrap();
    assert!(
        topo.relay
            .tcp_connect(metrics_addr(), Duration::from_secs(2))
            .is_err(),
        "something listens on {} with --metrics off",
        metrics_addr()
    );
    let log = relay.stop().unwrap();
    assert!(!log.contains("metrics: http://"), "{log}");
}
