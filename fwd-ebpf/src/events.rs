//! Flow start and end events into the `FLOW_EVENTS` ring buffer. Called only
//! when a flow starts or ends, never per packet.

use fwd_common::{
    events::{end_reason, FlowEvent, EVENT_END, EVENT_START},
    Flow4, Flow4Key,
};

use crate::maps::{EVENTS_LOST, FLOW_EVENTS};

/// What happened to a flow.
#[derive(Clone, Copy)]
pub enum Event {
    /// It started; `fwd_common::events::start_flags`.
    Start(u8),
    /// It ended, for this reason (a `fwd_common::events::end_reason`).
    End(u8),
}

/// Sends an `event` about the flow of which `half` (with key `key`) is one
/// half and `other` (if found) the other one (see `FlowEvent::new`); counts
/// it as lost when the ring is full. The event is written in place in the
/// ring's memory (`FlowEvent::fill`), never on the stack.
#[inline(always)]
pub fn emit(event: Event, key: &Flow4Key, half: &Flow4, other: Option<&Flow4>, now: u64) {
    let (kind, end_reason, flags) = match event {
        Event::Start(flags) => (EVENT_START, end_reason::NONE, flags),
        Event::End(reason) => (EVENT_END, reason, 0),
    };
    let Some(mut entry) = FLOW_EVENTS.reserve::<FlowEvent>(0) else {
        if let Some(lost) = EVENTS_LOST.get_ptr_mut(0) {
            // SAFETY: a per-CPU slot, written only by this CPU.
            unsafe { *lost += 1 };
        }
        return;
    };
    // SAFETY: the reserved entry is FlowEvent-sized memory of this run;
    // `fill` writes every field before it is submitted.
    let event = unsafe { &mut *entry.as_mut_ptr() };
    event.fill(kind, end_reason, key, half, other, now);
    event.flags = flags;
    entry.submit(0);
}
