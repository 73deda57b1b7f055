//! A stop asked for over the control socket (`fwd stop`, `fwd detach`):
//! the control server asks, `fwd attach`'s main loop waits for it.

use tokio::sync::watch;

/// How to stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stop {
    /// Leave the datapath attached and its state pinned.
    pub keep: bool,
}

/// Carries the first stop asked for to whoever waits for it.
#[derive(Debug)]
pub struct StopSignal {
    tx: watch::Sender<Option<Stop>>,
}

impl Default for StopSignal {
    fn default() -> StopSignal {
        StopSignal {
            tx: watch::channel(None).0,
        }
    }
}

impl StopSignal {
    /// Asks to stop; a later request replaces an earlier one not yet seen.
    pub fn request(&self, how: Stop) {
        self.tx.send_replace(Some(how));
    }

    /// Resolves when a stop is asked for (at once if one was), with how.
    pub async fn requested(&self) -> Stop {
        let mut rx = self.tx.subscribe();
        loop {
            if let Some(how) = *rx.borrow_and_update() {
                return how;
            }
            if rx.changed().await.is_err() {
                return Stop::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;

    #[tokio::test]
    async fn a_request_made_before_waiting_is_seen() {
        let s = StopSignal::default();
        s.request(Stop { keep: true });
        assert_eq!(s.requested().await, Stop { keep: true });
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_a_later_request() {
        let s = Arc::new(StopSignal::default());
        let waiter = tokio::spawn({
            let s = Arc::clone(&s);
            async move { s.requested().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        s.request(Stop { keep: false });
        let how = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert_eq!(how, Stop { keep: false });
    }
}
