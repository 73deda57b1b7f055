//! The counters kept in userspace: flows closed (by service, backend,
//! protocol and reason), the GC's totals and what became of held
//! fragments. Written by the flow sink, the GC task and the fragment
//! keeper; read by the metrics and `fwd status`.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use fwd_common::events::{end_reason, FlowEvent, EVENT_END};

use crate::gc::GcStats;

/// What a closed-flow counter is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClosedKey {
    /// Service id.
    pub service_id: u32,
    /// Backend id.
    pub backend_id: u32,
    /// IP protocol.
    pub proto: u8,
    /// One of `fwd_common::events::end_reason`.
    pub reason: u8,
}

/// Totals of the GC runs since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcTotals {
    /// Runs completed.
    pub runs: u64,
    /// Sum of every run's stats.
    pub sum: GcStats,
    /// The last run's stats.
    pub last: GcStats,
}

/// What became of the fragments the datapath held because they came
/// before their first (see `fwd_common::frag`), since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldTotals {
    /// Run through the program again once their first came.
    pub rerun: u64,
    /// Dropped: their first did not come in time.
    pub expired: u64,
    /// Dropped on arrival: the loader already held as many as it keeps.
    pub refused: u64,
    /// Entries of fragmented datagrams deleted after the timeout.
    pub datagrams_expired: u64,
}

impl HeldTotals {
    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &HeldTotals) {
        self.rerun += other.rerun;
        self.expired += other.expired;
        self.refused += other.refused;
        self.datagrams_expired += other.datagrams_expired;
    }
}

/// The userspace counters of a running relay.
#[derive(Debug, Default)]
pub struct Counters {
    closed: Mutex<BTreeMap<ClosedKey, u64>>,
    gc: Mutex<GcTotals>,
    held: Mutex<HeldTotals>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// every critical section here leaves the data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Counters {
    /// Counts `event` if it ends a flow for a known reason.
    pub fn record_event(&self, event: &FlowEvent) {
        if event.kind != EVENT_END || event.end_reason == end_reason::NONE {
            return;
        }
        let key = ClosedKey {
            service_id: event.service_id,
            backend_id: event.backend_id,
            proto: event.proto,
            reason: event.end_reason,
        };
        *lock(&self.closed).entry(key).or_default() += 1;
    }

    /// Flows closed so far, by service, backend, protocol and reason.
    pub fn flows_closed(&self) -> BTreeMap<ClosedKey, u64> {
        lock(&self.closed).clone()
    }

    /// Adds one GC run's stats.
    pub fn record_gc(&self, stats: &GcStats) {
        let mut totals = lock(&self.gc);
        totals.runs += 1;
        totals.sum.add(stats);
        totals.last = *stats;
    }

    /// The GC totals so far.
    pub fn gc_totals(&self) -> GcTotals {
        *lock(&self.gc)
    }

    /// Adds what became of some held fragments.
    pub fn record_held(&self, totals: &HeldTotals) {
        lock(&self.held).add(totals);
    }

    /// What became of the held fragments so far.
    pub fn held_totals(&self) -> HeldTotals {
        *lock(&self.held)
    }
}

#[cfg(test)]
mod tests {
    use fwd_common::{events::EVENT_START, IPPROTO_TCP, IPPROTO_UDP};

    use super::*;

    fn event(kind: u8, reason: u8, backend_id: u32, proto: u8) -> FlowEvent {
        FlowEvent {
            kind,
            end_reason: reason,
            service_id: 2,
            backend_id,
            proto,
            ..FlowEvent::default()
        }
    }

    #[test]
    fn counts_ends_by_service_backend_protocol_and_reason() {
        let c = Counters::default();
        c.record_event(&event(EVENT_END, end_reason::FIN, 7, IPPROTO_TCP));
        c.record_event(&event(EVENT_END, end_reason::FIN, 7, IPPROTO_TCP));
        c.record_event(&event(EVENT_END, end_reason::TIMEOUT, 7, IPPROTO_UDP));
        c.record_event(&event(EVENT_END, end_reason::FIN, 8, IPPROTO_TCP));
        let closed = c.flows_closed();
        let key = |backend_id, proto, reason| ClosedKey {
            service_id: 2,
            backend_id,
            proto,
            reason,
        };
        assert_eq!(closed.len(), 3);
        assert_eq!(closed[&key(7, IPPROTO_TCP, end_reason::FIN)], 2);
        assert_eq!(closed[&key(7, IPPROTO_UDP, end_reason::TIMEOUT)], 1);
        assert_eq!(closed[&key(8, IPPROTO_TCP, end_reason::FIN)], 1);
    }

    #[test]
    fn starts_and_ends_without_a_reason_are_not_counted() {
        let c = Counters::default();
        c.record_event(&event(EVENT_START, end_reason::NONE, 7, IPPROTO_TCP));
        c.record_event(&event(EVENT_END, end_reason::NONE, 7, IPPROTO_TCP));
        assert!(c.flows_closed().is_empty());
    }

    #[test]
    fn gc_totals_sum_every_run_and_keep_the_last() {
        let c = Counters::default();
        assert_eq!(c.gc_totals(), GcTotals::default());
        let run = |expired_timeout, orphans| GcStats {
            entries: 10,
            expired_timeout,
            orphans,
            ..GcStats::default()
        };
        c.record_gc(&run(3, 1));
        c.record_gc(&run(2, 0));
        let t = c.gc_totals();
        assert_eq!(t.runs, 2);
        assert_eq!(t.sum.entries, 20);
        assert_eq!(t.sum.expired_timeout, 5);
        assert_eq!(t.sum.orphans, 1);
        assert_eq!(t.last, run(2, 0));
    }
}
