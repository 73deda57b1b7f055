//! Test infrastructure of fwd: packets for `BPF_PROG_TEST_RUN` tests, and
//! network namespaces, topologies and a running relay for end-to-end tests.
//!
//! Used by the tests in `integration-test/tests/`, by `cargo xtask demo`
//! and by the bench. Everything except [`addr`], [`packet`] and
//! [`maps_file`] needs root: it creates namespaces and veth pairs, runs
//! `fwd attach`, or installs packages ([`packages`], the one `apt-get`
//! installer of xtask and the bench). [`rawbpf`] (raw `bpf(2)` for XDP
//! programs of a few instructions) is shared with the bench and the
//! `prog_bench` example; `prog_test_run` (feature `prog-test-run`, on by
//! default) with the packet tests and that example.

#![warn(missing_docs)]

pub mod addr;
pub mod churn;
pub mod error;
pub mod longlived;
pub mod maps_file;
pub mod named_server;
pub mod netns;
pub mod packages;
pub mod packet;
pub mod process;
#[cfg(feature = "prog-test-run")]
pub mod prog_test_run;
pub mod prometheus;
pub mod raw;
pub mod rawbpf;
pub mod relay;
pub mod topology;
pub mod traffic;
pub mod xdp_pass;

pub use error::{Error, Result};
pub use maps_file::{maps_toml, ServiceSpec};
pub use netns::Netns;
pub use relay::Relay;
pub use topology::{Host, Shape, Topology};
