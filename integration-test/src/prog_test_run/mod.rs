//! The world of the packet tests, shared by them
//! (`integration-test/tests/prog_test_run/`) and the `prog_bench` example
//! (T6 of `cargo xtask bench`): [`mod@env`], a private network namespace with
//! the relay's interfaces and the datapath loaded with a known plan; [`run`],
//! one `BPF_PROG_TEST_RUN` of the real program and the counters around it.
//!
//! Behind the `prog-test-run` feature (on by default): it links `fwd`,
//! whose build needs the eBPF toolchain, and xtask, which links this
//! library before that toolchain exists, turns the feature off.

pub mod env;
pub mod run;
