//! What can go wrong while setting up or driving a test environment.

use std::{io, process::ExitStatus, time::Duration};

use thiserror::Error;

/// Errors of the test infrastructure ([`crate::netns`], [`crate::topology`],
/// [`crate::relay`]). Returned to the tests, which fail with the message
/// (and the relay's log when there is one).
///
/// `Debug` prints the message and its sources (see [`report`]), so that a
/// test's `.unwrap()` shows a readable failure, fwd's log included.
#[derive(Error)]
pub enum Error {
    /// A program could not be started at all (not installed, not executable).
    #[error("cannot run `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A setup command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A command whose output went to the terminal ran and failed.
    #[error("`{command}` failed ({status})")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// A program is still missing after its package was installed.
    #[error("`{what}` is still missing after installing {package}")]
    StillMissing {
        /// The command or file that was missing.
        what: String,
        /// The Debian package that should have brought it.
        package: String,
    },
    /// Could not switch a thread into a namespace (or open its handle).
    #[error("cannot enter network namespace {name}")]
    Enter {
        /// The namespace.
        name: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Could not move a thread into a new network namespace of its own
    /// ([`crate::netns::in_private_netns`]).
    #[error("cannot make a private network namespace (unshare(CLONE_NEWNET) needs root)")]
    Unshare {
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A file the test needs could not be written or read.
    #[error("{what}: {path}")]
    File {
        /// What the file is for.
        what: &'static str,
        /// The path.
        path: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A socket could not be opened in a namespace.
    #[error("cannot {what} {addr} in network namespace {ns}")]
    Socket {
        /// `bind`, `connect to`, ...
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The namespace.
        ns: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Waiting on a process failed at the OS level.
    #[error("waiting for `{command}`")]
    Wait {
        /// The command line.
        command: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Something expected did not happen in time.
    #[error("{what} did not happen within {timeout:?}\n--- output ---\n{output}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the test waited.
        timeout: Duration,
        /// The output of the process concerned (may be empty).
        output: String,
    },
    /// A background process ended when it should still be running, or
    /// ended with a failure status.
    #[error("`{command}` exited with {status}\n--- output ---\n{output}")]
    Exited {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Everything it printed.
        output: String,
    },
    /// A command printed something the test infrastructure cannot read.
    #[error("expected {what}, got: {output}")]
    Unexpected {
        /// What was expected.
        what: String,
        /// What came.
        output: String,
    },
    /// The fwd binary to test is missing.
    #[error("fwd binary {path} not found: run `cargo xtask build` or set FWD_BIN")]
    NoFwdBinary {
        /// Where it was looked for.
        path: String,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&report(self))
    }
}

/// Result of the test infrastructure.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `err` and its chain of sources, `: `-separated, for test failure
/// messages (`Display` of an error shows only its own level).
pub fn report(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}
