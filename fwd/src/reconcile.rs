//! Changing what is installed while flows run.
//!
//! What the relay should do ([`Desired`]: the service file, the attached
//! interfaces, the backends reported down, the names' answers) is turned
//! into a [`Plan`] by the same pipeline as at start
//! ([`crate::pipeline::plan_of`]), then installed in place of the current
//! one ([`Installed::apply`]): services and backends that did not change
//! keep their ids, so their flows and counters carry on; each changed
//! service switches to its new Maglev table in one map update. A desired
//! state that fails a check changes nothing. Reload, health checks and DNS
//! all go through [`Reconciler::replan`].
//!
//! [`change`] decides a change (pure: the settings that cannot change, the
//! ids, the counters to reset); [`Installed::apply`] carries it out.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, RwLock},
};

use fwd_common::{Flow4, Flow4Key};
use log::warn;

use crate::{
    config::{Config, ConfigError},
    datapath::{Datapath, DatapathError},
    dns::{self, Resolved},
    ids::{Busy, IdBook, IdsExhausted},
    pipeline::{self, Desired, PlanError},
    plan::Plan,
};

/// Why a desired state was not installed (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The host could not be examined, a check failed, or a backend has no
    /// SNAT address.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A setting that sizes the datapath's tables changed.
    #[error("[relay] {key} cannot change while fwd runs (the tables are sized at start): restart fwd to use it")]
    NeedsRestart {
        /// The setting.
        key: &'static str,
    },
    /// No id left for a new service or backend.
    #[error(transparent)]
    Ids(#[from] IdsExhausted),
    /// The datapath refused the change.
    #[error("installing the change")]
    Datapath(#[from] DatapathError),
}

/// The ids live flows refer to.
pub(crate) fn busy(flows: &[(Flow4Key, Flow4)]) -> Busy {
    let mut busy = Busy::default();
    for (_, f) in flows {
        busy.services.insert(f.service_id);
        busy.backends.insert(f.backend_id);
    }
    busy
}

/// A decided change: what to install and what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// The plan with its final ids.
    pub plan: Plan,
    /// The ids book once the plan is installed.
    pub book: IdBook,
    /// Backend ids new to the plan: their counters start from zero before
    /// any flow can reach them.
    pub fresh_backends: Vec<u32>,
}

