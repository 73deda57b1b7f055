//! Per-CPU counters: reasons and backend traffic. Plain adds are safe: each
//! CPU writes only its own copy of a per-CPU array.

use fwd_common::{flow::DIR_FORWARD, Reason};

use crate::maps::{BACKEND_STATS, REASON_STATS};

/// Counts one packet of `frame_len` bytes under `reason`.
#[inline(always)]
pub fn count_reason(reason: Reason, frame_len: u64) {
    if let Some(c) = REASON_STATS.get_ptr_mut(reason as u32) {
        // SAFETY: a per-CPU slot, valid for this run, written only by this CPU.
        unsafe { (*c).add(frame_len) };
    }
}

/// Counts one packet of `ip_len` bytes of a flow to (forward) or from
/// (reply) backend `backend_id`, and a new flow when `new_flow`.
#[inline(always)]
pub fn count_backend(backend_id: u32, direction: u8, ip_len: u16, new_flow: bool) {
    if let Some(s) = BACKEND_STATS.get_ptr_mut(backend_id) {
        // SAFETY: a per-CPU slot, valid for this run, written only by this CPU.
        let s = unsafe { &mut *s };
        if direction == DIR_FORWARD {
            s.to_backend.add(ip_len as u64);
        } else {
            s.to_client.add(ip_len as u64);
        }
        if new_flow {
            s.flows_created += 1;
        }
    }
}
