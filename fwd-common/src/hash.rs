//! Flow hashing and SNAT port candidates.
//!
//! The backend choice uses a deterministic hash ([`flow_hash4`], no seed):
//! two relays with the same configuration send the same flow to the same
//! backend. The SNAT port candidates use a keyed one ([`port_hash4`],
//! SipHash-2-4 under a secret of the datapath's, `RelayConfig::port_key`):
//! a client cannot compute which ports its flows will take, so it cannot
//! craft flows that occupy every candidate of another client's tuple.

use crate::Flow4Key;

/// Number of SNAT ports the datapath tries for a new flow before it gives up
/// with [`crate::Reason::DropSnatExhausted`].
pub const SNAT_PORT_TRIES: u32 = 32;

/// The murmur3 32-bit finaliser: a cheap full-avalanche mix.
#[inline(always)]
pub const fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Hash of a packet tuple as it arrives (raw, network-order fields).
#[inline(always)]
pub const fn flow_hash4(key: &Flow4Key) -> u32 {
    let mut h = 0x6677_6400u32;
    h = fmix32(h ^ key.src_addr);
    h = fmix32(h ^ key.dst_addr);
    h = fmix32(h ^ (((key.src_port as u32) << 16) | key.dst_port as u32));
    fmix32(h ^ key.proto as u32)
}

/// One SipHash round (Aumasson and Bernstein, "SipHash: a fast short-input
/// PRF", 2012) over the state `v`.
#[inline(always)]
const fn sip_round(mut v: [u64; 4]) -> [u64; 4] {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
    v
}

