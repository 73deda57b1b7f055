//! Local sockets that receive on an address and port: TCP listeners and
//! unconnected UDP sockets, from `/proc/net/{tcp,udp,tcp6,udp6}`.
//!
//! A VIP that is one of the host's own addresses takes every packet to it
//! (or to its port) away from the kernel: a local server there (sshd on
//! 0.0.0.0:22) would be hijacked. The host checks refuse such a VIP.

use std::{io, net::Ipv4Addr};

use fwd_common::{IPPROTO_TCP, IPPROTO_UDP};

/// A socket that receives on `addr:port` (`addr` 0.0.0.0: every address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// [`IPPROTO_TCP`] or [`IPPROTO_UDP`].
    pub proto: u8,
    /// Bound address; 0.0.0.0 for a wildcard (an IPv6 `::` socket counts as
    /// a wildcard too: it receives IPv4 unless it is IPV6_V6ONLY).
    pub addr: Ipv4Addr,
    /// Port.
    pub port: u16,
}

impl Listener {
    #[cfg(test)]
    /// Whether it receives packets of `proto` sent to `addr` (any port).
    pub fn receives_on(&self, proto: u8, addr: Ipv4Addr) -> bool {
        self.proto == proto && (self.addr == addr || self.addr.is_unspecified())
    }
}

/// How many times [`listeners`] reads the tables at most.
const MAX_PASSES: usize = 5;

/// Every listening socket of this network namespace.
///
/// The kernel prints these tables a page per read and finds its place
/// again by position, so a socket closed meanwhile by another process can
/// make a read skip one that stays. The tables are read until two passes
/// agree (at most [`MAX_PASSES`]), and every socket any pass saw counts: a
/// socket that exists throughout is missed only if every pass skipped it.
pub fn listeners() -> io::Result<Vec<Listener>> {
    let mut seen = read_tables()?;
    for _ in 1..MAX_PASSES {
        let again = read_tables()?;
        let agree = again == seen;
        seen.extend(again);
        seen.sort_by_key(|l| (l.proto, l.port, l.addr));
        seen.dedup();
        if agree {
            break;
        }
    }
    Ok(seen)
}

/// One pass over the four tables, sorted.
fn read_tables() -> io::Result<Vec<Listener>> {
    let mut out = Vec::new();
    for (file, proto, v6) in [
        ("/proc/net/tcp", IPPROTO_TCP, false),
        ("/proc/net/udp", IPPROTO_UDP, false),
        ("/proc/net/tcp6", IPPROTO_TCP, true),
        ("/proc/net/udp6", IPPROTO_UDP, true),
    ] {
        match std::fs::read_to_string(file) {
            Ok(text) => out.extend(parse_table(&text, proto, v6)),
            // No IPv6 in this kernel: no IPv6 sockets.
            Err(e) if v6 && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("reading {file}: {e}"))),
        }
    }
    out.sort_by_key(|l| (l.proto, l.port, l.addr));
    out.dedup();
    Ok(out)
}

/// TCP state LISTEN in `/proc/net/tcp` (`TCP_LISTEN`).
const TCP_LISTEN: &str = "0A";

/// Parses one `/proc/net/{tcp,udp}[6]` table. Addresses are the kernel's
/// words printed with `%08X` in host order, ports in host order.
pub fn parse_table(text: &str, proto: u8, v6: bool) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(_sl), Some(local), Some(remote), Some(state)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let receiving = if proto == IPPROTO_TCP {
            state == TCP_LISTEN
        } else {
            // An unconnected UDP socket receives from anyone.
            remote
                .split(':')
                .next()
                .is_some_and(|a| a.bytes().all(|b| b == b'0'))
        };
        if !receiving {
            continue;
        }
        let Some((addr, port)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        let addr = if v6 { v6_as_v4(addr) } else { v4(addr) };
        if let Some(addr) = addr {
            out.push(Listener { proto, addr, port });
        }
    }
    out
}

fn v4(hex: &str) -> Option<Ipv4Addr> {
    let word = u32::from_str_radix(hex, 16).ok()?;
    Some(fwd_common::addr4_from_raw(word))
}

/// `::` -> 0.0.0.0, `::ffff:A.B.C.D` -> A.B.C.D, other IPv6 -> none.
fn v6_as_v4(hex: &str) -> Option<Ipv4Addr> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(4).enumerate() {
        let word = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    let v6 = std::net::Ipv6Addr::from(bytes);
    if v6.is_unspecified() {
        Some(Ipv4Addr::UNSPECIFIED)
    } else {
        v6.to_ipv4_mapped()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, UdpSocket};

    use super::*;

    fn hex4(a: Ipv4Addr) -> String {
        format!("{:08X}", fwd_common::addr4(a))
    }

    #[test]
    fn parses_tcp_listeners_only() {
        let text = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
             0: {}:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0\n\
             1: {}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0\n\
             2: {}:D431 {}:0016 01 00000000:00000000 00:00000000 00000000 0\n",
            hex4(Ipv4Addr::UNSPECIFIED),
            hex4(Ipv4Addr::new(198, 18, 0, 1)),
            hex4(Ipv4Addr::new(198, 18, 0, 1)),
            hex4(Ipv4Addr::new(198, 18, 0, 2)),
        );
        let l = parse_table(&text, IPPROTO_TCP, false);
        assert_eq!(
            l,
            vec![
                Listener {
                    proto: IPPROTO_TCP,
                    addr: Ipv4Addr::UNSPECIFIED,
                    port: 22
                },
                Listener {
                    proto: IPPROTO_TCP,
                    addr: Ipv4Addr::new(198, 18, 0, 1),
                    port: 8080
                },
            ]
        );
        assert!(l[0].receives_on(IPPROTO_TCP, Ipv4Addr::new(198, 18, 9, 9)));
        assert!(!l[0].receives_on(IPPROTO_UDP, Ipv4Addr::new(198, 18, 9, 9)));
        assert!(!l[1].receives_on(IPPROTO_TCP, Ipv4Addr::new(198, 18, 0, 2)));
    }

    /// The words below are written as a little-endian kernel prints them.
    #[cfg(target_endian = "little")]
    #[test]
    fn parses_v6_wildcard_and_mapped() {
        let text = "sl local rem st\n\
             0: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07\n\
             1: 0000000000000000FFFF0000010012C6:0044 00000000000000000000000000000000:0000 07\n\
             2: B80D0120000000000000000001000000:0045 00000000000000000000000000000000:0000 07\n";
        let l = parse_table(text, IPPROTO_UDP, true);
        assert_eq!(
            l,
            vec![
                Listener {
                    proto: IPPROTO_UDP,
                    addr: Ipv4Addr::UNSPECIFIED,
                    port: 53
                },
                Listener {
                    proto: IPPROTO_UDP,
                    addr: Ipv4Addr::new(198, 18, 0, 1),
                    port: 68
                },
            ]
        );
    }

    /// Real sockets show up in the real tables.
    #[test]
    fn finds_real_sockets() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let found = listeners().unwrap();
        let t = Listener {
            proto: IPPROTO_TCP,
            addr: Ipv4Addr::LOCALHOST,
            port: tcp.local_addr().unwrap().port(),
        };
        let u = Listener {
            proto: IPPROTO_UDP,
            addr: Ipv4Addr::LOCALHOST,
            port: udp.local_addr().unwrap().port(),
        };
        assert!(found.contains(&t), "{t:?} not in {found:?}");
        assert!(found.contains(&u), "{u:?} not in {found:?}");
    }
}
