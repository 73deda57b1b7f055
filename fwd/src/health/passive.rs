//! Passive health: connection attempts of real clients, watched in the
//! connection table.
//!
//! The datapath sends a start event for every new flow (the ring buffer of
//! the flow log, read whether or not a flow log is written). For each new
//! TCP flow to a watched backend, [`Inbox::observe`] keeps the key of the
//! flow's reply half. The monitor then reads just those reply halves
//! (point lookups, not a scan of the table: the cost follows the rate of
//! new connections, not the size of the table) until each is decided
//! ([`verdict`]): a SYN in the reply half means the backend answered; a
//! RST without SYN means it refused; neither after `syn_timeout` means it
//! did not answer. Refused and unanswered attempts are failures.
//!
//! Only attempts that could have succeeded are followed, so that a client
//! cannot take a backend out with SYNs the backend would drop: the
//! datapath marks a start event [`start_flags::ANSWERABLE`] when the SYN's
//! TCP checksum is right (verified for segments of at most 64 bytes) and
//! its TTL on arrival is at least `ANSWERABLE_MIN_TTL` (32), so that it
//! does not expire before the backend. A SYN with a partial checksum (sent
//! through a veth with TX checksum offload on the relay host itself) is
//! relayed but not followed.
//!
//! Bounded: at most [`MAX_QUEUED`] attempts wait in the inbox and
//! [`MAX_WATCHED_PER_BACKEND`] per backend are followed; the rest are not
//! looked at (passive health samples, it does not need every flow). Events
//! the ring buffer lost are simply not seen.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::Duration,
};

use fwd_common::{
    events::{start_flags, FlowEvent, EVENT_START},
    flow::tcp_flags,
    Flow4, Flow4Key, IPPROTO_TCP,
};

/// Most attempts waiting in the inbox for the monitor.
pub(crate) const MAX_QUEUED: usize = 4096;
/// Most attempts followed per backend at a time.
pub(crate) const MAX_WATCHED_PER_BACKEND: usize = 64;

/// A connection attempt to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Key of the flow's reply half (backend -> SNAT address:port).
    pub reply_key: Flow4Key,
    /// The backend's id.
    pub backend_id: u32,
    /// When the flow started (CLOCK_MONOTONIC ns, the datapath's clock).
    pub created_ns: u64,
}

impl Attempt {
    /// The attempt a start event reports, if it is a TCP flow whose SYN
    /// could have been answered ([`start_flags::ANSWERABLE`]).
    pub fn of(event: &FlowEvent) -> Option<Attempt> {
        if event.kind != EVENT_START
            || event.proto != IPPROTO_TCP
            || event.flags & start_flags::ANSWERABLE == 0
        {
            return None;
        }
        Some(Attempt {
            reply_key: Flow4Key::from_raw(
                event.backend_addr,
                event.backend_port,
                event.snat_addr,
                event.snat_port,
                IPPROTO_TCP,
            ),
            backend_id: event.backend_id,
            created_ns: event.created_ns,
        })
    }
}

/// What became of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not decided yet.
    Wait,
    /// The flow is gone (or its tuple started another flow): not counted.
    Gone,
    /// The backend answered with a SYN.
    Answered,
    /// The backend answered with a RST and no SYN.
    Refused,
    /// No answer within `syn_timeout`.
    Unanswered,
}

impl Verdict {
    /// Whether this is a failure of the backend (`None`: not decided or
    /// not counted).
    pub(crate) fn failed(self) -> Option<bool> {
        match self {
            Verdict::Answered => Some(false),
            Verdict::Refused | Verdict::Unanswered => Some(true),
            Verdict::Wait | Verdict::Gone => None,
        }
    }
}

