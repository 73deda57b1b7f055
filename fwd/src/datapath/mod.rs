//! The one owner of the eBPF object: the XDP program and its maps, behind
//! typed operations. Nothing else in fwd touches aya maps.
//!
//! Used by `fwd attach` ([`crate::run`]), the GC ([`crate::gc`]) and the
//! integration tests (which build a [`Plan`] by hand and run the program
//! with `BPF_PROG_TEST_RUN` through [`Datapath::program`]).

mod access;
mod attach;
mod batch;
pub mod bpffs;
mod error;
mod events;
mod fragments;
mod maglev_tables;
pub mod owner;
pub mod pin;
mod stats;

use aya::{
    maps::{
        Array, DevMapHash, HashMap, IterableMap as _, Map, MapData, MapError, PerCpuArray,
        ProgramArray, RingBuf,
    },
    programs::{ProgramError, Xdp},
    Ebpf, EbpfLoader,
};
use fwd_common::{
    frag::{Frag4, Frag4Key},
    maps::{self as names, MAGLEV_SIZE, MAX_BACKENDS, MAX_BACKENDS_PER_SERVICE, MAX_SERVICES},
    service::service_flags,
    Backend4, BackendStats, Flow4, Flow4Key, ReasonCounters, RelayConfig, Service4, Service4Key,
    IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
};

use self::error::{is_missing, map_err};
pub use self::{
    attach::{AttachMode, AttachedMode},
    error::DatapathError,
    events::FlowEvents,
    fragments::{HeldFragments, Parked},
    maglev_tables::members as maglev_members,
    stats::InterfaceReasons,
};
use crate::{config::RelaySettings, plan::Plan};

/// The XDP program object built by `build.rs` from `fwd-ebpf`.
const EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fwd"));

/// Name of the XDP program in the object.
pub const PROGRAM: &str = "fwd_xdp";
/// The full program, which [`PROGRAM`] tail-calls for every packet its
/// fast path does not handle (through the map `PROGRAMS`).
pub const FULL_PROGRAM: &str = "fwd_xdp_full";

/// One interface the program is attached to.
struct Attachment {
    ifname: String,
    link: aya::programs::xdp::XdpLinkId,
}

/// How a loaded datapath relates to state left by an earlier run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Nothing pinned: maps are new (and, unless private, now pinned).
    Fresh,
    /// Maps pinned by an earlier run were adopted, with their flows.
    Adopted {
        /// Flows (both halves) found in the adopted connection table.
        ct_entries: usize,
    },
}

/// The loaded program and its maps. Dropping it detaches the program from
/// every interface and frees the maps.
pub struct Datapath {
    ebpf: Ebpf,
    relay_config: Array<MapData, RelayConfig>,
    services: HashMap<MapData, Service4Key, Service4>,
    backends: Array<MapData, Backend4>,
    maglev: Array<MapData, u32>,
    /// The Maglev table each service uses (service id -> table index).
    maglev_in_use: std::collections::HashMap<u32, u32>,
    maglev_tables: u32,
    ct: HashMap<MapData, Flow4Key, Flow4>,
    devmap: DevMapHash<MapData>,
    reason_stats: PerCpuArray<MapData, ReasonCounters>,
    backend_stats: PerCpuArray<MapData, BackendStats>,
    ifindex_slots: Array<MapData, u32>,
    iface_addrs: Array<MapData, u32>,
    events_lost: PerCpuArray<MapData, u64>,
    /// Taken once by the flow-event consumer.
    flow_events: Option<RingBuf<MapData>>,
    frag4: HashMap<MapData, Frag4Key, Frag4>,
    frag_addrs: HashMap<MapData, u32, u32>,
    access: aya::maps::LpmTrie<MapData, fwd_common::access::Access4Key, u32>,
    /// Held for the life of the datapath: a program array's entries are
    /// cleared when no process holds it (unless pinned).
    _programs: ProgramArray<MapData>,
    /// Taken once by the reader of held fragments.
    fragments: Option<RingBuf<MapData>>,
    ct_capacity: u32,
    attachments: Vec<Attachment>,
    /// Interfaces registered with [`Datapath::allow_redirect`] and their
    /// counter slot in `REASON_STATS` (1, 2, ...).
    interfaces: Vec<(u32, u32)>,
    /// The pin directory, when the state is pinned.
    pin_dir: Option<std::path::PathBuf>,
    /// Ownership of `pin_dir`, for this datapath's life.
    _owner: Option<owner::OwnerLock>,
    origin: Origin,
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, DatapathError> {
    ebpf.take_map(name)
        .ok_or(DatapathError::MissingMap { name })
}

/// A random secret for the SNAT port candidates, from the kernel's
/// `getrandom`.
fn random_port_key() -> Result<[u32; 4], DatapathError> {
    let mut bytes = [0u8; 16];
    // SAFETY: writes at most 16 bytes into `bytes`, which holds 16.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        return Err(DatapathError::Random(std::io::Error::last_os_error()));
    }
    let word = |i: usize| u32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Ok([word(0), word(4), word(8), word(12)])
}

