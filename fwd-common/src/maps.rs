//! Names and default sizes of the maps the XDP program declares.
//!
//! The loader finds maps by these names, and may change `max_entries` of the
//! sized ones before loading (settings in the `[relay]` table).

/// `HashMap<Service4Key, Service4>`: the IPv4 VIPs. Written by the loader,
/// read by the datapath for packets without a flow.
pub const SERVICES4: &str = "SERVICES4";
/// `Array<Backend4>` indexed by backend id. Written by the loader, read by the
/// datapath when it starts a flow.
pub const BACKENDS4: &str = "BACKENDS4";
/// `ProgramArray` of one entry: the full program (`fwd_xdp_full`), which
/// the attached program (`fwd_xdp`, the fast path) tail-calls for every
/// packet it does not handle itself. Written by the loader.
pub const PROGRAMS: &str = "PROGRAMS";
/// The slot of the full program in [`PROGRAMS`].
pub const PROGRAMS_FULL: u32 = 0;
/// `LpmTrie<Access4Key, u32>`: the `allow` and `deny` source prefixes of
/// the services that have them (see [`crate::access`]). Written by the
/// loader, read by the datapath when it starts a flow.
pub const ACCESS4: &str = "ACCESS4";
/// Entries of [`ACCESS4`].
pub const MAX_ACCESS_ENTRIES: u32 = 65_536;
/// `Array<u32>` of Maglev lookup tables, [`MAGLEV_SIZE`] backend ids each
/// ([`NO_BACKEND`] where none), indexed by
/// [`crate::service::maglev_index`]`(table, flow hash)`. A service uses the
/// table named in its [`crate::Service4::maglev_table`]; the loader writes a
/// new table into a free one and then switches the service to it, so a
/// change never shows a half-written table. Written by the loader, read by
/// the datapath when it starts a flow.
pub const MAGLEV: &str = "MAGLEV";
/// `HashMap<Flow4Key, Flow4>`: connection tracking, two entries per flow.
/// Entries are created by the datapath, refreshed in place by it, and
/// expired by the loader.
pub const CT4: &str = "CT4";
/// `DevMapHash` keyed by ifindex: the interfaces fwd is attached to, which
/// the datapath may redirect to. Written by the loader.
pub const DEVMAP: &str = "DEVMAP";
/// `PerCpuArray<ReasonCounters>` indexed by interface slot (see
/// [`IFINDEX_SLOTS`]): packets and frame bytes per interface and
/// [`crate::Reason`]. Written by the datapath, read (summed over CPUs) by
/// the loader.
pub const REASON_STATS: &str = "REASON_STATS";
/// `Array<u32>` indexed by ifindex (below [`MAX_IFINDEX`]): the slot of each
/// attached interface in [`REASON_STATS`] (1..=[`MAX_INTERFACES`]; 0 means
/// none). Written by the loader, read by the datapath for every packet.
pub const IFINDEX_SLOTS: &str = "IFINDEX_SLOTS";
/// `RingBuf` of [`crate::events::FlowEvent`]: flow start and end events,
/// never per packet. Written by the datapath, read by the loader.
pub const FLOW_EVENTS: &str = "FLOW_EVENTS";
/// `PerCpuArray<u64>` with one entry: flow events the datapath could not
/// put in [`FLOW_EVENTS`] (ring full). Written by the datapath, read by the
/// loader.
pub const EVENTS_LOST: &str = "EVENTS_LOST";
/// `PerCpuArray<BackendStats>` indexed by backend id. Written by the
/// datapath, read by the loader.
pub const BACKEND_STATS: &str = "BACKEND_STATS";
/// `Array<u32>` indexed by interface slot (see [`IFINDEX_SLOTS`]): the
/// IPv4 address (network order) of each attached interface, 0 for none.
/// Written by the loader when it attaches; read by the datapath when it
/// answers as a router from the interface a packet came in on (time
/// exceeded, fragmentation needed).
pub const IFACE_ADDRS: &str = "IFACE_ADDRS";
/// `HashMap<Frag4Key, Frag4>`: what happens to the later fragments of
/// fragmented datagrams (see [`crate::frag`]). Written and read by the
/// datapath, read and expired by the loader.
pub const FRAG4: &str = "FRAG4";
/// `HashMap<u32, u32>`: the addresses (network order; value 1) whose later
/// fragments are held when they arrive before their first: the VIPs and
/// the SNAT addresses. Written by the loader with each plan.
pub const FRAG_ADDRS4: &str = "FRAG_ADDRS4";
/// `RingBuf` of [`crate::frag::ParkedFragment`] items: held fragments and
/// their releases. Written by the datapath, read by the loader.
pub const FRAGMENTS: &str = "FRAGMENTS";
/// `PerCpuArray` with one entry of [`crate::frag::PARKED_HEADER_LEN`] +
/// [`crate::frag::MAX_PARKED_FRAME`] bytes: where the datapath builds a
/// held fragment's item. The datapath's own.
pub const PARK_SCRATCH: &str = "PARK_SCRATCH";
/// `PerCpuArray<[Flow4; 2]>` with one entry: where the datapath builds the
/// two halves of a new flow (reply, forward) before it inserts them into
/// [`CT4`]. The datapath's own.
pub const NEW_FLOW_SCRATCH: &str = "NEW_FLOW_SCRATCH";
/// `PerCpuArray<bpf_fib_lookup>` with one entry: where the datapath builds
/// its FIB lookups. The datapath's own.
pub const FIB_SCRATCH: &str = "FIB_SCRATCH";
/// `PerCpuArray<TokenBucket>` with one entry: the budget of ICMP errors the
/// datapath sends as a router. Written by the datapath only.
pub const ICMP_BUDGET: &str = "ICMP_BUDGET";
/// `Array<RelayConfig>` with one entry: datapath settings. Written by the
/// loader before attaching, read by the datapath when it starts a flow.
pub const RELAY_CONFIG: &str = "RELAY_CONFIG";

