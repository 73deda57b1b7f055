//! ICMP and ICMPv6 message types and codes, and the errors the builder makes
//! ([`IcmpError`], [`Icmpv6Error`]) with the fields each carries.

/// ICMP (RFC 792) type: echo reply.
pub const ECHO_REPLY: u8 = 0;
/// ICMP type: destination unreachable (codes in [`mod@unreachable`]).
pub const DEST_UNREACHABLE: u8 = 3;
/// ICMP type: echo request.
pub const ECHO_REQUEST: u8 = 8;
/// ICMP type: time exceeded (code 0 TTL exceeded in transit, 1 fragment
/// reassembly time exceeded).
pub const TIME_EXCEEDED: u8 = 11;
/// ICMP type: parameter problem (code 0: the pointer names the octet).
pub const PARAMETER_PROBLEM: u8 = 12;
/// ICMP type: timestamp request (RFC 792), neither an echo nor an error.
pub const TIMESTAMP_REQUEST: u8 = 13;

/// Codes of ICMP destination unreachable (RFC 792, RFC 1122 3.2.2.1).
pub mod unreachable {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191: carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// ICMPv6 (RFC 4443) types.
pub mod v6 {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big (carries the MTU).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem (carries a pointer).
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
}

/// An ICMP error about an IPv4 datagram (RFC 792), for
/// [`super::PacketBuilder::icmp_error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination unreachable with this code ([`mod@unreachable`]; for code
    /// 4 use [`IcmpError::FragNeeded`], which carries the MTU).
    DestUnreachable(u8),
    /// Destination unreachable, fragmentation needed and DF set, with the
    /// MTU of the next hop (RFC 1191 section 4).
    FragNeeded {
        /// MTU of the next-hop network.
        next_hop_mtu: u16,
    },
    /// Time exceeded with this code (0 in transit, 1 reassembly).
    TimeExceeded(u8),
    /// Parameter problem, code 0, pointing at the offending octet of the
    /// quoted header.
    ParameterProblem {
        /// Offset of the octet in the quoted datagram.
        pointer: u8,
    },
}

impl IcmpError {
    /// Type, code and the 4 bytes after the checksum.
    pub(crate) fn header(self) -> (u8, u8, [u8; 4]) {
        match self {
            IcmpError::DestUnreachable(code) => (DEST_UNREACHABLE, code, [0; 4]),
            IcmpError::FragNeeded { next_hop_mtu } => {
                let m = next_hop_mtu.to_be_bytes();
                (
                    DEST_UNREACHABLE,
                    unreachable::FRAG_NEEDED,
                    [0, 0, m[0], m[1]],
                )
            }
            IcmpError::TimeExceeded(code) => (TIME_EXCEEDED, code, [0; 4]),
            IcmpError::ParameterProblem { pointer } => (PARAMETER_PROBLEM, 0, [pointer, 0, 0, 0]),
        }
    }
}

/// An ICMPv6 error about an IPv6 packet (RFC 4443 section 3), for
/// [`super::PacketBuilder::icmp6_error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6Error {
    /// Destination unreachable with this code (0 no route, 1 prohibited,
    /// 3 address, 4 port, ...).
    DestUnreachable(u8),
    /// Packet too big, with the MTU of the next hop.
    PacketTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
    },
    /// Time exceeded with this code (0 hop limit, 1 reassembly).
    TimeExceeded(u8),
    /// Parameter problem with this code, pointing at the offending octet.
    ParameterProblem {
        /// 0 erroneous header field, 1 unknown next header, 2 unknown option.
        code: u8,
        /// Offset of the octet in the quoted packet.
        pointer: u32,
    },
}

impl Icmpv6Error {
    /// Type, code and the 4 bytes after the checksum.
    pub(crate) fn header(self) -> (u8, u8, [u8; 4]) {
        match self {
            Icmpv6Error::DestUnreachable(code) => (v6::DEST_UNREACHABLE, code, [0; 4]),
            Icmpv6Error::PacketTooBig { mtu } => (v6::PACKET_TOO_BIG, 0, mtu.to_be_bytes()),
            Icmpv6Error::TimeExceeded(code) => (v6::TIME_EXCEEDED, code, [0; 4]),
            Icmpv6Error::ParameterProblem { code, pointer } => {
                (v6::PARAMETER_PROBLEM, code, pointer.to_be_bytes())
            }
        }
    }
}

/// The 4 bytes after the checksum of an echo request or reply.
pub(crate) fn echo_rest(id: u16, seq: u16) -> [u8; 4] {
    let (i, s) = (id.to_be_bytes(), seq.to_be_bytes());
    [i[0], i[1], s[0], s[1]]
}
