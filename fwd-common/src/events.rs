//! Flow start and end events, sent by the datapath through the
//! [`crate::maps::FLOW_EVENTS`] ring buffer (only at a flow's start and end,
//! never per packet) and, for flows that end by expiry, made by the loader.

use crate::{
    flow::{tcp_flags, DIR_FORWARD},
    Counter, Flow4, Flow4Key, IPPROTO_TCP,
};

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
    /// Removed because its backend went down and its service says
    /// `on_down = "reset"` (made by the loader's health checks).
    pub const BACKEND_DOWN: u8 = 5;

    /// The label of a reason, for logs and metrics.
    pub const fn name(reason: u8) -> &'static str {
        match reason {
            FIN => "fin",
            RST => "rst",
            TIMEOUT => "timeout",
            EVICTED => "evicted",
            BACKEND_DOWN => "backend_down",
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
    /// [`start_flags`] (start events; zero in end events).
    pub flags: u8,
    /// Padding; zero.
    pub pad2: u32,
    /// Client -> backend packets and IPv4 bytes (end events).
    pub to_backend: Counter,
    /// Backend -> client packets and IPv4 bytes (end events).
    pub to_client: Counter,
}
const _: () = assert!(core::mem::size_of::<FlowEvent>() == 88);

/// Bits of [`FlowEvent::flags`] in a start event.
pub mod start_flags {
    /// The flow's first packet could have been answered: a TCP SYN whose
    /// checksum the relay verified (complete, header and data at most 64
    /// bytes) and which arrived with a TTL of at least
    /// [`ANSWERABLE_MIN_TTL`], so that it does not expire between the
    /// relay and the backend. Passive health follows only such attempts:
    /// a client cannot forge a failure of the backend with SYNs the backend
    /// would drop (see `fwd::health::passive`).
    pub const ANSWERABLE: u8 = 1;
    /// The least TTL of an [`ANSWERABLE`] SYN on arrival: the usual initial
    /// TTLs are 64, 128 and 255, so a client within 32 hops still counts.
    pub const ANSWERABLE_MIN_TTL: u8 = 32;
}

/// Whether a TCP flow whose halves saw the flags `a` and `b` has ended: a
/// RST either way, or a FIN both ways. The datapath sends the end event on
/// the packet that completes this; the loader must not send a second one.
#[inline(always)]
pub const fn tcp_ended(a: u8, b: u8) -> bool {
    (a | b) & tcp_flags::RST != 0 || (a & tcp_flags::FIN != 0 && b & tcp_flags::FIN != 0)
}

/// Whether the datapath has reported the end of a flow of protocol `proto`
/// whose halves saw `forward_flags` and `reply_flags` (TCP only: UDP flows
/// end by expiry, in the loader).
#[inline(always)]
pub const fn ended_by_datapath(proto: u8, forward_flags: u8, reply_flags: u8) -> bool {
    proto == IPPROTO_TCP && tcp_ended(forward_flags, reply_flags)
}

/// The four address:port pairs of a flow, in network order as in the maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The client (source of the client's packets).
    pub client: (u32, u16),
    /// The VIP the client sent to.
    pub vip: (u32, u16),
    /// The SNAT address:port the backend sees.
    pub snat: (u32, u16),
    /// The backend.
    pub backend: (u32, u16),
}

impl Endpoints {
    /// The pairs of the flow that `half`, stored under `key`, belongs to.
    ///
    /// The forward half is keyed by client -> VIP and rewrites to SNAT ->
    /// backend; the reply half is keyed by backend -> SNAT and rewrites to
    /// VIP -> client. Either half gives all four.
    #[inline(always)]
    pub const fn of(key: &Flow4Key, half: &Flow4) -> Endpoints {
        if half.direction == DIR_FORWARD {
            Endpoints {
                client: (key.src_addr, key.src_port),
                vip: (key.dst_addr, key.dst_port),
                snat: (half.nat_src_addr, half.nat_src_port),
                backend: (half.nat_dst_addr, half.nat_dst_port),
            }
        } else {
            Endpoints {
                client: (half.nat_dst_addr, half.nat_dst_port),
                vip: (half.nat_src_addr, half.nat_src_port),
                snat: (key.dst_addr, key.dst_port),
                backend: (key.src_addr, key.src_port),
            }
        }
    }

    /// `(address, port)` in network order as a socket address.
    pub const fn socket(pair: (u32, u16)) -> core::net::SocketAddrV4 {
        core::net::SocketAddrV4::new(crate::addr4_from_raw(pair.0), crate::port_from_raw(pair.1))
    }
}

impl FlowEvent {
    /// The event about the flow of which `half` (stored under `key`) is one
    /// half and `other` (if found) the other, at `now_ns`: made by the
    /// datapath for the ring buffer and by the loader for expiries, so both
    /// name the same four pairs.
    #[inline(always)]
    pub fn new(
        kind: u8,
        end_reason: u8,
        key: &Flow4Key,
        half: &Flow4,
        other: Option<&Flow4>,
        now_ns: u64,
    ) -> FlowEvent {
        let mut event = FlowEvent::default();
        event.fill(kind, end_reason, key, half, other, now_ns);
        event
    }

    /// Writes every field of [`FlowEvent::new`]'s event into `self`, one by
    /// one: the datapath fills its ring buffer's memory in place, with no
    /// copy of the event on its stack.
    #[inline(always)]
    pub fn fill(
        &mut self,
        kind: u8,
        end_reason: u8,
        key: &Flow4Key,
        half: &Flow4,
        other: Option<&Flow4>,
        now_ns: u64,
    ) {
        let e = Endpoints::of(key, half);
        let (forward, reply) = if half.direction == DIR_FORWARD {
            (Some(half), other)
        } else {
            (other, Some(half))
        };
        let counter = |h: Option<&Flow4>| match h {
            Some(h) => Counter {
                packets: h.packets,
                bytes: h.bytes,
            },
            None => Counter {
                packets: 0,
                bytes: 0,
            },
        };
        self.time_ns = now_ns;
        self.created_ns = half.created_ns;
        self.client_addr = e.client.0;
        self.vip_addr = e.vip.0;
        self.snat_addr = e.snat.0;
        self.backend_addr = e.backend.0;
        self.client_port = e.client.1;
        self.vip_port = e.vip.1;
        self.snat_port = e.snat.1;
        self.backend_port = e.backend.1;
        self.service_id = half.service_id;
        self.backend_id = half.backend_id;
        self.kind = kind;
        self.proto = key.proto;
        self.end_reason = end_reason;
        self.flags = 0;
        self.pad2 = 0;
        self.to_backend = counter(forward);
        self.to_client = counter(reply);
    }
}
