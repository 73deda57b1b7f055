//! Health of backends, the pure parts: checks, passive health, and the
//! decisions that take backends out of selection for new flows and back.
//! What a service's checks are is [`crate::config::health`]; the task that
//! runs them is `crate::tasks::health`.
//!
//! - [`probe`]: one TCP or HTTP check from the relay's own stack;
//! - [`tracker`]: the rise/fall state machine;
//! - [`passive`]: clients' connection attempts followed in the connection
//!   table (SYNs without SYN-ACK);
//! - [`targets`]: which backends of the installed plan are checked, how;
//! - [`reset`]: `on_down = "reset"`, which flows of a down backend to
//!   remove;
//! - [`book`]: the health state `fwd status` and the metrics read;
//! - [`report`]: a backend's health in `fwd status`.
//!
//! A backend that is down gets weight 0 in its service's Maglev table: no
//! new flow goes to it; when every backend of a service is down, the
//! datapath answers new flows with a TCP RST or an ICMP port unreachable
//! (`reject_no_backend`).

pub(crate) mod book;
pub(crate) mod passive;
pub(crate) mod probe;
pub(crate) mod report;
pub(crate) mod reset;
pub(crate) mod targets;
pub(crate) mod tracker;

#[cfg(test)]
mod testing;

pub(crate) use self::{
    book::{BackendHealth, HealthBook, HealthSnapshot},
    tracker::State,
};
use crate::plan::BackendRef;

/// A backend as the file writes it: `198.19.0.10`, or `198.19.0.10:80`
/// when the port is remapped (the `backend` label of the metrics).
pub(crate) fn backend_name(b: &BackendRef) -> String {
    match b.port {
        Some(p) => format!("{}:{p}", b.addr),
        None => b.addr.to_string(),
    }
}