/// Most services (IPv4 VIP entries use one id per `[[service]]`).
pub const MAX_SERVICES: u32 = 1024;
/// Entries of one Maglev table: a prime well above 100 times
/// [`MAX_BACKENDS_PER_SERVICE`] (64 KiB per table).
pub const MAGLEV_SIZE: u32 = 16_381;
/// A Maglev entry that names no backend (every backend has weight 0).
pub const NO_BACKEND: u32 = u32::MAX;
/// Default number of Maglev tables: two per service for the default
/// `max_services` (the loader sizes [`MAGLEV`] from the configuration).
pub const DEFAULT_MAGLEV_TABLES: u32 = 2 * 64;
/// Most backends a service can have.
pub const MAX_BACKENDS_PER_SERVICE: u32 = 64;
/// Most backends over all services (ids `0..MAX_BACKENDS`).
pub const MAX_BACKENDS: u32 = 4096;
/// Size of [`SERVICES4`]: a whole-address service with protocol "any"
/// takes three entries (TCP, UDP, ICMP), and a VIP may take one more for
/// the echo answers of its port services.
pub const MAX_SERVICE_KEYS: u32 = 4 * MAX_SERVICES;
/// Size of [`FRAG4`]: fragmented datagrams in flight.
pub const MAX_FRAGMENTED: u32 = 8192;
/// Size of [`FRAG_ADDRS4`]: a VIP per service and a SNAT address per
/// backend at most.
pub const MAX_FRAG_ADDRS: u32 = MAX_SERVICES + MAX_BACKENDS;
/// Size of [`FRAGMENTS`] in bytes (a power of two multiple of the page
/// size): about 2,700 held 1,514-byte frames, the kernel's
/// `ipfrag_high_thresh` default of reassembly memory.
pub const FRAGMENTS_BYTES: u32 = 1 << 22;
/// ICMP errors the datapath may send as a router, per second and CPU (the
/// kernel's `icmp_msgs_per_sec` default).
pub const ICMP_ERRORS_PER_SEC: u64 = 1000;
/// Burst of [`ICMP_ERRORS_PER_SEC`] (the kernel's `icmp_msgs_burst`
/// default).
pub const ICMP_ERRORS_BURST: u64 = 50;
/// Default size of [`CT4`] in entries (two per flow).
pub const DEFAULT_CT_ENTRIES: u32 = 2 * 131_072;
/// Size of [`DEVMAP`], and the most interfaces with their own counters.
pub const MAX_INTERFACES: u32 = 64;
/// Size of [`IFINDEX_SLOTS`]: interfaces with a larger ifindex are counted
/// in slot 0.
pub const MAX_IFINDEX: u32 = 65_536;
/// Size of [`REASON_STATS`].
pub const REASON_STATS_ENTRIES: u32 = MAX_INTERFACES + 1;
/// Size of [`FLOW_EVENTS`] in bytes (a power of two multiple of the page
/// size): about 11,900 events of 88 bytes (+8 bytes of ring header each).
pub const FLOW_EVENTS_BYTES: u32 = 1 << 20;
