//! Writing the services' Maglev tables into `MAGLEV`.
//!
//! `MAGLEV` holds two tables per service. A service's new table is written
//! into a table no service currently uses, and only then does `SERVICES4`
//! name it (see [`Datapath::install`]), so the datapath always reads a
//! complete table: the old one or the new one.

use std::collections::HashMap;

use fwd_common::maps::{self as names, MAGLEV_SIZE};

use super::{error::map_err, Datapath, DatapathError};
use crate::{
    maglev::{self, Member},
    plan::{Plan, PlannedService},
};

/// The Maglev members of a service: backends keyed by `address:port`.
pub fn members(service: &PlannedService) -> Vec<Member> {
    service
        .backends
        .iter()
        .map(|b| Member {
            key: format!("{}:{}", b.addr, b.port.unwrap_or(0)),
            weight: b.weight,
            id: b.id,
        })
        .collect()
}

impl Datapath {
    /// Writes a fresh table for every service of `plan` into tables no
    /// service uses now, and returns the new service id -> table mapping
    /// (which becomes the one in use).
    pub(super) fn write_maglev_tables(
        &mut self,
        plan: &Plan,
    ) -> Result<HashMap<u32, u32>, DatapathError> {
        let mut free =
            (0..self.maglev_tables).filter(|t| !self.maglev_in_use.values().any(|u| u == t));
        let mut chosen = HashMap::new();
        for s in &plan.services {
            let table = free.next().ok_or_else(|| DatapathError::PlanTooLarge {
                what: format!("no free Maglev table for service {:?}", s.name),
            })?;
            for (i, id) in maglev::populate(&members(s)).into_iter().enumerate() {
                self.maglev
                    .set(table * MAGLEV_SIZE + i as u32, id, 0)
                    .map_err(map_err(names::MAGLEV, format!("writing table {table}")))?;
            }
            chosen.insert(s.id, table);
        }
        self.maglev_in_use = chosen.clone();
        Ok(chosen)
    }
}
