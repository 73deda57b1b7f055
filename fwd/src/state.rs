//! State shared by the tasks of a running `fwd attach`: the datapath (the
//! only way to the maps), the installed plan, the attached interfaces, and
//! the counters kept in userspace (flows closed, GC totals).
//!
//! Owned as `Arc<Shared>` by the GC loop, the flow-event consumer, the
//! metrics server and the control socket. The datapath lock is held only
//! while reading or writing maps, never across an await.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock},
    time::SystemTime,
};

use fwd_common::events::{end_reason, FlowEvent, EVENT_END};

use crate::{
    control::protocol::StopRequest,
    datapath::{AttachedMode, Datapath},
    dns::DnsStatus,
    gc::GcStats,
    health::HealthBook,
    ids::IdBook,
    plan::Plan,
    reconcile::Reconciler,
};

/// An interface the program is attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedInterface {
    /// Interface name.
    pub name: String,
    /// Its ifindex.
    pub ifindex: u32,
    /// The XDP mode actually in use.
    pub mode: AttachedMode,
}

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

/// The state of a running relay.
pub struct Shared {
    datapath: Mutex<Datapath>,
    /// The installed plan (names of services, backend addresses); replaced
    /// whole by [`crate::apply`].
    plan: RwLock<Arc<Plan>>,
    /// The ids given to services and backends (see [`crate::ids`]).
    ids: Mutex<IdBook>,
    /// How changes (reload, health, DNS) reach the datapath; set once at
    /// start by `fwd attach`.
    reconciler: OnceLock<Reconciler>,
    /// Set when a stop was asked for over the control socket.
    stop: tokio::sync::watch::Sender<Option<StopRequest>>,
    /// Backend names: answers and failures ([`crate::dns`]).
    dns: DnsStatus,
    /// Health of the backends, and passive health's inbox
    /// ([`crate::health`]).
    health: HealthBook,
    /// The interfaces attached to.
    pub interfaces: Vec<AttachedInterface>,
    /// When this instance started.
    pub started: SystemTime,
    closed: Mutex<BTreeMap<ClosedKey, u64>>,
    gc: Mutex<GcTotals>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// every critical section here leaves the data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// State around a loaded, installed and attached datapath.
    pub fn new(datapath: Datapath, plan: Plan, interfaces: Vec<AttachedInterface>) -> Shared {
        Shared {
            datapath: Mutex::new(datapath),
            ids: Mutex::new(IdBook::of(&plan)),
            reconciler: OnceLock::new(),
            stop: tokio::sync::watch::channel(None).0,
            dns: DnsStatus::default(),
            health: HealthBook::default(),
            plan: RwLock::new(Arc::new(plan)),
            interfaces,
            started: SystemTime::now(),
            closed: Mutex::new(BTreeMap::new()),
            gc: Mutex::new(GcTotals::default()),
        }
    }

    /// The plan installed now.
    pub fn plan(&self) -> Arc<Plan> {
        Arc::clone(
            &self
                .plan
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Makes `plan` the installed plan (after the datapath has it).
    pub(crate) fn set_plan(&self, plan: Plan) -> Arc<Plan> {
        let plan = Arc::new(plan);
        *self
            .plan
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&plan);
        plan
    }

    /// Sets the reconciler (once; later calls are ignored).
    pub fn set_reconciler(&self, reconciler: Reconciler) {
        let _ = self.reconciler.set(reconciler);
    }

    /// The reconciler, when `fwd attach` set one.
    pub fn reconciler(&self) -> Option<&Reconciler> {
        self.reconciler.get()
    }

    /// Asks `fwd attach` to stop (see [`StopRequest`]).
    pub fn request_stop(&self, how: StopRequest) {
        self.stop.send_replace(Some(how));
    }

    /// Resolves when a stop is asked for, with how.
    pub async fn stop_requested(&self) -> StopRequest {
        let mut rx = self.stop.subscribe();
        loop {
            if let Some(how) = *rx.borrow_and_update() {
                return how;
            }
            if rx.changed().await.is_err() {
                return StopRequest::default();
            }
        }
    }

    /// What is known of the backend names (written by the DNS task).
    pub fn dns(&self) -> &DnsStatus {
        &self.dns
    }

    /// The health of the backends (written by the health task).
    pub fn health(&self) -> &HealthBook {
        &self.health
    }

    /// The ids book, locked.
    pub(crate) fn ids(&self) -> MutexGuard<'_, IdBook> {
        lock(&self.ids)
    }

    /// The datapath, locked. Keep the guard short and never across an await.
    pub fn datapath(&self) -> MutexGuard<'_, Datapath> {
        lock(&self.datapath)
    }

    /// Takes the datapath back (at shutdown, to detach).
    pub fn into_datapath(self) -> Datapath {
        self.datapath
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a flow end (from the datapath's ring buffer or from the GC);
    /// start events go to passive health.
    pub fn record_event(&self, event: &FlowEvent) {
        self.health.observe(event);
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
}
