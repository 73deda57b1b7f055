//! Errors of the datapath: which map or interface, and what aya said.

use std::path::PathBuf;

use aya::{
    maps::{xdp::XdpMapError, MapError},
    pin::PinError,
    programs::{links::LinkError, ProgramError},
    EbpfError,
};
use fwd_common::maps as names;
use thiserror::Error;

use super::{pin::MapShape, AttachedMode};

/// What went wrong with the eBPF object, a map or an attachment.
#[derive(Debug, Error)]
pub enum DatapathError {
    /// The object could not be loaded (maps created, relocations).
    #[error("loading the eBPF object")]
    Load(#[source] EbpfError),
    /// The kernel gave no random bytes for the SNAT port secret.
    #[error("reading random bytes for the SNAT port secret (getrandom)")]
    Random(#[source] std::io::Error),
    /// A map the loader needs is not in the object.
    #[error("the eBPF object has no map {name}")]
    MissingMap {
        /// The map name.
        name: &'static str,
    },
    /// A program is not in the object, or is not XDP.
    #[error("the eBPF object has no XDP program {name}")]
    MissingProgram {
        /// The program's name ([`super::PROGRAM`] or [`super::FULL_PROGRAM`]).
        name: &'static str,
    },
    /// The kernel refused a program (the verifier log is in the source).
    #[error("loading the XDP program {name} into the kernel")]
    LoadProgram {
        /// The program's name.
        name: &'static str,
        /// What the kernel said.
        #[source]
        source: ProgramError,
    },
    /// The full program could not be put where the attached one
    /// tail-calls it.
    #[error("map PROGRAMS: placing {name}")]
    PlaceProgram {
        /// The program's name.
        name: &'static str,
        /// What failed.
        #[source]
        source: aya::maps::MapError,
    },
    /// A map operation failed.
    #[error("map {map}: {op}")]
    Map {
        /// The map name.
        map: &'static str,
        /// What was being done.
        op: String,
        /// What aya said.
        #[source]
        source: MapError,
    },
    /// Adding an interface to the devmap failed.
    #[error("map {}: adding ifindex {ifindex}", names::DEVMAP)]
    Devmap {
        /// The interface index.
        ifindex: u32,
        /// What aya said.
        #[source]
        source: XdpMapError,
    },
    /// A held fragment could not be run through the program again.
    #[error("running a held fragment from ifindex {ifindex} through the program")]
    Rerun {
        /// The interface it came in on.
        ifindex: u32,
        /// What aya said.
        #[source]
        source: ProgramError,
    },
    /// The plan does not fit the maps.
    #[error("the plan does not fit the datapath: {what}")]
    PlanTooLarge {
        /// Which limit.
        what: String,
    },
    /// No such interface.
    #[error("no interface named {ifname:?}")]
    UnknownInterface {
        /// The name.
        ifname: String,
    },
    /// The driver refused XDP in native mode.
    #[error("XDP refused by the driver of {ifname} in native mode (try --mode generic)")]
    NativeRefused {
        /// The interface.
        ifname: String,
        /// What the kernel said.
        #[source]
        source: ProgramError,
    },
    /// Attaching failed.
    #[error("attaching XDP to {ifname} in {mode} mode")]
    Attach {
        /// The interface.
        ifname: String,
        /// The mode tried.
        mode: AttachedMode,
        /// What the kernel said.
        #[source]
        source: ProgramError,
    },
    /// The number of possible CPUs (the width of per-CPU maps) is unknown.
    #[error("reading the possible CPUs")]
    Cpus {
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The pin directory (or bpffs) could not be prepared or cleaned.
    #[error("pin directory {}", dir.display())]
    PinDir {
        /// The directory or file.
        dir: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The pin directory would live in a bpffs that dies with this process
    /// (see `datapath::bpffs`).
    #[error(
        "fwd runs in a private mount namespace (ip netns exec, PrivateMounts=) where a bpffs \
         mounted on {} would vanish with it, and with it every flow at a restart, and no \
         other mount namespace can be reached: pass --pin-dir on a bpffs that outlives fwd \
         (mount -t bpf bpf /run/fwd-bpffs before ip netns exec, then --pin-dir \
         /run/fwd-bpffs/fwd), or run fwd in the host's mount namespace",
        dir.display()
    )]
    PrivateBpffs {
        /// The pin directory asked for.
        dir: PathBuf,
    },
    /// Another process owns the pin directory (see `datapath::owner`).
    #[error(
        "pin directory {} is in use by another fwd attach{}: stop it first (fwd stop), or use another --pin-dir",
        dir.display(),
        match pids.as_slice() {
            [] => String::new(),
            [pid] => format!(" (pid {pid})"),
            many => format!(" (pids {many:?})"),
        }
    )]
    PinDirInUse {
        /// The directory.
        dir: PathBuf,
        /// The pids its owner markers name.
        pids: Vec<u32>,
    },
    /// A pinned map could not be read.
    #[error("pinned map {}", path.display())]
    PinnedMap {
        /// Its path.
        path: PathBuf,
        /// What aya said.
        #[source]
        source: MapError,
    },
    /// A map or link could not be pinned.
    #[error("pinning {}", path.display())]
    Pin {
        /// The path.
        path: PathBuf,
        /// What aya said.
        #[source]
        source: PinError,
    },
    /// A pinned link could not be adopted.
    #[error("pinned XDP link {}", path.display())]
    PinnedLink {
        /// Its path.
        path: PathBuf,
        /// What aya said.
        #[source]
        source: LinkError,
    },
    /// A pinned map of an earlier run does not have the shape this binary
    /// and configuration need; it is not replaced silently.
    #[error(
        "the pinned map {} is {have:?}, this binary and configuration need {want:?}; \
         restore the old configuration, or run `fwd detach` to remove the old state (this drops live flows)",
        path.display()
    )]
    IncompatiblePin {
        /// The pinned map.
        path: PathBuf,
        /// What is pinned.
        have: MapShape,
        /// What is needed.
        want: MapShape,
    },
}

pub(super) fn map_err(
    map: &'static str,
    op: impl Into<String>,
) -> impl FnOnce(MapError) -> DatapathError {
    let op = op.into();
    move |source| DatapathError::Map { map, op, source }
}

/// Whether a map error says the key was not there.
pub(super) fn is_missing(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound | MapError::ElementNotFound => true,
        MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}
