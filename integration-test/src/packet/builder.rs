//! [`PacketBuilder`]: readable inputs for packet tests, by name.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::{
    icmp::{self, echo_rest, IcmpError, Icmpv6Error},
    ipv6::Ipv6Ext,
    layers::{Arp, Ip, IpHeader, Net, L4, V4, V6},
    ETHERTYPE_QINQ, ETHERTYPE_VLAN,
};

/// Source MAC of built frames unless [`PacketBuilder::macs`] says otherwise
/// (locally administered).
pub const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Destination MAC of built frames unless [`PacketBuilder::macs`] says
/// otherwise (locally administered).
pub const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// TTL (IPv4) or hop limit (IPv6) of built packets unless
/// [`PacketBuilder::ttl`] says otherwise.
pub const DEFAULT_TTL: u8 = 64;
/// TCP sequence number of built segments.
pub const TCP_SEQ: u32 = 0x0102_0304;
/// TCP acknowledgement number of built segments that carry ACK (0 otherwise).
pub const TCP_ACK: u32 = 0x0a0b_0c0d;
/// TCP window of built segments.
pub const TCP_WINDOW: u16 = 64_240;
/// The Ethernet broadcast address (destination of ARP requests).
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Builds one Ethernet frame, by name: ARP; IPv4 (with options, as a
/// fragment) or IPv6 (with extension headers) carrying TCP, UDP, ICMP or
/// ICMPv6 (echo and errors that quote a packet); no, one or two VLAN tags.
/// Every checksum is computed from scratch by [`super::checksum`].
///
/// Used by the packet tests (`integration-test/tests/prog_test_run/`) to
/// make the inputs of `BPF_PROG_TEST_RUN` and the expected outputs.
/// Defaults: MACs [`DEFAULT_SRC_MAC`] -> [`DEFAULT_DST_MAC`], no VLAN, TTL
/// (hop limit) [`DEFAULT_TTL`], IP id 0, Don't Fragment set, no options, no
/// extension headers, empty payload. The builder is a value: change one
/// field of a copy to make a variant.
///
/// Invalid requests (a VLAN id above 4095, more than 40 bytes of options, a
/// fragment offset above 8191, an IPv4 setting on an IPv6 packet or the
/// reverse, IP settings on ARP) panic: they are mistakes in the test itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketBuilder {
    pub(super) eth_src: [u8; 6],
    pub(super) eth_dst: [u8; 6],
    /// VLAN tags, outermost first: (TPID, VLAN id).
    pub(super) tags: Vec<(u16, u16)>,
    pub(super) net: Net,
}

impl PacketBuilder {
    fn ip_packet(header: IpHeader, l4: L4) -> Self {
        Self {
            eth_src: DEFAULT_SRC_MAC,
            eth_dst: DEFAULT_DST_MAC,
            tags: Vec::new(),
            net: Net::Ip(Ip {
                header,
                l4,
                payload: Vec::new(),
            }),
        }
    }

    fn v4(src: Ipv4Addr, dst: Ipv4Addr, l4: L4) -> Self {
        Self::ip_packet(
            IpHeader::V4(V4 {
                src,
                dst,
                ttl: DEFAULT_TTL,
                id: 0,
                options: Vec::new(),
                fragment: None,
                version: 4,
                ihl: None,
                total_len: None,
            }),
            l4,
        )
    }

    fn v6(src: Ipv6Addr, dst: Ipv6Addr, l4: L4) -> Self {
        Self::ip_packet(
            IpHeader::V6(V6 {
                src,
                dst,
                hop_limit: DEFAULT_TTL,
                ext: Vec::new(),
            }),
            l4,
        )
    }

    /// A TCP segment from `src` to `dst` with the flags byte `flags`
    /// (`fwd_common::flow::tcp_flags` bits), sequence number [`TCP_SEQ`],
    /// acknowledgement number [`TCP_ACK`] when ACK is set, window
    /// [`TCP_WINDOW`], no TCP options ([`PacketBuilder::tcp_options`]).
    pub fn tcp(src: SocketAddrV4, dst: SocketAddrV4, flags: u8) -> Self {
        Self::v4(*src.ip(), *dst.ip(), L4::tcp(src.port(), dst.port(), flags))
    }

    /// A UDP datagram from `src` to `dst`.
    pub fn udp(src: SocketAddrV4, dst: SocketAddrV4) -> Self {
        Self::v4(*src.ip(), *dst.ip(), L4::udp(src.port(), dst.port()))
    }

    /// A TCP segment over IPv6, as [`PacketBuilder::tcp`].
    pub fn tcp6(src: SocketAddrV6, dst: SocketAddrV6, flags: u8) -> Self {
        Self::v6(*src.ip(), *dst.ip(), L4::tcp(src.port(), dst.port(), flags))
    }

    /// A UDP datagram over IPv6.
    pub fn udp6(src: SocketAddrV6, dst: SocketAddrV6) -> Self {
        Self::v6(*src.ip(), *dst.ip(), L4::udp(src.port(), dst.port()))
    }

