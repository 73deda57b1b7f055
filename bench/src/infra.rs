//! What the bench takes from the integration-test crate: network namespaces, the
//! end-to-end tests' topology and addresses, raw `bpf(2)`, processes, a
//! running fwd, and the package installer. This is the one file that names
//! that crate (its package name for `cargo -p` included), so renaming it
//! changes only these lines.

pub(crate) use integration_test::packet;
pub(crate) use integration_test::{
    netns::Netns, packages, process, rawbpf, relay, relay::Relay, topology, xdp_pass::XdpPass,
};

/// The integration-test crate's package name, for `cargo -p` (T6 runs its
/// `prog_bench` example).
pub(crate) const TESTS_PACKAGE: &str = "integration-test";
