//! What [`super::dissect()`] reads: a frame layer by layer, with the fields
//! tests check and whether each checksum is right.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::dissect::{be16, ipv4, ipv4_header};

/// A frame read by [`super::dissect()`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Ethernet destination MAC.
    pub eth_dst: [u8; 6],
    /// Ethernet source MAC.
    pub eth_src: [u8; 6],
    /// VLAN tags, outermost first.
    pub vlans: Vec<VlanTag>,
    /// What the link header carries.
    pub net: Net,
}

/// One VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag {
    /// 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    pub tpid: u16,
    /// VLAN id (12 bits; priority and DEI are not kept).
    pub vid: u16,
}

/// The network layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Net {
    /// ARP for IPv4 over Ethernet.
    Arp(Arp),
    /// IPv4.
    Ipv4(Ipv4),
    /// IPv6.
    Ipv6(Ipv6),
    /// Another EtherType, with the bytes after it.
    Other(u16, Vec<u8>),
}

/// An ARP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// An IPv4 header and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    /// Header length in 32-bit words.
    pub ihl: u8,
    /// Total length field.
    pub total_len: u16,
    /// Identification.
    pub id: u16,
    /// Don't Fragment.
    pub dont_fragment: bool,
    /// More Fragments.
    pub more_fragments: bool,
    /// Fragment offset in units of 8 bytes.
    pub fragment_offset: u16,
    /// TTL.
    pub ttl: u8,
    /// Protocol.
    pub proto: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Options (padding included).
    pub options: Vec<u8>,
    /// Whether the header checksum is right.
    pub checksum_valid: bool,
    /// The data after the header (up to the total length).
    pub l4: L4,
}

/// An IPv6 header, its extension headers and what they carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6 {
    /// Payload length field.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Extension headers, in order: next-header number and the whole
    /// header's bytes.
    pub ext: Vec<(u8, Vec<u8>)>,
    /// The fragment header's (offset, more fragments, id), if any.
    pub fragment: Option<(u16, bool, u32)>,
    /// What follows the extension headers.
    pub l4: L4,
}

/// The transport layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp(Tcp),
    /// UDP.
    Udp(Udp),
    /// ICMP over IPv4, or ICMPv6 over IPv6.
    Icmp(Icmp),
    /// A fragment after the first: data without a transport header.
    Fragment(Vec<u8>),
    /// Another protocol, with its bytes.
    Other(u8, Vec<u8>),
}

/// A TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcp {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// The checksum field.
    pub checksum: u16,
    /// Whether the checksum is right (over the whole segment: false for a
    /// first fragment that does not hold it all).
    pub checksum_valid: bool,
    /// The options (the header after its first 20 bytes).
    pub options: Vec<u8>,
    /// Data after the header.
    pub payload: Vec<u8>,
}

impl Tcp {
    /// The value of the MSS option, read as RFC 9293 section 3.2 lays out
    /// the options (End of Option List and NOP take a byte, every other
    /// option gives its length): `None` without one, or when the list is
    /// malformed before it. The tests' own reading, independent of the
    /// datapath's.
    pub fn mss(&self) -> Option<u16> {
        let o = &self.options;
        let mut at = 0;
        while at < o.len() {
            match o[at] {
                0 => return None,
                1 => at += 1,
                kind => {
                    let len = usize::from(*o.get(at + 1)?);
                    if len < 2 || at + len > o.len() {
                        return None;
                    }
                    if kind == 2 {
                        return (len == 4).then(|| u16::from_be_bytes([o[at + 2], o[at + 3]]));
                    }
                    at += len;
                }
            }
        }
        None
    }
}

/// A UDP datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Udp {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The checksum field (0: none).
    pub checksum: u16,
    /// Whether the checksum is right; 0 ("none") counts as right.
    pub checksum_valid: bool,
    /// Data after the header (up to the UDP length).
    pub payload: Vec<u8>,
}

/// An ICMP or ICMPv6 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icmp {
    /// Type.
    pub ty: u8,
    /// Code.
    pub code: u8,
    /// Whether the checksum is right (ICMPv6: with the pseudo-header).
    pub checksum_valid: bool,
    /// The 4 bytes after the checksum (echo id and sequence, next-hop MTU,
    /// pointer, ...).
    pub rest: [u8; 4],
    /// The body: echoed data, or the quoted packet of an error.
    pub body: Vec<u8>,
}

impl Icmp {
    /// Identifier and sequence number of an echo.
    pub fn echo(&self) -> (u16, u16) {
        (be16(&self.rest, 0), be16(&self.rest, 2))
    }

    /// The next-hop MTU of an ICMP frag-needed (RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(&self.rest, 2)
    }

    /// The 32-bit field after the checksum: the MTU of an ICMPv6 packet too
    /// big, the pointer of a parameter problem.
    pub fn rest_u32(&self) -> u32 {
        u32::from_be_bytes(self.rest)
    }

    /// The IPv4 datagram an ICMP error quotes, read leniently: the header
    /// must be whole; what follows is kept as it is ([`L4::Other`]) when
    /// the quote is cut short of the total length (as an 8-byte quote
    /// usually is). A quote of a whole unfragmented datagram (a short echo,
    /// which a router quotes whole) is read like any datagram, its
    /// transport checksum verified.
    pub fn quoted_ipv4(&self) -> Result<Ipv4, String> {
        let (mut ip, rest) = ipv4_header(&self.body, true)?;
        let data_len = usize::from(ip.total_len) - usize::from(ip.ihl) * 4;
        let whole = rest.len() == data_len && !ip.more_fragments && ip.fragment_offset == 0;
        ip.l4 = if whole {
            ipv4(&self.body)?.l4
        } else {
            L4::Other(ip.proto, rest.to_vec())
        };
        Ok(ip)
    }
}
