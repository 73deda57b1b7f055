//! Flow start and end events into the `FLOW_EVENTS` ring buffer. Called only
//! when a flow starts or ends, never per packet.

use fwd_common::{
    events::FlowEvent,
    flow::{tcp_flags, DIR_FORWARD},
    Flow4, Flow4Key,
};

use crate::maps::{EVENTS_LOST, FLOW_EVENTS};

/// Whether a TCP flow whose halves saw `a` and `b` has ended: a RST either
/// way, or a FIN both ways.
#[inline(always)]
pub fn tcp_ended(a: u8, b: u8) -> bool {
    (a | b) & tcp_flags::RST != 0 || (a & tcp_flags::FIN != 0 && b & tcp_flags::FIN != 0)
}

/// Sends an event about the flow of which `half` (with key `key`) is one
/// half and `other` (if found) the other one.
///
/// Every address of the event is known from either half and its key: the
/// forward half is keyed by client -> VIP and rewrites to SNAT -> backend;
/// the reply half is keyed by backend -> SNAT and rewrites to VIP -> client.
#[inline(always)]
pub fn emit(
    kind: u8,
    end_reason: u8,
    key: &Flow4Key,
    half: &Flow4,
    other: Option<&Flow4>,
    now: u64,
) {
    let Some(mut entry) = FLOW_EVENTS.reserve::<FlowEvent>(0) else {
        if let Some(lost) = EVENTS_LOST.get_ptr_mut(0) {
            // SAFETY: a per-CPU slot, written only by this CPU.
            unsafe { *lost += 1 };
        }
        return;
    };
    let (client, vip, snat, backend) = if half.direction == DIR_FORWARD {
        (
            (key.src_addr, key.src_port),
            (key.dst_addr, key.dst_port),
            (half.nat_src_addr, half.nat_src_port),
            (half.nat_dst_addr, half.nat_dst_port),
        )
    } else {
        (
            (half.nat_dst_addr, half.nat_dst_port),
            (half.nat_src_addr, half.nat_src_port),
            (key.dst_addr, key.dst_port),
            (key.src_addr, key.src_port),
        )
    };
    let (forward, reply) = if half.direction == DIR_FORWARD {
        (Some(half), other)
    } else {
        (other, Some(half))
    };
    entry.write(FlowEvent {
        time_ns: now,
        created_ns: half.created_ns,
        client_addr: client.0,
        vip_addr: vip.0,
        snat_addr: snat.0,
        backend_addr: backend.0,
        client_port: client.1,
        vip_port: vip.1,
        snat_port: snat.1,
        backend_port: backend.1,
        service_id: half.service_id,
        backend_id: half.backend_id,
        kind,
        proto: key.proto,
        end_reason,
        pad: 0,
        pad2: 0,
        to_backend: forward
            .map(|f| fwd_common::Counter {
                packets: f.packets,
                bytes: f.bytes,
            })
            .unwrap_or_default(),
        to_client: reply
            .map(|r| fwd_common::Counter {
                packets: r.packets,
                bytes: r.bytes,
            })
            .unwrap_or_default(),
    });
    entry.submit(0);
}
