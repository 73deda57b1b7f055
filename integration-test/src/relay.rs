//! [`Relay`]: `fwd attach` running in the relay namespace of a test.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    netns::Netns,
    process::{Background, POLL},
};

/// How long `fwd attach` may take to log "ready" (load, verify, attach).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `fwd` may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// What `fwd attach` logs once the program is attached and serving: the
/// last word of a log line.
pub const READY_MARKER: &str = "ready";

/// Whether `line` is fwd's ready line (ends with [`READY_MARKER`] as a
/// word, so that "already" does not count).
pub fn is_ready_line(line: &str) -> bool {
    line.split_whitespace().last() == Some(READY_MARKER)
}

/// The fwd binary under test: `$FWD_BIN` (set by `cargo xtask test`), else
/// `target/release/fwd` of this workspace.
pub fn fwd_bin() -> Result<PathBuf> {
    let path = match std::env::var_os("FWD_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/fwd"),
    };
    if !path.is_file() {
        return Err(Error::NoFwdBinary {
            path: path.display().to_string(),
        });
    }
    Ok(path)
}

/// The XDP attachment of `ifname` in `ns` as `ip -d link show` reports it:
/// `Some("xdp")` (native), `Some("xdpgeneric")`, ... or `None`.
pub fn xdp_mode(ns: &Netns, ifname: &str) -> Result<Option<String>> {
    let out = ns.ip(&["-d", "link", "show", "dev", ifname])?;
    let first = out.lines().next().unwrap_or_default();
    let mode = first
        .split_whitespace()
        .find(|w| w.starts_with("xdp"))
        .map(str::to_string);
    if mode.is_none() && out.contains("prog/xdp") {
        return Ok(Some("unknown".into()));
    }
    Ok(mode)
}

