//! The cases: a table of frames run in order against one datapath (later
//! cases see the flows earlier ones created), and scenario tests.

use std::net::{Ipv6Addr, SocketAddrV4, SocketAddrV6};

use fwd::{datapath::Datapath, plan::RelaySettings};
use fwd_common::{
    addr4_from_raw,
    counters::xdp_action,
    events::{end_reason, EVENT_END, EVENT_START},
    flow::{tcp_flags::*, DIR_FORWARD, DIR_REPLY},
    hash::flow_hash4,
    maps::MAGLEV_SIZE,
    port_from_raw,
    service::maglev_index,
    Flow4Key, FlowEvent, Reason, Service4Key, IPPROTO_TCP, IPPROTO_UDP,
};
use integration_test::{
    addr::sa,
    packet::{parse, PacketBuilder},
};

use integration_test::prog_test_run::{
    env::{self, *},
    run::{drain_events, run, snapshot},
};

use crate::{broken, model::SnatModel};

/// Which way a translated packet goes, for the backend counters.
#[derive(Clone, Copy, Debug)]
enum Dir {
    ToBackend,
    ToClient,
}

/// One row of the table.
struct Case {
    name: &'static str,
    /// Interface the frame arrives on.
    ingress: &'static str,
    input: Vec<u8>,
    /// The reason counted; its action is the expected verdict.
    reason: Reason,
    /// The expected output frame; `None`: the input, unchanged.
    output: Option<Vec<u8>>,
    /// The backend whose counters move, and which way.
    backend: Option<(u32, Dir)>,
    /// Whether the case starts a flow (flows_created + 1).
    new_flow: bool,
    /// Change in the number of CT4 entries.
    ct_delta: i64,
    /// The flow end the case reports (an `end_reason`), if any.
    ends: Option<u8>,
}

impl Case {
    fn pass(name: &'static str, ingress: &'static str, input: Vec<u8>, reason: Reason) -> Self {
        Case {
            name,
            ingress,
            input,
            reason,
            output: None,
            backend: None,
            new_flow: false,
            ct_delta: 0,
            ends: None,
        }
    }

    fn translated(
        name: &'static str,
        ingress: &'static str,
        input: Vec<u8>,
        reason: Reason,
        output: Vec<u8>,
    ) -> Self {
        let dir = if ingress == CLIENT_IF {
            Dir::ToBackend
        } else {
            Dir::ToClient
        };
        Case {
            name,
            ingress,
            input,
            reason,
            output: Some(output),
            backend: Some((u32::MAX, dir)),
            new_flow: false,
            ct_delta: 0,
            ends: None,
        }
    }

    fn backend(mut self, id: u32) -> Self {
        let dir = self.backend.map(|(_, d)| d).unwrap_or(Dir::ToBackend);
        self.backend = Some((id, dir));
        self
    }

    fn new_flow(mut self) -> Self {
        self.new_flow = true;
        self.ct_delta = 2;
        self
    }

    fn ends(mut self, reason: u8) -> Self {
        self.ends = Some(reason);
        self
    }

    fn reopened_flow(mut self) -> Self {
        self.new_flow = true;
        self
    }
}

/// Frames from the client side carry these MACs; translated frames to the
/// backend carry the relay's backend-side MAC and the backend's.
fn from_client(b: PacketBuilder) -> Vec<u8> {
    b.macs(CLIENT_MAC, CLIENT_IF_MAC).build()
}
fn from_backend(b: PacketBuilder) -> Vec<u8> {
    b.macs(BACKEND_MAC, BACKEND_IF_MAC).build()
}
fn to_backend(b: PacketBuilder) -> Vec<u8> {
    b.macs(BACKEND_IF_MAC, BACKEND_MAC).ttl(63).build()
}
fn to_client(b: PacketBuilder) -> Vec<u8> {
    b.macs(CLIENT_IF_MAC, CLIENT_MAC).ttl(63).build()
}

