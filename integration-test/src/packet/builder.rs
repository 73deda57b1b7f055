//! [`PacketBuilder`]: readable inputs for packet tests.

use std::net::SocketAddrV4;

use super::checksum::{checksum, l4_checksum};
use super::{
    ETHERTYPE_IPV4, ETHERTYPE_VLAN, IPPROTO_TCP, IPPROTO_UDP, IPV4_DONT_FRAGMENT,
    IPV4_MORE_FRAGMENTS,
};

/// Source MAC of built frames unless [`PacketBuilder::macs`] says otherwise
/// (locally administered).
pub const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Destination MAC of built frames unless [`PacketBuilder::macs`] says
/// otherwise (locally administered).
pub const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// TTL of built packets unless [`PacketBuilder::ttl`] says otherwise.
pub const DEFAULT_TTL: u8 = 64;
/// TCP sequence number of built segments.
pub const TCP_SEQ: u32 = 0x0102_0304;
/// TCP acknowledgement number of built segments that carry ACK (0 otherwise).
pub const TCP_ACK: u32 = 0x0a0b_0c0d;
/// TCP window of built segments.
pub const TCP_WINDOW: u16 = 64_240;

/// Builds one Ethernet frame (Ethernet, an optional 802.1Q tag, IPv4 with
/// optional options, TCP or UDP, payload) with IPv4 and TCP/UDP checksums
/// computed from scratch.
///
/// Used by the packet tests (`integration-test/tests/prog_test_run/`) to make the
/// inputs of `BPF_PROG_TEST_RUN` and the expected outputs. Defaults: MACs
/// [`DEFAULT_SRC_MAC`] -> [`DEFAULT_DST_MAC`], no VLAN, TTL
/// [`DEFAULT_TTL`], IP id 0, Don't Fragment set, no options, empty payload.
/// The builder is a value: change one field of a copy to make a variant.
///
/// Invalid requests (a VLAN id above 4095, more than 40 bytes of options, a
/// fragment offset above 8191) panic: they are mistakes in the test itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketBuilder {
    src: SocketAddrV4,
    dst: SocketAddrV4,
    proto: u8,
    tcp_flags: u8,
    payload: Vec<u8>,
    ttl: u8,
    vlan: Option<u16>,
    ip_options: Vec<u8>,
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    udp_zero_checksum: bool,
    ip_id: u16,
    /// `None`: an unfragmented packet (DF set); `Some((mf, offset))`: the
    /// fragment fields as given (DF clear).
    fragment: Option<(bool, u16)>,
}

impl PacketBuilder {
    fn new(src: SocketAddrV4, dst: SocketAddrV4, proto: u8, tcp_flags: u8) -> Self {
        Self {
            src,
            dst,
            proto,
            tcp_flags,
            payload: Vec::new(),
            ttl: DEFAULT_TTL,
            vlan: None,
            ip_options: Vec::new(),
            eth_src: DEFAULT_SRC_MAC,
            eth_dst: DEFAULT_DST_MAC,
            udp_zero_checksum: false,
            ip_id: 0,
            fragment: None,
        }
    }

    /// A TCP segment from `src` to `dst` with the flags byte `flags`
    /// (`fwd_common::flow::tcp_flags` bits), sequence number [`TCP_SEQ`],
    /// acknowledgement number [`TCP_ACK`] when ACK is set, window
    /// [`TCP_WINDOW`], no TCP options.
    pub fn tcp(src: SocketAddrV4, dst: SocketAddrV4, flags: u8) -> Self {
        Self::new(src, dst, IPPROTO_TCP, flags)
    }

    /// A UDP datagram from `src` to `dst`.
    pub fn udp(src: SocketAddrV4, dst: SocketAddrV4) -> Self {
        Self::new(src, dst, IPPROTO_UDP, 0)
    }

    /// Sets the TCP/UDP payload.
    pub fn payload(mut self, p: &[u8]) -> Self {
        self.payload = p.to_vec();
        self
    }

    /// Sets the IPv4 TTL.
    pub fn ttl(mut self, t: u8) -> Self {
        self.ttl = t;
        self
    }

    /// Adds one 802.1Q tag with VLAN id `vid` (priority 0). Panics above 4095.
    pub fn vlan(mut self, vid: u16) -> Self {
        assert!(vid <= 0x0fff, "VLAN id {vid} does not fit in 12 bits");
        self.vlan = Some(vid);
        self
    }

