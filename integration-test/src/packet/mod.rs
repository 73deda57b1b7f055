//! Packets for `BPF_PROG_TEST_RUN` tests: a builder for inputs and expected
//! outputs by name ([`PacketBuilder`]: ARP, IPv4 and IPv6 with TCP, UDP,
//! ICMP and ICMPv6, fragments, extension headers, VLAN tags), and parsers
//! that read them back with every checksum computed from scratch
//! ([`parse()`] for the IPv4 TCP/UDP the datapath translates, [`dissect()`] for
//! everything).
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use integration_test::{addr::sa, packet::{parse, PacketBuilder}};
//!
//! let client: SocketAddrV4 = sa(Ipv4Addr::new(198, 18, 0, 2), 40000);
//! let vip: SocketAddrV4 = sa(Ipv4Addr::new(198, 18, 100, 1), 80);
//! let frame = PacketBuilder::tcp(client, vip, 0x02).payload(b"hi").build();
//! let p = parse(&frame).unwrap();
//! assert_eq!((p.src, p.dst, p.tcp_flags), (client, vip, 0x02));
//! assert!(p.ip_checksum_valid && p.l4_checksum_valid);
//! ```

mod builder;
pub mod checksum;
mod dissect;
mod frame;
pub mod icmp;
pub mod ipv6;
mod layers;
mod parse;
#[cfg(test)]
mod tests;
mod wire;

pub use builder::{
    PacketBuilder, BROADCAST_MAC, DEFAULT_DST_MAC, DEFAULT_SRC_MAC, DEFAULT_TTL, TCP_ACK, TCP_SEQ,
    TCP_WINDOW,
};
pub use dissect::dissect;
pub use frame::{Arp, Frame, Icmp, Ipv4, Ipv6, Net, Tcp, Udp, VlanTag, L4};
pub use icmp::{IcmpError, Icmpv6Error};
pub use ipv6::Ipv6Ext;
pub use parse::{parse, Parsed};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType (TPID) of an 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType (TPID) of an 802.1ad service tag.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IANA protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IANA protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv4 flags/fragment-offset word: Don't Fragment.
const IPV4_DONT_FRAGMENT: u16 = 0x4000;
/// IPv4 flags/fragment-offset word: More Fragments.
const IPV4_MORE_FRAGMENTS: u16 = 0x2000;
