//! `cargo xtask test`: build, unit tests, then the integration tests (root).

use std::{env, path::Path, process::Command};

use anyhow::{bail, Result};

use crate::{build, cmd::run, toolchain};

/// Commands the integration tests run, and the Debian package of each.
const NEEDED_COMMANDS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
    ("sysctl", "procps"),
    ("sleep", "coreutils"),
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
];

/// Runs every test; fails if any fails. `args` go to the integration test
/// binaries.
pub fn test(root: &Path, args: &[String]) -> Result<()> {
    require_root()?;
    install_missing_packages()?;
    let fwd = build::build(root)?;
    let path = toolchain::path_with_tools(root)?;

    run(toolchain::cargo()
        .args([
            "test",
            "--workspace",
            "--exclude",
            "tests",
            "--exclude",
            "fwd-ebpf",
        ])
        .current_dir(root)
        .env("PATH", &path))?;

    run(toolchain::cargo()
        .args(["test", "-p", "tests", "--", "--test-threads=1"])
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

/// `apt-get install` the packages of missing [`NEEDED_COMMANDS`], with one
/// `apt-get update` first; nothing when all are there.
fn install_missing_packages() -> Result<()> {
    let mut missing: Vec<&str> = NEEDED_COMMANDS
        .iter()
        .filter(|(cmd, _)| !on_path(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing {} (needed by the integration tests)",
        missing.join(" ")
    );
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    for (cmd, pkg) in NEEDED_COMMANDS {
        if !on_path(cmd) {
            bail!("`{cmd}` is still missing after installing {pkg}");
        }
    }
    Ok(())
}

/// Whether `cmd` is an executable file in a `PATH` directory (where the
/// tests will look for it).
fn on_path(cmd: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path).map(|d| d.join(cmd)).any(|p| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}
