//! Who may open flows to a service: its `allow` and `deny` source
//! prefixes, in one longest-prefix-match table ([`crate::maps::ACCESS4`]).
//!
//! A key is the service id and the source address; its prefix length
//! counts the 32 bits of the id plus the prefix's own, so a lookup only
//! ever matches the service's own entries. `deny` is evaluated first: the
//! loader writes every deny prefix, and an allow prefix only where no deny
//! prefix covers it, so the longest match is a deny wherever one applies.
//! A source that matches nothing is refused when the service has an
//! `allow` list (`crate::service::service_flags::ALLOW_LIST`), admitted
//! otherwise. Checked when a flow is created; packets of existing flows
//! are never looked up.

/// The data of a [`crate::maps::ACCESS4`] key (after its prefix length).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access4Key {
    /// The service id, big-endian (its 32 bits are always matched whole).
    pub service_id_be: u32,
    /// The source address, network order.
    pub addr: u32,
}
const _: () = assert!(core::mem::size_of::<Access4Key>() == 8);

/// Prefix length of a key for a source prefix of `len` bits.
pub const fn prefix_len(len: u8) -> u32 {
    32 + len as u32
}

/// Value of an entry that admits its sources.
pub const ALLOW: u32 = 1;
/// Value of an entry that refuses its sources.
pub const DENY: u32 = 2;
