//! Parsers for single values of the service map file: addresses, ports,
//! protocols, port ranges, durations. Each returns the [`Problem`] that
//! the caller places at the value's position.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    ops::RangeInclusive,
    time::Duration,
};

use super::{Problem, Protocol};

/// What a backend entry names: an address, or a DNS name resolved by
/// [`crate::dns`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum BackendTarget {
    Addr(Ipv4Addr),
    Name(String),
}

/// Parses a backend: `A.B.C.D[:PORT]` or `NAME[:PORT]` (a DNS name, kept
/// in lower case as written, a final dot included).
pub(super) fn backend(s: &str) -> Result<(BackendTarget, Option<u16>), Problem> {
    let s = s.trim();
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) if looks_like_dns_name(host) => (host, Some(port)),
        _ => (s, None),
    };
    if !looks_like_dns_name(host) {
        return addr_port(s).map(|(addr, port)| (BackendTarget::Addr(addr), port));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or(Problem::BadPort)?,
        ),
    };
    Ok((BackendTarget::Name(dns_name(host)?), port))
}

/// Checks a host name (RFC 1123): labels of letters, digits and `-` (not
/// first or last), 1 to 63 characters each, 253 in all; one final dot
/// allowed (a fully qualified name, not completed by the search list).
fn dns_name(s: &str) -> Result<String, Problem> {
    let bad = |why| Err(Problem::BadDnsName { why });
    let bare = s.strip_suffix('.').unwrap_or(s);
    if bare.len() > 253 {
        return bad("longer than 253 characters");
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return bad("an empty label (two dots in a row, or a dot first)");
        }
        if label.len() > 63 {
            return bad("a label longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
    }
    Ok(s.to_ascii_lowercase())
}

/// Parses a `[relay] dns_servers` entry: an IPv4 or IPv6 address, with an
/// optional port (default 53).
pub(super) fn dns_server(s: &str) -> Result<SocketAddr, Problem> {
    let s = s.trim();
    let sa = match s.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, 53),
        Err(_) => s.parse::<SocketAddr>().map_err(|_| Problem::BadDnsServer)?,
    };
    if sa.port() == 0 {
        return Err(Problem::BadPort);
    }
    let ip = sa.ip();
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return Err(Problem::BadDnsServer);
    }
    Ok(sa)
}

/// Parses `A.B.C.D` or `A.B.C.D:PORT` (port 1..=65535). A host name is
/// refused with [`Problem::ListenHostname`] (backends take names: see
/// [`backend`]).
pub(super) fn addr_port(s: &str) -> Result<(Ipv4Addr, Option<u16>), Problem> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<Ipv4Addr>() {
        return Ok((usable(addr)?, None));
    }
    if let Ok(sa) = s.parse::<SocketAddrV4>() {
        if sa.port() == 0 {
            return Err(Problem::BadPort);
        }
        return Ok((usable(*sa.ip())?, Some(sa.port())));
    }
    if s.parse::<Ipv6Addr>().is_ok()
        || s.parse::<SocketAddrV6>().is_ok()
        || s.starts_with('[')
        || s.matches(':').count() > 1
    {
        return Err(Problem::Ipv6);
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    if host.parse::<Ipv4Addr>().is_ok() {
        // The address is fine, so the port is what is wrong.
        return Err(Problem::BadPort);
    }
    if looks_like_dns_name(host) && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0)) {
        return Err(Problem::ListenHostname);
    }
    Err(Problem::BadAddress)
}

/// A name made of letters, digits, `-` and `.`, with at least one letter
/// (so `198.18.1` is a bad address, not a name).
fn looks_like_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

/// Refuses addresses that cannot be a VIP, a backend or a SNAT source.
pub(crate) fn usable(addr: Ipv4Addr) -> Result<Ipv4Addr, Problem> {
    let why = if addr.is_unspecified() {
        "unspecified"
    } else if addr.is_loopback() {
        "a loopback address"
    } else if addr.is_broadcast() {
        "the broadcast address"
    } else if addr.is_multicast() {
        "a multicast address"
    } else {
        return Ok(addr);
    };
    Err(Problem::UnusableAddress { addr, why })
}

/// Parses `"tcp"`, `"udp"` or `"any"`.
pub(super) fn protocol(s: &str) -> Result<Protocol, Problem> {
    match s {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "any" => Ok(Protocol::Any),
        _ => Err(Problem::BadProtocol),
    }
}

