//! `cargo xtask`: builds fwd with its eBPF toolchain, runs the tests, shows
//! a demo, runs the benchmark. Run `cargo xtask --help`.

#![warn(unreachable_pub)]

mod bench;
mod build;
mod cmd;
mod demo;
mod lint;
mod modgraph;
mod test;
mod toolchain;

use clap::{Parser, Subcommand};

/// Developer tasks of the fwd workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Installs the eBPF toolchain if missing (rust-src for nightly,
    /// bpf-linker in .tools/) and builds target/release/fwd.
    Build,
    /// Builds, then runs the unit tests and, as root, the integration tests
    /// (installs iproute2/ethtool with apt-get if missing). Arguments after
    /// `--` go to the integration test binaries (e.g. a test name filter).
    Test {
        /// Passed to the integration test binaries.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// The quick checks: fwd's modules have no dependency cycle, rustfmt,
    /// clippy (userspace and eBPF), docs without warnings.
    Lint,
    /// Builds, then relays TCP and UDP between network namespaces through
    /// fwd and prints what each side saw (needs root).
    Demo,
    /// Builds, then runs the benchmark (the bench crate): fwd against plain
    /// routing, iptables and nftables NAT, socat and HAProxy in network
    /// namespaces (needs root; installs the tools with apt-get if missing).
    /// Writes bench/results/latest.json, latest.md and T*.png.
    Bench(::bench::Options),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = toolchain::repo_root();
    match cli.task {
        Task::Build => {
            let bin = build::build(&root)?;
            println!("fwd built: {}", bin.display());
            Ok(())
        }
        Task::Test { args } => test::test(&root, &args),
        Task::Lint => lint::lint(&root),
        Task::Demo => demo::demo(&root),
        Task::Bench(opts) => bench::bench(&root, &opts),
    }
}
