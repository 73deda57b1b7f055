//! Where flow events go: the closed-flow counters, and the flow log file.

use std::{
    fs::OpenOptions,
    io::{self, BufWriter, Write},
    os::unix::fs::OpenOptionsExt as _,
    path::PathBuf,
};

use fwd_common::events::FlowEvent;
use log::{info, warn};

use super::FlowRecord;
use crate::{clock::Clock, plan::Plan};

/// Where `--flow-log` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlowLogTarget {
    /// `-`: standard output (fwd's own log goes to standard error).
    Stdout,
    /// A file, opened for append and created (mode 0640) if missing.
    File(PathBuf),
}

impl FlowLogTarget {
    /// `-` is standard output, anything else a path.
    pub(crate) fn parse(arg: &str) -> FlowLogTarget {
        match arg {
            "-" => FlowLogTarget::Stdout,
            path => FlowLogTarget::File(path.into()),
        }
    }
}

impl std::fmt::Display for FlowLogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowLogTarget::Stdout => f.write_str("standard output"),
            FlowLogTarget::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The flow log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("opening the flow log {path}")]
pub(crate) struct FlowLogError {
    /// The path.
    pub path: String,
    /// What the OS said.
    #[source]
    pub source: io::Error,
}

/// An open flow log: JSON lines, flushed after every batch of events so
/// that a reader tailing the file sees them at once.
pub(crate) struct FlowLog {
    out: Box<dyn Write + Send>,
    target: FlowLogTarget,
    /// Whether the last write failed (a failure is logged once, until a
    /// write succeeds again).
    failing: bool,
}

impl FlowLog {
    /// Opens `target` (a file for append, created if missing).
    pub(crate) fn open(target: &FlowLogTarget) -> Result<FlowLog, FlowLogError> {
        let out: Box<dyn Write + Send> = match target {
            FlowLogTarget::Stdout => Box::new(io::stdout()),
            FlowLogTarget::File(path) => {
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .open(path)
                    .map_err(|source| FlowLogError {
                        path: path.display().to_string(),
                        source,
                    })?;
                Box::new(BufWriter::new(file))
            }
        };
        Ok(FlowLog {
            out,
            target: target.clone(),
            failing: false,
        })
    }

    /// A log writing into `out` (tests).
    #[cfg(test)]
    pub(crate) fn to_writer(out: Box<dyn Write + Send>) -> FlowLog {
        FlowLog {
            out,
            target: FlowLogTarget::Stdout,
            failing: false,
        }
    }

    /// Writes one line per event, then flushes.
    pub(crate) fn write(
        &mut self,
        events: &[FlowEvent],
        plan: &Plan,
        clock: &Clock,
    ) -> io::Result<()> {
        for e in events {
            if let Some(record) = FlowRecord::of(e, plan, clock) {
                let mut line = record.to_json();
                line.push('\n');
                self.out.write_all(line.as_bytes())?;
            }
        }
        self.out.flush()
    }

    /// [`FlowLog::write`], logging the first failure of a streak and the
    /// recovery (events that could not be written are lost from the log,
    /// not from the counters).
    pub(crate) fn write_logged(&mut self, events: &[FlowEvent], plan: &Plan, clock: &Clock) {
        match self.write(events, plan, clock) {
            Ok(()) if self.failing => {
                self.failing = false;
                info!("flow log {}: writing again", self.target);
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                warn!(
                    "flow log {}: {e}; events are lost until writes succeed",
                    self.target
                );
            }
            Err(_) => {}
        }
    }
}
