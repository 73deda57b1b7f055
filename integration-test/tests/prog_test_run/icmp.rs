//! The ICMP rows of the main table (they run after the others): errors
//! about relayed flows translated from either side (RFC 5508), the refused
//! ones, echo sessions through a whole-address VIP, and errors about those
//! sessions (RFC 5508 REQ-3/REQ-4), translated like the others.
//!
//! An error's expected output is built from scratch by the test crate's
//! builder: the outer packet as the other side must see it, quoting the
//! packet as the other side sent or received it; the runner compares the
//! bytes and verifies every checksum (outer IPv4, ICMP, quoted IPv4) with
//! the test crate's own routine.

use std::net::Ipv4Addr;

use fwd_common::{flow::tcp_flags::*, Reason, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use integration_test::{
    addr::sa,
    packet::{
        icmp::{self, unreachable},
        IcmpError, PacketBuilder,
    },
    prog_test_run::env::*,
};

use crate::{
    case::{from_backend, from_client, to_backend, to_client, Case},
    model::SnatModel,
};

/// A router beyond the relay's backend side, the source of errors about
/// translated packets.
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
/// A router on the client's side, the source of errors about replies.
const CLIENT_ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
/// The echo identifier the client uses.
const ECHO_ID: u16 = 0x1234;

/// The rows; `snat` predicts the SNAT ports of the flows they open.
pub fn icmp_cases(snat: &mut SnatModel) -> Vec<Case> {
    let c = |port| sa(CLIENT, port);
    let vip = |port| sa(VIP, port);
    let be = |port| sa(BACKEND, port);
    let snat_at = |port| sa(SNAT, port);
    let p_udp = snat
        .claim(c(41000), vip(VIP_UDP_PORT), IPPROTO_UDP, be(53))
        .expect("a free SNAT port");
    let p_tcp = snat
        .claim(c(41001), vip(VIP_TCP_PORT), IPPROTO_TCP, be(80))
        .expect("a free SNAT port");
    let p_echo = snat
        .claim(c(ECHO_ID), sa(VIP_WHOLE, 0), IPPROTO_ICMP, sa(BACKEND, 0))
        .expect("a free SNAT port");
    let free = (SNAT_PORT_MIN..=SNAT_PORT_MAX)
        .rev()
        .find(|p| !snat.is_claimed(be(53), IPPROTO_UDP, *p))
        .expect("an unclaimed SNAT port");
    let free_echo_id = (SNAT_PORT_MIN..=SNAT_PORT_MAX)
        .rev()
        .find(|p| !snat.is_claimed(be(0), IPPROTO_ICMP, *p))
        .expect("an unclaimed SNAT port");

    // The packets errors quote, as each side sees them: the relay sent the
    // translated ones with TTL 63.
    let udp_to_backend = || {
        PacketBuilder::udp(snat_at(p_udp), be(53))
            .payload(b"query")
            .ttl(63)
    };
    let udp_from_client = || {
        PacketBuilder::udp(c(41000), vip(VIP_UDP_PORT))
            .payload(b"query")
            .ttl(63)
    };
    let udp_to_client = || {
        PacketBuilder::udp(vip(VIP_UDP_PORT), c(41000))
            .payload(b"answer")
            .ttl(63)
    };
    let udp_from_backend = || {
        PacketBuilder::udp(be(53), snat_at(p_udp))
            .payload(b"answer")
            .ttl(63)
    };
    let tcp_to_backend = || PacketBuilder::tcp(snat_at(p_tcp), be(80), ACK).ttl(63);
    let tcp_from_client = || PacketBuilder::tcp(c(41001), vip(VIP_TCP_PORT), ACK).ttl(63);
    // The echo session's packets, as each side sees them.
    let echo_to_backend = || {
        PacketBuilder::icmp_echo_request(SNAT, BACKEND, p_echo, 1)
            .payload(b"ping")
            .ttl(63)
    };
    let echo_from_client = || {
        PacketBuilder::icmp_echo_request(CLIENT, VIP_WHOLE, ECHO_ID, 1)
            .payload(b"ping")
            .ttl(63)
    };
    let echo_to_client = || {
        PacketBuilder::icmp_echo_reply(VIP_WHOLE, CLIENT, ECHO_ID, 1)
            .payload(b"ping")
            .ttl(63)
    };
    let echo_from_backend = || {
        PacketBuilder::icmp_echo_reply(BACKEND, SNAT, p_echo, 1)
            .payload(b"ping")
            .ttl(63)
    };
    // A timestamp request's identifier lies where an echo's does: the
    // session's would find the session, were the quote taken for an echo.
    let session_id_rest = {
        let id = p_echo.to_be_bytes();
        [id[0], id[1], 0, 1]
    };
    let host_unreachable = IcmpError::DestUnreachable(unreachable::HOST);
    let frag_needed = IcmpError::FragNeeded { next_hop_mtu: 1400 };
    let error = |src, dst, e, quoted: Vec<u8>| PacketBuilder::icmp_error(src, dst, e, &quoted);

    let good_error = from_backend(error(
        ROUTER,
        SNAT,
        frag_needed,
        udp_to_backend().ip_quote(8),
    ));
    let mut bad_checksum = good_error.clone();
    // The ICMP checksum: Ethernet 14 + IPv4 20 + 2.
    bad_checksum[14 + 20 + 2] ^= 0x5a;
    // The quoted header's checksum (after the 8-byte ICMP header), with the
    // ICMP checksum made right again: only the quote is damaged.
    let mut quote = udp_to_backend().ip_quote(8);
    quote[10] ^= 0x5a;
    let bad_quote = from_backend(error(ROUTER, SNAT, frag_needed, quote));
    let long_udp = PacketBuilder::udp(snat_at(p_udp), be(53))
        .payload(&[7; 700])
        .ttl(63);

    vec![
        Case::translated(
            "a udp flow for the icmp rows",
            CLIENT_IF,
            from_client(udp_from_client().ttl(64)),
            Reason::ForwardedRedirect,
            to_backend(udp_to_backend()),
        )
        .backend(backend_id::UDP)
        .new_flow(),
        Case::translated(
            "a tcp flow for the icmp rows",
            CLIENT_IF,
            from_client(PacketBuilder::tcp(c(41001), vip(VIP_TCP_PORT), SYN)),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::tcp(snat_at(p_tcp), be(80), SYN)),
        )
        .backend(backend_id::TCP)
        .new_flow(),
        Case::sent(
            "frag needed beyond the relay, about a translated datagram, reaches the client from the VIP",
            BACKEND_IF,
            good_error.clone(),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(VIP, CLIENT, frag_needed, udp_from_client().ip_quote(8))),
        ),
        Case::sent(
            "port unreachable from the client, about a reply, reaches the backend from the SNAT address",
            CLIENT_IF,
            from_client(error(
                CLIENT,
                VIP,
                IcmpError::DestUnreachable(unreachable::PORT),
                udp_to_client().ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_backend(error(
                SNAT,
                BACKEND,
                IcmpError::DestUnreachable(unreachable::PORT),
                udp_from_backend().ip_quote(8),
            )),
        ),
        Case::sent(
            "time exceeded quoting a header with IP options is translated, options kept",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                IcmpError::TimeExceeded(0),
                udp_to_backend().ip_options(&[1, 1, 1, 1]).ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(
                VIP,
                CLIENT,
                IcmpError::TimeExceeded(0),
                udp_from_client().ip_options(&[1, 1, 1, 1]).ip_quote(8),
            )),
        ),
        Case::sent(
            "a quote holding the tcp checksum (20 bytes) has it translated too",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                IcmpError::FragNeeded { next_hop_mtu: 1280 },
                tcp_to_backend().ip_quote(20),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(
                VIP,
                CLIENT,
                IcmpError::FragNeeded { next_hop_mtu: 1280 },
                tcp_from_client().ip_quote(20),
            )),
        ),
        Case::sent(
            "parameter problem about a tcp packet, 8 bytes quoted",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                IcmpError::ParameterProblem { pointer: 1 },
                tcp_to_backend().ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(
                VIP,
                CLIENT,
                IcmpError::ParameterProblem { pointer: 1 },
                tcp_from_client().ip_quote(8),
            )),
        ),
        Case::sent(
            "time exceeded from the client side, about a tcp reply",
            CLIENT_IF,
            from_client(error(
                CLIENT,
                VIP,
                IcmpError::TimeExceeded(0),
                PacketBuilder::tcp(vip(VIP_TCP_PORT), c(41001), ACK)
                    .ttl(1)
                    .ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_backend(error(
                SNAT,
                BACKEND,
                IcmpError::TimeExceeded(0),
                PacketBuilder::tcp(be(80), snat_at(p_tcp), ACK)
                    .ttl(1)
                    .ip_quote(8),
            )),
        ),
        Case::sent(
            "parameter problem from the client side, about a udp reply",
            CLIENT_IF,
            from_client(error(
                CLIENT,
                VIP,
                IcmpError::ParameterProblem { pointer: 0 },
                udp_to_client().ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_backend(error(
                SNAT,
                BACKEND,
                IcmpError::ParameterProblem { pointer: 0 },
                udp_from_backend().ip_quote(8),
            )),
        ),
        Case::pass(
            "an error whose quote ends before the ports is dropped",
            BACKEND_IF,
            from_backend(error(ROUTER, SNAT, frag_needed, udp_to_backend().ip_quote(2))),
            Reason::DropIcmpTruncated,
        ),
        Case::pass(
            "an error with a bad ICMP checksum is dropped",
            BACKEND_IF,
            bad_checksum,
            Reason::DropIcmpBadChecksum,
        ),
        Case::pass(
            "an error whose quoted header has a bad checksum is dropped",
            BACKEND_IF,
            bad_quote,
            Reason::DropIcmpQuoteBadChecksum,
        ),
        Case::pass(
            "an error quoting a SNAT port no flow holds is dropped",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                frag_needed,
                PacketBuilder::udp(snat_at(free), be(53)).ip_quote(8),
            )),
            Reason::DropIcmpNoFlow,
        ),
        Case::pass(
            "an error about the host's own traffic (not a SNAT port) goes to the kernel",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                frag_needed,
                PacketBuilder::udp(snat_at(45000), be(53)).ip_quote(8),
            )),
            Reason::PassIcmpNoFlow,
        ),
        Case::pass(
            "an error sent to someone other than the quoted packet's sender is dropped",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                Ipv4Addr::new(198, 19, 0, 99),
                frag_needed,
                udp_to_backend().ip_quote(8),
            )),
            Reason::DropIcmpNoFlow,
        ),
        Case::pass(
            "an error longer than 576 bytes is dropped",
            BACKEND_IF,
            from_backend(error(ROUTER, SNAT, frag_needed, long_udp.ip_quote(600))),
            Reason::DropIcmpTooLong,
        ),
        Case::translated(
            "an echo request through the whole-address VIP opens a session, id -> SNAT port",
            CLIENT_IF,
            from_client(PacketBuilder::icmp_echo_request(CLIENT, VIP_WHOLE, ECHO_ID, 1).payload(b"ping")),
            Reason::ForwardedRedirect,
            to_backend(PacketBuilder::icmp_echo_request(SNAT, BACKEND, p_echo, 1).payload(b"ping")),
        )
        .backend(backend_id::WHOLE)
        .new_flow(),
        Case::translated(
            "the backend's echo reply goes back to the client from the VIP, id restored",
            BACKEND_IF,
            from_backend(PacketBuilder::icmp_echo_reply(BACKEND, SNAT, p_echo, 1).payload(b"ping")),
            Reason::ForwardedRedirect,
            to_client(PacketBuilder::icmp_echo_reply(VIP_WHOLE, CLIENT, ECHO_ID, 1).payload(b"ping")),
        )
        .backend(backend_id::WHOLE),
        Case::sent(
            "time exceeded beyond the relay, about a translated echo request, reaches the client from the VIP, id restored",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                IcmpError::TimeExceeded(0),
                echo_to_backend().ttl(1).ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(
                VIP_WHOLE,
                CLIENT,
                IcmpError::TimeExceeded(0),
                echo_from_client().ttl(1).ip_quote(8),
            )),
        ),
        Case::sent(
            "host unreachable about a translated echo request, quoted whole, keeps the echo's checksum right",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                host_unreachable,
                echo_to_backend().ip_quote(usize::MAX),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(
                VIP_WHOLE,
                CLIENT,
                host_unreachable,
                echo_from_client().ip_quote(usize::MAX),
            )),
        ),
        Case::sent(
            "host unreachable quoting an echo request with IP options is translated, options kept",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                host_unreachable,
                echo_to_backend().ip_options(&[1, 1, 1, 1]).ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_client(error(
                VIP_WHOLE,
                CLIENT,
                host_unreachable,
                echo_from_client().ip_options(&[1, 1, 1, 1]).ip_quote(8),
            )),
        ),
        Case::sent(
            "time exceeded from the client side, about an echo reply, reaches the backend from the SNAT address",
            CLIENT_IF,
            from_client(error(
                CLIENT_ROUTER,
                VIP_WHOLE,
                IcmpError::TimeExceeded(0),
                echo_to_client().ttl(1).ip_quote(8),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_backend(error(
                SNAT,
                BACKEND,
                IcmpError::TimeExceeded(0),
                echo_from_backend().ttl(1).ip_quote(8),
            )),
        ),
        Case::sent(
            "host unreachable from the client side, about an echo reply quoted whole with IP options",
            CLIENT_IF,
            from_client(error(
                CLIENT_ROUTER,
                VIP_WHOLE,
                host_unreachable,
                echo_to_client()
                    .ip_options(&[1, 1, 1, 1])
                    .ip_quote(usize::MAX),
            )),
            Reason::ForwardedIcmpErrorRedirect,
            to_backend(error(
                SNAT,
                BACKEND,
                host_unreachable,
                echo_from_backend()
                    .ip_options(&[1, 1, 1, 1])
                    .ip_quote(usize::MAX),
            )),
        ),
        Case::pass(
            "an error about an echo no session holds goes to the kernel, even with an id among the SNAT ports",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                host_unreachable,
                PacketBuilder::icmp_echo_request(SNAT, BACKEND, free_echo_id, 1).ip_quote(8),
            )),
            Reason::PassIcmpNoFlow,
        ),
        Case::pass(
            "an error quoting icmp other than an echo (a timestamp request) goes to the kernel",
            BACKEND_IF,
            from_backend(error(
                ROUTER,
                SNAT,
                host_unreachable,
                PacketBuilder::icmp(SNAT, BACKEND, icmp::TIMESTAMP_REQUEST, 0, session_id_rest)
                    .payload(&[0; 12])
                    .ip_quote(8),
            )),
            Reason::PassIcmpNoFlow,
        ),
        Case::pass(
            "an error whose quoted echo ends before its identifier is dropped",
            BACKEND_IF,
            from_backend(error(ROUTER, SNAT, host_unreachable, echo_to_backend().ip_quote(4))),
            Reason::DropIcmpTruncated,
        ),
        Case::pass(
            "an echo reply no session expects goes to the kernel",
            CLIENT_IF,
            from_client(PacketBuilder::icmp_echo_reply(CLIENT, VIP_WHOLE, 7, 1)),
            Reason::PassIcmpNoFlow,
        ),
    ]
}

