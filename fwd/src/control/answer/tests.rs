//! The reports: flows from the connection table, reasons, and the tables
//! for people.

use std::net::Ipv4Addr;

use fwd_common::{flow::tcp_flags::*, Counter, Flow4, Flow4Key, Reason, IPPROTO_TCP, IPPROTO_UDP};

use super::{active_by_backend, closed_by_reason, flow_entries, reason_rows, unknown_service};
use crate::{
    control::{protocol::*, render},
    flows::{pairs, PairedFlow},
    health::report::HealthStatus,
    plan::{Plan, PlannedBackend, PlannedService},
    testing::{self, socket, TestFlow},
};

fn plan() -> Plan {
    let backend = |id, last| PlannedBackend {
        id,
        addr: Ipv4Addr::new(198, 19, 0, last),
        port: None,
        snat: Ipv4Addr::new(198, 19, 0, 1),
        weight: 1,
    };
    let service = |id: u32, name: &str| PlannedService {
        id,
        name: name.into(),
        vip: Ipv4Addr::new(198, 18, 100, 1 + id as u8),
        port: None,
        protocols: vec![IPPROTO_TCP, IPPROTO_UDP],
        mss_clamp: Default::default(),
        access: Default::default(),
        backends: vec![backend(id, 10 + id as u8)],
    };
    Plan {
        services: vec![service(0, "db"), service(1, "web")],
        ..Default::default()
    }
}

const MS: u64 = 1_000_000;

/// A flow of service `service` from client port `cport` (SNAT port
/// `cport - 20000`) with the given flags; created at 1 s, last packets at
/// 2 s (forward) and 3 s (reply).
fn flow(service: u32, proto: u8, cport: u16, fflags: u8, rflags: u8) -> [(Flow4Key, Flow4); 2] {
    let client = Ipv4Addr::new(198, 18, 0, 2);
    let vip = Ipv4Addr::new(198, 18, 100, 1 + service as u8);
    let backend = Ipv4Addr::new(198, 19, 0, 10 + service as u8);
    let snat = Ipv4Addr::new(198, 19, 0, 1);
    TestFlow {
        backend_id: service,
        service_id: service,
        created_ns: 1_000 * MS,
        last_seen_ns: [2_000 * MS, 3_000 * MS],
        packets: [4, 3],
        bytes: [400, 3000],
        tcp_flags: [fflags, rflags],
        ..TestFlow::new(
            proto,
            testing::sa(client, cport),
            testing::sa(vip, 80),
            testing::sa(snat, cport - 20000),
            testing::sa(backend, 80),
        )
    }
    .halves()
}

fn table() -> Vec<PairedFlow> {
    let mut entries = Vec::new();
    entries.extend(flow(1, IPPROTO_TCP, 40002, SYN | ACK, SYN | ACK));
    entries.extend(flow(1, IPPROTO_TCP, 40001, SYN, 0));
    entries.extend(flow(0, IPPROTO_UDP, 40003, 0, 0));
    entries.extend(flow(
        1,
        IPPROTO_TCP,
        40004,
        SYN | ACK | FIN,
        SYN | ACK | FIN,
    ));
    entries.extend(flow(1, IPPROTO_TCP, 40005, SYN | ACK | FIN, SYN | ACK));
    pairs(&entries)
}

#[test]
fn flow_entries_are_filtered_and_sorted() {
    let plan = plan();
    let all = flow_entries(&table(), &plan, 4_500 * MS, &FlowFilter::default());
    let summary: Vec<(String, u16, String)> = all
        .iter()
        .map(|e| (e.service.clone(), e.client.port(), e.state.clone()))
        .collect();
    let expected = [
        ("db", 40003, "udp"),
        ("web", 40001, "opening"),
        ("web", 40002, "established"),
        ("web", 40004, "closing"),
        ("web", 40005, "closing"),
    ];
    let expected: Vec<(String, u16, String)> = expected
        .iter()
        .map(|(s, p, st)| (s.to_string(), *p, st.to_string()))
        .collect();
    assert_eq!(summary, expected);
    let e = &all[2];
    assert_eq!(e.protocol, "tcp");
    assert_eq!(e.vip, socket("198.18.100.2:80"));
    assert_eq!(e.snat, socket("198.19.0.1:20002"));
    assert_eq!(e.backend, socket("198.19.0.11:80"));
    assert_eq!((e.age_ms, e.idle_ms), (3_500, 1_500));
    assert_eq!(
        (e.to_backend.packets, e.to_backend.bytes, e.to_client.bytes),
        (4, 400, 3000)
    );

    // "Which client is behind this relay port".
    let snat = FlowFilter {
        snat: Some("198.19.0.1:20005".parse().unwrap()),
        ..Default::default()
    };
    let found = flow_entries(&table(), &plan, 4_500 * MS, &snat);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].client, socket("198.18.0.2:40005"));
    let db = FlowFilter {
        service: Some("db".into()),
        ..Default::default()
    };
    assert_eq!(flow_entries(&table(), &plan, 4_500 * MS, &db).len(), 1);
    assert!(unknown_service("x", &plan).contains("services: db, web"));

    // Active: not ended by FIN both ways (or RST).
    let active = active_by_backend(&table());
    assert_eq!(active.get(&1), Some(&3));
    assert_eq!(active.get(&0), Some(&1));

    let text = render::flows(&FlowsReport {
        tracked: 5,
        flows: all,
    });
    assert!(text.starts_with("PROTO  SERVICE  CLIENT"), "{text}");
    assert!(
        text.contains("tcp    web      198.18.0.2:40002  198.18.100.2:80  198.19.0.1:20002"),
        "{text}"
    );
    assert!(text.contains("established  3s"), "{text}");
    assert!(text.ends_with("5 of 5 tracked flows (> client to backend, < backend to client)\n"));
    assert_eq!(
        render::flows(&FlowsReport {
            tracked: 5,
            flows: vec![]
        }),
        "no flow matches (5 tracked)\n"
    );
}

