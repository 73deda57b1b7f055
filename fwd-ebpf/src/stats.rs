//! Per-CPU counters: reasons per interface, and backend traffic. Plain adds
//! are safe: each CPU writes only its own copy of a per-CPU array.

use aya_ebpf::programs::XdpContext;
use fwd_common::{flow::DIR_FORWARD, Flow4, Reason, ReasonCounters, IPPROTO_TCP, IPPROTO_UDP};

use crate::{
    maps::{BACKEND_STATS, IFINDEX_SLOTS, REASON_STATS},
    parse::Packet,
};

/// The reason counters of the interface a packet arrived on (this CPU's
/// copy). Found before the packet is processed: the chain of dependent
/// loads behind it (ingress device, its slot, the slot's block) then runs
/// alongside the processing instead of after it.
pub struct InterfaceCounters(Option<*mut ReasonCounters>);

impl InterfaceCounters {
    /// The block of the ingress interface's slot (slot 0 when it has none).
    #[inline(always)]
    pub fn of_ingress(ctx: &XdpContext) -> InterfaceCounters {
        let slot = IFINDEX_SLOTS
            .get(ctx.ingress_ifindex() as u32)
            .copied()
            .unwrap_or(0);
        InterfaceCounters(REASON_STATS.get_ptr_mut(slot))
    }

    /// Counts one packet of `frame_len` bytes under `reason`.
    #[inline(always)]
    pub fn count(self, reason: Reason, frame_len: u64) {
        if let Some(c) = self.0 {
            // SAFETY: a per-CPU value, valid for this run, written only by
            // this CPU.
            unsafe { (*c).add(reason, frame_len) };
        }
    }
}

/// Counts `pkt` (its IPv4 length) in the traffic of the backend of the
/// flow `half` belongs to: towards the backend for a forward half, towards
/// the client for a reply half; and a new flow of the packet's protocol
/// when `new_flow`.
#[inline(always)]
pub fn count_backend(half: &Flow4, pkt: &Packet, new_flow: bool) {
    if let Some(s) = BACKEND_STATS.get_ptr_mut(half.backend_id) {
        // SAFETY: a per-CPU slot, valid for this run, written only by this CPU.
        let s = unsafe { &mut *s };
        if half.direction == DIR_FORWARD {
            s.to_backend.add(pkt.ip_len as u64);
        } else {
            s.to_client.add(pkt.ip_len as u64);
        }
        if new_flow {
            match pkt.key.proto {
                IPPROTO_TCP => s.flows_created_tcp += 1,
                IPPROTO_UDP => s.flows_created_udp += 1,
                _ => s.flows_created_icmp += 1,
            }
        }
    }
}
