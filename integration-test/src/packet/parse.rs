//! [`parse`]: reads a frame back and verifies its checksums from scratch.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::checksum::{checksum, l4_checksum};
use super::{ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_TCP, IPPROTO_UDP};

/// A frame read by [`parse`]: the fields packet tests compare.
///
/// Written by [`parse`], read by the packet tests to check what the datapath
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
/// datapath's incremental arithmetic).
///
/// Bytes after the IPv4 total length (Ethernet padding) are ignored. Errors
/// say what is wrong: too short, not IPv4, stacked VLAN tags, bad IPv4
/// version/IHL/total length, neither TCP nor UDP, bad TCP data offset or UDP
/// length.
pub fn parse(frame: &[u8]) -> Result<Parsed, String> {
    let eth = frame
        .get(..14)
        .ok_or_else(|| format!("frame of {} bytes is shorter than Ethernet", frame.len()))?;
    let eth_dst: [u8; 6] = eth[0..6].try_into().expect("6 bytes");
    let eth_src: [u8; 6] = eth[6..12].try_into().expect("6 bytes");
    let mut ethertype = be16(eth, 12);
    let mut at = 14;
    let mut vlan = None;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        let tag = frame
            .get(at..at + 4)
            .ok_or("frame ends inside the VLAN tag")?;
        vlan = Some(be16(tag, 0) & 0x0fff);
        ethertype = be16(tag, 2);
        at += 4;
        if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
            return Err("more than one VLAN tag".into());
        }
    }
    if ethertype != ETHERTYPE_IPV4 {
        return Err(format!("ethertype {ethertype:#06x} is not IPv4"));
    }

    let ip_start = at;
    let base = frame
        .get(ip_start..ip_start + 20)
        .ok_or("frame ends inside the IPv4 header")?;
    if base[0] >> 4 != 4 {
        return Err(format!("IP version {} is not 4", base[0] >> 4));
    }
    let ihl = base[0] & 0x0f;
    if ihl < 5 {
        return Err(format!("IHL {ihl} is below 5"));
    }
    let header_len = usize::from(ihl) * 4;
    let total_len = usize::from(be16(base, 2));
    if total_len < header_len {
        return Err(format!(
            "total length {total_len} is below the header length {header_len}"
        ));
    }
    let ip = frame.get(ip_start..ip_start + total_len).ok_or_else(|| {
        format!(
            "total length {total_len} exceeds the {} bytes after the link header",
            frame.len() - ip_start
        )
    })?;
    let header = &ip[..header_len];
    let ip_checksum_valid = checksum(header) == 0;
    let ttl = header[8];
    let proto = header[9];
    let ip_id = be16(header, 4);
    let src_ip = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst_ip = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    let ip_options = header[20..].to_vec();
    let segment = &ip[header_len..];

    let (src_port, dst_port, tcp_flags, l4_checksum_field, l4_checksum_valid, payload) = match proto
    {
        IPPROTO_TCP => {
            let h = segment
                .get(..20)
                .ok_or("packet ends inside the TCP header")?;
            let data_offset = usize::from(h[12] >> 4) * 4;
            if data_offset < 20 || data_offset > segment.len() {
                return Err(format!(
                    "TCP data offset {data_offset} is outside 20..={}",
                    segment.len()
                ));
            }
            let valid = l4_checksum(src_ip, dst_ip, proto, segment) == 0;
            (
                be16(h, 0),
                be16(h, 2),
                h[13],
                be16(h, 16),
                valid,
                &segment[data_offset..],
            )
        }
        IPPROTO_UDP => {
            let h = segment
                .get(..8)
                .ok_or("packet ends inside the UDP header")?;
            let udp_len = usize::from(be16(h, 4));
            if udp_len < 8 || udp_len > segment.len() {
                return Err(format!(
                    "UDP length {udp_len} is outside 8..={}",
                    segment.len()
                ));
            }
            let datagram = &segment[..udp_len];
            let stored = be16(h, 6);
            let valid = stored == 0 || l4_checksum(src_ip, dst_ip, proto, datagram) == 0;
            (be16(h, 0), be16(h, 2), 0, stored, valid, &datagram[8..])
        }
        other => return Err(format!("IP protocol {other} is neither TCP nor UDP")),
    };

    Ok(Parsed {
        eth_dst,
        eth_src,
        vlan,
        ihl,
        ttl,
        proto,
        ip_id,
        src: SocketAddrV4::new(src_ip, src_port),
        dst: SocketAddrV4::new(dst_ip, dst_port),
        tcp_flags,
        ip_checksum_valid,
        l4_checksum: l4_checksum_field,
        l4_checksum_valid,
        ip_options,
        payload: payload.to_vec(),
    })
}

/// The big-endian 16-bit word at `at`.
fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}
