//! Encodes a [`Snapshot`] with prometheus-client: every metric family fwd
//! exports, its name, type, help and labels. README.md ("Metrics") lists the
//! same families; keep the two in step.
//!
//! Names follow the Prometheus conventions: `fwd_` prefix, base units,
//! counters end in `_total` (prometheus-client appends it, so counter
//! families are declared without it) and byte counts in `_bytes` (declared
//! with [`Unit::Bytes`]).

use std::fmt;

use fwd_common::events::end_reason;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::Unit,
};

use super::{
    labels::{action_label, protocol_label, END_REASONS, TO_BACKEND, TO_CLIENT},
    snapshot::{BackendSample, Snapshot},
};
use crate::{dns::NameStatus, state::ClosedKey};

mod health;

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        encode_backends(self, &mut enc)?;
        encode_flows(self, &mut enc)?;
        encode_datapath(self, &mut enc)?;
        encode_tables(self, &mut enc)?;
        encode_userspace(self, &mut enc)?;
        health::encode_health(self, &mut enc)?;
        encode_dns(self, &mut enc)?;
        encode_process(self, &mut enc)
    }
}

/// One family of counters, one sample per label set.
fn counters<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One family of gauges, one sample per label set.
fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A family with one unlabelled sample.
fn single(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    let family = enc.encode_descriptor(name, help, unit, metric.metric_type())?;
    metric.encode(family)
}

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

fn direction_labels<'a>(b: &'a BackendSample, direction: &'static str) -> Labels<'a, 3> {
    [
        ("service", &b.service),
        ("backend", &b.backend),
        ("direction", direction),
    ]
}

fn encode_backends(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    let per_direction = |pick: fn(&fwd_common::Counter) -> u64| {
        s.backends.iter().flat_map(move |b| {
            [
                (direction_labels(b, TO_BACKEND), pick(&b.stats.to_backend)),
                (direction_labels(b, TO_CLIENT), pick(&b.stats.to_client)),
            ]
        })
    };
    counters(
        enc,
        "fwd_backend_packets",
        "Packets relayed per service, backend and direction.",
        None,
        per_direction(|c| c.packets),
    )?;
    counters(
        enc,
        "fwd_backend",
        "IPv4 bytes (IP header included) relayed per service, backend and direction.",
        Some(&Unit::Bytes),
        per_direction(|c| c.bytes),
    )
}

fn protocol_labels(b: &BackendSample, proto: u8) -> Labels<'_, 3> {
    [
        ("service", &b.service),
        ("backend", &b.backend),
        ("protocol", protocol_label(proto)),
    ]
}

/// Each backend with each protocol of its service.
fn per_protocol(b: &BackendSample) -> impl Iterator<Item = (&BackendSample, u8)> {
    b.protocols.iter().map(move |&p| (b, p))
}

fn encode_flows(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    counters(
        enc,
        "fwd_flows_created",
        "Flows created per service, backend and protocol.",
        None,
        s.backends.iter().flat_map(per_protocol).map(|(b, p)| {
            let created = match p {
                fwd_common::IPPROTO_TCP => b.stats.flows_created_tcp,
                _ => b.stats.flows_created_udp,
            };
            (protocol_labels(b, p), created)
        }),
    )?;
    gauges(
        enc,
        "fwd_flows_active",
        "Flows in the connection table that have not ended, per service, backend and protocol.",
        None,
        s.backends.iter().flat_map(per_protocol).map(|(b, p)| {
            let key = (b.service_id, b.backend_id, p);
            (
                protocol_labels(b, p),
                s.table.active.get(&key).copied().unwrap_or(0),
            )
        }),
    )?;
    counters(
        enc,
        "fwd_flows_closed",
        "Flows ended per service, backend, protocol and reason (fin, rst, timeout, evicted, \
         backend_down).",
        None,
        s.backends
            .iter()
            .flat_map(per_protocol)
            .flat_map(|(b, p)| END_REASONS.iter().map(move |&r| (b, p, r)))
            .filter(|&(_, p, r)| ends_with(p, r))
            .map(|(b, p, reason)| {
                let key = ClosedKey {
                    service_id: b.service_id,
                    backend_id: b.backend_id,
                    proto: p,
                    reason,
                };
                let [service, backend, protocol] = protocol_labels(b, p);
                (
                    [
                        service,
                        backend,
                        protocol,
                        ("reason", end_reason::name(reason)),
                    ],
                    s.closed.get(&key).copied().unwrap_or(0),
                )
            }),
    )
}

/// Whether a flow of protocol `proto` can end with `reason` (FIN and RST
/// are TCP's).
fn ends_with(proto: u8, reason: u8) -> bool {
    proto == fwd_common::IPPROTO_TCP || !matches!(reason, end_reason::FIN | end_reason::RST)
}

fn encode_datapath(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    let per_reason = |pick: fn(&fwd_common::Counter) -> u64| {
        s.interfaces.iter().flat_map(move |i| {
            i.reasons.iter().map(move |(r, c)| {
                (
                    [
                        ("interface", i.name.as_str()),
                        ("reason", r.name()),
                        ("action", action_label(*r)),
                    ],
                    pick(c),
                )
            })
        })
    };
    counters(
        enc,
        "fwd_datapath_packets",
        "Packets the XDP program handled per attached interface, reason and XDP action.",
        None,
        per_reason(|c| c.packets),
    )?;
    counters(
        enc,
        "fwd_datapath",
        "Frame bytes (Ethernet header included) the XDP program handled per attached \
         interface, reason and XDP action.",
        Some(&Unit::Bytes),
        per_reason(|c| c.bytes),
    )?;
    let modes: Vec<String> = s.interfaces.iter().map(|i| i.mode.to_string()).collect();
    gauges(
        enc,
        "fwd_interface_info",
        "Interfaces the XDP program is attached to, and the XDP mode (native, generic); always 1.",
        None,
        s.interfaces
            .iter()
            .zip(&modes)
            .map(|(i, m)| ([("interface", i.name.as_str()), ("mode", m.as_str())], 1u64)),
    )
}

