//! `ACCESS4`: the services' `allow` and `deny` source prefixes (see
//! `fwd_common::access`).

use std::collections::HashMap;

use aya::maps::lpm_trie::Key;
use fwd_common::{
    access::{prefix_len, Access4Key, ALLOW, DENY},
    maps as names,
    service::service_flags,
};

use super::{error::is_missing, map_err, Datapath, DatapathError};
use crate::{config::Access, plan::Plan};

/// A key of `ACCESS4`, comparable (aya's key type is not).
type RawKey = (u32, Access4Key);

/// The entries of one service's lists: every `deny` prefix, and every
/// `allow` prefix that no `deny` prefix covers (deny is evaluated first;
/// the longest match then finds a deny wherever one applies).
pub(crate) fn entries(service_id: u32, access: &Access) -> Vec<(RawKey, u32)> {
    let key = |p: &crate::config::Prefix4| {
        (
            prefix_len(p.len),
            Access4Key {
                service_id_be: service_id.to_be(),
                addr: u32::from(p.addr).to_be(),
            },
        )
    };
    let denied = access.deny.iter().map(|p| (key(p), DENY));
    let allowed = access
        .allow
        .iter()
        .flatten()
        .filter(|a| !access.deny.iter().any(|d| d.covers(a)))
        .map(|p| (key(p), ALLOW));
    denied.chain(allowed).collect()
}

/// The [`service_flags`] of a service with `access`.
pub(crate) fn flags(access: &Access) -> u32 {
    let mut flags = 0;
    if access.allow.is_some() || !access.deny.is_empty() {
        flags |= service_flags::ACCESS_LIST;
    }
    if access.allow.is_some() {
        flags |= service_flags::ALLOW_LIST;
    }
    flags
}

impl Datapath {
    /// Writes the entries of `plan`'s lists into `ACCESS4` (before the
    /// services that use them are written); returns the entries no longer
    /// wanted, which [`Datapath::remove_access`] removes once the services
    /// no longer point at them.
    pub(super) fn write_access(&mut self, plan: &Plan) -> Result<Vec<RawKey>, DatapathError> {
        let wanted: HashMap<RawKey, u32> = plan
            .services
            .iter()
            .flat_map(|s| entries(s.id, &s.access))
            .collect();
        let present: Vec<RawKey> = self
            .access
            .keys()
            .map(|k| k.map(|k| (k.prefix_len(), k.data())))
            .collect::<Result<_, _>>()
            .map_err(map_err(names::ACCESS4, "listing keys"))?;
        for ((len, data), verdict) in &wanted {
            self.access
                .insert(&Key::new(*len, *data), verdict, 0)
                .map_err(map_err(names::ACCESS4, "writing an entry"))?;
        }
        Ok(present
            .into_iter()
            .filter(|k| !wanted.contains_key(k))
            .collect())
    }

    /// Removes `stale` entries from `ACCESS4`.
    pub(super) fn remove_access(&mut self, stale: &[RawKey]) -> Result<(), DatapathError> {
        for (len, data) in stale {
            match self.access.remove(&Key::new(*len, *data)) {
                Err(e) if !is_missing(&e) => {
                    return Err(map_err(names::ACCESS4, "removing a stale entry")(e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::config::Prefix4;

    fn p(a: [u8; 4], len: u8) -> Prefix4 {
        Prefix4 {
            addr: Ipv4Addr::from(a),
            len,
        }
    }

    #[test]
    fn deny_first_drops_the_allow_prefixes_it_covers() {
        let access = Access {
            allow: Some(vec![p([198, 18, 0, 0], 16), p([198, 18, 52, 0], 24)]),
            deny: vec![p([198, 18, 52, 0], 22), p([198, 18, 9, 7], 32)],
        };
        let e = entries(7, &access);
        let verdicts: Vec<(u32, Ipv4Addr, u32)> = e
            .iter()
            .map(|((len, k), v)| (*len - 32, Ipv4Addr::from(u32::from_be(k.addr)), *v))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                (22, Ipv4Addr::new(198, 18, 52, 0), DENY),
                (32, Ipv4Addr::new(198, 18, 9, 7), DENY),
                // 198.18.52.0/24 is inside the denied /22: not written.
                (16, Ipv4Addr::new(198, 18, 0, 0), ALLOW),
            ]
        );
        assert!(e
            .iter()
            .all(|((_, k), _)| u32::from_be(k.service_id_be) == 7));
        assert_eq!(
            flags(&access),
            service_flags::ACCESS_LIST | service_flags::ALLOW_LIST
        );
        assert_eq!(flags(&Access::default()), 0);
        let deny_only = Access {
            allow: None,
            deny: vec![p([198, 18, 9, 0], 24)],
        };
        assert_eq!(flags(&deny_only), service_flags::ACCESS_LIST);
    }
}
