//! Answers from a VIP, built in place and sent back out of the interface
//! the packet came in on: an echo reply to a ping of a VIP no service
//! relays ICMP to ([`echo_reply`]), and the refusal of a new flow whose
//! service has no usable backend ([`reject`]), which turns the packet into
//! the answer the client's stack understands:
//! - a TCP SYN becomes a RST|ACK acknowledging it (RFC 9293 section 3.10.7.1);
//! - a UDP datagram becomes an ICMP destination unreachable, port unreachable
//!   (RFC 792), quoting its IPv4 header and first 8 bytes (RFC 1812 4.3.2.3
//!   allows more; 8 is what every host accepts).
//!
//! The Ethernet addresses are swapped (the reply goes to the previous hop),
//! a VLAN tag is kept, and the checksums are computed from scratch.

use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail},
    programs::XdpContext,
    EbpfContext as _,
};
use fwd_common::{
    csum::{fold, CsumDiff},
    flow::tcp_flags,
    Reason, IPPROTO_TCP,
};
use network_types::{eth::EthHdr, ip::Ipv4Hdr, tcp::TcpHdr};

use super::TTL_WORD_OFFSET;
use crate::{
    access::{frame_len, ptr_at, ptr_at_mut},
    csum::sum_bytes,
    parse::{Packet, ICMP_ECHO_REPLY},
};

/// TTL of the answers.
const REPLY_TTL: u8 = 64;
/// ICMP header length.
const ICMP_LEN: usize = 8;
/// Bytes of the offending datagram quoted after its IPv4 header.
const ICMP_QUOTE: usize = 8;
/// Longest IPv4 header (IHL 15).
const MAX_IHL: usize = 60;
/// Most 16-bit words summed for a checksum of an answer.
const MAX_WORDS: usize = (MAX_IHL + ICMP_LEN + ICMP_QUOTE) / 2;

/// Turns an echo request into its echo reply from the VIP: Ethernet and IP
/// addresses swapped, a fresh TTL, type 8 -> 0, both checksums updated
/// (swapping the addresses leaves the IPv4 sum as it is). Identifier,
/// sequence number and data are echoed unchanged (RFC 792).
#[inline(always)]
pub fn echo_reply(ctx: &XdpContext, pkt: &Packet) -> Result<(), Reason> {
    swap_macs(ctx)?;
    let ip: *mut Ipv4Hdr = ptr_at_mut(ctx, pkt.l3_off)?;
    let ttl_word: *mut [u8; 2] = ptr_at_mut(ctx, pkt.l3_off + TTL_WORD_OFFSET)?;
    let echo: *mut [u8; 4] = ptr_at_mut(ctx, pkt.l4_off)?;
    // SAFETY: all checked by ptr_at_mut; `ttl_word` and `ip` overlap only
    // at the TTL byte, written through `ip` after the word is read.
    unsafe {
        let old = u16::from_ne_bytes(*ttl_word);
        (*ip).ttl = REPLY_TTL;
        let ip_diff = CsumDiff::new().u16(old, u16::from_ne_bytes(*ttl_word));
        core::mem::swap(&mut (*ip).src_addr, &mut (*ip).dst_addr);
        (*ip).check = ip_diff.apply(u16::from_ne_bytes((*ip).check)).to_ne_bytes();
        let old = u16::from_ne_bytes([(*echo)[0], (*echo)[1]]);
        (*echo)[0] = ICMP_ECHO_REPLY;
        let new = u16::from_ne_bytes([(*echo)[0], (*echo)[1]]);
        let check = u16::from_ne_bytes([(*echo)[2], (*echo)[3]]);
        let check = CsumDiff::new().u16(old, new).apply(check).to_ne_bytes();
        (*echo)[2] = check[0];
        (*echo)[3] = check[1];
    }
    Ok(())
}

/// An ICMP error the relay sends itself about the packet in hand.
pub struct IcmpReply {
    /// ICMP type.
    pub kind: u8,
    /// ICMP code.
    pub code: u8,
    /// The 4 bytes after the checksum (the next-hop MTU of a fragmentation
    /// needed, network order, in the last two).
    pub rest: [u8; 4],
    /// Source address (network order): the VIP for a reject, the ingress
    /// interface's address when the relay answers as a router.
    pub src: u32,
}

