//! Expiry of idle flows (userspace GC of `CT4`).
//!
//! The datapath creates flows and stamps each half with the time of its last
//! packet; it never deletes (the table is a plain hash map, see
//! `fwd_common::flow`). Every `gc_interval` the loader reads the table,
//! pairs the halves, and deletes the flows idle for longer than the timeout
//! of their state. Deciding is pure ([`decide`], [`plan`]); only [`run_once`]
//! touches the datapath.
//!
//! Every flow the GC deletes gets an end event (reason `timeout` or
//! `evicted`), unless the datapath already sent one (a TCP flow that saw a
//! RST or a FIN both ways, see [`crate::flows::ended_by_datapath`]). Lone
//! halves get none: a flow being created never sent its start event, and
//! the rest of a flow whose reply half is gone has ended already.

use std::time::Duration;

use fwd_common::{
    events::{end_reason, FlowEvent},
    flow::{flow_state, tcp_flags, FlowState, DIR_FORWARD},
    Flow4, Flow4Key,
};
use log::debug;

use crate::{
    clock::monotonic_ns,
    config::RelaySettings,
    datapath::{Datapath, DatapathError},
    flows::{end_event, ended_by_datapath, HalfIndex},
};

/// A half without its partner exists for microseconds while the datapath
/// creates a flow; one alone for longer is left over and deleted.
pub(crate) const ORPHAN_IDLE: Duration = Duration::from_secs(30);
/// Under pressure, opening TCP flows idle for longer than this are expired.
pub(crate) const PRESSURE_OPENING_IDLE: Duration = Duration::from_secs(10);
/// The table is under pressure above this share of its capacity (percent).
pub(crate) const PRESSURE_PERCENT: u64 = 90;

/// The halves of one flow found in the table.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Halves<'a> {
    /// Both halves.
    Pair {
        /// The client -> backend half.
        forward: &'a Flow4,
        /// The backend -> client half.
        reply: &'a Flow4,
    },
    /// One half whose partner is missing.
    Alone(&'a Flow4),
}

/// What to do with a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Keep it.
    Keep {
        /// Its state (`None` for a lone half).
        state: Option<FlowState>,
        /// Nanoseconds since its last packet.
        idle_ns: u64,
    },
    /// Idle longer than the timeout of its state.
    ExpireTimeout,
    /// A lone half idle longer than [`ORPHAN_IDLE`].
    ExpireOrphan,
}

/// Time of the last packet of a half (its creation if it saw none).
fn last_activity(half: &Flow4) -> u64 {
    half.last_seen_ns.max(half.created_ns)
}

/// The idle timeout of a flow in `state`.
pub(crate) fn timeout(state: FlowState, settings: &RelaySettings) -> Duration {
    match state {
        FlowState::Udp => settings.udp,
        FlowState::Icmp => settings.icmp,
        FlowState::TcpEstablished => settings.tcp_established,
        FlowState::TcpOpening => settings.tcp_opening,
        FlowState::TcpClosing => settings.tcp_transitory,
    }
}

/// Highest well-known port (RFC 4787 REQ-5a: UDP mappings to such
/// destination ports may have shorter timers).
const WELL_KNOWN_MAX: u16 = 1023;

/// The idle timeout of the flow whose halves are `forward` and `reply`, in
/// `state`: the state's, shortened for a one-exchange UDP flow to a
/// well-known backend port (`udp_single_timeout`) and for a TCP flow closed
/// by a FIN each way (`tcp_closed_timeout`), so that their SNAT ports come
/// back sooner.
pub(crate) fn flow_timeout(
    state: FlowState,
    forward: &Flow4,
    reply: &Flow4,
    settings: &RelaySettings,
) -> Duration {
    let fin = |h: &Flow4| h.tcp_flags & tcp_flags::FIN != 0;
    let rst = (forward.tcp_flags | reply.tcp_flags) & tcp_flags::RST != 0;
    match state {
        FlowState::Udp
            if forward.packets <= 1
                && reply.packets <= 1
                && u16::from_be(forward.nat_dst_port) <= WELL_KNOWN_MAX =>
        {
            settings.udp_single.min(settings.udp)
        }
        FlowState::TcpClosing if fin(forward) && fin(reply) && !rst => {
            settings.tcp_closed.min(settings.tcp_transitory)
        }
        state => timeout(state, settings),
    }
}

