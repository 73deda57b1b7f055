//! A token bucket, for what the datapath may only do so often (the ICMP
//! errors it sends as a router, like the kernel's `icmp_msgs_per_sec`).

/// `per_sec` tokens a second, at most `burst` saved. Value of
/// [`crate::maps::ICMP_BUDGET`] (one per CPU, so no two CPUs write it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens left.
    pub tokens: u64,
    /// When tokens were last added (CLOCK_MONOTONIC ns).
    pub refilled_ns: u64,
}
const _: () = assert!(core::mem::size_of::<TokenBucket>() == 16);

impl TokenBucket {
    /// Adds the tokens earned since the last refill, then takes one if
    /// there is one.
    #[inline(always)]
    pub fn take(&mut self, now_ns: u64, per_sec: u64, burst: u64) -> bool {
        let per_token = 1_000_000_000 / per_sec;
        let earned = now_ns.saturating_sub(self.refilled_ns) / per_token;
        if earned > 0 {
            let tokens = self.tokens.saturating_add(earned);
            self.tokens = if tokens > burst { burst } else { tokens };
            self.refilled_ns = now_ns;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = TokenBucket::default();
        let now = 1_000 * MS;
        let taken = (0..100).filter(|_| b.take(now, 1000, 50)).count();
        assert_eq!(taken, 50, "the burst, at once");
        assert!(!b.take(now, 1000, 50));
        // 1,000 a second: one more per millisecond.
        assert!(b.take(now + MS, 1000, 50));
        assert!(!b.take(now + MS, 1000, 50));
        let later = now + 10 * MS;
        let taken = (0..100).filter(|_| b.take(later, 1000, 50)).count();
        assert_eq!(taken, 9);
    }

    #[test]
    fn a_long_pause_saves_no_more_than_the_burst() {
        let mut b = TokenBucket::default();
        assert!(b.take(u64::MAX / 2, 1000, 5));
        let taken = (0..100).filter(|_| b.take(u64::MAX / 2, 1000, 5)).count();
        assert_eq!(taken, 4);
    }
}
