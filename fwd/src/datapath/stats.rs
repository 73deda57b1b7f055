//! Reading the datapath's counters: per-CPU maps summed at read time.

use fwd_common::{maps as names, BackendStats, Counter, Reason, ReasonCounters};

use super::{error::map_err, events::FlowEvents, Datapath, DatapathError};

/// The reasons counted on one registered interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceReasons {
    /// The interface's ifindex.
    pub ifindex: u32,
    /// Every reason in [`Reason::ALL`] order, summed over CPUs.
    pub reasons: Vec<(Reason, Counter)>,
}

impl Datapath {
    /// `REASON_STATS` of counter slot `slot`, summed over CPUs.
    fn slot_reasons(&self, slot: u32) -> Result<Vec<(Reason, Counter)>, DatapathError> {
        let per_cpu = self
            .reason_stats
            .get(&slot, 0)
            .map_err(map_err(names::REASON_STATS, format!("reading slot {slot}")))?;
        let mut sum = ReasonCounters::default();
        per_cpu.iter().for_each(|c| sum.merge(c));
        Ok(Reason::ALL.iter().map(|&r| (r, sum.get(r))).collect())
    }

    /// `REASON_STATS` summed over CPUs and interfaces, for every reason in
    /// [`Reason::ALL`] order.
    pub fn reason_stats(&self) -> Result<Vec<(Reason, Counter)>, DatapathError> {
        let mut total = self.slot_reasons(0)?;
        for (_, slot) in &self.interfaces {
            for ((_, sum), (_, c)) in total.iter_mut().zip(self.slot_reasons(*slot)?) {
                sum.merge(&c);
            }
        }
        Ok(total)
    }

    /// `REASON_STATS` of each registered interface (see
    /// [`Datapath::allow_redirect`]), summed over CPUs.
    pub fn interface_reason_stats(&self) -> Result<Vec<InterfaceReasons>, DatapathError> {
        self.interfaces
            .iter()
            .map(|&(ifindex, slot)| {
                Ok(InterfaceReasons {
                    ifindex,
                    reasons: self.slot_reasons(slot)?,
                })
            })
            .collect()
    }

    /// `BACKEND_STATS[backend_id]` summed over CPUs.
    pub fn backend_stats(&self, backend_id: u32) -> Result<BackendStats, DatapathError> {
        let per_cpu = self.backend_stats.get(&backend_id, 0).map_err(map_err(
            names::BACKEND_STATS,
            format!("reading backend {backend_id}"),
        ))?;
        let mut sum = BackendStats::default();
        per_cpu.iter().for_each(|s| sum.merge(s));
        Ok(sum)
    }

    /// Sets `BACKEND_STATS[backend_id]` to zero on every CPU (a new backend
    /// on an id used before).
    pub fn reset_backend_stats(&mut self, backend_id: u32) -> Result<(), DatapathError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, source)| DatapathError::Cpus { source })?;
        let zeros = aya::maps::PerCpuValues::try_from(vec![BackendStats::default(); cpus])
            .map_err(|source| DatapathError::Cpus { source })?;
        self.backend_stats
            .set(backend_id, zeros, 0)
            .map_err(map_err(
                names::BACKEND_STATS,
                format!("zeroing backend {backend_id}"),
            ))
    }

    /// Flow events the datapath could not queue (ring buffer full), summed
    /// over CPUs.
    pub fn events_lost(&self) -> Result<u64, DatapathError> {
        let per_cpu = self
            .events_lost
            .get(&0, 0)
            .map_err(map_err(names::EVENTS_LOST, "reading"))?;
        Ok(per_cpu.iter().sum())
    }

    /// The `FLOW_EVENTS` ring buffer, for the one consumer of flow events;
    /// `None` once taken.
    pub fn take_flow_events(&mut self) -> Option<FlowEvents> {
        self.flow_events.take().map(FlowEvents::new)
    }
}
