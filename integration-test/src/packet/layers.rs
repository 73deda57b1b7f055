//! The layers a [`super::PacketBuilder`] holds, as it writes them
//! ([`super::wire`]).

use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) use super::frame::Arp;
use super::ipv6::Ipv6Ext;

/// What follows the link header (an ARP message is held as
/// [`super::dissect()`] reads it back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Net {
    Arp(Arp),
    Ip(Ip),
}

/// An IP packet: its header, transport header and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Ip {
    pub header: IpHeader,
    pub l4: L4,
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum IpHeader {
    V4(V4),
    V6(V6),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct V4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub id: u16,
    pub options: Vec<u8>,
    /// `None`: an unfragmented packet (DF set); `Some((mf, offset))`: the
    /// fragment fields as given (DF clear).
    pub fragment: Option<(bool, u16)>,
    /// Header fields as given instead of as computed (malformed packets).
    pub version: u8,
    pub ihl: Option<u8>,
    pub total_len: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct V6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub ext: Vec<Ipv6Ext>,
}

/// The transport header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum L4 {
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: u8,
        /// TCP options, padding included (a multiple of 4 bytes).
        options: Vec<u8>,
        /// Send a checksum off by one (a corrupted or forged segment).
        bad_checksum: bool,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        zero_checksum: bool,
    },
    /// ICMP over IPv4, ICMPv6 over IPv6: type, code, the 4 bytes after the
    /// checksum; the message body is the payload.
    Icmp { ty: u8, code: u8, rest: [u8; 4] },
}

impl L4 {
    /// A TCP header between these ports.
    pub fn tcp(src_port: u16, dst_port: u16, flags: u8) -> L4 {
        L4::Tcp {
            src_port,
            dst_port,
            flags,
            options: Vec::new(),
            bad_checksum: false,
        }
    }

    /// A UDP header between these ports, its checksum computed.
    pub fn udp(src_port: u16, dst_port: u16) -> L4 {
        L4::Udp {
            src_port,
            dst_port,
            zero_checksum: false,
        }
    }
}
