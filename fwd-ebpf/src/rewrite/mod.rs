//! Stage 5: rewrite, the only code that writes the packet. Translates
//! addresses and ports, updates the IPv4 and TCP/UDP checksums incrementally
//! (RFC 1624; a zero UDP checksum stays zero), and, when the program sends
//! the packet itself, decrements the TTL and sets the Ethernet addresses.
//! ICMP errors about relayed flows are translated by `icmp_error`; answers
//! from the VIP (rejects, echo replies) are built in place by `reject`;
//! the MSS option of a SYN or SYN-ACK is clamped by `mss`.
//! The payload is never touched.

use fwd_common::{csum::CsumDiff, Reason, IPPROTO_ICMP, IPPROTO_TCP};
use network_types::{eth::EthHdr, ip::Ipv4Hdr, tcp::TcpHdr, udp::UdpHdr};

use aya_ebpf::programs::XdpContext;

use crate::{
    access::ptr_at_mut,
    nat::Nat,
    parse::{Ipv4, Packet, ICMP_ECHO_REQUEST},
    route::Egress,
};

mod icmp_error;
mod mss;
mod reject;

pub use icmp_error::icmp_error;
pub use mss::clamp_mss;
pub use reject::{echo_reply, icmp_reply, reject, IcmpReply};

/// Offset of the (TTL, protocol) 16-bit word in the IPv4 header.
const TTL_WORD_OFFSET: usize = 8;

/// When the program sends the packet itself (not the kernel), writes the
/// egress's Ethernet addresses and returns true: the caller then
/// decrements the TTL, as the kernel does when it forwards.
#[inline(always)]
fn forward_macs(ctx: &XdpContext, egress: &Egress) -> Result<bool, Reason> {
    match egress {
        Egress::Tx { smac, dmac, .. } | Egress::Redirect { smac, dmac, .. } => {
            let eth: *mut EthHdr = ptr_at_mut(ctx, 0)?;
            // SAFETY: checked by ptr_at_mut.
            unsafe {
                (*eth).src_addr = *smac;
                (*eth).dst_addr = *dmac;
            }
            Ok(true)
        }
        // The kernel forwards it and decrements the TTL itself.
        Egress::Kernel(_) => Ok(false),
    }
}

/// An IPv4 source and destination (network order).
pub struct Addrs {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
}

/// Writes the addresses `new` (were `old`) into the IPv4 header at
/// `l3_off`, and when the program sends the packet itself the decremented
/// `ttl`, updating the header checksum. Returns the change of the
/// addresses alone, which transport checksums cover too.
#[inline(always)]
fn readdress(
    ctx: &XdpContext,
    l3_off: usize,
    ttl: u8,
    old: &Addrs,
    new: &Addrs,
    forwarded_here: bool,
) -> Result<CsumDiff, Reason> {
    let addrs = CsumDiff::new().u32(old.src, new.src).u32(old.dst, new.dst);
    let ip: *mut Ipv4Hdr = ptr_at_mut(ctx, l3_off)?;
    let ttl_word: *mut [u8; 2] = ptr_at_mut(ctx, l3_off + TTL_WORD_OFFSET)?;
    // SAFETY: both checked by ptr_at_mut; they overlap only at the TTL byte,
    // which is written through `ip` after the word is read.
    unsafe {
        let mut ip_diff = addrs;
        if forwarded_here {
            let old = u16::from_ne_bytes(*ttl_word);
            (*ip).ttl = ttl - 1;
            ip_diff = ip_diff.u16(old, u16::from_ne_bytes(*ttl_word));
        }
        (*ip).src_addr = new.src.to_ne_bytes();
        (*ip).dst_addr = new.dst.to_ne_bytes();
        (*ip).check = ip_diff.apply(u16::from_ne_bytes((*ip).check)).to_ne_bytes();
    }
    Ok(addrs)
}

/// Writes the new addresses of a fragment after the first (it carries no
/// transport header: only the IPv4 header changes), for leaving by
/// `egress`.
#[inline(always)]
pub fn fragment(ctx: &XdpContext, ip: &Ipv4, new: &Addrs, egress: &Egress) -> Result<(), Reason> {
    let forwarded_here = forward_macs(ctx, egress)?;
    let old = Addrs {
        src: ip.src_addr,
        dst: ip.dst_addr,
    };
    readdress(ctx, ip.l3_off, ip.ttl, &old, new, forwarded_here).map(drop)
}

/// Writes the translation `nat` into the packet, for leaving by `egress`.
#[inline(always)]
pub fn rewrite(ctx: &XdpContext, pkt: &Packet, nat: &Nat, egress: &Egress) -> Result<(), Reason> {
    let forwarded_here = forward_macs(ctx, egress)?;

    let key = &pkt.key;
    let old = Addrs {
        src: key.src_addr,
        dst: key.dst_addr,
    };
    let new = Addrs {
        src: nat.src_addr,
        dst: nat.dst_addr,
    };
    let addrs = readdress(ctx, pkt.l3_off, pkt.ttl, &old, &new, forwarded_here)?;
    let ports = CsumDiff::new()
        .u16(key.src_port, nat.src_port)
        .u16(key.dst_port, nat.dst_port);

    let l4 = addrs.merge(ports);
    match key.proto {
        IPPROTO_TCP => {
            let tcp: *mut TcpHdr = ptr_at_mut(ctx, pkt.l4_off)?;
            // SAFETY: checked by ptr_at_mut.
            unsafe {
                (*tcp).source = nat.src_port.to_ne_bytes();
                (*tcp).dest = nat.dst_port.to_ne_bytes();
                (*tcp).check = l4.apply(u16::from_ne_bytes((*tcp).check)).to_ne_bytes();
            }
        }
        IPPROTO_ICMP => {
            // The identifier stands where a reply would carry it (see
            // `parse`): a request's as the source port, a reply's as the
            // destination port. ICMP has no pseudo-header.
            let (old, new) = if pkt.icmp_type == ICMP_ECHO_REQUEST {
                (key.src_port, nat.src_port)
            } else {
                (key.dst_port, nat.dst_port)
            };
            let echo: *mut [u16; 4] = ptr_at_mut(ctx, pkt.l4_off)?;
            // SAFETY: checked by ptr_at_mut: type and code, checksum,
            // identifier, sequence number.
            unsafe {
                (*echo)[2] = new;
                (*echo)[1] = CsumDiff::new().u16(old, new).apply((*echo)[1]);
            }
        }
        _ => {
            let udp: *mut UdpHdr = ptr_at_mut(ctx, pkt.l4_off)?;
            // SAFETY: checked by ptr_at_mut.
            unsafe {
                (*udp).src = nat.src_port.to_ne_bytes();
                (*udp).dst = nat.dst_port.to_ne_bytes();
                (*udp).check = l4.apply_udp(u16::from_ne_bytes((*udp).check)).to_ne_bytes();
            }
        }
    }
    Ok(())
}
