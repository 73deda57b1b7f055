//! The maps of the program. Types and names come from `fwd_common` (see
//! `fwd_common::maps` for who writes and who reads each one).

use aya_ebpf::{
    bindings::bpf_fib_lookup,
    macros::map,
    maps::{lpm_trie::LpmTrie, Array, DevMapHash, HashMap, PerCpuArray, ProgramArray, RingBuf},
};
use fwd_common::{
    access::Access4Key,
    budget::TokenBucket,
    frag::{Frag4, Frag4Key, MAX_PARKED_FRAME, PARKED_HEADER_LEN},
    maps::{
        DEFAULT_CT_ENTRIES, DEFAULT_MAGLEV_TABLES, FLOW_EVENTS_BYTES, FRAGMENTS_BYTES, MAGLEV_SIZE,
        MAX_ACCESS_ENTRIES, MAX_BACKENDS, MAX_FRAGMENTED, MAX_FRAG_ADDRS, MAX_IFINDEX,
        MAX_INTERFACES, MAX_SERVICE_KEYS, REASON_STATS_ENTRIES,
    },
    Backend4, BackendStats, Flow4, Flow4Key, ReasonCounters, RelayConfig, Service4, Service4Key,
};

/// IPv4 VIPs (address, port or 0, protocol). Written by the loader.
#[map(name = "SERVICES4")]
pub static SERVICES4: HashMap<Service4Key, Service4> =
    HashMap::with_max_entries(MAX_SERVICE_KEYS, 0);

/// Programs the attached one tail-calls: the full program in slot
/// `PROGRAMS_FULL` (see `crate::fast`). Written by the loader.
#[map(name = "PROGRAMS")]
pub static PROGRAMS: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// The `allow` and `deny` source prefixes of services (see
/// `fwd_common::access`). Written by the loader.
#[map(name = "ACCESS4")]
pub static ACCESS4: LpmTrie<Access4Key, u32> = LpmTrie::with_max_entries(MAX_ACCESS_ENTRIES, 0);

/// Backends by id. Written by the loader.
#[map(name = "BACKENDS4")]
pub static BACKENDS4: Array<Backend4> = Array::with_max_entries(MAX_BACKENDS, 0);

/// Maglev tables of backend ids. Written by the loader, which also sets
/// its size.
#[map(name = "MAGLEV")]
pub static MAGLEV: Array<u32> = Array::with_max_entries(DEFAULT_MAGLEV_TABLES * MAGLEV_SIZE, 0);

/// Connection tracking: two halves per flow, plain hash (never evicts; see
/// `fwd_common::flow`). Created and refreshed here, expired by the loader,
/// which also sets its size.
#[map(name = "CT4")]
pub static CT4: HashMap<Flow4Key, Flow4> = HashMap::with_max_entries(DEFAULT_CT_ENTRIES, 0);

/// Interfaces the program may redirect to, keyed by ifindex. Written by the
/// loader with the interfaces it attached to.
#[map(name = "DEVMAP")]
pub static DEVMAP: DevMapHash = DevMapHash::with_max_entries(MAX_INTERFACES, 0);

/// Packets and frame bytes per interface slot and [`fwd_common::Reason`].
/// Written here.
#[map(name = "REASON_STATS")]
pub static REASON_STATS: PerCpuArray<ReasonCounters> =
    PerCpuArray::with_max_entries(REASON_STATS_ENTRIES, 0);

/// Counter slot of each attached interface, by ifindex. Written by the loader.
#[map(name = "IFINDEX_SLOTS")]
pub static IFINDEX_SLOTS: Array<u32> = Array::with_max_entries(MAX_IFINDEX, 0);

/// Flow start and end events. Written here, read by the loader.
#[map(name = "FLOW_EVENTS")]
pub static FLOW_EVENTS: RingBuf = RingBuf::with_byte_size(FLOW_EVENTS_BYTES, 0);

/// Events that did not fit in [`FLOW_EVENTS`]. Written here.
#[map(name = "EVENTS_LOST")]
pub static EVENTS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Traffic per backend. Written here.
#[map(name = "BACKEND_STATS")]
pub static BACKEND_STATS: PerCpuArray<BackendStats> =
    PerCpuArray::with_max_entries(MAX_BACKENDS, 0);

/// Datapath settings, entry 0. Written by the loader before it attaches.
#[map(name = "RELAY_CONFIG")]
pub static RELAY_CONFIG: Array<RelayConfig> = Array::with_max_entries(1, 0);

/// IPv4 address of each attached interface, by counter slot: the source of
/// the ICMP errors the relay sends as a router. Written by the loader.
#[map(name = "IFACE_ADDRS")]
pub static IFACE_ADDRS: Array<u32> = Array::with_max_entries(REASON_STATS_ENTRIES, 0);

/// The budget of ICMP errors sent as a router, one bucket per CPU. Written
/// here only.
#[map(name = "ICMP_BUDGET")]
pub static ICMP_BUDGET: PerCpuArray<TokenBucket> = PerCpuArray::with_max_entries(1, 0);

/// What happens to the later fragments of fragmented datagrams (see
/// `fwd_common::frag`). Written and read here, expired by the loader.
#[map(name = "FRAG4")]
pub static FRAG4: HashMap<Frag4Key, Frag4> = HashMap::with_max_entries(MAX_FRAGMENTED, 0);

/// Addresses whose early fragments are held (VIPs and SNAT addresses).
/// Written by the loader.
#[map(name = "FRAG_ADDRS4")]
pub static FRAG_ADDRS4: HashMap<u32, u32> = HashMap::with_max_entries(MAX_FRAG_ADDRS, 0);

/// Held fragments and their releases, for the loader.
#[map(name = "FRAGMENTS")]
pub static FRAGMENTS: RingBuf = RingBuf::with_byte_size(FRAGMENTS_BYTES, 0);

/// One held fragment's item, built here before it is copied to
/// [`FRAGMENTS`] (a frame is too long for the stack).
pub type ParkItem = [u8; PARKED_HEADER_LEN + MAX_PARKED_FRAME];

/// Where conntrack builds the two halves of a new flow (reply, forward),
/// one pair per CPU: CT4 takes them from here, as the stack cannot spare
/// their 160 bytes.
#[map(name = "NEW_FLOW_SCRATCH")]
pub static NEW_FLOW_SCRATCH: PerCpuArray<[Flow4; 2]> = PerCpuArray::with_max_entries(1, 0);

/// Where a FIB lookup's parameters are built, one per CPU (see
/// `crate::route`): 64 bytes the stack cannot spare.
#[map(name = "FIB_SCRATCH")]
pub static FIB_SCRATCH: PerCpuArray<bpf_fib_lookup> = PerCpuArray::with_max_entries(1, 0);

/// Where a held fragment's item is built, one per CPU.
#[map(name = "PARK_SCRATCH")]
pub static PARK_SCRATCH: PerCpuArray<ParkItem> = PerCpuArray::with_max_entries(1, 0);
