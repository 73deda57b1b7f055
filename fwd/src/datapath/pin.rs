//! State that outlives the process: the maps and the XDP links pinned under
//! bpffs, so that a restarted (or upgraded) `fwd attach` adopts the running
//! datapath instead of replacing it, and no flow is lost.
//!
//! Layout of the pin directory (default [`DEFAULT_PIN_DIR`]): one file per
//! map, named as the map (`CT4`, `SERVICES4`, ...), and one `link_<ifname>`
//! per attached interface. A map whose pinned definition (type, key and
//! value size, entries, flags) differs from the one this binary would
//! create is never replaced silently: opening fails and names it.

use std::{
    fs,
    path::{Path, PathBuf},
};

use aya::{
    maps::MapInfo,
    programs::{links::FdLink, links::PinnedLink, xdp::XdpLink},
    EbpfLoader,
};
use fwd_common::maps::{self as names, MAGLEV_SIZE};

use super::{DatapathError, EBPF_OBJECT};
use crate::config::RelaySettings;

/// Where `fwd attach` pins its state unless told otherwise.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/fwd";

/// Every map of the object: all are pinned, so counters survive restarts too.
pub const MAPS: [&str; 21] = [
    names::SERVICES4,
    names::BACKENDS4,
    names::MAGLEV,
    names::CT4,
    names::DEVMAP,
    names::REASON_STATS,
    names::IFINDEX_SLOTS,
    names::BACKEND_STATS,
    names::RELAY_CONFIG,
    names::FLOW_EVENTS,
    names::EVENTS_LOST,
    names::IFACE_ADDRS,
    names::ICMP_BUDGET,
    names::FRAG4,
    names::FRAG_ADDRS4,
    names::FRAGMENTS,
    names::PARK_SCRATCH,
    names::NEW_FLOW_SCRATCH,
    names::FIB_SCRATCH,
    names::ACCESS4,
    names::PROGRAMS,
];

/// The definition of a map as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapShape {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
}

impl MapShape {
    fn of(info: &MapInfo) -> MapShape {
        MapShape {
            map_type: info.map_type().map_or(u32::MAX, |t| t as u32),
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
            flags: info.map_flags(),
        }
    }
}

/// The path of a pinned map or link.
pub fn map_path(dir: &Path, map: &str) -> PathBuf {
    dir.join(map)
}

/// The path of the pinned XDP link of an interface. bpffs refuses dots in
/// names (reserved for its own use), and interface names may have them
/// (`eth0.100`): `%` and `.` are percent-encoded.
pub fn link_path(dir: &Path, ifname: &str) -> PathBuf {
    let escaped = ifname.replace('%', "%25").replace('.', "%2e");
    dir.join(format!("link_{escaped}"))
}

/// Creates `dir` (a directory [`super::bpffs::durable`] chose).
pub fn prepare_dir(dir: &Path) -> Result<(), DatapathError> {
    fs::create_dir_all(dir).map_err(|source| DatapathError::PinDir {
        dir: dir.into(),
        source,
    })
}

/// The shapes of the maps this binary creates for `settings`: a throwaway
/// load of the object, its maps pinned for a moment to read their
/// definitions back, then removed.
fn expected_shapes(
    settings: &RelaySettings,
    dir: &Path,
) -> Result<Vec<(&'static str, MapShape)>, DatapathError> {
    let ebpf = EbpfLoader::new()
        .map_max_entries(names::CT4, settings.ct_entries())
        .map_max_entries(names::MAGLEV, settings.maglev_tables() * MAGLEV_SIZE)
        .load(EBPF_OBJECT)
        .map_err(DatapathError::Load)?;
    MAPS.iter()
        .map(|&name| {
            let map = ebpf.map(name).ok_or(DatapathError::MissingMap { name })?;
            let probe = dir.join(format!("probe_{name}"));
            let _ = fs::remove_file(&probe);
            map.pin(&probe).map_err(|source| DatapathError::Pin {
                path: probe.clone(),
                source,
            })?;
            let info = MapInfo::from_pin(&probe);
            fs::remove_file(&probe).map_err(|source| DatapathError::PinDir {
                dir: probe.clone(),
                source,
            })?;
            let info = info.map_err(|source| DatapathError::PinnedMap {
                path: probe,
                source,
            })?;
            Ok((name, MapShape::of(&info)))
        })
        .collect()
}

