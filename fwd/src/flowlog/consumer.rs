//! The reader of the datapath's `FLOW_EVENTS` ring buffer.
//!
//! Waits on the ring's file descriptor (epoll through tokio's `AsyncFd`;
//! the kernel signals it when events arrive while the reader is caught up),
//! drains every queued event, hands them to the [`FlowSink`] in batches,
//! and waits again: no polling loop.

use std::{io, mem::size_of, ptr, sync::Arc};

use aya::maps::{MapData, RingBuf};
use fwd_common::FlowEvent;
use tokio::{
    io::{unix::AsyncFd, Interest},
    sync::watch,
};

use super::FlowSink;

/// Most events handed to the sink at once.
pub const BATCH: usize = 1024;

/// The event in one ring-buffer item; `None` if the item is too short
/// (never from this datapath).
pub fn parse(item: &[u8]) -> Option<FlowEvent> {
    if item.len() < size_of::<FlowEvent>() {
        return None;
    }
    // SAFETY: the item holds at least size_of::<FlowEvent>() bytes;
    // FlowEvent is plain old data (every bit pattern is valid) and the
    // read does not assume alignment.
    Some(unsafe { ptr::read_unaligned(item.as_ptr().cast::<FlowEvent>()) })
}

/// Hands every queued event to `sink`, [`BATCH`] at a time; returns how
/// many it read.
pub fn drain(ring: &mut RingBuf<MapData>, sink: &FlowSink) -> usize {
    let mut batch = Vec::with_capacity(BATCH);
    let mut total = 0;
    loop {
        while batch.len() < BATCH {
            let Some(item) = ring.next() else { break };
            if let Some(e) = parse(&item) {
                batch.push(e);
            }
        }
        if batch.is_empty() {
            return total;
        }
        total += batch.len();
        sink.handle(&batch);
        if batch.len() < BATCH {
            return total;
        }
        batch.clear();
    }
}

/// Reads `ring` until `stop` changes (or its sender is dropped), then
/// drains what is left and returns.
pub async fn run(
    ring: RingBuf<MapData>,
    sink: Arc<FlowSink>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // SAFETY: the ring buffer owns its map's descriptor, which stays open
    // and the same while the AsyncFd owns the ring (until this returns).
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(io::Error::from)?;
    // Events queued before the descriptor was registered.
    drain(fd.get_mut(), &sink);
    loop {
        tokio::select! {
            ready = fd.readable_mut() => {
                let mut guard = ready?;
                drain(guard.get_inner_mut(), &sink);
                guard.clear_ready();
            }
            _ = stop.changed() => {
                drain(fd.get_mut(), &sink);
                return Ok(());
            }
        }
    }
}
