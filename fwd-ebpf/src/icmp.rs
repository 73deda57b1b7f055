//! ICMP errors about relayed flows (RFC 5508). A destination unreachable
//! (fragmentation needed among them), time exceeded or parameter problem
//! quotes the packet it is about. From the backend's side it quotes a
//! translated packet (SNAT address:port -> backend) and is addressed to the
//! SNAT address; from the client's side it quotes a reply (VIP -> client)
//! and is addressed to the VIP. Either way a reply to the quoted packet
//! would match one half of the flow, and that half holds the translation
//! towards the other side: the error is sent on from the flow's translated
//! source to its translated destination, quoting the packet the other side
//! sent or received (`rewrite::icmp_error`).
//!
//! The quoted packet is TCP, UDP or an ICMP echo (RFC 5508 REQ-3 and REQ-4:
//! errors about query sessions are translated too). A quoted echo is keyed
//! like a relayed one (`parse::echo_ports`), its identifier standing for a
//! port: an error about a translated echo request quotes (SNAT address,
//! SNAT id) -> backend, and a reply to it, (backend, 0, SNAT address, SNAT
//! id), is the session's reply half; one about an echo reply the relay sent
//! quotes VIP -> (client, client's id), and a reply to it is the forward
//! half.
//!
//! An error is read, never counted in its flow: it neither refreshes nor
//! ends it (RFC 4787 REQ-12, RFC 7857 section 7.1). Its ICMP checksum and
//! the quoted IPv4 header's are verified before anything is written (RFC
//! 5508 REQ-3). An error about no relayed flow goes to the kernel (the
//! host's own traffic) unless it quotes a SNAT port, whose flow is gone:
//! then it is dropped. An echo identifier is no port (the host's own pings
//! may use any), so an error about an echo with no session always goes to
//! the kernel, as does one quoting any other ICMP message.

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use fwd_common::{csum::fold, Flow4Key, Reason, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use network_types::ip::Ipv4Hdr;

use crate::{
    access::{load, ptr_at},
    csum::sum_loaded,
    maps::{CT4, RELAY_CONFIG},
    nat::Nat,
    parse::{self, Ipv4, ICMP_ECHO_ID_OFFSET, ICMP_ECHO_REQUEST},
    redirect, rewrite,
    route::{self, Blocked, Leaving},
};

/// Length of the ICMP header (type, code, checksum, 4 more bytes).
pub const ICMP_LEN: usize = 8;
/// Longest ICMP message verified (and so translated), in bytes: an error
/// is at most 576 bytes long with its IPv4 header (RFC 1812 4.3.2.3, RFC
/// 4884 section 5), and every verified byte costs the verifier a walk of
/// the rest of the program.
const MAX_MESSAGE: usize = 576;
/// The checksum is summed 64 bytes at a time.
const MAX_CHUNKS: usize = MAX_MESSAGE.div_ceil(64);
/// Bytes of the quoted transport header an error must hold: the ports, and
/// for UDP its checksum; the whole header of an ICMP echo (RFC 792 quotes
/// 8 bytes).
const QUOTED_L4: usize = 8;
/// Offset of the checksum in the ICMP header.
pub const ICMP_CHECK_OFFSET: usize = 2;
/// Offset of the TCP checksum in the TCP header.
const TCP_CHECK_OFFSET: usize = 16;
/// Offset of the UDP checksum in the UDP header.
const UDP_CHECK_OFFSET: usize = 6;

/// ICMP types that are errors about a packet.
const DEST_UNREACHABLE: u8 = 3;
const TIME_EXCEEDED: u8 = 11;
const PARAMETER_PROBLEM: u8 = 12;

/// The packet an ICMP error quotes.
pub struct Quoted {
    /// Offset of its IPv4 header in the frame.
    pub l3_off: usize,
    /// Its tuple as quoted (network order; an echo's identifier in place
    /// of a port, see `parse::echo_ports`).
    pub key: Flow4Key,
    /// Where its ports are and how its checksum follows them.
    pub l4: QuotedL4,
}

/// The quoted transport header, as the translation writes it.
pub enum QuotedL4 {
    /// TCP or UDP.
    Ports {
        /// Offset in the frame of its ports (source, then destination).
        off: usize,
        /// Offset in the frame of its checksum, when the error holds it
        /// (UDP's always, in the first 8 bytes; TCP's only when 18 or more
        /// are quoted). It covers the ports and, through the
        /// pseudo-header, the addresses.
        check_off: Option<usize>,
        /// UDP: a zero checksum means none and stays zero.
        udp: bool,
    },
    /// An ICMP echo request or reply.
    Echo {
        /// Offset in the frame of its identifier: the key's source port
        /// for a request, its destination port for a reply.
        id_off: usize,
        /// Offset in the frame of its checksum, always quoted (the first 8
        /// bytes are the whole echo header). It covers the identifier, and
        /// no pseudo-header.
        check_off: usize,
        /// An echo request (else a reply).
        request: bool,
    },
}

/// Whether the ICMP packet `ip` is an error (about another packet).
#[inline(always)]
pub fn is_error(ctx: &XdpContext, ip: &Ipv4) -> Result<bool, Reason> {
    let header: *const [u8; ICMP_LEN] = ptr_at(ctx, ip.l4_off)?;
    // SAFETY: checked by ptr_at.
    let kind = unsafe { (*header)[0] };
    Ok(matches!(
        kind,
        DEST_UNREACHABLE | TIME_EXCEEDED | PARAMETER_PROBLEM
    ))
}

/// Relays the ICMP error `ip` if it is about a relayed flow, or says why
/// not.
#[inline(always)]
pub fn relay_error(ctx: &XdpContext, ip: &Ipv4) -> Result<Reason, Reason> {
    let message_len = ip.ip_len as usize - (ip.l4_off - ip.l3_off);
    if message_len > MAX_MESSAGE {
        return Err(Reason::DropIcmpTooLong);
    }
    if fold(sum_loaded::<MAX_CHUNKS>(ctx, ip.l4_off, message_len)?) != 0xffff {
        return Err(Reason::DropIcmpBadChecksum);
    }
    let quoted = quoted(ctx, ip, message_len)?;
    // The half that a reply to the quoted packet would match.
    let q = &quoted.key;
    let back = Flow4Key::from_raw(q.dst_addr, q.dst_port, q.src_addr, q.src_port, q.proto);
    // SAFETY: read only; an entry deleted concurrently is at worst read as
    // another flow's, which the address check below mostly refuses.
    let Some(flow) = (unsafe { CT4.get(back) }) else {
        return Err(no_flow(q));
    };
    // The error goes back to whoever sent the quoted packet.
    if ip.dst_addr != q.src_addr {
        return Err(Reason::DropIcmpNoFlow);
    }
    if ip.ttl <= 1 {
        return Err(Reason::PassTtlExpired);
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    // An error about an error is never sent: one too big is dropped.
    let egress = match route::cached(ctx, flow, now, ip.ip_len) {
        Some(cached) => cached,
        None => {
            let towards = Nat {
                src_addr: flow.nat_src_addr,
                dst_addr: flow.nat_dst_addr,
                src_port: 0,
                dst_port: 0,
            };
            route::route(ctx, &Leaving::ipv4(ip), &towards)
        }
    }
    .map_err(Blocked::reason)?;
    rewrite::icmp_error(ctx, ip, &quoted, flow, &egress)?;
    Ok(redirect::send_as(
        &egress,
        Reason::ForwardedIcmpErrorTx,
        Reason::ForwardedIcmpErrorRedirect,
    ))
}

/// Reads the quoted packet of an error whose message is `message_len`
/// bytes long.
#[inline(always)]
fn quoted(ctx: &XdpContext, ip: &Ipv4, message_len: usize) -> Result<Quoted, Reason> {
    let l3_off = ip.l4_off + ICMP_LEN;
    let end = ip.l4_off + message_len;
    if l3_off + Ipv4Hdr::LEN > end {
        return Err(Reason::DropIcmpTruncated);
    }
    let qip: [u8; Ipv4Hdr::LEN] = load(ctx, l3_off).map_err(|_| Reason::DropIcmpTruncated)?;
    let ihl = ((qip[0] & 0x0f) as usize) * 4;
    if qip[0] >> 4 != 4 || ihl < Ipv4Hdr::LEN {
        return Err(Reason::DropIcmpTruncated);
    }
    // The quoted header must be whole and intact (RFC 5508 REQ-3); its
    // transport checksum is not checked, it covers bytes not quoted.
    if l3_off + ihl > end {
        return Err(Reason::DropIcmpTruncated);
    }
    if fold(sum_loaded::<1>(ctx, l3_off, ihl)?) != 0xffff {
        return Err(Reason::DropIcmpQuoteBadChecksum);
    }
    let proto = qip[9];
    // Only TCP, UDP and ICMP echo are relayed, and only a first fragment
    // has ports.
    if !matches!(proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_ICMP)
        || u16::from_be_bytes([qip[6], qip[7]]) & 0x1fff != 0
    {
        return Err(Reason::PassIcmpNoFlow);
    }
    let l4_off = l3_off + ihl;
    if l4_off + QUOTED_L4 > end {
        return Err(Reason::DropIcmpTruncated);
    }
    let l4: [u8; QUOTED_L4] = load(ctx, l4_off).map_err(|_| Reason::DropIcmpTruncated)?;
    let (src_port, dst_port, quoted_l4) = if proto == IPPROTO_ICMP {
        let id = [l4[ICMP_ECHO_ID_OFFSET], l4[ICMP_ECHO_ID_OFFSET + 1]];
        let (src, dst) = parse::echo_ports(l4[0], id).ok_or(Reason::PassIcmpNoFlow)?;
        let echo = QuotedL4::Echo {
            id_off: l4_off + ICMP_ECHO_ID_OFFSET,
            check_off: l4_off + ICMP_CHECK_OFFSET,
            request: l4[0] == ICMP_ECHO_REQUEST,
        };
        (src, dst, echo)
    } else {
        let udp = proto == IPPROTO_UDP;
        let check_off = if udp {
            Some(l4_off + UDP_CHECK_OFFSET)
        } else {
            Some(l4_off + TCP_CHECK_OFFSET).filter(|at| at + 2 <= end)
        };
        let ports = QuotedL4::Ports {
            off: l4_off,
            check_off,
            udp,
        };
        ([l4[0], l4[1]], [l4[2], l4[3]], ports)
    };
    Ok(Quoted {
        l3_off,
        key: Flow4Key::from_raw(
            u32::from_ne_bytes([qip[12], qip[13], qip[14], qip[15]]),
            u16::from_ne_bytes(src_port),
            u32::from_ne_bytes([qip[16], qip[17], qip[18], qip[19]]),
            u16::from_ne_bytes(dst_port),
            proto,
        ),
        l4: quoted_l4,
    })
}

/// The outcome of an error about no relayed flow: quoting a SNAT port as
/// its source, it was about a flow that is gone (or is forged); otherwise
/// it is about the host's own traffic, which never uses SNAT ports. An
/// echo's is the kernel's either way (see the module doc).
#[inline(always)]
fn no_flow(q: &Flow4Key) -> Reason {
    // An echo identifier is no port: the host's own pings may use any.
    if q.proto == IPPROTO_ICMP {
        return Reason::PassIcmpNoFlow;
    }
    let port = u16::from_be(q.src_port);
    match RELAY_CONFIG.get(0) {
        Some(c) if port >= c.snat_port_min && port <= c.snat_port_max => Reason::DropIcmpNoFlow,
        _ => Reason::PassIcmpNoFlow,
    }
}
