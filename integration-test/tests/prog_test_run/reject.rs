//! A service none of whose backends is usable: a TCP SYN is answered with a
//! RST|ACK and a UDP datagram with an ICMP port unreachable, both from the
//! VIP, back to the client's MAC, with valid checksums; counted as
//! `reject_no_backend`; no flow is created.

use fwd::plan::{PlannedBackend, PlannedService};
use fwd_common::{counters::xdp_action, flow::tcp_flags::*, Reason, IPPROTO_TCP, IPPROTO_UDP};
use integration_test::{
    addr::sa,
    packet::{checksum::checksum, parse, PacketBuilder, TCP_SEQ},
};

use integration_test::prog_test_run::{
    env::{self, *},
    run::{run, snapshot},
};

/// Port of the service whose only backend is drained (weight 0).
const PORT: u16 = 9444;

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
    let tcp = &out.frame[34..54];
    assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), 0, "seq");
    assert_eq!(
        u32::from_be_bytes(tcp[8..12].try_into().unwrap()),
        TCP_SEQ + 1 + 3,
        "ack"
    );

    // UDP: ICMP port unreachable quoting the datagram's header and 8 bytes.
    let dgram = PacketBuilder::udp(sa(CLIENT, 5000), sa(VIP, PORT))
        .payload(b"a question")
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();
    let before = snapshot(&dp, 0);
    let out = run(&mut dp, ifindex(CLIENT_IF), &dgram);
    let after = snapshot(&dp, 0);
    assert_eq!(out.action, xdp_action::TX);
    assert_eq!(
        after.reasons_changed_since(&before),
        vec![(Reason::RejectNoBackend, 1)]
    );
    assert_eq!(after.ct_entries, before.ct_entries, "no flow");
    let f = &out.frame;
    assert_eq!(f.len(), 14 + 20 + 8 + 20 + 8);
    assert_eq!(
        (&f[0..6], &f[6..12], &f[12..14]),
        (&CLIENT_MAC[..], &CLIENT_IF_MAC[..], &[0x08, 0x00][..])
    );
    let ip = &f[14..34];
    assert_eq!((ip[0], ip[9]), (0x45, 1), "IPv4, ICMP");
    assert_eq!(u16::from_be_bytes([ip[2], ip[3]]), 56, "total length");
    assert_eq!(
        (&ip[12..16], &ip[16..20]),
        (&VIP.octets()[..], &CLIENT.octets()[..])
    );
    assert_eq!(checksum(ip), 0, "IPv4 checksum");
    let icmp = &f[34..];
    assert_eq!((icmp[0], icmp[1]), (3, 3), "port unreachable");
    assert_eq!(checksum(icmp), 0, "ICMP checksum");
    assert_eq!(
        &icmp[8..],
        &dgram[14..14 + 28],
        "quotes the IPv4 header and 8 bytes"
    );

    // With a VLAN tag, the tag is kept.
    let tagged = PacketBuilder::udp(sa(CLIENT, 5001), sa(VIP, PORT))
        .vlan(42)
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();
    let out = run(&mut dp, ifindex(CLIENT_IF), &tagged);
    assert_eq!(out.action, xdp_action::TX);
    assert_eq!(
        &out.frame[12..18],
        &tagged[12..18],
        "802.1Q tag and inner EtherType"
    );
    assert_eq!(checksum(&out.frame[18 + 20..]), 0, "ICMP checksum");
    assert_eq!(&out.frame[18 + 28..], &tagged[18..18 + 28]);
}
