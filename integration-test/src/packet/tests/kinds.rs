//! Round trips of every kind the builder makes beyond IPv4 TCP/UDP: each
//! is built by name, read back by [`dissect()`] with every field the tests
//! need and every checksum valid.

use super::*;
use crate::packet::{icmp::unreachable, *};

fn ipv4(frame: &[u8]) -> Ipv4 {
    match dissect(frame).expect("dissects").net {
        Net::Ipv4(ip) => ip,
        other => panic!("not IPv4: {other:?}"),
    }
}

fn ipv6(frame: &[u8]) -> Ipv6 {
    match dissect(frame).expect("dissects").net {
        Net::Ipv6(ip) => ip,
        other => panic!("not IPv6: {other:?}"),
    }
}

fn icmp(l4: L4) -> Icmp {
    match l4 {
        L4::Icmp(i) => i,
        other => panic!("not ICMP: {other:?}"),
    }
}

#[test]
fn arp_request_and_reply() {
    let mac = [2, 0xc1, 0, 0, 0, 2];
    let f = dissect(&PacketBuilder::arp_request(mac, CLIENT, RELAY).build()).unwrap();
    assert_eq!((f.eth_src, f.eth_dst), (mac, BROADCAST_MAC));
    let Net::Arp(a) = f.net else {
        panic!("not ARP")
    };
    assert_eq!(
        (a.op, a.sender_mac, a.sender_ip, a.target_mac, a.target_ip),
        (1, mac, CLIENT, [0; 6], RELAY)
    );

    let relay_mac = [2, 0xfa, 0, 0, 0, 1];
    let f = dissect(&PacketBuilder::arp_reply(relay_mac, RELAY, mac, CLIENT).build()).unwrap();
    assert_eq!((f.eth_src, f.eth_dst), (relay_mac, mac));
    let Net::Arp(a) = f.net else {
        panic!("not ARP")
    };
    assert_eq!((a.op, a.sender_ip, a.target_mac), (2, RELAY, mac));
}

#[test]
fn icmp_echo_request_and_reply() {
    for (b, ty) in [
        (
            PacketBuilder::icmp_echo_request(CLIENT, VIP, 0x1234, 7),
            icmp::ECHO_REQUEST,
        ),
        (
            PacketBuilder::icmp_echo_reply(VIP, CLIENT, 0x1234, 7),
            icmp::ECHO_REPLY,
        ),
    ] {
        let ip = ipv4(&b.payload(b"odd").build());
        assert!(ip.checksum_valid);
        assert_eq!(ip.proto, IPPROTO_ICMP);
        let m = icmp(ip.l4);
        assert!(m.checksum_valid);
        assert_eq!(
            (m.ty, m.code, m.echo(), &m.body[..]),
            (ty, 0, (0x1234, 7), &b"odd"[..])
        );
    }
}

#[test]
fn other_icmp_messages() {
    let b = PacketBuilder::icmp(CLIENT, VIP, icmp::TIMESTAMP_REQUEST, 0, [0, 1, 0, 2])
        .payload(&[0; 12]);
    let m = icmp(ipv4(&b.build()).l4);
    assert!(m.checksum_valid);
    assert_eq!((m.ty, m.code, m.echo(), m.body.len()), (13, 0, (1, 2), 12));
}

