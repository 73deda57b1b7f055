//! The flow log's lines and clock conversion.

use std::{
    io::Write,
    net::Ipv4Addr,
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use fwd_common::{
    addr4,
    events::{end_reason, EVENT_END, EVENT_START},
    port, Counter, IPPROTO_TCP, IPPROTO_UDP,
};

use super::*;
use crate::plan::{PlannedBackend, PlannedService};

const S: u64 = 1_000_000_000;

fn plan() -> Plan {
    let service = |id, name: &str| PlannedService {
        id,
        name: name.into(),
        vip: Ipv4Addr::new(198, 18, 100, 1),
        port: None,
        protocols: vec![IPPROTO_TCP, IPPROTO_UDP],
        mss_clamp: Default::default(),
        access: Default::default(),
        backends: vec![PlannedBackend {
            id,
            addr: Ipv4Addr::new(198, 19, 0, 10),
            port: None,
            snat: Ipv4Addr::new(198, 19, 0, 1),
            weight: 1,
        }],
    };
    Plan {
        services: vec![service(0, "db"), service(1, "web")],
        ..Default::default()
    }
}

fn event(kind: u8, proto: u8, reason: u8) -> FlowEvent {
    FlowEvent {
        time_ns: 1_000 * S + 3_004_000_000,
        created_ns: 1_000 * S,
        client_addr: addr4(Ipv4Addr::new(198, 18, 0, 2)),
        vip_addr: addr4(Ipv4Addr::new(198, 18, 100, 1)),
        snat_addr: addr4(Ipv4Addr::new(198, 19, 0, 1)),
        backend_addr: addr4(Ipv4Addr::new(198, 19, 0, 10)),
        client_port: port(40312),
        vip_port: port(443),
        snat_port: port(20001),
        backend_port: port(443),
        service_id: 1,
        backend_id: 1,
        kind,
        proto,
        end_reason: reason,
        to_backend: Counter {
            packets: 12,
            bytes: 1804,
        },
        to_client: Counter {
            packets: 10,
            bytes: 9120,
        },
        ..Default::default()
    }
}

/// The monotonic clock read 1,010 s, the wall clock 2025-05-01T12:00:10Z.
fn clock() -> Clock {
    Clock {
        monotonic_ns: 1_010 * S,
        realtime: UNIX_EPOCH + Duration::from_secs(1_746_100_810),
    }
}

#[test]
fn wall_time_is_realtime_minus_age() {
    let c = clock();
    assert_eq!(c.wall(c.monotonic_ns), c.realtime);
    assert_eq!(
        c.wall(c.monotonic_ns - 2_500_000_000),
        c.realtime - Duration::from_millis(2_500)
    );
    // A stamp slightly ahead (another CPU's coarse clock) does not panic.
    assert_eq!(
        c.wall(c.monotonic_ns + 5),
        c.realtime + Duration::from_nanos(5)
    );
    assert_eq!(
        rfc3339_millis(c.wall(1_000 * S + 3_004_000_000)),
        "2025-05-01T12:00:03.004Z"
    );
    // Both clocks now: an event stamped now is within a second of the wall clock.
    let now = Clock::now();
    let wall = now.wall(crate::clock::monotonic_ns());
    let delta = wall
        .duration_since(now.realtime)
        .unwrap_or_else(|e| e.duration());
    assert!(delta < Duration::from_secs(1), "{delta:?}");
}

#[test]
fn end_line_has_every_field_in_order() {
    let plan = plan();
    let e = event(EVENT_END, IPPROTO_TCP, end_reason::FIN);
    let line = FlowRecord::of(&e, &plan, &clock()).unwrap().to_json();
    assert_eq!(
        line,
        r#"{"time":"2025-05-01T12:00:03.004Z","event":"end","protocol":"tcp","service":"web","client":"198.18.0.2:40312","vip":"198.18.100.1:443","snat":"198.19.0.1:20001","backend":"198.19.0.10:443","packets_to_backend":12,"bytes_to_backend":1804,"packets_to_client":10,"bytes_to_client":9120,"duration_ms":3004,"reason":"fin"}"#
    );
    for (reason, name) in [
        (end_reason::RST, "rst"),
        (end_reason::TIMEOUT, "timeout"),
        (end_reason::EVICTED, "evicted"),
    ] {
        let e = event(EVENT_END, IPPROTO_UDP, reason);
        let v: serde_json::Value =
            serde_json::from_str(&FlowRecord::of(&e, &plan, &clock()).unwrap().to_json()).unwrap();
        assert_eq!(v["reason"], name);
        assert_eq!(v["protocol"], "udp");
    }
}

#[test]
fn start_line_has_no_end_fields() {
    let plan = plan();
    let mut e = event(EVENT_START, IPPROTO_UDP, end_reason::NONE);
    e.time_ns = e.created_ns;
    e.service_id = 0;
    let line = FlowRecord::of(&e, &plan, &clock()).unwrap().to_json();
    assert_eq!(
        line,
        r#"{"time":"2025-05-01T12:00:00.000Z","event":"start","protocol":"udp","service":"db","client":"198.18.0.2:40312","vip":"198.18.100.1:443","snat":"198.19.0.1:20001","backend":"198.19.0.10:443"}"#
    );
    // Unknown kinds are not logged; an unknown service id is shown as "?".
    e.kind = 9;
    assert!(FlowRecord::of(&e, &plan, &clock()).is_none());
    e.kind = EVENT_START;
    e.service_id = 7;
    assert_eq!(FlowRecord::of(&e, &plan, &clock()).unwrap().service, "?");
}

/// A writer the test can read back, counting flushes.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<(Vec<u8>, usize)>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().1 += 1;
        Ok(())
    }
}

#[test]
fn a_batch_is_one_line_per_event_then_a_flush() {
    let out = Shared::default();
    let mut log = FlowLog::to_writer(Box::new(out.clone()));
    let events = [
        event(EVENT_START, IPPROTO_TCP, end_reason::NONE),
        event(EVENT_END, IPPROTO_TCP, end_reason::RST),
    ];
    log.write(&events, &plan(), &clock()).unwrap();
    let (bytes, flushes) = out.0.lock().unwrap().clone();
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    assert!(lines[0].contains(r#""event":"start""#), "{text}");
    assert!(lines[1].contains(r#""reason":"rst""#), "{text}");
    assert_eq!(flushes, 1);
}

#[test]
fn a_file_log_appends_and_is_created() {
    let dir = std::env::temp_dir().join(format!("fwd-flowlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flows.jsonl");
    let _ = std::fs::remove_file(&path);
    let target = FlowLogTarget::parse(path.to_str().unwrap());
    assert_eq!(target, FlowLogTarget::File(path.clone()));
    assert_eq!(FlowLogTarget::parse("-"), FlowLogTarget::Stdout);
    let e = [event(EVENT_START, IPPROTO_TCP, end_reason::NONE)];
    for _ in 0..2 {
        let mut log = FlowLog::open(&target).unwrap();
        log.write(&e, &plan(), &clock()).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "appended, not truncated: {text}");
    let err = FlowLog::open(&FlowLogTarget::parse("/nonexistent-dir/x.jsonl"))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("/nonexistent-dir/x.jsonl"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
