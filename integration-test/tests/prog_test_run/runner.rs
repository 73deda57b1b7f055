//! Running the rows: each frame through the program once, then its verdict,
//! output bytes (byte for byte, and both checksums recomputed), reason
//! counters (in all and of the ingress interface), backend counters,
//! connection-table change and flow events are checked.

use std::net::SocketAddrV4;

use fwd::datapath::Datapath;
use fwd_common::{
    addr4_from_raw,
    events::{end_reason, EVENT_END, EVENT_START},
    flow::{tcp_flags::*, DIR_FORWARD, DIR_REPLY},
    port_from_raw, Flow4Key, FlowEvent, IPPROTO_TCP,
};
use integration_test::{
    addr::sa,
    packet::{dissect, parse, Ipv4, Net, L4},
    prog_test_run::{
        env::{self, *},
        run::{drain_events, run, snapshot},
    },
};

use crate::{
    broken::broken_map_cases,
    case::{Case, Dir},
    fixtures::table_cases,
    model::SnatModel,
};

/// Runs every row against one datapath, in order.
pub fn table() {
    let mut dp = env::datapath();
    let mut ring = dp.take_flow_events().expect("the flow event ring");
    let mut snat = SnatModel::default();
    let cases = table_cases(&mut snat);
    let backends = env::plan()
        .services
        .iter()
        .map(|s| s.backends.len() as u32)
        .sum();
    for case in &cases {
        check(&mut dp, case, backends);
        check_events(case, &drain_events(&mut ring));
    }
    check_tracked_flow(&dp);
}

/// Runs every broken-map row, each on a fresh datapath.
pub fn broken_map_table() {
    let backends = env::plan()
        .services
        .iter()
        .map(|s| s.backends.len() as u32)
        .sum();
    for (break_maps, case) in broken_map_cases() {
        let mut dp = env::datapath();
        let mut ring = dp.take_flow_events().expect("the flow event ring");
        break_maps(&mut dp);
        drain_events(&mut ring);
        check(&mut dp, &case, backends);
        check_events(&case, &drain_events(&mut ring));
    }
}

pub fn check(dp: &mut Datapath, case: &Case, backends: u32) {
    let name = case.name;
    let before = snapshot(dp, backends);
    let out = run(dp, ifindex(case.ingress), &case.input);
    let after = snapshot(dp, backends);

    assert_eq!(out.action, case.reason.action(), "{name}: verdict");
    assert_eq!(
        after.reasons_changed_since(&before),
        vec![(case.reason, 1)],
        "{name}: reason counters"
    );
    assert_eq!(
        after.interface_reasons_changed_since(&before, ifindex(case.ingress)),
        vec![(case.reason, 1)],
        "{name}: reason counters of the ingress interface"
    );
    let expected = case.output.as_ref().unwrap_or(&case.input);
    if out.frame != *expected {
        panic!(
            "{name}: output differs\n got:      {:?}\n expected: {:?}\n got parsed: {:#?}",
            hex(&out.frame),
            hex(expected),
            parse(&out.frame)
        );
    }
    if case.output.is_some() {
        check_checksums(name, &out.frame);
    }
    assert_eq!(
        after.ct_entries as i64 - before.ct_entries as i64,
        case.ct_delta,
        "{name}: CT4 entries"
    );
    for id in 0..backends {
        let d = after.backend_delta(&before, id);
        match case.backend {
            Some((b, dir)) if b == id => {
                let ip_bytes = ip_total_len(&case.input);
                let moved = match dir {
                    Dir::ToBackend => (
                        d.to_backend.packets,
                        d.to_backend.bytes,
                        d.to_client.packets,
                    ),
                    Dir::ToClient => (d.to_client.packets, d.to_client.bytes, d.to_backend.packets),
                };
                assert_eq!(
                    moved,
                    (1, ip_bytes, 0),
                    "{name}: backend {id} counters {dir:?}"
                );
                let proto = ipv4(&case.input).proto;
                assert_eq!(
                    (d.flows_created(proto), d.flows_created_all()),
                    (case.new_flow as u64, case.new_flow as u64),
                    "{name}: flows created"
                );
            }
            _ => assert_eq!(d, Default::default(), "{name}: backend {id} must not move"),
        }
    }
}