/// The `snat` value: `None` for `"auto"`, else the address.
pub(super) fn snat(s: &str) -> Result<Option<Ipv4Addr>, Problem> {
    let s = s.trim();
    if s == "auto" {
        return Ok(None);
    }
    match s.parse::<Ipv4Addr>() {
        Ok(addr) => usable(addr).map(Some),
        Err(_) if s.parse::<Ipv6Addr>().is_ok() => Err(Problem::Ipv6),
        Err(_) => Err(Problem::BadSnat),
    }
}

/// Parses an `allow` or `deny` entry: `"A.B.C.D/LEN"` (no bits set beyond
/// LEN) or `"A.B.C.D"` (/32).
pub(super) fn prefix(s: &str) -> Result<super::Prefix4, Problem> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.trim().parse::<u8>().map_err(|_| Problem::BadPrefix)?),
        None => (s, 32),
    };
    let addr = match addr.trim().parse::<Ipv4Addr>() {
        Ok(a) => a,
        Err(_) if addr.trim().parse::<Ipv6Addr>().is_ok() => return Err(Problem::Ipv6),
        Err(_) => return Err(Problem::BadPrefix),
    };
    if len > 32 {
        return Err(Problem::BadPrefix);
    }
    let prefix = super::Prefix4 { addr, len };
    if prefix.network() != addr {
        return Err(Problem::PrefixHostBits {
            network: super::Prefix4 {
                addr: prefix.network(),
                len,
            }
            .to_string(),
        });
    }
    Ok(prefix)
}

/// Parses `"LO-HI"` with 1024 <= LO <= HI <= 65535.
pub(super) fn port_range(s: &str) -> Result<RangeInclusive<u16>, Problem> {
    let (lo, hi) = s.split_once('-').ok_or(Problem::BadPortRange)?;
    let lo: u16 = lo.trim().parse().map_err(|_| Problem::BadPortRange)?;
    let hi: u16 = hi.trim().parse().map_err(|_| Problem::BadPortRange)?;
    if lo < 1024 || lo > hi {
        return Err(Problem::BadPortRange);
    }
    Ok(lo..=hi)
}