    /// An ICMP echo request (ping) with identifier `id` and sequence number
    /// `seq`; the payload is the echoed data.
    pub fn icmp_echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Self {
        let rest = echo_rest(id, seq);
        Self::v4(src, dst, icmp(icmp::ECHO_REQUEST, 0, rest))
    }

    /// An ICMP echo reply, as [`PacketBuilder::icmp_echo_request`].
    pub fn icmp_echo_reply(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Self {
        let rest = echo_rest(id, seq);
        Self::v4(src, dst, icmp(icmp::ECHO_REPLY, 0, rest))
    }

    /// Any other ICMP message: type `ty`, code `code`, the 4 bytes after
    /// the checksum `rest`; the payload is the rest of the message (e.g. a
    /// timestamp request: [`icmp::TIMESTAMP_REQUEST`], id and sequence in
    /// `rest`, three 4-byte timestamps in the payload).
    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, rest: [u8; 4]) -> Self {
        Self::v4(src, dst, icmp(ty, code, rest))
    }

    /// An ICMP error from `src` to `dst` about the datagram whose start is
    /// `quoted`: its IPv4 header (options included) and at least the first
    /// 8 bytes after it, as [`PacketBuilder::ip_quote`] gives them.
    pub fn icmp_error(src: Ipv4Addr, dst: Ipv4Addr, error: IcmpError, quoted: &[u8]) -> Self {
        let (ty, code, rest) = error.header();
        Self::v4(src, dst, icmp(ty, code, rest)).payload(quoted)
    }

    /// An ICMPv6 echo request with identifier `id` and sequence number
    /// `seq`; the payload is the echoed data.
    pub fn icmp6_echo_request(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16) -> Self {
        let rest = echo_rest(id, seq);
        Self::v6(src, dst, icmp(icmp::v6::ECHO_REQUEST, 0, rest))
    }

    /// An ICMPv6 echo reply, as [`PacketBuilder::icmp6_echo_request`].
    pub fn icmp6_echo_reply(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16) -> Self {
        let rest = echo_rest(id, seq);
        Self::v6(src, dst, icmp(icmp::v6::ECHO_REPLY, 0, rest))
    }

    /// An ICMPv6 error from `src` to `dst` about the packet whose start is
    /// `quoted` (RFC 4443: as much of it as fits in 1280 bytes; see
    /// [`PacketBuilder::ip_quote`]).
    pub fn icmp6_error(src: Ipv6Addr, dst: Ipv6Addr, error: Icmpv6Error, quoted: &[u8]) -> Self {
        let (ty, code, rest) = error.header();
        Self::v6(src, dst, icmp(ty, code, rest)).payload(quoted)
    }

    /// An ARP request (RFC 826) from `sender_mac`/`sender_ip` asking who has
    /// `target_ip`, broadcast (target MAC zero).
    pub fn arp_request(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        Self::arp(1, sender_mac, sender_ip, [0; 6], target_ip).macs(sender_mac, BROADCAST_MAC)
    }

    /// An ARP reply: `sender_ip` is at `sender_mac`, sent to the asker
    /// `target_mac`/`target_ip`.
    pub fn arp_reply(
        sender_mac: [u8; 6],
        sender_ip: Ipv4Addr,
        target_mac: [u8; 6],
        target_ip: Ipv4Addr,
    ) -> Self {
        Self::arp(2, sender_mac, sender_ip, target_mac, target_ip).macs(sender_mac, target_mac)
    }

    fn arp(
        op: u16,
        sender_mac: [u8; 6],
        sender_ip: Ipv4Addr,
        target_mac: [u8; 6],
        target_ip: Ipv4Addr,
    ) -> Self {
        Self {
            eth_src: DEFAULT_SRC_MAC,
            eth_dst: DEFAULT_DST_MAC,
            tags: Vec::new(),
            net: Net::Arp(Arp {
                op,
                sender_mac,
                sender_ip,
                target_mac,
                target_ip,
            }),
        }
    }

