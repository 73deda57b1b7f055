//! Unit tests of the builder and the parsers: round trips, checksums, what
//! the parsers refuse, and known-answer bytes for every kind of packet.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

pub(super) use crate::addr::sa;

mod ipv4;
mod kinds;
mod known_answers;

/// A client.
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The relay's client-side address.
const RELAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// A VIP.
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 100, 1);
/// The relay's backend-side (SNAT) address.
const SNAT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// A backend.
const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// IPv6 hosts (documentation prefix).
const HOST6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const HOST6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99);
/// A UDP client and server over IPv6.
const CLIENT6: SocketAddrV6 = SocketAddrV6::new(HOST6_A, 5000, 0, 0);
const SERVER6: SocketAddrV6 = SocketAddrV6::new(HOST6_B, 53, 0, 0);

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