/// The XDP program `name` of the object.
fn xdp<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, DatapathError> {
    ebpf.program_mut(name)
        .ok_or(DatapathError::MissingProgram { name })?
        .try_into()
        .map_err(|_| DatapathError::MissingProgram { name })
}

/// Loads the XDP program `name` into the kernel.
fn load_xdp(ebpf: &mut Ebpf, name: &'static str) -> Result<(), DatapathError> {
    xdp(ebpf, name)?
        .load()
        .map_err(|source| DatapathError::LoadProgram { name, source })
}

fn typed<T: TryFrom<Map, Error = MapError>>(
    ebpf: &mut Ebpf,
    name: &'static str,
) -> Result<T, DatapathError> {
    T::try_from(take(ebpf, name)?).map_err(map_err(name, "checking its type"))
}

impl Datapath {
    /// Loads [`EBPF_OBJECT`] with `CT4` sized to `2 * settings.max_flows`,
    /// loads (does not attach) the XDP program [`PROGRAM`], and writes
    /// `RELAY_CONFIG[0]` (the SNAT port range).
    ///
    /// The maps are private to this process (tests, `fwd check`); `fwd
    /// attach` uses [`Datapath::open_pinned`].
    pub fn load(settings: &RelaySettings) -> Result<Datapath, DatapathError> {
        Self::load_with(settings, None)
    }

    /// Like [`Datapath::load`], with every map pinned in `dir` (bpffs is
    /// mounted on `/sys/fs/bpf` if needed): maps already pinned there by an
    /// earlier run are adopted, flows included, if their definitions match
    /// what this binary and `settings` need (otherwise nothing is touched and
    /// the error names the map). Attachments are pinned too
    /// ([`Datapath::attach`]).
    pub fn open_pinned(
        settings: &RelaySettings,
        dir: &std::path::Path,
    ) -> Result<Datapath, DatapathError> {
        pin::prepare_dir(dir)?;
        let owner = owner::lock(dir)?;
        let found = pin::check_compatible(settings, dir)?;
        let mut dp = Self::load_with(settings, Some(dir))?;
        dp._owner = Some(owner);
        if found > 0 {
            dp.origin = Origin::Adopted {
                ct_entries: dp.flows()?.len(),
            };
            dp.maglev_in_use = dp
                .service_entries()?
                .into_iter()
                .map(|(_, s)| (s.id, s.maglev_table))
                .collect();
        }
        Ok(dp)
    }

