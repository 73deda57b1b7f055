//! IPv4 TCP/UDP: builder/parser round trips, checks against a published
//! example, and what [`parse()`] refuses.

use std::net::Ipv4Addr;

use super::*;
use crate::packet::*;

#[test]
fn tcp_round_trip() {
    let b = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, 80), SYN | ACK)
        .payload(b"hello")
        .ttl(17)
        .ip_id(0xbeef)
        .macs([2, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2]);
    let frame = b.build();
    assert_eq!(frame.len(), 14 + 20 + 20 + 5);
    let p = parse(&frame).unwrap();
    assert_eq!(p.eth_src, [2, 1, 1, 1, 1, 1]);
    assert_eq!(p.eth_dst, [2, 2, 2, 2, 2, 2]);
    assert_eq!(p.vlan, None);
    assert_eq!((p.ihl, p.ttl, p.proto, p.ip_id), (5, 17, 6, 0xbeef));
    assert_eq!(p.src, sa(CLIENT, 40000));
    assert_eq!(p.dst, sa(VIP, 80));
    assert_eq!(p.tcp_flags, SYN | ACK);
    assert!(p.ip_checksum_valid);
    assert!(p.l4_checksum_valid);
    assert_ne!(p.l4_checksum, 0);
    assert!(p.ip_options.is_empty());
    assert_eq!(p.payload, b"hello");
    // DF set on an unfragmented packet; sequence/ack numbers as documented.
    assert_eq!(&frame[20..22], &[0x40, 0x00]);
    assert_eq!(&frame[38..42], &TCP_SEQ.to_be_bytes());
    assert_eq!(&frame[42..46], &TCP_ACK.to_be_bytes());
}

#[test]
fn tcp_options_round_trip_and_their_mss_is_read() {
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7: a Linux SYN.
    let linux = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let frame = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, 80), SYN)
        .tcp_options(&linux)
        .payload(b"data")
        .build();
    assert_eq!(frame.len(), 14 + 20 + 40 + 4);
    assert_eq!(frame[14 + 20 + 12], 10 << 4, "data offset: 10 words");
    let Net::Ipv4(ip) = dissect(&frame).unwrap().net else {
        panic!("IPv4")
    };
    let L4::Tcp(tcp) = ip.l4 else { panic!("TCP") };
    assert!(tcp.checksum_valid);
    assert_eq!(
        (tcp.options.as_slice(), tcp.payload.as_slice()),
        (&linux[..], &b"data"[..])
    );
    assert_eq!(tcp.mss(), Some(1460));
    assert_eq!(parse(&frame).unwrap().payload, b"data");

    let mss_of = |options: &[u8]| {
        let frame = PacketBuilder::tcp(sa(CLIENT, 1), sa(VIP, 2), SYN)
            .tcp_options(options)
            .build();
        let Net::Ipv4(ip) = dissect(&frame).unwrap().net else {
            panic!("IPv4")
        };
        let L4::Tcp(tcp) = ip.l4 else { panic!("TCP") };
        tcp.mss()
    };
    assert_eq!(
        mss_of(&[1, 2, 4, 0x05, 0x50]),
        Some(1360),
        "after a NOP, padded"
    );
    assert_eq!(mss_of(&[]), None);
    assert_eq!(mss_of(&[4, 2]), None, "no MSS option");
    assert_eq!(mss_of(&[0, 0, 0, 0, 2, 4, 5, 0xb4]), None, "after the end");
    assert_eq!(mss_of(&[8, 0, 2, 4, 5, 0xb4]), None, "after a zero length");
    assert_eq!(mss_of(&[2, 3, 5, 1]), None, "of the wrong length");
}

#[test]
fn udp_round_trip_with_vlan_and_options() {
    let b = PacketBuilder::udp(sa(BACKEND, 53), sa(SNAT, 20001))
        .payload(&[0xaa; 33])
        .vlan(42)
        .ip_options(&[0x01, 0x01, 0x01]); // three NOPs, padded to 4
    let p = parse(&b.build()).unwrap();
    assert_eq!(p.vlan, Some(42));
    assert_eq!(p.ihl, 6);
    assert_eq!(p.ip_options, vec![1, 1, 1, 0]);
    assert_eq!(p.proto, 17);
    assert_eq!(p.tcp_flags, 0);
    assert_eq!(p.src, sa(BACKEND, 53));
    assert_eq!(p.dst, sa(SNAT, 20001));
    assert!(p.ip_checksum_valid && p.l4_checksum_valid);
    assert_eq!(p.payload, vec![0xaa; 33]);
}

#[test]
fn udp_zero_checksum_is_valid_and_zero() {
    let b = PacketBuilder::udp(sa(CLIENT, 1000), sa(VIP, 53))
        .payload(b"x")
        .udp_zero_checksum();
    let p = parse(&b.build()).unwrap();
    assert_eq!(p.l4_checksum, 0);
    assert!(p.l4_checksum_valid);
}

