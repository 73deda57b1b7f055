//! The GC task: expires idle flows every `gc_interval` ([`crate::gc`]
//! decides), sends their end events to the flow sink and adds each run to
//! the counters.

use std::sync::Arc;

use log::warn;
use tokio::sync::watch;

use super::sink::FlowSink;
use crate::{datapath::DatapathError, gc, state::Shared, text::error_chain};

/// Expires idle flows every `gc_interval` until `stop` changes.
pub(super) async fn run(shared: Arc<Shared>, sink: Arc<FlowSink>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.plan().settings.gc_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // The first tick is immediate: nothing to expire yet.
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (shared, sink) = (Arc::clone(&shared), Arc::clone(&sink));
                match tokio::task::spawn_blocking(move || gc_once(&shared, &sink)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!("gc: {}", error_chain(&e)),
                    Err(e) => warn!("gc: {e}"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// One GC run: expire under the datapath lock, then (lock released) send
/// the end events to the sink and add the run to the totals.
fn gc_once(shared: &Shared, sink: &FlowSink) -> Result<(), DatapathError> {
    let run = {
        let mut datapath = shared.datapath();
        gc::run_once(&mut datapath, &shared.plan().settings)?
    };
    sink.handle(&run.events);
    shared.counters.record_gc(&run.stats);
    Ok(())
}
