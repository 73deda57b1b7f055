//! Connection tracking (IPv4).
//!
//! # Design: two halves, created together, never evicted
//!
//! A flow is two entries in [`crate::maps::CT4`], a plain (non-LRU) hash map:
//! the *forward* half keyed by the client's tuple (client -> VIP), and the
//! *reply* half keyed by the backend's tuple (backend -> SNAT address:port).
//! Each half holds the rewrite for its own direction and is enough to find
//! the other half ([`Flow4::other_key`]), and each half counts and
//! timestamps only its own direction, so the two directions never write the
//! same cache line.
//!
//! The table is not an LRU map on purpose: an LRU map may evict one half of
//! a pair (or, on update, any other entry), which silently cuts a live
//! connection. Here the kernel never evicts: the datapath inserts the reply
//! half first (`BPF_NOEXIST`, which also claims the SNAT port atomically) and
//! then the forward half; if the second insert fails the first is removed,
//! so a pair exists whole or not at all. When the table is full, *new* flows
//! are refused and counted ([`crate::Reason::DropConntrackFull`]); live flows
//! are never lost. The loader expires idle flows (both halves) by the
//! timeouts, and under pressure expires not-yet-established flows first.

use core::net::Ipv4Addr;

use crate::{addr4, port};

/// Flow direction stored in [`Flow4::direction`]: client -> backend.
pub const DIR_FORWARD: u8 = 0;
/// Flow direction stored in [`Flow4::direction`]: backend -> client.
pub const DIR_REPLY: u8 = 1;

/// TCP flag bits as in the TCP header's flags byte.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Key of [`crate::maps::CT4`]: a packet's tuple as it arrives.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flow4Key {
    /// Source address, network order.
    pub src_addr: u32,
    /// Destination address, network order.
    pub dst_addr: u32,
    /// Source port, network order.
    pub src_port: u16,
    /// Destination port, network order.
    pub dst_port: u16,
    /// [`crate::IPPROTO_TCP`] or [`crate::IPPROTO_UDP`].
    pub proto: u8,
    /// Padding; zero (keys are compared bytewise). A byte and a word
    /// rather than `[u8; 3]`: the eBPF backend zeroes a 3-byte array with a
    /// call to `memset`, on every packet.
    pub pad8: u8,
    /// Padding; zero.
    pub pad16: u16,
}
const _: () = assert!(core::mem::size_of::<Flow4Key>() == 16);

impl Flow4Key {
    /// A key from host-order values.
    pub const fn new(
        src: Ipv4Addr,
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
        proto: u8,
    ) -> Self {
        Self::from_raw(
            addr4(src),
            port(src_port),
            addr4(dst),
            port(dst_port),
            proto,
        )
    }

    /// A key from network-order addresses and ports (as packets carry them).
    #[inline(always)]
    pub const fn from_raw(
        src_addr: u32,
        src_port: u16,
        dst_addr: u32,
        dst_port: u16,
        proto: u8,
    ) -> Self {
        Self {
            src_addr,
            dst_addr,
            src_port,
            dst_port,
            proto,
            pad8: 0,
            pad16: 0,
        }
    }
}

/// Value of [`crate::maps::CT4`]: one half of a flow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow4 {
    /// Source address written into packets of this half, network order.
    pub nat_src_addr: u32,
    /// Destination address written into packets of this half, network order.
    pub nat_dst_addr: u32,
    /// Source port written into packets of this half, network order.
    pub nat_src_port: u16,
    /// Destination port written into packets of this half, network order.
    pub nat_dst_port: u16,
    /// Backend id (index in [`crate::maps::BACKENDS4`] and
    /// [`crate::maps::BACKEND_STATS`]).
    pub backend_id: u32,
    /// `bpf_ktime_get_coarse_ns` (CLOCK_MONOTONIC) when the flow started.
    pub created_ns: u64,
    /// `bpf_ktime_get_coarse_ns` of the last packet in this direction,
    /// refreshed in place by the datapath.
    pub last_seen_ns: u64,
    /// Packets seen in this direction.
    pub packets: u64,
    /// IPv4 bytes seen in this direction.
    pub bytes: u64,
    /// [`DIR_FORWARD`] or [`DIR_REPLY`].
    pub direction: u8,
    /// OR of the TCP flags seen in this direction (0 for UDP).
    pub tcp_flags: u8,
    /// MTU of the cached egress (0: unknown), host order: a packet of this
    /// half larger than it is not sent there (formerly padding).
    pub egress_mtu: u16,
    /// Service id.
    pub service_id: u32,
    /// Egress of this direction's packets as the datapath last looked it
    /// up (0: none): the ifindex the FIB gave.
    pub egress_ifindex: u32,
    /// MAC of the egress interface.
    pub egress_smac: [u8; 6],
    /// MAC of the next hop.
    pub egress_dmac: [u8; 6],
    /// `bpf_ktime_get_coarse_ns` of that lookup; the datapath looks the
    /// route up again once it is older than [`EGRESS_CACHE_NS`].
    pub egress_ns: u64,
}
const _: () = assert!(core::mem::size_of::<Flow4>() == 80);

