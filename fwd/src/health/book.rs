//! The health of every backend as `fwd status` and the metrics show it,
//! and the inbox of passive health. Lives in [`crate::state::Shared`];
//! written by the monitor (`crate::tasks::health`), read by the control socket
//! and the metrics at request time.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
    time::SystemTime,
};

use fwd_common::FlowEvent;

use super::{passive::Inbox, tracker::State};
use crate::{config::health::Unchecked, plan::BackendRef};

/// What took a backend down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownCause {
    /// `fall` active checks in a row failed.
    Checks,
    /// `passive_failures` connection attempts of clients in a row failed.
    Passive,
}

impl DownCause {
    /// `checks` or `passive`.
    pub fn name(self) -> &'static str {
        match self {
            DownCause::Checks => "checks",
            DownCause::Passive => "passive",
        }
    }
}

/// One checked backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    /// The check, short: `tcp :80`, `http :80/health`.
    pub check: String,
    /// Up or down.
    pub state: State,
    /// What took it down (while down).
    pub down_by: Option<DownCause>,
    /// When the state last changed (or the checks started).
    pub since: SystemTime,
    /// Active checks that passed.
    pub checks_ok: u64,
    /// Active checks that failed.
    pub checks_failed: u64,
    /// Connection attempts of clients that got no SYN back (passive).
    pub passive_failures: u64,
    /// Why the last failed check failed.
    pub last_failure: Option<String>,
}

impl BackendHealth {
    /// A backend whose checks start now, up.
    pub fn new(check: String) -> BackendHealth {
        BackendHealth {
            check,
            state: State::Up,
            down_by: None,
            since: SystemTime::now(),
            checks_ok: 0,
            checks_failed: 0,
            passive_failures: 0,
            last_failure: None,
        }
    }
}

/// A copy of the book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// Checked backends.
    pub backends: BTreeMap<BackendRef, BackendHealth>,
    /// Services that are not checked, by name, and why.
    pub unchecked: BTreeMap<String, Unchecked>,
}

impl HealthSnapshot {
    /// Whether the backend takes new flows as far as health goes (an
    /// unchecked backend always does).
    pub fn is_up(&self, backend: &BackendRef) -> bool {
        self.backends
            .get(backend)
            .is_none_or(|h| h.state == State::Up)
    }
}

/// The book and the passive-health inbox.
#[derive(Debug, Default)]
pub struct HealthBook {
    inner: Mutex<HealthSnapshot>,
    /// Attempts of clients for passive health.
    pub inbox: Inbox,
}

impl HealthBook {
    fn lock(&self) -> MutexGuard<'_, HealthSnapshot> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the book now.
    pub fn snapshot(&self) -> HealthSnapshot {
        self.lock().clone()
    }

    /// Changes one backend's entry (created with `check` if missing).
    pub fn update(&self, key: &BackendRef, check: &str, change: impl FnOnce(&mut BackendHealth)) {
        let mut book = self.lock();
        let entry = book
            .backends
            .entry(key.clone())
            .or_insert_with(|| BackendHealth::new(check.to_string()));
        change(entry);
    }

    /// Keeps only the entries of `checked` (setting their check text) and
    /// records the unchecked services.
    pub fn set_targets(
        &self,
        checked: &BTreeMap<BackendRef, String>,
        unchecked: BTreeMap<String, Unchecked>,
    ) {
        let mut book = self.lock();
        book.backends.retain(|k, _| checked.contains_key(k));
        for (k, check) in checked {
            book.backends
                .entry(k.clone())
                .or_insert_with(|| BackendHealth::new(check.clone()))
                .check
                .clone_from(check);
        }
        book.unchecked = unchecked;
    }

    /// A flow event from the datapath: start events feed passive health.
    pub fn observe(&self, event: &FlowEvent) {
        self.inbox.observe(event);
    }
}
