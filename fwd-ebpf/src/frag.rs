//! Fragments of relayed datagrams (see `fwd_common::frag`). The first
//! fragment is translated by the main path, which then [`record`]s the new
//! addresses; the entry point calls [`first_passed`] after any packet
//! that went to the kernel. A later fragment is translated by
//! [`relay_later`] from that record, goes to the kernel after a first that
//! went there, or is held for the loader when its first has not come yet. Fragments neither refresh
//! nor count in their flow.

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use fwd_common::{
    frag::{
        Frag4, Frag4Key, ParkedFragment, FRAG_PASSED, FRAG_RELAYED, FRAG_WAITING, MAX_PARKED_FRAME,
        PARKED_FRAME, PARKED_HEADER_LEN, PARKED_RELEASE,
    },
    Reason,
};

use crate::{
    access::{frame_len, load_into},
    maps::{FRAG4, FRAGMENTS, FRAG_ADDRS4, PARK_SCRATCH},
    nat::Nat,
    parse::{self, Ipv4},
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

/// Payload bytes of the fragment `ip`.
#[inline(always)]
fn payload(ip: &Ipv4) -> u32 {
    ip.ip_len as u32 - (ip.l4_off - ip.l3_off) as u32
}

/// A fresh entry of the datagram `ip` belongs to, if any.
#[inline(always)]
fn entry(key: &Frag4Key, now: u64) -> Option<*mut Frag4> {
    let entry = FRAG4.get_ptr_mut(key)?;
    // SAFETY: a pointer from a lookup in this run.
    (!unsafe { (*entry).expired(now) }).then_some(entry)
}

/// Records how the first fragment `ip` was translated (`nat`), for the
/// datagram's later fragments, and releases the ones held meanwhile. A
/// full table records nothing: the later fragments are refused then.
#[inline(always)]
pub fn record(ip: &Ipv4, nat: &Nat, now: u64) {
    let key = key_of(ip);
    // SAFETY: read once, before the entry is replaced.
    let held = entry(&key, now).is_some_and(|e| unsafe { (*e).state } == FRAG_WAITING);
    let value = Frag4 {
        nat_src_addr: nat.src_addr,
        nat_dst_addr: nat.dst_addr,
        created_ns: now,
        seen: payload(ip),
        state: FRAG_RELAYED,
        ..Frag4::default()
    };
    if FRAG4.insert(key, value, 0).is_ok() && held {
        release(&key);
    }
}

/// After a packet went to the kernel unchanged: if it is a first fragment
/// whose later ones are held, they go to the kernel too. Reads the header
/// again, so that the main path keeps nothing alive for this rare case.
#[inline(always)]
pub fn first_passed(ctx: &XdpContext) {
    let Ok(ip) = parse::ipv4(ctx) else { return };
    if ip.more_fragments && ip.fragment_offset == 0 {
        first_done(&ip);
    }
}

/// After a first fragment `ip` that was not relayed (so not [`record`]ed):
/// if later ones are held, they go to the kernel too.
#[inline(always)]
fn first_done(ip: &Ipv4) {
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let key = key_of(ip);
    let Some(e) = entry(&key, now) else { return };
    // SAFETY: a pointer from a lookup in this run; the fields are plain
    // integers, and a race with another CPU only miscounts bytes, which
    // leaves the entry to expire.
    unsafe {
        if (*e).state != FRAG_WAITING {
            return;
        }
        (*e).state = FRAG_PASSED;
        (*e).seen += payload(ip);
    }
    release(&key);
}

/// Tells the loader to run the held fragments of `key` again. A full ring
/// loses the release; the loader finds the datagram's new state by itself
/// within a second.
#[inline(always)]
fn release(key: &Frag4Key) {
    let item = ParkedFragment {
        kind: PARKED_RELEASE,
        key: *key,
        ..ParkedFragment::default()
    };
    let _ = FRAGMENTS.output::<ParkedFragment>(&item, 0);
}

/// Counts the fragment `ip` in its datagram's entry `e`, and deletes the
/// entry once every byte of the datagram was seen.
#[inline(always)]
fn account(e: *mut Frag4, ip: &Ipv4, key: &Frag4Key) {
    let bytes = payload(ip);
    // SAFETY: a pointer from a lookup in this run (see `first_done`).
    let complete = unsafe {
        (*e).seen += bytes;
        if !ip.more_fragments {
            (*e).total = ip.fragment_offset as u32 * 8 + bytes;
        }
        (*e).complete()
    };
    if complete {
        let _ = FRAG4.remove(key);
    }
}

/// Handles a fragment after the first: translated like its first, passed
/// like it, or held until it comes; or says why not.
#[inline(always)]
pub fn relay_later(ctx: &XdpContext, ip: &Ipv4) -> Result<Reason, Reason> {
    let key = key_of(ip);
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let Some(e) = entry(&key, now) else {
        return hold_first(ctx, ip, &key, now);
    };
    // SAFETY: a pointer from a lookup in this run; the value is copied.
    let first = unsafe { *e };
    match first.state {
        FRAG_RELAYED => {}
        FRAG_PASSED => {
            account(e, ip, &key);
            return Err(Reason::PassFragment);
        }
        _ => return hold(ctx, &key),
    }
    account(e, ip, &key);
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

/// A later fragment of a datagram not seen before: held if it is addressed
/// to the relay (a VIP or a SNAT address), the kernel's otherwise.
#[inline(always)]
fn hold_first(ctx: &XdpContext, ip: &Ipv4, key: &Frag4Key, now: u64) -> Result<Reason, Reason> {
    // SAFETY: read only, a plain integer.
    if unsafe { FRAG_ADDRS4.get(ip.dst_addr) }.is_none() {
        return Err(Reason::PassFragment);
    }
    let waiting = Frag4 {
        created_ns: now,
        state: FRAG_WAITING,
        ..Frag4::default()
    };
    FRAG4
        .insert(key, waiting, 0)
        .map_err(|_| Reason::DropFragmentTableFull)?;
    hold(ctx, key)
}

/// Copies the frame into [`FRAGMENTS`] for the loader (see
/// `fwd_common::frag`); the program drops it.
#[inline(always)]
fn hold(ctx: &XdpContext, key: &Frag4Key) -> Result<Reason, Reason> {
    // 1..=MAX_PARKED_FRAME, in a form the verifier can bound.
    let last = (frame_len(ctx) as usize).wrapping_sub(1);
    if last >= MAX_PARKED_FRAME {
        return Err(Reason::DropFragmentHoldFailed);
    }
    let len = last + 1;
    let item = PARK_SCRATCH
        .get_ptr_mut(0)
        .ok_or(Reason::DropFragmentHoldFailed)?;
    // SAFETY: this CPU's scratch entry, used only within this run.
    let item = unsafe { &mut *item };
    let header = ParkedFragment {
        kind: PARKED_FRAME,
        ifindex: ctx.ingress_ifindex() as u32,
        key: *key,
        frame_len: len as u32,
        ..ParkedFragment::default()
    };
    // SAFETY: ParkedFragment is plain old data of PARKED_HEADER_LEN bytes.
    let bytes: [u8; PARKED_HEADER_LEN] = unsafe { core::mem::transmute(header) };
    item[..PARKED_HEADER_LEN].copy_from_slice(&bytes);
    load_into(
        ctx,
        0,
        &mut item[PARKED_HEADER_LEN..PARKED_HEADER_LEN + len],
    )
    .map_err(|_| Reason::DropFragmentHoldFailed)?;
    FRAGMENTS
        .output::<[u8]>(&item[..PARKED_HEADER_LEN + len], 0)
        .map_err(|_| Reason::DropFragmentHoldFailed)?;
    Ok(Reason::HeldFragment)
}
