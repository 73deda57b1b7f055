//! `cargo xtask lint`: the quick checks, run before the slow tests: the
//! loader's modules depend on each other in one direction, rustfmt,
//! clippy on the userspace crates and on the eBPF crate, and the docs
//! build without a warning.

use std::{path::Path, process::Command};

use anyhow::{bail, Result};

use crate::{cmd::run, modgraph, toolchain};

/// Runs every check; fails at the first that fails.
pub(crate) fn lint(root: &Path) -> Result<()> {
    module_graph(root)?;
    run(toolchain::cargo()
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(root))?;
    // fwd's build script builds the eBPF program: bpf-linker is needed
    // even to check the loader.
    toolchain::ensure(root)?;
    let path = toolchain::path_with_tools(root)?;
    run(toolchain::cargo()
        .args([
            "clippy",
            "--workspace",
            "--exclude",
            "fwd-ebpf",
            "--all-targets",
        ])
        .args(["--", "-D", "warnings"])
        .current_dir(root)
        .env("PATH", &path))?;
    run(Command::new("rustup")
        .args([
            "run",
            toolchain::NIGHTLY,
            "cargo",
            "clippy",
            "-p",
            "fwd-ebpf",
        ])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .args(["--", "-D", "warnings"])
        .current_dir(root)
        .env("PATH", &path))?;
    // Private items too: the loader is read by those who work on it.
    run(toolchain::cargo()
        .args(["doc", "--workspace", "--exclude", "fwd-ebpf", "--no-deps"])
        .arg("--document-private-items")
        .current_dir(root)
        .env("PATH", &path)
        .env(
            "RUSTDOCFLAGS",
            "-D warnings -A rustdoc::private-intra-doc-links",
        ))?;
    eprintln!("xtask: lint passed");
    Ok(())
}

/// Fails on a cycle between the modules of `fwd/src`, naming the files
/// that close it.
fn module_graph(root: &Path) -> Result<()> {
    let graph = modgraph::read(&root.join("fwd/src"))?;
    let cycles = modgraph::cycles(&graph);
    if !cycles.is_empty() {
        let text: Vec<String> = cycles
            .iter()
            .map(|c| format!("  {}", modgraph::describe(&graph, c)))
            .collect();
        bail!(
            "the modules of fwd/src depend on each other in a cycle (dependencies must point one \
             way; see the layers in fwd/src/lib.rs):\n{}",
            text.join("\n")
        );
    }
    eprintln!(
        "xtask: fwd/src: {} modules, dependencies point one way",
        graph.len()
    );
    Ok(())
}
