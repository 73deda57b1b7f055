//! One scrape's worth of numbers, read from the running relay at scrape
//! time: the datapath's per-CPU counters (summed over CPUs by
//! [`crate::datapath::Datapath`]), the connection table, and the counters
//! kept in userspace ([`Shared`]). Nothing is copied on a timer.
//!
//! Reading takes the datapath lock twice, briefly: once for the counters,
//! once for the connection table.

use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv4Addr,
};

use fwd_common::{
    flow::{DIR_FORWARD, DIR_REPLY},
    BackendStats, Counter, Flow4, Flow4Key, Reason,
};

use super::{
    labels::{backend_label, snat_capacity},
    process::ProcessSample,
};
use crate::{
    datapath::{AttachedMode, DatapathError},
    dns::NameStatus,
    flows::ended_by_datapath,
    health::HealthSnapshot,
    state::{ClosedKey, GcTotals, HeldTotals, Shared},
    text::error_chain,
};

/// Counters of one backend of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendSample {
    /// Service name.
    pub service: String,
    /// Service id.
    pub service_id: u32,
    /// The `backend` label ([`backend_label`]).
    pub backend: String,
    /// Backend id.
    pub backend_id: u32,
    /// The service's protocols.
    pub protocols: Vec<u8>,
    /// Packets, bytes and flows created, summed over CPUs.
    pub stats: BackendStats,
}

/// The reasons counted on one attached interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSample {
    /// Interface name.
    pub name: String,
    /// XDP mode in use.
    pub mode: AttachedMode,
    /// Packets and frame bytes of every reason.
    pub reasons: Vec<(Reason, Counter)>,
}

/// What the connection table holds, counted at scrape time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// Entries (two per flow).
    pub entries: u64,
    /// Flows not yet ended, by (service id, backend id, protocol): forward
    /// halves whose TCP connection has not seen a RST or a FIN both ways.
    pub active: HashMap<(u32, u32, u8), u64>,
    /// Reply halves (each holds one SNAT port) by SNAT address.
    pub snat_ports_in_use: BTreeMap<Ipv4Addr, u64>,
}

impl TableCounts {
    /// Counts the entries of `CT4`.
    ///
    /// A TCP flow has ended (and is counted as closed by the flow-event
    /// consumer) once a RST went either way or a FIN went both ways
    /// ([`ended_by_datapath`]); it stays in the table until the GC expires
    /// it, still holding its SNAT port, but it is no longer active.
    pub fn count(entries: &[(Flow4Key, Flow4)]) -> TableCounts {
        let index: HashMap<&Flow4Key, &Flow4> = entries.iter().map(|(k, v)| (k, v)).collect();
        let mut out = TableCounts {
            entries: entries.len() as u64,
            ..Default::default()
        };
        for (key, half) in entries {
            match half.direction {
                DIR_FORWARD => {
                    let reply_flags = index
                        .get(&half.other_key(key.proto))
                        .map_or(0, |r| r.tcp_flags);
                    if ended_by_datapath(key.proto, half.tcp_flags, reply_flags) {
                        continue;
                    }
                    *out.active
                        .entry((half.service_id, half.backend_id, key.proto))
                        .or_default() += 1;
                }
                DIR_REPLY => {
                    // The reply half is keyed backend -> SNAT address:port.
                    let snat = fwd_common::addr4_from_raw(key.dst_addr);
                    *out.snat_ports_in_use.entry(snat).or_default() += 1;
                }
                _ => {}
            }
        }
        out
    }
}

/// SNAT ports of one SNAT address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnatSample {
    /// The SNAT address.
    pub addr: Ipv4Addr,
    /// Ports held by flows in the table.
    pub in_use: u64,
    /// Flows the address can hold ([`snat_capacity`]).
    pub capacity: u64,
}

/// Everything one scrape exports.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The version of this fwd.
    pub version: &'static str,
    /// Every backend of every service, in id order.
    pub backends: Vec<BackendSample>,
    /// Every attached interface.
    pub interfaces: Vec<InterfaceSample>,
    /// Reasons summed over interfaces.
    pub reasons: Vec<(Reason, Counter)>,
    /// The connection table.
    pub table: TableCounts,
    /// Size of the connection table, in entries.
    pub table_capacity: u64,
    /// SNAT ports, by SNAT address of the plan.
    pub snat: Vec<SnatSample>,
    /// Flows closed, by service, backend, protocol and reason.
    pub closed: BTreeMap<ClosedKey, u64>,
    /// Flow events the datapath could not queue.
    pub events_lost: u64,
    /// GC totals.
    pub gc: GcTotals,
    /// What became of held fragments.
    pub held: HeldTotals,
    /// Backend names: answers and failures, by name.
    pub dns: BTreeMap<String, NameStatus>,
    /// Health of the checked backends, and the unchecked services.
    pub health: HealthSnapshot,
    /// The process's own numbers (`None` if `/proc` could not be read).
    pub process: Option<ProcessSample>,
}

