//! Failover between two zones: backends in separate namespaces behind a
//! bridge, health-checked by `fwd attach`, with real TCP and UDP clients.
//! Needs root and the release binary (`cargo xtask test` sets FWD_BIN).
//!
//! What users rely on, and each test checks:
//! - when a zone's service stops (its listener closes), new connections
//!   all go to the other zone within interval x fall + 1 s (the measured
//!   time is printed), while established connections to both zones keep
//!   exchanging data (`on_down = "keep"`);
//! - `fwd status` and the metrics show which backend is down and why;
//! - with every backend down, a new TCP connection is refused at once (a
//!   RST from the relay) and a UDP datagram gets an ICMP port unreachable,
//!   both counted as `reject_no_backend`;
//! - a zone that comes back takes new connections again within rise x
//!   interval + 1 s;
//! - passive health: a zone that stops answering (its interface down) is
//!   taken out by the clients' own unanswered SYNs long before the active
//!   checks would, and `on_down = "reset"` moves its UDP flows to the
//!   other zone.

mod zones;

use std::{
    thread,
    time::{Duration, Instant},
};

use integration_test::topology::backend_addr;
use zones::*;

#[test]
fn a_zone_whose_service_stops_is_left_within_interval_times_fall() {
    let interval = format!("interval = \"{}ms\"", INTERVAL.as_millis());
    let (fall, rise) = (format!("fall = {FALL}"), format!("rise = {RISE}"));
    let mut z = start(&[
        &interval,
        "timeout = \"250ms\"",
        &fall,
        &rise,
        // Active checks alone: the clients' refused connections must not
        // speed this up.
        "passive_failures = 0",
    ]);
    let client = &z.topo.client.ns;
    let a = Pinger::open(client, ZONES[0]);
    let b = Pinger::open(client, ZONES[1]);
    assert_eq!(z.health(0)["state"], "up");
    assert_eq!(z.health(0)["check"], format!("tcp :{PORT}"));

    // Zone A's service stops.
    let stopped = Instant::now();
    z.tcp[0].stop_listening();
    let bound = INTERVAL * FALL + SLACK;
    let failover = time_until_all_reach(
        client,
        ZONES[1],
        stopped,
        bound + SLACK,
        Duration::from_secs(1),
    );
    println!(
        "failover (active TCP checks, interval {INTERVAL:?} x fall {FALL}, bound {bound:?}): \
         new connections all reach the other zone {} ms after the service stopped",
        failover.as_millis()
    );
    assert!(
        failover <= bound,
        "failover took {failover:?}, bound {bound:?}"
    );
    let h = z.wait_health(0, "down", SLACK);
    assert_eq!(h["down_by"], "checks");
    assert!(
        h["checks_failed"].as_u64().unwrap() >= u64::from(FALL),
        "{h:#}"
    );
    assert!(
        h["last_failure"].as_str().unwrap().contains("connect"),
        "{h:#}"
    );
    assert_eq!(z.health(1)["state"], "up");
    let m = z.metrics();
    let up = |i: usize| {
        format!(
            "fwd_backend_up{{service=\"storage\",backend=\"{}\"}}",
            backend_addr(i)
        )
    };
    assert_eq!(sample(&m, &up(0)), Some(0.0), "{m}");
    assert_eq!(sample(&m, &up(1)), Some(1.0), "{m}");
    let failed = format!(
        "fwd_health_checks_total{{service=\"storage\",backend=\"{}\",result=\"failed\"}}",
        backend_addr(0)
    );
    assert!(sample(&m, &failed).unwrap() >= f64::from(FALL), "{m}");

    // Established connections to both zones went on (on_down = "keep").
    let (a_then, b_then) = (a.exchanges(), b.exchanges());
    thread::sleep(Duration::from_millis(500));
    assert!(a.exchanges() > a_then && b.exchanges() > b_then);

    // Zone B stops too: nothing is left to take new flows.
    let rejects = z.reason_packets("reject_no_backend");
    let before = z.all_reasons();
    z.tcp[1].stop_listening();
    z.wait_health(1, "down", bound + SLACK);
    // The UDP servers still run: only the relay can refuse a datagram. New
    // UDP flows get answers until the change is installed (the status says
    // "down" as soon as it is decided), then an ICMP port unreachable.
    let udp = client
        .enter(|| {
            let deadline = Instant::now() + SLACK;
            loop {
                let r = udp_probe();
                if Instant::now() > deadline || r.as_ref().is_err_and(refused) {
                    return r;
                }
                thread::sleep(PROBE_EVERY);
            }
        })
        .unwrap();
    assert!(
        udp.as_ref().is_err_and(refused),
        "a UDP datagram with every backend down must get ICMP port unreachable: {udp:?}"
    );
    let tcp = client
        .enter(|| {
            let t = Instant::now();
            (probe(Duration::from_secs(2)), t.elapsed())
        })
        .unwrap();
    assert!(
        tcp.0.as_ref().is_err_and(refused),
        "a new connection with every backend down: {:?}",
        tcp.0
    );
    assert!(
        tcp.1 < Duration::from_millis(500),
        "refused after {:?}",
        tcp.1
    );
    let rejected = z.reason_packets("reject_no_backend") - rejects;
    if rejected < 2 {
        // Where the two refused packets went instead.
        let after = z.all_reasons();
        let moved: Vec<(String, u64)> = after
            .iter()
            .map(|(r, n)| (r.clone(), n - before.get(r).copied().unwrap_or(0)))
            .filter(|(_, d)| *d > 0)
            .collect();
        panic!(
            "reject_no_backend grew by {rejected}; reasons that moved: {moved:?}; udp {udp:?}; \
             flows: {:#}",
            z.flows()
        );
    }

    // Zone A comes back: new connections reach it again.
    let back = Instant::now();
    let ns = &z.topo.backends[0].ns;
    z.tcp[0].listen(ns).unwrap();
    let rise_bound = INTERVAL * RISE + SLACK;
    let recovered = time_until_all_reach(
        client,
        ZONES[0],
        back,
        rise_bound + SLACK,
        Duration::from_secs(1),
    );
    println!(
        "recovery (rise {RISE} x interval {INTERVAL:?}, bound {rise_bound:?}): new connections \
         reach the zone again {} ms after its service returned",
        recovered.as_millis()
    );
    assert!(recovered <= rise_bound, "recovery took {recovered:?}");
    assert_eq!(z.health(0)["state"], "up");

    let (na, nb) = (a.finish("zone A"), b.finish("zone B"));
    assert!(na > 10 && nb > 10, "exchanges: {na}, {nb}");
    let log = z.relay.stop().unwrap();
    assert!(log.contains("is down"), "{log}");
}

