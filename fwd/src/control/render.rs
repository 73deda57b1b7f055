//! `fwd status` and `fwd flows` for people: aligned tables (the `--json`
//! output is the report itself).

use std::fmt::Write as _;

use super::protocol::{FlowsReport, StatusReport};
use crate::text::table;

fn cells<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(std::string::ToString::to_string).collect()
}

/// A short duration: `850ms`, `42s`, `3m05s`, `2h04m`, `3d01h`.
pub(crate) fn short_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// The status report as tables.
pub(crate) fn status(r: &StatusReport) -> String {
    let mut out = String::new();
    let up = humantime::format_duration(std::time::Duration::from_secs(r.uptime_s));
    let _ = writeln!(out, "fwd {}, up {up} (since {})", r.version, r.started);

    let _ = writeln!(out, "\ninterfaces");
    let mut rows = vec![cells(["NAME", "IFINDEX", "MODE"])];
    for i in &r.interfaces {
        rows.push(vec![i.name.clone(), i.ifindex.to_string(), i.mode.clone()]);
    }
    out += &table(&rows);

    let _ = writeln!(
        out,
        "\nservices (> client to backend, < backend to client; bytes of IPv4 packets)"
    );
    let mut rows = vec![cells([
        "SERVICE",
        "LISTEN",
        "PROTO",
        "BACKEND",
        "HEALTH",
        "SNAT",
        "ACTIVE",
        "CREATED",
        "PACKETS >",
        "BYTES >",
        "PACKETS <",
        "BYTES <",
    ])];
    for s in &r.services {
        for (i, b) in s.backends.iter().enumerate() {
            let first = |v: &str| if i == 0 { v.to_string() } else { String::new() };
            rows.push(vec![
                first(&s.name),
                first(&s.listen),
                first(&s.protocol),
                b.address.clone(),
                b.health.cell(),
                b.snat.to_string(),
                b.active_flows.to_string(),
                b.flows_created.to_string(),
                b.to_backend.packets.to_string(),
                b.to_backend.bytes.to_string(),
                b.to_client.packets.to_string(),
                b.to_client.bytes.to_string(),
            ]);
        }
    }
    out += &table(&rows);
    for s in &r.services {
        let why = s.backends.iter().find_map(|b| b.health.unchecked.as_ref());
        if let Some(why) = why {
            let _ = writeln!(out, "{} is not health-checked: {why}", s.name);
        }
    }

    let _ = writeln!(out, "\npackets by reason (bytes of frames)");
    if r.reasons.is_empty() {
        let _ = writeln!(out, "none yet");
    } else {
        let mut rows = vec![cells(["REASON", "ACTION", "PACKETS", "BYTES"])];
        for c in &r.reasons {
            rows.push(vec![
                c.reason.clone(),
                c.action.clone(),
                c.packets.to_string(),
                c.bytes.to_string(),
            ]);
        }
        out += &table(&rows);
    }
    let t = &r.totals;
    let _ = writeln!(
        out,
        "total: {} forwarded, {} passed, {} dropped (packets)",
        t.forwarded.packets, t.passed.packets, t.dropped.packets
    );

    let closed: Vec<String> = r
        .flows_closed
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    let ct = &r.connection_table;
    let gc = &r.gc;
    out += "\n";
    out += &table(&[
        cells([
            "flows closed",
            &if closed.is_empty() {
                "none".to_string()
            } else {
                closed.join(", ")
            },
        ]),
        cells([
            "connection table",
            &format!(
                "{} of {} entries ({} flows)",
                ct.entries, ct.capacity, ct.flows
            ),
        ]),
        cells(["flow events lost", &r.flow_events_lost.to_string()]),
        cells([
            "gc",
            &format!(
                "{} runs; expired {} idle, {} under pressure, {} orphan halves; \
                 {} refreshed, {} errors",
                gc.runs,
                gc.expired_timeout,
                gc.expired_pressure,
                gc.orphans,
                gc.refreshed,
                gc.errors
            ),
        ]),
    ]);
    if let Some(dns) = &r.dns {
        out += &crate::dns::report::render(dns);
    }
    out
}

/// The flows report as a table.
pub(crate) fn flows(r: &FlowsReport) -> String {
    if r.flows.is_empty() {
        return format!("no flow matches ({} tracked)\n", r.tracked);
    }
    let mut rows = vec![cells([
        "PROTO",
        "SERVICE",
        "CLIENT",
        "VIP",
        "SNAT",
        "BACKEND",
        "STATE",
        "AGE",
        "IDLE",
        "PACKETS >",
        "BYTES >",
        "PACKETS <",
        "BYTES <",
    ])];
    for f in &r.flows {
        rows.push(vec![
            f.protocol.clone(),
            f.service.clone(),
            f.client.to_string(),
            f.vip.to_string(),
            f.snat.to_string(),
            f.backend.to_string(),
            f.state.clone(),
            short_duration(f.age_ms),
            short_duration(f.idle_ms),
            f.to_backend.packets.to_string(),
            f.to_backend.bytes.to_string(),
            f.to_client.packets.to_string(),
            f.to_client.bytes.to_string(),
        ]);
    }
    let mut out = table(&rows);
    let _ = writeln!(
        out,
        "{} of {} tracked flows (> client to backend, < backend to client)",
        r.flows.len(),
        r.tracked
    );
    out
}
