//! `cargo xtask build`: toolchain, then `cargo build --release -p fwd`.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use crate::{cmd::run, toolchain};

/// Installs the eBPF toolchain if needed and builds the release binary;
/// returns its path (`<repo>/target/release/fwd`).
pub(crate) fn build(root: &Path) -> Result<PathBuf> {
    toolchain::ensure(root)?;
    run(toolchain::cargo()
        .args(["build", "--release", "-p", "fwd"])
        .current_dir(root)
        .env("PATH", toolchain::path_with_tools(root)?))?;
    let bin = fwd_binary(root);
    ensure!(
        bin.is_file(),
        "the build finished but {} is missing",
        bin.display()
    );
    Ok(bin)
}

/// Where `cargo build --release -p fwd` leaves the binary.
pub(crate) fn fwd_binary(root: &Path) -> PathBuf {
    root.join("target/release/fwd")
}
