//! Answers to control requests, from the state of the running relay.
//!
//! The reading of maps happens under the datapath lock in [`answer`]
//! (called on a blocking thread by the server); turning what was read into
//! reports is pure and unit-tested.

use std::{
    collections::{BTreeMap, HashMap},
    time::SystemTime,
};

use fwd_common::{
    counters::xdp_action,
    events::end_reason,
    flow::{flow_state, FlowState},
    Counter, Reason,
};

use super::protocol::{
    BackendStatus, Count, FlowEntry, FlowFilter, FlowsReport, GcStatus, InterfaceStatus,
    ReasonCount, ReloadReport, Request, Response, ServiceStatus, StatusReport, TableStatus, Totals,
};
use crate::{
    clock::monotonic_ns,
    datapath::DatapathError,
    flows::{ended_by_datapath, pairs, Endpoints, PairedFlow},
    health::report::HealthStatus,
    plan::{proto_name, BackendRef, Plan, PlannedService},
    state::{Shared, Stop},
    text::{error_chain, rfc3339_millis},
};

/// The response to `request`.
pub(crate) fn answer(shared: &Shared, request: &Request) -> Response {
    let result = match request {
        Request::Status => status(shared).map(|r| Response::Status(Box::new(r))),
        Request::Reload => return reload(shared),
        Request::Stop(how) => {
            shared.stop.request(Stop { keep: how.keep });
            return Response::Stopping(*how);
        }
        Request::Flows(filter) => {
            if let Some(name) = &filter.service {
                if !shared.plan().services.iter().any(|s| &s.name == name) {
                    return Response::Error {
                        message: unknown_service(name, &shared.plan()),
                    };
                }
            }
            flows(shared, filter).map(Response::Flows)
        }
    };
    result.unwrap_or_else(|e| Response::Error {
        message: error_chain(&e),
    })
}

/// The message for a service filter that names no service.
pub(crate) fn unknown_service(name: &str, plan: &Plan) -> String {
    let names: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    format!(
        "no service named {name:?} (services: {})",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

fn status(shared: &Shared) -> Result<StatusReport, DatapathError> {
    let (reasons, backend_stats, lost, entries, capacity) = {
        let dp = shared.datapath();
        let backend_stats = shared
            .plan()
            .backends()
            .map(|(_, b)| Ok((b.id, dp.backend_stats(b.id)?)))
            .collect::<Result<HashMap<_, _>, DatapathError>>()?;
        (
            dp.reason_stats()?,
            backend_stats,
            dp.events_lost()?,
            dp.flows()?,
            dp.flow_capacity(),
        )
    };
    let flows = pairs(&entries);
    let active = active_by_backend(&flows);
    let health = shared.health.snapshot();
    let services = shared
        .plan()
        .services
        .iter()
        .map(|s| ServiceStatus {
            name: s.name.clone(),
            listen: listen(s),
            protocol: protocol(s).into(),
            backends: s
                .backends
                .iter()
                .map(|b| {
                    let st = backend_stats.get(&b.id).copied().unwrap_or_default();
                    BackendStatus {
                        address: match b.port {
                            Some(p) => format!("{}:{p}", b.addr),
                            None => b.addr.to_string(),
                        },
                        snat: b.snat,
                        to_backend: st.to_backend.into(),
                        to_client: st.to_client.into(),
                        flows_created: st.flows_created_all(),
                        active_flows: active.get(&b.id).copied().unwrap_or(0),
                        health: HealthStatus::of(
                            &health,
                            &BackendRef {
                                service: s.name.clone(),
                                addr: b.addr,
                                port: b.port,
                            },
                        ),
                    }
                })
                .collect(),
        })
        .collect();
    let (reasons, totals) = reason_rows(&reasons);
    let gc = shared.counters.gc_totals().sum;
    let started = shared.started;
    Ok(StatusReport {
        version: env!("CARGO_PKG_VERSION").into(),
        started: rfc3339_millis(started),
        uptime_s: SystemTime::now()
            .duration_since(started)
            .map_or(0, |d| d.as_secs()),
        interfaces: shared
            .interfaces
            .iter()
            .map(|i| InterfaceStatus {
                name: i.name.clone(),
                ifindex: i.ifindex,
                mode: i.mode.to_string(),
            })
            .collect(),
        services,
        reasons,
        totals,
        flows_closed: closed_by_reason(
            shared
                .counters
                .flows_closed()
                .iter()
                .map(|(k, n)| (k.reason, *n)),
        ),
        connection_table: TableStatus {
            entries: entries.len() as u64,
            capacity: u64::from(capacity),
            flows: flows.len() as u64,
        },
        flow_events_lost: lost,
        gc: GcStatus {
            runs: shared.counters.gc_totals().runs,
            expired_timeout: gc.expired_timeout,
            expired_pressure: gc.expired_pressure,
            orphans: gc.orphans,
            refreshed: gc.refreshed,
            errors: gc.errors,
        },
        dns: dns_report(shared),
    })
}

fn flows(shared: &Shared, filter: &FlowFilter) -> Result<FlowsReport, DatapathError> {
    let entries = shared.datapath().flows()?;
    let flows = pairs(&entries);
    Ok(FlowsReport {
        tracked: flows.len() as u64,
        flows: flow_entries(&flows, &shared.plan(), monotonic_ns(), filter),
    })
}

/// `A.B.C.D` or `A.B.C.D:PORT`.
pub(crate) fn listen(s: &PlannedService) -> String {
    match s.port {
        Some(p) => format!("{}:{p}", s.vip),
        None => s.vip.to_string(),
    }
}

/// `tcp`, `udp` or `any`.
pub(crate) fn protocol(s: &PlannedService) -> &'static str {
    match s.protocols.as_slice() {
        [one] => proto_name(*one),
        _ => "any",
    }
}

/// Flows not yet ended, by backend id.
pub(crate) fn active_by_backend(flows: &[PairedFlow]) -> HashMap<u32, u64> {
    let mut active = HashMap::new();
    for f in flows {
        if !ended_by_datapath(f.proto(), f.forward.tcp_flags, f.reply.tcp_flags) {
            *active.entry(f.forward.backend_id).or_default() += 1;
        }
    }
    active
}

/// Closed-flow counts summed by reason name.
pub(crate) fn closed_by_reason(counts: impl Iterator<Item = (u8, u64)>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (reason, n) in counts.filter(|(_, n)| *n > 0) {
        *out.entry(end_reason::name(reason).to_string()).or_default() += n;
    }
    out
}

/// The reasons with packets, and the totals by outcome.
pub(crate) fn reason_rows(stats: &[(Reason, Counter)]) -> (Vec<ReasonCount>, Totals) {
    let mut totals = Totals::default();
    let mut rows = Vec::new();
    for (reason, c) in stats.iter().filter(|(_, c)| c.packets > 0) {
        let (action, total) = match reason.action() {
            xdp_action::TX => ("tx", &mut totals.forwarded),
            xdp_action::REDIRECT => ("redirect", &mut totals.forwarded),
            xdp_action::PASS => ("pass", &mut totals.passed),
            _ => ("drop", &mut totals.dropped),
        };
        total.packets += c.packets;
        total.bytes += c.bytes;
        rows.push(ReasonCount {
            reason: reason.name().into(),
            action: action.into(),
            packets: c.packets,
            bytes: c.bytes,
        });
    }
    (rows, totals)
}

/// The state shown for a flow.
pub(crate) fn state_name(state: FlowState) -> &'static str {
    match state {
        FlowState::Udp => "udp",
        FlowState::Icmp => "icmp",
        FlowState::TcpOpening => "opening",
        FlowState::TcpEstablished => "established",
        FlowState::TcpClosing => "closing",
    }
}

