//! The flow log: one JSON line per flow start and end.
//!
//! Events come from the datapath's ring buffer and from the GC (flows ended
//! by expiry); the flow sink of the running relay (`crate::tasks`) counts
//! every end for the metrics and, when `fwd attach --flow-log PATH` asked
//! for it, appends the lines to the log ([`FlowLog`]).
//!
//! A line (fields in this order; the last six only on end events):
//!
//! ```json
//! {"time":"2025-05-01T12:00:03.512Z","event":"end","protocol":"tcp","service":"web",
//!  "client":"198.18.0.2:40312","vip":"198.18.100.1:443","snat":"198.19.0.1:20001",
//!  "backend":"198.19.0.10:443","packets_to_backend":12,"bytes_to_backend":1804,
//!  "packets_to_client":10,"bytes_to_client":9120,"duration_ms":3004,"reason":"fin"}
//! ```

mod sink;

use std::net::SocketAddrV4;

use fwd_common::events::{end_reason, FlowEvent, EVENT_END, EVENT_START};
use serde::Serialize;

pub(crate) use self::sink::{FlowLog, FlowLogTarget};
use crate::{
    clock::Clock,
    flows::Endpoints,
    plan::{proto_name, Plan},
    text::rfc3339_millis,
};

/// One line of the flow log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct FlowRecord<'a> {
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
pub(crate) struct EndFields {
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
    pub(crate) fn of(event: &FlowEvent, plan: &'a Plan, clock: &Clock) -> Option<FlowRecord<'a>> {
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
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a flow record always serializes")
    }
}

#[cfg(test)]
mod tests;
