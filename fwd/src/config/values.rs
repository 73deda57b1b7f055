//! Parsers for single values of the service map file: addresses, ports,
//! protocols, port ranges, durations. Each returns the [`Problem`] that
//! the caller places at the value's position.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
    ops::RangeInclusive,
    time::Duration,
};

use super::{Problem, Protocol};

/// Which field an address is written in: decides the words of the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AddrField {
    Listen,
    Backend,
}

/// Parses `A.B.C.D` or `A.B.C.D:PORT` (port 1..=65535).
pub(super) fn addr_port(s: &str, field: AddrField) -> Result<(Ipv4Addr, Option<u16>), Problem> {
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
        return Err(match field {
            AddrField::Listen => Problem::ListenHostname,
            AddrField::Backend => Problem::BackendDnsName,
        });
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
pub(super) fn usable(addr: Ipv4Addr) -> Result<Ipv4Addr, Problem> {
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
        use AddrField::*;
        let a = Ipv4Addr::new(198, 18, 82, 70);
        assert_eq!(addr_port("198.18.82.70", Listen), Ok((a, None)));
        assert_eq!(
            addr_port(" 198.18.82.70:8080 ", Listen),
            Ok((a, Some(8080)))
        );
        assert_eq!(
            addr_port("198.18.82.70:65535", Backend),
            Ok((a, Some(65535)))
        );
        assert_eq!(addr_port("198.18.82.70:0", Listen), Err(Problem::BadPort));
        assert_eq!(
            addr_port("198.18.82.70:65536", Listen),
            Err(Problem::BadPort)
        );
        assert_eq!(
            addr_port("198.18.82.70:http", Listen),
            Err(Problem::BadPort)
        );
        assert_eq!(addr_port("198.18.82.70:", Listen), Err(Problem::BadPort));
        assert_eq!(addr_port("2001:db8::1", Listen), Err(Problem::Ipv6));
        assert_eq!(addr_port("[2001:db8::1]:80", Backend), Err(Problem::Ipv6));
        assert_eq!(
            addr_port("web.example", Listen),
            Err(Problem::ListenHostname)
        );
        assert_eq!(
            addr_port("db-1.example:5432", Backend),
            Err(Problem::BackendDnsName)
        );
        assert_eq!(
            addr_port("localhost", Backend),
            Err(Problem::BackendDnsName)
        );
        assert_eq!(addr_port("198.18.1", Backend), Err(Problem::BadAddress));
        assert_eq!(addr_port("198.18.1.256", Backend), Err(Problem::BadAddress));
        assert_eq!(addr_port("", Backend), Err(Problem::BadAddress));
        assert_eq!(
            addr_port("198.18.0.1/24", Backend),
            Err(Problem::BadAddress)
        );
        assert!(matches!(
            addr_port("0.0.0.0:80", Listen),
            Err(Problem::UnusableAddress { .. })
        ));
        assert!(matches!(
            addr_port("127.0.0.1", Backend),
            Err(Problem::UnusableAddress { .. })
        ));
        assert!(matches!(
            addr_port("224.0.0.1", Backend),
            Err(Problem::UnusableAddress { .. })
        ));
        assert!(matches!(
            addr_port("255.255.255.255", Listen),
            Err(Problem::UnusableAddress { .. })
        ));
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