    fn load_with(
        settings: &RelaySettings,
        pin_dir: Option<&std::path::Path>,
    ) -> Result<Datapath, DatapathError> {
        let ct_capacity = settings.ct_entries();
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(names::CT4, ct_capacity)
            .map_max_entries(names::MAGLEV, settings.maglev_tables() * MAGLEV_SIZE);
        let paths: Vec<(&str, std::path::PathBuf)> = pin_dir
            .map(|d| {
                pin::MAPS
                    .iter()
                    .map(|m| (*m, pin::map_path(d, m)))
                    .collect()
            })
            .unwrap_or_default();
        for (name, path) in &paths {
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(EBPF_OBJECT).map_err(DatapathError::Load)?;
        // The full program first: the attached one tail-calls it, so it is
        // in place (also in an adopted PROGRAMS, replacing the old one's)
        // before the attached one is swapped in.
        load_xdp(&mut ebpf, FULL_PROGRAM)?;
        let full = xdp(&mut ebpf, FULL_PROGRAM)?
            .fd()
            .map_err(|source| DatapathError::LoadProgram {
                name: FULL_PROGRAM,
                source,
            })?
            .try_clone()
            .map_err(|e| DatapathError::LoadProgram {
                name: FULL_PROGRAM,
                source: ProgramError::IOError(e),
            })?;
        let mut programs: ProgramArray<MapData> = typed(&mut ebpf, names::PROGRAMS)?;
        programs
            .set(names::PROGRAMS_FULL, &full, 0)
            .map_err(|source| DatapathError::PlaceProgram {
                name: FULL_PROGRAM,
                source,
            })?;
        load_xdp(&mut ebpf, PROGRAM)?;

        let relay_config: Array<MapData, RelayConfig> = typed(&mut ebpf, names::RELAY_CONFIG)?;
        let mut dp = Datapath {
            relay_config,
            services: typed(&mut ebpf, names::SERVICES4)?,
            backends: typed(&mut ebpf, names::BACKENDS4)?,
            maglev: typed(&mut ebpf, names::MAGLEV)?,
            maglev_in_use: Default::default(),
            maglev_tables: settings.maglev_tables(),
            ct: typed(&mut ebpf, names::CT4)?,
            devmap: typed(&mut ebpf, names::DEVMAP)?,
            reason_stats: typed(&mut ebpf, names::REASON_STATS)?,
            backend_stats: typed(&mut ebpf, names::BACKEND_STATS)?,
            ifindex_slots: typed(&mut ebpf, names::IFINDEX_SLOTS)?,
            iface_addrs: typed(&mut ebpf, names::IFACE_ADDRS)?,
            events_lost: typed(&mut ebpf, names::EVENTS_LOST)?,
            flow_events: Some(typed(&mut ebpf, names::FLOW_EVENTS)?),
            frag4: typed(&mut ebpf, names::FRAG4)?,
            frag_addrs: typed(&mut ebpf, names::FRAG_ADDRS4)?,
            access: typed(&mut ebpf, names::ACCESS4)?,
            _programs: programs,
            fragments: Some(typed(&mut ebpf, names::FRAGMENTS)?),
            ebpf,
            ct_capacity,
            attachments: Vec::new(),
            interfaces: Vec::new(),
            pin_dir: pin_dir.map(std::path::Path::to_path_buf),
            _owner: None,
            origin: Origin::Fresh,
        };
        dp.set_relay_config(settings)?;
        Ok(dp)
    }

    /// Writes `RELAY_CONFIG[0]` (the SNAT port range) from `settings`. The
    /// SNAT port secret already there (an adopted datapath's) is kept; a
    /// new datapath, or one pinned by a version without it, gets a random
    /// one. Changing it would only change the ports of flows still to come.
    pub fn set_relay_config(&mut self, settings: &RelaySettings) -> Result<(), DatapathError> {
        let port_key = match self.relay_config().map(|c| c.port_key) {
            Ok(key) if key != [0; 4] => key,
            _ => random_port_key()?,
        };
        self.write_relay_config(RelayConfig {
            snat_port_min: *settings.snat_ports.start(),
            snat_port_max: *settings.snat_ports.end(),
            port_key,
            ..Default::default()
        })
    }

    /// `RELAY_CONFIG[0]` as the datapath reads it.
    pub fn relay_config(&self) -> Result<RelayConfig, DatapathError> {
        self.relay_config
            .get(&0, 0)
            .map_err(map_err(names::RELAY_CONFIG, "reading entry 0"))
    }

    /// Replaces the secret of the SNAT port candidates
    /// (`fwd_common::hash::port_hash4`). The packet tests set a fixed one to
    /// predict the ports the datapath chooses.
    pub fn set_port_key(&mut self, port_key: [u32; 4]) -> Result<(), DatapathError> {
        let config = RelayConfig {
            port_key,
            ..self.relay_config()?
        };
        self.write_relay_config(config)
    }

    fn write_relay_config(&mut self, config: RelayConfig) -> Result<(), DatapathError> {
        self.relay_config
            .set(0, config, 0)
            .map_err(map_err(names::RELAY_CONFIG, "writing entry 0"))
    }

    /// Whether the maps are new or were adopted from an earlier run.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Removes every pin (maps and links): what remains goes away when this
    /// process exits. Used on a clean stop and by `fwd detach`.
    pub fn remove_pins(&mut self) -> Result<(), DatapathError> {
        match &self.pin_dir {
            Some(dir) => pin::remove_all(dir),
            None => Ok(()),
        }
    }

    /// Writes the plan: `BACKENDS4` (each backend with its service's MSS
    /// clamp), then each service's Maglev table into a
    /// table no service uses, then `SERVICES4` naming the new tables (a VIP
    /// switches to its new backends in one map update, never through a
    /// half-written table). Keys of `SERVICES4` not in the plan are removed.
    /// The `allow`/`deny` entries of `ACCESS4` are written before the
    /// services that use them and stale ones removed after. Last,
    /// `FRAG_ADDRS4` (the VIPs and SNAT addresses).
    /// Nothing is written if the plan does not fit the maps.
    pub fn install(&mut self, plan: &Plan) -> Result<(), DatapathError> {
        check_fits(plan, self.maglev_tables / 2)?;
        for (s, b) in plan.backends() {
            let value = Backend4 {
                mss_clamp: s.mss_clamp.datapath_value(),
                ..Backend4::new(b.addr, b.port.unwrap_or(0), b.snat, s.id)
            };
            self.backends.set(b.id, value, 0).map_err(map_err(
                names::BACKENDS4,
                format!("writing backend {}", b.id),
            ))?;
        }
        let tables = self.write_maglev_tables(plan)?;
        let stale_access = self.write_access(plan)?;
        let answers = plan.echo_answers();
        let wanted: Vec<Service4Key> = plan
            .services
            .iter()
            .flat_map(super::plan::PlannedService::keys)
            .chain(answers.iter().map(|(k, _)| *k))
            .collect();
        let stale: Vec<Service4Key> = self
            .services
            .keys()
            .collect::<Result<_, _>>()
            .map_err(map_err(names::SERVICES4, "listing keys"))?;
        for key in stale.iter().filter(|k| !wanted.contains(k)) {
            match self.services.remove(key) {
                Err(e) if !is_missing(&e) => {
                    return Err(map_err(names::SERVICES4, "removing a stale key")(e))
                }
                _ => {}
            }
        }
        for s in &plan.services {
            let value = Service4 {
                id: s.id,
                backend_count: s.backends.iter().filter(|b| b.weight > 0).count() as u32,
                flags: access::flags(&s.access),
                maglev_table: tables[&s.id],
            };
            for key in s.keys() {
                self.services.insert(key, value, 0).map_err(map_err(
                    names::SERVICES4,
                    format!("writing service {:?}", s.name),
                ))?;
            }
        }
        for (key, id) in answers {
            let value = Service4 {
                id,
                flags: service_flags::ANSWER_ECHO,
                maglev_table: tables[&id],
                ..Default::default()
            };
            self.services
                .insert(key, value, 0)
                .map_err(map_err(names::SERVICES4, "writing an echo answer"))?;
        }
        self.remove_access(&stale_access)?;
        self.write_frag_addrs(plan)
    }

    /// Every `SERVICES4` entry (what [`Datapath::install`] wrote).
    pub fn service_entries(&self) -> Result<Vec<(Service4Key, Service4)>, DatapathError> {
        self.services
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_err(names::SERVICES4, "reading"))
    }

