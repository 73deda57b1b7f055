//! The keeper of held fragments: later fragments that came before their
//! first, which the datapath copies into its `FRAGMENTS` ring (see
//! `fwd_common::frag`).
//!
//! The keeper reads the ring as `flow_events` reads its own (epoll, no
//! polling), keeps each frame under its datagram, and runs a datagram's
//! frames through the program again ([`Datapath::rerun`]) when the
//! datapath releases it, i.e. its first fragment was relayed or passed.
//! Once a second it also looks at the datagrams it holds frames of (a
//! release may be lost to a full ring, or race with a frame still being
//! queued), drops the frames of datagrams whose first did not come in time,
//! and deletes the datapath's expired datagram entries.
//!
//! What is held is bounded: at most [`MAX_HELD`] frames and
//! [`MAX_HELD_BYTES`] bytes (the kernel's own reassembly memory default);
//! more are refused and counted.

use std::{
    collections::HashMap,
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use fwd_common::frag::{Frag4, Frag4Key, FRAG_TIMEOUT_NS, FRAG_WAITING};
use log::warn;
use tokio::{
    io::{unix::AsyncFd, Interest},
    sync::watch,
};

use crate::{
    clock::monotonic_ns,
    datapath::{Datapath, DatapathError, HeldFragments, Parked},
    state::{HeldTotals, Shared},
    text::error_chain,
};

/// Most frames held at once.
const MAX_HELD: usize = 4096;
/// Most frame bytes held at once (the kernel's `ipfrag_high_thresh`).
const MAX_HELD_BYTES: usize = 4 << 20;
/// How often held datagrams and the datapath's entries are looked at.
const TICK: Duration = Duration::from_secs(1);
/// How long a frame is held at most.
const HOLD_FOR: Duration = Duration::from_nanos(FRAG_TIMEOUT_NS);

/// One held frame.
#[derive(Debug)]
struct Frame {
    ifindex: u32,
    bytes: Vec<u8>,
    since: Instant,
}

/// What to do with a datagram's frames, given its datapath entry.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Still waiting for the first fragment.
    Keep,
    /// The first came: run the frames again.
    Rerun,
    /// The datagram is gone (expired or never recorded): drop them.
    Drop,
}

/// The verdict for a datagram whose entry is `entry`, `now_ns` on the
/// datapath's clock.
fn verdict(entry: Option<&Frag4>, now_ns: u64) -> Verdict {
    match entry {
        Some(e) if e.expired(now_ns) => Verdict::Drop,
        Some(e) if e.state == FRAG_WAITING => Verdict::Keep,
        Some(_) => Verdict::Rerun,
        None => Verdict::Drop,
    }
}

/// The frames held, by datagram.
#[derive(Debug, Default)]
struct Keeper {
    held: HashMap<Frag4Key, Vec<Frame>>,
    frames: usize,
    bytes: usize,
}

impl Keeper {
    /// Holds one frame; false (and nothing held) when the keeper is full.
    fn hold(&mut self, key: Frag4Key, ifindex: u32, bytes: Vec<u8>, now: Instant) -> bool {
        if self.frames >= MAX_HELD || self.bytes + bytes.len() > MAX_HELD_BYTES {
            return false;
        }
        self.frames += 1;
        self.bytes += bytes.len();
        self.held.entry(key).or_default().push(Frame {
            ifindex,
            bytes,
            since: now,
        });
        true
    }

    /// Takes every frame of `key`.
    fn take(&mut self, key: &Frag4Key) -> Vec<Frame> {
        let frames = self.held.remove(key).unwrap_or_default();
        self.frames -= frames.len();
        self.bytes -= frames.iter().map(|f| f.bytes.len()).sum::<usize>();
        frames
    }

    /// Takes the frames held longer than [`HOLD_FOR`]; returns how many.
    fn take_stale(&mut self, now: Instant) -> u64 {
        let stale: Vec<Frag4Key> = self
            .held
            .iter()
            .filter(|(_, frames)| {
                frames
                    .iter()
                    .any(|f| now.duration_since(f.since) >= HOLD_FOR)
            })
            .map(|(k, _)| *k)
            .collect();
        stale.iter().map(|k| self.take(k).len() as u64).sum()
    }

    /// The datagrams with frames held.
    fn keys(&self) -> Vec<Frag4Key> {
        self.held.keys().copied().collect()
    }
}

/// Runs `frames` through the program again; returns how many ran.
fn rerun(datapath: &mut Datapath, frames: Vec<Frame>) -> u64 {
    let mut ran = 0;
    for f in frames {
        match datapath.rerun(f.ifindex, &f.bytes) {
            Ok(_) => ran += 1,
            Err(e) => warn!("held fragments: {}", error_chain(&e)),
        }
    }
    ran
}

/// Applies the verdict on `key`'s frames as the datapath sees it now.
fn settle(datapath: &mut Datapath, keeper: &mut Keeper, key: &Frag4Key) -> HeldTotals {
    let entry = match datapath.fragmented(key) {
        Ok(entry) => entry,
        Err(e) => {
            warn!("held fragments: {}", error_chain(&e));
            return HeldTotals::default();
        }
    };
    match verdict(entry.as_ref(), monotonic_ns()) {
        Verdict::Keep => HeldTotals::default(),
        Verdict::Rerun => HeldTotals {
            rerun: rerun(datapath, keeper.take(key)),
            ..HeldTotals::default()
        },
        Verdict::Drop => HeldTotals {
            expired: keeper.take(key).len() as u64,
            ..HeldTotals::default()
        },
    }
}

