//! The fragment rows of the main table (they run after the others): a
//! datagram cut in three by the client and the backend's answer cut in
//! three, each fragment translated like its first; a later fragment to an
//! address the relay does not serve goes to the kernel (one to a VIP ahead
//! of its first is held: a row of the main table). Then sequences a row cannot express: held fragments run
//! again once their first came (translated, or passed after a first the
//! relay did not take), and the bounds of what is held.
//!
//! Expected fragments are those of the translated datagram, cut the same
//! way by the test crate's builder: the first carries the UDP checksum of
//! the whole translated datagram.

use std::net::{Ipv4Addr, SocketAddrV4};

use fwd::datapath::{HeldFragments, Parked};
use fwd_common::{
    counters::xdp_action,
    frag::{Frag4Key, FRAG_PASSED, FRAG_TIMEOUT_NS, FRAG_WAITING, PARKED_HEADER_LEN},
    maps::{FRAGMENTS_BYTES, MAX_FRAGMENTED},
    Reason, IPPROTO_UDP,
};
use integration_test::{
    addr::sa,
    packet::PacketBuilder,
    prog_test_run::{
        env::*,
        run::{run, snapshot},
    },
};

use crate::{
    case::{Case, Dir},
    model::SnatModel,
    runner::check_checksums,
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
        Case::pass(
            "the first fragment of an echo the relay answers is the kernel's (it needs all)",
            CLIENT_IF,
            PacketBuilder::icmp_echo_request(CLIENT, VIP, 0x77, 1)
                .payload(&query)
                .ip_id(0x6003)
                .macs(CLIENT_MAC, CLIENT_IF_MAC)
                .fragments(PIECE)
                .remove(0),
            Reason::PassFragment,
        ),
        Case::pass(
            "a later fragment to an address the relay does not serve is the kernel's",
            CLIENT_IF,
            datagram(sa(CLIENT, 42002), sa(OTHER, 53), 0x6002)[1].clone(),
            Reason::PassFragment,
        ),
    ]
}

/// An address on the client side that is neither a VIP nor a SNAT address.
const OTHER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 99);

/// A client's 3000-byte UDP datagram cut in three fragments.
fn datagram(from: SocketAddrV4, to: SocketAddrV4, id: u16) -> Vec<Vec<u8>> {
    let data: Vec<u8> = (0..3000).map(|i| (i % 239) as u8).collect();
    PacketBuilder::udp(from, to)
        .payload(&data)
        .ip_id(id)
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .fragments(PIECE)
}

/// The key the datapath files `frame`'s datagram under.
fn key_of(frame: &[u8]) -> Frag4Key {
    let ip = &frame[14..];
    let be = |at: usize| u32::from_ne_bytes([ip[at], ip[at + 1], ip[at + 2], ip[at + 3]]);
    Frag4Key {
        src_addr: be(12),
        dst_addr: be(16),
        id: u16::from_ne_bytes([ip[4], ip[5]]),
        proto: ip[9],
        pad: 0,
    }
}

/// Every item queued in the ring of held fragments.
fn drain(ring: &mut HeldFragments) -> Vec<Parked> {
    let items = std::iter::from_fn(|| ring.next_item()).collect();
    assert_eq!(ring.skipped(), 0, "malformed items in the ring");
    items
}

/// The last and middle fragments of a client's datagram come before its
/// first: both are held (the frame copied to the ring as it came, the
/// program drops it); the first opens the flow and releases the datagram;
/// run again (as the loader does), the held ones leave translated byte for
/// byte, and the datagram's entry is gone once all its bytes were seen.
/// A datagram to a VIP port no service listens on: its first goes to the
/// kernel, and so do its held fragments when run again.
pub fn held_until_their_first() {
    let mut dp = datapath();
    let mut ring = dp
        .take_held_fragments()
        .expect("the ring of held fragments");
    let client_if = ifindex(CLIENT_IF);
    let (client, vip) = (sa(CLIENT, 43000), sa(VIP, VIP_UDP_PORT));
    let mut snat = SnatModel::default();
    let port = snat
        .claim(client, vip, IPPROTO_UDP, sa(BACKEND, 53))
        .expect("a free SNAT port");
    let sent = datagram(client, vip, 0x7001);
    let data: Vec<u8> = (0..3000).map(|i| (i % 239) as u8).collect();
    let forwarded = PacketBuilder::udp(sa(SNAT, port), sa(BACKEND, 53))
        .payload(&data)
        .ip_id(0x7001)
        .ttl(63)
        .macs(BACKEND_IF_MAC, BACKEND_MAC)
        .fragments(PIECE);
    let key = key_of(&sent[0]);

    for i in [2, 1] {
        let out = run(&mut dp, client_if, &sent[i]);
        assert_eq!(out.action, xdp_action::DROP, "fragment {i} is held");
        let held = Parked::Frame {
            key,
            ifindex: client_if,
            frame: sent[i].clone(),
        };
        assert_eq!(drain(&mut ring), vec![held], "fragment {i} in the ring");
    }
    let waiting = dp.fragmented(&key).unwrap().expect("the datagram waits");
    assert_eq!(waiting.state, FRAG_WAITING);

    let first = run(&mut dp, client_if, &sent[0]);
    assert_eq!(first.action, xdp_action::REDIRECT);
    assert_eq!(first.frame, forwarded[0], "the first fragment, translated");
    assert_eq!(drain(&mut ring), vec![Parked::Release { key }]);

    let before = snapshot(&dp, 0);
    for i in [2, 1] {
        let out = run(&mut dp, client_if, &sent[i]);
        assert_eq!(out.action, xdp_action::REDIRECT, "fragment {i} run again");
        assert_eq!(out.frame, forwarded[i], "fragment {i}, translated");
        check_checksums("a held fragment run again", &out.frame);
    }
    assert_eq!(
        snapshot(&dp, 0).reasons_changed_since(&before),
        vec![(Reason::ForwardedFragmentRedirect, 2)]
    );
    assert_eq!(dp.fragmented(&key).unwrap(), None, "all bytes seen: gone");

    // No service on this port: the first is the kernel's, and so are the
    // held ones.
    let closed = datagram(sa(CLIENT, 43001), sa(VIP, 9), 0x7002);
    let key = key_of(&closed[0]);
    assert_eq!(run(&mut dp, client_if, &closed[2]).action, xdp_action::DROP);
    assert_eq!(run(&mut dp, client_if, &closed[0]).action, xdp_action::PASS);
    let items = drain(&mut ring);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[1], Parked::Release { key });
    let passed = dp.fragmented(&key).unwrap().expect("the datagram's entry");
    assert_eq!(passed.state, FRAG_PASSED);
    assert_eq!(run(&mut dp, client_if, &closed[2]).action, xdp_action::PASS);
    assert_eq!(run(&mut dp, client_if, &closed[1]).action, xdp_action::PASS);
    assert_eq!(dp.fragmented(&key).unwrap(), None, "all bytes seen: gone");
}

