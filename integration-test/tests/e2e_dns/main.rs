//! Backends given by DNS name, resolved by a real fwd against a real DNS
//! server (`server.rs`) running on loopback in the relay's namespace, with
//! real TCP through the relay. Needs root and the release binary (FWD_BIN).
//!
//! What users rely on, and the tests check:
//! - each address of the name's answer is a backend: connections reach
//!   every one of them, and no other;
//! - when the answer changes, the backend set follows within the TTL plus
//!   a bound: new connections reach the new address and none the address
//!   that left, while a connection already open to that address goes on;
//! - when the server stops answering, the last set stays in use, and the
//!   failures are counted (`fwd status`, `fwd_dns_resolution_failures_total`)
//!   and logged; once it answers again, the set follows again;
//! - a name that does not resolve at start stops `fwd attach` with a
//!   message naming the line and the name, before anything is installed.

mod server;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    thread,
    time::{Duration, Instant},
};

use integration_test::{
    addr::sa,
    maps_toml,
    named_server::{read_name, NamedTcp},
    prometheus::http_get,
    relay::{fwd_bin, run_fwd, test_bpffs, xdp_attached, TempDir},
    topology::{backend_addr, vip},
    Relay, ServiceSpec, Topology,
};
use serde_json::Value;
use server::DnsServer;

/// The backend name of these tests.
const NAME: &str = "storage.fwd.test";
/// The TTL the server gives (fwd's floor is 1 s too).
const TTL: Duration = Duration::from_secs(1);
/// How long after the TTL the backend set must have followed an answer:
/// one refresh at the TTL, the lookup, the host checks and the map update.
const FOLLOW_BOUND: Duration = Duration::from_secs(2);
/// The backends' port, and the VIP's.
const PORT: u16 = 8080;
const VIP_PORT: u16 = 80;
/// The DNS server, on loopback in the relay's namespace.
const DNS: &str = "127.0.0.1:5300";
/// The metrics endpoint, on loopback in the relay's namespace.
const METRICS: &str = "127.0.0.1:9785";
/// Connections opened to sample where new connections go.
const SAMPLE: usize = 24;

fn maps() -> String {
    let dns = format!("dns_servers = [\"{DNS}\"]");
    maps_toml(
        &[ServiceSpec::new(
            "store",
            sa::<SocketAddr>(vip(0), VIP_PORT),
            &[format!("{NAME}:{PORT}")],
        )
        .protocol("tcp")],
        &["snat_ports = \"20000-20999\"", &dns],
    )
}

/// `fwd status --json` of `relay`.
fn status(topo: &Topology, relay: &Relay) -> Value {
    let control = relay.control().to_string_lossy().into_owned();
    let (code, out) = run_fwd(
        &topo.relay,
        &["status", "--json", "--control", &control],
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(code.success(), "fwd status failed: {out}");
    let json = &out[out.find('{').unwrap_or(0)..];
    let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) => v,
        other => panic!("no status in {out}: {other:?}"),
    }
}

