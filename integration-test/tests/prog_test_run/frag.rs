//! The fragment rows of the main table (they run after the others): a
//! datagram cut in three by the client and the backend's answer cut in
//! three, each fragment translated like its first; fragments the relay
//! cannot place go to the kernel.
//!
//! Expected fragments are those of the translated datagram, cut the same
//! way by the test crate's builder: the first carries the UDP checksum of
//! the whole translated datagram.

use fwd_common::{Reason, IPPROTO_UDP};
use integration_test::{addr::sa, packet::PacketBuilder, prog_test_run::env::*};

use crate::{
    case::{Case, Dir},
    model::SnatModel,
};

/// Bytes of data per fragment (a multiple of 8).
const PIECE: usize = 1200;

/// The rows; `snat` predicts the SNAT port of the flow they open.
pub fn fragment_cases(snat: &mut SnatModel) -> Vec<Case> {
    let client = sa(CLIENT, 42000);
    let vip = sa(VIP, VIP_UDP_PORT);
    let backend = sa(BACKEND, 53);
    let port = snat
        .claim(client, vip, IPPROTO_UDP, backend)
        .expect("a free SNAT port");
    let snat_at = sa(SNAT, port);
    let query: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
    let answer: Vec<u8> = (0..3000).map(|i| (i % 241) as u8).collect();

    let sent = PacketBuilder::udp(client, vip)
        .payload(&query)
        .ip_id(0x4242)
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .fragments(PIECE);
    let forwarded = PacketBuilder::udp(snat_at, backend)
        .payload(&query)
        .ip_id(0x4242)
        .ttl(63)
        .macs(BACKEND_IF_MAC, BACKEND_MAC)
        .fragments(PIECE);
    let answered = PacketBuilder::udp(backend, snat_at)
        .payload(&answer)
        .ip_id(0x5151)
        .macs(BACKEND_MAC, BACKEND_IF_MAC)
        .fragments(PIECE);
    let returned = PacketBuilder::udp(vip, client)
        .payload(&answer)
        .ip_id(0x5151)
        .ttl(63)
        .macs(CLIENT_IF_MAC, CLIENT_MAC)
        .fragments(PIECE);
    assert_eq!((sent.len(), answered.len()), (3, 3), "three fragments each");

    let mut first_back = Case::translated(
        "the first fragment of the backend's answer is translated by its flow",
        BACKEND_IF,
        answered[0].clone(),
        Reason::ForwardedRedirect,
        returned[0].clone(),
    )
    .backend(backend_id::UDP);
    first_back.backend = Some((backend_id::UDP, Dir::ToClient));
    vec![
        Case::translated(
            "the first fragment of a client's datagram opens its flow, translated",
            CLIENT_IF,
            sent[0].clone(),
            Reason::ForwardedRedirect,
            forwarded[0].clone(),
        )
        .backend(backend_id::UDP)
        .new_flow(),
        Case::sent(
            "a middle fragment gets its first's addresses",
            CLIENT_IF,
            sent[1].clone(),
            Reason::ForwardedFragmentRedirect,
            forwarded[1].clone(),
        ),
        Case::sent(
            "the last fragment too",
            CLIENT_IF,
            sent[2].clone(),
            Reason::ForwardedFragmentRedirect,
            forwarded[2].clone(),
        ),
        first_back,
        // Out of order: the last before the middle.
        Case::sent(
            "the answer's last fragment, ahead of its middle one, goes back to the client",
            BACKEND_IF,
            answered[2].clone(),
            Reason::ForwardedFragmentRedirect,
            returned[2].clone(),
        ),
        Case::sent(
            "the answer's middle fragment goes back to the client",
            BACKEND_IF,
            answered[1].clone(),
            Reason::ForwardedFragmentRedirect,
            returned[1].clone(),
        ),
    ]
}