#[test]
fn passive_health_leaves_a_zone_that_stops_answering_before_the_checks_do() {
    let z = start(&[
        // The active checks alone would need over 20 s.
        "interval = \"10s\"",
        "fall = 3",
        "syn_timeout = \"1s\"",
        "passive_failures = 2",
        "on_down = \"reset\"",
    ]);
    let client = &z.topo.client.ns;
    // A UDP flow that the relay sent to zone A.
    let udp = (0..100)
        .find_map(|_| {
            let s = client.udp_bind("0.0.0.0:0".parse().unwrap()).unwrap();
            s.connect(service_addr()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.send(b"who?").unwrap();
            let mut buf = [0u8; 64];
            let n = s.recv(&mut buf).unwrap();
            (&buf[..n] == ZONES[0].as_bytes()).then_some(s)
        })
        .expect("a UDP flow to zone A");

    // Zone A stops answering: its link goes down, SYNs get no answer.
    let stopped = Instant::now();
    z.topo.backends[0]
        .ns
        .ip(&["link", "set", "eth0", "down"])
        .unwrap();
    let limit = Duration::from_secs(8);
    let failover =
        time_until_all_reach(client, ZONES[1], stopped, limit, Duration::from_millis(500));
    println!(
        "failover (passive health, syn_timeout 1s x 2 attempts; active checks every 10s): \
         new connections all reach the other zone {} ms after the zone stopped answering",
        failover.as_millis()
    );
    let h = z.wait_health(0, "down", SLACK);
    assert_eq!(h["down_by"], "passive", "{h:#}");
    assert!(h["passive_failures"].as_u64().unwrap() >= 2, "{h:#}");

    // on_down = "reset": zone A's UDP flow is removed once the change is
    // installed, so the same client socket then starts a new flow, to zone
    // B. (Kept, the flow would go on to zone A, which answers nothing.)
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let answer = (0..10).find_map(|_| {
        udp.send(b"who now?").unwrap();
        udp.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    });
    assert_eq!(
        answer.as_deref(),
        Some(ZONES[1].as_bytes()),
        "the UDP flow of the down zone was not moved\n{}",
        z.relay.log()
    );
    let m = z.metrics();
    let reset = format!(
        "fwd_flows_closed_total{{service=\"storage\",backend=\"{}\",protocol=\"udp\",\
         reason=\"backend_down\"}}",
        backend_addr(0)
    );
    assert!(sample(&m, &reset).unwrap_or(0.0) >= 1.0, "{m}");
    z.relay.stop().unwrap();
}

/// Passive health counts only attempts that could have succeeded: SYNs
/// with a bad TCP checksum, which every backend drops unanswered, sent
/// from many client ports (so both zones get several), leave both zones up
/// and a real client connecting. (Before, three such SYNs took a backend
/// out until the active checks brought it back.)
#[test]
fn syns_with_a_bad_checksum_do_not_take_a_backend_out() {
    use integration_test::{packet::PacketBuilder, raw::send_ipv4, topology::CLIENT_ADDR};
    use std::net::{SocketAddr, SocketAddrV4};

    let z = start(&[
        "interval = \"10s\"",
        "fall = 3",
        "syn_timeout = \"1s\"",
        "passive_failures = 2",
    ]);
    let SocketAddr::V4(to) = service_addr() else {
        panic!("IPv4 only")
    };
    let forged: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let from = SocketAddrV4::new(CLIENT_ADDR, 43_000 + i);
            let frame = PacketBuilder::tcp(from, to, fwd_common::flow::tcp_flags::SYN)
                .tcp_bad_checksum()
                .build();
            frame[14..].to_vec()
        })
        .collect();
    let refs: Vec<&[u8]> = forged.iter().map(Vec::as_slice).collect();
    z.topo
        .client
        .ns
        .enter(|| send_ipv4(&refs))
        .unwrap()
        .unwrap();
    // Twice the SYN timeout and the monitor's slack: long enough for the
    // unanswered attempts to have counted, had they been followed.
    thread::sleep(Duration::from_secs(2) + SLACK * 2);
    for i in 0..2 {
        let h = z.health(i);
        assert_eq!(h["state"], "up", "backend {i}: {h:#}\n{}", z.relay.log());
        assert_eq!(h["passive_failures"], 0, "backend {i}: {h:#}");
    }
    let stream = z
        .topo
        .client
        .ns
        .tcp_connect(service_addr(), Duration::from_secs(5))
        .expect("a real client connects");
    drop(stream);
    z.relay.stop().unwrap();
}
