//! The health of a backend in `fwd status` (its `health` object in
//! `--json`, its HEALTH column in the table), from the book.

use serde::{Deserialize, Serialize};

use super::{book::HealthSnapshot, tracker::State};
use crate::{plan::BackendRef, text::rfc3339_millis};

/// One backend's health, as `fwd status --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct HealthStatus {
    /// `up`, `down` or `unchecked`.
    pub state: String,
    /// The check: `tcp :80`, `http :80/health` (absent when unchecked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// What took it down: `checks` or `passive` (only while down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_by: Option<String>,
    /// Since when it is in this state (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Active checks that passed.
    pub checks_ok: u64,
    /// Active checks that failed.
    pub checks_failed: u64,
    /// Connection attempts of clients that got no SYN-ACK (passive).
    pub passive_failures: u64,
    /// Why the last failed check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// Why the backend is not checked (only when unchecked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

impl Default for HealthStatus {
    fn default() -> HealthStatus {
        HealthStatus {
            state: "unchecked".into(),
            check: None,
            down_by: None,
            since: None,
            checks_ok: 0,
            checks_failed: 0,
            passive_failures: 0,
            last_failure: None,
            unchecked: None,
        }
    }
}

impl HealthStatus {
    /// The health of `backend` in `book`.
    pub(crate) fn of(book: &HealthSnapshot, backend: &BackendRef) -> HealthStatus {
        let Some(h) = book.backends.get(backend) else {
            return HealthStatus {
                unchecked: book
                    .unchecked
                    .get(&backend.service)
                    .map(|why| why.why().to_string()),
                ..HealthStatus::default()
            };
        };
        HealthStatus {
            state: h.state.name().into(),
            check: Some(h.check.clone()),
            down_by: h
                .down_by
                .filter(|_| h.state == State::Down)
                .map(|c| c.name().into()),
            since: Some(rfc3339_millis(h.since)),
            checks_ok: h.checks_ok,
            checks_failed: h.checks_failed,
            passive_failures: h.passive_failures,
            last_failure: h.last_failure.clone(),
            unchecked: None,
        }
    }

    /// The HEALTH cell: `up`, `down (checks)`, `down (passive)` or `-`.
    pub(crate) fn cell(&self) -> String {
        match (&self.down_by, self.state.as_str()) {
            (_, "unchecked") => "-".into(),
            (Some(by), state) => format!("{state} ({by})"),
            (None, state) => state.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, net::Ipv4Addr};

    use super::*;
    use crate::{
        config::health::Unchecked,
        health::{book::DownCause, BackendHealth},
    };

    #[test]
    fn from_the_book() {
        let key = |service: &str, last: u8| BackendRef {
            service: service.into(),
            addr: Ipv4Addr::new(198, 19, 0, last),
            port: None,
        };
        let book = HealthSnapshot {
            backends: BTreeMap::from([
                (
                    key("web", 10),
                    BackendHealth {
                        state: State::Down,
                        down_by: Some(DownCause::Passive),
                        passive_failures: 3,
                        ..BackendHealth::new("tcp :80".into())
                    },
                ),
                (key("web", 11), BackendHealth::new("tcp :80".into())),
            ]),
            unchecked: BTreeMap::from([("all".to_string(), Unchecked::NoPort)]),
        };
        let down = HealthStatus::of(&book, &key("web", 10));
        assert_eq!(down.state, "down");
        assert_eq!(down.down_by.as_deref(), Some("passive"));
        assert_eq!(down.passive_failures, 3);
        assert_eq!(down.cell(), "down (passive)");
        let up = HealthStatus::of(&book, &key("web", 11));
        assert_eq!(
            (up.cell(), up.check.as_deref()),
            ("up".into(), Some("tcp :80"))
        );
        let unchecked = HealthStatus::of(&book, &key("all", 12));
        assert_eq!(unchecked.cell(), "-");
        assert!(unchecked.unchecked.unwrap().contains("port = N"));
        // JSON: the absent fields are left out, and read back with defaults.
        let json = serde_json::to_string(&up).unwrap();
        assert!(
            !json.contains("down_by") && json.contains("\"state\":\"up\""),
            "{json}"
        );
        let back: HealthStatus = serde_json::from_str("{\"state\":\"down\"}").unwrap();
        assert_eq!(back.checks_ok, 0);
    }
}
