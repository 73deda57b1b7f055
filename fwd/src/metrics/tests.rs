//! The exposition of a snapshot built by hand: names, labels, values, and
//! the consistency of both formats. The real endpoint, with a real
//! Prometheus scraping it, is tested end to end in `integration-test/tests/e2e_metrics.rs`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::Ipv4Addr,
};

use fwd_common::{events::end_reason, BackendStats, Counter, Reason, IPPROTO_TCP, IPPROTO_UDP};

use super::{
    encode,
    process::ProcessSample,
    snapshot::{BackendSample, InterfaceSample, Snapshot, SnatSample, TableCounts},
    Format, MetricsAddr, DEFAULT_ADDR,
};
use crate::{
    datapath::AttachedMode,
    dns::NameStatus,
    gc::GcStats,
    state::{ClosedKey, GcTotals, HeldTotals},
};

fn counter(packets: u64, bytes: u64) -> Counter {
    Counter { packets, bytes }
}

/// `web`'s backend is checked and down; `dns "q"` is not checked.
fn health_of_web() -> crate::health::HealthSnapshot {
    use crate::{
        config::health::Unchecked,
        health::{book::DownCause, BackendHealth, HealthSnapshot, State},
        plan::BackendRef,
    };
    let web = BackendRef {
        service: "web".into(),
        addr: Ipv4Addr::new(198, 19, 0, 10),
        port: Some(80),
    };
    let health = BackendHealth {
        state: State::Down,
        down_by: Some(DownCause::Checks),
        checks_ok: 5,
        checks_failed: 3,
        passive_failures: 2,
        ..BackendHealth::new("tcp :80".into())
    };
    HealthSnapshot {
        backends: BTreeMap::from([(web, health)]),
        unchecked: BTreeMap::from([("dns \"q\"".to_string(), Unchecked::Udp)]),
    }
}

fn snapshot() -> Snapshot {
    let web = BackendSample {
        service: "web".into(),
        service_id: 0,
        backend: "198.19.0.10:80".into(),
        backend_id: 0,
        protocols: vec![IPPROTO_TCP],
        stats: BackendStats {
            to_backend: counter(10, 1_000),
            to_client: counter(8, 6_000),
            flows_created_tcp: 3,
            flows_created_udp: 0,
        },
    };
    let dns = BackendSample {
        service: "dns \"q\"".into(),
        service_id: 1,
        backend: "198.19.0.11".into(),
        backend_id: 1,
        protocols: vec![IPPROTO_TCP, IPPROTO_UDP],
        stats: BackendStats {
            to_backend: counter(2, 56),
            to_client: counter(2, 70),
            flows_created_tcp: 0,
            flows_created_udp: 1,
        },
    };
    let reasons: Vec<(Reason, Counter)> = Reason::ALL
        .iter()
        .map(|&r| match r {
            Reason::ForwardedRedirect => (r, counter(22, 8_000)),
            Reason::DropSnatExhausted => (r, counter(5, 370)),
            _ => (r, Counter::default()),
        })
        .collect();
    let mut closed = BTreeMap::new();
    closed.insert(
        ClosedKey {
            service_id: 0,
            backend_id: 0,
            proto: IPPROTO_TCP,
            reason: end_reason::FIN,
        },
        2,
    );
    let sum = GcStats {
        expired_timeout: 4,
        expired_pressure: 1,
        orphans: 2,
        ..Default::default()
    };
    Snapshot {
        version: "9.8.7",
        backends: vec![web, dns],
        interfaces: vec![InterfaceSample {
            name: "eth0".into(),
            mode: AttachedMode::Native,
            reasons: reasons.clone(),
        }],
        reasons,
        table: TableCounts {
            entries: 4,
            active: HashMap::from([((0, 0, IPPROTO_TCP), 1), ((1, 1, IPPROTO_UDP), 1)]),
            snat_ports_in_use: BTreeMap::from([(Ipv4Addr::new(198, 19, 0, 1), 2)]),
        },
        table_capacity: 262_144,
        snat: vec![SnatSample {
            addr: Ipv4Addr::new(198, 19, 0, 1),
            in_use: 2,
            capacity: 3 * 22_768,
        }],
        closed,
        events_lost: 6,
        gc: GcTotals {
            runs: 12,
            sum,
            last: GcStats::default(),
        },
        held: HeldTotals {
            rerun: 5,
            expired: 1,
            refused: 0,
            datagrams_expired: 3,
        },
        dns: BTreeMap::from([(
            "storage.example".to_string(),
            NameStatus {
                services: vec!["web".into(), "all".into()],
                addrs: [Ipv4Addr::new(198, 19, 0, 10), Ipv4Addr::new(198, 19, 0, 11)].into(),
                resolutions: 7,
                failures: 3,
                ..Default::default()
            },
        )]),
        health: health_of_web(),
        process: Some(ProcessSample {
            cpu_seconds: 1.5,
            resident_memory_bytes: 4096,
            virtual_memory_bytes: 8192,
            open_fds: 9,
            max_fds: 1024,
            start_time_seconds: 1_700_000_000.5,
        }),
    }
}