fn table_cases(snat: &mut SnatModel) -> Vec<Case> {
    let c = |port| sa(CLIENT, port);
    let vip = |port| sa(VIP, port);
    let be = |port| sa(BACKEND, port);
    let mut claim = |client, vip, proto, backend| {
        snat.claim(client, vip, proto, backend)
            .expect("a free SNAT port")
    };

    let p_tcp = claim(c(40000), vip(VIP_TCP_PORT), IPPROTO_TCP, be(80));
    let p_udp = claim(c(5000), vip(VIP_UDP_PORT), IPPROTO_UDP, be(53));
    let p_udp0 = claim(c(5001), vip(VIP_UDP_PORT), IPPROTO_UDP, be(53));
    let p_whole_tcp = claim(c(40001), sa(VIP_WHOLE, 443), IPPROTO_TCP, be(443));
    let p_whole_udp = claim(c(5002), sa(VIP_WHOLE, 9999), IPPROTO_UDP, be(9999));
    let p_opts = claim(c(40002), vip(VIP_TCP_PORT), IPPROTO_TCP, be(80));
    let p_vlan = claim(c(40003), vip(VIP_TCP_PORT), IPPROTO_TCP, be(80));
    let p_noneigh = claim(
        c(40007),
        vip(VIP_NO_NEIGH_PORT),
        IPPROTO_TCP,
        sa(BACKEND_NO_NEIGH, 80),
    );
    let unclaimed = (SNAT_PORT_MIN..=SNAT_PORT_MAX)
        .find(|p| !snat.is_claimed(be(80), IPPROTO_TCP, *p))
        .unwrap();

    let data = b"hello through the relay"; // odd length: exercises the odd checksum byte
    let syn = |client| PacketBuilder::tcp(client, vip(VIP_TCP_PORT), SYN);

    let icmp = from_client(PacketBuilder::icmp_echo_request(CLIENT, VIP, 1, 1).payload(&[0; 8]));
    let arp = PacketBuilder::arp_request(CLIENT_MAC, CLIENT, RELAY_CLIENT_SIDE).build();
    let ipv6 = from_client(PacketBuilder::udp6(
        SocketAddrV6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 5000, 0, 0),
        SocketAddrV6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 53, 0, 0),
    ));
    // A service tag (802.1ad) around an 802.1Q tag.
    let stacked = from_client(syn(c(40009)).qinq(5, 7));
    let tagged = from_client(syn(c(40009)).vlan(7));

    let good = syn(c(40010));
    let ip_len = (good.build().len() - 14) as u16;
    let cut = |b: PacketBuilder, len: usize| {
        let mut v = from_client(b);
        v.truncate(len);
        v
    };

    vec![
        Case::translated(
            "tcp syn to a port service opens a flow: VIP:8080 -> backend:80, source -> SNAT",
            CLIENT_IF,
            from_client(syn(c(40000))),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), be(80), SYN)),
        )
        .backend(backend_id::TCP)
        .new_flow(),
        Case::translated(
            "established segment with payload keeps its translation, payload unchanged",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40000), vip(VIP_TCP_PORT), ACK | 0x08).payload(data)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), be(80), ACK | 0x08).payload(data)),
        )
        .backend(backend_id::TCP),
        Case::translated(
            "backend reply to the SNAT port goes back to the client from the VIP",
            BACKEND_IF,
            from_backend(PacketBuilder::tcp(be(80), sa(SNAT, p_tcp), SYN | ACK).payload(data)),
            Reason::ForwardedRedirect,
            to_client(PacketBuilder::tcp(vip(VIP_TCP_PORT), c(40000), SYN | ACK).payload(data)),
        )
        .backend(backend_id::TCP),
        Case::translated(
            "udp to a port service: VIP:5353 -> backend:53",
            CLIENT_IF,
            from_client(PacketBuilder::udp(c(5000), vip(VIP_UDP_PORT)).payload(b"query")),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::udp(sa(SNAT, p_udp), be(53)).payload(b"query")),
        )
        .backend(backend_id::UDP)
        .new_flow(),
        Case::translated(
            "udp reply goes back to the client",
            BACKEND_IF,
            from_backend(PacketBuilder::udp(be(53), sa(SNAT, p_udp)).payload(b"answer!")),
            Reason::ForwardedRedirect,
            to_client(PacketBuilder::udp(vip(VIP_UDP_PORT), c(5000)).payload(b"answer!")),
        )
        .backend(backend_id::UDP),
        Case::translated(
            "udp without checksum keeps checksum 0",
            CLIENT_IF,
            from_client(
                PacketBuilder::udp(c(5001), vip(VIP_UDP_PORT))
                    .payload(b"q")
                    .udp_zero_checksum(),
            ),
            Reason::ForwardedRedirect,
            to_backend(
                PacketBuilder::udp(sa(SNAT, p_udp0), be(53))
                    .payload(b"q")
                    .udp_zero_checksum(),
            ),
        )
        .backend(backend_id::UDP)
        .new_flow(),
        Case::translated(
            "whole-address service keeps the tcp port",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40001), sa(VIP_WHOLE, 443), SYN)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_whole_tcp), be(443), SYN)),
        )
        .backend(backend_id::WHOLE)
        .new_flow(),
        Case::translated(
            "whole-address service keeps the udp port",
            CLIENT_IF,
            from_client(PacketBuilder::udp(c(5002), sa(VIP_WHOLE, 9999)).payload(data)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::udp(sa(SNAT, p_whole_udp), be(9999)).payload(data)),
        )
        .backend(backend_id::WHOLE)
        .new_flow(),
        Case::translated(
            "ipv4 options are honoured (IHL 6) and kept",
            CLIENT_IF,
            from_client(syn(c(40002)).ip_options(&[0x94, 0x04, 0, 0]).payload(data)),
            Reason::ForwardedRedirect,
            to_backend(
                PacketBuilder::tcp(sa(SNAT, p_opts), be(80), SYN)
                    .ip_options(&[0x94, 0x04, 0, 0])
                    .payload(data),
            ),
        )
        .backend(backend_id::TCP)
        .new_flow(),
        Case::translated(
            "an 802.1Q tagged frame is translated and keeps its tag",
            CLIENT_IF,
            from_client(syn(c(40003)).vlan(100)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_vlan), be(80), SYN).vlan(100)),
        )
        .backend(backend_id::TCP)
        .new_flow(),
        Case::translated(
            "no neighbour yet: translated, TTL and MACs untouched, handed to the kernel",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40007), vip(VIP_NO_NEIGH_PORT), SYN)),
            Reason::PassNoNeighbour,
            from_client(PacketBuilder::tcp(
                sa(SNAT, p_noneigh),
                sa(BACKEND_NO_NEIGH, 80),
                SYN,
            )),
        )
        .backend(backend_id::NO_NEIGH)
        .new_flow(),
        Case::pass(
            "no route to the backend: dropped before any flow is created",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40008), vip(VIP_NO_ROUTE_PORT), SYN)),
            Reason::DropNoRoute,
        ),
        Case::pass(
            "ttl 1 to a VIP goes to the kernel untouched",
            CLIENT_IF,
            from_client(syn(c(40004)).ttl(1)),
            Reason::PassTtlExpired,
        ),
        Case::pass(
            "the relay's own traffic (ssh to its address) passes untouched",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(50000), sa(RELAY_CLIENT_SIDE, 22), SYN)),
            Reason::PassNoService,
        ),
        Case::pass(
            "a port of the VIP that no service listens on passes",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40006), vip(9), SYN)),
            Reason::PassNoService,
        ),
        Case::pass(
            "tcp without SYN to a VIP and no flow goes to the kernel",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40005), vip(VIP_TCP_PORT), ACK)),
            Reason::PassTcpNoFlow,
        ),
        Case::pass(
            "a packet to a SNAT port without a flow goes to the kernel",
            BACKEND_IF,
            from_backend(PacketBuilder::tcp(be(80), sa(SNAT, unclaimed), ACK)),
            Reason::PassNoService,
        ),
        Case::pass(
            "an ipv4 fragment passes",
            CLIENT_IF,
            from_client(
                PacketBuilder::udp(c(5003), vip(VIP_UDP_PORT))
                    .payload(data)
                    .fragment(true, 0),
            ),
            Reason::PassFragment,
        ),
        Case::pass(
            "icmp to a VIP passes",
            CLIENT_IF,
            icmp,
            Reason::PassNotTcpUdp,
        ),
        Case::pass("arp passes", CLIENT_IF, arp, Reason::PassNotIpv4),
        Case::pass("ipv6 passes", CLIENT_IF, ipv6, Reason::PassNotIpv4),
        Case::pass(
            "stacked vlan tags pass",
            CLIENT_IF,
            stacked,
            Reason::PassStackedVlan,
        ),
        Case::pass(
            "a vlan tag cut short is dropped",
            CLIENT_IF,
            tagged[..15].to_vec(),
            Reason::DropTruncated,
        ),
        Case::pass(
            "an ipv4 header cut short is dropped",
            CLIENT_IF,
            cut(good.clone(), 14 + 12),
            Reason::DropTruncated,
        ),
        Case::pass(
            "ihl below 5 is dropped",
            CLIENT_IF,
            from_client(good.clone().ihl(4)),
            Reason::DropMalformedIpv4,
        ),
        Case::pass(
            "ip version 6 inside an ipv4 ethertype is dropped",
            CLIENT_IF,
            from_client(good.clone().ip_version(6)),
            Reason::DropMalformedIpv4,
        ),
        Case::pass(
            "total length below the header length is dropped",
            CLIENT_IF,
            from_client(good.clone().ip_total_len(10)),
            Reason::DropMalformedIpv4,
        ),
        Case::pass(
            "total length beyond the frame is dropped",
            CLIENT_IF,
            from_client(good.clone().ip_total_len(ip_len + 1)),
            Reason::DropTruncated,
        ),
        Case::pass(
            "a tcp header cut short is dropped",
            CLIENT_IF,
            cut(good.ip_total_len(30), 14 + 20 + 10),
            Reason::DropTruncated,
        ),
        Case::pass(
            "a udp header cut short is dropped",
            CLIENT_IF,
            cut(
                PacketBuilder::udp(c(5004), vip(VIP_UDP_PORT)).ip_total_len(24),
                14 + 20 + 4,
            ),
            Reason::DropTruncated,
        ),
        Case::translated(
            "rst from the client is forwarded",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40000), vip(VIP_TCP_PORT), RST | ACK)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), be(80), RST | ACK)),
        )
        .backend(backend_id::TCP)
        .ends(end_reason::RST),
        Case::translated(
            "a new SYN on the closed tuple reopens the flow with the same translation",
            CLIENT_IF,
            from_client(syn(c(40000))),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), be(80), SYN)),
        )
        .backend(backend_id::TCP)
        .reopened_flow(),
    ]
}

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

