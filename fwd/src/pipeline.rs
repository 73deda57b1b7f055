//! The one way from a service file to a [`Plan`], used by `fwd check`,
//! `fwd attach` and every change while running (reload, health, DNS):
//!
//! 1. [`expand`]: backend names are replaced by the addresses of their
//!    current answers ([`crate::dns::expand`]); skipped addresses are logged;
//! 2. [`HostFacts::gather`]: the host's facts for the expanded file;
//! 3. [`plan`] (pure): the host checks ([`host::preflight`]), then
//!    [`Plan::build`], then the backends reported down get weight 0.
//!
//! [`plan_of`] runs the three for a [`Desired`] state; `fwd check` runs the
//! first two and reports what it found.

use std::collections::BTreeSet;

use log::warn;

use crate::{
    config::Config,
    dns::{self, Answers},
    host::{self, AutoSnatError, HostError, HostFacts, HostWarning, Interface},
    plan::{BackendRef, Plan, UnresolvedSnat},
};

/// What the relay should do now: the input of the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The service file.
    pub config: Config,
    /// The interfaces fwd is attached to.
    pub interfaces: Vec<Interface>,
    /// Backends that take no new flows because they are down.
    pub down: BTreeSet<BackendRef>,
    /// The current answer of each backend name of the file (written by
    /// the DNS task); each address is a backend.
    pub resolved: Answers,
}

/// Why a desired state has no plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The host's facts could not be read.
    #[error("examining the host")]
    Facts(#[source] HostError),
    /// A check failed.
    #[error(transparent)]
    Checks(HostError),
    /// A backend's SNAT address could not be found.
    #[error(transparent)]
    Snat(#[from] UnresolvedSnat<AutoSnatError>),
}

/// A plan and what the host checks warned about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// What to install.
    pub plan: Plan,
    /// Accepted, but worth saying.
    pub warnings: Vec<HostWarning>,
}

/// Step 1: the file with each backend name replaced by the addresses of
/// its answer; an address that is skipped (unusable, over the limit) is
/// logged.
pub(crate) fn expand(config: &Config, answers: &Answers) -> Config {
    let (expanded, skipped) = dns::expand(config, answers);
    for s in &skipped {
        warn!("dns: {s}");
    }
    expanded
}

/// Step 3 (pure): the plan of an expanded file on a host with `facts`,
/// attached to `interfaces`, with the backends in `down` at weight 0.
pub(crate) fn plan(
    config: &Config,
    facts: &HostFacts,
    interfaces: &[Interface],
    down: &BTreeSet<BackendRef>,
) -> Result<Planned, PlanError> {
    let warnings = host::preflight(config, facts, interfaces)
        .map_err(|problems| PlanError::Checks(HostError::Checks { problems }))?;
    let mut plan = Plan::build(config, |b| facts.auto_snat(b))?;
    for s in &mut plan.services {
        for b in &mut s.backends {
            if down.contains(&BackendRef::of(&s.name, b)) {
                b.weight = 0;
            }
        }
    }
    Ok(Planned { plan, warnings })
}

/// The whole pipeline for `desired`; warnings are logged.
pub(crate) fn plan_of(desired: &Desired) -> Result<Plan, PlanError> {
    let config = expand(&desired.config, &desired.resolved);
    let facts = HostFacts::gather(&config).map_err(PlanError::Facts)?;
    let planned = plan(&config, &facts, &desired.interfaces, &desired.down)?;
    for w in &planned.warnings {
        warn!("{w}");
    }
    Ok(planned.plan)
}

#[cfg(test)]
mod tests;
