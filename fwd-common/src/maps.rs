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
/// `Array<u32>` indexed by `service_id * MAX_BACKENDS_PER_SERVICE + slot`,
/// holding backend ids. Written by the loader, read by the datapath.
pub const BACKEND_SLOTS: &str = "BACKEND_SLOTS";
/// `HashMap<Flow4Key, Flow4>`: connection tracking, two entries per flow.
/// Entries are created by the datapath, refreshed in place by it, and
/// expired by the loader.
pub const CT4: &str = "CT4";
/// `DevMapHash` keyed by ifindex: the interfaces fwd is attached to, which
/// the datapath may redirect to. Written by the loader.
pub const DEVMAP: &str = "DEVMAP";
/// `PerCpuArray<Counter>` indexed by [`crate::Reason`]. Written by the
/// datapath, read (summed over CPUs) by the loader.
pub const REASON_STATS: &str = "REASON_STATS";
/// `PerCpuArray<BackendStats>` indexed by backend id. Written by the
/// datapath, read by the loader.
pub const BACKEND_STATS: &str = "BACKEND_STATS";
/// `Array<RelayConfig>` with one entry: datapath settings. Written by the
/// loader before attaching, read by the datapath when it starts a flow.
pub const RELAY_CONFIG: &str = "RELAY_CONFIG";

/// Most services (IPv4 VIP entries use one id per `[[service]]`).
pub const MAX_SERVICES: u32 = 1024;
/// Most backends a service can have.
pub const MAX_BACKENDS_PER_SERVICE: u32 = 64;
/// Most backends over all services (ids `0..MAX_BACKENDS`).
pub const MAX_BACKENDS: u32 = 4096;
/// Size of [`SERVICES4`]: a service with protocol "any" takes two entries.
pub const MAX_SERVICE_KEYS: u32 = 2 * MAX_SERVICES;
/// Default size of [`CT4`] in entries (two per flow).
pub const DEFAULT_CT_ENTRIES: u32 = 2 * 131_072;
/// Size of [`DEVMAP`].
pub const MAX_INTERFACES: u32 = 64;