/// The flows that match `filter`, at `now_ns` (CLOCK_MONOTONIC), sorted by
/// service, then client.
pub(crate) fn flow_entries(
    flows: &[PairedFlow],
    plan: &Plan,
    now_ns: u64,
    filter: &FlowFilter,
) -> Vec<FlowEntry> {
    let ms = |ns: u64| ns / 1_000_000;
    let mut out: Vec<(u32, FlowEntry)> = flows
        .iter()
        .filter_map(|f| {
            let e = f.endpoints();
            let (client, vip, snat, backend) = (
                Endpoints::socket(e.client),
                Endpoints::socket(e.vip),
                Endpoints::socket(e.snat),
                Endpoints::socket(e.backend),
            );
            let service_id = f.forward.service_id;
            let service = plan
                .services
                .get(service_id as usize)
                .map_or("?", |s| s.name.as_str());
            if !filter.matches(service, client, backend, snat) {
                return None;
            }
            let last = [&f.forward, &f.reply]
                .iter()
                .map(|h| h.last_seen_ns.max(h.created_ns))
                .max()
                .unwrap_or(0);
            let created = f.forward.created_ns;
            let state = flow_state(f.proto(), f.forward.tcp_flags, f.reply.tcp_flags);
            Some((
                service_id,
                FlowEntry {
                    protocol: proto_name(f.proto()).into(),
                    service: service.into(),
                    client,
                    vip,
                    snat,
                    backend,
                    state: state_name(state).into(),
                    age_ms: ms(now_ns.saturating_sub(created)),
                    idle_ms: ms(now_ns.saturating_sub(last)),
                    to_backend: Count {
                        packets: f.forward.packets,
                        bytes: f.forward.bytes,
                    },
                    to_client: Count {
                        packets: f.reply.packets,
                        bytes: f.reply.bytes,
                    },
                },
            ))
        })
        .collect();
    out.sort_by_key(|(id, e)| (*id, *e.client.ip(), e.client.port(), e.protocol.clone()));
    out.into_iter().map(|(_, e)| e).collect()
}

/// Re-reads the service file through the reconciler (blocking).
fn reload(shared: &Shared) -> Response {
    let Some(reconciler) = shared.reconciler() else {
        return Response::Error {
            message: "this instance cannot reload".into(),
        };
    };
    match shared.reload() {
        Ok(plan) => {
            log::info!("reloaded {}", reconciler.file().display());
            Response::Reloaded(ReloadReport {
                file: reconciler.file().display().to_string(),
                services: plan.services.len(),
                backends: plan.backends().count(),
            })
        }
        Err(e) => {
            let message = format!("reload refused, nothing changed: {}", error_chain(&e));
            log::warn!("{message}");
            Response::Error { message }
        }
    }
}

/// The report of a running relay (`None` without names).
fn dns_report(shared: &Shared) -> Option<crate::dns::report::DnsReport> {
    let servers = shared.reconciler().map_or_else(
        || "unknown".to_string(),
        |r| crate::dns::Servers::of(&r.desired().config.dns_servers).to_string(),
    );
    crate::dns::report::report(servers, &shared.dns.snapshot())
}

#[cfg(test)]
mod tests;
