//! The relay as a hop on the path: what a router answers, sent from the
//! address of the interface the packet came in on (the loader writes it in
//! `IFACE_ADDRS`), within a budget like the kernel's ICMP rate limit:
//! - a packet to a VIP whose TTL would expire here gets "time exceeded"
//!   (so `traceroute` shows the relay);
//! - a packet larger than the MTU of its egress with Don't Fragment set
//!   gets "fragmentation needed" with that MTU (the relay adds no header),
//!   so path MTU discovery works across the relay itself. One without DF
//!   is dropped and counted: the program cannot fragment it, and the kernel
//!   has no route to a VIP to do it.
//!
//! Without an address on the ingress interface the expiring packet goes to
//! the kernel as before, and the oversized one is dropped.

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use fwd_common::{
    maps::{ICMP_ERRORS_BURST, ICMP_ERRORS_PER_SEC},
    Reason,
};

use crate::{
    maps::{ICMP_BUDGET, IFACE_ADDRS, IFINDEX_SLOTS},
    parse::Packet,
    rewrite::{self, IcmpReply},
};

/// ICMP time exceeded, TTL exceeded in transit.
const TIME_EXCEEDED: (u8, u8) = (11, 0);
/// ICMP destination unreachable, fragmentation needed and DF set.
const FRAG_NEEDED: (u8, u8) = (3, 4);

/// Answers a packet whose TTL expires here with "time exceeded".
#[inline(always)]
pub fn time_exceeded(ctx: &XdpContext, pkt: &Packet) -> Result<Reason, Reason> {
    let src = ingress_addr(ctx).ok_or(Reason::PassTtlExpired)?;
    answer(ctx, pkt, TIME_EXCEEDED, [0; 4], src)?;
    Ok(Reason::AnsweredTimeExceeded)
}

/// Answers a packet larger than the `mtu` of its egress with
/// "fragmentation needed", if it may not be fragmented.
#[inline(always)]
pub fn frag_needed(ctx: &XdpContext, pkt: &Packet, mtu: u16) -> Result<Reason, Reason> {
    if !pkt.dont_fragment {
        return Err(Reason::DropFragNeeded);
    }
    let src = ingress_addr(ctx).ok_or(Reason::DropFragNeeded)?;
    let m = mtu.to_be_bytes();
    answer(ctx, pkt, FRAG_NEEDED, [0, 0, m[0], m[1]], src)?;
    Ok(Reason::AnsweredFragNeeded)
}

/// The address of the interface the packet came in on, if it has one.
#[inline(always)]
fn ingress_addr(ctx: &XdpContext) -> Option<u32> {
    let slot = *IFINDEX_SLOTS.get(ctx.ingress_ifindex() as u32)?;
    match IFACE_ADDRS.get(slot) {
        Some(&addr) if addr != 0 => Some(addr),
        _ => None,
    }
}

/// Turns the packet into the error, if the budget allows one now.
#[inline(always)]
fn answer(
    ctx: &XdpContext,
    pkt: &Packet,
    (kind, code): (u8, u8),
    rest: [u8; 4],
    src: u32,
) -> Result<(), Reason> {
    let bucket = ICMP_BUDGET
        .get_ptr_mut(0)
        .ok_or(Reason::DropIcmpRateLimited)?;
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    // SAFETY: this CPU's bucket, written by this CPU only.
    if !unsafe { (*bucket).take(now, ICMP_ERRORS_PER_SEC, ICMP_ERRORS_BURST) } {
        return Err(Reason::DropIcmpRateLimited);
    }
    let reply = IcmpReply {
        kind,
        code,
        rest,
        src,
    };
    rewrite::icmp_reply(ctx, pkt, &reply)
}