/// The backends of service `store` in `status`.
fn backends(status: &Value) -> BTreeSet<String> {
    let services = status["services"].as_array().expect("services");
    let store = services
        .iter()
        .find(|s| s["name"] == "store")
        .expect("service store");
    store["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| b["address"].as_str().expect("address").to_string())
        .collect()
}

/// The status of the name in `status`.
fn name_status(status: &Value) -> &Value {
    let names = status["dns"]["names"].as_array().expect("dns names");
    names
        .iter()
        .find(|n| n["name"] == NAME)
        .expect("the name in the status")
}

fn set(backends: &[usize]) -> BTreeSet<String> {
    backends
        .iter()
        .map(|&i| sa::<SocketAddr>(backend_addr(i), PORT).to_string())
        .collect()
}

/// Polls the status until `want` holds, at most `within`; returns the time
/// it took, or fails with the last status and fwd's log.
fn wait_for(
    topo: &Topology,
    relay: &Relay,
    within: Duration,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let s = status(topo, relay);
        if want(&s) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}; last status:\n{s:#}\nfwd log:\n{}",
            relay.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Opens a connection to the service; returns it and the backend's name.
fn connect(topo: &Topology) -> (TcpStream, String) {
    let stream = topo
        .client
        .ns
        .tcp_connect(sa(vip(0), VIP_PORT), Duration::from_secs(5))
        .unwrap();
    let name = read_name(&stream).unwrap();
    (stream, name)
}

/// Opens [`SAMPLE`] connections one after the other; counts them by
/// backend.
fn sample(topo: &Topology) -> BTreeMap<String, usize> {
    let mut by_backend = BTreeMap::new();
    for _ in 0..SAMPLE {
        let (_stream, name) = connect(topo);
        *by_backend.entry(name).or_default() += 1;
    }
    by_backend
}

/// Sends a line on `stream` and checks that it comes back.
fn echo(stream: &mut TcpStream, line: &str) {
    stream.write_all(line.as_bytes()).unwrap();
    let mut back = vec![0u8; line.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, line.as_bytes());
}

fn failures(status: &Value) -> u64 {
    name_status(status)["failures"].as_u64().unwrap_or(0)
}

/// The value of `fwd_dns_resolution_failures_total` for the name.
fn failures_metric(topo: &Topology) -> u64 {
    let r = http_get(&topo.relay, METRICS.parse().unwrap(), "/metrics", None).unwrap();
    let prefix = format!("fwd_dns_resolution_failures_total{{service=\"store\",name=\"{NAME}\"}} ");
    let line = r
        .body
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {prefix} in\n{}", r.body));
    line.trim().parse().unwrap()
}

#[test]
fn backends_follow_the_answer_and_survive_a_dns_outage() {
    let topo = Topology::two_arm(3).unwrap();
    let _servers: Vec<NamedTcp> = (0..3)
        .map(|i| {
            NamedTcp::start(
                &topo.backends[i].ns,
                sa(backend_addr(i), PORT),
                &format!("b{i}"),
            )
            .unwrap()
        })
        .collect();
    let addrs = |v: &[usize]| v.iter().map(|&i| backend_addr(i)).collect::<Vec<_>>();
    let dns_addr: SocketAddr = DNS.parse().unwrap();
    let dns = DnsServer::start(
        &topo.relay,
        dns_addr,
        NAME,
        &addrs(&[0, 1]),
        TTL.as_secs() as u32,
    )
    .unwrap();
    let bin = fwd_bin().unwrap();
    let relay = Relay::start_with(
        &topo.relay,
        &bin,
        &topo.relay_if_names(),
        &maps(),
        &["--metrics", METRICS],
    )
    .unwrap();

    // Both addresses of the answer are backends, and only they.
    let s = status(&topo, &relay);
    assert_eq!(backends(&s), set(&[0, 1]), "{s:#}");
    assert_eq!(
        name_status(&s)["addresses"],
        serde_json::json!(["198.19.0.10", "198.19.0.11"])
    );
    let seen = sample(&topo);
    assert!(seen.get("b0").is_some_and(|&n| n > 0), "{seen:?}");
    assert!(seen.get("b1").is_some_and(|&n| n > 0), "{seen:?}");
    assert_eq!(seen.get("b2"), None, "{seen:?}");

    // A connection to b0 stays open across the change.
    let mut held = loop {
        let (stream, name) = connect(&topo);
        if name == "b0" {
            break stream;
        }
    };
    echo(&mut held, "before the change\n");

    // The answer changes: b0 leaves, b2 comes.
    dns.set_answer(&addrs(&[1, 2]));
    let changed = Instant::now();
    let followed = wait_for(&topo, &relay, TTL + FOLLOW_BOUND, "the set follows", |s| {
        backends(s) == set(&[1, 2])
    });
    let asked = dns
        .first_answer_after(changed)
        .expect("asked after the change");
    eprintln!(
        "backend set followed the new answer in {followed:?} (TTL {TTL:?}); \
         {:?} after fwd asked again",
        (changed + followed).saturating_duration_since(asked)
    );
    let seen = sample(&topo);
    assert!(
        seen.get("b2").is_some_and(|&n| n > 0),
        "the new address: {seen:?}"
    );
    assert!(seen.get("b1").is_some_and(|&n| n > 0), "{seen:?}");
    assert_eq!(seen.get("b0"), None, "the address that left: {seen:?}");
    echo(&mut held, "after the change, still on b0\n");

    // The server stops: the set stays, failures are counted and logged.
    let before = failures(&status(&topo, &relay));
    let queries = dns.queries();
    assert!(
        queries >= 2,
        "fwd asked again at the TTL: {queries} queries"
    );
    drop(dns);
    let outage = Instant::now();
    wait_for(
        &topo,
        &relay,
        Duration::from_secs(30),
        "two failures counted",
        |s| failures(s) >= before + 2,
    );
    let s = status(&topo, &relay);
    assert_eq!(backends(&s), set(&[1, 2]), "the last set stays: {s:#}");
    let n = name_status(&s);
    assert_eq!(
        n["addresses"],
        serde_json::json!(["198.19.0.11", "198.19.0.12"])
    );
    assert!(
        n["last_error"].as_str().is_some_and(|e| e.contains(NAME)),
        "{n:#}"
    );
    assert!(failures_metric(&topo) >= before + 2);
    let seen = sample(&topo);
    assert_eq!(seen.values().sum::<usize>(), SAMPLE, "{seen:?}");
    assert_eq!(seen.get("b0"), None, "{seen:?}");
    echo(&mut held, "during the outage\n");
    assert!(relay.log().contains("the backends stay"), "{}", relay.log());
    eprintln!(
        "outage of {:?}: {} failures counted",
        outage.elapsed(),
        failures(&s)
    );

    // It answers again (b0 only): the set follows again, after at most
    // one retry delay.
    let dns = DnsServer::start(&topo.relay, dns_addr, NAME, &addrs(&[0]), 1).unwrap();
    let back = wait_for(
        &topo,
        &relay,
        fwd::dns::MAX_RETRY + fwd::dns::LOOKUP_TIMEOUT,
        "the set follows after the outage",
        |s| backends(s) == set(&[0]),
    );
    eprintln!("after the outage, the set followed in {back:?}");
    let seen = sample(&topo);
    assert_eq!(seen.get("b0"), Some(&SAMPLE), "{seen:?}");
    assert!(dns.queries() >= 1);

    drop(held);
    let log = relay.stop().unwrap();
    assert!(log.contains("backends updated"), "{log}");
}

#[test]
fn a_name_that_does_not_resolve_stops_fwd_at_start() {
    let topo = Topology::two_arm(1).unwrap();
    // The server knows another name: ours gets NXDOMAIN.
    let _dns = DnsServer::start(
        &topo.relay,
        DNS.parse().unwrap(),
        "other.fwd.test",
        &[backend_addr(0)],
        1,
    )
    .unwrap();
    let dir = TempDir::new().unwrap();
    let map = dir.write("maps.toml", &maps()).unwrap();
    let control = dir.path().join("fwd.sock");
    let pin_dir = test_bpffs()
        .unwrap()
        .join(format!("dns-refused-{}", std::process::id()));
    let (map, control, pin_dir) = (
        map.to_string_lossy().into_owned(),
        control.to_string_lossy().into_owned(),
        pin_dir.to_string_lossy().into_owned(),
    );
    let mut argv = vec!["attach"];
    argv.extend(topo.relay_if_names());
    argv.extend([
        "--map",
        &map,
        "--control",
        &control,
        "--pin-dir",
        &pin_dir,
        "--metrics",
        "off",
    ]);
    let (code, out) = run_fwd(&topo.relay, &argv, Duration::from_secs(30)).unwrap();
    assert!(
        !code.success(),
        "fwd started with a name that does not resolve:\n{out}"
    );
    for part in [
        "line 5",
        "\"store\"",
        &format!("{NAME}:{PORT}"),
        "does not resolve",
        "does not exist (NXDOMAIN)",
        DNS,
    ] {
        assert!(out.contains(part), "{part:?} missing in:\n{out}");
    }
    assert!(xdp_attached(&topo.relay).unwrap().is_empty(), "{out}");
    assert!(
        !std::path::Path::new(&pin_dir).exists(),
        "nothing pinned: {out}"
    );
}