/// Decides the fate of one flow of protocol `proto` at `now_ns`
/// (CLOCK_MONOTONIC, the clock of `bpf_ktime_get_coarse_ns`).
pub(crate) fn decide(
    proto: u8,
    halves: Halves<'_>,
    now_ns: u64,
    settings: &RelaySettings,
) -> Decision {
    match halves {
        Halves::Pair { forward, reply } => {
            let state = flow_state(proto, forward.tcp_flags, reply.tcp_flags);
            let idle_ns = now_ns.saturating_sub(last_activity(forward).max(last_activity(reply)));
            if u128::from(idle_ns) > flow_timeout(state, forward, reply, settings).as_nanos() {
                Decision::ExpireTimeout
            } else {
                Decision::Keep {
                    state: Some(state),
                    idle_ns,
                }
            }
        }
        Halves::Alone(half) => {
            let idle_ns = now_ns.saturating_sub(last_activity(half));
            if u128::from(idle_ns) > ORPHAN_IDLE.as_nanos() {
                Decision::ExpireOrphan
            } else {
                Decision::Keep {
                    state: None,
                    idle_ns,
                }
            }
        }
    }
}

/// Counts of one GC run, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// `CT4` entries read.
    pub entries: u64,
    /// Complete flows (pairs) found.
    pub flows: u64,
    /// Flows expired by their idle timeout.
    pub expired_timeout: u64,
    /// Opening TCP flows expired because the table was nearly full.
    pub expired_pressure: u64,
    /// Lone halves deleted.
    pub orphans: u64,
    /// Expiries skipped because a packet refreshed the flow after the
    /// table was read (not counted above).
    pub refreshed: u64,
    /// Deletions that failed (logged; retried next run).
    pub errors: u64,
}

impl GcStats {
    /// Adds another run's counts (totals since start).
    pub fn add(&mut self, other: &GcStats) {
        self.entries += other.entries;
        self.flows += other.flows;
        self.expired_timeout += other.expired_timeout;
        self.expired_pressure += other.expired_pressure;
        self.orphans += other.orphans;
        self.refreshed += other.refreshed;
        self.errors += other.errors;
    }
}

/// Why a flow is expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Idle longer than the timeout of its state.
    Timeout,
    /// An opening TCP flow, expired because the table is nearly full.
    Pressure,
    /// A lone half.
    Orphan,
}

/// One flow (or lone half) to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expiry {
    /// Keys to delete, in this order: the forward half, then the reply
    /// half. The reply half's key holds the SNAT port: deleted last, the
    /// port is free for a new flow only once no packet can be translated
    /// to it any more. A reply half left behind (its delete failed) is
    /// deleted as an orphan later.
    pub keys: Vec<Flow4Key>,
    /// The flow's last activity when the table was read: if a half shows a
    /// later one when it is about to be deleted, the flow is kept.
    pub last_activity_ns: u64,
    /// Why.
    pub cause: Cause,
    /// The end event to send once the flow is deleted (`None` for a lone
    /// half, and for a flow the datapath already reported ended).
    pub end: Option<FlowEvent>,
}

/// The deletions of one run and their counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GcPlan {
    /// The flows to delete.
    pub expiries: Vec<Expiry>,
    /// Counts (`refreshed` and `errors` are filled in by [`run_once`]).
    pub stats: GcStats,
}

impl GcPlan {
    /// Every key to delete, in order (tests).
    #[cfg(test)]
    pub(crate) fn deletions(&self) -> Vec<Flow4Key> {
        self.expiries
            .iter()
            .flat_map(|e| e.keys.iter().copied())
            .collect()
    }
}