/// Each ICMP error quotes the IPv4 header (with its options) and the first
/// 8 bytes of the datagram, read back from the quote.
#[test]
fn icmp_errors_quote_the_datagram() {
    let syn = PacketBuilder::tcp(sa(CLIENT, 40000), sa(BACKEND, 80), SYN)
        .ip_options(&[0x94, 0x04, 0, 0])
        .ttl(63);
    let dgram = PacketBuilder::udp(sa(CLIENT, 5000), sa(BACKEND, 53)).payload(b"query");
    let cases = [
        (IcmpError::FragNeeded { next_hop_mtu: 1400 }, &syn, (3, 4)),
        (
            IcmpError::DestUnreachable(unreachable::PORT),
            &dgram,
            (3, 3),
        ),
        (IcmpError::DestUnreachable(unreachable::HOST), &syn, (3, 1)),
        (IcmpError::TimeExceeded(0), &dgram, (11, 0)),
        (IcmpError::ParameterProblem { pointer: 20 }, &syn, (12, 0)),
    ];
    for (error, original, (ty, code)) in cases {
        let quote = original.ip_quote(8);
        let ip = ipv4(&PacketBuilder::icmp_error(SNAT, CLIENT, error, &quote).build());
        assert!(ip.checksum_valid, "{error:?}");
        let m = icmp(ip.l4);
        assert!(m.checksum_valid, "{error:?}");
        assert_eq!((m.ty, m.code), (ty, code), "{error:?}");
        assert_eq!(m.body, quote, "{error:?}");
        let inner = m.quoted_ipv4().expect("a quoted IPv4 header");
        assert!(inner.checksum_valid);
        assert_eq!((inner.src, inner.dst), (CLIENT, BACKEND));
        let L4::Other(_, first8) = &inner.l4 else {
            panic!("raw quote")
        };
        assert_eq!(first8.len(), 8);
        match error {
            IcmpError::FragNeeded { next_hop_mtu } => {
                assert_eq!(m.next_hop_mtu(), next_hop_mtu);
                assert_eq!((inner.ihl, &inner.options[..]), (6, &[0x94, 4, 0, 0][..]));
                assert_eq!(&first8[..4], &[0x9c, 0x40, 0, 80], "ports 40000 -> 80");
            }
            IcmpError::ParameterProblem { pointer } => assert_eq!(m.rest[0], pointer),
            _ => assert_eq!(m.rest, [0; 4]),
        }
    }
    // RFC 1812 allows more than 8 bytes: the quote is what is asked for.
    let long = syn.ip_quote(20);
    assert_eq!(long.len(), 24 + 20);
    assert_eq!(syn.ip_quote(10_000), syn.ip_datagram());
}

/// An error about an echo quotes it like any datagram: its first 8 bytes
/// are the whole echo header (identifier and checksum), and a short echo
/// quoted whole is read back as an echo, its checksum verified.
#[test]
fn icmp_errors_quote_an_echo() {
    let echo = PacketBuilder::icmp_echo_request(CLIENT, BACKEND, 0x1234, 7)
        .payload(b"ping")
        .ttl(1);
    let error = IcmpError::TimeExceeded(0);
    let first8 = echo.ip_quote(8);
    let m = icmp(ipv4(&PacketBuilder::icmp_error(RELAY, CLIENT, error, &first8).build()).l4);
    assert!(m.checksum_valid);
    let L4::Other(IPPROTO_ICMP, header) = m.quoted_ipv4().expect("a quote").l4 else {
        panic!("a raw 8-byte quote")
    };
    assert_eq!(header[..2], [icmp::ECHO_REQUEST, 0]);
    assert_eq!(header[4..], [0x12, 0x34, 0, 7], "identifier, sequence");

    let whole = echo.ip_quote(usize::MAX);
    let m = icmp(ipv4(&PacketBuilder::icmp_error(RELAY, CLIENT, error, &whole).build()).l4);
    let inner = m.quoted_ipv4().expect("a quote");
    assert!(inner.checksum_valid);
    let quoted = icmp(inner.l4);
    assert!(quoted.checksum_valid);
    assert_eq!(
        (quoted.ty, quoted.echo(), &quoted.body[..]),
        (icmp::ECHO_REQUEST, (0x1234, 7), &b"ping"[..])
    );
    // A wrong byte in the quoted echo shows in its checksum.
    let mut damaged = whole.clone();
    *damaged.last_mut().unwrap() ^= 1;
    let m = icmp(ipv4(&PacketBuilder::icmp_error(RELAY, CLIENT, error, &damaged).build()).l4);
    assert!(!icmp(m.quoted_ipv4().unwrap().l4).checksum_valid);
}

