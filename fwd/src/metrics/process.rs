//! The standard `process_*` metrics of the fwd process, read from
//! `/proc/self` at scrape time (prometheus-client has no process collector).
//!
//! Names and meanings follow the Prometheus client libraries' process
//! collectors: CPU seconds, resident and virtual memory, open and maximum
//! file descriptors, start time. Parsing is pure ([`parse_stat`],
//! [`parse_btime`]) so it is tested on fixed text.

use std::{fs, io};

use thiserror::Error;

/// Why the process metrics could not be read.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// A `/proc` file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A `/proc` file did not have the expected shape.
    #[error("{path}: {what}")]
    Parse {
        /// The file.
        path: &'static str,
        /// What was missing or malformed.
        what: &'static str,
    },
}

/// The fields of `/proc/self/stat` the metrics use (proc(5)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 14: user-mode CPU time, in clock ticks.
    pub utime_ticks: u64,
    /// Field 15: kernel-mode CPU time, in clock ticks.
    pub stime_ticks: u64,
    /// Field 22: start time after boot, in clock ticks.
    pub starttime_ticks: u64,
    /// Field 23: virtual memory size in bytes.
    pub vsize_bytes: u64,
    /// Field 24: resident set size in pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses
/// and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn parse_stat(text: &str) -> Result<Stat, ProcessError> {
    let bad = |what| ProcessError::Parse {
        path: "/proc/self/stat",
        what,
    };
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or(bad("no command name"))?;
    // `after` starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, ProcessError> {
        fields
            .get(n - 3)
            .ok_or(bad("too few fields"))?
            .parse()
            .map_err(|_| bad("a field is not a number"))
    };
    Ok(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        starttime_ticks: field(22)?,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// Parses the boot time (`btime`, seconds since the epoch) out of
/// `/proc/stat`.
pub fn parse_btime(text: &str) -> Result<u64, ProcessError> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or(ProcessError::Parse {
            path: "/proc/stat",
            what: "no btime line",
        })
}

/// One reading of the process metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessSample {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub resident_memory_bytes: u64,
    /// Virtual memory, bytes.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on file descriptors.
    pub max_fds: u64,
    /// Start time, seconds since the epoch.
    pub start_time_seconds: f64,
}

impl ProcessSample {
    /// Combines the parsed files with the clock tick rate and page size.
    pub fn from_parts(
        stat: &Stat,
        btime: u64,
        ticks_per_second: u64,
        page_size: u64,
        open_fds: u64,
        max_fds: u64,
    ) -> ProcessSample {
        let hz = ticks_per_second.max(1) as f64;
        ProcessSample {
            cpu_seconds: (stat.utime_ticks + stat.stime_ticks) as f64 / hz,
            resident_memory_bytes: stat.rss_pages * page_size,
            virtual_memory_bytes: stat.vsize_bytes,
            open_fds,
            max_fds,
            start_time_seconds: btime as f64 + stat.starttime_ticks as f64 / hz,
        }
    }

    /// Reads the current process's values.
    pub fn read() -> Result<ProcessSample, ProcessError> {
        let read = |path: &'static str| {
            fs::read_to_string(path).map_err(|source| ProcessError::Read { path, source })
        };
        let stat = parse_stat(&read("/proc/self/stat")?)?;
        let btime = parse_btime(&read("/proc/stat")?)?;
        let open_fds = fs::read_dir("/proc/self/fd")
            .map_err(|source| ProcessError::Read {
                path: "/proc/self/fd",
                source,
            })?
            .count() as u64;
        Ok(ProcessSample::from_parts(
            &stat,
            btime,
            sysconf(libc::_SC_CLK_TCK).unwrap_or(100),
            sysconf(libc::_SC_PAGESIZE).unwrap_or(4096),
            // read_dir holds one descriptor of its own while counting.
            open_fds.saturating_sub(1),
            max_fds(),
        ))
    }
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf(3) has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// The soft `RLIMIT_NOFILE` (what `process_max_fds` reports).
fn max_fds() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to write into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return 0;
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "31711 (fwd (a) b) S 31709 31709 18793 0 -1 4194304 100 0 0 0 \
                        250 130 0 0 20 0 1 0 205063 3133440 390 18446744073709551615 \
                        94549155926016 94549155945897 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(
            stat,
            Stat {
                utime_ticks: 250,
                stime_ticks: 130,
                starttime_ticks: 205_063,
                vsize_bytes: 3_133_440,
                rss_pages: 390,
            }
        );
    }

    #[test]
    fn bad_stat_is_an_error_not_a_panic() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("1 (x) S 1 2").is_err());
        assert!(parse_stat(&STAT.replace(" 250 ", " x ")).is_err());
    }

    #[test]
    fn btime() {
        let text = "cpu  1 2 3\nintr 5\nbtime 1795252038\nprocesses 9\n";
        assert_eq!(parse_btime(text).unwrap(), 1_795_252_038);
        assert!(parse_btime("cpu 1\n").is_err());
    }

    #[test]
    fn sample_in_base_units() {
        let stat = parse_stat(STAT).unwrap();
        let s = ProcessSample::from_parts(&stat, 1_700_000_000, 100, 4096, 12, 1024);
        assert_eq!(s.cpu_seconds, 3.8);
        assert_eq!(s.resident_memory_bytes, 390 * 4096);
        assert_eq!(s.virtual_memory_bytes, 3_133_440);
        assert!(
            (s.start_time_seconds - 1_700_002_050.63).abs() < 1e-3,
            "{s:?}"
        );
        assert_eq!((s.open_fds, s.max_fds), (12, 1024));
    }

    #[test]
    fn reads_this_process() {
        let s = ProcessSample::read().unwrap();
        assert!(s.resident_memory_bytes > 0);
        assert!(s.open_fds >= 3, "stdin, stdout, stderr at least: {s:?}");
        assert!(s.max_fds >= s.open_fds);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0 * 365.0,
            "{s:?}"
        );
    }
}