    /// The loaded program, for `BPF_PROG_TEST_RUN` in tests
    /// ([`aya::programs::TestRun`]).
    pub fn program(&mut self) -> &mut Xdp {
        self.xdp_program(PROGRAM)
    }

    /// The full program the attached one tail-calls (tests look at the
    /// maps it uses).
    pub fn full_program(&mut self) -> &mut Xdp {
        self.xdp_program(FULL_PROGRAM)
    }

    fn xdp_program(&mut self, name: &'static str) -> &mut Xdp {
        self.ebpf
            .program_mut(name)
            .and_then(|p| <&mut Xdp>::try_from(p).ok())
            .expect("load() checked that the object has the XDP programs")
    }

    /// Every `CT4` entry (both halves of every flow), read in batches. An
    /// entry added or deleted while reading may or may not be included.
    pub fn flows(&self) -> Result<Vec<(Flow4Key, Flow4)>, DatapathError> {
        batch::lookup_all(self.ct.map()).map_err(map_err(names::CT4, "reading"))
    }

    /// One `CT4` entry, if present.
    pub fn flow(&self, key: &Flow4Key) -> Result<Option<Flow4>, DatapathError> {
        match self.ct.get(key, 0) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(map_err(names::CT4, "reading an entry")(e)),
        }
    }

    /// Size of `CT4` in entries (two per flow).
    pub fn flow_capacity(&self) -> u32 {
        self.ct_capacity
    }

    /// Removes one `CT4` entry; a missing entry is not an error.
    pub fn remove_flow(&mut self, key: &Flow4Key) -> Result<(), DatapathError> {
        match self.ct.remove(key) {
            Err(e) if !is_missing(&e) => Err(map_err(names::CT4, "removing an entry")(e)),
            _ => Ok(()),
        }
    }

    /// Writes one `CT4` entry (a half of a flow), replacing one with the
    /// same key: for a flow made elsewhere (tests, or a peer's).
    pub fn insert_flow(&mut self, key: &Flow4Key, half: &Flow4) -> Result<(), DatapathError> {
        self.ct
            .insert(key, half, 0)
            .map_err(map_err(names::CT4, "writing an entry"))
    }

    /// Removes every `CT4` entry (tests use it between cases).
    pub fn clear_flows(&mut self) -> Result<(), DatapathError> {
        let entries = self.flows()?;
        entries.iter().try_for_each(|(k, _)| self.remove_flow(k))
    }
}