/// Rewrites the packet into the reject; on failure the caller drops it.
#[inline(always)]
pub fn reject(ctx: &XdpContext, pkt: &Packet) -> Result<(), Reason> {
    if pkt.key.proto == IPPROTO_TCP {
        tcp_reset(ctx, pkt)
    } else {
        // Destination unreachable, port unreachable, from the VIP.
        let reply = IcmpReply {
            kind: 3,
            code: 3,
            rest: [0; 4],
            src: pkt.key.dst_addr,
        };
        icmp_reply(ctx, pkt, &reply)
    }
    .map_err(|_| Reason::DropNoBackend)
}

/// Swaps the Ethernet addresses of the frame.
#[inline(always)]
fn swap_macs(ctx: &XdpContext) -> Result<(), Reason> {
    let eth: *mut EthHdr = ptr_at_mut(ctx, 0)?;
    // SAFETY: checked by ptr_at_mut.
    unsafe { core::mem::swap(&mut (*eth).src_addr, &mut (*eth).dst_addr) };
    Ok(())
}

/// Writes the IPv4 header fields of a reply of `total_len` bytes from `src`
/// to `dst` and its checksum (over `ihl` bytes, options kept).
#[inline(always)]
fn reply_ipv4(
    ctx: &XdpContext,
    l3_off: usize,
    ihl: usize,
    total_len: u16,
    proto: u8,
    src: u32,
    dst: u32,
) -> Result<(), Reason> {
    let ip: *mut Ipv4Hdr = ptr_at_mut(ctx, l3_off)?;
    // SAFETY: checked by ptr_at_mut.
    unsafe {
        (*ip).tot_len = total_len.to_be_bytes();
        (*ip).id = [0, 0];
        (*ip).frags = [0, 0];
        (*ip).ttl = REPLY_TTL;
        (*ip).proto = proto;
        (*ip).src_addr = src.to_ne_bytes();
        (*ip).dst_addr = dst.to_ne_bytes();
        (*ip).check = [0, 0];
    }
    let check = !fold(sum_bytes::<MAX_WORDS>(ctx, l3_off, ihl)?);
    // SAFETY: checked by ptr_at_mut.
    unsafe { (*ip).check = check.to_ne_bytes() };
    Ok(())
}

/// SYN -> RST|ACK, seq 0, ack = SYN's seq + 1 + its payload length.
#[inline(always)]
fn tcp_reset(ctx: &XdpContext, pkt: &Packet) -> Result<(), Reason> {
    let ihl = pkt.l4_off - pkt.l3_off;
    let (seq, data_offset) = {
        let tcp: *const TcpHdr = ptr_at(ctx, pkt.l4_off)?;
        // SAFETY: checked by ptr_at; byte 12 is inside the 20-byte header.
        unsafe {
            (
                u32::from_be_bytes((*tcp).seq),
                (*tcp.cast::<u8>().add(12) >> 4) as usize * 4,
            )
        }
    };
    let payload = (pkt.ip_len as usize).saturating_sub(ihl + data_offset) as u32;
    let ack = seq.wrapping_add(1).wrapping_add(payload);

    // Cut everything after a bare 20-byte TCP header.
    let new_len = pkt.l4_off + TcpHdr::LEN;
    let delta = new_len as i64 - frame_len(ctx) as i64;
    // SAFETY: the context pointer of this run; delta only shrinks the frame.
    if delta != 0 && unsafe { bpf_xdp_adjust_tail(ctx.as_ptr().cast(), delta as i32) } != 0 {
        return Err(Reason::DropNoBackend);
    }
    swap_macs(ctx)?;
    let (k, tcp_len) = (&pkt.key, TcpHdr::LEN as u16);
    reply_ipv4(
        ctx,
        pkt.l3_off,
        ihl,
        ihl as u16 + tcp_len,
        IPPROTO_TCP,
        k.dst_addr,
        k.src_addr,
    )?;

    let tcp: *mut TcpHdr = ptr_at_mut(ctx, pkt.l4_off)?;
    let hdr: *mut [u8; 20] = tcp.cast();
    // SAFETY: checked by ptr_at_mut (20 bytes).
    unsafe {
        *hdr = [0; 20];
        (*tcp).source = k.dst_port.to_ne_bytes();
        (*tcp).dest = k.src_port.to_ne_bytes();
        (*tcp).ack_seq = ack.to_be_bytes();
        (*hdr)[12] = 5 << 4;
        (*hdr)[13] = tcp_flags::RST | tcp_flags::ACK;
    }
    let pseudo = (k.src_addr & 0xffff) as u64
        + (k.src_addr >> 16) as u64
        + (k.dst_addr & 0xffff) as u64
        + (k.dst_addr >> 16) as u64
        + u16::from_ne_bytes([0, IPPROTO_TCP]) as u64
        + tcp_len.to_be() as u64;
    let check = !fold(pseudo + sum_bytes::<MAX_WORDS>(ctx, pkt.l4_off, TcpHdr::LEN)?);
    // SAFETY: checked by ptr_at_mut.
    unsafe { (*tcp).check = check.to_ne_bytes() };
    Ok(())
}

