//! Health of backends: active checks, passive health, and taking backends
//! out of selection for new flows and back.
//!
//! - [`spec`]: what `[service.health]` says (parsed by [`crate::config`]);
//! - [`probe`]: one TCP or HTTP check from the relay's own stack;
//! - [`tracker`]: the rise/fall state machine;
//! - [`passive`]: clients' connection attempts followed in the connection
//!   table (SYNs without SYN-ACK);
//! - [`targets`]: which backends of the installed plan are checked, how;
//! - [`reset`]: `on_down = "reset"`, removing a down backend's flows;
//! - [`book`]: the health state `fwd status` and the metrics read;
//! - [`monitor`]: the task of `fwd attach` that runs it all and changes
//!   `Desired.down` through the [`crate::reconcile::Reconciler`] (its
//!   child `selection.rs`);
//! - [`report`]: a backend's health in `fwd status`.
//!
//! A backend that is down gets weight 0 in its service's Maglev table: no
//! new flow goes to it; when every backend of a service is down, the
//! datapath answers new flows with a TCP RST or an ICMP port unreachable
//! (`reject_no_backend`).

pub mod book;
pub mod monitor;
pub mod passive;
pub mod probe;
pub mod report;
pub mod reset;
pub mod spec;
pub mod targets;
pub mod tracker;

#[cfg(test)]
mod testing;

pub use self::{
    book::{BackendHealth, DownCause, HealthBook, HealthSnapshot},
    spec::{Health, HealthCheck, OnDown, Probe, Unchecked, DEFAULT_PATH, DEFAULT_STATUS},
    tracker::State,
};
use crate::reconcile::BackendRef;

/// A backend as the file writes it: `198.19.0.10`, or `198.19.0.10:80`
/// when the port is remapped (the `backend` label of the metrics).
pub fn backend_name(b: &BackendRef) -> String {
    match b.port {
        Some(p) => format!("{}:{p}", b.addr),
        None => b.addr.to_string(),
    }
}
