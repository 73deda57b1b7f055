//! Whether this process may load and attach XDP programs.

use std::io;

/// `CAP_NET_ADMIN`: attach XDP, set network sysctls.
const CAP_NET_ADMIN: u32 = 12;
/// `CAP_SYS_ADMIN`: covers BPF on kernels before 5.8.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_BPF` (Linux 5.8+): create maps, load programs.
const CAP_BPF: u32 = 39;

/// The capabilities from `needed` missing in the effective set `cap_eff`,
/// by name. BPF is satisfied by `CAP_BPF` or `CAP_SYS_ADMIN`.
pub fn missing(cap_eff: u64) -> Vec<&'static str> {
    let has = |cap: u32| cap_eff & (1u64 << cap) != 0;
    let mut out = Vec::new();
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        out.push("CAP_BPF");
    }
    if !has(CAP_NET_ADMIN) {
        out.push("CAP_NET_ADMIN");
    }
    out
}

/// The effective capability set from the text of `/proc/self/status`.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// The capabilities this process lacks to attach fwd (empty: all there).
pub fn missing_capabilities() -> io::Result<Vec<&'static str>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let cap_eff = parse_cap_eff(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no CapEff line in /proc/self/status",
        )
    })?;
    Ok(missing(cap_eff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        assert!(missing(0x000001ff_ffffffff).is_empty());
        assert_eq!(missing(0), vec!["CAP_BPF", "CAP_NET_ADMIN"]);
        assert_eq!(missing(1 << CAP_NET_ADMIN), vec!["CAP_BPF"]);
        assert!(missing((1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)).is_empty());
        assert_eq!(missing(1 << CAP_BPF), vec!["CAP_NET_ADMIN"]);
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tfwd\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x000001fffeffffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
        // This process can read its own status.
        missing_capabilities().unwrap();
    }
}
