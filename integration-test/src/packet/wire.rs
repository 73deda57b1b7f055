//! The bytes of a [`PacketBuilder`]: link header, ARP, IPv4 and IPv6
//! headers, transport headers with their checksums, and IPv4 fragments.

use super::{
    builder::{PacketBuilder, TCP_ACK, TCP_SEQ, TCP_WINDOW},
    checksum::{checksum, l4_checksum, l4_checksum_v6},
    ipv6::NEXT_ICMPV6,
    layers::{Arp, Ip, IpHeader, Net, L4, V4, V6},
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
    IPV4_DONT_FRAGMENT, IPV4_MORE_FRAGMENTS,
};

impl PacketBuilder {
    /// The frame, ready to feed to `BPF_PROG_TEST_RUN` or to compare with an
    /// output.
    pub fn build(&self) -> Vec<u8> {
        let net = match &self.net {
            Net::Arp(arp) => arp_bytes(arp),
            Net::Ip(_) => self.ip_datagram(),
        };
        let mut frame = self.link_header();
        frame.extend_from_slice(&net);
        frame
    }

    /// The IP packet alone (from the IP header on, no link header). Panics
    /// on ARP.
    pub fn ip_datagram(&self) -> Vec<u8> {
        let ip = self.ip();
        match &ip.header {
            IpHeader::V4(h) => {
                let seg = segment(ip, Pseudo::V4(h));
                let mut out = ipv4_header(h, l4_proto(&ip.l4, false), seg.len(), h.fragment);
                out.extend_from_slice(&seg);
                out
            }
            IpHeader::V6(h) => {
                let seg = segment(ip, Pseudo::V6(h));
                let mut out = ipv6_headers(h, l4_proto(&ip.l4, true), seg.len());
                out.extend_from_slice(&seg);
                out
            }
        }
    }

    /// What an ICMP error quotes of this packet: its IP header (IPv4
    /// options included; IPv6 extension headers count as data) and the
    /// first `data_len` bytes after it (RFC 792: 8; RFC 1812: more may be
    /// sent), or the whole packet if it is shorter.
    pub fn ip_quote(&self, data_len: usize) -> Vec<u8> {
        let header_len = match &self.ip().header {
            IpHeader::V4(h) => 20 + h.options.len(),
            IpHeader::V6(_) => 40,
        };
        let mut d = self.ip_datagram();
        d.truncate(header_len.saturating_add(data_len));
        d
    }

    /// The frames of this IPv4 datagram cut into fragments (RFC 791 section
    /// 3.2) of at most `max_data` bytes of data each (rounded down to a
    /// multiple of 8): the first carries the transport header and every
    /// option, later ones only the options whose copied flag is set; all
    /// carry the IP id of [`PacketBuilder::ip_id`], offsets in units of 8
    /// bytes and More Fragments on all but the last. Panics on IPv6 or
    /// below 8 bytes.
    pub fn fragments(&self, max_data: usize) -> Vec<Vec<u8>> {
        let ip = self.ip();
        let IpHeader::V4(h) = &ip.header else {
            panic!("fragments() cuts IPv4 datagrams; use an Ipv6Ext::Fragment header for IPv6")
        };
        let step = max_data / 8 * 8;
        assert!(
            step >= 8,
            "fragments of {max_data} bytes: at least 8 are needed"
        );
        let data = segment(ip, Pseudo::V4(h));
        let proto = l4_proto(&ip.l4, false);
        let later = V4 {
            options: copied_options(&h.options),
            ..h.clone()
        };
        data.chunks(step)
            .enumerate()
            .map(|(i, piece)| {
                let offset = u16::try_from(i * step / 8).expect("offset fits in 13 bits");
                let more = (i + 1) * step < data.len();
                let header = if i == 0 { h } else { &later };
                let mut frame = self.link_header();
                frame.extend_from_slice(&ipv4_header(
                    header,
                    proto,
                    piece.len(),
                    Some((more, offset)),
                ));
                frame.extend_from_slice(piece);
                frame
            })
            .collect()
    }