fn lines(text: &str) -> BTreeSet<&str> {
    text.lines().collect()
}

#[test]
fn families_values_and_labels() {
    let text = encode(snapshot(), Format::PrometheusText).unwrap();
    let l = lines(&text);
    for expected in [
        "# TYPE fwd_backend_packets_total counter",
        r#"fwd_backend_packets_total{service="web",backend="198.19.0.10:80",direction="to_backend"} 10"#,
        r#"fwd_backend_packets_total{service="web",backend="198.19.0.10:80",direction="to_client"} 8"#,
        "# TYPE fwd_backend_bytes_total counter",
        r#"fwd_backend_bytes_total{service="web",backend="198.19.0.10:80",direction="to_client"} 6000"#,
        r#"fwd_backend_bytes_total{service="dns \"q\"",backend="198.19.0.11",direction="to_backend"} 56"#,
        r#"fwd_flows_created_total{service="web",backend="198.19.0.10:80",protocol="tcp"} 3"#,
        r#"fwd_flows_created_total{service="dns \"q\"",backend="198.19.0.11",protocol="udp"} 1"#,
        r#"fwd_flows_created_total{service="dns \"q\"",backend="198.19.0.11",protocol="tcp"} 0"#,
        "# TYPE fwd_flows_active gauge",
        r#"fwd_flows_active{service="web",backend="198.19.0.10:80",protocol="tcp"} 1"#,
        r#"fwd_flows_active{service="dns \"q\"",backend="198.19.0.11",protocol="tcp"} 0"#,
        r#"fwd_flows_closed_total{service="web",backend="198.19.0.10:80",protocol="tcp",reason="fin"} 2"#,
        r#"fwd_flows_closed_total{service="web",backend="198.19.0.10:80",protocol="tcp",reason="evicted"} 0"#,
        r#"fwd_flows_closed_total{service="dns \"q\"",backend="198.19.0.11",protocol="udp",reason="timeout"} 0"#,
        r#"fwd_datapath_packets_total{interface="eth0",reason="forwarded_redirect",action="redirect"} 22"#,
        r#"fwd_datapath_bytes_total{interface="eth0",reason="drop_snat_exhausted",action="drop"} 370"#,
        r#"fwd_datapath_packets_total{interface="eth0",reason="pass_no_service",action="pass"} 0"#,
        r#"fwd_interface_info{interface="eth0",mode="native"} 1"#,
        "fwd_conntrack_entries 4",
        "fwd_conntrack_entries_limit 262144",
        r#"fwd_snat_ports_in_use{snat_address="198.19.0.1"} 2"#,
        r#"fwd_snat_ports_limit{snat_address="198.19.0.1"} 68304"#,
        "fwd_snat_allocation_failures_total 5",
        "fwd_flow_events_lost_total 6",
        "fwd_gc_runs_total 12",
        r#"fwd_gc_expired_total{cause="timeout"} 4"#,
        r#"fwd_gc_expired_total{cause="pressure"} 1"#,
        r#"fwd_gc_expired_total{cause="orphan"} 2"#,
        r#"fwd_held_fragments_total{outcome="rerun"} 5"#,
        r#"fwd_held_fragments_total{outcome="expired"} 1"#,
        r#"fwd_held_fragments_total{outcome="refused"} 0"#,
        "fwd_fragmented_datagrams_expired_total 3",
        r#"fwd_build_info{version="9.8.7"} 1"#,
        "# TYPE fwd_dns_resolution_failures_total counter",
        r#"fwd_dns_resolution_failures_total{service="web",name="storage.example"} 3"#,
        r#"fwd_dns_resolution_failures_total{service="all",name="storage.example"} 3"#,
        r#"fwd_dns_resolutions_total{service="web",name="storage.example"} 7"#,
        "# TYPE fwd_dns_addresses gauge",
        r#"fwd_dns_addresses{service="all",name="storage.example"} 2"#,
        "# TYPE fwd_backend_up gauge",
        r#"fwd_backend_up{service="web",backend="198.19.0.10:80"} 0"#,
        r#"fwd_backend_up{service="dns \"q\"",backend="198.19.0.11"} 1"#,
        "# TYPE fwd_health_checks_total counter",
        r#"fwd_health_checks_total{service="web",backend="198.19.0.10:80",result="ok"} 5"#,
        r#"fwd_health_checks_total{service="web",backend="198.19.0.10:80",result="failed"} 3"#,
        r#"fwd_health_passive_failures_total{service="web",backend="198.19.0.10:80"} 2"#,
        "# TYPE process_cpu_seconds_total counter",
        "process_cpu_seconds_total 1.5",
        "process_resident_memory_bytes 4096",
        "process_virtual_memory_bytes 8192",
        "process_open_fds 9",
        "process_max_fds 1024",
        "process_start_time_seconds 1700000000.5",
    ] {
        assert!(l.contains(expected), "missing {expected:?} in\n{text}");
    }
    // FIN and RST are TCP's: no such series for UDP.
    assert!(!text.contains(r#"protocol="udp",reason="fin""#), "{text}");
    // One sample per interface and reason.
    let per_reason = text
        .lines()
        .filter(|l| l.starts_with("fwd_datapath_packets_total{"))
        .count();
    assert_eq!(per_reason, Reason::ALL.len());
}

/// The label names fwd uses: none of them can hold a client address.
const LABELS: &[&str] = &[
    "service",
    "backend",
    "direction",
    "protocol",
    "reason",
    "interface",
    "action",
    "mode",
    "snat_address",
    "cause",
    "version",
    "name",
    "result",
    "outcome",
];

#[test]
fn every_sample_is_declared_and_labelled_with_known_names() {
    let text = encode(snapshot(), Format::PrometheusText).unwrap();
    let mut declared = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                name.starts_with("fwd_") || name.starts_with("process_"),
                "{name}"
            );
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "counters and only counters end in _total: {line}"
            );
            assert!(declared.insert(name), "declared twice: {name}");
            continue;
        }
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP "), "{line}");
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(declared.contains(name), "undeclared sample {line}");
        if let Some(labels) = line.split_once('{').map(|(_, r)| r) {
            for pair in labels.split("\",") {
                let key = pair.split('=').next().unwrap();
                assert!(LABELS.contains(&key), "label {key} in {line}");
            }
        }
    }
}

