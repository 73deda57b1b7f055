//! Packets for `BPF_PROG_TEST_RUN` tests: a builder for inputs and expected
//! outputs, and a parser that checks outputs with checksums computed from
//! scratch.
//!
//! ```
//! use std::net::SocketAddrV4;
//! use integration_test::packet::{parse, PacketBuilder};
//!
//! let client: SocketAddrV4 = "198.18.0.2:40000".parse().unwrap();
//! let vip: SocketAddrV4 = "198.18.100.1:80".parse().unwrap();
//! let frame = PacketBuilder::tcp(client, vip, 0x02).payload(b"hi").build();
//! let p = parse(&frame).unwrap();
//! assert_eq!((p.src, p.dst, p.tcp_flags), (client, vip, 0x02));
//! assert!(p.ip_checksum_valid && p.l4_checksum_valid);
//! ```

mod builder;
pub mod checksum;
mod parse;
#[cfg(test)]
mod tests;

pub use builder::{
    PacketBuilder, DEFAULT_DST_MAC, DEFAULT_SRC_MAC, DEFAULT_TTL, TCP_ACK, TCP_SEQ, TCP_WINDOW,
};
pub use parse::{parse, Parsed};

/// Ethertype of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype (TPID) of an 802.1Q VLAN tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// Ethertype (TPID) of an 802.1ad service tag; the parser treats it as a tag.
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IANA protocol number of TCP.
const IPPROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
const IPPROTO_UDP: u8 = 17;
/// IPv4 flags/fragment-offset word: Don't Fragment.
const IPV4_DONT_FRAGMENT: u16 = 0x4000;
/// IPv4 flags/fragment-offset word: More Fragments.
const IPV4_MORE_FRAGMENTS: u16 = 0x2000;
