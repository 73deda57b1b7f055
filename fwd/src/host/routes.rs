//! Route lookups: what `ip route get ADDR` says (RTM_GETROUTE over
//! netlink): the interface a packet to ADDR leaves through, the source
//! address the kernel would give it, and whether ADDR is local.
//!
//! Used by the host checks (is every backend routable, through an attached
//! interface; is a VIP local) and to resolve `snat = "auto"`.

use std::{io, net::Ipv4Addr};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::{
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteType},
    AddressFamily, RouteNetlinkMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The kernel's answer for one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination looked up.
    pub dst: Ipv4Addr,
    /// What kind of route matched.
    pub kind: RouteKind,
    /// Output interface index (RTA_OIF); `lo` for a local address.
    pub oif: Option<u32>,
    /// Preferred source address (RTA_PREFSRC): what `snat = "auto"` uses.
    pub prefsrc: Option<Ipv4Addr>,
    /// Next hop, when not directly connected (RTA_GATEWAY).
    pub gateway: Option<Ipv4Addr>,
}

/// The type of the route that matched (`rtm_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// A normal route: packets leave through `oif`.
    Unicast,
    /// The destination is an address of this host.
    Local,
    /// Anything else (broadcast, multicast, ...).
    Other,
}

/// The kernel found no usable route: its error number (`ENETUNREACH` for no
/// route; `EHOSTUNREACH`, `EINVAL`, `EACCES` for unreachable, blackhole and
/// prohibit routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", io::Error::from_raw_os_error(*errno))]
pub struct NoRoute {
    /// The positive errno of the kernel's answer.
    pub errno: i32,
}

/// A netlink route socket for lookups.
pub struct RouteLookup {
    socket: Socket,
    seq: u32,
}

impl RouteLookup {
    /// Opens the socket (no privileges needed).
    pub fn new() -> io::Result<RouteLookup> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(RouteLookup { socket, seq: 0 })
    }

    /// The route to `dst`, like `ip route get DST`; the outer error is a
    /// failure to ask, the inner one the kernel's "no route".
    pub fn get(&mut self, dst: Ipv4Addr) -> io::Result<Result<Route, NoRoute>> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 32;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(
            header,
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(msg)),
        );
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;

        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number == self.seq {
                    match reply.payload {
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) => {
                            return Ok(Ok(parse(dst, &m)));
                        }
                        NetlinkPayload::Error(e) if e.code.is_some() => {
                            return Ok(Err(NoRoute {
                                errno: e.raw_code().abs(),
                            }));
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len.next_multiple_of(4);
            }
        }
    }
}

fn parse(dst: Ipv4Addr, m: &RouteMessage) -> Route {
    let mut route = Route {
        dst,
        kind: match m.header.kind {
            RouteType::Unicast => RouteKind::Unicast,
            RouteType::Local => RouteKind::Local,
            _ => RouteKind::Other,
        },
        oif: None,
        prefsrc: None,
        gateway: None,
    };
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::PrefSource(RouteAddress::Inet(a)) => route.prefsrc = Some(*a),
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => route.gateway = Some(*a),
            _ => {}
        }
    }
    route
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Linux host has these: a real kernel answers.
    #[test]
    fn loopback_is_local_through_lo() {
        let mut lookup = RouteLookup::new().unwrap();
        let r = lookup.get(Ipv4Addr::LOCALHOST).unwrap().unwrap();
        assert_eq!(r.kind, RouteKind::Local);
        let lo = super::super::ifaces::interfaces().unwrap();
        let lo = lo.iter().find(|i| i.name == "lo").unwrap();
        assert_eq!(r.oif, Some(lo.index));
        assert_eq!(r.prefsrc, Some(Ipv4Addr::LOCALHOST));
        // A second lookup on the same socket gets its own answer.
        let r = lookup.get(Ipv4Addr::new(127, 0, 0, 2)).unwrap().unwrap();
        assert_eq!(r.dst, Ipv4Addr::new(127, 0, 0, 2));
    }
}
