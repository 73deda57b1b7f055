//! The health task's way to the datapath: bringing
//! `Desired.down` in line with the backends' states through the
//! reconciler, and `on_down = "reset"`.

use std::{collections::BTreeSet, sync::Arc};

use fwd_common::events::FlowEvent;
use log::{info, warn};
use tokio::{task::spawn_blocking, time::Instant};

use super::{Monitor, RETRY};
use crate::{
    clock::monotonic_ns,
    config::health::OnDown,
    datapath::{Datapath, DatapathError},
    health::{backend_name, reset::select, tracker::State},
    plan::BackendRef,
    text::error_chain,
};

impl Monitor {
    /// Makes `Desired.down` hold exactly the backends that are down, then
    /// resets the flows of those newly down whose service says so.
    pub(super) async fn apply(&mut self) {
        let want: BTreeSet<BackendRef> = self
            .watched
            .iter()
            .filter(|(_, w)| w.tracker.state() == State::Down)
            .map(|(k, _)| k.clone())
            .collect();
        if want == self.applied || self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let (before, after) = (self.applied.clone(), want.clone());
        let started = Instant::now();
        let result = spawn_blocking(move || {
            let reconciler = shared.reconciler()?;
            Some(
                reconciler
                    .replan(&shared.installed, |d| {
                        d.down.retain(|k| !before.contains(k));
                        d.down.extend(after);
                    })
                    .map(drop)
                    .map_err(|e| error_chain(&e)),
            )
        })
        .await;
        match result {
            Ok(Some(Ok(()))) => {
                let took = started.elapsed().as_millis();
                let newly_down: Vec<BackendRef> = want.difference(&self.applied).cloned().collect();
                for key in &newly_down {
                    let name = backend_name(key);
                    info!(
                        "health: {} {name}: out of selection for new flows (installed in \
                         {took} ms)",
                        key.service
                    );
                }
                for key in self.applied.difference(&want) {
                    let name = backend_name(key);
                    info!(
                        "health: {} {name}: back in selection (installed in {took} ms)",
                        key.service
                    );
                }
                self.applied = want;
                self.retry_at = None;
                self.last_error = None;
                for key in newly_down {
                    self.reset(&key).await;
                }
            }
            Ok(Some(Err(e))) => {
                if self.last_error.as_ref() != Some(&e) {
                    warn!(
                        "health: cannot change the backends in selection (tried again every \
                         {RETRY:?}): {e}"
                    );
                    self.last_error = Some(e);
                }
                self.retry_at = Some(Instant::now() + RETRY);
            }
            Ok(None) | Err(_) => self.retry_at = Some(Instant::now() + RETRY),
        }
    }

    /// Removes the flows of `key` if its service says `on_down = "reset"`.
    async fn reset(&self, key: &BackendRef) {
        let Some(w) = self.watched.get(key) else {
            return;
        };
        if w.checked.check.on_down != OnDown::Reset {
            return;
        }
        let (shared, id) = (Arc::clone(&self.shared), w.checked.id);
        let removed = spawn_blocking(move || reset_backend(&mut shared.datapath(), id)).await;
        match removed {
            Ok(Ok(events)) => {
                info!(
                    "health: {} {}: reset {} flows (on_down = \"reset\")",
                    key.service,
                    backend_name(key),
                    events.len()
                );
                self.sink.handle(&events);
            }
            Ok(Err(e)) => warn!(
                "health: {} {}: resetting its flows: {}",
                key.service,
                backend_name(key),
                error_chain(&e)
            ),
            Err(e) => warn!("health: resetting flows: {e}"),
        }
    }
}

/// Removes every flow of backend `backend_id`; returns the end events of
/// the flows removed. Blocking (reads the whole table under the lock).
fn reset_backend(
    datapath: &mut Datapath,
    backend_id: u32,
) -> Result<Vec<FlowEvent>, DatapathError> {
    let entries = datapath.flows()?;
    let mut events = Vec::new();
    for removal in select(&entries, backend_id, monotonic_ns()) {
        let mut first_removed = false;
        for (i, key) in removal.keys.iter().enumerate() {
            datapath.remove_flow(key)?;
            first_removed |= i == 0;
        }
        if first_removed {
            events.extend(removal.end);
        }
    }
    Ok(events)
}
