//! Debian packages installed when a tool is missing: one `apt-get update`,
//! one `apt-get install` of whatever is missing, then a check that it is
//! there now. Used by `cargo xtask test` (for the integration tests) and by
//! the bench; neither links `fwd`, and both already link this crate.

use std::{env, path::Path, process::Command};

use crate::{
    error::{Error, Result},
    process::{describe, run_shown},
};

/// A file a task needs, as (a command on `PATH` or an absolute path, the
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
    let mut update = Command::new("apt-get");
    update.arg("update");
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        // HAProxy's package would otherwise start a system-wide instance.
        .env("RUNLEVEL", "1");
    for cmd in [&mut update, &mut install] {
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        eprintln!("xtask: {}", describe(cmd));
        run_shown(cmd)?;
    }
    for (what, package) in needed {
        if !present(what) {
            return Err(Error::StillMissing {
                what: what.to_string(),
                package: package.to_string(),
            });
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
