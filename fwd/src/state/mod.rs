//! The state shared by the tasks of a running `fwd attach`: what is
//! installed ([`Installed`]: the datapath, the only way to the maps, the
//! plan and the ids), how it changes ([`Reconciler`]), the attached
//! interfaces, and the status that tasks write and the metrics and the
//! control socket read (DNS answers, health, counters, a stop request).
//!
//! Owned as `Arc<Shared>` by the tasks, the metrics server and the control
//! socket. A plain holder: the logic of each part lives in its own module.

mod counters;
mod stop;

use std::{
    sync::{Arc, MutexGuard, OnceLock},
    time::SystemTime,
};

use fwd_common::events::FlowEvent;

pub(crate) use self::{
    counters::{ClosedKey, Counters, GcTotals, HeldTotals},
    stop::{Stop, StopSignal},
};
use crate::{
    datapath::{AttachedMode, Datapath},
    dns::DnsStatus,
    health::HealthBook,
    plan::Plan,
    reconcile::{Installed, Reconciler, ReloadError},
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

/// The state of a running relay.
pub struct Shared {
    /// The datapath, the installed plan and its ids.
    pub installed: Installed,
    /// How changes (reload, health, DNS) reach the datapath; set once at
    /// start by `fwd attach`.
    reconciler: OnceLock<Reconciler>,
    /// A stop asked for over the control socket.
    pub stop: StopSignal,
    /// Backend names: answers and failures (written by the DNS task).
    pub dns: DnsStatus,
    /// Health of the backends, and passive health's inbox (written by the
    /// health task and the flow sink).
    pub health: HealthBook,
    /// Flows closed and GC totals.
    pub counters: Counters,
    /// The interfaces attached to.
    pub interfaces: Vec<AttachedInterface>,
    /// When this instance started.
    pub started: SystemTime,
}

impl Shared {
    /// State around a loaded, installed and attached datapath.
    pub fn new(datapath: Datapath, plan: Plan, interfaces: Vec<AttachedInterface>) -> Shared {
        Shared {
            installed: Installed::new(datapath, plan),
            reconciler: OnceLock::new(),
            stop: StopSignal::default(),
            dns: DnsStatus::default(),
            health: HealthBook::default(),
            counters: Counters::default(),
            interfaces,
            started: SystemTime::now(),
        }
    }

    /// The plan installed now.
    pub fn plan(&self) -> Arc<Plan> {
        self.installed.plan()
    }

    /// The datapath, locked. Keep the guard short and never across an await.
    pub fn datapath(&self) -> MutexGuard<'_, Datapath> {
        self.installed.datapath()
    }

    /// Takes the datapath back (at shutdown, to detach).
    pub fn into_datapath(self) -> Datapath {
        self.installed.into_datapath()
    }

    /// Sets the reconciler (once; later calls are ignored).
    pub fn set_reconciler(&self, reconciler: Reconciler) {
        let _ = self.reconciler.set(reconciler);
    }

    /// The reconciler, when `fwd attach` set one.
    pub fn reconciler(&self) -> Option<&Reconciler> {
        self.reconciler.get()
    }

    /// Reads the service file again and installs it (see
    /// [`Reconciler::reload`]), then records the answers of names new to
    /// the file and wakes the DNS task. Blocking.
    pub fn reload(&self) -> Result<Arc<Plan>, ReloadError> {
        let Some(reconciler) = self.reconciler() else {
            return Err(ReloadError::NoReconciler);
        };
        let reloaded = reconciler.reload(&self.installed)?;
        for (name, answer) in &reloaded.new_names {
            self.dns.record_answer(name, answer);
        }
        self.dns.wake();
        Ok(reloaded.plan)
    }

    /// A flow event (from the ring buffer, the GC or a health reset): start
    /// events feed passive health, ends are counted.
    pub fn record_event(&self, event: &FlowEvent) {
        self.health.observe(event);
        self.counters.record_event(event);
    }
}
