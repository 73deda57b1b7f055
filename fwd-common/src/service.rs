//! VIPs and backends (IPv4).

use core::net::Ipv4Addr;

use crate::{addr4, port};

/// Key of [`crate::maps::SERVICES4`]: a VIP address, port and protocol.
///
/// A whole-address service (every port, port kept) is stored with `port` 0.
/// The datapath looks up the exact port first, then port 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Service4Key {
    /// VIP, network order.
    pub addr: u32,
    /// VIP port, network order; 0 for a whole-address service.
    pub port: u16,
    /// [`crate::IPPROTO_TCP`], [`crate::IPPROTO_UDP`] or
    /// [`crate::IPPROTO_ICMP`] (echo requests, port 0).
    pub proto: u8,
    /// Padding; zero.
    pub pad: u8,
}
const _: () = assert!(core::mem::size_of::<Service4Key>() == 8);

/// Bits of [`Service4::flags`].
pub mod service_flags {
    /// An ICMP entry (port 0) of a VIP none of whose services relays ICMP
    /// (no whole-address service of protocol "any"): the datapath answers
    /// echo requests to the VIP itself, so `ping VIP` works for every
    /// service.
    pub const ANSWER_ECHO: u32 = 1;
    /// The service has `allow` or `deny` entries in
    /// [`crate::maps::ACCESS4`]: the datapath looks the source of a new
    /// flow up there.
    pub const ACCESS_LIST: u32 = 2;
    /// The service has an `allow` list: a source that matches no entry is
    /// refused (without one, only `deny` entries refuse).
    pub const ALLOW_LIST: u32 = 4;
}

impl Service4Key {
    /// A key from host-order values (`port` 0: whole address).
    pub const fn new(addr: Ipv4Addr, port_host: u16, proto: u8) -> Self {
        Self {
            addr: addr4(addr),
            port: port(port_host),
            proto,
            pad: 0,
        }
    }
}

/// Value of [`crate::maps::SERVICES4`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Service4 {
    /// Service id (counters, flow events).
    pub id: u32,
    /// Number of backends that take new flows (weight above 0); 0 means none
    /// (new flows dropped).
    pub backend_count: u32,
    /// [`service_flags`]; zero for a relayed service.
    pub flags: u32,
    /// The Maglev table of this service in [`crate::maps::MAGLEV`].
    pub maglev_table: u32,
}
const _: () = assert!(core::mem::size_of::<Service4>() == 16);

/// Value of [`crate::maps::BACKENDS4`]: where a flow goes and the source it
/// gets there.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backend4 {
    /// Backend address, network order.
    pub addr: u32,
    /// SNAT source address used towards this backend, network order.
    pub snat_addr: u32,
    /// Backend port, network order; 0 keeps the client's destination port.
    pub port: u16,
    /// Reserved for flags; zero.
    pub flags: u16,
    /// The service this backend belongs to.
    pub service_id: u32,
    /// The MSS clamp of the service's TCP flows ([`mss_clamp`]): the
    /// datapath lowers the MSS option of their SYN and SYN-ACK to it. Each
    /// backend carries its service's value, so a new flow finds it in the
    /// backend it picked and a SYN-ACK through its flow's `backend_id`.
    /// Was `reserved[0]` (zero: [`mss_clamp::OFF`]), so pinned maps of
    /// earlier versions keep their layout.
    pub mss_clamp: u16,
    /// Padding; zero.
    pub pad: u16,
    /// Reserved; zero.
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<Backend4>() == 24);

/// Values of [`Backend4::mss_clamp`].
pub mod mss_clamp {
    /// No clamping: the MSS option is left as it is (what a zeroed entry,
    /// or one written by an earlier version, holds).
    pub const OFF: u16 = 0;
    /// The MTU of the interfaces the flow uses, less the IPv4 and TCP
    /// headers ([`super::mss_of_mtu`]).
    pub const AUTO: u16 = 1;
    /// Smallest fixed clamp: the MSS every IPv4 host must accept (RFC 9293
    /// section 3.7.1, RFC 879). Values between [`AUTO`] and this are never
    /// written.
    pub const MIN: u16 = 536;
    /// Largest fixed clamp: the largest IPv4 packet less the 40 bytes of
    /// IPv4 and TCP headers.
    pub const MAX: u16 = 65_495;
}

/// Bytes of an IPv4 and a TCP header without options: what an MSS leaves
/// out of the MTU (RFC 9293 section 3.7.1, RFC 6691).
pub const MSS_HEADERS: u16 = 40;

/// The MSS that fits a path of `mtu` bytes: `mtu - 40`, 0 when nothing
/// fits.
#[inline(always)]
pub const fn mss_of_mtu(mtu: u16) -> u16 {
    mtu.saturating_sub(MSS_HEADERS)
}

impl Backend4 {
    /// A backend from host-order values (`port` 0: keep the VIP port),
    /// without MSS clamp (set [`Backend4::mss_clamp`] after).
    pub const fn new(addr: Ipv4Addr, port_host: u16, snat: Ipv4Addr, service_id: u32) -> Self {
        Self {
            addr: addr4(addr),
            snat_addr: addr4(snat),
            port: port(port_host),
            flags: 0,
            service_id,
            mss_clamp: mss_clamp::OFF,
            pad: 0,
            reserved: 0,
        }
    }
}

/// Index in [`crate::maps::MAGLEV`] of the entry of Maglev table `table`
/// for a flow of hash `hash`.
#[inline(always)]
pub const fn maglev_index(table: u32, hash: u32) -> u32 {
    table * crate::maps::MAGLEV_SIZE + hash % crate::maps::MAGLEV_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mss_of_mtu_leaves_out_the_headers() {
        assert_eq!(mss_of_mtu(1500), 1460);
        assert_eq!(mss_of_mtu(576), mss_clamp::MIN);
        assert_eq!(mss_of_mtu(u16::MAX), mss_clamp::MAX);
        assert_eq!(mss_of_mtu(20), 0);
    }
}