#[test]
fn ipv6_with_every_extension_header() {
    let frame = PacketBuilder::udp6(CLIENT6, SERVER6)
        .payload(b"query")
        .ipv6_ext(Ipv6Ext::HopByHop(vec![5, 2, 0, 0]))
        .ipv6_ext(Ipv6Ext::Routing {
            routing_type: 4,
            segments_left: 0,
            data: ROUTER6.octets().to_vec(),
        })
        .ipv6_ext(Ipv6Ext::DestinationOptions(vec![]))
        .ipv6_ext(Ipv6Ext::Fragment {
            offset: 0,
            more: true,
            id: 0xdead_beef,
        })
        .ttl(9)
        .build();
    let ip = ipv6(&frame);
    assert_eq!((ip.src, ip.dst, ip.hop_limit), (HOST6_A, HOST6_B, 9));
    let kinds: Vec<(u8, usize)> = ip.ext.iter().map(|(n, b)| (*n, b.len())).collect();
    assert_eq!(
        kinds,
        vec![(0, 8), (43, 24), (60, 8), (44, 8)],
        "each padded to 8 bytes"
    );
    assert_eq!(ip.fragment, Some((0, true, 0xdead_beef)));
    let L4::Udp(u) = ip.l4 else { panic!("UDP") };
    assert!(u.checksum_valid);
    assert_eq!(
        (u.src_port, u.dst_port, &u.payload[..]),
        (5000, 53, &b"query"[..])
    );

    let tcp = PacketBuilder::tcp6(CLIENT6, SERVER6, SYN).build();
    let L4::Tcp(t) = ipv6(&tcp).l4 else {
        panic!("TCP")
    };
    assert!(t.checksum_valid);
    assert_eq!((t.flags, t.seq), (SYN, TCP_SEQ));
}

#[test]
fn ipv6_later_fragment_has_no_transport_header() {
    let frame = PacketBuilder::udp6(CLIENT6, SERVER6)
        .ipv6_ext(Ipv6Ext::Fragment {
            offset: 185,
            more: false,
            id: 1,
        })
        .build();
    let ip = ipv6(&frame);
    assert_eq!(ip.fragment, Some((185, false, 1)));
    assert!(matches!(ip.l4, L4::Fragment(_)));
}

#[test]
fn icmpv6_echo_and_packet_too_big() {
    let echo = PacketBuilder::icmp6_echo_request(HOST6_A, HOST6_B, 9, 3).payload(b"ping");
    let m = icmp(ipv6(&echo.build()).l4);
    assert!(m.checksum_valid);
    assert_eq!((m.ty, m.echo(), &m.body[..]), (128, (9, 3), &b"ping"[..]));
    let m = icmp(ipv6(&PacketBuilder::icmp6_echo_reply(HOST6_B, HOST6_A, 9, 3).build()).l4);
    assert_eq!((m.ty, m.checksum_valid), (129, true));

    let big = PacketBuilder::udp6(CLIENT6, SERVER6).payload(&[0x78; 1400]);
    let quote = big.ip_quote(1280 - 40 - 8 - 40);
    let ptb = PacketBuilder::icmp6_error(
        ROUTER6,
        HOST6_A,
        Icmpv6Error::PacketTooBig { mtu: 1280 },
        &quote,
    )
    .build();
    assert_eq!(ptb.len(), 14 + 1280, "fits the IPv6 minimum MTU");
    let m = icmp(ipv6(&ptb).l4);
    assert!(m.checksum_valid);
    assert_eq!((m.ty, m.code, m.rest_u32()), (2, 0, 1280));
    assert_eq!(m.body, quote);

    let problem = Icmpv6Error::ParameterProblem {
        code: 1,
        pointer: 40,
    };
    let m = icmp(ipv6(&PacketBuilder::icmp6_error(ROUTER6, HOST6_A, problem, &quote).build()).l4);
    assert_eq!(
        (m.ty, m.code, m.rest_u32(), m.checksum_valid),
        (4, 1, 40, true)
    );
}

