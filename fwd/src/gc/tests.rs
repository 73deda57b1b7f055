//! The expiry decisions, on flows built by hand.

use std::net::Ipv4Addr;

use fwd_common::{flow::tcp_flags::*, port, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

use super::*;
use crate::testing::{sa, TestFlow};

const S: u64 = 1_000_000_000;
const NOW: u64 = 100_000 * S;

/// A flow from client port `cport` through SNAT port `sport`; returns
/// (forward key, forward half, reply key, reply half), both halves last seen
/// `idle` seconds ago with the given flags.
fn flow(
    proto: u8,
    cport: u16,
    sport: u16,
    idle: u64,
    fflags: u8,
    rflags: u8,
) -> [(Flow4Key, Flow4); 2] {
    let (client, vip) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 1, 1));
    let (snat, backend) = (Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2));
    let halves = TestFlow {
        created_ns: NOW - idle * S - S,
        last_seen_ns: [NOW - idle * S; 2],
        tcp_flags: [fflags, rflags],
        ..TestFlow::new(
            proto,
            sa(client, cport),
            sa(vip, 80),
            sa(snat, sport),
            sa(backend, 8080),
        )
    }
    .halves();
    let [(fkey, forward), (rkey, reply)] = halves;
    assert_eq!(rkey, Flow4Key::new(backend, 8080, snat, sport, proto));
    assert_eq!(forward.other_key(proto), rkey);
    assert_eq!(reply.other_key(proto), fkey);
    halves
}

fn settings() -> RelaySettings {
    RelaySettings::default()
}

fn pair(f: &[(Flow4Key, Flow4); 2]) -> Halves<'_> {
    Halves::Pair {
        forward: &f[0].1,
        reply: &f[1].1,
    }
}

#[test]
fn timeouts_by_state() {
    let s = settings();
    let cases = [
        // (proto, forward flags, reply flags, idle s, expired?)
        (IPPROTO_UDP, 0, 0, 299, false),
        (IPPROTO_UDP, 0, 0, 301, true),
        (IPPROTO_TCP, SYN | ACK, SYN | ACK, 7439, false),
        (IPPROTO_TCP, SYN | ACK, SYN | ACK, 7441, true),
        // Opening: 2 minutes, SYN-ACK or not, until the client's ACK.
        (IPPROTO_TCP, SYN, 0, 119, false),
        (IPPROTO_TCP, SYN, 0, 121, true),
        (IPPROTO_TCP, SYN, SYN | ACK, 121, true),
        (IPPROTO_TCP, SYN | ACK | FIN, SYN | ACK, 239, false),
        (IPPROTO_TCP, SYN | ACK | FIN, SYN | ACK, 241, true),
        (IPPROTO_TCP, SYN | ACK, SYN | ACK | RST, 241, true),
        // An ICMP echo session: icmp_timeout (60 s).
        (IPPROTO_ICMP, 0, 0, 59, false),
        (IPPROTO_ICMP, 0, 0, 61, true),
    ];
    for (proto, ff, rf, idle, expired) in cases {
        let f = flow(proto, 40000, 20000, idle, ff, rf);
        let d = decide(proto, pair(&f), NOW, &s);
        assert_eq!(
            d == Decision::ExpireTimeout,
            expired,
            "{proto} {ff:#x} {rf:#x} {idle}s: {d:?}"
        );
    }
}

/// A one-exchange UDP flow to a well-known backend port expires after
/// `udp_single_timeout` (30 s), any other UDP flow after `udp_timeout`; a
/// TCP flow closed by a FIN each way after `tcp_closed_timeout` (2 min),
/// one half-closed or reset after `tcp_transitory_timeout` (4 min).
#[test]
fn one_exchange_udp_and_closed_tcp_expire_sooner() {
    let s = settings();
    let cases = [
        // (proto, backend port, packets each way, fwd flags, reply flags, idle s, expired?)
        (IPPROTO_UDP, 53, [1, 1], 0, 0, 29, false),
        (IPPROTO_UDP, 53, [1, 1], 0, 0, 31, true),
        (IPPROTO_UDP, 53, [1, 0], 0, 0, 31, true),
        (IPPROTO_UDP, 53, [2, 1], 0, 0, 31, false),
        (IPPROTO_UDP, 53, [2, 1], 0, 0, 301, true),
        (IPPROTO_UDP, 5353, [1, 1], 0, 0, 31, false),
        (
            IPPROTO_TCP,
            443,
            [5, 5],
            SYN | ACK | FIN,
            SYN | ACK | FIN,
            119,
            false,
        ),
        (
            IPPROTO_TCP,
            443,
            [5, 5],
            SYN | ACK | FIN,
            SYN | ACK | FIN,
            121,
            true,
        ),
        (
            IPPROTO_TCP,
            443,
            [5, 5],
            SYN | ACK | FIN,
            SYN | ACK,
            121,
            false,
        ),
        (
            IPPROTO_TCP,
            443,
            [5, 5],
            SYN | ACK | FIN,
            SYN | ACK | FIN | RST,
            121,
            false,
        ),
        (
            IPPROTO_TCP,
            443,
            [5, 5],
            SYN | ACK | FIN,
            SYN | ACK | FIN | RST,
            241,
            true,
        ),
    ];
    for (proto, bport, packets, ff, rf, idle, expired) in cases {
        let mut f = flow(proto, 40000, 20000, idle, ff, rf);
        f[0].1.nat_dst_port = port(bport);
        f[0].1.packets = packets[0];
        f[1].1.packets = packets[1];
        let d = decide(proto, pair(&f), NOW, &s);
        assert_eq!(
            d == Decision::ExpireTimeout,
            expired,
            "{proto} :{bport} {packets:?} {ff:#x} {rf:#x} {idle}s: {d:?}"
        );
    }
    // Never longer than the state's own timeout.
    let short = RelaySettings {
        udp: Duration::from_secs(20),
        ..settings()
    };
    let mut f = flow(IPPROTO_UDP, 40000, 20000, 25, 0, 0);
    f[0].1.nat_dst_port = port(53);
    assert_eq!(
        decide(IPPROTO_UDP, pair(&f), NOW, &short),
        Decision::ExpireTimeout
    );
}

