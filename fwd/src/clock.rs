//! The clocks of the relay: CLOCK_MONOTONIC, which the datapath stamps
//! flows with, and its conversion to wall time for logs and reports.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// CLOCK_MONOTONIC in nanoseconds: the clock the datapath stamps flows with.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// A pair of readings of CLOCK_MONOTONIC (the clock of the datapath's
/// timestamps) and the wall clock, taken together, to convert event times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clock {
    /// CLOCK_MONOTONIC, nanoseconds.
    pub monotonic_ns: u64,
    /// The wall clock at the same moment.
    pub realtime: SystemTime,
}

impl Clock {
    /// Both clocks now.
    pub(crate) fn now() -> Clock {
        Clock {
            monotonic_ns: monotonic_ns(),
            realtime: SystemTime::now(),
        }
    }

    /// The wall time of monotonic timestamp `ns`:
    /// `realtime - (monotonic_ns - ns)`.
    pub(crate) fn wall(&self, ns: u64) -> SystemTime {
        let t = if ns <= self.monotonic_ns {
            self.realtime
                .checked_sub(Duration::from_nanos(self.monotonic_ns - ns))
        } else {
            self.realtime
                .checked_add(Duration::from_nanos(ns - self.monotonic_ns))
        };
        t.unwrap_or(UNIX_EPOCH)
    }
}
