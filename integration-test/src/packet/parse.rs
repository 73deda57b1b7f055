//! [`parse()`]: reads back an IPv4 TCP/UDP frame, the kind the datapath
//! translates, as the flat [`Parsed`] the packet tests compare.

use std::net::SocketAddrV4;

use super::{
    dissect::{ipv4, link},
    frame::L4,
    ETHERTYPE_IPV4,
};

/// A frame read by [`parse()`]: the fields packet tests compare.
///
/// Written by [`parse()`], read by the packet tests to check what the datapath
/// rewrote (MACs, addresses, ports, TTL) and what it must not have touched
/// (VLAN, options, payload), and that both checksums are still right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Ethernet destination MAC.
    pub eth_dst: [u8; 6],
    /// Ethernet source MAC.
    pub eth_src: [u8; 6],
    /// VLAN id of the one 802.1Q tag, if any.
    pub vlan: Option<u16>,
    /// IPv4 header length in 32-bit words (5 without options).
    pub ihl: u8,
    /// IPv4 TTL.
    pub ttl: u8,
    /// IPv4 protocol (6 TCP, 17 UDP).
    pub proto: u8,
    /// IPv4 identification.
    pub ip_id: u16,
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// TCP flags byte (0 for UDP).
    pub tcp_flags: u8,
    /// Whether the IPv4 header checksum is right.
    pub ip_checksum_valid: bool,
    /// The TCP/UDP checksum field as stored (host order).
    pub l4_checksum: u16,
    /// Whether the TCP/UDP checksum is right. A UDP checksum of 0 ("none")
    /// counts as valid (and [`Parsed::l4_checksum`] is then 0).
    pub l4_checksum_valid: bool,
    /// IPv4 options bytes (padding included), empty without options.
    pub ip_options: Vec<u8>,
    /// TCP/UDP payload.
    pub payload: Vec<u8>,
}

/// Parses an Ethernet frame [+ one 802.1Q tag] + IPv4 + TCP/UDP and verifies
/// the IPv4 and TCP/UDP checksums from scratch (independently of the
/// datapath's incremental arithmetic); [`super::dissect()`] reads the rest.
///
/// Bytes after the IPv4 total length (Ethernet padding) are ignored. Errors
/// say what is wrong: too short, not IPv4, stacked VLAN tags, bad IPv4
/// version/IHL/total length, neither TCP nor UDP, bad TCP data offset or UDP
/// length.
pub fn parse(frame: &[u8]) -> Result<Parsed, String> {
    let (eth_dst, eth_src, vlans, ethertype, rest) = link(frame)?;
    if vlans.len() > 1 {
        return Err("more than one VLAN tag".into());
    }
    if ethertype != ETHERTYPE_IPV4 {
        return Err(format!("ethertype {ethertype:#06x} is not IPv4"));
    }
    let ip = ipv4(rest)?;
    let (src_port, dst_port, tcp_flags, l4_checksum, l4_checksum_valid, payload) = match ip.l4 {
        L4::Tcp(t) => (
            t.src_port,
            t.dst_port,
            t.flags,
            t.checksum,
            t.checksum_valid,
            t.payload,
        ),
        L4::Udp(u) => (
            u.src_port,
            u.dst_port,
            0,
            u.checksum,
            u.checksum_valid,
            u.payload,
        ),
        L4::Fragment(_) => return Err("a fragment after the first has no TCP/UDP header".into()),
        _ => {
            let proto = ip.proto;
            return Err(format!("IP protocol {proto} is neither TCP nor UDP"));
        }
    };
    Ok(Parsed {
        eth_dst,
        eth_src,
        vlan: vlans.first().map(|t| t.vid),
        ihl: ip.ihl,
        ttl: ip.ttl,
        proto: ip.proto,
        ip_id: ip.id,
        src: SocketAddrV4::new(ip.src, src_port),
        dst: SocketAddrV4::new(ip.dst, dst_port),
        tcp_flags,
        ip_checksum_valid: ip.checksum_valid,
        l4_checksum,
        l4_checksum_valid,
        ip_options: ip.options,
        payload,
    })
}
