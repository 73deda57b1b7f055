//! Flows built by hand for the unit tests of health (the halves the
//! datapath creates for a new flow).

use std::net::Ipv4Addr;

use fwd_common::{
    addr4,
    flow::{DIR_FORWARD, DIR_REPLY},
    port, Flow4, Flow4Key,
};

/// The client.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The VIP.
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 100, 1);
/// The relay's SNAT address.
pub const SNAT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The backend.
pub const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);

/// The two halves of a flow of `proto` from client port `cport` through
/// SNAT port `sport` to backend `backend_id`, created at `created_ns`,
/// with the TCP flags each direction saw.
pub fn flow(
    proto: u8,
    cport: u16,
    sport: u16,
    backend_id: u32,
    created_ns: u64,
    fwd_flags: u8,
    reply_flags: u8,
) -> [(Flow4Key, Flow4); 2] {
    let fkey = Flow4Key::new(CLIENT, cport, VIP, 443, proto);
    let forward = Flow4 {
        nat_src_addr: addr4(SNAT),
        nat_dst_addr: addr4(BACKEND),
        nat_src_port: port(sport),
        nat_dst_port: port(443),
        backend_id,
        service_id: 0,
        created_ns,
        last_seen_ns: created_ns,
        packets: 1,
        direction: DIR_FORWARD,
        tcp_flags: fwd_flags,
        ..Default::default()
    };
    let rkey = forward.other_key(proto);
    let reply = Flow4 {
        nat_src_addr: addr4(VIP),
        nat_dst_addr: addr4(CLIENT),
        nat_src_port: port(443),
        nat_dst_port: port(cport),
        backend_id,
        created_ns,
        last_seen_ns: created_ns,
        direction: DIR_REPLY,
        tcp_flags: reply_flags,
        ..Default::default()
    };
    [(fkey, forward), (rkey, reply)]
}
