//! The benchmark of fwd: fwd side by side with plain routing, iptables and
//! nftables NAT, socat and HAProxy (issue 5). Run it with
//! `cargo xtask bench`, which builds fwd and calls [`run`].
//!
//! Each test builds one arena per competitor (client -- relay -- backend
//! namespaces, see [`arena`]), runs every measurement in interleaved
//! repetitions (A B C A B C ...), and records one sample per repetition;
//! the results are medians with min and max, written to
//! `bench/results/latest.json`, rendered to `latest.md` and PNG plots.
//! Everything the bench creates is removed at the end, also on error.
//!
//! Each measurement prints a line on stderr; `BENCH_DEBUG=1` adds the veth
//! counters of every UDP window (where frames were refused or dropped).

#![warn(unreachable_pub)]

mod arena;
mod bpf;
mod catalog;
mod competitor;
mod counters;
mod gen;
mod host;
mod infra;
mod livegen;
mod netdev;
mod plot;
mod record;
mod relay;
mod relay_cpu;
mod report;
mod sink;
mod suite;
mod t1_udp;
mod t2_churn;
mod t3_latency;
mod t4_connections;
mod t5_bulk;
mod t6_program;
mod t7_table;
mod tcp;
mod tools;
mod udp_run;
mod wire;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context as _, Result};

/// What the bench needs from the workspace's build code, which lives in
/// xtask (the bench cannot link xtask: xtask links the bench).
pub trait Workspace {
    /// The workspace root.
    fn root(&self) -> &Path;
    /// Installs the eBPF toolchain if needed and builds the release `fwd`
    /// binary; returns its path.
    fn build_fwd(&self) -> Result<PathBuf>;
    /// A `cargo` command run in the root with the eBPF toolchain on `PATH`,
    /// for builds that embed fwd's program (the `prog_bench` example).
    fn cargo(&self) -> Result<Command>;
}

/// Options of `cargo xtask bench`, parsed by xtask's command line.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Options {
    /// The short run (about five minutes) instead of the full one.
    #[arg(long)]
    pub quick: bool,
    /// Only these tests, e.g. `--only T1,T6` (all when empty).
    #[arg(
        long,
        value_name = "TESTS",
        value_delimiter = ',',
        ignore_case = true,
        value_parser = catalog::id_parser()
    )]
    pub only: Vec<String>,
    /// Directory for the results (default bench/results).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs the bench and writes the results.
pub fn run(workspace: &dyn Workspace, opts: &Options) -> Result<()> {
    let root = workspace.root();
    let started = Instant::now();
    let selected = catalog::select(&opts.only)?;
    host::check()?;
    tools::install_missing()?;
    let fwd = workspace.build_fwd()?;
    let scale = suite::Scale::new(opts.quick);
    let mut results = record::Results::default();
    {
        let _conntrack = host::conntrack_limits()?;
        let mut ctx = suite::Ctx {
            fwd,
            workspace,
            scale: &scale,
            results: &mut results,
        };
        for test in &selected {
            let t0 = Instant::now();
            eprintln!("bench: {} ({}) ...", test.id, test.name);
            (test.run)(&mut ctx).with_context(|| format!("{} failed", test.id))?;
            eprintln!(
                "bench: {} done in {:.0} s",
                test.id,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| root.join("bench/results"));
    let run = report::Run {
        quick: opts.quick,
        reps: scale.reps,
        tests: selected.iter().map(|t| t.id.to_string()).collect(),
        machine: host::Machine::read(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let records = results.records();
    report::write(&out, &records, &run)?;
    plot::render(&out, &records).context("rendering the plots")?;
    println!(
        "bench: done in {:.0} s; results in {}",
        run.seconds,
        out.display()
    );
    Ok(())
}