/// Decides every deletion for the table `entries` of `capacity` entries.
pub(crate) fn plan(
    entries: &[(Flow4Key, Flow4)],
    now_ns: u64,
    capacity: u32,
    settings: &RelaySettings,
) -> GcPlan {
    let index = HalfIndex::new(entries);
    let mut out = GcPlan {
        stats: GcStats {
            entries: entries.len() as u64,
            ..Default::default()
        },
        ..Default::default()
    };
    // Opening TCP flows idle past PRESSURE_OPENING_IDLE: (idle, expiry).
    let mut opening: Vec<(u64, Expiry)> = Vec::new();
    let mut deleted = 0u64;
    for (key, half) in entries {
        let Some((other, partner)) = index.partner(key, half) else {
            if decide(key.proto, Halves::Alone(half), now_ns, settings) == Decision::ExpireOrphan {
                let last_activity_ns = last_activity(half);
                out.expiries.push(Expiry {
                    keys: vec![*key],
                    last_activity_ns,
                    cause: Cause::Orphan,
                    end: None,
                });
                out.stats.orphans += 1;
                deleted += 1;
            }
            continue;
        };
        // A pair is decided once, at its forward half.
        if half.direction != DIR_FORWARD {
            continue;
        }
        out.stats.flows += 1;
        let ((fkey, forward), (rkey, reply)) = ((*key, half), (other, partner));
        let last_activity_ns = last_activity(forward).max(last_activity(reply));
        let ended = ended_by_datapath(key.proto, forward.tcp_flags, reply.tcp_flags);
        let expiry = |cause| Expiry {
            keys: vec![fkey, rkey],
            last_activity_ns,
            cause,
            end: (!ended).then(|| {
                let reason = match cause {
                    Cause::Pressure => end_reason::EVICTED,
                    _ => end_reason::TIMEOUT,
                };
                end_event(reason, &fkey, forward, reply, now_ns)
            }),
        };
        match decide(key.proto, Halves::Pair { forward, reply }, now_ns, settings) {
            Decision::ExpireTimeout => {
                out.expiries.push(expiry(Cause::Timeout));
                out.stats.expired_timeout += 1;
                deleted += 2;
            }
            Decision::Keep {
                state: Some(FlowState::TcpOpening),
                idle_ns,
            } if u128::from(idle_ns) > PRESSURE_OPENING_IDLE.as_nanos() => {
                opening.push((idle_ns, expiry(Cause::Pressure)));
            }
            _ => {}
        }
    }
    // Under pressure: the oldest opening flows go first, until the table is
    // back under the threshold.
    let mut remaining = entries.len() as u64 - deleted;
    let over = |remaining: u64| remaining * 100 > u64::from(capacity) * PRESSURE_PERCENT;
    if over(remaining) {
        opening.sort_by_key(|(idle, _)| std::cmp::Reverse(*idle));
        for (_, expiry) in opening {
            if !over(remaining) {
                break;
            }
            out.expiries.push(expiry);
            out.stats.expired_pressure += 1;
            remaining = remaining.saturating_sub(2);
        }
    }
    out
}

/// What one GC run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GcRun {
    /// Its counts.
    pub stats: GcStats,
    /// End events of the flows it deleted, for the flow-event sink.
    pub events: Vec<FlowEvent>,
}

/// One GC run: reads `CT4`, deletes what [`plan`] says, logs a debug line;
/// returns the counts and the end events of the deleted flows (a flow whose
/// reply half could not be deleted is retried next run, and gets its event
/// then).
///
/// Just before deleting a flow its halves are read again, and a flow that
/// saw a packet since the table was read is kept. A packet can still arrive
/// between that read and the delete (microseconds, after the flow was idle
/// for its whole timeout): the next packet of that flow then starts a new
/// flow (UDP, TCP SYN) or is handed to the kernel (other TCP).
pub(crate) fn run_once(
    datapath: &mut Datapath,
    settings: &RelaySettings,
) -> Result<GcRun, DatapathError> {
    let entries = datapath.flows()?;
    let GcPlan {
        expiries,
        mut stats,
    } = plan(&entries, monotonic_ns(), datapath.flow_capacity(), settings);
    let mut events = Vec::new();
    for expiry in &expiries {
        if refreshed(datapath, expiry) {
            stats.refreshed += 1;
            match expiry.cause {
                Cause::Timeout => stats.expired_timeout -= 1,
                Cause::Pressure => stats.expired_pressure -= 1,
                Cause::Orphan => stats.orphans -= 1,
            }
            continue;
        }
        let mut first_removed = false;
        for (i, key) in expiry.keys.iter().enumerate() {
            match datapath.remove_flow(key) {
                Ok(()) => first_removed |= i == 0,
                Err(e) => {
                    stats.errors += 1;
                    debug!("gc: {}", crate::text::error_chain(&e));
                }
            }
        }
        // Without its first key (the forward half) the flow is gone: no
        // packet of the client finds it.
        if first_removed {
            events.extend(expiry.end);
        }
    }
    debug!(
        "gc: {} entries, {} flows; expired {} idle, {} under pressure, {} orphan halves; \
         {} refreshed, {} errors",
        stats.entries,
        stats.flows,
        stats.expired_timeout,
        stats.expired_pressure,
        stats.orphans,
        stats.refreshed,
        stats.errors
    );
    Ok(GcRun { stats, events })
}

/// Whether a half of `expiry` saw a packet after the table was read (a
/// half that cannot be read counts as not refreshed).
fn refreshed(datapath: &Datapath, expiry: &Expiry) -> bool {
    expiry.keys.iter().any(|key| {
        matches!(datapath.flow(key), Ok(Some(half)) if last_activity(&half) > expiry.last_activity_ns)
    })
}

#[cfg(test)]
mod tests;
