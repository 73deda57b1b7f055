//! Stable ids for services and backends across plan changes.
//!
//! Ids index the datapath's tables and counters (`BACKENDS4`,
//! `BACKEND_STATS`, the service id in every flow), so a service or backend
//! that is still in the new plan must keep its id, or its flows and
//! counters would change owner. [`IdBook::assign`] takes a plan whose ids
//! are provisional (as [`crate::plan::Plan::build`] numbers them) and gives:
//! - a service the id it had, matched by name;
//! - a backend the id it had, matched by service name and address:port;
//! - anything new the lowest id that no entry of the plan uses and that no
//!   live flow still refers to (`busy`): a removed backend's id is not
//!   reused while its drained flows run, so they are never counted as
//!   another backend's.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};

use fwd_common::maps::{MAX_BACKENDS, MAX_SERVICES};

use crate::plan::Plan;

/// A backend's identity within its service.
type BackendKey = (String, Ipv4Addr, Option<u16>);

/// No id left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free {what} id: {limit} are in use or held by live flows")]
pub struct IdsExhausted {
    /// "service" or "backend".
    pub what: &'static str,
    /// The number of ids.
    pub limit: u32,
}

/// The ids given so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdBook {
    services: BTreeMap<String, u32>,
    backends: BTreeMap<BackendKey, u32>,
}

/// Ids that live flows still refer to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Busy {
    /// Service ids found in the connection table.
    pub services: BTreeSet<u32>,
    /// Backend ids found in the connection table.
    pub backends: BTreeSet<u32>,
}

fn lowest_free(
    taken: &BTreeSet<u32>,
    busy: &BTreeSet<u32>,
    limit: u32,
    what: &'static str,
) -> Result<u32, IdsExhausted> {
    (0..limit)
        .find(|id| !taken.contains(id) && !busy.contains(id))
        .ok_or(IdsExhausted { what, limit })
}

impl IdBook {
    /// The book of a plan as installed (its ids are taken as they are).
    pub(crate) fn of(plan: &Plan) -> IdBook {
        let mut book = IdBook::default();
        for s in &plan.services {
            book.services.insert(s.name.clone(), s.id);
            for b in &s.backends {
                book.backends.insert((s.name.clone(), b.addr, b.port), b.id);
            }
        }
        book
    }

    /// Rewrites the ids of `plan` (see the module documentation) and
    /// remembers them. On error the book is unchanged.
    pub(crate) fn assign(&mut self, mut plan: Plan, busy: &Busy) -> Result<Plan, IdsExhausted> {
        let mut services = BTreeMap::new();
        let mut backends = BTreeMap::new();
        // Kept ids first, so new entries cannot take them.
        for s in &plan.services {
            if let Some(&id) = self.services.get(&s.name) {
                services.insert(s.name.clone(), id);
            }
            for b in &s.backends {
                let key = (s.name.clone(), b.addr, b.port);
                if let Some(&id) = self.backends.get(&key) {
                    backends.insert(key, id);
                }
            }
        }
        for s in &plan.services {
            if !services.contains_key(&s.name) {
                let taken = services.values().copied().collect();
                let id = lowest_free(&taken, &busy.services, MAX_SERVICES, "service")?;
                services.insert(s.name.clone(), id);
            }
            for b in &s.backends {
                let key = (s.name.clone(), b.addr, b.port);
                if !backends.contains_key(&key) {
                    let taken = backends.values().copied().collect();
                    let id = lowest_free(&taken, &busy.backends, MAX_BACKENDS, "backend")?;
                    backends.insert(key, id);
                }
            }
        }
        for s in &mut plan.services {
            s.id = services[&s.name];
            for b in &mut s.backends {
                b.id = backends[&(s.name.clone(), b.addr, b.port)];
            }
        }
        self.services = services;
        self.backends = backends;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlannedBackend, PlannedService};

