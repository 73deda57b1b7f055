//! The fwd XDP program: full NAT of IPv4 TCP and UDP from VIPs to backends.
//!
//! Stages, each returning `Result<_, Reason>` so any step can end processing
//! with its own counted reason: parse -> lookup -> route -> conntrack ->
//! rewrite (the only writer of the packet) -> redirect. The route is looked
//! up before conntrack so a packet with no route creates no flow.
#![no_std]
#![no_main]
// The #[xdp] macro wraps the documented entry point in an exported function
// of its own, which has no doc comment.
#![allow(missing_docs)]

mod access;
mod conntrack;
mod events;
mod lookup;
mod maps;
mod nat;
mod parse;
mod redirect;
mod rewrite;
mod route;
mod stats;

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, macros::xdp, programs::XdpContext};
use fwd_common::Reason;

use crate::{
    access::frame_len,
    lookup::{Lookup, Target},
    nat::Nat,
    stats::InterfaceCounters,
};

/// Entry point: runs the stages, counts the outcome, returns its action.
#[xdp]
pub fn fwd_xdp(ctx: XdpContext) -> u32 {
    let counters = InterfaceCounters::of_ingress(&ctx);
    let reason = match try_fwd(&ctx) {
        Ok(reason) | Err(reason) => reason,
    };
    counters.count(reason, frame_len(&ctx));
    reason.action()
}

#[inline(always)]
fn try_fwd(ctx: &XdpContext) -> Result<Reason, Reason> {
    let pkt = parse::parse(ctx)?;
    let found = lookup::lookup(&pkt)?;
    if pkt.ttl <= 1 {
        return Err(Reason::PassTtlExpired);
    }
    let target = match found {
        Lookup::Relay(target) => target,
        Lookup::Reject => {
            rewrite::reject(ctx, &pkt)?;
            return Ok(Reason::RejectNoBackend);
        }
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let (egress, looked_up) = match &target {
        Target::Flow(flow) => {
            // SAFETY: from a CT4 lookup in this run.
            let f = unsafe { &**flow };
            match route::cached(ctx, f, now) {
                Some(egress) => (egress, false),
                None => (route::route(ctx, &pkt, &Nat::of(f))?, true),
            }
        }
        Target::New(new) => (route::route(ctx, &pkt, &new.towards_backend())?, true),
    };
    let nat = conntrack::commit(&pkt, target, &egress, looked_up, now)?;
    rewrite::rewrite(ctx, &pkt, &nat, &egress)?;
    Ok(redirect::send(&egress))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