#[test]
fn computed_udp_zero_is_sent_as_ffff() {
    let (src, dst) = (sa(CLIENT, 1000), sa(VIP, 53));
    // With a zero payload word the segment sums to `s`; adding the word
    // 0xffff - s makes the sum 0xffff, whose complement is 0.
    let base = PacketBuilder::udp(src, dst).payload(&[0, 0]).build();
    let s = !parse(&base).unwrap().l4_checksum;
    let word = 0xffff - s;
    let frame = PacketBuilder::udp(src, dst)
        .payload(&word.to_be_bytes())
        .build();
    let p = parse(&frame).unwrap();
    assert_eq!(p.l4_checksum, 0xffff);
    assert!(p.l4_checksum_valid);
}

/// The IPv4 header checksum example published on Wikipedia ("Internet
/// checksum" / "IPv4 header checksum"): 4500 0073 0000 4000 4011 b861
/// c0a8 0001 c0a8 00c7, i.e. a 115-byte UDP packet, DF, TTL 64, from
/// 192.168.0.1 to 192.168.0.199, whose checksum is 0xb861.
#[test]
fn ipv4_header_matches_published_example() {
    let published: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    let frame = PacketBuilder::udp(
        sa(Ipv4Addr::new(192, 168, 0, 1), 1234),
        sa(Ipv4Addr::new(192, 168, 0, 199), 53),
    )
    .payload(&[0x5a; 115 - 28])
    .build();
    assert_eq!(&frame[14..34], &published);
    assert!(parse(&frame).unwrap().ip_checksum_valid);
}

#[test]
fn corruption_is_detected() {
    let frame = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, 80), ACK)
        .payload(b"payload")
        .build();
    let mut bad_ttl = frame.clone();
    bad_ttl[22] -= 1; // TTL changed without fixing the checksum
    let p = parse(&bad_ttl).unwrap();
    assert!(!p.ip_checksum_valid);
    assert!(
        p.l4_checksum_valid,
        "TTL is not covered by the TCP checksum"
    );

    let mut bad_payload = frame.clone();
    *bad_payload.last_mut().unwrap() ^= 0x40;
    let p = parse(&bad_payload).unwrap();
    assert!(p.ip_checksum_valid);
    assert!(!p.l4_checksum_valid);

    let mut bad_addr = frame;
    bad_addr[33] ^= 1; // last byte of the destination address
    let p = parse(&bad_addr).unwrap();
    assert!(!p.ip_checksum_valid);
    assert!(
        !p.l4_checksum_valid,
        "the pseudo-header covers the addresses"
    );
}

#[test]
fn fragment_fields_are_set_and_segment_kept() {
    let frame = PacketBuilder::udp(sa(CLIENT, 1000), sa(VIP, 53))
        .payload(b"frag")
        .fragment(true, 0)
        .build();
    assert_eq!(&frame[20..22], &[0x20, 0x00], "MF set, DF clear, offset 0");
    let p = parse(&frame).unwrap();
    assert!(p.ip_checksum_valid && p.l4_checksum_valid);
    let frame = PacketBuilder::udp(sa(CLIENT, 1000), sa(VIP, 53))
        .fragment(false, 185)
        .build();
    assert_eq!(u16::from_be_bytes([frame[20], frame[21]]), 185);
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut frame = PacketBuilder::udp(sa(CLIENT, 1000), sa(VIP, 53)).build();
    frame.resize(60, 0);
    let p = parse(&frame).unwrap();
    assert!(p.payload.is_empty() && p.l4_checksum_valid);
}

#[test]
fn bad_frames_are_errors() {
    let good = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, 80), SYN).build();
    assert!(parse(&good[..13])
        .unwrap_err()
        .contains("shorter than Ethernet"));
    assert!(parse(&good[..30]).unwrap_err().contains("IPv4 header"));
    assert!(parse(&good[..40]).unwrap_err().contains("total length"));

    let arp = PacketBuilder::arp_request(DEFAULT_SRC_MAC, CLIENT, RELAY).build();
    assert!(parse(&arp).unwrap_err().contains("not IPv4"));

    let stacked = PacketBuilder::tcp(sa(CLIENT, 1), sa(RELAY, 2), SYN)
        .qinq(5, 7)
        .build();
    assert!(parse(&stacked).unwrap_err().contains("more than one VLAN"));

    let short_ihl = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, 80), SYN)
        .ihl(4)
        .build();
    assert!(parse(&short_ihl).unwrap_err().contains("IHL 4"));

    let icmp = PacketBuilder::icmp_echo_request(CLIENT, VIP, 1, 1).build();
    assert!(parse(&icmp).unwrap_err().contains("neither TCP nor UDP"));
}

#[test]
#[should_panic(expected = "at most 40 bytes")]
fn too_many_options_panic() {
    let _ = PacketBuilder::udp(sa(CLIENT, 1), sa(RELAY, 2)).ip_options(&[1; 41]);
}

#[test]
#[should_panic(expected = "TCP options are at most 40 bytes")]
fn too_many_tcp_options_panic() {
    let _ = PacketBuilder::tcp(sa(CLIENT, 1), sa(RELAY, 2), SYN).tcp_options(&[1; 41]);
}
