//! The health task of `fwd attach`: one checker task per checked backend,
//! passive health on the clients' own connection attempts, and the
//! reconciler to take backends out of selection and back.
//!
//! Every [`TICK`] the monitor follows changes of the installed plan (a
//! reload, DNS), decides the followed connection attempts, and brings
//! `Desired.down` in line with the state of every backend. Check results
//! are handled as they arrive, and a change of state is applied at once.
//! Map reads and the reconciler run on blocking threads.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, SystemTime},
};

use log::{info, warn};
use tokio::{
    sync::{mpsc, watch},
    task::{spawn_blocking, JoinHandle},
    time::{Instant, MissedTickBehavior},
};

mod selection;

use super::sink::FlowSink;
use crate::{
    clock::monotonic_ns,
    health::{
        backend_name,
        book::DownCause,
        passive::Followed,
        probe,
        targets::{targets, Checked, Targets},
        tracker::{PassiveStreak, State, Tracker},
    },
    plan::{BackendRef, Plan},
    state::Shared,
    text::error_chain,
};

/// How often the monitor looks at the plan, passive health and the
/// reconciler.
pub(super) const TICK: Duration = Duration::from_millis(100);
/// How long after a failed change of the desired state it is tried again.
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// One check's result, from a checker task.
struct Report {
    key: BackendRef,
    generation: u64,
    result: Result<(), String>,
}

/// A checked backend.
struct Watched {
    checked: Checked,
    tracker: Tracker,
    passive: PassiveStreak,
    generation: u64,
    task: JoinHandle<()>,
}

/// The monitor's state.
struct Monitor {
    shared: Arc<Shared>,
    sink: Arc<FlowSink>,
    watched: BTreeMap<BackendRef, Watched>,
    by_id: HashMap<u32, BackendRef>,
    followed: Followed,
    /// What the monitor last put in `Desired.down`.
    applied: BTreeSet<BackendRef>,
    /// Not before this instant is a failed change tried again.
    retry_at: Option<Instant>,
    last_error: Option<String>,
    /// The plan the checks follow.
    plan: Option<Arc<Plan>>,
    /// What was logged about each service, to say it again only when it
    /// changes.
    described: BTreeMap<String, String>,
    generation: u64,
    reports: mpsc::UnboundedSender<Report>,
}

/// Runs the health checks until `stop` changes. Does nothing without a
/// reconciler (nothing could be taken out of selection).
pub(in crate::tasks) async fn run(
    shared: Arc<Shared>,
    sink: Arc<FlowSink>,
    mut stop: watch::Receiver<bool>,
) {
    if shared.reconciler().is_none() {
        warn!("health: no reconciler; backends are not checked");
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut m = Monitor {
        shared,
        sink,
        watched: BTreeMap::new(),
        by_id: HashMap::new(),
        followed: Followed::default(),
        applied: BTreeSet::new(),
        retry_at: None,
        last_error: None,
        plan: None,
        described: BTreeMap::new(),
        generation: 0,
        reports: tx,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(report) = rx.recv() => m.on_report(report).await,
            _ = tick.tick() => m.on_tick().await,
            _ = stop.changed() => break,
        }
    }
    for w in m.watched.values() {
        w.task.abort();
    }
}

impl Monitor {
    async fn on_tick(&mut self) {
        let plan = self.shared.plan();
        if !self.plan.as_ref().is_some_and(|p| Arc::ptr_eq(p, &plan)) {
            self.sync(plan).await;
        }
        self.passive().await;
        self.apply().await;
    }

    /// Follows the plan: starts checking new backends, stops checking
    /// removed ones, restarts the checks whose settings changed (keeping
    /// their state).
    async fn sync(&mut self, plan: Arc<Plan>) {
        let shared = Arc::clone(&self.shared);
        let for_plan = Arc::clone(&plan);
        let computed = spawn_blocking(move || {
            let config = shared.reconciler()?.desired().config;
            Some(targets(&for_plan, &config))
        })
        .await;
        let Ok(Some(t)) = computed else {
            return;
        };
        self.plan = Some(plan);
        self.describe(&t);
        let Targets { checked, unchecked } = t;
        let texts: BTreeMap<BackendRef, String> = checked
            .iter()
            .map(|(k, c)| (k.clone(), c.short()))
            .collect();
        self.watched.retain(|k, w| {
            let keep = checked.contains_key(k);
            if !keep {
                w.task.abort();
            }
            keep
        });
        for (key, c) in checked {
            match self.watched.get_mut(&key) {
                Some(w) if w.checked == c => {}
                Some(w) => {
                    w.task.abort();
                    self.generation += 1;
                    w.generation = self.generation;
                    w.task = spawn_checker(&key, &c, self.generation, &self.reports);
                    w.checked = c;
                }
                None => {
                    self.generation += 1;
                    let task = spawn_checker(&key, &c, self.generation, &self.reports);
                    self.watched.insert(
                        key,
                        Watched {
                            checked: c,
                            tracker: Tracker::new(),
                            passive: PassiveStreak::default(),
                            generation: self.generation,
                            task,
                        },
                    );
                }
            }
        }
        self.by_id = self
            .watched
            .iter()
            .map(|(k, w)| (w.checked.id, k.clone()))
            .collect();
        self.shared.health.set_targets(&texts, unchecked);
        self.shared.health.inbox.watch(
            self.watched
                .values()
                .filter(|w| w.checked.check.passive())
                .map(|w| w.checked.id)
                .collect(),
        );
    }

