//! The `FLOW_EVENTS` ring buffer, read as [`FlowEvent`]s: the one consumer
//! (`crate::tasks`) waits on its descriptor and takes what is queued.

use std::{
    mem::size_of,
    os::fd::{AsRawFd, RawFd},
    ptr,
};

use aya::maps::{MapData, RingBuf};
use fwd_common::FlowEvent;

/// The datapath's flow events, taken once from the [`super::Datapath`].
pub struct FlowEvents {
    ring: RingBuf<MapData>,
    skipped: u64,
}

impl FlowEvents {
    pub(super) fn new(ring: RingBuf<MapData>) -> FlowEvents {
        FlowEvents { ring, skipped: 0 }
    }

    /// The next queued event, `None` when the ring is empty (items too
    /// short to be an event, never written by this datapath, are skipped).
    pub fn next_event(&mut self) -> Option<FlowEvent> {
        loop {
            let item = self.ring.next()?;
            if let Some(e) = parse(&item) {
                return Some(e);
            }
            self.skipped += 1;
        }
    }

    /// Items skipped so far because they were too short to be an event.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Readable when events are queued (epoll); the descriptor stays open
/// and the same while the ring exists.
impl AsRawFd for FlowEvents {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

/// The event in one ring-buffer item; `None` if the item is too short.
fn parse(item: &[u8]) -> Option<FlowEvent> {
    if item.len() < size_of::<FlowEvent>() {
        return None;
    }
    // SAFETY: the item holds at least size_of::<FlowEvent>() bytes;
    // FlowEvent is plain old data (every bit pattern is valid) and the
    // read does not assume alignment.
    Some(unsafe { ptr::read_unaligned(item.as_ptr().cast::<FlowEvent>()) })
}

#[cfg(test)]
mod tests {
    use fwd_common::{
        events::{end_reason, EVENT_END},
        IPPROTO_TCP,
    };

    use super::*;

    #[test]
    fn short_ring_items_are_ignored() {
        let e = FlowEvent {
            kind: EVENT_END,
            proto: IPPROTO_TCP,
            end_reason: end_reason::FIN,
            client_port: 40_000,
            ..FlowEvent::default()
        };
        // SAFETY: FlowEvent is plain old data of 88 bytes.
        let bytes: [u8; 88] = unsafe { std::mem::transmute(e) };
        assert_eq!(parse(&bytes), Some(e));
        // Unaligned, as ring items may be.
        let mut shifted = [0u8; 89];
        shifted[1..].copy_from_slice(&bytes);
        assert_eq!(parse(&shifted[1..]), Some(e));
        assert_eq!(parse(&bytes[..87]), None);
    }
}
