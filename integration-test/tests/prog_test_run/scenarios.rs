//! Scenario tests: sequences a table row cannot express (a whole TCP
//! connection's events, SNAT port exhaustion, a full connection table,
//! the SNAT port secret).

use fwd::{config::RelaySettings, datapath::Datapath};
use fwd_common::{
    counters::xdp_action,
    events::{end_reason, EVENT_END, EVENT_START},
    flow::tcp_flags::*,
    Reason, IPPROTO_TCP, IPPROTO_UDP,
};
use integration_test::{
    addr::sa,
    packet::{parse, PacketBuilder},
    prog_test_run::{
        env::{self, *},
        run::{drain_events, run, snapshot},
    },
};

use crate::{
    case::{from_backend, from_client},
    model::SnatModel,
};

/// A TCP connection opened, used both ways and closed with FIN both ways:
/// one start event, then one end event (reason fin) carrying the packets and
/// IPv4 bytes of each direction; a UDP flow reports no end from the datapath
/// (it ends by timeout, in the loader).
pub fn flow_events() {
    let mut dp = env::datapath();
    let mut ring = dp.take_flow_events().expect("the flow event ring");
    let mut snat = SnatModel::default();
    let client = sa(CLIENT, 41000);
    let vip = sa(VIP, VIP_TCP_PORT);
    let port = snat
        .claim(client, vip, IPPROTO_TCP, sa(BACKEND, 80))
        .unwrap();
    let (fwd_if, rev_if) = (ifindex(CLIENT_IF), ifindex(BACKEND_IF));
    let c2b = |flags, payload: &[u8]| {
        from_client(PacketBuilder::tcp(client, vip, flags).payload(payload))
    };
    let b2c = |flags, payload: &[u8]| {
        from_backend(PacketBuilder::tcp(sa(BACKEND, 80), sa(SNAT, port), flags).payload(payload))
    };
    let steps: [(u32, Vec<u8>); 7] = [
        (fwd_if, c2b(SYN, b"")),
        (rev_if, b2c(SYN | ACK, b"")),
        (fwd_if, c2b(ACK, b"")),
        (fwd_if, c2b(ACK | 0x08, b"GET / HTTP/1.0\r\n\r\n")),
        (rev_if, b2c(ACK | 0x08, b"HTTP/1.0 200 OK\r\n\r\nhello")),
        (fwd_if, c2b(FIN | ACK, b"")),
        (rev_if, b2c(FIN | ACK, b"")),
    ];
    let mut events = Vec::new();
    for (ingress, frame) in &steps {
        assert_eq!(run(&mut dp, *ingress, frame).action, xdp_action::REDIRECT);
        events.extend(drain_events(&mut ring));
    }
    let bytes = |dir: u32| {
        steps
            .iter()
            .filter(|(i, _)| *i == dir)
            .map(|(_, f)| (f.len() - 14) as u64)
            .sum::<u64>()
    };
    assert_eq!(events.len(), 2, "{events:?}");
    let (start, end) = (&events[0], &events[1]);
    assert_eq!(
        (start.kind, end.kind, end.end_reason),
        (EVENT_START, EVENT_END, end_reason::FIN)
    );
    assert_eq!(
        (end.to_backend.packets, end.to_backend.bytes),
        (4, bytes(fwd_if))
    );
    assert_eq!(
        (end.to_client.packets, end.to_client.bytes),
        (3, bytes(rev_if))
    );
    assert_eq!(end.created_ns, start.created_ns);
    assert!(end.time_ns >= start.time_ns);
    // The last ACK after both FINs: forwarded, no second end.
    assert_eq!(
        run(&mut dp, fwd_if, &c2b(ACK, b"")).action,
        xdp_action::REDIRECT
    );
    assert!(drain_events(&mut ring).is_empty());

    let udp =
        from_client(PacketBuilder::udp(sa(CLIENT, 41001), sa(VIP, VIP_UDP_PORT)).payload(b"q"));
    assert_eq!(run(&mut dp, fwd_if, &udp).action, xdp_action::REDIRECT);
    let events = drain_events(&mut ring);
    assert_eq!(
        events.iter().map(|e| (e.kind, e.proto)).collect::<Vec<_>>(),
        vec![(EVENT_START, IPPROTO_UDP)]
    );
    assert_eq!(dp.events_lost().unwrap(), 0);
}

