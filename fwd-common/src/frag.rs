//! IPv4 fragments of relayed flows.
//!
//! Only the first fragment of a datagram carries its ports; the datapath
//! translates it like any packet of its flow and records the new addresses
//! under the datagram's identity ([`Frag4Key`]: source, destination,
//! protocol, IP id). A later fragment finds them there and gets the same
//! addresses (it has no transport header to change).
//!
//! A later fragment that arrives before its first, addressed to a VIP or a
//! SNAT address ([`crate::maps::FRAG_ADDRS4`]), is held: the datapath
//! copies it into [`crate::maps::FRAGMENTS`] and marks its datagram
//! [`FRAG_WAITING`]. When the first fragment comes, the datapath records
//! the datagram [`FRAG_RELAYED`] (or [`FRAG_PASSED`] when the first went
//! to the kernel) and sends a release ([`ParkedFragment`] without a frame);
//! the loader then runs the held fragments through the program again
//! (`BPF_PROG_TEST_RUN` with live frames), which translates or passes them
//! like any later fragment. Held fragments whose first never comes are
//! dropped after [`FRAG_TIMEOUT_NS`].
//!
//! The table ([`crate::maps::FRAG4`]) is a plain hash of its own with a
//! fixed size: a flood of fragments is refused (and counted) once it is
//! full, and never touches the connection table (RFC 4787 REQ-14). A
//! datagram's entry is deleted when all its bytes have been seen, and the
//! loader deletes entries older than [`FRAG_TIMEOUT_NS`].

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

/// [`Frag4::state`]: later fragments are held until the first arrives.
pub const FRAG_WAITING: u8 = 0;
/// [`Frag4::state`]: the first fragment was relayed; later ones are
/// translated to [`Frag4::nat_src_addr`] -> [`Frag4::nat_dst_addr`].
pub const FRAG_RELAYED: u8 = 1;
/// [`Frag4::state`]: the first fragment went to the kernel; later ones go
/// there too.
pub const FRAG_PASSED: u8 = 2;

/// Value of [`crate::maps::FRAG4`]: what happens to a datagram's later
/// fragments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frag4 {
    /// New source address, network order (when [`FRAG_RELAYED`]).
    pub nat_src_addr: u32,
    /// New destination address, network order (when [`FRAG_RELAYED`]).
    pub nat_dst_addr: u32,
    /// When the entry was made (`bpf_ktime_get_coarse_ns`).
    pub created_ns: u64,
    /// Payload bytes of the fragments handled so far (held ones are
    /// counted when they are handled again).
    pub seen: u32,
    /// Payload bytes of the whole datagram, 0 until its last fragment is
    /// handled.
    pub total: u32,
    /// [`FRAG_WAITING`], [`FRAG_RELAYED`] or [`FRAG_PASSED`].
    pub state: u8,
    /// Padding; zero.
    pub pad: [u8; 7],
}
const _: () = assert!(core::mem::size_of::<Frag4>() == 32);

impl Frag4 {
    /// Whether the entry is too old to be used (`now` from the same clock).
    pub const fn expired(&self, now: u64) -> bool {
        now.wrapping_sub(self.created_ns) >= FRAG_TIMEOUT_NS
    }

    /// Whether every byte of the datagram has been handled.
    pub const fn complete(&self) -> bool {
        self.total != 0 && self.seen >= self.total
    }
}

/// How long a datagram's fragments are held or translated after its entry
/// was made (the kernel's `ipfrag_time` default).
pub const FRAG_TIMEOUT_NS: u64 = 30_000_000_000;

/// [`ParkedFragment::kind`]: a held fragment; the frame follows.
pub const PARKED_FRAME: u8 = 1;
/// [`ParkedFragment::kind`]: the first fragment of [`ParkedFragment::key`]
/// was handled: run its held fragments again.
pub const PARKED_RELEASE: u8 = 2;

/// Longest frame the datapath holds, in bytes (a 9000-byte MTU and its
/// Ethernet header, VLAN tag included); longer ones are dropped and
/// counted.
pub const MAX_PARKED_FRAME: usize = 9216;

/// Header of one item of [`crate::maps::FRAGMENTS`], followed by
/// `frame_len` bytes of frame for [`PARKED_FRAME`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParkedFragment {
    /// [`PARKED_FRAME`] or [`PARKED_RELEASE`].
    pub kind: u8,
    /// Padding; zero.
    pub pad: [u8; 3],
    /// The interface the frame came in on.
    pub ifindex: u32,
    /// The datagram.
    pub key: Frag4Key,
    /// Length of the frame that follows (0 for a release).
    pub frame_len: u32,
}
const _: () = assert!(core::mem::size_of::<ParkedFragment>() == 24);

/// Length of [`ParkedFragment`], where the frame starts in an item.
pub const PARKED_HEADER_LEN: usize = core::mem::size_of::<ParkedFragment>();