impl Snapshot {
    /// Reads every number from the running relay.
    pub fn read(shared: &Shared) -> Result<Snapshot, DatapathError> {
        let plan = &shared.plan();
        let (stats, reasons, per_interface, events_lost, table_capacity) = {
            let dp = shared.datapath();
            let stats = plan
                .backends()
                .map(|(_, b)| dp.backend_stats(b.id))
                .collect::<Result<Vec<_>, _>>()?;
            (
                stats,
                dp.reason_stats()?,
                dp.interface_reason_stats()?,
                dp.events_lost()?,
                u64::from(dp.flow_capacity()),
            )
        };
        let entries = shared.datapath().flows()?;
        let table = TableCounts::count(&entries);
        drop(entries);

        let backends = plan
            .backends()
            .zip(stats)
            .map(|((s, b), stats)| BackendSample {
                service: s.name.clone(),
                service_id: s.id,
                backend: backend_label(b),
                backend_id: b.id,
                protocols: s.protocols.clone(),
                stats,
            })
            .collect();
        let interfaces = shared
            .interfaces
            .iter()
            .filter_map(|i| {
                let counted = per_interface.iter().find(|c| c.ifindex == i.ifindex)?;
                Some(InterfaceSample {
                    name: i.name.clone(),
                    mode: i.mode,
                    reasons: counted.reasons.clone(),
                })
            })
            .collect();
        let snat = snat_capacity(plan)
            .into_iter()
            .map(|(addr, capacity)| SnatSample {
                addr,
                in_use: table.snat_ports_in_use.get(&addr).copied().unwrap_or(0),
                capacity,
            })
            .collect();
        let process = ProcessSample::read()
            .map_err(|e| log::debug!("metrics: process: {}", error_chain(&e)))
            .ok();
        Ok(Snapshot {
            version: env!("CARGO_PKG_VERSION"),
            backends,
            interfaces,
            reasons,
            table,
            table_capacity,
            snat,
            closed: shared.counters.flows_closed(),
            events_lost,
            gc: shared.counters.gc_totals(),
            held: shared.counters.held_totals(),
            dns: shared.dns.snapshot(),
            health: shared.health.snapshot(),
            process,
        })
    }

    /// Packets dropped because every SNAT port tried was taken.
    pub fn snat_allocation_failures(&self) -> u64 {
        self.reasons
            .iter()
            .find(|(r, _)| *r == Reason::DropSnatExhausted)
            .map_or(0, |(_, c)| c.packets)
    }
}

#[cfg(test)]
mod tests {
    use fwd_common::{flow::tcp_flags, IPPROTO_TCP, IPPROTO_UDP};

    use super::*;
    use crate::testing::{sa, TestFlow};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 100, 1);
    const SNAT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
    const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);

    /// Both halves of a flow from client port `cport` through SNAT port
    /// `sport`, with the TCP flags each half saw.
    fn flow(
        proto: u8,
        cport: u16,
        sport: u16,
        backend_id: u32,
        fwd_flags: u8,
        rev_flags: u8,
    ) -> [(Flow4Key, Flow4); 2] {
        TestFlow {
            backend_id,
            service_id: 3,
            tcp_flags: [fwd_flags, rev_flags],
            ..TestFlow::new(
                proto,
                sa(CLIENT, cport),
                sa(VIP, 80),
                sa(SNAT, sport),
                sa(BACKEND, 80),
            )
        }
        .halves()
    }

    #[test]
    fn active_flows_and_snat_ports_from_the_table() {
        use tcp_flags::*;
        let mut entries = Vec::new();
        entries.extend(flow(IPPROTO_TCP, 40_000, 20_000, 7, SYN | ACK, SYN | ACK));
        entries.extend(flow(IPPROTO_TCP, 40_001, 20_001, 7, SYN, 0));
        // Half-closed: still active.
        entries.extend(flow(
            IPPROTO_TCP,
            40_002,
            20_002,
            7,
            SYN | ACK | FIN,
            SYN | ACK,
        ));
        // Ended: FIN both ways, and a RST; in the table, not active.
        entries.extend(flow(
            IPPROTO_TCP,
            40_003,
            20_003,
            7,
            SYN | ACK | FIN,
            SYN | ACK | FIN,
        ));
        entries.extend(flow(IPPROTO_TCP, 40_004, 20_004, 8, SYN, RST));
        entries.extend(flow(IPPROTO_UDP, 40_000, 20_000, 7, 0, 0));
        let counts = TableCounts::count(&entries);
        assert_eq!(counts.entries, 12);
        assert_eq!(counts.active.get(&(3, 7, IPPROTO_TCP)), Some(&3));
        assert_eq!(counts.active.get(&(3, 8, IPPROTO_TCP)), None);
        assert_eq!(counts.active.get(&(3, 7, IPPROTO_UDP)), Some(&1));
        // Every reply half holds a port, ended flows included.
        assert_eq!(counts.snat_ports_in_use.get(&SNAT), Some(&6));
        assert_eq!(counts.snat_ports_in_use.len(), 1);
    }

    #[test]
    fn a_lone_forward_half_counts_by_its_own_flags() {
        let [forward, _] = flow(IPPROTO_TCP, 40_000, 20_000, 1, tcp_flags::SYN, 0);
        let counts = TableCounts::count(&[forward]);
        assert_eq!(counts.active.get(&(3, 1, IPPROTO_TCP)), Some(&1));
        assert!(counts.snat_ports_in_use.is_empty());
        assert_eq!(TableCounts::count(&[]), TableCounts::default());
    }
}
