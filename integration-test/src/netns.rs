//! [`Netns`]: a network namespace that exists exactly as long as its guard;
//! [`in_private_netns`]: a thread in an unnamed namespace of its own.

use std::{
    fs::File,
    io,
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    process::Command,
    sync::{
        atomic::{AtomicU32, Ordering},
        Once,
    },
    thread,
    time::Duration,
};

use crate::{
    error::{Error, Result},
    process::{run, Background},
};

/// Prefix of every namespace the tests create: `fwdt-<pid>-<n>-<role>`.
pub const PREFIX: &str = "fwdt-";

static NEXT: AtomicU32 = AtomicU32::new(0);
static REMOVE_STALE: Once = Once::new();

/// A network namespace created for one test, removed on drop (also when the
/// test panics): the processes inside are killed first, then the namespace
/// is deleted, which also destroys its veth pairs.
///
/// Owned by a [`crate::topology::Topology`] or by a test; the name is
/// unique per process and per call, so tests never share namespaces.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `fwdt-<pid>-<n>-<role>` with `lo` up. The first call of a
    /// process also removes namespaces left by test processes that died
    /// without running their guards (SIGKILL).
    pub fn new(role: &str) -> Result<Netns> {
        REMOVE_STALE.call_once(remove_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as in `ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside: `ip netns exec <name> program`.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `argv` inside and returns its stdout; fails on a non-zero exit.
    pub fn run(&self, argv: &[&str]) -> Result<String> {
        let (program, args) = argv.split_first().expect("a command");
        run(self.command(program).args(args))
    }

    /// Runs `ip -n <name> args...` and returns its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// A veth pair, `name` here and `peer_name` in `peer`, both left down;
    /// `ethtool -K <end> features...` is applied to each end (e.g.
    /// `["tx", "off"]`).
    pub fn veth(&self, name: &str, peer: &Netns, peer_name: &str, features: &[&str]) -> Result<()> {
        self.ip(&[
            "link",
            "add",
            name,
            "type",
            "veth",
            "peer",
            "name",
            peer_name,
            "netns",
            peer.name(),
        ])?;
        for (ns, end) in [(self, name), (peer, peer_name)] {
            let mut argv = vec!["ethtool", "-K", end];
            argv.extend_from_slice(features);
            ns.run(&argv)?;
        }
        Ok(())
    }

    /// Sets a sysctl inside (e.g. `net.ipv4.ip_forward`, `1`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.run(&["sysctl", "-qw", &format!("{key}={value}")])
            .map(drop)
    }

    /// Starts `argv` inside in the background, output captured; the guard
    /// kills it on drop.
    pub fn spawn(&self, argv: &[&str]) -> Result<Background> {
        let (program, args) = argv.split_first().expect("a command");
        let mut cmd = self.command(program);
        cmd.args(args);
        Background::spawn(cmd)
    }

    /// Runs `f` on a fresh thread that has entered this namespace
    /// (`setns(CLONE_NEWNET)`), and returns its result. A panic in `f` is
    /// resumed on the caller's thread.
    ///
    /// Sockets keep the namespace they were created in, so a socket made
    /// here can be used from any thread afterwards: this is how tests open
    /// clients and servers in their namespaces.
    pub fn enter<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let path = format!("/run/netns/{}", self.name);
        let enter_err = |source| Error::Enter {
            name: self.name.clone(),
            source,
        };
        let handle = File::open(&path).map_err(enter_err)?;
        let enter = move || {
            // SAFETY: setns(2) only reads the fd, which `handle` keeps open;
            // it changes the namespace of this thread alone, and the thread
            // ends with `f`.
            if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        };
        on_fresh_thread(enter, f).map_err(enter_err)
    }

    /// A TCP listener bound inside to `addr`.
    pub fn tcp_listen(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.enter(move || TcpListener::bind(addr))?
            .map_err(|source| self.socket_error("bind", addr, source))
    }

    /// A TCP connection made from inside to `addr`, giving up after
    /// `timeout`.
    pub fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.enter(move || TcpStream::connect_timeout(&addr, timeout))?
            .map_err(|source| self.socket_error("connect to", addr, source))
    }

    /// A UDP socket bound inside to `addr`.
    pub fn udp_bind(&self, addr: SocketAddr) -> Result<UdpSocket> {
        self.enter(move || UdpSocket::bind(addr))?
            .map_err(|source| self.socket_error("bind", addr, source))
    }

    fn socket_error(&self, what: &'static str, addr: SocketAddr, source: io::Error) -> Error {
        Error::Socket {
            what,
            addr,
            ns: self.name.clone(),
            source,
        }
    }

    /// Pids of the processes inside.
    fn pids(&self) -> Vec<libc::pid_t> {
        run(Command::new("ip").args(["netns", "pids", &self.name]))
            .map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.pids() {
            // SAFETY: kill(2) has no memory-safety preconditions. These are
            // processes inside a namespace this guard created.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if let Err(e) = run(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("warning: removing network namespace {}: {e}", self.name);
        }
    }
}

/// Runs `f` on a fresh thread that has moved into a new network namespace
/// of its own (`unshare(CLONE_NEWNET)`), and returns its result. A panic in
/// `f` is resumed on the caller's thread, so a failed assertion fails the
/// calling test with its own message.
///
/// Nothing names the namespace: the kernel removes it, with every interface
/// made in it, when the thread ends, whether `f` returned or panicked. Only
/// that thread moves; the process and every other test stay where they
/// were. For tests that need a network of their own but no processes in it
/// (packet tests, the datapath against the kernel); [`Netns`] is the named
/// kind, for processes. Needs root.
///
/// Commands started from the thread run in the namespace too:
///
/// ```no_run
/// use std::process::Command;
/// use integration_test::netns::in_private_netns;
///
/// let links = in_private_netns(|| {
///     let out = Command::new("ip").args(["-o", "link"]).output().expect("ip");
///     String::from_utf8_lossy(&out.stdout).lines().count()
/// })
/// .expect("a private network namespace (run as root)");
/// assert_eq!(links, 1, "only lo");
/// ```
pub fn in_private_netns<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let enter = || {
        // SAFETY: unshare(2) with CLONE_NEWNET moves this thread alone into
        // a new namespace; the thread ends with `f`.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    on_fresh_thread(enter, f).map_err(|source| Error::Unshare { source })
}

/// Runs `f` on a fresh (scoped) thread once `enter` has moved that thread
/// into a namespace; a panic in `f` is resumed on the caller's thread.
fn on_fresh_thread<T, F, E>(enter: E, f: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
    E: FnOnce() -> io::Result<()> + Send,
{
    let outcome = thread::scope(|s| {
        s.spawn(move || {
            enter()?;
            Ok(f())
        })
        .join()
    });
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Deletes `fwdt-<pid>-*` namespaces whose creating process is gone.
fn remove_stale() {
    let Ok(list) = run(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            drop(Netns {
                name: name.to_string(),
            });
        }
    }
}
