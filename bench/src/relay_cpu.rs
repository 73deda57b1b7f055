//! [`RelayCpu`]: the CPU time of whatever relays in an arena.

use std::fs;

use anyhow::{Context as _, Result};

use crate::infra::Netns;

/// CPU time of whatever relays in an arena: the NAPI kthreads of the
/// relay's interfaces and every process inside the relay's namespace (their
/// threads, plus the children they reaped, e.g. socat's per-connection
/// forks). Read from `/proc/<tid>/schedstat` (nanoseconds) and
/// `/proc/<pid>/stat` (reaped children, in clock ticks), so other work on
/// the machine does not count.
pub(crate) struct RelayCpu {
    netns: String,
    napi_prefixes: Vec<String>,
}

impl RelayCpu {
    /// The relay of namespace `ns` with interfaces `ifs`.
    pub(crate) fn new(ns: &Netns, ifs: &[&str]) -> Result<RelayCpu> {
        use std::os::unix::fs::MetadataExt as _;
        let path = format!("/run/netns/{}", ns.name());
        let ino = fs::metadata(&path)
            .with_context(|| format!("reading {path}"))?
            .ino();
        Ok(RelayCpu {
            netns: format!("net:[{ino}]"),
            napi_prefixes: ifs.iter().map(|i| format!("napi/{i}-")).collect(),
        })
    }

    /// Total CPU nanoseconds so far.
    pub(crate) fn read(&self) -> u64 {
        // SAFETY: sysconf has no preconditions.
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .ok()
            .filter(|h| *h > 0)
            .unwrap_or(100);
        let Ok(dir) = fs::read_dir("/proc") else {
            return 0;
        };
        let mut total = 0u64;
        for pid in dir
            .filter_map(std::result::Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if self
                .napi_prefixes
                .iter()
                .any(|p| comm.starts_with(p.as_str()))
            {
                total += schedstat(&format!("/proc/{pid}/schedstat"));
                continue;
            }
            let in_ns = fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| l.to_string_lossy() == self.netns);
            if !in_ns {
                continue;
            }
            if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
                for t in tasks.filter_map(std::result::Result::ok) {
                    total += schedstat(&format!("{}/schedstat", t.path().display()));
                }
            }
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if let Some((_, rest)) = stat.rsplit_once(')') {
                // After the comm: state(3) ... utime(14) stime(15) cutime(16) cstime(17).
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .map(|v| v.parse().unwrap_or(0))
                    .collect();
                let children = f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0);
                total += children * 1_000_000_000 / hz;
            }
        }
        total
    }
}

/// The run time (first field) of a schedstat file, 0 if unreadable.
fn schedstat(path: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