/// A datagram cut into first, middle and last fragments: offsets, MF, the
/// IP id, and the data, which put back together is the whole segment with
/// a valid checksum.
#[test]
fn ipv4_fragments_first_middle_last() {
    let b = PacketBuilder::udp(sa(CLIENT, 5000), sa(VIP, 53))
        .payload(&[0x5a; 40])
        .ip_id(0x4242)
        .ip_options(&[0x01, 0x94, 0x04, 0x00, 0x00]); // NOP (not copied), Router Alert (copied)
    let frames = b.fragments(20);
    assert_eq!(frames.len(), 3, "48 bytes in pieces of 16");
    let mut whole = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let ip = ipv4(f);
        assert!(ip.checksum_valid, "fragment {i}");
        assert_eq!(ip.id, 0x4242);
        assert!(!ip.dont_fragment);
        assert_eq!(
            (ip.fragment_offset, ip.more_fragments),
            (2 * i as u16, i < 2),
            "fragment {i}"
        );
        let expected_options: &[u8] = if i == 0 {
            &[0x01, 0x94, 0x04, 0x00, 0x00, 0, 0, 0]
        } else {
            &[0x94, 0x04, 0x00, 0x00]
        };
        assert_eq!(ip.options, expected_options, "fragment {i}: options");
        match ip.l4 {
            L4::Udp(u) => {
                assert_eq!(i, 0);
                assert!(!u.checksum_valid, "a first fragment holds part of it");
                whole.extend_from_slice(&f[f.len() - 16..]);
            }
            L4::Fragment(data) => whole.extend_from_slice(&data),
            other => panic!("fragment {i}: {other:?}"),
        }
    }
    let complete = ipv4(&b.build());
    assert_eq!(whole, complete_segment(&b.build(), &complete));
}

/// The transport segment of an unfragmented frame.
fn complete_segment(frame: &[u8], ip: &Ipv4) -> Vec<u8> {
    frame[frame.len() - (usize::from(ip.total_len) - usize::from(ip.ihl) * 4)..].to_vec()
}

#[test]
fn stacked_vlan_tags() {
    let frame = PacketBuilder::tcp(sa(CLIENT, 40009), sa(VIP, 8080), SYN)
        .qinq(5, 7)
        .build();
    let f = dissect(&frame).unwrap();
    assert_eq!(
        f.vlans,
        vec![
            VlanTag {
                tpid: ETHERTYPE_QINQ,
                vid: 5
            },
            VlanTag {
                tpid: ETHERTYPE_VLAN,
                vid: 7
            }
        ]
    );
    let Net::Ipv4(ip) = f.net else { panic!("IPv4") };
    let L4::Tcp(t) = ip.l4 else { panic!("TCP") };
    assert!(ip.checksum_valid && t.checksum_valid);
    let one = dissect(
        &PacketBuilder::udp(sa(CLIENT, 1), sa(VIP, 2))
            .vlan(42)
            .build(),
    )
    .unwrap();
    assert_eq!(
        one.vlans,
        vec![VlanTag {
            tpid: ETHERTYPE_VLAN,
            vid: 42
        }]
    );
}

#[test]
fn malformed_header_fields_are_written_as_given() {
    let b = PacketBuilder::tcp(sa(CLIENT, 40010), sa(VIP, 8080), SYN);
    let good = b.build();
    let v6 = b.clone().ip_version(6).build();
    assert_eq!(v6[14], 0x65);
    assert!(dissect(&v6).unwrap_err().contains("version 6"));
    let short = b.clone().ip_total_len(10).build();
    assert_eq!(&short[16..18], &[0, 10]);
    assert!(dissect(&short).unwrap_err().contains("total length 10"));
    let long = b.ip_total_len(41).build();
    assert_eq!(long.len(), good.len());
    assert!(dissect(&long).unwrap_err().contains("exceeds"));
}