/// The verdict on `attempt` given its reply half as read now (`None`:
/// missing) at `now_ns`.
pub(crate) fn verdict(
    attempt: &Attempt,
    reply: Option<&Flow4>,
    now_ns: u64,
    syn_timeout: Duration,
) -> Verdict {
    let Some(reply) = reply else {
        return Verdict::Gone;
    };
    if reply.created_ns != attempt.created_ns {
        return Verdict::Gone;
    }
    if reply.tcp_flags & tcp_flags::SYN != 0 {
        Verdict::Answered
    } else if reply.tcp_flags & tcp_flags::RST != 0 {
        Verdict::Refused
    } else if u128::from(now_ns.saturating_sub(attempt.created_ns)) > syn_timeout.as_nanos() {
        Verdict::Unanswered
    } else {
        Verdict::Wait
    }
}

/// Where start events leave the attempts for the monitor. Lives in
/// [`crate::state::Shared`]; written by the flow-event consumer (through
/// `Shared::record_event`), drained by the monitor.
#[derive(Debug, Default)]
pub struct Inbox {
    inner: Mutex<InboxInner>,
}

#[derive(Debug, Default)]
struct InboxInner {
    /// Backend ids with passive health on.
    watched: HashSet<u32>,
    queue: Vec<Attempt>,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, InboxInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the attempt `event` reports if its backend is watched and the
    /// inbox has room.
    pub fn observe(&self, event: &FlowEvent) {
        let Some(attempt) = Attempt::of(event) else {
            return;
        };
        let mut inner = self.lock();
        if inner.watched.contains(&attempt.backend_id) && inner.queue.len() < MAX_QUEUED {
            inner.queue.push(attempt);
        }
    }

    /// Sets the backends whose attempts are kept.
    pub fn watch(&self, ids: HashSet<u32>) {
        let mut inner = self.lock();
        inner.queue.retain(|a| ids.contains(&a.backend_id));
        inner.watched = ids;
    }

    /// Takes the waiting attempts.
    pub fn take(&self) -> Vec<Attempt> {
        std::mem::take(&mut self.lock().queue)
    }
}

/// The attempts followed by the monitor, per backend id.
#[derive(Debug, Default)]
pub(crate) struct Followed {
    by_backend: HashMap<u32, Vec<Attempt>>,
}

impl Followed {
    /// Adds attempts (beyond [`MAX_WATCHED_PER_BACKEND`] for a backend,
    /// they are dropped).
    pub(crate) fn add(&mut self, attempts: impl IntoIterator<Item = Attempt>) {
        for a in attempts {
            let list = self.by_backend.entry(a.backend_id).or_default();
            if list.len() < MAX_WATCHED_PER_BACKEND {
                list.push(a);
            }
        }
    }

    /// Whether nothing is followed.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_backend.values().all(Vec::is_empty)
    }

    /// Every followed attempt.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Attempt> {
        self.by_backend.values().flatten()
    }

    /// Decides what can be decided with `read` (the reply half of a key,
    /// as read now) at `now_ns`, `syn_timeout` of each backend id given by
    /// `timeout_of` (`None`: no longer watched, dropped). Returns the
    /// decided attempts, per backend in the order they started, with
    /// whether each failed.
    pub(crate) fn decide(
        &mut self,
        read: impl Fn(&Flow4Key) -> Option<Flow4>,
        now_ns: u64,
        timeout_of: impl Fn(u32) -> Option<Duration>,
    ) -> Vec<(u32, bool)> {
        let mut out = Vec::new();
        for (&id, list) in &mut self.by_backend {
            let Some(syn_timeout) = timeout_of(id) else {
                list.clear();
                continue;
            };
            list.sort_by_key(|a| a.created_ns);
            list.retain(|a| {
                let v = verdict(a, read(&a.reply_key).as_ref(), now_ns, syn_timeout);
                if let Some(failed) = v.failed() {
                    out.push((id, failed));
                }
                v == Verdict::Wait
            });
        }
        self.by_backend.retain(|_, l| !l.is_empty());
        out
    }
}

#[cfg(test)]
mod tests;