    fn ip(&self) -> &Ip {
        match &self.net {
            Net::Ip(ip) => ip,
            Net::Arp(_) => panic!("an IP operation on an ARP message"),
        }
    }

    /// Destination and source MACs, the tags, the EtherType.
    fn link_header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(22);
        h.extend_from_slice(&self.eth_dst);
        h.extend_from_slice(&self.eth_src);
        for (tpid, vid) in &self.tags {
            h.extend_from_slice(&tpid.to_be_bytes());
            h.extend_from_slice(&vid.to_be_bytes());
        }
        let ethertype = match &self.net {
            Net::Arp(_) => ETHERTYPE_ARP,
            Net::Ip(Ip {
                header: IpHeader::V4(_),
                ..
            }) => ETHERTYPE_IPV4,
            Net::Ip(Ip {
                header: IpHeader::V6(_),
                ..
            }) => ETHERTYPE_IPV6,
        };
        h.extend_from_slice(&ethertype.to_be_bytes());
        h
    }
}

/// The 28 bytes of an ARP message for IPv4 over Ethernet.
fn arp_bytes(a: &Arp) -> Vec<u8> {
    let mut b = Vec::with_capacity(28);
    b.extend_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    b.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    b.extend_from_slice(&[6, 4]); // address lengths
    b.extend_from_slice(&a.op.to_be_bytes());
    b.extend_from_slice(&a.sender_mac);
    b.extend_from_slice(&a.sender_ip.octets());
    b.extend_from_slice(&a.target_mac);
    b.extend_from_slice(&a.target_ip.octets());
    b
}

/// The protocol number announcing the transport header.
fn l4_proto(l4: &L4, v6: bool) -> u8 {
    match l4 {
        L4::Tcp { .. } => IPPROTO_TCP,
        L4::Udp { .. } => IPPROTO_UDP,
        L4::Icmp { .. } if v6 => NEXT_ICMPV6,
        L4::Icmp { .. } => IPPROTO_ICMP,
    }
}

/// An IPv4 header for `data_len` bytes after it, checksum included.
fn ipv4_header(h: &V4, proto: u8, data_len: usize, fragment: Option<(bool, u16)>) -> Vec<u8> {
    let header_len = 20 + h.options.len();
    let ihl = h.ihl.unwrap_or((header_len / 4) as u8);
    let total_len = h
        .total_len
        .unwrap_or_else(|| u16::try_from(header_len + data_len).expect("packet fits in 64 KiB"));
    let flags_frag = match fragment {
        None => IPV4_DONT_FRAGMENT,
        Some((mf, offset)) => offset | if mf { IPV4_MORE_FRAGMENTS } else { 0 },
    };
    let mut ip = Vec::with_capacity(header_len);
    ip.push(h.version << 4 | ihl);
    ip.push(0); // DSCP/ECN
    ip.extend_from_slice(&total_len.to_be_bytes());
    ip.extend_from_slice(&h.id.to_be_bytes());
    ip.extend_from_slice(&flags_frag.to_be_bytes());
    ip.push(h.ttl);
    ip.push(proto);
    ip.extend_from_slice(&[0, 0]); // checksum, filled below
    ip.extend_from_slice(&h.src.octets());
    ip.extend_from_slice(&h.dst.octets());
    ip.extend_from_slice(&h.options);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip
}

/// The IPv6 header and extension headers for `data_len` bytes of
/// transport after them.
fn ipv6_headers(h: &V6, proto: u8, data_len: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    for (i, e) in h.ext.iter().enumerate() {
        let next = h.ext.get(i + 1).map_or(proto, |n| n.number());
        ext.extend_from_slice(&e.bytes(next));
    }
    let first = h.ext.first().map_or(proto, |e| e.number());
    let payload_len = u16::try_from(ext.len() + data_len).expect("packet fits in 64 KiB");
    let mut ip = Vec::with_capacity(40 + ext.len());
    ip.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, class 0, flow label 0
    ip.extend_from_slice(&payload_len.to_be_bytes());
    ip.push(first);
    ip.push(h.hop_limit);
    ip.extend_from_slice(&h.src.octets());
    ip.extend_from_slice(&h.dst.octets());
    ip.extend_from_slice(&ext);
    ip
}

