//! The flow log: one JSON line per flow start and end.
//!
//! Events come from the datapath's ring buffer ([`consumer`]) and from the
//! GC (flows ended by expiry); both go to one [`FlowSink`], which counts
//! every end for the metrics ([`crate::state::Shared::record_event`]) and,
//! when `fwd attach --flow-log PATH` asked for it, appends the lines to the
//! log ([`FlowLog`]).
//!
//! A line (fields in this order; the last six only on end events):
//!
//! ```json
//! {"time":"2025-05-01T12:00:03.512Z","event":"end","protocol":"tcp","service":"web",
//!  "client":"198.18.0.2:40312","vip":"198.18.100.1:443","snat":"198.19.0.1:20001",
//!  "backend":"198.19.0.10:443","packets_to_backend":12,"bytes_to_backend":1804,
//!  "packets_to_client":10,"bytes_to_client":9120,"duration_ms":3004,"reason":"fin"}
//! ```

pub mod consumer;
mod sink;

use std::{
    net::SocketAddrV4,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use fwd_common::events::{end_reason, FlowEvent, EVENT_END, EVENT_START};
use serde::Serialize;

pub use self::sink::{FlowLog, FlowLogError, FlowLogTarget, FlowSink};
use crate::{
    flows::Endpoints,
    plan::{proto_name, Plan},
};

/// A pair of readings of CLOCK_MONOTONIC (the clock of the datapath's
/// timestamps) and the wall clock, taken together, to convert event times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// CLOCK_MONOTONIC, nanoseconds.
    pub monotonic_ns: u64,
    /// The wall clock at the same moment.
    pub realtime: SystemTime,
}

impl Clock {
    /// Both clocks now.
    pub fn now() -> Clock {
        Clock {
            monotonic_ns: crate::gc::monotonic_ns(),
            realtime: SystemTime::now(),
        }
    }

    /// The wall time of monotonic timestamp `ns`:
    /// `realtime - (monotonic_ns - ns)`.
    pub fn wall(&self, ns: u64) -> SystemTime {
        let t = if ns <= self.monotonic_ns {
            self.realtime
                .checked_sub(Duration::from_nanos(self.monotonic_ns - ns))
        } else {
            self.realtime
                .checked_add(Duration::from_nanos(ns - self.monotonic_ns))
        };
        t.unwrap_or(UNIX_EPOCH)
    }
}

/// RFC 3339 in UTC with milliseconds: `2025-05-01T12:00:03.512Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// One line of the flow log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowRecord<'a> {
    /// When (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// `start` or `end`.
    pub event: &'static str,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The service's name.
    pub service: &'a str,
    /// The client's address:port.
    pub client: SocketAddrV4,
    /// The VIP:port the client sent to.
    pub vip: SocketAddrV4,
    /// The SNAT address:port the backend saw.
    pub snat: SocketAddrV4,
    /// The backend's address:port.
    pub backend: SocketAddrV4,
    /// End events only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub end: Option<EndFields>,
}

/// The fields of an end event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EndFields {
    /// Client -> backend packets.
    pub packets_to_backend: u64,
    /// Client -> backend IPv4 bytes.
    pub bytes_to_backend: u64,
    /// Backend -> client packets.
    pub packets_to_client: u64,
    /// Backend -> client IPv4 bytes.
    pub bytes_to_client: u64,
    /// From the flow's start to this event.
    pub duration_ms: u64,
    /// `fin`, `rst`, `timeout` or `evicted`.
    pub reason: &'static str,
}

impl<'a> FlowRecord<'a> {
    /// The record of `event`; `None` for an event of an unknown kind.
    pub fn of(event: &FlowEvent, plan: &'a Plan, clock: &Clock) -> Option<FlowRecord<'a>> {
        let kind = match event.kind {
            EVENT_START => "start",
            EVENT_END => "end",
            _ => return None,
        };
        let pair = |addr, port| Endpoints::socket((addr, port));
        let end = (event.kind == EVENT_END).then(|| EndFields {
            packets_to_backend: event.to_backend.packets,
            bytes_to_backend: event.to_backend.bytes,
            packets_to_client: event.to_client.packets,
            bytes_to_client: event.to_client.bytes,
            duration_ms: event.time_ns.saturating_sub(event.created_ns) / 1_000_000,
            reason: end_reason::name(event.end_reason),
        });
        Some(FlowRecord {
            time: rfc3339_millis(clock.wall(event.time_ns)),
            event: kind,
            protocol: proto_name(event.proto),
            service: plan
                .services
                .get(event.service_id as usize)
                .map_or("?", |s| s.name.as_str()),
            client: pair(event.client_addr, event.client_port),
            vip: pair(event.vip_addr, event.vip_port),
            snat: pair(event.snat_addr, event.snat_port),
            backend: pair(event.backend_addr, event.backend_port),
            end,
        })
    }

    /// The JSON line, without the newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a flow record always serializes")
    }
}

#[cfg(test)]
mod tests;
