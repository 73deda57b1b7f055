//! The rows of the packet tests' main table: name, ingress, input frame,
//! expected reason (and so verdict), expected output frame, backend
//! counters, flows opened or ended.

use std::net::{Ipv6Addr, SocketAddrV6};

use fwd_common::{events::end_reason, flow::tcp_flags::*, Reason, IPPROTO_TCP, IPPROTO_UDP};
use integration_test::{
    addr::sa,
    packet::{icmp, IcmpError, PacketBuilder},
    prog_test_run::env::*,
};

use crate::{
    case::{from_backend, from_client, to_backend, to_client, Case},
    frag::fragment_cases,
    icmp::icmp_cases,
    model::SnatModel,
};

/// The rows of the main table, in the order they run against one datapath
/// (later rows see the flows earlier ones created); `snat` predicts the
/// SNAT port of each flow they open.
pub fn table_cases(snat: &mut SnatModel) -> Vec<Case> {
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
                                           // 1,528 bytes of IPv4 with DF: more than the veths' 1,500.
    let big = |client| PacketBuilder::udp(client, vip(VIP_UDP_PORT)).payload(&[0x42; 1500]);
    // What the relay answers as a router, from its client-side address,
    // quoting the header and 8 bytes (no DF on the answer).
    let router_answer = |error, quoted: &PacketBuilder| {
        PacketBuilder::icmp_error(RELAY_CLIENT_SIDE, CLIENT, error, &quoted.ip_quote(8))
            .fragment(false, 0)
            .macs(CLIENT_IF_MAC, CLIENT_MAC)
            .build()
    };
    let syn = |client| PacketBuilder::tcp(client, vip(VIP_TCP_PORT), SYN);

    // Neither an echo (relayed or answered) nor an error (translated): a
    // timestamp request, id 1 sequence 1, three zero timestamps.
    let icmp = from_client(
        PacketBuilder::icmp(CLIENT, VIP, icmp::TIMESTAMP_REQUEST, 0, [0, 1, 0, 1])
            .payload(&[0; 12]),
    );
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

    let mut rows = vec![
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
        Case::sent(
            "ttl 1 to a VIP is answered with time exceeded from the relay's client-side address",
            CLIENT_IF,
            from_client(syn(c(40004)).ttl(1)),
            Reason::AnsweredTimeExceeded,
            router_answer(IcmpError::TimeExceeded(0), &syn(c(40004)).ttl(1)),
        ),
        Case::sent(
            "a new flow's first packet too big for its egress, DF set: fragmentation needed with the MTU",
            CLIENT_IF,
            from_client(big(c(5005))),
            Reason::AnsweredFragNeeded,
            router_answer(IcmpError::FragNeeded { next_hop_mtu: 1500 }, &big(c(5005))),
        ),
        Case::pass(
            "a packet too big without DF is dropped: fwd does not fragment",
            CLIENT_IF,
            from_client(big(c(5006)).fragment(false, 0)),
            Reason::DropFragNeeded,
        ),
        Case::sent(
            "an established flow's packet too big for its cached egress: fragmentation needed",
            CLIENT_IF,
            from_client(big(c(5000))),
            Reason::AnsweredFragNeeded,
            router_answer(IcmpError::FragNeeded { next_hop_mtu: 1500 }, &big(c(5000))),
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
            "a later fragment to a VIP whose first was not seen yet is held for the loader",
            CLIENT_IF,
            from_client(
                PacketBuilder::udp(c(5003), vip(VIP_UDP_PORT))
                    .payload(data)
                    .ip_id(0x0bad)
                    .fragment(false, 8),
            ),
            Reason::HeldFragment,
        ),
        Case::pass(
            "icmp the relay does not handle (a timestamp request) to a VIP passes",
            CLIENT_IF,
            icmp,
            Reason::PassNotTcpUdp,
        ),
        Case::sent(
            "an echo request to a VIP no service relays ICMP to is answered from the VIP",
            CLIENT_IF,
            from_client(PacketBuilder::icmp_echo_request(CLIENT, VIP, 1, 1).payload(&[0; 8])),
            Reason::AnsweredEcho,
            PacketBuilder::icmp_echo_reply(VIP, CLIENT, 1, 1)
                .payload(&[0; 8])
                .macs(CLIENT_IF_MAC, CLIENT_MAC)
                .build(),
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
            "syn|fin on the closed tuple opens nothing: it goes on in the closed flow",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(40000), vip(VIP_TCP_PORT), SYN | FIN)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), be(80), SYN | FIN)),
        )
        .backend(backend_id::TCP),
        Case::translated(
            "a new SYN on the closed tuple is a new flow, to the backend Maglev picks (the same here)",
            CLIENT_IF,
            from_client(syn(c(40000))),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), be(80), SYN)),
        )
        .backend(backend_id::TCP)
        .reopened_flow(),
    ];
    rows.extend(icmp_cases(snat));
    rows.extend(fragment_cases(snat));
    rows
}
