//! `[service.health]`: how a service's backends are checked. A child of
//! `validate` (it reports through the same validator); the typed result is
//! [`crate::config::health::Health`].
//!
//! ```toml
//! [service.health]           # optional; every key optional
//! type = "tcp"               # "tcp" (connect), "http" (GET, expected status) or "none"
//! port = 80                  # default: the backend's port, else the listen port
//! interval = "2s"
//! timeout = "1s"             # at most interval
//! rise = 2
//! fall = 3
//! path = "/health"           # http only (default "/")
//! status = 200               # http only (default 200)
//! on_down = "keep"           # or "reset": remove the down backend's flows
//! syn_timeout = "3s"         # passive health: a SYN unanswered this long fails
//! passive_failures = 3       # consecutive such failures take it out; 0: off
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{
    super::{values, ConfigWarning, Listen, Problem, Protocol},
    Validator,
};
use crate::config::health::{
    Health, HealthCheck, OnDown, Probe, Unchecked, DEFAULT_PATH, DEFAULT_STATUS,
    MAX_PASSIVE_FAILURES, MAX_RISE_FALL, MIN_INTERVAL,
};

/// The `[service.health]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawHealth {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub rise: Option<Spanned<i64>>,
    pub fall: Option<Spanned<i64>>,
    pub path: Option<Spanned<String>>,
    pub status: Option<Spanned<i64>>,
    pub on_down: Option<Spanned<String>>,
    pub syn_timeout: Option<Spanned<String>>,
    pub passive_failures: Option<Spanned<i64>>,
}

/// What the `type` key selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Http,
    None,
}

fn kind(s: &str) -> Result<Kind, Problem> {
    match s {
        "tcp" => Ok(Kind::Tcp),
        "http" => Ok(Kind::Http),
        "none" => Ok(Kind::None),
        _ => Err(Problem::BadCheckType),
    }
}

fn on_down(s: &str) -> Result<OnDown, Problem> {
    match s {
        "keep" => Ok(OnDown::Keep),
        "reset" => Ok(OnDown::Reset),
        _ => Err(Problem::BadOnDown),
    }
}

/// An HTTP path: starts with `/`, printable ASCII without spaces (it goes
/// into the request line as it is).
fn http_path(s: &str) -> Result<String, Problem> {
    if s.starts_with('/') && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(Problem::BadHttpPath)
    }
}

fn int_in(min: i64, max: i64) -> impl Fn(&i64) -> Result<u32, Problem> {
    move |n| {
        if (min..=max).contains(n) {
            Ok(*n as u32)
        } else {
            Err(Problem::OutOfRange {
                min: min as u64,
                max: max as u64,
            })
        }
    }
}

/// Validates the `[service.health]` of service `label` (absent: the
/// defaults). `listen` and `protocol` are the service's, when valid.
pub(super) fn health(
    v: &mut Validator<'_>,
    label: &str,
    raw: Option<&Spanned<RawHealth>>,
    listen: Option<&Listen>,
    protocol: Option<Protocol>,
) -> Option<Health> {
    let Some(spanned) = raw else {
        return Some(match (listen.and_then(|l| l.port), protocol) {
            (None, _) => Health::Unchecked(Unchecked::NoPort),
            (Some(_), Some(Protocol::Tcp)) => Health::default(),
            _ => Health::Unchecked(Unchecked::Udp),
        });
    };
    let raw = spanned.get_ref();
    let key = |k: &str| format!("{label}: health.{k}");
    let problems = v.problems.len();
    let kind = match &raw.kind {
        Some(k) => v.check(k, &key("type"), |s| kind(s)),
        None => Some(Kind::Tcp),
    };
    let mut check = HealthCheck::default();
    if let Some(p) = &raw.port {
        check.port = v.check(p, &key("port"), int_in(1, 65535)).map(|p| p as u16);
    }
    let duration =
        |v: &mut Validator<'_>, raw: &Option<Spanned<String>>, k, slot: &mut Duration| {
            if let Some(d) = raw
                .as_ref()
                .and_then(|r| v.check(r, &key(k), |s| values::duration(s)))
            {
                *slot = d;
            }
        };
    duration(v, &raw.interval, "interval", &mut check.interval);
    duration(v, &raw.timeout, "timeout", &mut check.timeout);
    duration(v, &raw.syn_timeout, "syn_timeout", &mut check.syn_timeout);
    if let Some(i) = &raw.interval {
        if check.interval < MIN_INTERVAL {
            let problem = Problem::TooShort { min: MIN_INTERVAL };
            v.fail(i.span(), &key("interval"), i.get_ref(), problem);
        }
    }
    match &raw.timeout {
        Some(t) if check.timeout > check.interval => {
            let problem = Problem::TimeoutOverInterval {
                interval: check.interval,
            };
            v.fail(t.span(), &key("timeout"), t.get_ref(), problem);
        }
        Some(_) => {}
        // The default timeout, never longer than the interval.
        None => check.timeout = check.timeout.min(check.interval),
    }
    for (raw, k, slot) in [
        (&raw.rise, "rise", &mut check.rise),
        (&raw.fall, "fall", &mut check.fall),
    ] {
        if let Some(n) = raw {
            *slot = v
                .check(n, &key(k), int_in(1, MAX_RISE_FALL.into()))
                .unwrap_or(*slot);
        }
    }
    if let Some(n) = &raw.passive_failures {
        let range = int_in(0, MAX_PASSIVE_FAILURES.into());
        check.passive_failures = v
            .check(n, &key("passive_failures"), range)
            .unwrap_or(check.passive_failures);
    }
    if let Some(o) = &raw.on_down {
        check.on_down = v
            .check(o, &key("on_down"), |s| on_down(s))
            .unwrap_or_default();
    }
    let mut path = DEFAULT_PATH.to_string();
    let mut status = DEFAULT_STATUS;
    if let Some(p) = &raw.path {
        if kind == Some(Kind::Http) {
            path = v.check(p, &key("path"), |s| http_path(s)).unwrap_or(path);
        } else {
            v.fail(p.span(), &key("path"), p.get_ref(), Problem::HttpOnly);
        }
    }
    if let Some(s) = &raw.status {
        if kind == Some(Kind::Http) {
            status = v
                .check(s, &key("status"), int_in(100, 599))
                .map_or(status, |s| s as u16);
        } else {
            v.fail(s.span(), &key("status"), s.get_ref(), Problem::HttpOnly);
        }
    }
    if v.problems.len() > problems {
        return None;
    }
    check.probe = match kind? {
        Kind::None => return Some(Health::Unchecked(Unchecked::Off)),
        Kind::Tcp => Probe::Tcp,
        Kind::Http => Probe::Http { path, status },
    };
    match listen {
        Some(l) if l.port.is_none() && check.port.is_none() => {
            v.warnings.push(ConfigWarning::HealthNoPort {
                at: v.pos(spanned.span()),
                service: label.to_string(),
            });
            Some(Health::Unchecked(Unchecked::NoPort))
        }
        _ => Some(Health::Checked(check)),
    }
}

#[cfg(test)]
mod tests;