/// Many flows from one client to one backend port, more than the SNAT range
/// can take: each gets exactly the port the model predicts, or a counted
/// `drop_snat_exhausted` when every port it probes is taken; no half is left
/// behind, and earlier flows keep working.
pub fn snat_exhaustion() {
    let mut dp = env::datapath();
    let mut snat = SnatModel::default();
    let mut exhausted = 0;
    let range = SNAT_PORT_MAX - SNAT_PORT_MIN + 1;
    for i in 0..(range + 50) {
        let client = sa(CLIENT, 30_000 + i);
        let frame = from_client(PacketBuilder::tcp(client, sa(VIP, VIP_TCP_PORT), SYN));
        let before = snapshot(&dp, 0);
        let out = run(&mut dp, ifindex(CLIENT_IF), &frame);
        let after = snapshot(&dp, 0);
        match snat.claim(client, sa(VIP, VIP_TCP_PORT), IPPROTO_TCP, sa(BACKEND, 80)) {
            Some(port) => {
                assert_eq!(out.action, xdp_action::REDIRECT, "flow {i}");
                assert_eq!(
                    parse(&out.frame).unwrap().src,
                    sa(SNAT, port),
                    "flow {i}: SNAT port"
                );
                assert_eq!(after.ct_entries, before.ct_entries + 2, "flow {i}");
            }
            None => {
                exhausted += 1;
                assert_eq!(out.action, xdp_action::DROP, "flow {i}");
                assert_eq!(
                    after.reasons_changed_since(&before),
                    vec![(Reason::DropSnatExhausted, 1)],
                    "flow {i}"
                );
                assert_eq!(
                    after.ct_entries, before.ct_entries,
                    "flow {i}: nothing half-created"
                );
            }
        }
    }
    assert!(exhausted > 0, "the range of {range} ports must run out");
    let first = from_client(PacketBuilder::tcp(
        sa(CLIENT, 30_000),
        sa(VIP, VIP_TCP_PORT),
        ACK,
    ));
    assert_eq!(
        run(&mut dp, ifindex(CLIENT_IF), &first).action,
        xdp_action::REDIRECT,
        "the first flow still forwards"
    );
}

/// A table of 4 flows (8 entries): the fifth flow is refused with a counted
/// drop and leaves no half behind; the four live flows keep forwarding.
pub fn conntrack_full() {
    let plan = env::plan();
    let settings = RelaySettings {
        max_flows: 4,
        ..env::settings()
    };
    let mut dp = Datapath::load(&settings).expect("load");
    dp.install(&plan).expect("install");
    dp.allow_redirect(ifindex(CLIENT_IF)).unwrap();
    dp.allow_redirect(ifindex(BACKEND_IF)).unwrap();
    let syn = |port| {
        from_client(PacketBuilder::tcp(
            sa(CLIENT, port),
            sa(VIP, VIP_TCP_PORT),
            SYN,
        ))
    };
    for port in 1..=4 {
        assert_eq!(
            run(&mut dp, ifindex(CLIENT_IF), &syn(port)).action,
            xdp_action::REDIRECT,
            "flow {port}"
        );
    }
    let before = snapshot(&dp, 0);
    let out = run(&mut dp, ifindex(CLIENT_IF), &syn(5));
    let after = snapshot(&dp, 0);
    assert_eq!(out.action, xdp_action::DROP);
    assert_eq!(
        after.reasons_changed_since(&before),
        vec![(Reason::DropConntrackFull, 1)]
    );
    assert_eq!(after.ct_entries, 8, "no half of the refused flow is left");
    for port in 1..=4 {
        let ack = from_client(PacketBuilder::tcp(
            sa(CLIENT, port),
            sa(VIP, VIP_TCP_PORT),
            ACK,
        ));
        assert_eq!(
            run(&mut dp, ifindex(CLIENT_IF), &ack).action,
            xdp_action::REDIRECT,
            "live flow {port}"
        );
    }
}