fn check(dp: &mut Datapath, case: &Case, backends: u32) {
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
        let p = parse(&out.frame).unwrap_or_else(|e| panic!("{name}: output does not parse: {e}"));
        assert!(p.ip_checksum_valid, "{name}: IPv4 checksum");
        assert!(p.l4_checksum_valid, "{name}: L4 checksum");
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
                assert_eq!(
                    d.flows_created_tcp + d.flows_created_udp,
                    case.new_flow as u64,
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
fn check_events(case: &Case, events: &[FlowEvent]) {
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
        case.output.as_ref().map(|o| parse(o).unwrap()),
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

/// Breaks a map before a row runs.
type BreakMaps = Box<dyn Fn(&mut Datapath)>;

/// Rows that need a map broken first, the way a loader bug (or a detach in
/// progress) leaves it; each runs on a fresh datapath, after its breakage.
fn broken_map_cases() -> Vec<(BreakMaps, Case)> {
    let client = sa(CLIENT, 40000);
    let vip = sa(VIP, VIP_TCP_PORT);
    let syn = from_client(PacketBuilder::tcp(client, vip, SYN));
    let service = Service4Key::new(VIP, VIP_TCP_PORT, IPPROTO_TCP);
    let p_tcp = SnatModel::default()
        .claim(client, vip, IPPROTO_TCP, sa(BACKEND, 80))
        .expect("a free SNAT port");
    let open_flow = syn.clone();
    vec![
        (
            Box::new(move |dp: &mut Datapath| {
                let out = run(dp, ifindex(CLIENT_IF), &open_flow);
                assert_eq!(out.action, xdp_action::REDIRECT, "the flow opens");
                broken::remove_from_devmap(dp, ifindex(BACKEND_IF));
            }),
            Case::translated(
                "a flow whose cached egress left DEVMAP is translated, then dropped",
                CLIENT_IF,
                from_client(PacketBuilder::tcp(client, vip, ACK)),
                Reason::DropRedirectFailed,
                to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), sa(BACKEND, 80), ACK)),
            )
            .backend(backend_id::TCP),
        ),
        (
            Box::new(move |dp: &mut Datapath| {
                let beyond = broken::maglev_len(dp) / MAGLEV_SIZE;
                broken::edit_service(dp, service, |s| s.maglev_table = beyond);
            }),
            Case::pass(
                "a service whose Maglev table lies beyond MAGLEV is dropped",
                CLIENT_IF,
                syn.clone(),
                Reason::DropNoMaglevEntry,
            ),
        ),
        (
            Box::new(move |dp: &mut Datapath| {
                let table = dp
                    .service_entries()
                    .expect("services")
                    .into_iter()
                    .find(|(k, _)| *k == service)
                    .expect("the TCP service")
                    .1
                    .maglev_table;
                let key = Flow4Key::new(CLIENT, 40000, VIP, VIP_TCP_PORT, IPPROTO_TCP);
                let beyond = broken::backends_len(dp);
                broken::set_maglev_entry(dp, maglev_index(table, flow_hash4(&key)), beyond);
            }),
            Case::pass(
                "a Maglev entry naming a backend beyond BACKENDS4 is dropped",
                CLIENT_IF,
                syn.clone(),
                Reason::DropNoBackendEntry,
            ),
        ),
        (
            Box::new(|dp: &mut Datapath| {
                // What an entry the loader never wrote holds: all zeros.
                let unwritten = RelaySettings {
                    snat_ports: 0..=0,
                    ..env::settings()
                };
                dp.set_relay_config(&unwritten).expect("write RELAY_CONFIG");
            }),
            Case::pass(
                "a new flow without a SNAT port range is dropped",
                CLIENT_IF,
                syn,
                Reason::DropNoSnatPorts,
            ),
        ),
    ]
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

/// The IPv4 total length field of a frame (after an optional VLAN tag).
fn ip_total_len(frame: &[u8]) -> u64 {
    let l3 = if frame[12..14] == [0x81, 0x00] {
        18
    } else {
        14
    };
    u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]) as u64
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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
