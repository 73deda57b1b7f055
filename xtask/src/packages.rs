//! Debian packages xtask installs when a tool it needs is missing: one
//! `apt-get update`, one `apt-get install` of whatever is missing, then a
//! check that it is there now. Used by `test` and `bench`.

use std::{env, path::Path, process::Command};

use anyhow::{bail, Result};

use crate::cmd::run;

/// A file xtask needs, as (a command on `PATH` or an absolute path, the
/// Debian package that ships it).
pub type Needed = (&'static str, &'static str);

/// Installs the packages of the missing entries of `needed` (nothing when
/// all is there); `why` says who needs them, for the log line.
pub fn install_missing(needed: &[Needed], why: &str) -> Result<()> {
    let mut missing: Vec<&str> = needed
        .iter()
        .filter(|(what, _)| !present(what))
        .map(|(_, package)| *package)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} ({why})", missing.join(" "));
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // HAProxy's package would otherwise start a system-wide instance.
        .env("RUNLEVEL", "1"))?;
    for (what, package) in needed {
        if !present(what) {
            bail!("`{what}` is still missing after installing {package}");
        }
    }
    Ok(())
}

/// Whether `what` (an absolute path, or an executable on `PATH`) exists.
fn present(what: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    if what.starts_with('/') {
        return Path::new(what).is_file();
    }
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path).map(|d| d.join(what)).any(|p| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}
