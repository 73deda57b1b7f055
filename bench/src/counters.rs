//! What the bench reads to compute its figures: CPU time from /proc/stat,
//! interface counters through the ethtool ioctl, and the run time and
//! table sizes of fwd's BPF objects from `/proc/<pid>/fdinfo`.

use std::{
    fs, io,
    mem::size_of,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::Instant,
};

use anyhow::{bail, Context as _, Result};

use crate::infra::Netns;

/// Busy CPU time per CPU, from /proc/stat, in nanoseconds.
#[derive(Clone, Debug)]
pub(crate) struct CpuTimes {
    /// When it was read.
    pub at: Instant,
    /// Busy time (user + nice + system + irq + softirq) of each CPU.
    pub busy_ns: Vec<u64>,
}

impl CpuTimes {
    /// Reads /proc/stat now.
    pub(crate) fn read() -> Result<CpuTimes> {
        let text = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        // SAFETY: sysconf has no preconditions.
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .ok()
            .filter(|h| *h > 0)
            .unwrap_or(100);
        let mut busy_ns = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("cpu") else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let Some(Ok(cpu)) = fields.next().map(str::parse::<usize>) else {
                continue; // the "cpu" total line
            };
            let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal ...
            let busy = v.first().copied().unwrap_or(0)
                + v.get(1).copied().unwrap_or(0)
                + v.get(2).copied().unwrap_or(0)
                + v.get(5).copied().unwrap_or(0)
                + v.get(6).copied().unwrap_or(0);
            if busy_ns.len() <= cpu {
                busy_ns.resize(cpu + 1, 0);
            }
            busy_ns[cpu] = busy * 1_000_000_000 / hz;
        }
        if busy_ns.is_empty() {
            bail!("no per-CPU lines in /proc/stat");
        }
        Ok(CpuTimes {
            at: Instant::now(),
            busy_ns,
        })
    }

    /// Busy nanoseconds of all CPUs since `before`.
    pub(crate) fn all_since(&self, before: &CpuTimes) -> f64 {
        self.busy_ns
            .iter()
            .zip(&before.busy_ns)
            .map(|(a, b)| a.saturating_sub(*b) as f64)
            .sum()
    }
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;

/// `struct ifreq` with the `ifr_data` member.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// One interface's ethtool statistics (`ethtool -S`), read with the
/// SIOCETHTOOL ioctl on a socket opened in the interface's namespace: no
/// process is started per reading, so readings are cheap and timed
/// precisely.
pub(crate) struct EthtoolStats {
    socket: OwnedFd,
    ifname: [u8; 16],
    names: Vec<String>,
}

