//! The resolver task of `fwd attach`: resolves each backend name again
//! when its answer's TTL ends, and installs the new set of backends when an
//! answer changes (through [`crate::reconcile::Reconciler::replan`], so
//! that unchanged backends keep their flows and an address that left the
//! answer is removed: its flows continue, it gets no new ones).
//!
//! A failed resolution keeps the last good answer; it is logged, counted
//! ([`crate::dns::DnsStatus`]) and tried again after 1 s, 2 s, 4 s ... 30 s.

use std::{
    collections::BTreeSet,
    net::Ipv4Addr,
    sync::Arc,
    time::{Duration, Instant},
};

use log::{debug, info, warn};
use tokio::sync::watch;

use crate::{
    dns::{
        names, resolve_names,
        schedule::{refresh_after, retry_after, Schedule},
        Answers, Resolver, Servers,
    },
    state::Shared,
    text::error_chain,
};

/// How often the task looks at the file's names when no name is due (a
/// reload that adds a name should also call [`crate::dns::DnsStatus::wake`]).
const LOOK: Duration = Duration::from_secs(1);

/// Runs until `stop` changes. Does nothing without a reconciler.
pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Some(reconciler) = shared.reconciler() else {
        warn!("dns: no reconciler: backend names are not resolved again");
        return;
    };
    let mut resolver: Option<Resolver> = None;
    let mut schedule = Schedule::default();
    loop {
        let desired = reconciler.desired();
        let used = names(&desired.config);
        shared.dns.set_names(&used);
        let now = Instant::now();
        schedule.sync(used.keys(), now, |name| {
            let st = shared.dns.get(name)?;
            Some(st.resolved? + refresh_after(st.ttl?))
        });
        let due = schedule.due(now);
        if !due.is_empty() {
            let servers = Servers::of(&desired.config.dns_servers);
            if resolver.as_ref().map(Resolver::servers) != Some(&servers) {
                resolver = match Resolver::new(servers) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        let e = error_chain(&e);
                        for name in &due {
                            failed(&shared, &mut schedule, name, &e);
                        }
                        None
                    }
                };
            }
            if let Some(r) = &resolver {
                let changes = refresh(&shared, r, &mut schedule, due, &desired.resolved).await;
                let stale = desired.resolved.keys().any(|n| !used.contains_key(n));
                if !changes.is_empty() || stale {
                    apply(&shared, changes, &desired.resolved).await;
                }
            }
        }
        let look = Instant::now() + LOOK;
        let next = schedule.next().map_or(look, |t| t.min(look));
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = shared.dns.woken() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Resolves the `due` names; returns the answers that differ from
/// `current`.
async fn refresh(
    shared: &Shared,
    resolver: &Resolver,
    schedule: &mut Schedule,
    due: Vec<String>,
    current: &Answers,
) -> Answers {
    let mut changes = Answers::new();
    for (name, result) in resolve_names(resolver, due).await {
        match result {
            Ok(answer) => {
                shared.dns.record_answer(&name, &answer);
                let next = refresh_after(answer.ttl);
                schedule.set(&name, answer.at + next);
                debug!(
                    "dns: {name}: {} (TTL {}s; next in {})",
                    addrs(&answer.addrs),
                    answer.ttl.as_secs(),
                    humantime::format_duration(next)
                );
                if current.get(&name) != Some(&answer.addrs) {
                    changes.insert(name, answer.addrs);
                }
            }
            Err(e) => failed(shared, schedule, &name, &error_chain(&e)),
        }
    }
    changes
}

/// Counts, logs and schedules a failed resolution of `name`.
fn failed(shared: &Shared, schedule: &mut Schedule, name: &str, error: &str) {
    let n = shared.dns.record_failure(name, error.to_string());
    let wait = retry_after(n);
    schedule.set(name, Instant::now() + wait);
    let kept = shared
        .dns
        .get(name)
        .map(|s| addrs(&s.addrs))
        .unwrap_or_default();
    warn!(
        "dns: {error} (failure {n} in a row); the backends stay {kept}; next try in {}",
        humantime::format_duration(wait)
    );
}

/// Installs `changes` (and forgets the answers of names no longer in the
/// file); on error the previous backends stay, and the next resolution of
/// each changed name tries again.
async fn apply(shared: &Arc<Shared>, changes: Answers, before: &Answers) {
    let described: Vec<String> = changes
        .iter()
        .map(|(name, now)| {
            let was = before.get(name).map_or_else(|| "none".into(), addrs);
            format!("{name} now {} (was {was})", addrs(now))
        })
        .collect();
    let s = Arc::clone(shared);
    let result = tokio::task::spawn_blocking(move || {
        let reconciler = s.reconciler().expect("checked when the task started");
        reconciler.replan(&s.installed, |d| {
            d.resolved.extend(changes);
            let used = names(&d.config);
            d.resolved.retain(|n, _| used.contains_key(n));
        })
    })
    .await;
    match result {
        Ok(Ok(_)) if described.is_empty() => {}
        Ok(Ok(_)) => info!("dns: {}: backends updated", described.join("; ")),
        Ok(Err(e)) => warn!(
            "dns: {}: not installed, the previous backends stay: {}",
            described.join("; "),
            error_chain(&e)
        ),
        Err(e) => warn!("dns: installing new answers: {e}"),
    }
}

/// `198.19.0.10, 198.19.0.11`.
fn addrs(set: &BTreeSet<Ipv4Addr>) -> String {
    let all: Vec<String> = set.iter().map(ToString::to_string).collect();
    all.join(", ")
}
