//! Running the commands of a task: echo them, fail with context.

use std::process::{Command, Stdio};

use anyhow::Result;
use integration_test::process::{describe, run_shown};

/// Runs `cmd` with inherited output (after printing it); fails unless it
/// exits with 0.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {}", describe(cmd));
    Ok(run_shown(cmd)?)
}

/// Runs `cmd` quietly and returns its stdout, or `None` if it cannot run or
/// fails (for probes: "is this installed?").
pub(crate) fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
