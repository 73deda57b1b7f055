//! The rise/fall state machine of one backend: pure, fed with the outcome
//! of each active check and with the verdict of passive health.
//!
//! A backend starts up (a relay that starts, or a backend that appears in a
//! reload, takes traffic at once rather than after `rise` checks). Up, it
//! goes down after `fall` consecutive failed checks; down, it comes back
//! after `rise` consecutive successful ones. Passive health takes an up
//! backend down at once ([`Tracker::force_down`]); it then needs `rise`
//! successful checks like any down backend.

/// Whether a backend takes new flows, as checks see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// It takes new flows.
    Up,
    /// It takes none.
    Down,
}

impl State {
    /// `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Down => "down",
        }
    }
}

/// One backend's state and the streak of results against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tracker {
    state: State,
    /// Consecutive results that disagree with `state` (failures while up,
    /// successes while down).
    streak: u32,
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker::new()
    }
}

impl Tracker {
    /// A backend that is up, with no result yet.
    pub(crate) fn new() -> Tracker {
        Tracker {
            state: State::Up,
            streak: 0,
        }
    }

    /// The state now.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The results so far that disagree with the state (failures while up,
    /// successes while down).
    pub(crate) fn streak(&self) -> u32 {
        self.streak
    }

    /// Records one check; returns the new state if it changed.
    pub(crate) fn record(&mut self, ok: bool, rise: u32, fall: u32) -> Option<State> {
        let (against, needed, next) = match self.state {
            State::Up => (!ok, fall, State::Down),
            State::Down => (ok, rise, State::Up),
        };
        if !against {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < needed.max(1) {
            return None;
        }
        self.state = next;
        self.streak = 0;
        Some(next)
    }

    /// Takes the backend down now (passive health); returns whether it was
    /// up.
    pub(crate) fn force_down(&mut self) -> bool {
        let was_up = self.state == State::Up;
        self.state = State::Down;
        self.streak = 0;
        was_up
    }
}

/// Consecutive failed connection attempts seen by passive health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PassiveStreak {
    failures: u32,
}

impl PassiveStreak {
    /// Records one connection attempt; returns true when `threshold`
    /// consecutive failures are reached (the streak starts again).
    pub(crate) fn record(&mut self, failed: bool, threshold: u32) -> bool {
        if !failed {
            self.failures = 0;
            return false;
        }
        self.failures += 1;
        if threshold > 0 && self.failures >= threshold {
            self.failures = 0;
            return true;
        }
        false
    }

    #[cfg(test)]
    /// Failures in a row so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Forgets the streak (the backend went down or came back).
    pub(crate) fn clear(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `results` (`+` success, `-` failure) and returns the state
    /// after each.
    fn run(t: &mut Tracker, results: &str, rise: u32, fall: u32) -> String {
        results
            .chars()
            .map(|c| {
                t.record(c == '+', rise, fall);
                match t.state() {
                    State::Up => 'U',
                    State::Down => 'D',
                }
            })
            .collect()
    }

    #[test]
    fn starts_up_and_falls_after_fall_consecutive_failures() {
        let mut t = Tracker::new();
        assert_eq!(t.state(), State::Up);
        // A success in between restarts the count.
        assert_eq!(run(&mut t, "--+--+---", 2, 3), "UUUUUUUUD");
    }

    #[test]
    fn rises_after_rise_consecutive_successes() {
        let mut t = Tracker::new();
        assert_eq!(run(&mut t, "---", 2, 3), "UUD");
        assert_eq!(run(&mut t, "+-+-++", 2, 3), "DDDDDU");
        assert_eq!(t.streak(), 0);
    }

    #[test]
    fn reports_each_change_once() {
        let mut t = Tracker::new();
        assert_eq!(t.record(false, 1, 2), None);
        assert_eq!(t.record(false, 1, 2), Some(State::Down));
        assert_eq!(t.record(false, 1, 2), None);
        assert_eq!(t.record(true, 1, 2), Some(State::Up));
        assert_eq!(t.record(true, 1, 2), None);
    }

    #[test]
    fn rise_and_fall_of_one_switch_at_once() {
        let mut t = Tracker::new();
        assert_eq!(run(&mut t, "-+-+", 1, 1), "DUDU");
        // Zero is treated as one (the file refuses it anyway).
        assert_eq!(run(&mut t, "-+", 0, 0), "DU");
    }

    #[test]
    fn passive_down_needs_rise_successes() {
        let mut t = Tracker::new();
        assert_eq!(run(&mut t, "-", 2, 3), "U");
        assert!(t.force_down());
        assert_eq!(t.state(), State::Down);
        assert!(!t.force_down(), "already down");
        assert_eq!(run(&mut t, "+-++", 2, 3), "DDDU");
    }

    #[test]
    fn passive_streak_counts_consecutive_failures() {
        let mut p = PassiveStreak::default();
        assert!(!p.record(true, 3));
        assert!(!p.record(true, 3));
        assert!(!p.record(false, 3), "an answered SYN restarts the count");
        assert_eq!(p.failures(), 0);
        assert!(!p.record(true, 3));
        assert!(!p.record(true, 3));
        assert!(p.record(true, 3));
        assert_eq!(p.failures(), 0, "starts again once reached");
        // Threshold 0: passive health off, never reached.
        assert!((0..10).all(|_| !p.record(true, 0)));
    }
}
