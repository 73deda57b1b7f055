//! The machine the bench runs on: which CPU does what, host-wide settings
//! changed for the run (and restored), and the facts printed with the
//! results.

use std::{fs, io, path::PathBuf};

use anyhow::{bail, Context as _, Result};

/// The core the relay runs on: its NAPI threads, its processes (fwd, socat,
/// HAProxy). Everything else (load generators, sinks, clients, servers)
/// runs on [`OUTSIDE_CPU`], so that the relay has a core of its own, as it
/// would on a separate machine.
pub(crate) const RELAY_CPU: usize = 1;
/// The core of the load generators, sinks, clients and servers.
pub(crate) const OUTSIDE_CPU: usize = 0;

/// Fails unless running as root with at least two CPUs online.
pub(crate) fn check() -> Result<()> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "cargo xtask bench must run as root: it creates network namespaces, \
             attaches XDP programs and sets sysctls (try `sudo -E cargo xtask bench`)"
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cpus < 2 {
        bail!(
            "the bench needs two CPUs (one for the relay, one for everything else); found {cpus}"
        );
    }
    Ok(())
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked by the callers' constants).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// Pins thread or process `pid` (0: the calling thread) to `cpu`.
pub(crate) fn pin(pid: libc::pid_t, cpu: usize) -> io::Result<()> {
    let set = cpu_set(cpu);
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(pid, std::mem::size_of_val(&set), &raw const set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Pins every thread of process `pid` to `cpu`.
pub(crate) fn pin_process(pid: u32, cpu: usize) -> Result<()> {
    let dir = format!("/proc/{pid}/task");
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let Some(tid) = entry?
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // A thread may end meanwhile; that is fine.
        let _ = pin(tid, cpu);
    }
    Ok(())
}

/// Starts `f` on a new thread that has entered network namespace `ns` and
/// is pinned to `cpu`: sockets it opens belong to `ns`.
pub(crate) fn spawn_in<T, F>(
    ns: &crate::infra::Netns,
    cpu: usize,
    f: F,
) -> Result<std::thread::JoinHandle<Result<T>>>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    use std::os::fd::AsRawFd as _;
    let path = format!("/run/netns/{}", ns.name());
    let handle = fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    Ok(std::thread::spawn(move || {
        // SAFETY: setns(2) only reads the fd; it moves this thread alone.
        if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error()).context("entering a namespace");
        }
        drop(handle);
        pin(0, cpu).context("pinning a thread")?;
        precise_sleeps();
        f()
    }))
}

/// Gives the calling thread the lowest priority (`SCHED_IDLE`): it runs
/// only when nothing else on its CPU wants to.
pub(crate) fn lowest_priority() -> Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid sched_param for the calling thread (0).
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param) } != 0 {
        return Err(io::Error::last_os_error()).context("sched_setscheduler(SCHED_IDLE)");
    }
    Ok(())
}

/// Gives thread `tid` a real-time priority (`SCHED_FIFO` 10): nothing of
/// normal priority on its CPU delays it.
pub(crate) fn realtime(tid: libc::pid_t) -> Result<()> {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: a valid sched_param; `tid` is a thread id.
    if unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &raw const param) } != 0 {
        return Err(io::Error::last_os_error()).context("sched_setscheduler(SCHED_FIFO)");
    }
    Ok(())
}

/// Lets the calling thread's sleeps end on time (timer slack 1 ns), for
/// the pacing of generators and clients.
pub(crate) fn precise_sleeps() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a plain integer argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// A host-wide sysctl (under /proc/sys) set for the run; its old value is
/// written back on drop, also when the bench fails.
pub(crate) struct Sysctl {
    path: PathBuf,
    old: String,
}

impl Sysctl {
    /// Sets `key` (dotted, e.g. `kernel.bpf_stats_enabled`) to `value`.
    pub(crate) fn set(key: &str, value: &str) -> Result<Sysctl> {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        let old = fs::read_to_string(&path)
            .with_context(|| format!("reading {key}"))?
            .trim()
            .to_string();
        fs::write(&path, value).with_context(|| format!("setting {key} = {value}"))?;
        eprintln!("bench: {key} = {value} for the run (was {old})");
        Ok(Sysctl { path, old })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        if let Err(e) = fs::write(&self.path, &self.old) {
            eprintln!(
                "warning: restoring {} to {}: {e}",
                self.path.display(),
                self.old
            );
        }
    }
}

/// Host-wide conntrack limits for the run: the connection tables of C1 and
/// C2 must hold T7's million flows (the limit and the hash table are
/// global; the count is per namespace). Restored on drop.
pub(crate) fn conntrack_limits() -> Result<Vec<Sysctl>> {
    Ok(vec![
        Sysctl::set("net.netfilter.nf_conntrack_max", "4194304")?,
        Sysctl::set("net.netfilter.nf_conntrack_buckets", "2097152")?,
    ])
}

/// What the results say about the machine.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// CPU model name.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Total memory in GiB.
    pub memory_gib: f64,
}

impl Machine {
    /// Reads /proc.
    pub(crate) fn read() -> Machine {
        let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, v)| v.trim().to_string());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            memory_gib: memory_kib / 1024.0 / 1024.0,
        }
    }
}