impl EthtoolStats {
    /// Opens the statistics of `ifname` in `ns`.
    pub(crate) fn open(ns: &Netns, ifname: &str) -> Result<EthtoolStats> {
        // SAFETY: socket(2) with constant arguments; the fd is checked.
        let fd = ns.enter(|| unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) })?;
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("opening an ioctl socket");
        }
        // SAFETY: a new descriptor nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut name = [0u8; 16];
        anyhow::ensure!(ifname.len() < 16, "interface name {ifname} too long");
        name[..ifname.len()].copy_from_slice(ifname.as_bytes());
        let mut stats = EthtoolStats {
            socket,
            ifname: name,
            names: Vec::new(),
        };
        stats.names = stats
            .strings()
            .with_context(|| format!("reading the statistics names of {ifname}"))?;
        Ok(stats)
    }

    fn ioctl(&self, buf: &mut [u64]) -> io::Result<()> {
        let mut req = IfReq {
            name: self.ifname,
            data: buf.as_mut_ptr().cast(),
            _pad: [0; 16],
        };
        // SAFETY: `req` is a valid ifreq whose data points to `buf`, which
        // is large enough for the command written at its start.
        let rc = unsafe { libc::ioctl(self.socket.as_raw_fd(), SIOCETHTOOL, &mut req) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn strings(&self) -> io::Result<Vec<String>> {
        // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }
        let mut info = [0u64; 3];
        info[0] = u64::from(ETHTOOL_GSSET_INFO);
        info[1] = 1 << ETH_SS_STATS;
        self.ioctl(&mut info)?;
        let count = (info[2] & 0xffff_ffff) as usize;
        // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
        let words = (12 + count * ETH_GSTRING_LEN).div_ceil(8);
        let mut buf = vec![0u64; words];
        buf[0] = u64::from(ETHTOOL_GSTRINGS) | (u64::from(ETH_SS_STATS) << 32);
        buf[1] = count as u64;
        self.ioctl(&mut buf)?;
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
        Ok((0..count)
            .map(|i| {
                let s = &bytes[12 + i * ETH_GSTRING_LEN..12 + (i + 1) * ETH_GSTRING_LEN];
                let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
                String::from_utf8_lossy(&s[..end]).into_owned()
            })
            .collect())
    }

    /// The current value of the statistic `name` (e.g.
    /// `rx_queue_0_xdp_drops`).
    pub(crate) fn read(&self, name: &str) -> Result<u64> {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .with_context(|| format!("no ethtool statistic {name}"))?;
        // struct ethtool_stats { u32 cmd; u32 n_stats; u64 data[]; }
        let mut buf = vec![0u64; 1 + self.names.len()];
        buf[0] = u64::from(ETHTOOL_GSTATS) | ((self.names.len() as u64) << 32);
        self.ioctl(&mut buf).context("ETHTOOL_GSTATS")?;
        Ok(buf[1 + index])
    }
}

/// `key:\tvalue` lines of an fdinfo file.
fn fdinfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// The fdinfo text of every BPF object of `kind` (`bpf-prog`, `bpf-map`)
/// that process `pid` holds, one per object id.
fn bpf_fdinfos(pid: u32, kind: &str, id_key: &str) -> Result<Vec<String>> {
    let dir = format!("/proc/{pid}/fd");
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let entry = entry?;
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        if target.to_string_lossy() != format!("anon_inode:{kind}") {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(text) = fs::read_to_string(&info) else {
            continue;
        };
        let id = fdinfo_field(&text, id_key);
        if id.is_some() && seen.contains(&id) {
            continue;
        }
        seen.push(id);
        out.push(text);
    }
    Ok(out)
}

/// BPF_PROG_TYPE_XDP.
const PROG_TYPE_XDP: u64 = 6;

/// Total `run_time_ns` and `run_cnt` of the XDP programs process `pid`
/// holds (counted while `kernel.bpf_stats_enabled` is 1).
pub(crate) fn xdp_run_stats(pid: u32) -> Result<(u64, u64)> {
    let mut total = (0, 0);
    for text in bpf_fdinfos(pid, "bpf-prog", "prog_id")? {
        if fdinfo_field(&text, "prog_type") != Some(PROG_TYPE_XDP) {
            continue;
        }
        total.0 += fdinfo_field(&text, "run_time_ns").unwrap_or(0);
        total.1 += fdinfo_field(&text, "run_cnt").unwrap_or(0);
    }
    if total == (0, 0) {
        bail!("process {pid} holds no XDP program with run statistics");
    }
    Ok(total)
}

/// A BPF hash map of process `pid` with `max_entries` entries: its id and
/// `memlock` (bytes charged for it).
pub(crate) fn hash_map_with_capacity(pid: u32, max_entries: u64) -> Result<(u32, u64)> {
    for text in bpf_fdinfos(pid, "bpf-map", "map_id")? {
        if fdinfo_field(&text, "map_type") == Some(1)
            && fdinfo_field(&text, "max_entries") == Some(max_entries)
        {
            let id = fdinfo_field(&text, "map_id").context("map_id")?;
            let memlock = fdinfo_field(&text, "memlock").context("memlock")?;
            return Ok((u32::try_from(id)?, memlock));
        }
    }
    bail!("process {pid} holds no hash map of {max_entries} entries")
}

const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;

/// Counts the keys of BPF map `id` whose keys are `key_size` bytes, by
/// walking them (`BPF_MAP_GET_NEXT_KEY`).
pub(crate) fn count_map_keys(id: u32, key_size: usize) -> Result<u64> {
    #[repr(C)]
    struct GetFdAttr {
        id: u32,
        next_id: u32,
        open_flags: u32,
    }
    #[repr(C)]
    struct NextKeyAttr {
        map_fd: u32,
        _pad: u32,
        key: u64,
        next_key: u64,
    }
    let attr = GetFdAttr {
        id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: a valid bpf_attr prefix for BPF_MAP_GET_FD_BY_ID.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_GET_FD_BY_ID,
            &raw const attr,
            size_of::<GetFdAttr>() as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("opening BPF map {id}"));
    }
    // SAFETY: a new descriptor nothing else owns.
    let map = unsafe { OwnedFd::from_raw_fd(i32::try_from(fd)?) };
    let mut key = vec![0u8; key_size];
    let mut next = vec![0u8; key_size];
    let mut count = 0u64;
    let mut first = true;
    loop {
        let attr = NextKeyAttr {
            map_fd: map.as_raw_fd() as u32,
            _pad: 0,
            key: if first { 0 } else { key.as_ptr() as u64 },
            next_key: next.as_mut_ptr() as u64,
        };
        // SAFETY: the pointers point to live buffers of the map's key size.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_GET_NEXT_KEY,
                &raw const attr,
                size_of::<NextKeyAttr>() as libc::c_uint,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) {
                return Ok(count);
            }
            return Err(e).context("walking the keys of a BPF map");
        }
        count += 1;
        first = false;
        std::mem::swap(&mut key, &mut next);
    }
}

/// The kernel's conntrack entry count in `ns` (per namespace).
pub(crate) fn conntrack_count(ns: &Netns) -> Result<u64> {
    let out = ns.run(&["sysctl", "-n", "net.netfilter.nf_conntrack_count"])?;
    out.trim()
        .parse()
        .with_context(|| format!("nf_conntrack_count: {out:?}"))
}

/// `Slab:` of /proc/meminfo in bytes (kernel object caches, where conntrack
/// entries live).
pub(crate) fn slab_bytes() -> Result<u64> {
    let text = fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let kib: u64 = text
        .lines()
        .find(|l| l.starts_with("Slab:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("no Slab: line in /proc/meminfo")?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fdinfo_fields() {
        let text = "pos:\t0\nflags:\t02000002\nprog_type:\t6\nrun_time_ns:\t1234\nrun_cnt:\t10\n";
        assert_eq!(fdinfo_field(text, "prog_type"), Some(6));
        assert_eq!(fdinfo_field(text, "run_time_ns"), Some(1234));
        assert_eq!(fdinfo_field(text, "run_cnt"), Some(10));
        assert_eq!(fdinfo_field(text, "memlock"), None);
    }

    #[test]
    fn reads_proc_stat() {
        let t = CpuTimes::read().unwrap();
        assert!(!t.busy_ns.is_empty());
        assert!(t.all_since(&t) == 0.0);
    }
}
