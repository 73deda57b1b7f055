//! Incremental Internet checksum update (RFC 1624, equation 3).
//!
//! `HC' = ~(~HC + ~m + m')` for every changed 16-bit word `m -> m'`. The sum
//! is byte-order independent (RFC 1071 section 2(B)) as long as the checksum
//! and the words are all read the same way, so the datapath reads them
//! straight from packet memory with native loads and never swaps bytes.

/// The accumulated change of a set of 16-bit words.
///
/// Build it once per packet (addresses, ports, TTL) and apply it to each
/// checksum that covers those words: the IPv4 header checksum covers the
/// addresses and the TTL, the TCP/UDP checksum covers the addresses (through
/// the pseudo-header) and the ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsumDiff(u64);

impl CsumDiff {
    /// No change.
    #[inline(always)]
    pub const fn new() -> Self {
        Self(0)
    }

    /// Records that the 16-bit word `old` becomes `new`.
    #[inline(always)]
    pub const fn u16(self, old: u16, new: u16) -> Self {
        Self(self.0 + (!old) as u64 + new as u64)
    }

    /// Records that the 16-bit value at byte `offset` of the data the
    /// checksum covers becomes `new` (`old` and `new` read from memory like
    /// the words). At an even offset it is one word. At an odd offset it
    /// straddles two words, a byte in each, and each byte weighs in the sum
    /// as it would in the other half of a word: the change counts
    /// byte-swapped (swapping the bytes of a word multiplies it by 2^8,
    /// modulo 2^16 - 1, the modulus of the one's complement sum; RFC 1071
    /// section 2(B)). A TCP option value may lie at either.
    #[inline(always)]
    pub const fn u16_at(self, offset: usize, old: u16, new: u16) -> Self {
        if offset.is_multiple_of(2) {
            self.u16(old, new)
        } else {
            self.u16(old.swap_bytes(), new.swap_bytes())
        }
    }

    /// Records that the 32-bit value `old` (two words) becomes `new`.
    #[inline(always)]
    pub const fn u32(self, old: u32, new: u32) -> Self {
        self.u16(old as u16, new as u16)
            .u16((old >> 16) as u16, (new >> 16) as u16)
    }

    /// Adds the changes recorded in `other`.
    #[inline(always)]
    pub const fn merge(self, other: CsumDiff) -> Self {
        Self(self.0 + other.0)
    }

    /// The checksum `check` updated by these changes.
    #[inline(always)]
    pub const fn apply(self, check: u16) -> u16 {
        !fold((!check) as u64 + self.0)
    }

    /// For UDP: a zero checksum means "none" and stays zero; a computed zero
    /// is sent as all ones (RFC 768).
    #[inline(always)]
    pub const fn apply_udp(self, check: u16) -> u16 {
        if check == 0 {
            return 0;
        }
        match self.apply(check) {
            0 => 0xffff,
            c => c,
        }
    }
}

