//! The reader of the datapath's flow events.
//!
//! Waits on the ring's file descriptor (epoll through tokio's `AsyncFd`;
//! the kernel signals it when events arrive while the reader is caught up),
//! drains every queued event, hands them to the [`FlowSink`] in batches,
//! and waits again: no polling loop.

use std::{io, sync::Arc};

use tokio::{
    io::{unix::AsyncFd, Interest},
    sync::watch,
};

use super::sink::FlowSink;
use crate::datapath::FlowEvents;

/// Most events handed to the sink at once.
const BATCH: usize = 1024;

/// Hands every queued event to `sink`, [`BATCH`] at a time; returns how
/// many it read.
fn drain(events: &mut FlowEvents, sink: &FlowSink) -> usize {
    let mut batch = Vec::with_capacity(BATCH);
    let mut total = 0;
    loop {
        while batch.len() < BATCH {
            let Some(e) = events.next_event() else { break };
            batch.push(e);
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

/// Reads `events` until `stop` changes (or its sender is dropped), then
/// drains what is left and returns.
pub(super) async fn run(
    events: FlowEvents,
    sink: Arc<FlowSink>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // SAFETY: the ring buffer owns its map's descriptor, which stays open
    // and the same while the AsyncFd owns the ring (until this returns).
    let mut fd = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
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
