//! `cargo xtask test`: build, unit tests, then the integration tests (root).

use std::path::Path;

use anyhow::{bail, Result};

use integration_test::packages::{self, Needed};

use crate::{build, cmd::run, toolchain};

/// Commands the integration tests run, and the Debian package of each.
const NEEDED_COMMANDS: &[Needed] = &[
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
    ("sysctl", "procps"),
    ("sleep", "coreutils"),
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
    ("ping", "iputils-ping"),
    ("traceroute", "traceroute"),
];

/// Runs every test; fails if any fails. `args` go to the integration test
/// binaries.
pub(crate) fn test(root: &Path, args: &[String]) -> Result<()> {
    require_root()?;
    packages::install_missing(NEEDED_COMMANDS, "needed by the integration tests")?;
    let fwd = build::build(root)?;
    let path = toolchain::path_with_tools(root)?;

    run(toolchain::cargo()
        .args([
            "test",
            "--workspace",
            "--exclude",
            "integration-test",
            "--exclude",
            "fwd-ebpf",
        ])
        .current_dir(root)
        .env("PATH", &path))?;

    run(toolchain::cargo()
        .args(["test", "-p", "integration-test", "--", "--test-threads=1"])
        .args(args)
        .current_dir(root)
        .env("PATH", &path)
        .env("FWD_BIN", &fwd))?;
    eprintln!("xtask: all tests passed");
    Ok(())
}

/// The integration tests create namespaces and attach XDP programs.
fn require_root() -> Result<()> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "cargo xtask test must run as root: the integration tests create network \
             namespaces and attach XDP programs (try `sudo -E cargo xtask test`)"
        );
    }
    Ok(())
}
