//! Stage 1: parse. Reads Ethernet (one optional 802.1Q/802.1ad tag) and
//! IPv4 (honouring IHL, options allowed) in [`ipv4`], then the TCP or UDP
//! ports, or the identifier of an ICMP echo, in [`transport`] (ICMP errors
//! go to `crate::icmp`, fragments after the first to `crate::frag`).
//! Never writes.
//!
//! An echo's identifier stands in for a port, on the side a reply to it
//! would carry it: an echo request is keyed (client, id, VIP, 0), an echo
//! reply (backend, 0, SNAT address, id), so the two halves of an echo
//! session pair up like those of a UDP flow, the identifier translated
//! like a source port (RFC 5508 REQ-1). [`echo_ports`] says it once, for
//! the echoes relayed here and for those quoted by errors (`crate::icmp`).

use aya_ebpf::programs::XdpContext;
use fwd_common::{Flow4Key, Reason, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use network_types::{
    eth::{EthHdr, EtherType},
    ip::Ipv4Hdr,
    tcp::TcpHdr,
    udp::UdpHdr,
};

use crate::access::ptr_at;

/// Length of one VLAN tag (TCI + inner EtherType).
const VLAN_LEN: usize = 4;
/// Offset of the flags byte in the TCP header.
const TCP_FLAGS_OFFSET: usize = 13;
/// Length of the ICMP echo header (type, code, checksum, id, sequence).
const ICMP_ECHO_LEN: usize = 8;
/// Offset of the identifier in the ICMP echo header.
pub const ICMP_ECHO_ID_OFFSET: usize = 4;
/// ICMP echo request.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP echo reply.
pub const ICMP_ECHO_REPLY: u8 = 0;

/// The IPv4 header of a frame, as read.
pub struct Ipv4 {
    /// Offset of the IPv4 header in the frame.
    pub l3_off: usize,
    /// Offset of what follows the header (options included).
    pub l4_off: usize,
    /// Source address (network order).
    pub src_addr: u32,
    /// Destination address (network order).
    pub dst_addr: u32,
    /// IP protocol.
    pub proto: u8,
    /// TTL.
    pub ttl: u8,
    /// TOS.
    pub tos: u8,
    /// Total length, host order; the frame holds all of it.
    pub ip_len: u16,
    /// Don't Fragment is set.
    pub dont_fragment: bool,
    /// More Fragments is set.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units (0: unfragmented or the first).
    pub fragment_offset: u16,
    /// IP identification (network order).
    pub id: u16,
}

/// What the later stages need to know about a packet.
pub struct Packet {
    /// Offset of the IPv4 header in the frame.
    pub l3_off: usize,
    /// Offset of the TCP/UDP header in the frame.
    pub l4_off: usize,
    /// The tuple as it arrived (network order).
    pub key: Flow4Key,
    /// IPv4 TTL.
    pub ttl: u8,
    /// IPv4 TOS (for the route lookup).
    pub tos: u8,
    /// TCP flags (0 for UDP and ICMP).
    pub tcp_flags: u8,
    /// ICMP type ([`ICMP_ECHO_REQUEST`] or [`ICMP_ECHO_REPLY`]; 0 for TCP
    /// and UDP).
    pub icmp_type: u8,
    /// IPv4 total length, host order.
    pub ip_len: u16,
    /// Don't Fragment is set.
    pub dont_fragment: bool,
}

/// Parses Ethernet and IPv4, or says why the program will not handle the
/// frame (not IPv4, a fragment, malformed or truncated).
#[inline(always)]
pub fn ipv4(ctx: &XdpContext) -> Result<Ipv4, Reason> {
    let eth: *const EthHdr = ptr_at(ctx, 0)?;
    // SAFETY: ptr_at checked that the header is inside the packet.
    let mut ether_type = unsafe { (*eth).ether_type };
    let mut l3_off = EthHdr::LEN;
    if ether_type == EtherType::Ieee8021q as u16 || ether_type == EtherType::Ieee8021ad as u16 {
        // The inner EtherType follows the 2-byte TCI.
        let inner: *const [u8; 2] = ptr_at(ctx, EthHdr::LEN + 2)?;
        // SAFETY: checked by ptr_at.
        ether_type = u16::from_ne_bytes(unsafe { *inner });
        l3_off += VLAN_LEN;
        if ether_type == EtherType::Ieee8021q as u16 || ether_type == EtherType::Ieee8021ad as u16 {
            return Err(Reason::PassStackedVlan);
        }
    }
    if ether_type != EtherType::Ipv4 as u16 {
        return Err(Reason::PassNotIpv4);
    }

    let ip: *const Ipv4Hdr = ptr_at(ctx, l3_off)?;
    // SAFETY: checked by ptr_at.
    let ip = unsafe { &*ip };
    if ip.vihl >> 4 != 4 {
        return Err(Reason::DropMalformedIpv4);
    }
    let ihl = ((ip.vihl & 0x0f) as usize) * 4;
    if ihl < Ipv4Hdr::LEN {
        return Err(Reason::DropMalformedIpv4);
    }
    let ip_len = u16::from_be_bytes(ip.tot_len);
    if (ip_len as usize) < ihl {
        return Err(Reason::DropMalformedIpv4);
    }
    if ctx.data() + l3_off + ip_len as usize > ctx.data_end() {
        return Err(Reason::DropTruncated);
    }
    let frags = u16::from_be_bytes(ip.frags);
    Ok(Ipv4 {
        l3_off,
        l4_off: l3_off + ihl,
        src_addr: u32::from_ne_bytes(ip.src_addr),
        dst_addr: u32::from_ne_bytes(ip.dst_addr),
        proto: ip.proto,
        ttl: ip.ttl,
        tos: ip.tos,
        ip_len,
        dont_fragment: frags & 0x4000 != 0,
        more_fragments: frags & 0x2000 != 0,
        fragment_offset: frags & 0x1fff,
        id: u16::from_ne_bytes(ip.id),
    })
}

/// Reads the TCP or UDP ports after `ip`, or says why the program will not
/// handle the packet (a fragment after the first has no transport header:
/// see `crate::frag`).
#[inline(always)]
pub fn transport(ctx: &XdpContext, ip: &Ipv4) -> Result<Packet, Reason> {
    if ip.fragment_offset != 0 {
        return Err(Reason::PassFragment);
    }
    let proto = ip.proto;
    let l4_off = ip.l4_off;
    let mut icmp_type = 0;
    let (src_port, dst_port, tcp_flags, l4_len) = match proto {
        IPPROTO_TCP => {
            let tcp: *const TcpHdr = ptr_at(ctx, l4_off)?;
            // SAFETY: ptr_at checked the whole 20-byte header, which holds
            // the flags byte.
            unsafe {
                (
                    (*tcp).source,
                    (*tcp).dest,
                    *tcp.cast::<u8>().add(TCP_FLAGS_OFFSET),
                    TcpHdr::LEN,
                )
            }
        }
        IPPROTO_UDP => {
            let udp: *const UdpHdr = ptr_at(ctx, l4_off)?;
            // SAFETY: checked by ptr_at.
            unsafe { ((*udp).src, (*udp).dst, 0, UdpHdr::LEN) }
        }
        IPPROTO_ICMP => {
            let echo: *const [u8; ICMP_ECHO_LEN] = ptr_at(ctx, l4_off)?;
            // SAFETY: checked by ptr_at.
            let echo = unsafe { *echo };
            icmp_type = echo[0];
            let id = [echo[ICMP_ECHO_ID_OFFSET], echo[ICMP_ECHO_ID_OFFSET + 1]];
            let (src, dst) = echo_ports(icmp_type, id).ok_or(Reason::PassNotTcpUdp)?;
            (src, dst, 0, ICMP_ECHO_LEN)
        }
        _ => return Err(Reason::PassNotTcpUdp),
    };
    if (ip.ip_len as usize) < (l4_off - ip.l3_off) + l4_len {
        return Err(Reason::DropTruncated);
    }
    Ok(Packet {
        l3_off: ip.l3_off,
        l4_off,
        key: Flow4Key::from_raw(
            ip.src_addr,
            u16::from_ne_bytes(src_port),
            ip.dst_addr,
            u16::from_ne_bytes(dst_port),
            proto,
        ),
        ttl: ip.ttl,
        tos: ip.tos,
        tcp_flags,
        icmp_type,
        ip_len: ip.ip_len,
        dont_fragment: ip.dont_fragment,
    })
}

/// The (source, destination) ports the identifier `id` of an ICMP message
/// of type `icmp_type` stands for (see the module doc): (id, 0) for an echo
/// request, (0, id) for an echo reply; `None` for any other type.
#[inline(always)]
pub fn echo_ports(icmp_type: u8, id: [u8; 2]) -> Option<([u8; 2], [u8; 2])> {
    match icmp_type {
        ICMP_ECHO_REQUEST => Some((id, [0, 0])),
        ICMP_ECHO_REPLY => Some(([0, 0], id)),
        _ => None,
    }
}