/// How long the datapath reuses a flow's cached egress (route and next-hop
/// MAC) before it asks the FIB again: a route or neighbour change reaches
/// established flows within this time.
pub const EGRESS_CACHE_NS: u64 = 1_000_000_000;

impl Flow4 {
    /// The key of the other half of this flow.
    ///
    /// Packets of the other half travel the opposite way of the packets this
    /// half writes: their source is this half's new destination and their
    /// destination this half's new source. The same formula holds for both
    /// halves.
    #[inline(always)]
    pub const fn other_key(&self, proto: u8) -> Flow4Key {
        Flow4Key::from_raw(
            self.nat_dst_addr,
            self.nat_dst_port,
            self.nat_src_addr,
            self.nat_src_port,
            proto,
        )
    }
}

/// Connection state of a flow, derived from the flags both halves saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// UDP: idle timeout only.
    Udp,
    /// ICMP echo (a query session, RFC 5508): idle timeout only.
    Icmp,
    /// TCP opening (half-open): the three-way handshake is not complete.
    TcpOpening,
    /// TCP established: the client's SYN, the backend's SYN-ACK and the
    /// client's ACK seen, no FIN or RST.
    TcpEstablished,
    /// TCP closing: FIN or RST seen.
    TcpClosing,
}

/// The state of a flow of protocol `proto` whose halves saw `forward_flags`
/// and `reply_flags`.
pub const fn flow_state(proto: u8, forward_flags: u8, reply_flags: u8) -> FlowState {
    if proto == crate::IPPROTO_ICMP {
        return FlowState::Icmp;
    }
    if proto != crate::IPPROTO_TCP {
        return FlowState::Udp;
    }
    let all = forward_flags | reply_flags;
    if all & (tcp_flags::FIN | tcp_flags::RST) != 0 {
        FlowState::TcpClosing
    } else if forward_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN | tcp_flags::ACK
        && reply_flags & tcp_flags::SYN != 0
    {
        // The client's ACK: a SYN and the backend's SYN-ACK alone (a
        // spoofed source never answers) leave the flow half-open.
        FlowState::TcpEstablished
    } else {
        FlowState::TcpOpening
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IPPROTO_TCP;

    #[test]
    fn other_key_round_trips() {
        let client = Ipv4Addr::new(198, 18, 0, 1);
        let vip = Ipv4Addr::new(198, 18, 1, 1);
        let snat = Ipv4Addr::new(198, 19, 0, 1);
        let backend = Ipv4Addr::new(198, 19, 0, 2);
        let fwd_key = Flow4Key::new(client, 40000, vip, 80, IPPROTO_TCP);
        let fwd = Flow4 {
            nat_src_addr: addr4(snat),
            nat_dst_addr: addr4(backend),
            nat_src_port: port(20000),
            nat_dst_port: port(8080),
            ..Default::default()
        };
        let rev_key = fwd.other_key(IPPROTO_TCP);
        assert_eq!(
            rev_key,
            Flow4Key::new(backend, 8080, snat, 20000, IPPROTO_TCP)
        );
        let rev = Flow4 {
            nat_src_addr: addr4(vip),
            nat_dst_addr: addr4(client),
            nat_src_port: port(80),
            nat_dst_port: port(40000),
            ..Default::default()
        };
        assert_eq!(rev.other_key(IPPROTO_TCP), fwd_key);
    }

    #[test]
    fn states() {
        use tcp_flags::*;
        assert_eq!(flow_state(17, 0, 0), FlowState::Udp);
        assert_eq!(flow_state(IPPROTO_TCP, SYN, 0), FlowState::TcpOpening);
        // Answered, but the client never acknowledged the SYN-ACK.
        assert_eq!(
            flow_state(IPPROTO_TCP, SYN, SYN | ACK),
            FlowState::TcpOpening
        );
        assert_eq!(
            flow_state(IPPROTO_TCP, SYN | ACK, SYN | ACK),
            FlowState::TcpEstablished
        );
        // The client's ACK before any SYN-ACK: still opening.
        assert_eq!(flow_state(IPPROTO_TCP, SYN | ACK, 0), FlowState::TcpOpening);
        assert_eq!(
            flow_state(IPPROTO_TCP, SYN | ACK, SYN | ACK),
            FlowState::TcpEstablished
        );
        assert_eq!(
            flow_state(IPPROTO_TCP, SYN | ACK | FIN, SYN | ACK),
            FlowState::TcpClosing
        );
        assert_eq!(flow_state(IPPROTO_TCP, SYN, RST), FlowState::TcpClosing);
    }
}
