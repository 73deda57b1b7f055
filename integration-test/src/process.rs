//! Running setup commands and background processes with bounded waits.

use std::{
    io::Read,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use crate::error::{Error, Result};

/// How often bounded waits poll.
pub const POLL: Duration = Duration::from_millis(20);

/// The command line of `cmd`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion (stdin closed) and returns its stdout; a
/// non-zero exit is an [`Error::Command`] with its stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let command = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` to completion (stdin closed) with its output going where
/// ours goes, for long commands whose progress the user should see
/// (builds, `apt-get`); a non-zero exit is an [`Error::Failed`].
pub fn run_shown(cmd: &mut Command) -> Result<()> {
    let command = describe(cmd);
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if !status.success() {
        return Err(Error::Failed { command, status });
    }
    Ok(())
}

/// A process running in the background, its stdout and stderr collected
/// into one log as they arrive. Killed (SIGKILL) and reaped on drop unless
/// it already ended.
///
/// Created by [`crate::netns::Netns::spawn`]; used by tests for servers and
/// by [`crate::relay::Relay`] for `fwd attach`.
pub struct Background {
    child: Child,
    command: String,
    log: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Background {
    /// Starts `cmd` with stdin closed and stdout/stderr captured.
    pub fn spawn(mut cmd: Command) -> Result<Background> {
        let command = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                command: command.clone(),
                source,
            })?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for mut pipe in pipes.into_iter().flatten() {
            let log = Arc::clone(&log);
            readers.push(thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            }));
        }
        Ok(Background {
            child,
            command,
            log,
            readers,
            status: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Everything it printed so far (stdout and stderr interleaved).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) unless it already ended.
    pub fn signal(&mut self, signal: i32) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits in pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
        // own unreaped child, so it cannot have been recycled.
        if unsafe { libc::kill(pid, signal) } != 0 {
            let source = std::io::Error::last_os_error();
            return Err(Error::Wait {
                command: self.command.clone(),
                source,
            });
        }
        Ok(())
    }

    /// Its exit status if it ended (reaps it), without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().map_err(|source| Error::Wait {
                command: self.command.clone(),
                source,
            })?;
            if self.status.is_some() {
                self.drain_readers();
            }
        }
        Ok(self.status)
    }

    /// Waits at most `timeout` for it to end; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(POLL);
        }
    }

    /// Waits at most `timeout` until its output contains `needle`. Fails
    /// with the output if it ends first or the time runs out.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        self.wait_for_line(&format!("`{needle}`"), timeout, |line| {
            line.contains(needle)
        })
    }

    /// Waits at most `timeout` until a line of its output satisfies `found`
    /// (`what` describes it in the error). Fails with the output if it ends
    /// first or the time runs out.
    pub fn wait_for_line(
        &mut self,
        what: &str,
        timeout: Duration,
        found: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.output().lines().any(&found) {
                return Ok(());
            }
            if let Some(status) = self.try_wait()? {
                return Err(Error::Exited {
                    command: self.command.clone(),
                    status,
                    output: self.output(),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{what} in the output of `{}`", self.command),
                    timeout,
                    output: self.output(),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Kills it (SIGKILL) if it still runs and reaps it; returns its output.
    pub fn kill(&mut self) -> String {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
            self.drain_readers();
        }
        self.output()
    }

    /// Lets the reader threads finish once the process has ended. Bounded:
    /// a grandchild still holding the pipes must not hang the test.
    fn drain_readers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for r in std::mem::take(&mut self.readers) {
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}
