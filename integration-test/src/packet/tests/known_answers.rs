//! Known-answer bytes: one packet of each kind the builder makes, compared
//! byte for byte with the same packet made by an independent implementation
//! (Scapy 2.6.1; the script is in each test's comment), so that a mistake
//! shared by the builder and the parser (a checksum, a field offset, a
//! padding rule) cannot pass unnoticed.

use super::*;
use crate::packet::{icmp::unreachable, *};

/// The client's and the relay's MACs of the vectors below.
const C: [u8; 6] = DEFAULT_SRC_MAC;
const R: [u8; 6] = DEFAULT_DST_MAC;

/// Bytes from hex, written in pieces.
fn bytes(hex: &[&str]) -> Vec<u8> {
    let hex: String = hex.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `Ether(src=C, dst="ff:ff:ff:ff:ff:ff")/ARP(op=1, hwsrc=C,
/// psrc="198.18.0.2", hwdst="00:00:00:00:00:00", pdst="198.18.0.1")`
#[test]
fn arp_request() {
    let want = bytes(&[
        "ffffffffffff02000000000108060001080006040001020000000001c6120002",
        "000000000000c6120001",
    ]);
    assert_eq!(PacketBuilder::arp_request(C, CLIENT, RELAY).build(), want);
}

/// `Ether(src=R, dst=C)/ARP(op=2, hwsrc=R, psrc="198.18.0.1", hwdst=C,
/// pdst="198.18.0.2")`
#[test]
fn arp_reply() {
    let want = bytes(&[
        "02000000000102000000000208060001080006040002020000000002c6120001",
        "020000000001c6120002",
    ]);
    assert_eq!(PacketBuilder::arp_reply(R, RELAY, C, CLIENT).build(), want);
}

/// `Ether(src=C, dst=R)/IP(src="198.18.0.2", dst="198.18.0.101",
/// flags="DF", id=0, ttl=64)/ICMP(type=8, id=0x1234, seq=1)/b"ping"`
#[test]
fn icmp_echo_request() {
    let want = bytes(&[
        "020000000002020000000001080045000020000040004001ae51c6120002c612",
        "0065080006fa1234000170696e67",
    ]);
    let vip = Ipv4Addr::new(198, 18, 0, 101);
    let b = PacketBuilder::icmp_echo_request(CLIENT, vip, 0x1234, 1).payload(b"ping");
    assert_eq!(b.build(), want);
}

/// The TCP SYN the errors below quote: `IP(src="198.18.0.2",
/// dst="198.19.0.2", flags="DF", id=0, ttl=63,
/// options=[IPOption(b"\x94\x04\x00\x00")])/TCP(sport=40000, dport=80,
/// flags="S", seq=0x01020304, ack=0, window=64240)`.
fn quoted_syn() -> PacketBuilder {
    PacketBuilder::tcp(sa(CLIENT, 40000), sa(BACKEND, 80), SYN)
        .ip_options(&[0x94, 0x04, 0, 0])
        .ttl(63)
}

/// `Ether(src=R, dst=C)/IP(src="198.19.0.1", dst="198.18.0.2", flags="DF",
/// id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1400)/bytes(syn)[:24+8]`
#[test]
fn icmp_frag_needed_quoting_options() {
    let want = bytes(&[
        "02000000000102000000000208004500003c000040004001ae98c6130001c612",
        "0002030456ed000005784600002c000040003f061a9ec6120002c61300029404",
        "00009c40005001020304",
    ]);
    let error = IcmpError::FragNeeded { next_hop_mtu: 1400 };
    let b = PacketBuilder::icmp_error(SNAT, CLIENT, error, &quoted_syn().ip_quote(8)).macs(R, C);
    assert_eq!(b.build(), want);
}

/// `Ether(src=R, dst=C)/IP(src="198.18.0.1", dst="198.18.0.2", flags="DF",
/// id=0, ttl=64)/ICMP(type=11, code=0)/bytes(IP(src="198.18.0.2",
/// dst="198.19.0.2", flags="DF", id=0, ttl=1)/UDP(sport=5000,
/// dport=53)/b"query")[:28]`
#[test]
fn icmp_time_exceeded() {
    let want = bytes(&[
        "020000000001020000000002080045000038000040004001ae9dc6120001c612",
        "00020b00d1300000000045000021000040000111eda2c6120002c61300021388",
        "0035000d1005",
    ]);
    let dgram = PacketBuilder::udp(sa(CLIENT, 5000), sa(BACKEND, 53))
        .payload(b"query")
        .ttl(1);
    let b = PacketBuilder::icmp_error(
        RELAY,
        CLIENT,
        IcmpError::TimeExceeded(0),
        &dgram.ip_quote(8),
    )
    .macs(R, C);
    assert_eq!(b.build(), want);
}

/// `Ether(src=R, dst=C)/IP(src="198.18.0.1", dst="198.18.0.2", flags="DF",
/// id=0, ttl=64)/ICMP(type=12, code=0, ptr=20)/bytes(syn)[:24+8]`
#[test]
fn icmp_parameter_problem() {
    let want = bytes(&[
        "02000000000102000000000208004500003c000040004001ae99c6120001c612",
        "00020c003f69140000004600002c000040003f061a9ec6120002c61300029404",
        "00009c40005001020304",
    ]);
    let error = IcmpError::ParameterProblem { pointer: 20 };
    let b = PacketBuilder::icmp_error(RELAY, CLIENT, error, &quoted_syn().ip_quote(8)).macs(R, C);
    assert_eq!(b.build(), want);
    // Port unreachable is the same message with type 3 code 3.
    let port = IcmpError::DestUnreachable(unreachable::PORT);
    let frame = PacketBuilder::icmp_error(RELAY, CLIENT, port, &quoted_syn().ip_quote(8)).build();
    assert_eq!(&frame[34..36], &[3, 3]);
}

/// `Ether(src=C, dst=R, type=0x86dd)/IPv6(src="2001:db8::1",
/// dst="2001:db8::2", hlim=64)/IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
/// /IPv6ExtHdrRouting(type=0, segleft=0, addresses=["2001:db8::99"])
/// /IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")])
/// /IPv6ExtHdrFragment(offset=0, m=1, id=0x01020304)/UDP(sport=5000,
/// dport=53)/b"query"`
#[test]
fn ipv6_extension_headers() {
    let want = bytes(&[
        "02000000000202000000000186dd60000000003d004020010db8000000000000",
        "00000000000120010db80000000000000000000000022b000502000001003c02",
        "00000000000020010db80000000000000000000000992c000104000000001100",
        "00010102030413880035000d40ba7175657279",
    ]);
    let mut routing = vec![0; 4]; // reserved
    routing.extend_from_slice(&ROUTER6.octets());
    let b = PacketBuilder::udp6(CLIENT6, SERVER6)
        .payload(b"query")
        .ipv6_ext(Ipv6Ext::HopByHop(vec![5, 2, 0, 0]))
        .ipv6_ext(Ipv6Ext::Routing {
            routing_type: 0,
            segments_left: 0,
            data: routing,
        })
        .ipv6_ext(Ipv6Ext::DestinationOptions(vec![1, 4, 0, 0, 0, 0]))
        .ipv6_ext(Ipv6Ext::Fragment {
            offset: 0,
            more: true,
            id: 0x0102_0304,
        })
        .macs(C, R);
    assert_eq!(b.build(), want);
}

/// `Ether(src=C, dst=R, type=0x86dd)/IPv6(src="2001:db8::1",
/// dst="2001:db8::2", hlim=64)/ICMPv6EchoRequest(id=0x1234, seq=1,
/// data=b"ping")`
#[test]
fn icmpv6_echo_request() {
    let want = bytes(&[
        "02000000000202000000000186dd60000000000c3a4020010db8000000000000",
        "00000000000120010db80000000000000000000000028000333e123400017069",
        "6e67",
    ]);
    let b = PacketBuilder::icmp6_echo_request(HOST6_A, HOST6_B, 0x1234, 1).payload(b"ping");
    assert_eq!(b.build(), want);
}

/// `Ether(src=R, dst=C, type=0x86dd)/IPv6(src="2001:db8::99",
/// dst="2001:db8::1", hlim=64)/ICMPv6PacketTooBig(mtu=1280)/bytes(IPv6(
/// src="2001:db8::1", dst="2001:db8::2", hlim=64)/UDP(sport=5000,
/// dport=53)/(b"x" * 20))`
#[test]
fn icmpv6_packet_too_big() {
    let want = bytes(&[
        "02000000000102000000000286dd60000000004c3a4020010db8000000000000",
        "00000000009920010db800000000000000000000000102002b3e000005006000",
        "0000001c114020010db800000000000000000000000120010db8000000000000",
        "00000000000213880035001cdbcf787878787878787878787878787878787878",
        "7878",
    ]);
    let original = PacketBuilder::udp6(CLIENT6, SERVER6).payload(&[b'x'; 20]);
    let error = Icmpv6Error::PacketTooBig { mtu: 1280 };
    let b = PacketBuilder::icmp6_error(ROUTER6, HOST6_A, error, &original.ip_datagram()).macs(R, C);
    assert_eq!(b.build(), want);
}

/// `[Ether(src=C, dst=R)/f for f in fragment(IP(src="198.18.0.2",
/// dst="198.18.0.101", flags=0, id=0x4242, ttl=64)/UDP(sport=5000,
/// dport=5353)/bytes(range(40)), fragsize=16)]`
#[test]
fn ipv4_fragments() {
    let want = [
        bytes(&[
            "0200000000020200000000010800450000244242200040118bfbc6120002c612",
            "0065138814e90030ccff0001020304050607",
        ]),
        bytes(&[
            "0200000000020200000000010800450000244242200240118bf9c6120002c612",
            "006508090a0b0c0d0e0f1011121314151617",
        ]),
        bytes(&[
            "020000000002020000000001080045000024424200044011abf7c6120002c612",
            "006518191a1b1c1d1e1f2021222324252627",
        ]),
    ];
    let vip = Ipv4Addr::new(198, 18, 0, 101);
    let data: Vec<u8> = (0..40).collect();
    let b = PacketBuilder::udp(sa(CLIENT, 5000), sa(vip, 5353))
        .payload(&data)
        .ip_id(0x4242);
    assert_eq!(b.fragments(16), want);
}

/// `Ether(src=C, dst=R)/Dot1AD(vlan=5)/Dot1Q(vlan=7)/IP(src="198.18.0.2",
/// dst="198.18.0.101", flags="DF", id=0, ttl=64)/TCP(sport=40009,
/// dport=8080, flags="S", seq=0x01020304, ack=0, window=64240)`
#[test]
fn stacked_vlan_tags() {
    let want = bytes(&[
        "02000000000202000000000188a8000581000007080045000028000040004006",
        "ae44c6120002c61200659c491f9001020304000000005002faf068860000",
    ]);
    let vip = Ipv4Addr::new(198, 18, 0, 101);
    let b = PacketBuilder::tcp(sa(CLIENT, 40009), sa(vip, 8080), SYN).qinq(5, 7);
    assert_eq!(b.build(), want);
}
