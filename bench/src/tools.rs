//! The programs the bench runs, installed with apt-get when missing.

use anyhow::Result;

use crate::infra::packages::{self, Needed};

/// What the bench runs (and the plots' font), with its Debian package.
const NEEDED: &[Needed] = &[
    ("ip", "iproute2"),
    ("tc", "iproute2"),
    ("ethtool", "ethtool"),
    ("sysctl", "procps"),
    ("taskset", "util-linux"),
    ("iptables-legacy", "iptables"),
    ("nft", "nftables"),
    ("socat", "socat"),
    ("haproxy", "haproxy"),
    ("iperf3", "iperf3"),
    (FONT, "fonts-dejavu-core"),
];

/// The font the plots are drawn with.
pub(crate) const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Installs what is missing (see [`crate::infra::packages`]).
pub(crate) fn install_missing() -> Result<()> {
    Ok(packages::install_missing(NEEDED, "needed by the bench")?)
}
