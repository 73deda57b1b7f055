//! [`dissect()`]: reads any frame the builder makes back, layer by layer, and
//! verifies every checksum from scratch.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    checksum::{checksum, l4_checksum, l4_checksum_v6},
    frame::{Arp, Frame, Icmp, Ipv4, Ipv6, Net, Tcp, Udp, VlanTag, L4},
    ipv6::{NEXT_DEST_OPTIONS, NEXT_FRAGMENT, NEXT_HOP_BY_HOP, NEXT_ICMPV6, NEXT_ROUTING},
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_ICMP,
    IPPROTO_TCP, IPPROTO_UDP, IPV4_DONT_FRAGMENT, IPV4_MORE_FRAGMENTS,
};

/// Reads an Ethernet frame: any number of VLAN tags, then ARP, IPv4 (with
/// options, fragments) or IPv6 (with extension headers), then TCP, UDP,
/// ICMP or ICMPv6, verifying each checksum from scratch (independently of
/// the datapath's incremental arithmetic). Bytes after the IP length
/// (Ethernet padding) are ignored. Errors say what is cut short or wrong.
pub fn dissect(frame: &[u8]) -> Result<Frame, String> {
    let (eth_dst, eth_src, vlans, ethertype, rest) = link(frame)?;
    let net = match ethertype {
        ETHERTYPE_ARP => Net::Arp(arp(rest)?),
        ETHERTYPE_IPV4 => Net::Ipv4(ipv4(rest)?),
        ETHERTYPE_IPV6 => Net::Ipv6(ipv6(rest)?),
        other => Net::Other(other, rest.to_vec()),
    };
    Ok(Frame {
        eth_dst,
        eth_src,
        vlans,
        net,
    })
}

/// The link header: MACs, tags, EtherType and the bytes after them.
pub(super) type Link<'a> = ([u8; 6], [u8; 6], Vec<VlanTag>, u16, &'a [u8]);

/// Reads the link header.
pub(super) fn link(frame: &[u8]) -> Result<Link<'_>, String> {
    let eth = frame
        .get(..14)
        .ok_or_else(|| format!("frame of {} bytes is shorter than Ethernet", frame.len()))?;
    let eth_dst: [u8; 6] = eth[0..6].try_into().expect("6 bytes");
    let eth_src: [u8; 6] = eth[6..12].try_into().expect("6 bytes");
    let mut ethertype = be16(eth, 12);
    let mut at = 14;
    let mut vlans = Vec::new();
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        let tag = frame
            .get(at..at + 4)
            .ok_or("frame ends inside the VLAN tag")?;
        vlans.push(VlanTag {
            tpid: ethertype,
            vid: be16(tag, 0) & 0x0fff,
        });
        ethertype = be16(tag, 2);
        at += 4;
    }
    Ok((eth_dst, eth_src, vlans, ethertype, &frame[at..]))
}

fn arp(b: &[u8]) -> Result<Arp, String> {
    let b = b.get(..28).ok_or("frame ends inside the ARP message")?;
    if be16(b, 0) != 1 || be16(b, 2) != ETHERTYPE_IPV4 || b[4] != 6 || b[5] != 4 {
        return Err("ARP is not for IPv4 over Ethernet".into());
    }
    let mac = |at: usize| -> [u8; 6] { b[at..at + 6].try_into().expect("6 bytes") };
    let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
    Ok(Arp {
        op: be16(b, 6),
        sender_mac: mac(8),
        sender_ip: ip(14),
        target_mac: mac(18),
        target_ip: ip(24),
    })
}

/// Reads an IPv4 packet and its transport header.
pub(super) fn ipv4(b: &[u8]) -> Result<Ipv4, String> {
    let (mut ip, data) = ipv4_header(b, false)?;
    ip.l4 = if ip.fragment_offset != 0 {
        L4::Fragment(data.to_vec())
    } else {
        let (src, dst) = (ip.src, ip.dst);
        transport(
            ip.proto,
            data,
            ip.more_fragments,
            &|proto, seg| match proto {
                IPPROTO_ICMP => checksum(seg),
                _ => l4_checksum(src, dst, proto, seg),
            },
        )?
    };
    Ok(ip)
}

/// Reads an IPv4 header; returns it (with an empty [`L4::Other`]) and the
/// bytes after it: up to the total length, or, when `quoted`, whatever
/// there is.
pub(super) fn ipv4_header(b: &[u8], quoted: bool) -> Result<(Ipv4, &[u8]), String> {
    let base = b.get(..20).ok_or("frame ends inside the IPv4 header")?;
    if base[0] >> 4 != 4 {
        return Err(format!("IP version {} is not 4", base[0] >> 4));
    }
    let ihl = base[0] & 0x0f;
    if ihl < 5 {
        return Err(format!("IHL {ihl} is below 5"));
    }
    let header_len = usize::from(ihl) * 4;
    let total_len = be16(base, 2);
    if usize::from(total_len) < header_len {
        return Err(format!(
            "total length {total_len} is below the header length {header_len}"
        ));
    }
    let end = if quoted {
        b.len().min(usize::from(total_len))
    } else {
        usize::from(total_len)
    };
    let ip = b.get(..end.max(header_len)).ok_or_else(|| {
        format!(
            "total length {total_len} exceeds the {} bytes after the link header",
            b.len()
        )
    })?;
    let header = &ip[..header_len];
    let frag = be16(header, 6);
    Ok((
        Ipv4 {
            ihl,
            total_len,
            id: be16(header, 4),
            dont_fragment: frag & IPV4_DONT_FRAGMENT != 0,
            more_fragments: frag & IPV4_MORE_FRAGMENTS != 0,
            fragment_offset: frag & 0x1fff,
            ttl: header[8],
            proto: header[9],
            src: Ipv4Addr::new(header[12], header[13], header[14], header[15]),
            dst: Ipv4Addr::new(header[16], header[17], header[18], header[19]),
            options: header[20..].to_vec(),
            checksum_valid: checksum(header) == 0,
            l4: L4::Other(header[9], Vec::new()),
        },
        &ip[header_len..],
    ))
}