#[test]
fn openmetrics_is_what_prometheus_client_encodes() {
    let om = encode(snapshot(), Format::OpenMetrics).unwrap();
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE fwd_backend_bytes counter\n# UNIT fwd_backend_bytes bytes\n"));
    assert!(om.contains("# TYPE fwd_flows_created counter\n"));
    let text = encode(snapshot(), Format::PrometheusText).unwrap();
    // The same samples in both formats.
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(samples(&om), samples(&text));
}

#[test]
fn without_process_numbers_the_rest_is_still_exported() {
    let mut s = snapshot();
    s.process = None;
    let text = encode(s, Format::PrometheusText).unwrap();
    assert!(!text.contains("process_"));
    assert!(text.contains("fwd_conntrack_entries 4"));
}

#[test]
fn without_backend_names_there_is_no_dns_family() {
    let mut s = snapshot();
    s.dns.clear();
    let text = encode(s, Format::PrometheusText).unwrap();
    assert!(!text.contains("fwd_dns_"), "{text}");
    assert!(text.contains("fwd_conntrack_entries 4"));
}

#[test]
fn metrics_flag_values() {
    assert_eq!(
        DEFAULT_ADDR.parse::<MetricsAddr>().unwrap(),
        MetricsAddr::Listen("127.0.0.1:9785".parse().unwrap())
    );
    assert_eq!("off".parse::<MetricsAddr>().unwrap(), MetricsAddr::Off);
    assert_eq!("OFF".parse::<MetricsAddr>().unwrap(), MetricsAddr::Off);
    assert_eq!(
        "[::1]:9100".parse::<MetricsAddr>().unwrap().to_string(),
        "[::1]:9100"
    );
    for bad in [
        "",
        "9785",
        "127.0.0.1",
        "localhost:9785",
        "127.0.0.1:99999",
        "no",
    ] {
        let err = bad.parse::<MetricsAddr>().unwrap_err().to_string();
        assert!(err.contains("off") && err.contains(DEFAULT_ADDR), "{err}");
    }
}

#[test]
fn unchecked_backends_have_no_check_counters() {
    let text = encode(snapshot(), Format::PrometheusText).unwrap();
    assert!(
        !text.contains(r#"fwd_health_checks_total{service="dns"#),
        "{text}"
    );
    let mut s = snapshot();
    s.health = Default::default();
    let text = encode(s, Format::PrometheusText).unwrap();
    assert!(text.contains(r#"fwd_backend_up{service="web",backend="198.19.0.10:80"} 1"#));
    assert!(!text.contains("fwd_health_checks_total{"), "{text}");
}
