//! The kernel settings fwd reads (`ip_local_port_range`) and sets
//! (`ip_forward`, `accept_local`), under `/proc/sys`.

use std::{io, ops::RangeInclusive, path::PathBuf};

use thiserror::Error;

/// A sysctl that could not be read or written.
#[derive(Debug, Error)]
#[error("{action} {key}")]
pub struct SysctlError {
    /// `reading` or `setting`.
    pub action: &'static str,
    /// The key, dotted (`net.ipv4.ip_forward`).
    pub key: String,
    /// What the kernel said.
    #[source]
    pub source: io::Error,
}

/// The file of a dotted key; as with sysctl(8), a `/` in the key stands for
/// a `.` in a name (`net.ipv4.conf.eth0/100.accept_local`).
fn path(key: &str) -> PathBuf {
    let rel: String = key
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    PathBuf::from("/proc/sys").join(rel)
}

/// Reads a sysctl (`net.ipv4.ip_forward`), trimmed.
pub fn read(key: &str) -> Result<String, SysctlError> {
    std::fs::read_to_string(path(key))
        .map(|s| s.trim().to_string())
        .map_err(|source| SysctlError {
            action: "reading",
            key: key.into(),
            source,
        })
}

/// Sets a sysctl to `value` unless it already has it. Returns the old value
/// when it changed it.
pub fn ensure(key: &str, value: &str) -> Result<Option<String>, SysctlError> {
    let old = read(key)?;
    if old == value {
        return Ok(None);
    }
    std::fs::write(path(key), value).map_err(|source| SysctlError {
        action: "setting",
        key: key.into(),
        source,
    })?;
    Ok(Some(old))
}

/// The key of `accept_local` of interface `ifname` (a VLAN interface
/// `eth0.100` is written `eth0/100`, as sysctl(8) does).
pub fn accept_local_key(ifname: &str) -> String {
    format!("net.ipv4.conf.{}.accept_local", ifname.replace('.', "/"))
}

/// The host's ephemeral port range (`net.ipv4.ip_local_port_range`): the
/// ports local sockets pick, which the SNAT range must not overlap.
pub fn ip_local_port_range() -> Result<RangeInclusive<u16>, SysctlError> {
    const KEY: &str = "net.ipv4.ip_local_port_range";
    let text = read(KEY)?;
    parse_port_range(&text).ok_or_else(|| SysctlError {
        action: "reading",
        key: KEY.into(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected value {text:?}"),
        ),
    })
}

/// Parses `"32768\t60999"`.
pub fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi)), None) if lo <= hi => Some(lo..=hi),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("1024 65535"), Some(1024..=65535));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("32768"), None);
        assert_eq!(parse_port_range("a b"), None);
    }

    #[test]
    fn reads_the_real_range() {
        let r = ip_local_port_range().unwrap();
        assert!(r.start() <= r.end());
        let err = read("net.ipv4.no_such_key").unwrap_err();
        assert!(err.to_string().contains("net.ipv4.no_such_key"));
    }

    #[test]
    fn dotted_interface_names() {
        assert_eq!(
            accept_local_key("eth0.100"),
            "net.ipv4.conf.eth0/100.accept_local"
        );
        assert_eq!(
            path(&accept_local_key("eth0.100")),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/accept_local")
        );
    }
}