fn encode_tables(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    single(
        enc,
        "fwd_conntrack_entries",
        "Entries in the connection table (two per flow).",
        None,
        &ConstGauge::new(s.table.entries),
    )?;
    single(
        enc,
        "fwd_conntrack_entries_limit",
        "Size of the connection table in entries (two per flow; max_flows * 2).",
        None,
        &ConstGauge::new(s.table_capacity),
    )?;
    let addrs: Vec<String> = s.snat.iter().map(|n| n.addr.to_string()).collect();
    gauges(
        enc,
        "fwd_snat_ports_in_use",
        "SNAT ports held by flows in the connection table, per SNAT address.",
        None,
        s.snat
            .iter()
            .zip(&addrs)
            .map(|(n, a)| ([("snat_address", a.as_str())], n.in_use)),
    )?;
    gauges(
        enc,
        "fwd_snat_ports_limit",
        "Flows a SNAT address can hold: ports in snat_ports times the distinct (backend \
         address, backend port, protocol) using it.",
        None,
        s.snat
            .iter()
            .zip(&addrs)
            .map(|(n, a)| ([("snat_address", a.as_str())], n.capacity)),
    )?;
    single(
        enc,
        "fwd_snat_allocation_failures",
        "New-flow packets dropped because every SNAT port tried was taken (reason \
         drop_snat_exhausted).",
        None,
        &ConstCounter::new(s.snat_allocation_failures()),
    )
}

fn encode_userspace(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    single(
        enc,
        "fwd_flow_events_lost",
        "Flow start/end events the datapath could not queue because the ring buffer was full.",
        None,
        &ConstCounter::new(s.events_lost),
    )?;
    single(
        enc,
        "fwd_gc_runs",
        "Runs of the idle-flow expiry.",
        None,
        &ConstCounter::new(s.gc.runs),
    )?;
    let sum = &s.gc.sum;
    counters(
        enc,
        "fwd_gc_expired",
        "Connection-table deletions by the idle-flow expiry: flows idle past their timeout, \
         opening flows evicted when the table was nearly full, lone halves.",
        None,
        [
            ([("cause", "timeout")], sum.expired_timeout),
            ([("cause", "pressure")], sum.expired_pressure),
            ([("cause", "orphan")], sum.orphans),
        ],
    )?;
    let held = &s.held;
    counters(
        enc,
        "fwd_held_fragments",
        "Fragments the datapath held because they came before their first (reason \
         held_fragment), by what became of them: run through the program again when the \
         first came, dropped when it did not come in 30 s, refused because the loader held \
         too many already.",
        None,
        [
            ([("outcome", "rerun")], held.rerun),
            ([("outcome", "expired")], held.expired),
            ([("outcome", "refused")], held.refused),
        ],
    )?;
    single(
        enc,
        "fwd_fragmented_datagrams_expired",
        "Entries of fragmented datagrams deleted 30 s after they were made (a datagram's \
         entry is deleted by the datapath once all its bytes were seen).",
        None,
        &ConstCounter::new(held.datagrams_expired),
    )?;
    gauges(
        enc,
        "fwd_build_info",
        "The version of fwd; always 1.",
        None,
        [([("version", s.version)], 1u64)],
    )
}

/// Backend names, one sample per (service, name); nothing without names.
fn encode_dns(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    if s.dns.is_empty() {
        return Ok(());
    }
    let per_service = |pick: fn(&NameStatus) -> u64| {
        s.dns.iter().flat_map(move |(name, st)| {
            st.services.iter().map(move |svc| {
                (
                    [("service", svc.as_str()), ("name", name.as_str())],
                    pick(st),
                )
            })
        })
    };
    counters(
        enc,
        "fwd_dns_resolution_failures",
        "Failed resolutions of a backend name (no answer, an error, or no IPv4 address); \
         the last good answer stays in use.",
        None,
        per_service(|st| st.failures),
    )?;
    counters(
        enc,
        "fwd_dns_resolutions",
        "Good answers for a backend name.",
        None,
        per_service(|st| st.resolutions),
    )?;
    gauges(
        enc,
        "fwd_dns_addresses",
        "Addresses in the answer in use for a backend name; each is a backend of the service.",
        None,
        per_service(|st| st.addrs.len() as u64),
    )
}

fn encode_process(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    let Some(p) = &s.process else {
        return Ok(());
    };
    single(
        enc,
        "process_cpu",
        "Total user and system CPU time spent in seconds.",
        Some(&Unit::Seconds),
        &ConstCounter::new(p.cpu_seconds),
    )?;
    single(
        enc,
        "process_resident_memory",
        "Resident memory size in bytes.",
        Some(&Unit::Bytes),
        &ConstGauge::new(p.resident_memory_bytes),
    )?;
    single(
        enc,
        "process_virtual_memory",
        "Virtual memory size in bytes.",
        Some(&Unit::Bytes),
        &ConstGauge::new(p.virtual_memory_bytes),
    )?;
    single(
        enc,
        "process_open_fds",
        "Number of open file descriptors.",
        None,
        &ConstGauge::new(p.open_fds),
    )?;
    single(
        enc,
        "process_max_fds",
        "Maximum number of open file descriptors.",
        None,
        &ConstGauge::new(p.max_fds),
    )?;
    single(
        enc,
        "process_start_time",
        "Start time of the process since unix epoch in seconds.",
        Some(&Unit::Seconds),
        &ConstGauge::new(p.start_time_seconds),
    )
}