/// Checks that every map already pinned in `dir` has the definition this
/// binary would create; returns how many were found (0: a fresh start).
pub fn check_compatible(settings: &RelaySettings, dir: &Path) -> Result<usize, DatapathError> {
    let mut found = 0;
    for (name, want) in expected_shapes(settings, dir)? {
        let path = map_path(dir, name);
        if !path.exists() {
            continue;
        }
        found += 1;
        let info = MapInfo::from_pin(&path).map_err(|source| DatapathError::PinnedMap {
            path: path.clone(),
            source,
        })?;
        let have = MapShape::of(&info);
        if have != want {
            return Err(DatapathError::IncompatiblePin { path, have, want });
        }
    }
    Ok(found)
}

/// Adopts the pinned XDP link of `ifname`, if there is one.
pub fn pinned_link(dir: &Path, ifname: &str) -> Result<Option<XdpLink>, DatapathError> {
    let path = link_path(dir, ifname);
    if !path.exists() {
        return Ok(None);
    }
    let pinned = PinnedLink::from_pin(&path).map_err(|source| DatapathError::PinnedLink {
        path: path.clone(),
        source,
    })?;
    let fd: FdLink = pinned.into();
    XdpLink::try_from(fd)
        .map(Some)
        .map_err(|source| DatapathError::PinnedLink { path, source })
}

/// Pins an XDP link for `ifname`.
pub fn pin_link(dir: &Path, ifname: &str, link: XdpLink) -> Result<XdpLink, DatapathError> {
    let path = link_path(dir, ifname);
    let fd = FdLink::try_from(link).map_err(|source| DatapathError::PinnedLink {
        path: path.clone(),
        source,
    })?;
    let pinned = fd.pin(&path).map_err(|source| DatapathError::Pin {
        path: path.clone(),
        source,
    })?;
    let fd: FdLink = pinned.into();
    XdpLink::try_from(fd).map_err(|source| DatapathError::PinnedLink { path, source })
}

/// The interface whose pinned link file is named `file` (see [`link_path`]).
pub fn ifname_of_link(file: &str) -> Option<String> {
    let mut rest = file.strip_prefix("link_")?;
    let mut name = String::new();
    while let Some(i) = rest.find('%') {
        name.push_str(&rest[..i]);
        match rest.get(i..i + 3)? {
            "%25" => name.push('%'),
            "%2e" => name.push('.'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    name.push_str(rest);
    Some(name)
}

/// Names of the interfaces with a pinned link in `dir`.
pub fn pinned_link_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| ifname_of_link(e.ok()?.file_name().to_str()?))
        .collect();
    names.sort();
    names
}

/// Removes every pin in `dir` and the directory: the maps and links go away
/// once no process holds them.
pub fn remove_all(dir: &Path) -> Result<(), DatapathError> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(|source| DatapathError::PinDir {
        dir: dir.into(),
        source,
    })? {
        let path = entry
            .map_err(|source| DatapathError::PinDir {
                dir: dir.into(),
                source,
            })?
            .path();
        // An owner's marker (see `super::owner`) is a directory.
        let marker = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(super::owner::marker_pid)
            .is_some();
        let removed = if marker {
            fs::remove_dir(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|source| DatapathError::PinDir {
            dir: path.clone(),
            source,
        })?;
    }
    fs::remove_dir(dir).map_err(|source| DatapathError::PinDir {
        dir: dir.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_round_trip_without_dots() {
        let dir = Path::new("/sys/fs/bpf/fwd");
        for name in ["eth0", "eth0.100", "a%b.c", "%.%"] {
            let path = link_path(dir, name);
            let file = path.file_name().unwrap().to_str().unwrap();
            assert!(!file.contains('.'), "{file}");
            assert_eq!(ifname_of_link(file).as_deref(), Some(name));
        }
    }
}
