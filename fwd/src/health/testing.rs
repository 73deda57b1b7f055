//! Flows built by hand for the unit tests of health (the halves the
//! datapath creates for a new flow).

use std::net::Ipv4Addr;

use fwd_common::{Flow4, Flow4Key};

use crate::testing::{sa, TestFlow};

/// The client.
pub(super) const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The VIP.
pub(super) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 100, 1);
/// The relay's SNAT address.
pub(super) const SNAT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The backend.
pub(super) const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);

/// The two halves of a flow of `proto` from client port `cport` through
/// SNAT port `sport` to backend `backend_id`, created at `created_ns`,
/// with the TCP flags each direction saw.
pub(super) fn flow(
    proto: u8,
    cport: u16,
    sport: u16,
    backend_id: u32,
    created_ns: u64,
    fwd_flags: u8,
    reply_flags: u8,
) -> [(Flow4Key, Flow4); 2] {
    TestFlow {
        backend_id,
        created_ns,
        last_seen_ns: [created_ns; 2],
        packets: [1, 0],
        tcp_flags: [fwd_flags, reply_flags],
        ..TestFlow::new(
            proto,
            sa(CLIENT, cport),
            sa(VIP, 443),
            sa(SNAT, sport),
            sa(BACKEND, 443),
        )
    }
    .halves()
}
