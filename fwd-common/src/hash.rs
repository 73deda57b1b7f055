//! Flow hashing and SNAT port candidates.
//!
//! The hash is deterministic (no per-boot seed): two relays with the same
//! configuration send the same flow to the same backend, and packet tests can
//! compute the SNAT port the datapath will choose.

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