/// The addresses the transport checksum covers.
enum Pseudo<'a> {
    V4(&'a V4),
    V6(&'a V6),
}

/// The transport header and payload, checksum included.
fn segment(ip: &Ip, pseudo: Pseudo<'_>) -> Vec<u8> {
    let mut seg = Vec::with_capacity(20 + ip.payload.len());
    let mut corrupt = false;
    let (check_at, zero_checksum) = match &ip.l4 {
        L4::Tcp {
            src_port,
            dst_port,
            flags,
            options,
            bad_checksum,
        } => {
            corrupt = *bad_checksum;
            let ack = if flags & 0x10 != 0 { TCP_ACK } else { 0 };
            seg.extend_from_slice(&src_port.to_be_bytes());
            seg.extend_from_slice(&dst_port.to_be_bytes());
            seg.extend_from_slice(&TCP_SEQ.to_be_bytes());
            seg.extend_from_slice(&ack.to_be_bytes());
            // Data offset: the header's length in 32-bit words.
            seg.push((((20 + options.len()) / 4) as u8) << 4);
            seg.push(*flags);
            seg.extend_from_slice(&TCP_WINDOW.to_be_bytes());
            seg.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            seg.extend_from_slice(options);
            (16, false)
        }
        L4::Udp {
            src_port,
            dst_port,
            zero_checksum,
        } => {
            let len = u16::try_from(8 + ip.payload.len()).expect("UDP length fits");
            seg.extend_from_slice(&src_port.to_be_bytes());
            seg.extend_from_slice(&dst_port.to_be_bytes());
            seg.extend_from_slice(&len.to_be_bytes());
            seg.extend_from_slice(&[0, 0]); // checksum
            (6, *zero_checksum)
        }
        L4::Icmp { ty, code, rest } => {
            seg.extend_from_slice(&[*ty, *code, 0, 0]);
            seg.extend_from_slice(rest);
            (2, false)
        }
    };
    seg.extend_from_slice(&ip.payload);
    if zero_checksum {
        return seg;
    }
    let is_udp = matches!(ip.l4, L4::Udp { .. });
    let mut c = match (pseudo, &ip.l4) {
        // ICMP over IPv4 has no pseudo-header (RFC 792).
        (Pseudo::V4(_), L4::Icmp { .. }) => checksum(&seg),
        (Pseudo::V4(h), l4) => l4_checksum(h.src, h.dst, l4_proto(l4, false), &seg),
        // RFC 8200 8.1: with a Routing header the final destination counts;
        // the builder uses the header's destination (tests that need the
        // final one put it there).
        (Pseudo::V6(h), l4) => l4_checksum_v6(h.src, h.dst, l4_proto(l4, true), &seg),
    };
    if is_udp && c == 0 {
        // A computed zero is sent as all ones: zero means "no checksum".
        c = 0xffff;
    }
    if corrupt {
        c = c.wrapping_add(1);
    }
    seg[check_at..check_at + 2].copy_from_slice(&c.to_be_bytes());
    seg
}

/// The options a later fragment carries (RFC 791: those whose type has the
/// copied flag, 0x80), padded to a multiple of 4 bytes.
fn copied_options(options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < options.len() {
        let ty = options[at];
        let len = match ty {
            0 => break, // End of Option List
            1 => 1,     // No Operation
            _ => usize::from(*options.get(at + 1).unwrap_or(&2)).max(2),
        };
        let end = (at + len).min(options.len());
        if ty & 0x80 != 0 {
            out.extend_from_slice(&options[at..end]);
        }
        at = end;
    }
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}
