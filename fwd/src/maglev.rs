//! Maglev consistent hashing with weights (Eisenbud et al., "Maglev: A Fast
//! and Reliable Software Network Load Balancer", NSDI 2016, section 3.4).
//!
//! Each service gets a lookup table of [`TABLE_SIZE`] entries (a prime),
//! each holding a backend id; the datapath picks the entry
//! `flow_hash4(tuple) % TABLE_SIZE` for a new flow. Every backend has its own
//! permutation of the table positions, derived from its address:port only, and
//! backends take turns claiming their next preferred free position, a backend
//! of weight `w` claiming `w` positions per turn. Hence:
//! - each backend owns a share of the table proportional to its weight (to
//!   within one entry per turn);
//! - removing a backend frees only its positions; the others keep almost all
//!   of theirs, so new flows mostly go where they went before;
//! - the table depends only on the set of backends and weights (sorted by
//!   address:port, hashed with a fixed function), so two relays with the
//!   same file pick the same backend for the same flow, and reordering the
//!   file changes nothing.
//!
//! A backend of weight 0 owns no position: it gets no new flows, while its
//! existing flows continue (they are pinned by the connection table).

pub use fwd_common::maps::{MAGLEV_SIZE as TABLE_SIZE, NO_BACKEND};

/// One backend as the table sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Identity hashed into the permutation: `address:port` (port 0 when
    /// the port is kept).
    pub key: String,
    /// Relative weight; 0 takes no new flows.
    pub weight: u32,
    /// What the table holds for it (the backend id).
    pub id: u32,
}

/// 64-bit FNV-1a of `bytes` started from `seed`, finished with the murmur3
/// 64-bit mix so that both halves of the result are well spread. Fixed and
/// platform independent, unlike `std`'s hashers.
fn stable_hash(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Builds the lookup table of `members` (any order). Positions are
/// [`NO_BACKEND`] only when no member has a weight above 0.
pub fn populate(members: &[Member]) -> Vec<u32> {
    let m = u64::from(TABLE_SIZE);
    let mut table = vec![NO_BACKEND; TABLE_SIZE as usize];
    let mut active: Vec<&Member> = members.iter().filter(|b| b.weight > 0).collect();
    if active.is_empty() {
        return table;
    }
    active.sort_by(|a, b| a.key.cmp(&b.key));
    let g = active.iter().fold(0, |g, b| gcd(g, b.weight));
    // (offset, skip, weight per turn, next index in the permutation)
    let mut state: Vec<(u64, u64, u32, u64)> = active
        .iter()
        .map(|b| {
            let offset = stable_hash(b.key.as_bytes(), 0x6d61_676c_6576_0001) % m;
            let skip = stable_hash(b.key.as_bytes(), 0x6d61_676c_6576_0002) % (m - 1) + 1;
            (offset, skip, b.weight / g, 0)
        })
        .collect();
    let mut filled = 0u64;
    // Each claim takes at most TABLE_SIZE steps along a full permutation
    // (m is prime, so every permutation visits every position), and there
    // are exactly TABLE_SIZE claims: the loop ends.
    'fill: loop {
        for (member, (offset, skip, per_turn, next)) in active.iter().zip(state.iter_mut()) {
            for _ in 0..*per_turn {
                loop {
                    let pos = ((*offset + *next * *skip) % m) as usize;
                    *next += 1;
                    if table[pos] == NO_BACKEND {
                        table[pos] = member.id;
                        filled += 1;
                        break;
                    }
                }
                if filled == m {
                    break 'fill;
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, net::Ipv4Addr};

    use fwd_common::{hash::flow_hash4, Flow4Key, IPPROTO_TCP};

    use super::*;

    fn member(i: u32, weight: u32) -> Member {
        Member {
            key: format!("198.19.0.{}:443", 10 + i),
            weight,
            id: i,
        }
    }

    /// The backend the datapath picks for `flows` client ports.
    fn picks(table: &[u32], flows: u32) -> Vec<u32> {
        (0..flows)
            .map(|i| {
                let client = Ipv4Addr::from(0xc612_0000 + (i >> 12));
                let key = Flow4Key::new(
                    client,
                    1024 + (i & 0xfff) as u16,
                    Ipv4Addr::new(198, 18, 100, 1),
                    443,
                    IPPROTO_TCP,
                );
                table[(flow_hash4(&key) % TABLE_SIZE) as usize]
            })
            .collect()
    }

    #[test]
    fn table_shares_follow_weights() {
        let members = [member(0, 1), member(1, 1), member(2, 2), member(3, 4)];
        let table = populate(&members);
        let mut count = HashMap::new();
        table
            .iter()
            .for_each(|id| *count.entry(*id).or_insert(0u32) += 1);
        let total_weight = 8.0;
        for m in &members {
            let share = f64::from(count[&m.id]) / f64::from(TABLE_SIZE);
            let want = f64::from(m.weight) / total_weight;
            assert!(
                (share - want).abs() < 0.001,
                "table share of {}: {share} want {want}",
                m.key
            );
        }
    }

    #[test]
    fn flows_spread_within_a_few_percent_of_weights() {
        let members = [member(0, 1), member(1, 1), member(2, 2)];
        let table = populate(&members);
        let flows = 200_000;
        let mut count = HashMap::new();
        picks(&table, flows)
            .iter()
            .for_each(|id| *count.entry(*id).or_insert(0u32) += 1);
        for (m, want) in members.iter().zip([0.25, 0.25, 0.5]) {
            let share = f64::from(count[&m.id]) / f64::from(flows);
            assert!(
                (share - want).abs() / want < 0.03,
                "{}: {share} want {want}",
                m.key
            );
        }
    }

    #[test]
    fn removing_one_of_n_moves_about_its_share() {
        let n = 5;
        let all: Vec<Member> = (0..n).map(|i| member(i, 1)).collect();
        let before = picks(&populate(&all), 100_000);
        let after = picks(&populate(&all[1..]), 100_000);
        let moved =
            before.iter().zip(&after).filter(|(a, b)| a != b).count() as f64 / before.len() as f64;
        let on_removed = before.iter().filter(|id| **id == 0).count() as f64 / before.len() as f64;
        let others_moved = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| **a != 0 && a != b)
            .count() as f64
            / before.len() as f64;
        assert!(
            (on_removed - 1.0 / f64::from(n)).abs() < 0.02,
            "share of the removed backend {on_removed}"
        );
        assert!(
            after.iter().all(|id| *id != 0),
            "no flow goes to the removed backend"
        );
        assert!(
            others_moved < 0.02,
            "flows of the remaining backends moved: {others_moved}"
        );
        assert!(
            (moved - on_removed).abs() < 0.02,
            "moved {moved}, removed share {on_removed}"
        );
    }

    #[test]
    fn order_of_the_file_does_not_matter_and_is_deterministic() {
        let a = [member(0, 1), member(1, 2), member(2, 1)];
        let b = [member(2, 1), member(0, 1), member(1, 2)];
        assert_eq!(populate(&a), populate(&b));
        assert_eq!(populate(&a), populate(&a.clone()));
    }

    #[test]
    fn weight_zero_drains_and_all_zero_leaves_no_backend() {
        let table = populate(&[member(0, 0), member(1, 3)]);
        assert!(table.iter().all(|id| *id == 1));
        let table = populate(&[member(0, 0)]);
        assert!(table.iter().all(|id| *id == NO_BACKEND));
        assert!(populate(&[]).iter().all(|id| *id == NO_BACKEND));
    }
}