#[test]
fn last_activity_is_the_later_half() {
    let mut f = flow(IPPROTO_UDP, 40000, 20000, 400, 0, 0);
    f[1].1.last_seen_ns = NOW - 10 * S;
    let d = decide(IPPROTO_UDP, pair(&f), NOW, &settings());
    assert_eq!(
        d,
        Decision::Keep {
            state: Some(FlowState::Udp),
            idle_ns: 10 * S
        }
    );
    // A half never seen counts from its creation; clocks a bit ahead do not wrap.
    f[1].1.last_seen_ns = 0;
    f[1].1.created_ns = NOW + S;
    assert_eq!(
        decide(IPPROTO_UDP, pair(&f), NOW, &settings()),
        Decision::Keep {
            state: Some(FlowState::Udp),
            idle_ns: 0
        }
    );
}

#[test]
fn orphans_after_30_seconds() {
    let f = flow(IPPROTO_TCP, 40000, 20000, 29, SYN, 0);
    assert!(matches!(
        decide(IPPROTO_TCP, Halves::Alone(&f[1].1), NOW, &settings()),
        Decision::Keep { state: None, .. }
    ));
    let f = flow(IPPROTO_TCP, 40000, 20000, 31, SYN, 0);
    assert_eq!(
        decide(IPPROTO_TCP, Halves::Alone(&f[0].1), NOW, &settings()),
        Decision::ExpireOrphan
    );
}

#[test]
fn plan_deletes_forward_then_reply_and_counts() {
    let old_udp = flow(IPPROTO_UDP, 40001, 20001, 600, 0, 0);
    let live_tcp = flow(IPPROTO_TCP, 40002, 20002, 5, SYN | ACK, SYN | ACK);
    let old_orphan = flow(IPPROTO_TCP, 40003, 20003, 60, SYN, 0);
    let young_orphan = flow(IPPROTO_TCP, 40004, 20004, 1, SYN, 0);
    // The reply half listed first: pairing does not depend on order.
    let entries = vec![
        old_udp[1],
        live_tcp[0],
        old_udp[0],
        old_orphan[0],
        young_orphan[1],
        live_tcp[1],
    ];
    let p = plan(&entries, NOW, 1 << 20, &settings());
    assert_eq!(
        p.deletions(),
        vec![old_udp[0].0, old_udp[1].0, old_orphan[0].0]
    );
    // The reference time of each expiry is the last activity of the flow.
    assert_eq!(p.expiries[0].last_activity_ns, NOW - 600 * S);
    assert_eq!(p.expiries[0].cause, Cause::Timeout);
    assert_eq!(p.expiries[1].cause, Cause::Orphan);
    assert_eq!(
        p.stats,
        GcStats {
            entries: 6,
            flows: 2,
            expired_timeout: 1,
            expired_pressure: 0,
            orphans: 1,
            ..Default::default()
        }
    );
}

#[test]
fn pressure_expires_oldest_opening_flows_until_under_90_percent() {
    // Capacity 20: 90% is 18 entries. Ten flows = 20 entries.
    let mut entries = Vec::new();
    for i in 0..6u16 {
        // Opening flows idle 11..16 s: candidates.
        entries.extend(flow(
            IPPROTO_TCP,
            41000 + i,
            21000 + i,
            11 + u64::from(i),
            SYN,
            0,
        ));
    }
    entries.extend(flow(IPPROTO_TCP, 42000, 22000, 5, SYN, 0)); // opening, too young
    for i in 0..3u16 {
        entries.extend(flow(
            IPPROTO_TCP,
            43000 + i,
            23000 + i,
            100,
            SYN | ACK,
            SYN | ACK,
        )); // established
    }
    let p = plan(&entries, NOW, 20, &settings());
    // 20 entries > 18: one flow (the oldest, idle 16 s) brings it to 18.
    assert_eq!(p.stats.expired_pressure, 1);
    let oldest = flow(IPPROTO_TCP, 41005, 21005, 16, SYN, 0);
    assert_eq!(p.deletions(), vec![oldest[0].0, oldest[1].0]);

    // Capacity 14 (90% = 12.6): four flows must go, the four oldest.
    let p = plan(&entries, NOW, 14, &settings());
    assert_eq!(p.stats.expired_pressure, 4);
    let ports: Vec<u16> = p
        .deletions()
        .iter()
        .map(|k| fwd_common::port_from_raw(k.src_port))
        .collect();
    assert_eq!(
        ports,
        vec![41005, 8080, 41004, 8080, 41003, 8080, 41002, 8080]
    );

    // No pressure: nothing expires early.
    let p = plan(&entries, NOW, 1000, &settings());
    assert!(p.deletions().is_empty());
}

