//! Flows built by hand for the unit tests: both halves of a flow as the
//! datapath creates them, from the four endpoints and per-direction state.

use std::net::{Ipv4Addr, SocketAddrV4};

use fwd_common::{
    addr4,
    flow::{DIR_FORWARD, DIR_REPLY},
    port, Flow4, Flow4Key,
};

/// One flow: its endpoints and what each half saw ([0]: forward half,
/// client to backend; [1]: reply half).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TestFlow {
    /// IP protocol.
    pub proto: u8,
    /// The client.
    pub client: SocketAddrV4,
    /// The VIP and service port.
    pub vip: SocketAddrV4,
    /// The relay's SNAT address and port.
    pub snat: SocketAddrV4,
    /// The backend.
    pub backend: SocketAddrV4,
    /// Backend id.
    pub backend_id: u32,
    /// Service id.
    pub service_id: u32,
    /// Creation time of both halves.
    pub created_ns: u64,
    /// Last packet of each half.
    pub last_seen_ns: [u64; 2],
    /// Packets of each half.
    pub packets: [u64; 2],
    /// Bytes of each half.
    pub bytes: [u64; 2],
    /// TCP flags each half saw.
    pub tcp_flags: [u8; 2],
}

impl TestFlow {
    /// A flow of `proto` with every counter and time zero.
    pub(crate) fn new(
        proto: u8,
        client: SocketAddrV4,
        vip: SocketAddrV4,
        snat: SocketAddrV4,
        backend: SocketAddrV4,
    ) -> TestFlow {
        TestFlow {
            proto,
            client,
            vip,
            snat,
            backend,
            backend_id: 0,
            service_id: 0,
            created_ns: 0,
            last_seen_ns: [0; 2],
            packets: [0; 2],
            bytes: [0; 2],
            tcp_flags: [0; 2],
        }
    }

    /// The two halves, keyed as the datapath keys them: the forward half by
    /// client -> VIP, the reply half by backend -> SNAT.
    pub(crate) fn halves(&self) -> [(Flow4Key, Flow4); 2] {
        let key = |a: SocketAddrV4, b: SocketAddrV4| {
            Flow4Key::new(*a.ip(), a.port(), *b.ip(), b.port(), self.proto)
        };
        let half = |i: usize, src: SocketAddrV4, dst: SocketAddrV4, direction| Flow4 {
            nat_src_addr: addr4(*src.ip()),
            nat_dst_addr: addr4(*dst.ip()),
            nat_src_port: port(src.port()),
            nat_dst_port: port(dst.port()),
            backend_id: self.backend_id,
            service_id: self.service_id,
            created_ns: self.created_ns,
            last_seen_ns: self.last_seen_ns[i],
            packets: self.packets[i],
            bytes: self.bytes[i],
            direction,
            tcp_flags: self.tcp_flags[i],
            ..Default::default()
        };
        [
            (
                key(self.client, self.vip),
                half(0, self.snat, self.backend, DIR_FORWARD),
            ),
            (
                key(self.backend, self.snat),
                half(1, self.vip, self.client, DIR_REPLY),
            ),
        ]
    }
}

/// `addr:port`.
pub(crate) fn sa(addr: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(addr, port)
}

/// `A.B.C.D:PORT` from text.
pub(crate) fn socket(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}
