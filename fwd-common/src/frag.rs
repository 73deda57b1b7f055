//! IPv4 fragments of relayed flows.
//!
//! Only the first fragment of a datagram carries its ports; the datapath
//! translates it like any packet of its flow and records the new addresses
//! under the datagram's identity ([`Frag4Key`]: source, destination,
//! protocol, IP id). A later fragment finds them there and gets the same
//! addresses (it has no transport header to change). The table
//! ([`crate::maps::FRAG4`]) is an LRU map of its own, so a flood of
//! fragments evicts only fragment entries and never touches the
//! connection table (RFC 4787 REQ-14).

/// Key of [`crate::maps::FRAG4`]: a fragmented datagram as it arrives.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Frag4Key {
    /// Source address, network order.
    pub src_addr: u32,
    /// Destination address, network order.
    pub dst_addr: u32,
    /// IP identification, network order.
    pub id: u16,
    /// IP protocol.
    pub proto: u8,
    /// Padding; zero.
    pub pad: u8,
}
const _: () = assert!(core::mem::size_of::<Frag4Key>() == 12);

/// Value of [`crate::maps::FRAG4`]: how the datagram's fragments leave.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frag4 {
    /// New source address, network order.
    pub nat_src_addr: u32,
    /// New destination address, network order.
    pub nat_dst_addr: u32,
    /// When the first fragment was translated
    /// (`bpf_ktime_get_coarse_ns`).
    pub created_ns: u64,
}
const _: () = assert!(core::mem::size_of::<Frag4>() == 16);

/// How long after its first fragment a datagram's later ones are still
/// translated (the kernel's `ipfrag_time` default).
pub const FRAG_TIMEOUT_NS: u64 = 30_000_000_000;
