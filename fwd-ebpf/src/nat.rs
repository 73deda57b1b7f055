//! [`Nat`]: the addresses and ports a translated packet leaves with, asked
//! of the FIB by `route`, chosen by `conntrack`, written by `rewrite`.

use fwd_common::Flow4;

/// The addresses and ports a packet leaves with (network order). Named
/// fields, so that a source can never be passed as a destination.
pub struct Nat {
    /// New source address.
    pub src_addr: u32,
    /// New destination address.
    pub dst_addr: u32,
    /// New source port.
    pub src_port: u16,
    /// New destination port.
    pub dst_port: u16,
}

impl Nat {
    /// The translation a flow's half holds.
    #[inline(always)]
    pub fn of(flow: &Flow4) -> Nat {
        Nat {
            src_addr: flow.nat_src_addr,
            dst_addr: flow.nat_dst_addr,
            src_port: flow.nat_src_port,
            dst_port: flow.nat_dst_port,
        }
    }
}
