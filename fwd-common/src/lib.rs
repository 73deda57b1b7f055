//! Types shared by the fwd XDP program (`fwd-ebpf`) and its loader (`fwd`).
//!
//! Everything that crosses the kernel/userspace boundary is defined here once:
//! map keys and values, the list of reasons the program returns a verdict for,
//! and the pure arithmetic both sides must agree on (checksums, flow hash,
//! SNAT port candidates).
//!
//! Layout rules for map types (they are a stable interface between a running
//! program and a newer loader): `#[repr(C)]`, integer fields only, explicit
//! padding, a size assertion each; fields are appended, never reordered, and
//! retired fields stay as `reserved`. Addresses and ports are stored exactly
//! as they appear on the wire (network byte order in memory), so the datapath
//! never converts them; constructors from [`core::net::Ipv4Addr`] and host-order
//! ports are provided for userspace and tests.
//!
//! IPv4 types carry a `4` in their name; IPv6 gets its own types and maps
//! later, leaving these unchanged.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod access;
pub mod budget;
pub mod config;
pub mod counters;
pub mod csum;
pub mod events;
pub mod flow;
pub mod frag;
pub mod hash;
pub mod maps;
pub mod service;

pub use config::RelayConfig;
pub use counters::{BackendStats, Counter, Reason, ReasonCounters};
pub use events::FlowEvent;
pub use flow::{Flow4, Flow4Key};
pub use service::{Backend4, Service4, Service4Key};

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IANA protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Converts an address to the in-memory form stored in maps (network order).
#[inline(always)]
pub const fn addr4(addr: core::net::Ipv4Addr) -> u32 {
    u32::from_ne_bytes(addr.octets())
}

/// Converts a stored (network order) address back to an [`core::net::Ipv4Addr`].
#[inline(always)]
pub const fn addr4_from_raw(raw: u32) -> core::net::Ipv4Addr {
    let o = raw.to_ne_bytes();
    core::net::Ipv4Addr::new(o[0], o[1], o[2], o[3])
}

/// Converts a host-order port to the in-memory form stored in maps.
#[inline(always)]
pub const fn port(port: u16) -> u16 {
    port.to_be()
}

/// Converts a stored (network order) port to host order.
#[inline(always)]
pub const fn port_from_raw(raw: u16) -> u16 {
    u16::from_be(raw)
}

/// Marks the map value types as plain old data for aya (userspace only).
#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: every type below is `#[repr(C)]`, made only of integers, with
    // explicit padding and a size assertion: every bit pattern is valid.
    unsafe impl aya::Pod for crate::access::Access4Key {}
    unsafe impl aya::Pod for Service4Key {}
    unsafe impl aya::Pod for Service4 {}
    unsafe impl aya::Pod for Backend4 {}
    unsafe impl aya::Pod for Flow4Key {}
    unsafe impl aya::Pod for Flow4 {}
    unsafe impl aya::Pod for Counter {}
    unsafe impl aya::Pod for ReasonCounters {}
    unsafe impl aya::Pod for BackendStats {}
    unsafe impl aya::Pod for RelayConfig {}
    unsafe impl aya::Pod for FlowEvent {}
    unsafe impl aya::Pod for crate::frag::Frag4Key {}
    unsafe impl aya::Pod for crate::frag::Frag4 {}
}
