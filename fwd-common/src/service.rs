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
    /// Reserved; zero.
    pub reserved: [u32; 2],
}
const _: () = assert!(core::mem::size_of::<Backend4>() == 24);

impl Backend4 {
    /// A backend from host-order values (`port` 0: keep the VIP port).
    pub const fn new(addr: Ipv4Addr, port_host: u16, snat: Ipv4Addr, service_id: u32) -> Self {
        Self {
            addr: addr4(addr),
            snat_addr: addr4(snat),
            port: port(port_host),
            flags: 0,
            service_id,
            reserved: [0; 2],
        }
    }
}

/// Index in [`crate::maps::MAGLEV`] of the entry of Maglev table `table`
/// for a flow of hash `hash`.
#[inline(always)]
pub const fn maglev_index(table: u32, hash: u32) -> u32 {
    table * crate::maps::MAGLEV_SIZE + hash % crate::maps::MAGLEV_SIZE
}