    /// Logs how each service is checked, when that changed.
    fn describe(&mut self, t: &Targets) {
        let mut now = BTreeMap::new();
        for (k, c) in &t.checked {
            let line = c.check.describe(c.target.to.port());
            let text: &mut String = now.entry(k.service.clone()).or_default();
            if text.is_empty() {
                *text = line;
            } else if !text.contains(&line) {
                text.push_str("; ");
                text.push_str(&line);
            }
        }
        for (service, why) in &t.unchecked {
            now.insert(service.clone(), format!("not checked: {}", why.why()));
        }
        for (service, text) in &now {
            if self.described.get(service) != Some(text) {
                info!("health: {service}: {text}");
            }
        }
        self.described = now;
    }

    async fn on_report(&mut self, report: Report) {
        let Some(w) = self.watched.get_mut(&report.key) else {
            return;
        };
        if w.generation != report.generation {
            return;
        }
        let ok = report.result.is_ok();
        let check = &w.checked.check;
        let change = w.tracker.record(ok, check.rise, check.fall);
        let streak = w.tracker.streak();
        let text = w.checked.short();
        if change == Some(State::Up) {
            w.passive.clear();
        }
        self.shared.health.update(&report.key, &text, |h| {
            if ok {
                h.checks_ok += 1;
            } else {
                h.checks_failed += 1;
                h.last_failure = report.result.as_ref().err().cloned();
            }
            if let Some(state) = change {
                h.state = state;
                h.since = SystemTime::now();
                h.down_by = (state == State::Down).then_some(DownCause::Checks);
            }
        });
        let name = format!("{} {}", report.key.service, backend_name(&report.key));
        match (change, &report.result) {
            (Some(State::Down), Err(e)) => {
                warn!(
                    "health: {name} is down: {} checks failed in a row (last: {e})",
                    check.fall
                );
            }
            (Some(State::Up), _) => {
                info!(
                    "health: {name} is up: {} checks passed in a row",
                    check.rise
                );
            }
            (None, Err(e)) if w.tracker.state() == State::Up => {
                info!(
                    "health: {name}: check failed ({streak} of {}): {e}",
                    check.fall
                );
            }
            _ => {}
        }
        if change.is_some() {
            self.retry_at = None;
            self.apply().await;
        }
    }

    /// Takes new connection attempts from the inbox and decides those that
    /// can be decided; enough failures in a row take a backend down.
    async fn passive(&mut self) {
        self.followed.add(self.shared.health.inbox.take());
        if self.followed.is_empty() {
            return;
        }
        let keys: Vec<_> = self.followed.all().map(|a| a.reply_key).collect();
        let shared = Arc::clone(&self.shared);
        let read = spawn_blocking(move || {
            let dp = shared.datapath();
            keys.into_iter()
                .filter_map(|k| dp.flow(&k).ok().flatten().map(|f| (k, f)))
                .collect::<HashMap<_, _>>()
        })
        .await;
        let Ok(halves) = read else {
            return;
        };
        let timeouts: HashMap<u32, Duration> = self
            .watched
            .values()
            .filter(|w| w.checked.check.passive() && w.tracker.state() == State::Up)
            .map(|w| (w.checked.id, w.checked.check.syn_timeout))
            .collect();
        let decided = self.followed.decide(
            |k| halves.get(k).copied(),
            monotonic_ns(),
            |id| timeouts.get(&id).copied(),
        );
        let mut changed = false;
        for (id, failed) in decided {
            let Some(key) = self.by_id.get(&id) else {
                continue;
            };
            let Some(w) = self.watched.get_mut(key) else {
                continue;
            };
            let threshold = w.checked.check.passive_failures;
            let text = w.checked.short();
            let down = w.passive.record(failed, threshold) && w.tracker.force_down();
            self.shared.health.update(key, &text, |h| {
                h.passive_failures += u64::from(failed);
                if down {
                    h.state = State::Down;
                    h.since = SystemTime::now();
                    h.down_by = Some(DownCause::Passive);
                }
            });
            if down {
                warn!(
                    "health: {} {} is down: {threshold} connection attempts of clients in a row \
                     got no SYN-ACK (passive health)",
                    key.service,
                    backend_name(key)
                );
                changed = true;
            }
        }
        if changed {
            self.retry_at = None;
        }
    }
}

/// Starts checking one backend every interval (the first check at once).
fn spawn_checker(
    key: &BackendRef,
    checked: &Checked,
    generation: u64,
    reports: &mpsc::UnboundedSender<Report>,
) -> JoinHandle<()> {
    let (key, target, every) = (key.clone(), checked.target.clone(), checked.check.interval);
    let reports = reports.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let result = probe::check(&target).await.map_err(|e| error_chain(&e));
            let report = Report {
                key: key.clone(),
                generation,
                result,
            };
            if reports.send(report).is_err() {
                return;
            }
        }
    })
}
