//! Stage 4: conntrack. Refreshes the half of a tracked flow in place, or
//! creates both halves of a new flow and claims its SNAT port. Writes maps,
//! never the packet. See `fwd_common::flow` for the design.

use aya_ebpf::bindings::BPF_NOEXIST;
use fwd_common::{
    events::{end_reason, tcp_ended},
    flow::{tcp_flags, DIR_FORWARD, DIR_REPLY},
    hash::{port_hash4, snat_port_candidate, SNAT_PORT_TRIES},
    Flow4, Flow4Key, Reason, IPPROTO_TCP,
};

use crate::{
    events::{emit, Event},
    lookup::{NewFlow, Target},
    maps::{CT4, NEW_FLOW_SCRATCH, RELAY_CONFIG},
    nat::Nat,
    parse::Packet,
    route::Egress,
    stats::count_backend,
};

/// The egress to cache in a flow's half (ifindex 0: nothing to cache, the
/// kernel took the packet, so the next one asks the FIB again).
#[derive(Clone, Copy, Default)]
struct EgressCache {
    ifindex: u32,
    smac: [u8; 6],
    dmac: [u8; 6],
    mtu: u16,
    at_ns: u64,
}

impl EgressCache {
    const NONE: EgressCache = EgressCache {
        ifindex: 0,
        smac: [0; 6],
        dmac: [0; 6],
        mtu: 0,
        at_ns: 0,
    };

    #[inline(always)]
    fn of(egress: &Egress, now: u64) -> EgressCache {
        match egress {
            Egress::Tx {
                ifindex,
                smac,
                dmac,
                mtu,
            }
            | Egress::Redirect {
                ifindex,
                smac,
                dmac,
                mtu,
            } => EgressCache {
                ifindex: *ifindex,
                smac: *smac,
                dmac: *dmac,
                mtu: *mtu,
                at_ns: now,
            },
            Egress::Kernel(_) => EgressCache::NONE,
        }
    }

    /// Writes the cache into a half (refreshed at most once per
    /// `EGRESS_CACHE_NS`, so the write is rare).
    #[inline(always)]
    fn store(self, f: &mut Flow4) {
        f.egress_ifindex = self.ifindex;
        f.egress_smac = self.smac;
        f.egress_dmac = self.dmac;
        f.egress_mtu = self.mtu;
        f.egress_ns = self.at_ns;
    }

    /// The egress fields of a new half.
    #[inline(always)]
    const fn flow_fields(self) -> Flow4 {
        Flow4 {
            nat_src_addr: 0,
            nat_dst_addr: 0,
            nat_src_port: 0,
            nat_dst_port: 0,
            backend_id: 0,
            created_ns: 0,
            last_seen_ns: 0,
            packets: 0,
            bytes: 0,
            direction: 0,
            tcp_flags: 0,
            egress_mtu: self.mtu,
            service_id: 0,
            egress_ifindex: self.ifindex,
            egress_smac: self.smac,
            egress_dmac: self.dmac,
            egress_ns: self.at_ns,
        }
    }
}

/// `EEXIST` as returned (negated) by map updates.
const EEXIST: i32 = 17;

/// Records the packet in its flow (creating the flow if new) and returns the
/// translation to apply.
#[inline(always)]
///
/// `egress` is where the packet leaves; when `looked_up` it was just asked
/// of the FIB and is cached in the flow's half for the next packets.
pub fn commit(
    pkt: &Packet,
    target: Target,
    egress: &Egress,
    looked_up: bool,
    now: u64,
) -> Result<Nat, Reason> {
    let cache = if looked_up {
        Some(EgressCache::of(egress, now))
    } else {
        None
    };
    match target {
        Target::Flow(flow) => Ok(refresh(pkt, flow, now, cache)),
        Target::New(new) => create(pkt, &new, now, cache.unwrap_or_default()),
    }
}

