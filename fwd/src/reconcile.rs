//! Changing what is installed while flows run.
//!
//! What the relay should do ([`Desired`]: the service file, the attached
//! interfaces, the backends reported down) is turned into a [`Plan`] with
//! the same host checks as at start ([`plan_of`]), then installed in place
//! of the current one ([`apply`]): services and backends that did not change
//! keep their ids, so their flows and counters carry on; each changed
//! service switches to its new Maglev table in one map update. A desired
//! state that fails a check changes nothing. Reload, health checks and DNS
//! all go through [`replan`].

use std::{
    collections::{BTreeSet, HashSet},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use fwd_common::{Flow4, Flow4Key};
use log::warn;

use crate::{
    config::{Config, ConfigError},
    datapath::DatapathError,
    host::{self, AutoSnatError, HostError, HostFacts, Interface},
    ids::{Busy, IdsExhausted},
    plan::{Plan, UnresolvedSnat},
    state::Shared,
};

/// A backend of a service, as health checks and the file name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendRef {
    /// Service name.
    pub service: String,
    /// Backend address.
    pub addr: Ipv4Addr,
    /// Backend port (`None`: the VIP port is kept).
    pub port: Option<u16>,
}

/// What the relay should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The service file.
    pub config: Config,
    /// The interfaces fwd is attached to.
    pub interfaces: Vec<Interface>,
    /// Backends that take no new flows because they are down.
    pub down: BTreeSet<BackendRef>,
    /// The current answer of each backend name of the file (written by
    /// the DNS task, [`crate::dns::run`]); each address is a backend.
    pub resolved: crate::dns::Answers,
}

/// Why a desired state was not installed (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The host could not be examined, or a check failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A backend's SNAT address could not be found.
    #[error(transparent)]
    Snat(#[from] UnresolvedSnat<AutoSnatError>),
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

/// Builds the plan of `desired`, after the host checks `fwd attach` makes
/// at start (warnings are logged). Named backends are replaced by the
/// addresses of their answers ([`crate::dns::expand`]), which are checked
/// like the file's. Backends in `desired.down` get weight 0.
pub fn plan_of(desired: &Desired) -> Result<Plan, ApplyError> {
    let (config, skipped) = crate::dns::expand(&desired.config, &desired.resolved);
    for s in &skipped {
        warn!("dns: {s}");
    }
    let facts = HostFacts::gather(&config)?;
    let warnings = host::preflight(&config, &facts, &desired.interfaces)
        .map_err(|problems| HostError::Checks { problems })?;
    for w in &warnings {
        warn!("{w}");
    }
    let mut plan = Plan::build(&config, |b| facts.auto_snat(b))?;
    for s in &mut plan.services {
        for b in &mut s.backends {
            let r = BackendRef {
                service: s.name.clone(),
                addr: b.addr,
                port: b.port,
            };
            if desired.down.contains(&r) {
                b.weight = 0;
            }
        }
    }
    Ok(plan)
}

/// The ids live flows refer to.
pub fn busy(flows: &[(Flow4Key, Flow4)]) -> Busy {
    let mut busy = Busy::default();
    for (_, f) in flows {
        busy.services.insert(f.service_id);
        busy.backends.insert(f.backend_id);
    }
    busy
}

/// Installs `next` in place of the current plan (see the module
/// documentation). Blocking: map reads and writes.
pub fn apply(shared: &Shared, next: Plan) -> Result<Arc<Plan>, ApplyError> {
    let current = shared.plan();
    if next.settings.max_flows != current.settings.max_flows {
        return Err(ApplyError::NeedsRestart { key: "max_flows" });
    }
    if next.settings.max_services != current.settings.max_services {
        return Err(ApplyError::NeedsRestart {
            key: "max_services",
        });
    }
    let mut dp = shared.datapath();
    let busy = busy(&dp.flows()?);
    let mut book = shared.ids().clone();
    let plan = book.assign(next, &busy)?;
    let old: HashSet<u32> = current
        .services
        .iter()
        .flat_map(|s| s.backends.iter().map(|b| b.id))
        .collect();
    // A backend id new to the plan starts its counters from zero before
    // any flow can reach it.
    for (_, b) in plan.backends().filter(|(_, b)| !old.contains(&b.id)) {
        dp.reset_backend_stats(b.id)?;
    }
    dp.set_relay_config(&plan.settings)?;
    dp.install(&plan)?;
    *shared.ids() = book;
    drop(dp);
    Ok(shared.set_plan(plan))
}

/// Serialises changes of the desired state.
#[derive(Debug)]
pub struct Reconciler {
    desired: Mutex<Desired>,
    /// The service file, read again on reload.
    file: PathBuf,
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
    Dns(#[from] crate::dns::StartError),
}

impl Reconciler {
    /// The reconciler of a relay started with `desired`, read from `file`.
    pub fn new(desired: Desired, file: PathBuf) -> Reconciler {
        Reconciler {
            desired: Mutex::new(desired),
            file,
        }
    }

    /// Reads the service file again and installs it (SIGHUP, `fwd reload`):
    /// validated whole first, then checked against the host, then applied;
    /// on any error nothing changes. Blocking.
    pub fn reload(&self, shared: &Shared) -> Result<Arc<Plan>, ReloadError> {
        let config = Config::load(&self.file).map_err(|source| ReloadError::Config {
            file: self.file.clone(),
            source,
        })?;
        for w in &config.warnings {
            warn!("{}: {w}", self.file.display());
        }
        // Names new to the file are resolved first (one that does not
        // resolve refuses the reload); known names keep their answers.
        let new = crate::dns::resolve_new_blocking(&config, &self.desired().resolved)?;
        let plan = self.replan(shared, |d| {
            d.config = config;
            d.resolved.extend(crate::dns::answers_of(&new));
        })?;
        for (name, answer) in &new {
            shared.dns().record_answer(name, answer);
        }
        shared.dns().wake();
        Ok(plan)
    }

    /// The service file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The desired state now.
    pub fn desired(&self) -> Desired {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the desired state with `change` and installs its plan; on
    /// error nothing changes (neither the desired state nor the datapath).
    /// Blocking (host checks, map writes): call from a blocking thread.
    pub fn replan(
        &self,
        shared: &Shared,
        change: impl FnOnce(&mut Desired),
    ) -> Result<Arc<Plan>, ApplyError> {
        let mut desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = desired.clone();
        change(&mut next);
        let plan = apply(shared, plan_of(&next)?)?;
        *desired = next;
        Ok(plan)
    }
}