/// The relay's own ICMP errors (here time exceeded) stay within their
/// budget: a burst of 50 per CPU, then 1 a millisecond. 200 expiring
/// packets sent as fast as the test can are answered at most that often,
/// the rest dropped and counted; at least one CPU's burst is answered.
pub fn router_answers_are_rate_limited() {
    use std::time::Instant;

    use integration_test::prog_test_run::run::run;

    let mut dp = integration_test::prog_test_run::env::datapath();
    let expiring =
        from_client(PacketBuilder::tcp(sa(CLIENT, 40100), sa(VIP, VIP_TCP_PORT), SYN).ttl(1));
    let started = Instant::now();
    let actions: Vec<u32> = (0..200)
        .map(|_| run(&mut dp, ifindex(CLIENT_IF), &expiring).action)
        .collect();
    let elapsed_ms = started.elapsed().as_millis() as usize;
    let answered = actions
        .iter()
        .filter(|&&a| a == Reason::AnsweredTimeExceeded.action())
        .count();
    let dropped = actions
        .iter()
        .filter(|&&a| a == Reason::DropIcmpRateLimited.action())
        .count();
    assert_eq!(answered + dropped, 200, "{actions:?}");
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let bound = cpus * (50 + elapsed_ms + 1);
    assert!(answered >= 50, "{answered} answered");
    assert!(
        answered <= bound,
        "{answered} answered in {elapsed_ms} ms (at most {bound})"
    );
    assert!(
        dropped > 0 || bound >= 200,
        "none limited in {elapsed_ms} ms"
    );
}