/// Interfaces in `ns` that have an XDP program attached (from
/// `ip -d link show`), as `(interface, mode)`.
pub fn xdp_attached(ns: &Netns) -> Result<Vec<(String, String)>> {
    let out = ns.ip(&["-d", "-o", "link", "show"])?;
    Ok(out
        .lines()
        .filter(|l| l.contains("prog/xdp") || l.split_whitespace().any(|w| w.starts_with("xdp")))
        .filter_map(|l| {
            let name = l.split(':').nth(1)?.trim().split('@').next()?.to_string();
            let mode = l
                .split_whitespace()
                .find(|w| w.starts_with("xdp"))
                .unwrap_or("prog/xdp");
            Some((name, mode.to_string()))
        })
        .collect())
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `fwdt-<pid>-<n>` in the temp dir.
    pub fn new() -> Result<TempDir> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("fwdt-{}-{n}", std::process::id()));
        fs::create_dir_all(&path).map_err(|source| Error::File {
            what: "creating a temporary directory",
            path: path.display().to_string(),
            source,
        })?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.path.join(name);
        fs::write(&path, contents).map_err(|source| Error::File {
            what: "writing a test file",
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `fwd attach <ifs> --map <file>` running in a namespace, output captured.
///
/// Started by tests and by `cargo xtask demo`; killed (SIGKILL) on drop,
/// so a failing test never leaves it running. [`Relay::stop`] is the
/// graceful end that tests assert on.
pub struct Relay {
    process: Background,
    map: PathBuf,
    /// Where fwd pins its state (its own per relay unless the test chose).
    pin_dir: PathBuf,
    /// Whether dropping the relay removes `pin_dir` (not after
    /// [`Relay::kill_leaving_state`]).
    owns_state: bool,
    /// The control socket.
    control: PathBuf,
    _dir: TempDir,
}

impl Drop for Relay {
    /// Kills fwd (if still running) and removes its pinned state, so a
    /// killed relay leaves no program or map behind.
    fn drop(&mut self) {
        self.process.kill();
        if self.owns_state {
            let _ = fs::remove_dir_all(&self.pin_dir);
        }
    }
}

impl Relay {
    /// Writes `maps_toml` to a temporary file and starts `fwd attach` on
    /// `ifs` in `ns`; returns once fwd logged [`READY_MARKER`] and every
    /// interface shows an XDP program. Fails with fwd's output otherwise.
    pub fn start(ns: &Netns, ifs: &[&str], maps_toml: &str) -> Result<Relay> {
        Relay::start_with(ns, &fwd_bin()?, ifs, maps_toml, &[])
    }

    /// Like [`Relay::start`] with an explicit binary and extra arguments
    /// after the interfaces.
    pub fn start_with(
        ns: &Netns,
        bin: &Path,
        ifs: &[&str],
        maps_toml: &str,
        extra: &[&str],
    ) -> Result<Relay> {
        let dir = TempDir::new()?;
        let map = dir.write("maps.toml", maps_toml)?;
        let bin = bin.to_string_lossy();
        let map_arg = map.to_string_lossy();
        // Each relay pins its state and listens for control in places of
        // its own (tests run next to each other), unless the test chose.
        let chosen = |flag: &str| {
            extra
                .iter()
                .position(|a| *a == flag)
                .and_then(|i| extra.get(i + 1))
                .map(PathBuf::from)
        };
        let dir_name = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pin_dir = match chosen("--pin-dir") {
            Some(dir) => dir,
            None => test_bpffs()?.join(&dir_name),
        };
        let control = chosen("--control").unwrap_or_else(|| dir.path().join("fwd.sock"));
        let (pin_arg, control_arg) = (
            pin_dir.to_string_lossy().into_owned(),
            control.to_string_lossy().into_owned(),
        );
        let mut argv = vec![bin.as_ref(), "attach"];
        argv.extend_from_slice(ifs);
        argv.extend_from_slice(&["--map", map_arg.as_ref()]);
        if !extra.contains(&"--pin-dir") {
            argv.extend_from_slice(&["--pin-dir", &pin_arg]);
        }
        if !extra.contains(&"--control") {
            argv.extend_from_slice(&["--control", &control_arg]);
        }
        argv.extend_from_slice(extra);
        let mut process = ns.spawn(&argv)?;
        process.wait_for_line("a line ending in \"ready\"", READY_TIMEOUT, is_ready_line)?;
        let relay = Relay {
            process,
            map,
            pin_dir,
            owns_state: true,
            control,
            _dir: dir,
        };
        relay.wait_attached(ns, ifs)?;
        Ok(relay)
    }

    /// Waits (bounded) until `ip -d link show` reports XDP on every `ifs`.
    fn wait_attached(&self, ns: &Netns, ifs: &[&str]) -> Result<()> {
        let timeout = Duration::from_secs(5);
        let deadline = Instant::now() + timeout;
        loop {
            let mut missing = Vec::new();
            for i in ifs {
                if xdp_mode(ns, i)?.is_none() {
                    missing.push(*i);
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("XDP attached on {}", missing.join(", ")),
                    timeout,
                    output: self.log(),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// The map file fwd was started with.
    pub fn map_path(&self) -> &Path {
        &self.map
    }

    /// fwd's process id (e.g. to send SIGHUP).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything fwd printed so far.
    pub fn log(&self) -> String {
        self.process.output()
    }

    /// Fails with the log if fwd is no longer running.
    pub fn check_running(&mut self) -> Result<()> {
        match self.process.try_wait()? {
            None => Ok(()),
            Some(status) => Err(Error::Exited {
                command: self.process.command().to_string(),
                status,
                output: self.process.output(),
            }),
        }
    }

    /// Replaces the service file fwd was started with (for reloads).
    pub fn rewrite_map(&self, contents: &str) -> Result<()> {
        fs::write(&self.map, contents).map_err(|source| Error::File {
            what: "rewriting the service file",
            path: self.map.display().to_string(),
            source,
        })
    }

    /// Sends `signal` to fwd.
    pub fn signal(&mut self, signal: i32) -> Result<()> {
        self.process.signal(signal)
    }

    /// Where this relay pins its state.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// This relay's control socket.
    pub fn control(&self) -> &Path {
        &self.control
    }

    /// Kills fwd with SIGKILL, as a crash would, and leaves its pinned state
    /// (the datapath keeps relaying) for the next relay started with the
    /// same `--pin-dir`; returns fwd's output.
    pub fn kill_leaving_state(mut self) -> String {
        let output = self.process.kill();
        self.owns_state = false;
        output
    }

    /// Sends SIGTERM and waits (at most [`STOP_TIMEOUT`]) for fwd to exit;
    /// returns its log if it exited with status 0, an error with the log
    /// otherwise.
    pub fn stop(mut self) -> Result<String> {
        self.process.signal(libc::SIGTERM)?;
        match self.process.wait_timeout(STOP_TIMEOUT)? {
            Some(status) if status.success() => Ok(self.process.output()),
            Some(status) => Err(Error::Exited {
                command: self.process.command().to_string(),
                status,
                output: self.process.output(),
            }),
            None => Err(Error::Timeout {
                what: "fwd exiting after SIGTERM".into(),
                timeout: STOP_TIMEOUT,
                output: self.process.kill(),
            }),
        }
    }
}

/// Where the tests' relays pin their state: a bpffs mounted (once) on
/// [`TEST_BPFFS`] in the tests' own mount namespace.
///
/// Not /sys/fs/bpf: `ip netns exec` gives the relay a mount namespace of
/// its own with a fresh /sys, so a bpffs fwd mounted there would vanish with
/// the process, and with it the state a restart must find.
pub fn test_bpffs() -> Result<PathBuf> {
    let dir = PathBuf::from(TEST_BPFFS);
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(TEST_BPFFS))
    {
        return Ok(dir);
    }
    fs::create_dir_all(&dir).map_err(|source| Error::File {
        what: "creating the tests' bpffs mount point",
        path: TEST_BPFFS.into(),
        source,
    })?;
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (src, target, fstype) = (c("bpf"), c(TEST_BPFFS), c("bpf"));
    // SAFETY: valid NUL-terminated strings, no data.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let source = std::io::Error::last_os_error();
        // Another test thread may have mounted it meanwhile.
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        if !mounts
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(TEST_BPFFS))
        {
            return Err(Error::File {
                what: "mounting bpffs for the tests",
                path: TEST_BPFFS.into(),
                source,
            });
        }
    }
    Ok(dir)
}

/// Mount point of [`test_bpffs`].
pub const TEST_BPFFS: &str = "/run/fwd-tests-bpffs";

/// Runs `fwd argv...` in `ns` to completion, at most `timeout`; returns its
/// exit status and everything it printed. For the error cases users see
/// (the process must end by itself: a timeout is an error).
pub fn run_fwd(
    ns: &Netns,
    argv: &[&str],
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String)> {
    let bin = fwd_bin()?;
    let bin = bin.to_string_lossy();
    let mut full = vec![bin.as_ref()];
    full.extend_from_slice(argv);
    let mut process = ns.spawn(&full)?;
    match process.wait_timeout(timeout)? {
        Some(status) => Ok((status, process.output())),
        None => Err(Error::Timeout {
            what: format!("`{}` ending", process.command()),
            timeout,
            output: process.kill(),
        }),
    }
}
