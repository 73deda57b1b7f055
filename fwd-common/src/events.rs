//! Flow start and end events, sent by the datapath through the
//! [`crate::maps::FLOW_EVENTS`] ring buffer (only at a flow's start and end,
//! never per packet) and, for flows that end by expiry, made by the loader.

use crate::Counter;

/// [`FlowEvent::kind`]: a flow started (its first packet was forwarded).
pub const EVENT_START: u8 = 1;
/// [`FlowEvent::kind`]: a flow ended.
pub const EVENT_END: u8 = 2;

/// Why a flow ended ([`FlowEvent::end_reason`]).
pub mod end_reason {
    /// Not an end event.
    pub const NONE: u8 = 0;
    /// TCP: FIN seen in both directions (sent by the datapath).
    pub const FIN: u8 = 1;
    /// TCP: RST seen (sent by the datapath).
    pub const RST: u8 = 2;
    /// Idle longer than its timeout (made by the loader's GC).
    pub const TIMEOUT: u8 = 3;
    /// Expired early because the table was nearly full (made by the GC).
    pub const EVICTED: u8 = 4;

    /// The label of a reason, for logs and metrics.
    pub const fn name(reason: u8) -> &'static str {
        match reason {
            FIN => "fin",
            RST => "rst",
            TIMEOUT => "timeout",
            EVICTED => "evicted",
            _ => "none",
        }
    }
}

/// One flow event. All four address:port pairs of the full NAT, in network
/// order: the client, the VIP it sent to, the SNAT address:port the backend
/// sees, and the backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowEvent {
    /// `bpf_ktime_get_coarse_ns` (CLOCK_MONOTONIC) of the event.
    pub time_ns: u64,
    /// When the flow started (same clock).
    pub created_ns: u64,
    /// Client address.
    pub client_addr: u32,
    /// VIP address.
    pub vip_addr: u32,
    /// SNAT address.
    pub snat_addr: u32,
    /// Backend address.
    pub backend_addr: u32,
    /// Client port.
    pub client_port: u16,
    /// VIP port.
    pub vip_port: u16,
    /// SNAT port.
    pub snat_port: u16,
    /// Backend port.
    pub backend_port: u16,
    /// Service id.
    pub service_id: u32,
    /// Backend id.
    pub backend_id: u32,
    /// [`EVENT_START`] or [`EVENT_END`].
    pub kind: u8,
    /// [`crate::IPPROTO_TCP`] or [`crate::IPPROTO_UDP`].
    pub proto: u8,
    /// One of [`end_reason`] (end events).
    pub end_reason: u8,
    /// Padding; zero.
    pub pad: u8,
    /// Padding; zero.
    pub pad2: u32,
    /// Client -> backend packets and IPv4 bytes (end events).
    pub to_backend: Counter,
    /// Backend -> client packets and IPv4 bytes (end events).
    pub to_client: Counter,
}
const _: () = assert!(core::mem::size_of::<FlowEvent>() == 88);