/// Refreshes a tracked half in place: timestamp, counters, TCP flags.
///
/// A direction of a flow is normally handled by one CPU at a time (RSS hashes
/// the tuple to one queue), so these plain writes do not race in practice; if
/// two CPUs ever do update one half at once, a packet count may be lost,
/// which is tolerable for statistics and harmless for expiry.
#[inline(always)]
fn refresh(pkt: &Packet, flow: *mut Flow4, now: u64, cache: Option<EgressCache>) -> Nat {
    // SAFETY: the pointer comes from a CT4 lookup in this run. The loader may
    // delete the entry concurrently only when it has been idle for a whole
    // timeout; the write then lands in a freed (or reused) preallocated
    // element, which costs at most one counted packet.
    let f = unsafe { &mut *flow };
    if let Some(c) = cache {
        c.store(f);
    }
    touch(pkt, f, now);
    if pkt.key.proto == IPPROTO_TCP && f.tcp_flags | pkt.tcp_flags != f.tcp_flags {
        tcp_transition(pkt, f, now);
    }
    count_backend(f, pkt, false);
    Nat::of(f)
}

/// Refreshes the half `flow` of an established flow for `pkt`, which adds
/// no TCP flag to it and whose egress is cached (the fast path, see
/// `crate::fast`): what [`commit`] does for such a packet.
#[inline(always)]
pub fn established(pkt: &Packet, flow: *mut Flow4, now: u64) -> Nat {
    // SAFETY: as in `refresh`.
    let f = unsafe { &mut *flow };
    touch(pkt, f, now);
    count_backend(f, pkt, false);
    Nat::of(f)
}

/// The packet `pkt` in its half `f`: timestamp and counters.
#[inline(always)]
fn touch(pkt: &Packet, f: &mut Flow4, now: u64) {
    f.last_seen_ns = now;
    f.packets += 1;
    f.bytes += pkt.ip_len as u64;
}

/// The rare TCP path, taken when a packet adds flags to its half: looks at
/// the other half and reports a flow's end (RST either way, or FIN both
/// ways).
#[inline(always)]
fn tcp_transition(pkt: &Packet, f: &mut Flow4, now: u64) {
    // SAFETY: from a CT4 lookup in this run (see `refresh`).
    let other = CT4
        .get_ptr_mut(f.other_key(IPPROTO_TCP))
        .map(|o| unsafe { &*o });
    let other_flags = other.map(|o| o.tcp_flags).unwrap_or(0);
    let was_ended = tcp_ended(f.tcp_flags, other_flags);
    f.tcp_flags |= pkt.tcp_flags;
    if !was_ended && tcp_ended(f.tcp_flags, other_flags) {
        let reason = if (f.tcp_flags | other_flags) & tcp_flags::RST != 0 {
            end_reason::RST
        } else {
            end_reason::FIN
        };
        emit(Event::End(reason), &pkt.key, f, other, now);
    }
}

/// Ends the closed flow whose tuple the SYN `key` reuses (see
/// `lookup::lookup`): reports its end unless that was reported already (a
/// half-closed connection replaced by a new one ended), then deletes its
/// forward half, so that no packet finds it, and then its reply half,
/// which frees its SNAT port for the new flow.
#[inline(always)]
fn retire(key: &Flow4Key, now: u64) {
    let Some(f) = CT4.get_ptr(key) else { return };
    // SAFETY: from a CT4 lookup in this run; read before the deletes.
    let f = unsafe { &*f };
    let other_key = f.other_key(IPPROTO_TCP);
    // SAFETY: as above.
    let other = CT4.get_ptr(other_key).map(|o| unsafe { &*o });
    if !tcp_ended(f.tcp_flags, other.map(|o| o.tcp_flags).unwrap_or(0)) {
        emit(Event::End(end_reason::FIN), key, f, other, now);
    }
    let _ = CT4.remove(key);
    let _ = CT4.remove(other_key);
}

