//! A row of the packet tests' tables ([`Case`]), and the frames rows are
//! made of.

use fwd_common::Reason;
use integration_test::{packet::PacketBuilder, prog_test_run::env::*};

/// Which way a translated packet goes, for the backend counters.
#[derive(Clone, Copy, Debug)]
pub enum Dir {
    ToBackend,
    ToClient,
}

/// One row of the table.
pub struct Case {
    pub name: &'static str,
    /// Interface the frame arrives on.
    pub ingress: &'static str,
    pub input: Vec<u8>,
    /// The reason counted; its action is the expected verdict.
    pub reason: Reason,
    /// The expected output frame; `None`: the input, unchanged.
    pub output: Option<Vec<u8>>,
    /// The backend whose counters move, and which way.
    pub backend: Option<(u32, Dir)>,
    /// Whether the case starts a flow (flows_created + 1).
    pub new_flow: bool,
    /// Change in the number of CT4 entries.
    pub ct_delta: i64,
    /// The flow end the case reports (an `end_reason`), if any.
    pub ends: Option<u8>,
}

impl Case {
    pub fn pass(name: &'static str, ingress: &'static str, input: Vec<u8>, reason: Reason) -> Self {
        Case {
            name,
            ingress,
            input,
            reason,
            output: None,
            backend: None,
            new_flow: false,
            ct_delta: 0,
            ends: None,
        }
    }

    pub fn translated(
        name: &'static str,
        ingress: &'static str,
        input: Vec<u8>,
        reason: Reason,
        output: Vec<u8>,
    ) -> Self {
        let dir = if ingress == CLIENT_IF {
            Dir::ToBackend
        } else {
            Dir::ToClient
        };
        Case {
            name,
            ingress,
            input,
            reason,
            output: Some(output),
            backend: Some((u32::MAX, dir)),
            new_flow: false,
            ct_delta: 0,
            ends: None,
        }
    }

    /// A packet the program translates or answers without moving any
    /// backend's counters or the table (ICMP errors, answers).
    pub fn sent(
        name: &'static str,
        ingress: &'static str,
        input: Vec<u8>,
        reason: Reason,
        output: Vec<u8>,
    ) -> Self {
        Case {
            output: Some(output),
            ..Case::pass(name, ingress, input, reason)
        }
    }

    pub fn backend(mut self, id: u32) -> Self {
        let dir = self.backend.map(|(_, d)| d).unwrap_or(Dir::ToBackend);
        self.backend = Some((id, dir));
        self
    }

    pub fn new_flow(mut self) -> Self {
        self.new_flow = true;
        self.ct_delta = 2;
        self
    }

    pub fn ends(mut self, reason: u8) -> Self {
        self.ends = Some(reason);
        self
    }

    pub fn reopened_flow(mut self) -> Self {
        self.new_flow = true;
        self
    }
}

/// Frames from the client side carry these MACs; translated frames to the
/// backend carry the relay's backend-side MAC and the backend's.
pub fn from_client(b: PacketBuilder) -> Vec<u8> {
    b.macs(CLIENT_MAC, CLIENT_IF_MAC).build()
}
/// A frame from the backend to the relay.
pub fn from_backend(b: PacketBuilder) -> Vec<u8> {
    b.macs(BACKEND_MAC, BACKEND_IF_MAC).build()
}
/// A frame the relay sends on to the backend (TTL decremented).
pub fn to_backend(b: PacketBuilder) -> Vec<u8> {
    b.macs(BACKEND_IF_MAC, BACKEND_MAC).ttl(63).build()
}
/// A frame the relay sends on to the client (TTL decremented).
pub fn to_client(b: PacketBuilder) -> Vec<u8> {
    b.macs(CLIENT_IF_MAC, CLIENT_MAC).ttl(63).build()
}