#[test]
fn clock_is_monotonic() {
    let a = monotonic_ns();
    let b = monotonic_ns();
    assert!(a > 0 && b >= a);
}

#[test]
fn expired_flows_get_an_end_event_unless_the_datapath_sent_one() {
    use fwd_common::events::{end_reason, EVENT_END};
    let mut udp = flow(IPPROTO_UDP, 40001, 20001, 600, 0, 0);
    (udp[0].1.packets, udp[0].1.bytes) = (3, 300);
    (udp[1].1.packets, udp[1].1.bytes) = (2, 2000);
    let half_closed = flow(IPPROTO_TCP, 40002, 20002, 300, SYN | ACK | FIN, SYN | ACK);
    let fin_both = flow(
        IPPROTO_TCP,
        40003,
        20003,
        300,
        SYN | ACK | FIN,
        SYN | ACK | FIN,
    );
    let reset = flow(IPPROTO_TCP, 40004, 20004, 300, SYN | ACK, SYN | ACK | RST);
    let orphan = flow(IPPROTO_TCP, 40005, 20005, 60, SYN, 0);
    let mut entries = Vec::new();
    for f in [&udp, &half_closed, &fin_both, &reset] {
        entries.extend_from_slice(f);
    }
    entries.push(orphan[0]);
    let p = plan(&entries, NOW, 1 << 20, &settings());
    assert_eq!(p.expiries.len(), 5, "{:?}", p.expiries);
    let by_port = |cport: u16| {
        p.expiries
            .iter()
            .find(|e| {
                e.keys.contains(&Flow4Key::new(
                    Ipv4Addr::new(198, 18, 0, 1),
                    cport,
                    Ipv4Addr::new(198, 18, 1, 1),
                    80,
                    e.keys[0].proto,
                ))
            })
            .unwrap_or_else(|| panic!("no expiry for client port {cport}"))
    };
    // The datapath already reported these ended: no second event.
    assert_eq!(by_port(40003).end, None, "FIN both ways");
    assert_eq!(by_port(40004).end, None, "RST");
    assert_eq!(by_port(40005).end, None, "lone half");
    // These end by timeout, with the tuple and counters of both halves.
    assert_eq!(by_port(40001).end.unwrap().to_client.bytes, 2000);
    for (f, cport, sport) in [(&udp, 40001, 20001), (&half_closed, 40002, 20002)] {
        let e = by_port(cport).end.expect("an end event");
        assert_eq!((e.kind, e.end_reason), (EVENT_END, end_reason::TIMEOUT));
        assert_eq!(e.time_ns, NOW);
        assert_eq!(e.created_ns, f[0].1.created_ns);
        assert_eq!(
            (e.client_addr, e.client_port),
            (f[0].0.src_addr, port(cport))
        );
        assert_eq!((e.vip_addr, e.vip_port), (f[0].0.dst_addr, f[0].0.dst_port));
        assert_eq!((e.snat_addr, e.snat_port), (f[1].0.dst_addr, port(sport)));
        assert_eq!(
            (e.backend_addr, e.backend_port),
            (f[1].0.src_addr, port(8080))
        );
        assert_eq!(e.proto, f[0].0.proto);
        assert_eq!(
            (e.to_backend.packets, e.to_backend.bytes),
            (f[0].1.packets, f[0].1.bytes)
        );
        assert_eq!(
            (e.to_client.packets, e.to_client.bytes),
            (f[1].1.packets, f[1].1.bytes)
        );
    }
}

#[test]
fn flows_expired_under_pressure_end_as_evicted() {
    use fwd_common::events::end_reason;
    let mut entries = Vec::new();
    for i in 0..10u16 {
        let mut f = flow(IPPROTO_TCP, 41000 + i, 21000 + i, 20, SYN, 0);
        f[0].1.packets = 1;
        f[0].1.bytes = 60;
        entries.extend(f);
    }
    let p = plan(&entries, NOW, 20, &settings());
    assert_eq!(p.stats.expired_pressure, 1);
    let e = p.expiries[0].end.expect("an end event");
    assert_eq!(e.end_reason, end_reason::EVICTED);
    assert_eq!((e.to_backend.packets, e.to_backend.bytes), (1, 60));
    assert_eq!(e.to_client.packets, 0);
}