    /// Sets the Ethernet source and destination MACs.
    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.eth_src = src;
        self.eth_dst = dst;
        self
    }

    /// Adds one 802.1Q tag with VLAN id `vid` (priority 0). Panics above 4095.
    pub fn vlan(self, vid: u16) -> Self {
        self.tagged(&[(ETHERTYPE_VLAN, vid)])
    }

    /// Adds stacked tags (Q-in-Q): an 802.1ad service tag with VLAN id
    /// `outer`, then an 802.1Q customer tag with VLAN id `inner`. Panics
    /// above 4095.
    pub fn qinq(self, outer: u16, inner: u16) -> Self {
        self.tagged(&[(ETHERTYPE_QINQ, outer), (ETHERTYPE_VLAN, inner)])
    }

    fn tagged(mut self, tags: &[(u16, u16)]) -> Self {
        for (_, vid) in tags {
            assert!(*vid <= 0x0fff, "VLAN id {vid} does not fit in 12 bits");
        }
        self.tags = tags.to_vec();
        self
    }

    /// Sets the payload: TCP/UDP data, the echoed data of an echo, the
    /// quoted packet of an ICMP error.
    pub fn payload(mut self, p: &[u8]) -> Self {
        self.ip_mut().payload = p.to_vec();
        self
    }

    /// Sets the IPv4 TTL or the IPv6 hop limit.
    pub fn ttl(mut self, t: u8) -> Self {
        match &mut self.ip_mut().header {
            IpHeader::V4(h) => h.ttl = t,
            IpHeader::V6(h) => h.hop_limit = t,
        }
        self
    }

    /// Sets the IPv4 options, padded with zeros (End of Option List) to a
    /// multiple of 4 bytes; IHL is set accordingly. Panics above 40 bytes.
    pub fn ip_options(mut self, opts: &[u8]) -> Self {
        self.v4_mut().options = padded_options(opts, "IPv4");
        self
    }

    /// TCP only: sets the TCP options, padded with zeros (End of Option
    /// List) to a multiple of 4 bytes; the data offset is set accordingly.
    /// Panics above 40 bytes.
    pub fn tcp_options(mut self, opts: &[u8]) -> Self {
        let opts = padded_options(opts, "TCP");
        match &mut self.ip_mut().l4 {
            L4::Tcp { options, .. } => *options = opts,
            other => panic!("tcp_options on {other:?}"),
        }
        self
    }

    /// TCP only: sends a checksum off by one, as a corrupted or forged
    /// segment would carry.
    pub fn tcp_bad_checksum(mut self) -> Self {
        match &mut self.ip_mut().l4 {
            L4::Tcp { bad_checksum, .. } => *bad_checksum = true,
            other => panic!("tcp_bad_checksum on {other:?}"),
        }
        self
    }

    /// UDP only: sends checksum 0 ("no checksum", RFC 768) instead of
    /// computing one.
    pub fn udp_zero_checksum(mut self) -> Self {
        match &mut self.ip_mut().l4 {
            L4::Udp { zero_checksum, .. } => *zero_checksum = true,
            other => panic!("udp_zero_checksum on {other:?}"),
        }
        self
    }

    /// Sets the IPv4 identification field.
    pub fn ip_id(mut self, id: u16) -> Self {
        self.v4_mut().id = id;
        self
    }

    /// Makes the packet a fragment: clears Don't Fragment, sets More
    /// Fragments to `more_fragments` and the Fragment Offset field to
    /// `offset` (in units of 8 bytes, as on the wire; panics above 8191).
    ///
    /// Only the header fields change: the bytes after the IPv4 header are
    /// still a whole TCP/UDP segment with the checksum of the whole segment.
    /// [`PacketBuilder::fragments`] cuts a datagram into real fragments.
    pub fn fragment(mut self, more_fragments: bool, offset: u16) -> Self {
        assert!(
            offset <= 0x1fff,
            "fragment offset {offset} does not fit in 13 bits"
        );
        self.v4_mut().fragment = Some((more_fragments, offset));
        self
    }

    /// Adds an IPv6 extension header after those added before (the
    /// transport header follows the last one).
    pub fn ipv6_ext(mut self, ext: Ipv6Ext) -> Self {
        match &mut self.ip_mut().header {
            IpHeader::V6(h) => h.ext.push(ext),
            IpHeader::V4(_) => panic!("an IPv6 extension header on an IPv4 packet"),
        }
        self
    }

    /// For malformed-packet tests: the IPv4 version field as given (the
    /// header is otherwise built as usual, its checksum covers the value).
    pub fn ip_version(mut self, version: u8) -> Self {
        assert!(
            version <= 0x0f,
            "IP version {version} does not fit in 4 bits"
        );
        self.v4_mut().version = version;
        self
    }

    /// For malformed-packet tests: the IPv4 IHL field as given, in 32-bit
    /// words (the header bytes written are still 20 plus the options).
    pub fn ihl(mut self, words: u8) -> Self {
        assert!(words <= 0x0f, "IHL {words} does not fit in 4 bits");
        self.v4_mut().ihl = Some(words);
        self
    }

    /// For malformed-packet tests: the IPv4 total length field as given
    /// instead of the length of what is built.
    pub fn ip_total_len(mut self, len: u16) -> Self {
        self.v4_mut().total_len = Some(len);
        self
    }

    fn ip_mut(&mut self) -> &mut Ip {
        match &mut self.net {
            Net::Ip(ip) => ip,
            Net::Arp(_) => panic!("an IP setting on an ARP message"),
        }
    }

    fn v4_mut(&mut self) -> &mut V4 {
        match &mut self.ip_mut().header {
            IpHeader::V4(h) => h,
            IpHeader::V6(_) => panic!("an IPv4 setting on an IPv6 packet"),
        }
    }
}

/// IPv4 or TCP options padded with zeros (End of Option List) to a
/// multiple of 4 bytes; panics above 40.
fn padded_options(opts: &[u8], what: &str) -> Vec<u8> {
    let mut opts = opts.to_vec();
    opts.resize(opts.len().div_ceil(4) * 4, 0);
    assert!(
        opts.len() <= 40,
        "{what} options are at most 40 bytes, got {}",
        opts.len()
    );
    opts
}

fn icmp(ty: u8, code: u8, rest: [u8; 4]) -> L4 {
    L4::Icmp { ty, code, rest }
}
