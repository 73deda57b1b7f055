//! The one destination of flow events, from the ring buffer, the GC and
//! health resets: the closed-flow counters and passive health
//! ([`Shared::record_event`]), then the flow log if there is one.

use std::sync::{Arc, Mutex};

use fwd_common::events::FlowEvent;

use crate::{clock::Clock, flowlog::FlowLog, state::Shared};

/// The one destination of flow events, shared by the ring-buffer consumer
/// and the GC.
pub(super) struct FlowSink {
    shared: Arc<Shared>,
    log: Option<Mutex<FlowLog>>,
}

impl FlowSink {
    /// A sink counting into `shared` and writing to `log` if any.
    pub(super) fn new(shared: Arc<Shared>, log: Option<FlowLog>) -> FlowSink {
        FlowSink {
            shared,
            log: log.map(Mutex::new),
        }
    }

    /// Counts every event (always, flow log or not: the metrics count
    /// closed flows), then writes them to the flow log.
    pub(super) fn handle(&self, events: &[FlowEvent]) {
        if events.is_empty() {
            return;
        }
        for e in events {
            self.shared.record_event(e);
        }
        if let Some(log) = &self.log {
            let clock = Clock::now();
            log.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write_logged(events, &self.shared.plan(), &clock);
        }
    }
}