/// Each datapath draws its own SNAT port secret: two fresh datapaths (not
/// the packet tests' fixed secret) have different, non-zero secrets, each
/// chooses the ports its own secret predicts, and the same flows get
/// different ports from the two (a client cannot compute them).
pub fn keyed_snat_ports() {
    let plan = env::plan();
    let ports = |dp: &mut Datapath| -> Vec<u16> {
        (0..8)
            .map(|i| {
                let frame = from_client(PacketBuilder::udp(
                    sa(CLIENT, 123 + i),
                    sa(VIP, VIP_UDP_PORT),
                ));
                let out = run(dp, ifindex(CLIENT_IF), &frame);
                assert_eq!(
                    out.action,
                    xdp_action::REDIRECT,
                    "flow from port {}",
                    123 + i
                );
                parse(&out.frame).unwrap().src.port()
            })
            .collect()
    };
    let mut chosen = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let mut dp = Datapath::load(&plan.settings).expect("load");
        dp.install(&plan).expect("install");
        dp.allow_redirect(ifindex(CLIENT_IF)).unwrap();
        dp.allow_redirect(ifindex(BACKEND_IF)).unwrap();
        let key = dp.relay_config().unwrap().port_key;
        assert_ne!(key, [0; 4], "a secret was drawn");
        let got = ports(&mut dp);
        let mut model = SnatModel::keyed(key);
        let expected: Vec<u16> = (0..8)
            .map(|i| {
                model
                    .claim(
                        sa(CLIENT, 123 + i),
                        sa(VIP, VIP_UDP_PORT),
                        IPPROTO_UDP,
                        sa(BACKEND, 53),
                    )
                    .expect("a free port")
            })
            .collect();
        assert_eq!(got, expected, "the ports the datapath's own secret gives");
        keys.push(key);
        chosen.push(got);
    }
    assert_ne!(keys[0], keys[1], "each datapath its own secret");
    assert_ne!(chosen[0], chosen[1], "the same flows, other ports");
}

/// Start events say whether a new TCP flow's SYN could have been answered
/// (what passive health follows): a SYN with a right checksum, with or
/// without options, arriving with TTL 64 could; one with a bad checksum,
/// or arriving with TTL 20 (it may expire before the backend), could not.
/// All are relayed alike.
pub fn answerable_syns() {
    use fwd_common::events::start_flags::ANSWERABLE;
    let mut dp = env::datapath();
    let mut ring = dp.take_flow_events().expect("the flow event ring");
    let syn = |port| PacketBuilder::tcp(sa(CLIENT, port), sa(VIP, VIP_TCP_PORT), SYN);
    for (name, frame, flags) in [
        ("a right SYN", syn(41_001), ANSWERABLE),
        (
            "a right SYN with options",
            syn(41_002).tcp_options(&[2, 4, 0x05, 0xb4, 4, 2, 1, 1]),
            ANSWERABLE,
        ),
        ("a bad checksum", syn(41_003).tcp_bad_checksum(), 0),
        ("TTL 20", syn(41_004).ttl(20), 0),
    ] {
        let out = run(&mut dp, ifindex(CLIENT_IF), &from_client(frame));
        assert_eq!(out.action, xdp_action::REDIRECT, "{name}: relayed");
        let events = drain_events(&mut ring);
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        assert_eq!(
            (events[0].kind, events[0].flags),
            (EVENT_START, flags),
            "{name}"
        );
    }
}