    fn service(name: &str, backends: &[(u8, Option<u16>)]) -> PlannedService {
        PlannedService {
            id: 0,
            name: name.into(),
            vip: Ipv4Addr::new(198, 18, 0, 1),
            port: Some(80),
            protocols: vec![fwd_common::IPPROTO_TCP],
            mss_clamp: Default::default(),
            access: Default::default(),
            backends: backends
                .iter()
                .map(|&(last, port)| PlannedBackend {
                    id: 0,
                    addr: Ipv4Addr::new(198, 19, 0, last),
                    port,
                    snat: Ipv4Addr::new(198, 19, 0, 1),
                    weight: 1,
                })
                .collect(),
        }
    }

    fn plan(services: Vec<PlannedService>) -> Plan {
        Plan {
            services,
            settings: Default::default(),
        }
    }

    fn ids(plan: &Plan) -> Vec<(String, u32, Vec<u32>)> {
        plan.services
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.id,
                    s.backends.iter().map(|b| b.id).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn kept_entries_keep_their_ids_and_new_ones_take_the_lowest_free() {
        let mut book = IdBook::default();
        let first = book
            .assign(
                plan(vec![
                    service("a", &[(10, None), (11, None)]),
                    service("b", &[(12, None)]),
                ]),
                &Busy::default(),
            )
            .unwrap();
        assert_eq!(
            ids(&first),
            [("a".into(), 0, vec![0, 1]), ("b".into(), 1, vec![2])]
        );
        // Remove a's first backend, add one to b, add service c before b.
        let next = plan(vec![
            service("a", &[(11, None)]),
            service("c", &[(13, None)]),
            service("b", &[(12, None), (14, None)]),
        ]);
        let second = book.assign(next, &Busy::default()).unwrap();
        assert_eq!(
            ids(&second),
            [
                ("a".into(), 0, vec![1]),
                ("c".into(), 2, vec![0]),
                ("b".into(), 1, vec![2, 3])
            ]
        );
    }

    #[test]
    fn ids_held_by_live_flows_are_not_reused() {
        let mut book = IdBook::default();
        book.assign(
            plan(vec![service("a", &[(10, None), (11, None)])]),
            &Busy::default(),
        )
        .unwrap();
        let busy = Busy {
            services: BTreeSet::new(),
            backends: [0].into(),
        };
        let next = book
            .assign(plan(vec![service("a", &[(11, None), (12, None)])]), &busy)
            .unwrap();
        assert_eq!(
            ids(&next),
            [("a".into(), 0, vec![1, 2])],
            "backend 0 still has flows"
        );
    }

    #[test]
    fn the_same_address_with_another_port_is_another_backend() {
        let mut book = IdBook::default();
        book.assign(
            plan(vec![service("a", &[(10, Some(80))])]),
            &Busy::default(),
        )
        .unwrap();
        let next = book
            .assign(
                plan(vec![service("a", &[(10, Some(8080))])]),
                &Busy::default(),
            )
            .unwrap();
        assert_eq!(
            ids(&next),
            [("a".into(), 0, vec![0])],
            "id 0 is free again: no flow holds it"
        );
        let busy = Busy {
            services: BTreeSet::new(),
            backends: [0].into(),
        };
        let next = book
            .assign(plan(vec![service("a", &[(10, Some(80))])]), &busy)
            .unwrap();
        assert_eq!(ids(&next), [("a".into(), 0, vec![1])]);
    }

    #[test]
    fn exhaustion_is_an_error_and_changes_nothing() {
        let mut book = IdBook::default();
        let before = book.clone();
        let busy = Busy {
            services: (0..MAX_SERVICES).collect(),
            backends: BTreeSet::new(),
        };
        let err = book
            .assign(plan(vec![service("a", &[(10, None)])]), &busy)
            .unwrap_err();
        assert_eq!(
            err,
            IdsExhausted {
                what: "service",
                limit: MAX_SERVICES
            }
        );
        assert_eq!(book, before);
    }

    #[test]
    fn the_book_of_an_installed_plan_keeps_it() {
        let mut book = IdBook::default();
        let p = book
            .assign(
                plan(vec![
                    service("a", &[(10, None)]),
                    service("b", &[(11, None)]),
                ]),
                &Busy::default(),
            )
            .unwrap();
        let mut again = IdBook::of(&p);
        assert_eq!(again.assign(p.clone(), &Busy::default()).unwrap(), p);
    }
}
