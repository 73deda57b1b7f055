//! What is known of each backend name: the answer in use, its TTL, and the
//! failures counted. Written by `fwd attach` at start and by the resolver
//! task (`crate::tasks::dns`); read by `fwd status` and the metrics.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use tokio::sync::Notify;

use super::Answer;

/// One name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameStatus {
    /// The services whose backends name it.
    pub services: Vec<String>,
    /// The addresses in use: the last good answer (empty before the first).
    pub addrs: BTreeSet<Ipv4Addr>,
    /// The TTL of the last good answer.
    pub ttl: Option<Duration>,
    /// When the last good answer arrived.
    pub resolved: Option<Instant>,
    /// The same, as wall time.
    pub resolved_wall: Option<SystemTime>,
    /// Good answers since start.
    pub resolutions: u64,
    /// Failed resolutions since start.
    pub failures: u64,
    /// Failures since the last good answer.
    pub failing_for: u32,
    /// The last failure's message (kept after a later success).
    pub last_error: Option<String>,
}

/// Every name, shared by the tasks of a running relay
/// ([`crate::state::Shared::dns`]).
#[derive(Debug, Default)]
pub struct DnsStatus {
    names: Mutex<BTreeMap<String, NameStatus>>,
    wake: Notify,
}

impl DnsStatus {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NameStatus>> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows the names of the file (`name -> services`): new ones are
    /// added, names no longer used are forgotten.
    pub fn set_names(&self, names: &BTreeMap<String, Vec<String>>) {
        let mut all = self.lock();
        all.retain(|n, _| names.contains_key(n));
        for (name, services) in names {
            all.entry(name.clone()).or_default().services = services.clone();
        }
    }

    /// Records a good answer for `name`.
    pub fn record_answer(&self, name: &str, answer: &Answer) {
        let mut all = self.lock();
        let s = all.entry(name.to_string()).or_default();
        s.addrs = answer.addrs.clone();
        s.ttl = Some(answer.ttl);
        s.resolved = Some(answer.at);
        s.resolved_wall = Some(SystemTime::now() - answer.at.elapsed());
        s.resolutions += 1;
        s.failing_for = 0;
    }

    /// Records a failed resolution of `name`; returns the failures in a
    /// row so far.
    pub fn record_failure(&self, name: &str, error: String) -> u32 {
        let mut all = self.lock();
        let s = all.entry(name.to_string()).or_default();
        s.failures += 1;
        s.failing_for = s.failing_for.saturating_add(1);
        s.last_error = Some(error);
        s.failing_for
    }

    /// Every name and its status.
    pub fn snapshot(&self) -> BTreeMap<String, NameStatus> {
        self.lock().clone()
    }

    /// The status of `name`.
    pub fn get(&self, name: &str) -> Option<NameStatus> {
        self.lock().get(name).cloned()
    }

    /// Makes the resolver task look at the file's names now (after a
    /// reload).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`DnsStatus::wake`] was called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_failures_are_counted_per_name() {
        let st = DnsStatus::default();
        let mut names = BTreeMap::new();
        names.insert("a.example".to_string(), vec!["web".to_string()]);
        names.insert("b.example".to_string(), vec!["web".into(), "db".into()]);
        st.set_names(&names);
        let answer = Answer {
            addrs: [Ipv4Addr::new(198, 19, 0, 10)].into(),
            ttl: Duration::from_secs(2),
            at: Instant::now(),
        };
        st.record_answer("a.example", &answer);
        assert_eq!(st.record_failure("a.example", "timeout".into()), 1);
        assert_eq!(st.record_failure("a.example", "timeout".into()), 2);
        let a = st.get("a.example").unwrap();
        assert_eq!(a.addrs, answer.addrs, "a failure keeps the last answer");
        assert_eq!((a.resolutions, a.failures, a.failing_for), (1, 2, 2));
        assert_eq!(a.last_error.as_deref(), Some("timeout"));
        st.record_answer("a.example", &answer);
        let a = st.get("a.example").unwrap();
        assert_eq!((a.resolutions, a.failures, a.failing_for), (2, 2, 0));
        assert_eq!(st.get("b.example").unwrap().services, vec!["web", "db"]);

        names.remove("b.example");
        st.set_names(&names);
        assert_eq!(st.snapshot().len(), 1);
        assert_eq!(st.get("a.example").unwrap().failures, 2, "kept");
    }
}
