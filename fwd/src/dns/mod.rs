//! Backends given by DNS name (`backends = ["storage.example:443"]`).
//!
//! Each IPv4 address of a name's answer is a backend of the service, with
//! the port and weight written with the name; to the host checks, the plan,
//! the ids and the health checks it is an ordinary backend (service,
//! address, port). The pieces:
//! - [`expand()`] (pure): the file plus the current answers
//!   ([`crate::pipeline::Desired::resolved`]) give the file with addresses
//!   only; [`crate::pipeline::plan_of`] plans that;
//! - [`Resolver`]: A lookups with hickory-resolver, with the servers of
//!   `/etc/resolv.conf` or of `[relay] dns_servers`, no cache, the TTL of
//!   each answer kept;
//! - [`resolve_all`]: every name at the start of `fwd attach` (a name that
//!   does not resolve stops it) and in `fwd check`;
//! - [`schedule`] (pure): a name is resolved again when its TTL ends, at
//!   least [`MIN_REFRESH`] and at most [`MAX_REFRESH`] apart; after a
//!   failure after 1 s, 2 s, 4 s ... [`MAX_RETRY`];
//! - the task that does it and installs changed answers is
//!   `crate::tasks::dns`;
//! - [`DnsStatus`]: answers and failure counts, for `fwd status`
//!   ([`report`]) and the metrics.

mod expand;
pub mod report;
mod resolver;
pub mod schedule;
mod start;
mod status;

pub use expand::{expand, names, Answers, SkipReason, Skipped};
pub use resolver::{
    Answer, LookupError, Resolver, Servers, SetupError, ATTEMPTS, LOOKUP_TIMEOUT, SERVER_TIMEOUT,
};
pub use schedule::{MAX_REFRESH, MAX_RETRY, MIN_REFRESH};
pub use start::{
    answers_of, check_names, resolve_all, resolve_names, resolve_new_blocking, Resolved,
    StartError, Unresolved,
};
pub use status::{DnsStatus, NameStatus};