/// What is held is bounded: full-size frames fill the ring (the loader is
/// not reading it here) and are then refused as
/// `drop_fragment_hold_failed`; small ones fill the table of datagrams,
/// then `drop_fragment_table_full`, until the loader expires its entries.
/// Unfragmented traffic is relayed all along (RFC 4787 REQ-14).
pub fn holding_is_bounded() {
    let mut dp = datapath();
    let client_if = ifindex(CLIENT_IF);
    let later = |id: u16, len: usize| {
        // Only the second fragment of each datagram is sent.
        let data = vec![7u8; len];
        PacketBuilder::udp(sa(CLIENT, 44000), sa(VIP, VIP_UDP_PORT))
            .payload(&data)
            .ip_id(id)
            .macs(CLIENT_MAC, CLIENT_IF_MAC)
            .fragments(len / 2 / 8 * 8)
            .remove(1)
    };
    // Ring items are 8-byte aligned with an 8-byte header of their own.
    let item = (PARKED_HEADER_LEN + later(0, 1472).len() + 8).next_multiple_of(8);
    let fit = FRAGMENTS_BYTES as usize / item;
    let sent = fit + 50;
    for id in 0..sent {
        assert_eq!(
            run(&mut dp, client_if, &later(id as u16, 1472)).action,
            xdp_action::DROP
        );
    }
    let held = packets(&dp, Reason::HeldFragment);
    assert!(
        (fit * 9 / 10..=fit).contains(&(held as usize)),
        "{held} full-size frames held; about {fit} fit in the ring"
    );
    assert_eq!(
        packets(&dp, Reason::DropFragmentHoldFailed),
        sent as u64 - held
    );
    relayed_meanwhile(&mut dp);

    // Small frames, the ring drained as the loader would: the table of
    // datagrams fills.
    let mut dp = datapath();
    let mut ring = dp.take_held_fragments().expect("the ring");
    for id in 0..=MAX_FRAGMENTED {
        run(&mut dp, client_if, &later(id as u16, 64));
        if id % 1024 == 0 {
            drain(&mut ring);
        }
    }
    assert_eq!(
        packets(&dp, Reason::HeldFragment),
        u64::from(MAX_FRAGMENTED)
    );
    assert_eq!(packets(&dp, Reason::DropFragmentTableFull), 1);
    relayed_meanwhile(&mut dp);
    let later_ns = monotonic_now_ns() + FRAG_TIMEOUT_NS;
    assert_eq!(
        dp.expire_fragmented(later_ns).unwrap(),
        MAX_FRAGMENTED as usize
    );
    drain(&mut ring);
    run(&mut dp, client_if, &later(0xfff0, 64));
    assert_eq!(
        drain(&mut ring).len(),
        1,
        "held again once the table has room"
    );
}

/// Packets counted under `reason` so far, over every interface.
fn packets(dp: &fwd::datapath::Datapath, reason: Reason) -> u64 {
    dp.reason_stats()
        .expect("reason stats")
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, c)| c.packets)
}

/// A new unfragmented UDP flow is relayed.
fn relayed_meanwhile(dp: &mut fwd::datapath::Datapath) {
    let query = PacketBuilder::udp(sa(CLIENT, 45000), sa(VIP, VIP_UDP_PORT))
        .payload(b"query")
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();
    let out = run(dp, ifindex(CLIENT_IF), &query);
    assert_eq!(
        out.action,
        xdp_action::REDIRECT,
        "unfragmented traffic relayed"
    );
}

/// CLOCK_MONOTONIC now, in nanoseconds (the datapath's clock).
fn monotonic_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
