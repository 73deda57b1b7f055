//! Per-CPU counters: reasons per interface, and backend traffic. Plain adds
//! are safe: each CPU writes only its own copy of a per-CPU array.

use aya_ebpf::programs::XdpContext;
use fwd_common::{flow::DIR_FORWARD, Reason, ReasonCounters, IPPROTO_TCP};

use crate::maps::{BACKEND_STATS, IFINDEX_SLOTS, REASON_STATS};

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

/// Counts one packet of `ip_len` bytes of a flow to (forward) or from
/// (reply) backend `backend_id`, and a new flow of `proto` when `new_flow`.
#[inline(always)]
pub fn count_backend(backend_id: u32, direction: u8, ip_len: u16, new_flow: bool, proto: u8) {
    if let Some(s) = BACKEND_STATS.get_ptr_mut(backend_id) {
        // SAFETY: a per-CPU slot, valid for this run, written only by this CPU.
        let s = unsafe { &mut *s };
        if direction == DIR_FORWARD {
            s.to_backend.add(ip_len as u64);
        } else {
            s.to_client.add(ip_len as u64);
        }
        if new_flow {
            if proto == IPPROTO_TCP {
                s.flows_created_tcp += 1;
            } else {
                s.flows_created_udp += 1;
            }
        }
    }
}