    /// Sets the IPv4 options, padded with zeros (End of Option List) to a
    /// multiple of 4 bytes; IHL is set accordingly. Panics above 40 bytes.
    pub fn ip_options(mut self, opts: &[u8]) -> Self {
        let mut opts = opts.to_vec();
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        assert!(
            opts.len() <= 40,
            "IPv4 options are at most 40 bytes, got {}",
            opts.len()
        );
        self.ip_options = opts;
        self
    }

    /// Sets the Ethernet source and destination MACs.
    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.eth_src = src;
        self.eth_dst = dst;
        self
    }

    /// UDP only: sends checksum 0 ("no checksum", RFC 768) instead of
    /// computing one.
    pub fn udp_zero_checksum(mut self) -> Self {
        self.udp_zero_checksum = true;
        self
    }

    /// Sets the IPv4 identification field.
    pub fn ip_id(mut self, id: u16) -> Self {
        self.ip_id = id;
        self
    }

    /// Makes the packet a fragment: clears Don't Fragment, sets More
    /// Fragments to `more_fragments` and the Fragment Offset field to
    /// `offset` (in units of 8 bytes, as on the wire; panics above 8191).
    ///
    /// Only the header fields change: the bytes after the IPv4 header are
    /// still a whole TCP/UDP segment with the checksum of the whole segment,
    /// so [`super::parse()`] reads them back the same way.
    pub fn fragment(mut self, more_fragments: bool, offset: u16) -> Self {
        assert!(
            offset <= 0x1fff,
            "fragment offset {offset} does not fit in 13 bits"
        );
        self.fragment = Some((more_fragments, offset));
        self
    }

    /// The frame, ready to feed to `BPF_PROG_TEST_RUN` or to compare with an
    /// output.
    pub fn build(&self) -> Vec<u8> {
        let l4 = self.l4_segment();
        let ihl = 5 + self.ip_options.len() / 4;
        let total_len = u16::try_from(ihl * 4 + l4.len()).expect("packet fits in 64 KiB");

        let mut frame = Vec::with_capacity(18 + ihl * 4 + l4.len());
        frame.extend_from_slice(&self.eth_dst);
        frame.extend_from_slice(&self.eth_src);
        if let Some(vid) = self.vlan {
            frame.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            frame.extend_from_slice(&vid.to_be_bytes());
        }
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

        let mut ip = Vec::with_capacity(ihl * 4);
        ip.push(0x40 | ihl as u8);
        ip.push(0); // DSCP/ECN
        ip.extend_from_slice(&total_len.to_be_bytes());
        ip.extend_from_slice(&self.ip_id.to_be_bytes());
        let flags_frag = match self.fragment {
            None => IPV4_DONT_FRAGMENT,
            Some((mf, offset)) => offset | if mf { IPV4_MORE_FRAGMENTS } else { 0 },
        };
        ip.extend_from_slice(&flags_frag.to_be_bytes());
        ip.push(self.ttl);
        ip.push(self.proto);
        ip.extend_from_slice(&[0, 0]); // checksum, filled below
        ip.extend_from_slice(&self.src.ip().octets());
        ip.extend_from_slice(&self.dst.ip().octets());
        ip.extend_from_slice(&self.ip_options);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());

        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&l4);
        frame
    }

    /// The TCP or UDP header and payload, checksum included.
    fn l4_segment(&self) -> Vec<u8> {
        let mut seg = Vec::with_capacity(20 + self.payload.len());
        seg.extend_from_slice(&self.src.port().to_be_bytes());
        seg.extend_from_slice(&self.dst.port().to_be_bytes());
        let check_at = if self.proto == IPPROTO_TCP {
            let ack = if self.tcp_flags & 0x10 != 0 {
                TCP_ACK
            } else {
                0
            };
            seg.extend_from_slice(&TCP_SEQ.to_be_bytes());
            seg.extend_from_slice(&ack.to_be_bytes());
            seg.push(5 << 4); // data offset: 5 words, no options
            seg.push(self.tcp_flags);
            seg.extend_from_slice(&TCP_WINDOW.to_be_bytes());
            seg.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            16
        } else {
            let len = u16::try_from(8 + self.payload.len()).expect("UDP length fits");
            seg.extend_from_slice(&len.to_be_bytes());
            seg.extend_from_slice(&[0, 0]); // checksum
            6
        };
        seg.extend_from_slice(&self.payload);
        if self.proto == IPPROTO_UDP && self.udp_zero_checksum {
            return seg;
        }
        let mut c = l4_checksum(*self.src.ip(), *self.dst.ip(), self.proto, &seg);
        if self.proto == IPPROTO_UDP && c == 0 {
            // A computed zero is sent as all ones: zero means "no checksum".
            c = 0xffff;
        }
        seg[check_at..check_at + 2].copy_from_slice(&c.to_be_bytes());
        seg
    }
}