/// The flow events a case must have queued: a start for a new (or reopened)
/// flow, an end where the case ends one, each naming the client and VIP of
/// the input and the SNAT and backend address of the output.
pub fn check_events(case: &Case, events: &[FlowEvent]) {
    let name = case.name;
    let mut expected = Vec::new();
    if case.new_flow {
        expected.push((EVENT_START, end_reason::NONE));
    }
    if let Some(reason) = case.ends {
        expected.push((EVENT_END, reason));
    }
    let got: Vec<(u8, u8)> = events.iter().map(|e| (e.kind, e.end_reason)).collect();
    assert_eq!(got, expected, "{name}: flow events");
    let (Some(input), Some(output)) = (
        parse(&case.input).ok(),
        // ICMP rows have no ports to compare: only the event kinds count.
        case.output.as_ref().and_then(|o| parse(o).ok()),
    ) else {
        return;
    };
    let (client, vip, snat, backend) = match case.backend {
        Some((_, Dir::ToClient)) => (output.dst, output.src, input.dst, input.src),
        _ => (input.src, input.dst, output.src, output.dst),
    };
    for e in events {
        let pair = |a, p| -> SocketAddrV4 { sa(addr4_from_raw(a), port_from_raw(p)) };
        assert_eq!(
            pair(e.client_addr, e.client_port),
            client,
            "{name}: event client"
        );
        assert_eq!(pair(e.vip_addr, e.vip_port), vip, "{name}: event VIP");
        assert_eq!(pair(e.snat_addr, e.snat_port), snat, "{name}: event SNAT");
        assert_eq!(
            pair(e.backend_addr, e.backend_port),
            backend,
            "{name}: event backend"
        );
        assert_eq!(e.proto, input.proto, "{name}: event protocol");
    }
}

/// The first flow's two halves, as the table left them.
fn check_tracked_flow(dp: &Datapath) {
    let flows = dp.flows().unwrap();
    let fwd_key = Flow4Key::new(CLIENT, 40000, VIP, VIP_TCP_PORT, IPPROTO_TCP);
    let (_, fwd) = flows
        .iter()
        .find(|(k, _)| *k == fwd_key)
        .expect("forward half");
    let reply_key = fwd.other_key(IPPROTO_TCP);
    assert_eq!(
        (reply_key.src_addr, reply_key.src_port),
        (fwd_common::addr4(BACKEND), fwd_common::port(80))
    );
    let (_, reply) = flows
        .iter()
        .find(|(k, _)| *k == reply_key)
        .expect("reply half");
    assert_eq!(
        reply.other_key(IPPROTO_TCP),
        fwd_key,
        "each half finds the other"
    );
    assert_eq!((fwd.direction, reply.direction), (DIR_FORWARD, DIR_REPLY));
    assert_eq!(
        (fwd.backend_id, reply.backend_id),
        (backend_id::TCP, backend_id::TCP)
    );
    assert_eq!((fwd.service_id, reply.service_id), (1, 1));
    // syn, ack+psh, rst+ack, then a SYN that reopened the tuple: the new
    // flow starts over in both halves, from that SYN.
    assert_eq!((fwd.packets, fwd.bytes), (1, 40));
    assert_eq!(fwd.tcp_flags, SYN);
    assert_eq!((reply.packets, reply.bytes), (0, 0));
    assert_eq!(reply.tcp_flags, 0);
    assert!(fwd.last_seen_ns >= fwd.created_ns && fwd.created_ns > 0);
}

/// The IPv4 total length field of a frame.
fn ip_total_len(frame: &[u8]) -> u64 {
    u64::from(ipv4(frame).total_len)
}

/// The IPv4 header of a frame the test built.
fn ipv4(frame: &[u8]) -> Ipv4 {
    match dissect(frame).map(|f| f.net) {
        Ok(Net::Ipv4(ip)) => ip,
        other => panic!("not an IPv4 frame: {other:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every checksum of an output frame, recomputed by the test crate: IPv4
/// and TCP/UDP, or IPv4, ICMP and for an ICMP error the quoted IPv4 header,
/// and the quoted transport checksum when the datagram is quoted whole.
pub fn check_checksums(name: &str, frame: &[u8]) {
    let f = dissect(frame).unwrap_or_else(|e| panic!("{name}: output does not dissect: {e}"));
    let Net::Ipv4(ip) = f.net else {
        panic!("{name}: output is not IPv4: {f:#?}");
    };
    assert!(ip.checksum_valid, "{name}: IPv4 checksum");
    // A first fragment's transport checksum covers the whole datagram: the
    // byte-for-byte comparison with the builder's fragment (of a datagram
    // it checksummed whole) checks it; a later one has none.
    let first_fragment = ip.more_fragments && ip.fragment_offset == 0;
    match ip.l4 {
        L4::Tcp(t) => assert!(t.checksum_valid || first_fragment, "{name}: TCP checksum"),
        L4::Udp(u) => assert!(u.checksum_valid || first_fragment, "{name}: UDP checksum"),
        L4::Fragment(_) => {}
        L4::Icmp(i) => {
            assert!(i.checksum_valid, "{name}: ICMP checksum");
            if !matches!(i.ty, 0 | 8) {
                let quoted = i
                    .quoted_ipv4()
                    .unwrap_or_else(|e| panic!("{name}: quoted header: {e}"));
                assert!(quoted.checksum_valid, "{name}: quoted IPv4 checksum");
                // A whole quote (a short echo) is read through: its own
                // checksum must be right too.
                match quoted.l4 {
                    L4::Icmp(q) => assert!(q.checksum_valid, "{name}: quoted ICMP checksum"),
                    L4::Tcp(q) => assert!(q.checksum_valid, "{name}: quoted TCP checksum"),
                    L4::Udp(q) => assert!(q.checksum_valid, "{name}: quoted UDP checksum"),
                    _ => {}
                }
            }
        }
        other => panic!("{name}: output carries {other:?}"),
    }
}
