//! The Internet checksum computed from scratch (RFC 1071), for building and
//! verifying test packets.
//!
//! Deliberately independent of `fwd_common::csum` (which the datapath uses
//! for incremental updates): a packet test that checks the datapath's output
//! with the datapath's own arithmetic could not catch a mistake in it. This
//! is the one copy in the tests crate: the builder, the parser and the tests
//! that check bytes by hand all use it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One's complement sum of `data` read as big-endian 16-bit words (an odd
/// last byte is padded with zero), not yet folded or inverted.
pub fn sum(data: &[u8]) -> u64 {
    data.chunks(2)
        .map(|c| {
            let hi = u64::from(c[0]) << 8;
            let lo = c.get(1).copied().map_or(0, u64::from);
            hi | lo
        })
        .sum()
}

/// Folds a sum to 16 bits and inverts it: the value to store in a checksum
/// field (host order). A valid header or segment, checksum field included,
/// yields 0.
pub fn finish(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checksum of `data` (RFC 1071): the IPv4 header checksum, and the ICMP
/// checksum (which has no pseudo-header).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// Sum of the IPv4 pseudo-header that TCP and UDP checksums cover
/// (RFC 793 section 3.1, RFC 768).
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: usize) -> u64 {
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&src.octets());
    ph[4..8].copy_from_slice(&dst.octets());
    ph[9] = proto;
    let len = u16::try_from(l4_len).expect("L4 length fits in 16 bits");
    ph[10..12].copy_from_slice(&len.to_be_bytes());
    sum(&ph)
}

/// Sum of the IPv6 pseudo-header that TCP, UDP and ICMPv6 checksums cover
/// (RFC 8200 section 8.1): addresses, upper-layer length, next header.
pub fn pseudo_header_sum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4_len: usize) -> u64 {
    let mut ph = [0u8; 40];
    ph[0..16].copy_from_slice(&src.octets());
    ph[16..32].copy_from_slice(&dst.octets());
    let len = u32::try_from(l4_len).expect("L4 length fits in 32 bits");
    ph[32..36].copy_from_slice(&len.to_be_bytes());
    ph[39] = next_header;
    sum(&ph)
}

/// Checksum of a TCP or UDP segment over IPv4 (`segment` includes its
/// header, with the checksum field as it is: zero when computing, the stored
/// value when verifying).
pub fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    finish(pseudo_header_sum(src, dst, proto, segment.len()) + sum(segment))
}

/// Checksum of a TCP, UDP or ICMPv6 message over IPv6 (as
/// [`l4_checksum`]).
pub fn l4_checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, segment: &[u8]) -> u16 {
    finish(pseudo_header_sum_v6(src, dst, next_header, segment.len()) + sum(segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 1071 section 3: the words 0001 f203 f4f5
    /// f6f7 sum to ddf2, whose complement is 220d.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(&data)), !0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn data_with_its_checksum_sums_to_zero() {
        let mut data = vec![0x45, 0x00, 0x12, 0x34, 0xab, 0xcd, 0x00, 0x00, 0x01];
        let c = checksum(&data);
        data[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&data), 0);
    }
}
