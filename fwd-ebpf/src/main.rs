//! The fwd XDP programs: full NAT of IPv4 TCP, UDP and ICMP echo from VIPs
//! to backends. The attached program, [`fwd_xdp`], is the fast path
//! (`fast`: established flows with a cached route, and packets to no VIP);
//! it tail-calls [`fwd_xdp_full`] for everything else, which is described
//! below.
//!
//! Stages, each returning `Result<_, Reason>` so any step can end processing
//! with its own counted reason: parse -> lookup -> route -> conntrack ->
//! rewrite (the only writer of the packet) -> redirect. The route is looked
//! up before conntrack so a packet with no route creates no flow. A SYN or
//! SYN-ACK has its MSS option clamped right after lookup (`mss`, written by
//! `rewrite::clamp_mss`), where the verifier meets fewer states than later:
//! every later outcome translates the packet, drops it, or answers it with
//! an ICMP error quoting only its first 8 TCP bytes, so clamping early
//! shows nowhere. ICMP errors about relayed flows (TCP, UDP or echo
//! sessions) take their own path (`icmp`): parse the quoted packet -> find
//! its flow (read only) -> route -> rewrite -> redirect. A first fragment
//! takes the main path and records its new addresses; later fragments
//! reuse them, or are held for the loader until their first comes (`frag`).
#![no_std]
#![no_main]
// The #[xdp] macro wraps the documented entry point in an exported function
// of its own, which has no doc comment.
#![allow(missing_docs)]

mod access;
mod answerable;
mod conntrack;
mod csum;
mod events;
mod fast;
mod frag;
mod icmp;
mod lookup;
mod maps;
mod mss;
mod nat;
mod parse;
mod redirect;
mod rewrite;
mod route;
mod router;
mod stats;

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, macros::xdp, programs::XdpContext};
use fwd_common::{counters::xdp_action, flow::tcp_flags, Reason, IPPROTO_ICMP};

use crate::{
    access::frame_len,
    lookup::{Lookup, Target},
    nat::Nat,
    route::{Blocked, Leaving},
    stats::InterfaceCounters,
};

/// Entry point, the attached program: the fast path (`fast`), or a tail
/// call to [`fwd_xdp_full`] for everything else. Counts what it handles
/// itself; the full program counts the rest.
#[xdp]
#[inline(always)]
pub fn fwd_xdp(ctx: XdpContext) -> u32 {
    let reason = match fast::relay(&ctx) {
        Some(Ok(reason) | Err(reason)) => reason,
        None => {
            // SAFETY: a tail call to a program of the same type, which does
            // not return when it succeeds.
            unsafe { maps::PROGRAMS.tail_call(&ctx, FULL_PROGRAM) };
            // The loader has not filled the slot (a bug of its own).
            Reason::DropInternal
        }
    };
    InterfaceCounters::of_ingress(&ctx).count(reason, frame_len(&ctx));
    reason.action()
}

/// Slot of [`fwd_xdp_full`] in `PROGRAMS`.
const FULL_PROGRAM: u32 = fwd_common::maps::PROGRAMS_FULL;

/// The full program: runs the stages, counts the outcome, returns its
/// action. Inlined into the wrapper `#[xdp]` exports: a program this size
/// is otherwise left as a function of its own, and the call costs every
/// packet about 10 ns in T6.
#[xdp]
#[inline(always)]
pub fn fwd_xdp_full(ctx: XdpContext) -> u32 {
    let counters = InterfaceCounters::of_ingress(&ctx);
    let reason = match try_fwd(&ctx) {
        Ok(reason) | Err(reason) => reason,
    };
    counters.count(reason, frame_len(&ctx));
    reason.action()
}

#[inline(always)]
fn try_fwd(ctx: &XdpContext) -> Result<Reason, Reason> {
    let ip = parse::ipv4(ctx)?;
    if ip.fragment_offset != 0 {
        return frag::relay_later(ctx, &ip);
    }
    let outcome = relay(ctx, &ip);
    // A first fragment that went to the kernel: its held later fragments
    // follow it there. Told apart after the fact (the packet is unchanged
    // when passed), so that the other packets keep nothing alive across
    // `relay`; a first fragment that was translated was recorded by it.
    let (Ok(reason) | Err(reason)) = outcome;
    if reason.action() == xdp_action::PASS {
        frag::first_passed(ctx);
    }
    outcome
}

/// Everything but a later fragment: the stages named in the crate's doc.
#[inline(always)]
fn relay(ctx: &XdpContext, ip: &parse::Ipv4) -> Result<Reason, Reason> {
    // An error is never fragmented (it is at most 576 bytes long); a
    // fragmented echo is relayed like a fragmented datagram.
    if ip.proto == IPPROTO_ICMP && !ip.more_fragments && icmp::is_error(ctx, ip)? {
        return icmp::relay_error(ctx, ip);
    }
    let pkt = parse::transport(ctx, ip)?;
    let target = match lookup::lookup(&pkt)? {
        // The VIP itself is the destination of an echo it answers.
        // The answer would need the whole message.
        Lookup::AnswerEcho if ip.more_fragments => return Err(Reason::PassFragment),
        Lookup::AnswerEcho => {
            rewrite::echo_reply(ctx, &pkt)?;
            return Ok(Reason::AnsweredEcho);
        }
        _ if pkt.ttl <= 1 => return router::time_exceeded(ctx, &pkt),
        Lookup::Reject => {
            rewrite::reject(ctx, &pkt)?;
            return Ok(Reason::RejectNoBackend);
        }
        Lookup::Relay(target) => target,
    };
    // Any other packet pays this one test.
    let mut target = target;
    if pkt.tcp_flags & tcp_flags::SYN != 0 {
        mss::clamp(ctx, &pkt, &target)?;
        if let Target::New(new) = &mut target {
            new.start_flags = answerable::start_flags(ctx, &pkt);
        }
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let leaving = Leaving::packet(&pkt);
    let routed = match &target {
        Target::Flow(flow) => {
            // SAFETY: from a CT4 lookup in this run.
            let f = unsafe { &**flow };
            match route::cached(ctx, f, now, pkt.ip_len) {
                Some(cached) => cached.map(|egress| (egress, false)),
                None => route::route(ctx, &leaving, &Nat::of(f)).map(|egress| (egress, true)),
            }
        }
        Target::New(new) => {
            route::route(ctx, &leaving, &new.towards_backend()).map(|egress| (egress, true))
        }
    };
    let (egress, looked_up) = match routed {
        Ok(routed) => routed,
        Err(Blocked::TooBig { mtu }) => return router::frag_needed(ctx, &pkt, mtu),
        Err(Blocked::Reason(reason)) => return Err(reason),
    };
    let nat = conntrack::commit(&pkt, target, &egress, looked_up, now)?;
    rewrite::rewrite(ctx, &pkt, &nat, &egress)?;
    if ip.more_fragments {
        frag::record(ip, &nat, now);
    }
    Ok(redirect::send(&egress))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
