//! When each name is resolved again: at the end of its answer's TTL
//! (bounded by [`MIN_REFRESH`] and [`MAX_REFRESH`]), or after a failure
//! sooner and sooner apart up to [`MAX_RETRY`]. Pure: the instants are
//! given by the caller.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// The shortest time between two resolutions of a name: a TTL of 0 (or
/// under a second) does not make fwd ask without pause.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// The longest time between two resolutions of a name: a long TTL (or an
/// `/etc/hosts` entry, which has none) is checked again after 5 minutes.
pub const MAX_REFRESH: Duration = Duration::from_secs(300);
/// The first retry after a failed resolution.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between retries of a failing name.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// How long after an answer with `ttl` the name is resolved again.
pub fn refresh_after(ttl: Duration) -> Duration {
    ttl.clamp(MIN_REFRESH, MAX_REFRESH)
}

/// How long after the `failures`-th failure in a row (1-based) the name is
/// tried again: 1 s, 2 s, 4 s, ... up to [`MAX_RETRY`].
pub fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// When each name is due.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    due: BTreeMap<String, Instant>,
}

impl Schedule {
    /// Follows the names in use: a name new to the schedule is due at
    /// `first(name)` (`None`: now), a name no longer in use is forgotten.
    pub fn sync<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a String>,
        now: Instant,
        mut first: impl FnMut(&str) -> Option<Instant>,
    ) {
        let mut next = BTreeMap::new();
        for name in names {
            let at = match self.due.get(name) {
                Some(&at) => at,
                None => first(name).unwrap_or(now),
            };
            next.insert(name.clone(), at);
        }
        self.due = next;
    }

    /// Sets when `name` is due next (ignored for a name not in use).
    pub fn set(&mut self, name: &str, at: Instant) {
        if let Some(due) = self.due.get_mut(name) {
            *due = at;
        }
    }

    /// The names due at `now`.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.due
            .iter()
            .filter(|(_, &at)| at <= now)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The earliest instant a name is due, if any name is in use.
    pub fn next(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// When `name` is due.
    pub fn get(&self, name: &str) -> Option<Instant> {
        self.due.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn ttl_is_bounded() {
        assert_eq!(refresh_after(S(0)), S(1));
        assert_eq!(refresh_after(Duration::from_millis(300)), S(1));
        assert_eq!(refresh_after(S(2)), S(2));
        assert_eq!(refresh_after(S(60)), S(60));
        assert_eq!(refresh_after(S(300)), S(300));
        assert_eq!(refresh_after(S(86_400)), S(300));
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_after(0), S(1));
        assert_eq!(retry_after(u32::MAX), S(30));
    }

    #[test]
    fn schedule_follows_the_names_in_use() {
        let t0 = Instant::now();
        let names = |v: &[&str]| {
            v.iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
        };
        let mut s = Schedule::default();
        assert_eq!(s.next(), None);

        // New names: due when `first` says, else now.
        let known = t0 + S(5);
        s.sync(&names(&["a", "b"]), t0, |n| (n == "a").then_some(known));
        assert_eq!(s.get("a"), Some(known));
        assert_eq!(s.get("b"), Some(t0));
        assert_eq!(s.due(t0), vec!["b"]);
        assert_eq!(s.next(), Some(t0));

        s.set("b", t0 + S(2));
        assert!(s.due(t0).is_empty());
        assert_eq!(s.due(t0 + S(2)), vec!["b"]);
        assert_eq!(s.due(t0 + S(9)), vec!["a", "b"]);
        assert_eq!(s.next(), Some(t0 + S(2)));

        // A later sync keeps the times of known names and drops the rest.
        s.sync(&names(&["b", "c"]), t0 + S(1), |_| None);
        assert_eq!(s.get("a"), None);
        assert_eq!(s.get("b"), Some(t0 + S(2)));
        assert_eq!(s.get("c"), Some(t0 + S(1)));
        s.set("a", t0);
        assert_eq!(s.get("a"), None, "a name not in use is not scheduled");
    }
}