/// Parses a humantime duration (`"2h4m"`, `"90s"`), longer than zero.
pub(super) fn duration(s: &str) -> Result<Duration, Problem> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| Problem::BadDuration { why: e.to_string() })?;
    if d.is_zero() {
        return Err(Problem::ZeroDuration);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Ipv4Addr::new(198, 18, 82, 70);
        assert_eq!(addr_port("198.18.82.70"), Ok((a, None)));
        assert_eq!(addr_port(" 198.18.82.70:8080 "), Ok((a, Some(8080))));
        assert_eq!(addr_port("198.18.82.70:65535"), Ok((a, Some(65535))));
        assert_eq!(addr_port("198.18.82.70:0"), Err(Problem::BadPort));
        assert_eq!(addr_port("198.18.82.70:65536"), Err(Problem::BadPort));
        assert_eq!(addr_port("198.18.82.70:http"), Err(Problem::BadPort));
        assert_eq!(addr_port("198.18.82.70:"), Err(Problem::BadPort));
        assert_eq!(addr_port("2001:db8::1"), Err(Problem::Ipv6));
        assert_eq!(addr_port("[2001:db8::1]:80"), Err(Problem::Ipv6));
        assert_eq!(addr_port("web.example"), Err(Problem::ListenHostname));
        assert_eq!(addr_port("198.18.1"), Err(Problem::BadAddress));
        assert_eq!(addr_port("198.18.1.256"), Err(Problem::BadAddress));
        assert_eq!(addr_port(""), Err(Problem::BadAddress));
        assert_eq!(addr_port("198.18.0.1/24"), Err(Problem::BadAddress));
        for unusable in ["0.0.0.0:80", "127.0.0.1", "224.0.0.1", "255.255.255.255"] {
            assert!(
                matches!(addr_port(unusable), Err(Problem::UnusableAddress { .. })),
                "{unusable}"
            );
        }
    }

    #[test]
    fn backends_by_address_or_name() {
        use BackendTarget::*;
        let name = |n: &str| Name(n.to_string());
        let a = Ipv4Addr::new(198, 19, 0, 10);
        assert_eq!(backend("198.19.0.10"), Ok((Addr(a), None)));
        assert_eq!(backend(" 198.19.0.10:443 "), Ok((Addr(a), Some(443))));
        assert_eq!(
            backend("Storage.Internal.example:443"),
            Ok((name("storage.internal.example"), Some(443)))
        );
        assert_eq!(backend("db-1.example"), Ok((name("db-1.example"), None)));
        assert_eq!(
            backend("db.example.:5432"),
            Ok((name("db.example."), Some(5432)))
        );
        assert_eq!(backend("localhost"), Ok((name("localhost"), None)));
        assert_eq!(backend("db.example:0"), Err(Problem::BadPort));
        assert_eq!(backend("db.example:65536"), Err(Problem::BadPort));
        assert_eq!(backend("db.example:https"), Err(Problem::BadPort));
        assert_eq!(backend("db.example:"), Err(Problem::BadPort));
        for (bad, why) in [
            ("db..example", "an empty label"),
            (".db.example", "an empty label"),
            ("-db.example", "starts or ends with '-'"),
            ("db-.example:80", "starts or ends with '-'"),
        ] {
            assert!(
                matches!(backend(bad), Err(Problem::BadDnsName { why: w }) if w.contains(why)),
                "{bad}: {:?}",
                backend(bad)
            );
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert!(matches!(
            backend(&long_label),
            Err(Problem::BadDnsName { .. })
        ));
        let ok_label = format!("{}.example", "a".repeat(63));
        assert!(backend(&ok_label).is_ok());
        let long_name = vec!["abcdefg"; 32].join(".") + ".example";
        assert!(long_name.len() > 253);
        assert!(matches!(
            backend(&long_name),
            Err(Problem::BadDnsName { .. })
        ));
        // Addresses keep their own errors.
        assert_eq!(backend("198.18.1"), Err(Problem::BadAddress));
        assert_eq!(backend("198.19.0.10:http"), Err(Problem::BadPort));
        assert_eq!(backend("2001:db8::1"), Err(Problem::Ipv6));
        assert_eq!(backend("[2001:db8::1]:80"), Err(Problem::Ipv6));
        assert_eq!(backend("db_1.example"), Err(Problem::BadAddress));
        assert!(matches!(
            backend("127.0.0.1"),
            Err(Problem::UnusableAddress { .. })
        ));
    }

    #[test]
    fn dns_servers() {
        let v4 = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(dns_server("198.18.0.53"), Ok(v4("198.18.0.53:53")));
        assert_eq!(dns_server("198.18.0.53:5353"), Ok(v4("198.18.0.53:5353")));
        assert_eq!(dns_server("127.0.0.53"), Ok(v4("127.0.0.53:53")));
        assert_eq!(dns_server("2001:db8::53"), Ok(v4("[2001:db8::53]:53")));
        assert_eq!(
            dns_server("[2001:db8::53]:5353"),
            Ok(v4("[2001:db8::53]:5353"))
        );
        assert_eq!(dns_server("198.18.0.53:0"), Err(Problem::BadPort));
        for bad in [
            "ns.example",
            "198.18.0",
            "0.0.0.0",
            "224.0.0.1:53",
            "::",
            "",
        ] {
            assert_eq!(dns_server(bad), Err(Problem::BadDnsServer), "{bad}");
        }
    }

    #[test]
    fn protocols_and_snat() {
        assert_eq!(protocol("tcp"), Ok(Protocol::Tcp));
        assert_eq!(protocol("udp"), Ok(Protocol::Udp));
        assert_eq!(protocol("any"), Ok(Protocol::Any));
        assert_eq!(protocol("TCP"), Err(Problem::BadProtocol));
        assert_eq!(protocol("sctp"), Err(Problem::BadProtocol));
        assert_eq!(snat("auto"), Ok(None));
        assert_eq!(snat("198.19.0.1"), Ok(Some(Ipv4Addr::new(198, 19, 0, 1))));
        assert_eq!(snat("2001:db8::1"), Err(Problem::Ipv6));
        assert_eq!(snat("automatic"), Err(Problem::BadSnat));
        assert!(matches!(
            snat("0.0.0.0"),
            Err(Problem::UnusableAddress { .. })
        ));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(port_range("10000-32767"), Ok(10000..=32767));
        assert_eq!(port_range("1024-1024"), Ok(1024..=1024));
        assert_eq!(port_range(" 60000 - 65535 "), Ok(60000..=65535));
        for bad in [
            "1023-2000",
            "2000-1999",
            "0-10",
            "10000",
            "10000-70000",
            "a-b",
            "-",
            "1024-",
        ] {
            assert_eq!(port_range(bad), Err(Problem::BadPortRange), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration("2h4m"), Ok(Duration::from_secs(7440)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("0s"), Err(Problem::ZeroDuration));
        assert!(matches!(
            duration("ten seconds"),
            Err(Problem::BadDuration { .. })
        ));
        assert!(matches!(duration("10"), Err(Problem::BadDuration { .. })));
    }
}