/// SipHash-2-4 of a 16-byte message, given as its two little-endian 64-bit
/// words `m`, under the 128-bit key `k` (two little-endian words).
#[inline(always)]
pub const fn siphash_2_4_16(k: [u64; 2], m: [u64; 2]) -> u64 {
    let mut v = [
        k[0] ^ 0x736f_6d65_7073_6575,
        k[1] ^ 0x646f_7261_6e64_6f6d,
        k[0] ^ 0x6c79_6765_6e65_7261,
        k[1] ^ 0x7465_6462_7974_6573,
    ];
    // The two message words, then the last block: the length (16) in its
    // top byte and no message bytes left.
    let blocks = [m[0], m[1], 16u64 << 56];
    let mut i = 0;
    while i < blocks.len() {
        v[3] ^= blocks[i];
        v = sip_round(sip_round(v));
        v[0] ^= blocks[i];
        i += 1;
    }
    v[2] ^= 0xff;
    v = sip_round(sip_round(sip_round(sip_round(v))));
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Keyed hash of a packet tuple as it arrives, for its SNAT port
/// candidates: SipHash-2-4 of (source, destination, ports, protocol)
/// under `key` (see the module doc).
#[inline(always)]
pub const fn port_hash4(key: &Flow4Key, secret: &[u32; 4]) -> u32 {
    let k = [
        secret[0] as u64 | (secret[1] as u64) << 32,
        secret[2] as u64 | (secret[3] as u64) << 32,
    ];
    let m = [
        key.src_addr as u64 | (key.dst_addr as u64) << 32,
        key.src_port as u64 | (key.dst_port as u64) << 16 | (key.proto as u64) << 32,
    ];
    let h = siphash_2_4_16(k, m);
    (h ^ (h >> 32)) as u32
}

/// The `attempt`-th SNAT port (host order) to try for a flow of hash `hash`,
/// in a range of `count` ports starting at `min`. Each attempt hashes again
/// (random probing): consecutive ports would make flows that collide once
/// collide on every later attempt, and clusters of taken ports exhaust the
/// tries long before the range is full. `count` must be > 0.
#[inline(always)]
pub const fn snat_port_candidate(hash: u32, attempt: u32, min: u16, count: u32) -> u16 {
    let h = fmix32(hash ^ 0x9e37_79b9 ^ attempt.wrapping_mul(0x85eb_ca6b));
    (min as u32 + h % count) as u16
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    #[test]
    fn candidates_stay_in_range_and_spread() {
        let (min, count) = (20_000u16, 37u32);
        let mut seen = [false; 37];
        for attempt in 0..SNAT_PORT_TRIES {
            let p = snat_port_candidate(0xabcdef, attempt, min, count);
            assert!((min..min + count as u16).contains(&p));
            seen[(p - min) as usize] = true;
        }
        assert!(seen.iter().filter(|s| **s).count() >= 15, "{seen:?}");
    }

    /// Filling a range flow by flow, random probing gets far beyond the
    /// half-full table where linear probing gave up (85 % here; flows from one client
    /// to one backend port, 32 tries each).
    #[test]
    fn a_range_fills_past_eighty_percent_before_a_flow_is_refused() {
        let (min, count) = (10_000u16, 4096u32);
        let mut taken = std::vec![false; count as usize];
        let mut placed = 0u32;
        for p in 0..u16::MAX {
            let k = Flow4Key::new(
                Ipv4Addr::new(198, 18, 0, 1),
                p,
                Ipv4Addr::new(198, 18, 1, 1),
                80,
                6,
            );
            let h = flow_hash4(&k);
            let free = (0..SNAT_PORT_TRIES)
                .map(|a| snat_port_candidate(h, a, min, count))
                .find(|c| !taken[(c - min) as usize]);
            match free {
                Some(c) => {
                    taken[(c - min) as usize] = true;
                    placed += 1;
                }
                None => break,
            }
        }
        assert!(
            placed as f64 > 0.8 * count as f64,
            "first refusal after {placed} of {count}"
        );
    }

    /// The same function as the reference implementation (Rust's std
    /// `SipHasher`, SipHash-2-4) over the same 16 bytes.
    #[test]
    #[allow(deprecated)]
    fn siphash_matches_the_reference() {
        use core::hash::Hasher;
        for (k, m) in [
            ([0u64, 0], [0u64, 0]),
            (
                [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908],
                [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908],
            ),
            ([u64::MAX, 0x1234_5678_9abc_def0], [42, u64::MAX]),
        ] {
            let mut reference = std::hash::SipHasher::new_with_keys(k[0], k[1]);
            reference.write(&m[0].to_le_bytes());
            reference.write(&m[1].to_le_bytes());
            assert_eq!(siphash_2_4_16(k, m), reference.finish(), "{k:x?} {m:x?}");
        }
    }

    /// Different secrets give unrelated port hashes for the same tuple;
    /// every field of the tuple counts.
    #[test]
    fn port_hash_depends_on_the_secret_and_the_tuple() {
        let key = Flow4Key::new(
            Ipv4Addr::new(198, 18, 0, 1),
            123,
            Ipv4Addr::new(198, 18, 1, 1),
            123,
            17,
        );
        let a = [1, 2, 3, 4];
        let b = [1, 2, 3, 5];
        assert_ne!(port_hash4(&key, &a), port_hash4(&key, &b));
        let mut other = key;
        other.proto = 6;
        assert_ne!(port_hash4(&key, &a), port_hash4(&other, &a));
        let mut other = key;
        other.dst_port ^= 1;
        assert_ne!(port_hash4(&key, &a), port_hash4(&other, &a));
    }

    #[test]
    fn full_u16_range_does_not_overflow() {
        for attempt in 0..SNAT_PORT_TRIES {
            let p = snat_port_candidate(u32::MAX, attempt, 1, 65_535);
            assert!(p >= 1);
        }
        assert_eq!(snat_port_candidate(0, 0, 65_535, 1), 65_535);
    }

    #[test]
    fn hash_spreads_over_buckets() {
        let mut buckets = [0u32; 4];
        for p in 0..4000u16 {
            let k = Flow4Key::new(
                Ipv4Addr::new(198, 18, 0, 1),
                10_000 + p,
                Ipv4Addr::new(198, 18, 1, 1),
                80,
                6,
            );
            buckets[(flow_hash4(&k) % 4) as usize] += 1;
        }
        for b in buckets {
            assert!((850..1150).contains(&b), "{buckets:?}");
        }
    }
}
