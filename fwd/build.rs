//! Builds the XDP program (`fwd-ebpf`) for the BPF target with aya-build, so
//! `fwd` embeds the object it was built with. Needs the nightly toolchain with
//! `rust-src` and `bpf-linker`: `cargo xtask build` installs both, bpf-linker
//! into the workspace's `.tools/bin`, which this script puts first on PATH,
//! so a plain `cargo build` or `cargo test` works once it has run.

use anyhow::{anyhow, Context as _};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    // aya-build watches fwd-ebpf; the program also compiles fwd-common
    // (hash, checksum, map layouts), so a change there must rebuild it too.
    println!(
        "cargo:rerun-if-changed={}/../fwd-common",
        env!("CARGO_MANIFEST_DIR")
    );
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/bin");
    if std::path::Path::new(tools).join("bpf-linker").exists() {
        let mut dirs = vec![std::path::PathBuf::from(tools)];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::set_var("PATH", std::env::join_paths(dirs)?);
    }
    let ebpf = Package {
        name: "fwd-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../fwd-ebpf"),
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], Toolchain::default())
        .map_err(|e| anyhow!("{e:#}"))
        .context("building the eBPF program (run `cargo xtask build` to install the toolchain)")
}