/// Folds a 64-bit one's complement sum to 16 bits.
#[inline(always)]
pub const fn fold(sum: u64) -> u16 {
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full checksum of `data` as stored in memory (native-order words).
    fn full(data: &[u8]) -> u16 {
        let mut sum = 0u64;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                [c[0], c[1]]
            } else {
                [c[0], 0]
            };
            sum += u16::from_ne_bytes(w) as u64;
        }
        !fold(sum)
    }

    fn ipv4_header(ttl: u8, src: [u8; 4], dst: [u8; 4]) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&60u16.to_be_bytes());
        h[4..6].copy_from_slice(&0x1c46u16.to_be_bytes());
        h[6] = 0x40;
        h[8] = ttl;
        h[9] = 6;
        h[12..16].copy_from_slice(&src);
        h[16..20].copy_from_slice(&dst);
        let c = full(&h);
        h[10..12].copy_from_slice(&c.to_ne_bytes());
        h
    }

    #[test]
    fn incremental_matches_full_recompute() {
        let old = ipv4_header(64, [198, 18, 0, 1], [198, 18, 1, 1]);
        let new = ipv4_header(63, [198, 19, 0, 1], [198, 19, 7, 200]);
        let rd32 = |h: &[u8; 20], o: usize| u32::from_ne_bytes(h[o..o + 4].try_into().unwrap());
        let rd16 = |h: &[u8; 20], o: usize| u16::from_ne_bytes(h[o..o + 2].try_into().unwrap());
        let diff = CsumDiff::new()
            .u32(rd32(&old, 12), rd32(&new, 12))
            .u32(rd32(&old, 16), rd32(&new, 16))
            .u16(rd16(&old, 8), rd16(&new, 8));
        let updated = diff.apply(rd16(&old, 10));
        // Valid header: summing every word including the checksum gives 0xffff.
        let mut check = new;
        check[10..12].copy_from_slice(&updated.to_ne_bytes());
        assert_eq!(full(&check), 0);
    }

    /// A xorshift generator: reproducible pseudo-random words.
    fn xorshift(mut x: u32) -> impl FnMut() -> u32 {
        move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        }
    }

    #[test]
    fn many_random_updates_stay_valid() {
        let mut next = xorshift(0x1234_5678);
        for _ in 0..10_000 {
            let (a, b, c, d) = (next(), next(), next(), next());
            let old = ipv4_header((a >> 24) as u8 | 2, b.to_ne_bytes(), c.to_ne_bytes());
            let new = ipv4_header((a >> 24) as u8 | 1, d.to_ne_bytes(), a.to_ne_bytes());
            let rd32 = |h: &[u8; 20], o: usize| u32::from_ne_bytes(h[o..o + 4].try_into().unwrap());
            let rd16 = |h: &[u8; 20], o: usize| u16::from_ne_bytes(h[o..o + 2].try_into().unwrap());
            let diff = CsumDiff::new()
                .u32(rd32(&old, 12), rd32(&new, 12))
                .u32(rd32(&old, 16), rd32(&new, 16))
                .u16(rd16(&old, 8), rd16(&new, 8));
            let mut check = new;
            check[10..12].copy_from_slice(&diff.apply(rd16(&old, 10)).to_ne_bytes());
            assert_eq!(full(&check), 0);
        }
    }

    #[test]
    fn a_value_at_any_offset_updates_like_a_full_recompute() {
        let mut next = xorshift(0x9e37_79b9);
        for len in [4usize, 5, 24, 25, 60] {
            // The checksum is the first word; the value lies beyond it.
            for offset in 2..=len - 2 {
                for _ in 0..50 {
                    let mut data = [0u8; 60];
                    for b in data[..len].iter_mut() {
                        *b = next() as u8;
                    }
                    data[0..2].copy_from_slice(&[0, 0]);
                    let check = full(&data[..len]);
                    data[0..2].copy_from_slice(&check.to_ne_bytes());
                    let old = u16::from_ne_bytes([data[offset], data[offset + 1]]);
                    let new = next() as u16;
                    data[offset..offset + 2].copy_from_slice(&new.to_ne_bytes());
                    let updated = CsumDiff::new().u16_at(offset, old, new).apply(check);
                    data[0..2].copy_from_slice(&updated.to_ne_bytes());
                    assert_eq!(full(&data[..len]), 0, "len {len}, offset {offset}");
                }
            }
        }
    }

    #[test]
    fn udp_zero_stays_zero_and_zero_result_becomes_ffff() {
        let diff = CsumDiff::new().u16(0x1111, 0x2222);
        assert_eq!(diff.apply_udp(0), 0);
        // Choose a checksum whose update is exactly 0x0000.
        let mut found = false;
        for c in 1..=0xffffu16 {
            if diff.apply(c) == 0 {
                assert_eq!(diff.apply_udp(c), 0xffff);
                found = true;
            }
        }
        assert!(found);
    }

    #[test]
    fn no_change_keeps_checksum() {
        let diff = CsumDiff::new().u32(0xdead_beef, 0xdead_beef);
        for c in [1u16, 0x1234, 0xfffe] {
            assert_eq!(diff.apply(c), c);
        }
    }
}
