//! The programs the bench runs, installed with apt-get when missing.

use std::{env, path::Path, process::Command};

use anyhow::{bail, Result};

use crate::cmd::run;

/// A file the bench needs and the Debian package that ships it.
struct Needed {
    /// A command on `PATH`, or an absolute path.
    what: &'static str,
    package: &'static str,
}

const NEEDED: &[Needed] = &[
    Needed {
        what: "ip",
        package: "iproute2",
    },
    Needed {
        what: "tc",
        package: "iproute2",
    },
    Needed {
        what: "ethtool",
        package: "ethtool",
    },
    Needed {
        what: "sysctl",
        package: "procps",
    },
    Needed {
        what: "taskset",
        package: "util-linux",
    },
    Needed {
        what: "iptables-legacy",
        package: "iptables",
    },
    Needed {
        what: "nft",
        package: "nftables",
    },
    Needed {
        what: "socat",
        package: "socat",
    },
    Needed {
        what: "haproxy",
        package: "haproxy",
    },
    Needed {
        what: "iperf3",
        package: "iperf3",
    },
    Needed {
        what: FONT,
        package: "fonts-dejavu-core",
    },
];

/// The font the plots are drawn with.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// `apt-get update` once, then installs the packages of whatever is
/// missing; nothing when all is there.
pub fn install_missing() -> Result<()> {
    let mut missing: Vec<&str> = NEEDED
        .iter()
        .filter(|n| !present(n.what))
        .map(|n| n.package)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("bench: installing {}", missing.join(" "));
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // HAProxy's package would start a system-wide instance.
        .env("RUNLEVEL", "1"))?;
    for n in NEEDED {
        if !present(n.what) {
            bail!(
                "`{}` is still missing after installing {}",
                n.what,
                n.package
            );
        }
    }
    Ok(())
}

/// Whether `what` (an absolute path, or a command on `PATH`) exists.
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