/// Decides how `next` replaces `current` (pure): refuses a change of a
/// setting that sizes the tables, gives ids with `book` (ids of live
/// flows, `busy`, are not reused), and lists the backend ids that are new.
pub(crate) fn change(
    current: &Plan,
    next: Plan,
    book: &IdBook,
    busy: &Busy,
) -> Result<Change, ApplyError> {
    if next.settings.max_flows != current.settings.max_flows {
        return Err(ApplyError::NeedsRestart { key: "max_flows" });
    }
    if next.settings.max_services != current.settings.max_services {
        return Err(ApplyError::NeedsRestart {
            key: "max_services",
        });
    }
    let mut book = book.clone();
    let plan = book.assign(next, busy)?;
    let old: HashSet<u32> = current.backends().map(|(_, b)| b.id).collect();
    let fresh_backends = plan
        .backends()
        .map(|(_, b)| b.id)
        .filter(|id| !old.contains(id))
        .collect();
    Ok(Change {
        plan,
        book,
        fresh_backends,
    })
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// every critical section here leaves the data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The datapath and what is installed in it: the plan and the ids given
/// to its services and backends. The datapath lock is held only while
/// reading or writing maps, never across an await.
pub struct Installed {
    datapath: Mutex<Datapath>,
    /// Replaced whole by [`Installed::apply`].
    plan: RwLock<Arc<Plan>>,
    ids: Mutex<IdBook>,
}

impl Installed {
    /// A datapath into which `plan` is installed.
    pub fn new(datapath: Datapath, plan: Plan) -> Installed {
        Installed {
            datapath: Mutex::new(datapath),
            ids: Mutex::new(IdBook::of(&plan)),
            plan: RwLock::new(Arc::new(plan)),
        }
    }

    /// The plan installed now.
    pub fn plan(&self) -> Arc<Plan> {
        Arc::clone(
            &self
                .plan
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The datapath, locked. Keep the guard short and never across an await.
    pub fn datapath(&self) -> MutexGuard<'_, Datapath> {
        lock(&self.datapath)
    }

    /// Takes the datapath back (at shutdown, to detach).
    pub fn into_datapath(self) -> Datapath {
        self.datapath
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Installs `next` in place of the current plan (see the module
    /// documentation). Blocking: map reads and writes.
    pub fn apply(&self, next: Plan) -> Result<Arc<Plan>, ApplyError> {
        let mut dp = self.datapath();
        let busy = busy(&dp.flows()?);
        let change = change(&self.plan(), next, &lock(&self.ids), &busy)?;
        for &id in &change.fresh_backends {
            dp.reset_backend_stats(id)?;
        }
        dp.set_relay_config(&change.plan.settings)?;
        dp.install(&change.plan)?;
        *lock(&self.ids) = change.book;
        drop(dp);
        let plan = Arc::new(change.plan);
        *self
            .plan
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&plan);
        Ok(plan)
    }
}

/// Where a plan is installed: [`Installed`], or a recorder in tests.
pub trait Install {
    /// Installs `plan` in place of the current one; on error nothing
    /// changed.
    fn install(&self, plan: Plan) -> Result<Arc<Plan>, ApplyError>;
}

impl Install for Installed {
    fn install(&self, plan: Plan) -> Result<Arc<Plan>, ApplyError> {
        self.apply(plan)
    }
}

/// How a desired state becomes a plan: [`pipeline::plan_of`] (the host's
/// facts), or facts built by hand in tests.
pub(crate) type Planner = fn(&Desired) -> Result<Plan, PlanError>;

/// Serialises changes of the desired state.
#[derive(Debug)]
pub struct Reconciler {
    desired: Mutex<Desired>,
    /// The service file, read again on reload.
    file: PathBuf,
    planner: Planner,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is unreadable or invalid.
    #[error("{}", file.display())]
    Config {
        /// The file.
        file: PathBuf,
        /// What is wrong, with line and column.
        #[source]
        source: ConfigError,
    },
    /// The file is valid, but the host checks or the datapath refused it.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A backend name new to the file does not resolve.
    #[error(transparent)]
    Dns(#[from] dns::StartError),
    /// This instance was started without a reconciler.
    #[error("this instance cannot reload")]
    NoReconciler,
}

/// What a reload installed.
#[derive(Debug)]
pub struct Reloaded {
    /// The plan now installed.
    pub plan: Arc<Plan>,
    /// The answers of the names new to the file (already in the desired
    /// state; for the DNS status).
    pub new_names: Resolved,
}

impl Reconciler {
    /// The reconciler of a relay started with `desired`, read from `file`;
    /// plans with the host's facts.
    pub fn new(desired: Desired, file: PathBuf) -> Reconciler {
        Reconciler::with_planner(desired, file, pipeline::plan_of)
    }

    /// A reconciler that plans with `planner`.
    pub fn with_planner(desired: Desired, file: PathBuf, planner: Planner) -> Reconciler {
        Reconciler {
            desired: Mutex::new(desired),
            file,
            planner,
        }
    }

    /// Reads the service file again and installs it (SIGHUP, `fwd reload`):
    /// validated whole first, then checked against the host, then applied;
    /// on any error nothing changes. Blocking.
    pub fn reload(&self, to: &impl Install) -> Result<Reloaded, ReloadError> {
        let config = Config::load(&self.file).map_err(|source| ReloadError::Config {
            file: self.file.clone(),
            source,
        })?;
        for w in &config.warnings {
            warn!("{}: {w}", self.file.display());
        }
        // Names new to the file are resolved first (one that does not
        // resolve refuses the reload); known names keep their answers.
        let new_names = dns::resolve_new_blocking(&config, &self.desired().resolved)?;
        let plan = self.replan(to, |d| {
            d.config = config;
            d.resolved.extend(dns::answers_of(&new_names));
        })?;
        Ok(Reloaded { plan, new_names })
    }

    /// The service file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The desired state now.
    pub fn desired(&self) -> Desired {
        lock(&self.desired).clone()
    }

    /// Changes the desired state with `change` and installs its plan; on
    /// error nothing changes (neither the desired state nor the datapath).
    /// Blocking (host checks, map writes): call from a blocking thread.
    pub fn replan(
        &self,
        to: &impl Install,
        change: impl FnOnce(&mut Desired),
    ) -> Result<Arc<Plan>, ApplyError> {
        let mut desired = lock(&self.desired);
        let mut next = desired.clone();
        change(&mut next);
        let plan = to.install((self.planner)(&next)?)?;
        *desired = next;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests;
