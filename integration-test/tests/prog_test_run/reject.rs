//! A service none of whose backends is usable: a TCP SYN is answered with a
//! RST|ACK and a UDP datagram with an ICMP port unreachable, both from the
//! VIP, back to the client's MAC, with valid checksums; counted as
//! `reject_no_backend`; no flow is created.

use fwd::plan::{PlannedBackend, PlannedService};
use fwd_common::{counters::xdp_action, flow::tcp_flags::*, Reason, IPPROTO_TCP, IPPROTO_UDP};
use integration_test::{
    addr::sa,
    packet::{
        dissect,
        icmp::{self, unreachable},
        parse, Ipv4, Net, PacketBuilder, VlanTag, ETHERTYPE_VLAN, IPPROTO_ICMP, L4, TCP_SEQ,
    },
};

use integration_test::prog_test_run::{
    env::{self, *},
    run::{run, snapshot},
};

/// Port of the service whose only backend is drained (weight 0).
const PORT: u16 = 9444;

/// The IPv4 packet of a frame.
fn ipv4(frame: &[u8]) -> Ipv4 {
    match dissect(frame).expect("a frame").net {
        Net::Ipv4(ip) => ip,
        other => panic!("not IPv4: {other:?}"),
    }
}

pub fn rejects_when_no_backend_is_usable() {
    let mut plan = env::plan();
    let id = plan.services.len() as u32;
    let backend_id = plan.services.iter().map(|s| s.backends.len() as u32).sum();
    plan.services.push(PlannedService {
        id,
        name: "drained".into(),
        vip: VIP,
        port: Some(PORT),
        protocols: vec![IPPROTO_TCP, IPPROTO_UDP],
        mss_clamp: Default::default(),
        access: Default::default(),
        backends: vec![PlannedBackend {
            id: backend_id,
            addr: BACKEND,
            port: Some(443),
            snat: SNAT,
            weight: 0,
        }],
    });
    let mut dp = fwd::datapath::Datapath::load(&plan.settings).expect("load");
    dp.install(&plan).expect("install");
    dp.allow_redirect(ifindex(CLIENT_IF)).unwrap();

    // TCP: RST|ACK, seq 0, acknowledging the SYN and its 3 payload bytes.
    let syn = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, PORT), SYN)
        .payload(b"abc")
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();
    let before = snapshot(&dp, 0);
    let out = run(&mut dp, ifindex(CLIENT_IF), &syn);
    let after = snapshot(&dp, 0);
    assert_eq!(out.action, xdp_action::TX);
    assert_eq!(
        after.reasons_changed_since(&before),
        vec![(Reason::RejectNoBackend, 1)]
    );
    assert_eq!(after.ct_entries, before.ct_entries, "no flow");
    let p = parse(&out.frame).expect("a TCP frame");
    assert_eq!((p.eth_src, p.eth_dst), (CLIENT_IF_MAC, CLIENT_MAC));
    assert_eq!((p.src, p.dst), (sa(VIP, PORT), sa(CLIENT, 40000)));
    assert_eq!(p.tcp_flags, RST | ACK);
    assert!(p.ip_checksum_valid && p.l4_checksum_valid);
    assert!(p.payload.is_empty());
    assert_eq!(out.frame.len(), 14 + 20 + 20);
    let L4::Tcp(tcp) = ipv4(&out.frame).l4 else {
        panic!("not TCP")
    };
    assert_eq!(tcp.seq, 0, "seq");
    assert_eq!(tcp.ack, TCP_SEQ + 1 + 3, "ack");

    // UDP: ICMP port unreachable quoting the datagram's header and 8 bytes.
    let dgram = PacketBuilder::udp(sa(CLIENT, 5000), sa(VIP, PORT))
        .payload(b"a question")
        .macs(CLIENT_MAC, CLIENT_IF_MAC);
    let before = snapshot(&dp, 0);
    let out = run(&mut dp, ifindex(CLIENT_IF), &dgram.build());
    let after = snapshot(&dp, 0);
    assert_eq!(out.action, xdp_action::TX);
    assert_eq!(
        after.reasons_changed_since(&before),
        vec![(Reason::RejectNoBackend, 1)]
    );
    assert_eq!(after.ct_entries, before.ct_entries, "no flow");
    assert_eq!(out.frame.len(), 14 + 20 + 8 + 20 + 8);
    let f = dissect(&out.frame).expect("a frame");
    assert_eq!((f.eth_dst, f.eth_src), (CLIENT_MAC, CLIENT_IF_MAC));
    let Net::Ipv4(ip) = f.net else {
        panic!("not IPv4")
    };
    assert_eq!((ip.ihl, ip.proto), (5, IPPROTO_ICMP), "IPv4, ICMP");
    assert_eq!(ip.total_len, 56, "total length");
    assert_eq!((ip.src, ip.dst), (VIP, CLIENT));
    assert!(ip.checksum_valid, "IPv4 checksum");
    let L4::Icmp(icmp) = ip.l4 else {
        panic!("not ICMP")
    };
    assert_eq!(
        (icmp.ty, icmp.code),
        (icmp::DEST_UNREACHABLE, unreachable::PORT),
        "port unreachable"
    );
    assert!(icmp.checksum_valid, "ICMP checksum");
    assert_eq!(
        icmp.body,
        dgram.ip_quote(8),
        "quotes the IPv4 header and 8 bytes"
    );

    // With a VLAN tag, the tag is kept.
    let tagged = PacketBuilder::udp(sa(CLIENT, 5001), sa(VIP, PORT))
        .vlan(42)
        .macs(CLIENT_MAC, CLIENT_IF_MAC);
    let out = run(&mut dp, ifindex(CLIENT_IF), &tagged.build());
    assert_eq!(out.action, xdp_action::TX);
    let f = dissect(&out.frame).expect("a frame");
    assert_eq!(
        f.vlans,
        vec![VlanTag {
            tpid: ETHERTYPE_VLAN,
            vid: 42
        }],
        "802.1Q tag"
    );
    let Net::Ipv4(ip) = f.net else {
        panic!("inner EtherType: not IPv4")
    };
    let L4::Icmp(icmp) = ip.l4 else {
        panic!("not ICMP")
    };
    assert!(icmp.checksum_valid, "ICMP checksum");
    assert_eq!(icmp.body, tagged.ip_quote(8));
}
