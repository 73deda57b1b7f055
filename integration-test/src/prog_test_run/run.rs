//! Running the program once on a frame, and observing what it changed.

use std::time::Duration;

use aya::programs::{ProgramError, TestRun as _, TestRunOptions};
use fwd::datapath::{Datapath, FlowEvents};
use fwd_common::{BackendStats, Counter, FlowEvent, Reason};

/// Size of `struct xdp_md` (include/uapi/linux/bpf.h).
const XDP_MD_LEN: usize = 24;

/// Every flow event queued in the ring buffer, oldest first.
pub fn drain_events(ring: &mut FlowEvents) -> Vec<FlowEvent> {
    let mut events = Vec::new();
    while let Some(e) = ring.next_event() {
        events.push(e);
    }
    assert_eq!(ring.skipped(), 0, "ring items shorter than an event");
    events
}

/// What one run returned.
pub struct Outcome {
    /// The XDP action.
    pub action: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// The kernel's time for the run (read by the T6 benchmark; the packet
    /// tests assert no timing).
    pub duration: Duration,
}

/// Runs the program once (repeat 1: with a larger repeat, later runs would
/// see the already rewritten frame) on `frame` arriving on `ingress_ifindex`.
pub fn run(dp: &mut Datapath, ingress_ifindex: u32, frame: &[u8]) -> Outcome {
    try_run(dp, ingress_ifindex, frame).expect("BPF_PROG_TEST_RUN")
}

/// [`run`], returning the syscall's error (the T6 benchmark uses it).
pub fn try_run(
    dp: &mut Datapath,
    ingress_ifindex: u32,
    frame: &[u8],
) -> Result<Outcome, ProgramError> {
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
    let mut ctx = [0u8; XDP_MD_LEN];
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
    let mut out = vec![0u8; frame.len() + 256];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: Some(&ctx),
        repeat: 1,
        ..Default::default()
    };
    let result = dp.program().test_run(opts)?;
    out.truncate(result.data_size_out as usize);
    Ok(Outcome {
        action: result.return_value,
        frame: out,
        duration: result.duration,
    })
}

/// Counters and table size at one moment, to compare before/after a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// REASON_STATS, in `Reason::ALL` order.
    pub reasons: Vec<(Reason, Counter)>,
    /// BACKEND_STATS of backends `0..backends`.
    pub backends: Vec<BackendStats>,
    /// Number of CT4 entries.
    pub ct_entries: usize,
    /// REASON_STATS of each registered interface, by ifindex.
    pub interfaces: Vec<(u32, Vec<(Reason, Counter)>)>,
}

/// Reads the counters of `reasons` and of the first `backends` backends.
pub fn snapshot(dp: &Datapath, backends: u32) -> Snapshot {
    Snapshot {
        reasons: dp.reason_stats().expect("reason stats"),
        backends: (0..backends)
            .map(|id| dp.backend_stats(id).expect("backend stats"))
            .collect(),
        ct_entries: dp.flows().expect("flows").len(),
        interfaces: dp
            .interface_reason_stats()
            .expect("interface stats")
            .into_iter()
            .map(|i| (i.ifindex, i.reasons))
            .collect(),
    }
}

impl Snapshot {
    /// Every reason whose packet count changed since `before`, with the change.
    pub fn reasons_changed_since(&self, before: &Snapshot) -> Vec<(Reason, u64)> {
        self.reasons
            .iter()
            .zip(&before.reasons)
            .filter(|((_, a), (_, b))| a.packets != b.packets)
            .map(|((r, a), (_, b))| (*r, a.packets - b.packets))
            .collect()
    }

    /// Like [`Snapshot::reasons_changed_since`], for one interface.
    pub fn interface_reasons_changed_since(
        &self,
        before: &Snapshot,
        ifindex: u32,
    ) -> Vec<(Reason, u64)> {
        let of = |s: &Snapshot| {
            s.interfaces
                .iter()
                .find(|(i, _)| *i == ifindex)
                .map(|(_, r)| r.clone())
                .unwrap_or_default()
        };
        of(self)
            .iter()
            .zip(of(before).iter())
            .filter(|((_, a), (_, b))| a.packets != b.packets)
            .map(|((r, a), (_, b))| (*r, a.packets - b.packets))
            .collect()
    }

    /// Change of backend `id`'s stats since `before`.
    pub fn backend_delta(&self, before: &Snapshot, id: u32) -> BackendStats {
        let (a, b) = (&self.backends[id as usize], &before.backends[id as usize]);
        let mut d = BackendStats::default();
        d.to_backend.packets = a.to_backend.packets - b.to_backend.packets;
        d.to_backend.bytes = a.to_backend.bytes - b.to_backend.bytes;
        d.to_client.packets = a.to_client.packets - b.to_client.packets;
        d.to_client.bytes = a.to_client.bytes - b.to_client.bytes;
        d.flows_created_tcp = a.flows_created_tcp - b.flows_created_tcp;
        d.flows_created_udp = a.flows_created_udp - b.flows_created_udp;
        d.flows_created_icmp = a.flows_created_icmp - b.flows_created_icmp;
        d
    }
}