/// Takes every queued item: frames are held, and each datagram touched
/// is settled with the datapath.
fn drain(ring: &mut HeldFragments, keeper: &mut Keeper, shared: &Shared) {
    let mut touched = Vec::new();
    let mut totals = HeldTotals::default();
    let now = Instant::now();
    while let Some(item) = ring.next_item() {
        match item {
            Parked::Frame {
                key,
                ifindex,
                frame,
            } => {
                if keeper.hold(key, ifindex, frame, now) {
                    touched.push(key);
                } else {
                    totals.refused += 1;
                }
            }
            Parked::Release { key } => touched.push(key),
        }
    }
    touched.sort_unstable_by_key(|k| (k.src_addr, k.dst_addr, k.id, k.proto));
    touched.dedup();
    if !touched.is_empty() {
        let mut datapath = shared.datapath();
        for key in &touched {
            totals.add(&settle(&mut datapath, keeper, key));
        }
    }
    shared.counters.record_held(&totals);
}

/// The once-a-second look: every held datagram settled, stale frames
/// dropped, expired datagram entries deleted.
fn tick(keeper: &mut Keeper, shared: &Shared) -> Result<(), DatapathError> {
    let mut totals = HeldTotals {
        expired: keeper.take_stale(Instant::now()),
        ..HeldTotals::default()
    };
    let mut datapath = shared.datapath();
    for key in keeper.keys() {
        totals.add(&settle(&mut datapath, keeper, &key));
    }
    totals.datagrams_expired = datapath.expire_fragmented(monotonic_ns())? as u64;
    drop(datapath);
    shared.counters.record_held(&totals);
    Ok(())
}

/// Keeps the held fragments of `ring` until `stop` changes; what is held
/// then is dropped (a restarted relay's datapath holds new ones).
pub(super) async fn run(
    ring: HeldFragments,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // SAFETY: the ring owns its map's descriptor, which stays open and the
    // same while the AsyncFd owns the ring (until this returns).
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(io::Error::from)?;
    let mut keeper = Keeper::default();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    drain(fd.get_mut(), &mut keeper, &shared);
    loop {
        tokio::select! {
            ready = fd.readable_mut() => {
                let mut guard = ready?;
                drain(guard.get_inner_mut(), &mut keeper, &shared);
                guard.clear_ready();
            }
            _ = ticks.tick() => {
                if let Err(e) = tick(&mut keeper, &shared) {
                    warn!("held fragments: {}", error_chain(&e));
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use fwd_common::frag::{FRAG_PASSED, FRAG_RELAYED};

    use super::*;

    fn key(id: u16) -> Frag4Key {
        Frag4Key {
            src_addr: 1,
            dst_addr: 2,
            id,
            proto: 17,
            pad: 0,
        }
    }

    #[test]
    fn the_datagram_entry_decides_what_becomes_of_its_frames() {
        let at = |state, created_ns| Frag4 {
            state,
            created_ns,
            ..Frag4::default()
        };
        let now = FRAG_TIMEOUT_NS + 5;
        assert_eq!(verdict(Some(&at(FRAG_WAITING, 10)), now), Verdict::Keep);
        assert_eq!(verdict(Some(&at(FRAG_RELAYED, 10)), now), Verdict::Rerun);
        assert_eq!(verdict(Some(&at(FRAG_PASSED, 10)), now), Verdict::Rerun);
        assert_eq!(verdict(Some(&at(FRAG_RELAYED, 5)), now), Verdict::Drop);
        assert_eq!(verdict(None, now), Verdict::Drop);
    }

    #[test]
    fn frames_are_held_by_datagram_within_bounds() {
        let now = Instant::now();
        let mut k = Keeper::default();
        assert!(k.hold(key(1), 3, vec![0; 100], now));
        assert!(k.hold(key(1), 3, vec![0; 50], now));
        assert!(k.hold(key(2), 4, vec![0; 10], now));
        assert_eq!((k.frames, k.bytes), (3, 160));
        let taken = k.take(&key(1));
        assert_eq!(taken.len(), 2);
        assert_eq!((k.frames, k.bytes), (1, 10));
        assert!(k.take(&key(1)).is_empty());
        // Bytes are bounded...
        assert!(!k.hold(key(3), 1, vec![0; MAX_HELD_BYTES], now));
        // ... and frames.
        for i in 1..MAX_HELD {
            assert!(k.hold(key(4), 1, vec![0; 1], now), "frame {i}");
        }
        assert!(!k.hold(key(5), 1, vec![0; 1], now));
        assert_eq!(k.frames, MAX_HELD);
    }

    #[test]
    fn frames_held_too_long_are_dropped() {
        let then = Instant::now();
        let mut k = Keeper::default();
        k.hold(key(1), 1, vec![0; 10], then);
        k.hold(key(2), 1, vec![0; 10], then + HOLD_FOR);
        k.hold(key(2), 1, vec![0; 10], then + HOLD_FOR);
        assert_eq!(k.take_stale(then + HOLD_FOR), 1);
        assert_eq!(k.keys(), vec![key(2)]);
        assert_eq!((k.frames, k.bytes), (2, 20));
    }
}
