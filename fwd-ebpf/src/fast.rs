//! The fast path, the attached program's own work: a packet of an
//! established flow (no fragment, no ICMP, no new TCP flag, TTL above 1)
//! whose route its flow has cached is translated and sent here; a packet
//! for no VIP goes to the kernel. Anything else (new flows, TCP state
//! changes, ICMP, fragments, routes to look up) is the full program's,
//! which the entry point tail-calls: each program keeps a small stack
//! frame, and the common packets run the least code.

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use fwd_common::{flow::tcp_flags, Reason, IPPROTO_ICMP, IPPROTO_TCP};

use crate::{conntrack, lookup, maps::CT4, parse, redirect, rewrite, route};

/// The outcome of `ctx`'s packet if the fast path handles it; `None`: the
/// full program's (nothing was written).
#[inline(always)]
pub fn relay(ctx: &XdpContext) -> Option<Result<Reason, Reason>> {
    let ip = parse::ipv4(ctx).ok()?;
    if ip.fragment_offset != 0 || ip.more_fragments || ip.proto == IPPROTO_ICMP {
        return None;
    }
    let pkt = parse::transport(ctx, &ip).ok()?;
    let Some(flow) = CT4.get_ptr_mut(pkt.key) else {
        // Not for the relay: the kernel's, as the full program would say.
        return lookup::service_of(&pkt)
            .is_none()
            .then_some(Err(Reason::PassNoService));
    };
    // SAFETY: from a CT4 lookup in this run, read only here.
    let f = unsafe { &*flow };
    if pkt.ttl <= 1
        || (pkt.key.proto == IPPROTO_TCP
            && (pkt.tcp_flags & tcp_flags::SYN != 0 || f.tcp_flags | pkt.tcp_flags != f.tcp_flags))
    {
        return None;
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let egress = route::cached(ctx, f, now, pkt.ip_len)?.ok()?;
    let nat = conntrack::established(&pkt, flow, now);
    Some(rewrite::rewrite(ctx, &pkt, &nat, &egress).map(|()| redirect::send(&egress)))
}