/// The packet -> the ICMP error `reply` quoting its IPv4 header and first
/// 8 bytes, to its source: the frame grows by a new IPv4 header and the
/// ICMP header in front of the old IPv4 header, and is cut after the quote.
#[inline(always)]
pub fn icmp_reply(ctx: &XdpContext, pkt: &Packet, reply: &IcmpReply) -> Result<(), Reason> {
    const GROW: usize = Ipv4Hdr::LEN + ICMP_LEN;
    let l3 = pkt.l3_off;
    let ihl = pkt.l4_off - pkt.l3_off;
    let old_len = frame_len(ctx) as usize;
    // SAFETY: the context pointer of this run.
    if unsafe { bpf_xdp_adjust_head(ctx.as_ptr().cast(), -(GROW as i32)) } != 0 {
        return Err(Reason::DropAnswerFailed);
    }
    // Move the Ethernet header (and VLAN tag) to the new front, swapping
    // the addresses on the way.
    let old_eth: *const EthHdr = ptr_at(ctx, GROW)?;
    let eth: *mut EthHdr = ptr_at_mut(ctx, 0)?;
    // SAFETY: both checked; they do not overlap (GROW > EthHdr::LEN).
    unsafe {
        (*eth).dst_addr = (*old_eth).src_addr;
        (*eth).src_addr = (*old_eth).dst_addr;
        (*eth).ether_type = (*old_eth).ether_type;
    }
    if l3 > EthHdr::LEN {
        let old_tag: *const [u8; 4] = ptr_at(ctx, GROW + EthHdr::LEN)?;
        let tag: *mut [u8; 4] = ptr_at_mut(ctx, EthHdr::LEN)?;
        // SAFETY: both checked, not overlapping.
        unsafe { *tag = *old_tag };
    }
    let new_len = l3 + GROW + ihl + ICMP_QUOTE;
    let delta = new_len as i64 - (old_len + GROW) as i64;
    // SAFETY: the context pointer of this run; delta only shrinks the frame
    // (parse checked that the packet holds its TCP, UDP or ICMP header: 8 bytes or more).
    if delta != 0 && unsafe { bpf_xdp_adjust_tail(ctx.as_ptr().cast(), delta as i32) } != 0 {
        return Err(Reason::DropAnswerFailed);
    }
    let k = &pkt.key;
    let ip: *mut [u8; 2] = ptr_at_mut(ctx, l3)?;
    // SAFETY: checked by ptr_at_mut: version 4, IHL 5, TOS 0.
    unsafe { *ip = [0x45, 0] };
    let total = (Ipv4Hdr::LEN + ICMP_LEN + ihl + ICMP_QUOTE) as u16;
    reply_ipv4(ctx, l3, Ipv4Hdr::LEN, total, 1, reply.src, k.src_addr)?;
    let icmp: *mut [u8; ICMP_LEN] = ptr_at_mut(ctx, l3 + Ipv4Hdr::LEN)?;
    let r = reply.rest;
    // SAFETY: checked by ptr_at_mut. Type, code, checksum 0 for now, the 4
    // bytes after it.
    unsafe { *icmp = [reply.kind, reply.code, 0, 0, r[0], r[1], r[2], r[3]] };
    let check = !fold(sum_bytes::<MAX_WORDS>(
        ctx,
        l3 + Ipv4Hdr::LEN,
        ICMP_LEN + ihl + ICMP_QUOTE,
    )?);
    let icmp_check: *mut [u8; 2] = ptr_at_mut(ctx, l3 + Ipv4Hdr::LEN + 2)?;
    // SAFETY: checked by ptr_at_mut.
    unsafe { *icmp_check = check.to_ne_bytes() };
    Ok(())
}