/// Refuses a plan that does not fit the maps, before anything is written.
fn check_fits(plan: &Plan, max_services: u32) -> Result<(), DatapathError> {
    let too_large = |what: String| Err(DatapathError::PlanTooLarge { what });
    if plan.services.len() > max_services as usize {
        return too_large(format!(
            "{} services (the datapath was loaded for max_services = {max_services})",
            plan.services.len()
        ));
    }
    for s in &plan.services {
        if s.id >= MAX_SERVICES {
            return too_large(format!(
                "service {:?} has id {} (max {})",
                s.name,
                s.id,
                MAX_SERVICES - 1
            ));
        }
        if s.backends.len() > MAX_BACKENDS_PER_SERVICE as usize {
            return too_large(format!(
                "service {:?} has {} backends (max {MAX_BACKENDS_PER_SERVICE})",
                s.name,
                s.backends.len()
            ));
        }
        // ICMP (echo) has no port: only a whole-address service relays it.
        let allowed = |p: &u8| {
            [IPPROTO_TCP, IPPROTO_UDP].contains(p) || (*p == IPPROTO_ICMP && s.port.is_none())
        };
        if s.protocols.is_empty() || !s.protocols.iter().all(allowed) {
            return too_large(format!(
                "service {:?} has protocols {:?} (tcp and udp; icmp for a whole address)",
                s.name, s.protocols
            ));
        }
        if let Some(b) = s.backends.iter().find(|b| b.id >= MAX_BACKENDS) {
            return too_large(format!(
                "backend {} has id {} (max {})",
                b.addr,
                b.id,
                MAX_BACKENDS - 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