#[test]
fn reasons_totals_and_closed_flows() {
    let c = |packets| Counter {
        packets,
        bytes: packets * 100,
    };
    let stats = vec![
        (Reason::ForwardedTx, c(0)),
        (Reason::ForwardedRedirect, c(10)),
        (Reason::PassNoService, c(3)),
        (Reason::DropNoRoute, c(2)),
        (Reason::DropTruncated, c(1)),
    ];
    let (rows, totals) = reason_rows(&stats);
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.reason.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("forwarded_redirect", "redirect"),
            ("pass_no_service", "pass"),
            ("drop_no_route", "drop"),
            ("drop_truncated", "drop")
        ]
    );
    assert_eq!(
        totals.forwarded,
        Count {
            packets: 10,
            bytes: 1000
        }
    );
    assert_eq!(totals.passed.packets, 3);
    assert_eq!(
        totals.dropped,
        Count {
            packets: 3,
            bytes: 300
        }
    );

    let closed = closed_by_reason([(1u8, 2u64), (3, 1), (1, 3), (2, 0)].into_iter());
    assert_eq!(
        closed.into_iter().collect::<Vec<_>>(),
        vec![("fin".to_string(), 5), ("timeout".to_string(), 1)]
    );
}

#[test]
fn status_tables() {
    let report = StatusReport {
        version: "0.1.0".into(),
        started: "2025-05-01T12:00:00.000Z".into(),
        uptime_s: 3723,
        interfaces: vec![
            InterfaceStatus {
                name: "c0".into(),
                ifindex: 2,
                mode: "native".into(),
            },
            InterfaceStatus {
                name: "b0".into(),
                ifindex: 3,
                mode: "generic".into(),
            },
        ],
        services: vec![ServiceStatus {
            name: "web".into(),
            listen: "198.18.100.1".into(),
            protocol: "any".into(),
            backends: vec![BackendStatus {
                address: "198.19.0.10".into(),
                snat: Ipv4Addr::new(198, 19, 0, 1),
                to_backend: Count {
                    packets: 120,
                    bytes: 9000,
                },
                to_client: Count {
                    packets: 100,
                    bytes: 80000,
                },
                flows_created: 20,
                active_flows: 1,
                health: HealthStatus {
                    state: "up".into(),
                    check: Some("tcp :80".into()),
                    ..Default::default()
                },
            }],
        }],
        reasons: vec![ReasonCount {
            reason: "forwarded_redirect".into(),
            action: "redirect".into(),
            packets: 220,
            bytes: 93000,
        }],
        totals: Totals {
            forwarded: Count {
                packets: 220,
                bytes: 93000,
            },
            ..Default::default()
        },
        flows_closed: [("fin".to_string(), 19)].into_iter().collect(),
        connection_table: TableStatus {
            entries: 2,
            capacity: 262_144,
            flows: 1,
        },
        flow_events_lost: 0,
        gc: GcStatus {
            runs: 12,
            expired_timeout: 0,
            expired_pressure: 0,
            orphans: 0,
            refreshed: 0,
            errors: 0,
        },
        dns: None,
    };
    let mut report = report;
    let mut down = report.services[0].backends[0].clone();
    down.address = "198.19.0.11".into();
    down.health.state = "down".into();
    down.health.down_by = Some("checks".into());
    report.services[0].backends.push(down);
    let text = render::status(&report);
    for expected in [
        "fwd 0.1.0, up 1h 2m 3s (since 2025-05-01T12:00:00.000Z)",
        "NAME  IFINDEX  MODE\nc0    2        native\nb0    3        generic\n",
        "SERVICE  LISTEN        PROTO  BACKEND      HEALTH         SNAT        ACTIVE",
        "web      198.18.100.1  any    198.19.0.10  up             198.19.0.1  1       20       120        9000     100        80000",
        "                              198.19.0.11  down (checks)  198.19.0.1",
        "forwarded_redirect  redirect  220      93000",
        "total: 220 forwarded, 0 passed, 0 dropped (packets)",
        "flows closed      fin 19",
        "connection table  2 of 262144 entries (1 flows)",
        "flow events lost  0",
        "gc                12 runs;",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    assert!(!text.contains("health-checked"), "{text}");
    let mut unchecked = report.clone();
    for b in &mut unchecked.services[0].backends {
        b.health = HealthStatus {
            unchecked: Some("no port".into()),
            ..Default::default()
        };
    }
    let text = render::status(&unchecked);
    assert!(
        text.contains("web is not health-checked: no port"),
        "{text}"
    );
    let response = Response::Status(Box::new(report));
    let json = serde_json::to_string(&response).unwrap();
    assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), response);
    assert!(json.contains(r#""flows_closed":{"fin":19}"#), "{json}");
}

#[test]
fn short_durations() {
    for (ms, s) in [
        (0, "0ms"),
        (850, "850ms"),
        (42_000, "42s"),
        (185_000, "3m05s"),
        (7_440_000, "2h04m"),
        (262_800_000, "3d01h"),
    ] {
        assert_eq!(render::short_duration(ms), s);
    }
}
