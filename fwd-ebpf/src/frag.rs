//! Fragments of relayed datagrams (see `fwd_common::frag`). The first
//! fragment is translated by the main path, which then [`record`]s the new
//! addresses; a later one is translated by [`relay_later`] from that
//! record, or goes to the kernel when there is none (its first was not
//! relayed, has not arrived yet, or came too long ago). Fragments neither
//! refresh nor count in their flow.

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use fwd_common::{
    frag::{Frag4, Frag4Key, FRAG_TIMEOUT_NS},
    Reason,
};

use crate::{
    maps::FRAG4,
    nat::Nat,
    parse::Ipv4,
    redirect,
    rewrite::{self, Addrs},
    route::{self, Leaving},
};

/// The key of the datagram `ip` belongs to.
#[inline(always)]
fn key_of(ip: &Ipv4) -> Frag4Key {
    Frag4Key {
        src_addr: ip.src_addr,
        dst_addr: ip.dst_addr,
        id: ip.id,
        proto: ip.proto,
        pad: 0,
    }
}

/// Records how the first fragment `ip` was translated (`nat`), for the
/// datagram's later fragments. A full table evicts its oldest entry.
#[inline(always)]
pub fn record(ip: &Ipv4, nat: &Nat, now: u64) {
    let value = Frag4 {
        nat_src_addr: nat.src_addr,
        nat_dst_addr: nat.dst_addr,
        created_ns: now,
    };
    // An LRU map makes room by itself; an error leaves the later fragments
    // to the kernel, which is what happens without a record.
    let _ = FRAG4.insert(key_of(ip), value, 0);
}

/// Translates a fragment after the first like its first, or says why not.
#[inline(always)]
pub fn relay_later(ctx: &XdpContext, ip: &Ipv4) -> Result<Reason, Reason> {
    // SAFETY: read only; an entry replaced meanwhile is another datagram's
    // whole value (or this one's again).
    let Some(first) = (unsafe { FRAG4.get(key_of(ip)) }) else {
        return Err(Reason::PassFragment);
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    if now.wrapping_sub(first.created_ns) >= FRAG_TIMEOUT_NS {
        return Err(Reason::PassFragment);
    }
    if ip.ttl <= 1 {
        return Err(Reason::PassTtlExpired);
    }
    let new = Addrs {
        src: first.nat_src_addr,
        dst: first.nat_dst_addr,
    };
    let towards = Nat {
        src_addr: new.src,
        dst_addr: new.dst,
        src_port: 0,
        dst_port: 0,
    };
    // A fragment never has Don't Fragment: one too big is dropped.
    let egress = route::route(ctx, &Leaving::ipv4(ip), &towards).map_err(route::Blocked::reason)?;
    rewrite::fragment(ctx, ip, &new, &egress)?;
    Ok(redirect::send_as(
        &egress,
        Reason::ForwardedFragmentTx,
        Reason::ForwardedFragmentRedirect,
    ))
}