/// Creates both halves of a new flow.
///
/// The reply half is inserted first with `BPF_NOEXIST`: its key contains the
/// SNAT port, so a successful insert is the atomic claim of that port for
/// this (backend, SNAT address, protocol). Then the forward half; if that
/// fails the reply half is removed again, so a flow exists whole or not at
/// all. If another CPU created the same flow in between (two packets of one
/// new flow on two CPUs), its flow is used.
#[inline(always)]
fn create(pkt: &Packet, new: &NewFlow, now: u64, cache: EgressCache) -> Result<Nat, Reason> {
    let config = RELAY_CONFIG.get(0).ok_or(Reason::DropInternal)?;
    let port_count = config.snat_port_count();
    if port_count == 0 {
        return Err(Reason::DropNoSnatPorts);
    }
    let key = &pkt.key;
    if new.reopens {
        retire(key, now);
    }
    let tcp_flags = if key.proto == IPPROTO_TCP {
        pkt.tcp_flags
    } else {
        0
    };
    let halves = NEW_FLOW_SCRATCH
        .get_ptr_mut(0)
        .ok_or(Reason::DropInternal)?;
    // SAFETY: this CPU's scratch entry, used only within this run; both
    // halves are written whole before they are read.
    let [reply, forward] = unsafe { &mut *halves };
    *reply = Flow4 {
        nat_src_addr: key.dst_addr,
        nat_dst_addr: key.src_addr,
        nat_src_port: key.dst_port,
        nat_dst_port: key.src_port,
        backend_id: new.backend_id,
        created_ns: now,
        last_seen_ns: now,
        packets: 0,
        bytes: 0,
        direction: DIR_REPLY,
        tcp_flags: 0,
        service_id: new.service_id,
        ..EgressCache::NONE.flow_fields()
    };
    let reply: &Flow4 = reply;
    let mut reply_key = Flow4Key::from_raw(
        new.backend.addr,
        new.backend_port,
        new.backend.snat_addr,
        0,
        key.proto,
    );
    // Keyed: a client cannot tell which ports its flows will take.
    let hash = port_hash4(key, &config.port_key);
    let mut claimed = false;
    for attempt in 0..SNAT_PORT_TRIES {
        reply_key.dst_port =
            snat_port_candidate(hash, attempt, config.snat_port_min, port_count).to_be();
        match CT4.insert(reply_key, reply, BPF_NOEXIST as u64) {
            Ok(()) => {
                claimed = true;
                break;
            }
            Err(e) if e == -EEXIST => continue,
            Err(_) => return Err(Reason::DropConntrackFull),
        }
    }
    if !claimed {
        return Err(Reason::DropSnatExhausted);
    }
    *forward = Flow4 {
        nat_src_addr: new.backend.snat_addr,
        nat_dst_addr: new.backend.addr,
        nat_src_port: reply_key.dst_port,
        nat_dst_port: new.backend_port,
        backend_id: new.backend_id,
        created_ns: now,
        last_seen_ns: now,
        packets: 1,
        bytes: pkt.ip_len as u64,
        direction: DIR_FORWARD,
        tcp_flags,
        service_id: new.service_id,
        ..cache.flow_fields()
    };
    let forward: &Flow4 = forward;
    match CT4.insert(key, forward, BPF_NOEXIST as u64) {
        Ok(()) => {
            count_backend(forward, pkt, true);
            emit(
                Event::Start(new.start_flags),
                key,
                forward,
                Some(reply),
                now,
            );
            Ok(Nat::of(forward))
        }
        Err(e) => {
            let _ = CT4.remove(reply_key);
            if e == -EEXIST {
                // Lost the race against another CPU: use its flow.
                let flow = CT4.get_ptr_mut(key).ok_or(Reason::DropConntrackFull)?;
                Ok(refresh(pkt, flow, now, None))
            } else {
                Err(Reason::DropConntrackFull)
            }
        }
    }
}