fn ipv6(b: &[u8]) -> Result<Ipv6, String> {
    let h = b.get(..40).ok_or("frame ends inside the IPv6 header")?;
    if h[0] >> 4 != 6 {
        return Err(format!("IP version {} is not 6", h[0] >> 4));
    }
    let payload_len = be16(h, 4);
    let payload = b
        .get(40..40 + usize::from(payload_len))
        .ok_or_else(|| format!("payload length {payload_len} exceeds the frame"))?;
    let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&h[at..at + 16]).expect("16"));
    let (src, dst) = (addr(8), addr(24));
    let mut next = h[6];
    let mut at = 0;
    let mut ext = Vec::new();
    let mut fragment = None;
    while matches!(
        next,
        NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_FRAGMENT | NEXT_DEST_OPTIONS
    ) {
        let fixed = payload
            .get(at..at + 8)
            .ok_or("packet ends inside an extension header")?;
        let len = if next == NEXT_FRAGMENT {
            let f = be16(fixed, 2);
            fragment = Some((
                f >> 3,
                f & 1 != 0,
                u32::from_be_bytes(fixed[4..8].try_into().expect("4")),
            ));
            8
        } else {
            (usize::from(fixed[1]) + 1) * 8
        };
        let bytes = payload
            .get(at..at + len)
            .ok_or("packet ends inside an extension header")?;
        ext.push((next, bytes.to_vec()));
        next = bytes[0];
        at += len;
    }
    let data = &payload[at..];
    let l4 = if fragment.is_some_and(|(offset, _, _)| offset != 0) {
        L4::Fragment(data.to_vec())
    } else {
        let first_of_several = fragment.is_some_and(|(_, more, _)| more);
        transport(next, data, first_of_several, &|proto, seg| {
            l4_checksum_v6(src, dst, proto, seg)
        })?
    };
    Ok(Ipv6 {
        payload_len,
        hop_limit: h[7],
        src,
        dst,
        ext,
        fragment,
        l4,
    })
}

/// Reads a transport header; `check(proto, segment)` is the checksum over
/// the segment (0 when it is right). `first_fragment`: the segment goes on
/// in later fragments (a UDP length beyond it is expected; the checksum,
/// over the whole segment, cannot be right).
fn transport(
    proto: u8,
    seg: &[u8],
    first_fragment: bool,
    check: &dyn Fn(u8, &[u8]) -> u16,
) -> Result<L4, String> {
    Ok(match proto {
        IPPROTO_TCP => {
            let h = seg.get(..20).ok_or("packet ends inside the TCP header")?;
            let data_offset = usize::from(h[12] >> 4) * 4;
            if data_offset < 20 || data_offset > seg.len() {
                return Err(format!(
                    "TCP data offset {data_offset} is outside 20..={}",
                    seg.len()
                ));
            }
            L4::Tcp(Tcp {
                src_port: be16(h, 0),
                dst_port: be16(h, 2),
                seq: be32(h, 4),
                ack: be32(h, 8),
                flags: h[13],
                window: be16(h, 14),
                checksum: be16(h, 16),
                checksum_valid: check(proto, seg) == 0,
                options: seg[20..data_offset].to_vec(),
                payload: seg[data_offset..].to_vec(),
            })
        }
        IPPROTO_UDP => {
            let h = seg.get(..8).ok_or("packet ends inside the UDP header")?;
            let mut udp_len = usize::from(be16(h, 4));
            if first_fragment {
                udp_len = udp_len.min(seg.len());
            }
            if udp_len < 8 || udp_len > seg.len() {
                return Err(format!("UDP length {udp_len} is outside 8..={}", seg.len()));
            }
            let datagram = &seg[..udp_len];
            let stored = be16(h, 6);
            L4::Udp(Udp {
                src_port: be16(h, 0),
                dst_port: be16(h, 2),
                checksum: stored,
                checksum_valid: stored == 0 || check(proto, datagram) == 0,
                payload: datagram[8..].to_vec(),
            })
        }
        IPPROTO_ICMP | NEXT_ICMPV6 => {
            let h = seg.get(..8).ok_or("packet ends inside the ICMP header")?;
            L4::Icmp(Icmp {
                ty: h[0],
                code: h[1],
                checksum_valid: check(proto, seg) == 0,
                rest: h[4..8].try_into().expect("4 bytes"),
                body: seg[8..].to_vec(),
            })
        }
        other => L4::Other(other, seg.to_vec()),
    })
}

/// The big-endian 16-bit word at `at`.
pub(super) fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// The big-endian 32-bit word at `at`.
fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}
