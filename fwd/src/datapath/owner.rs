//! The one owner of a pin directory: `fwd attach` holds an exclusive
//! `flock` on the directory for as long as its process lives (the kernel
//! releases it however the process ends, SIGKILL included), and names
//! itself in a subdirectory `owner_<pid>` (bpffs holds no regular files),
//! so a second `fwd attach` with the same `--pin-dir` refuses and says
//! which process holds it, instead of adopting state a live instance is
//! using. A marker left by a process that died is replaced by the next
//! owner.

use std::{
    fs,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
};

use super::DatapathError;

/// Prefix of the owner's marker directory.
const MARKER_PREFIX: &str = "owner_";

/// Ownership of a pin directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct OwnerLock {
    /// The locked directory, open for the lock's life.
    _dir: OwnedFd,
    /// This process's marker.
    marker: PathBuf,
}

/// Whether `name` is an owner's marker (not a pin), and its pid.
pub fn marker_pid(name: &str) -> Option<u32> {
    name.strip_prefix(MARKER_PREFIX)?.parse().ok()
}

/// The pids named by owner markers in `dir`.
fn marked_pids(dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| marker_pid(e.ok()?.file_name().to_str()?))
        .collect();
    pids.sort_unstable();
    pids
}

/// Takes ownership of `dir` (which exists), or says who holds it.
pub fn lock(dir: &Path) -> Result<OwnerLock, DatapathError> {
    let pin_dir = |source| DatapathError::PinDir {
        dir: dir.into(),
        source,
    };
    let file = fs::File::open(dir).map_err(pin_dir)?;
    let fd = OwnedFd::from(file);
    // SAFETY: flock(2) on a descriptor this function owns.
    if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(DatapathError::PinDirInUse {
                dir: dir.into(),
                pids: marked_pids(dir),
            });
        }
        return Err(pin_dir(e));
    }
    // Markers of owners that died: the lock says none of them lives.
    for pid in marked_pids(dir) {
        let _ = fs::remove_dir(dir.join(format!("{MARKER_PREFIX}{pid}")));
    }
    let marker = dir.join(format!("{MARKER_PREFIX}{}", std::process::id()));
    fs::create_dir(&marker).map_err(|source| DatapathError::PinDir {
        dir: marker.clone(),
        source,
    })?;
    Ok(OwnerLock { _dir: fd, marker })
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // The directory may be gone already (a clean stop removes it).
        let _ = fs::remove_dir(&self.marker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_name_pids_and_pins_do_not() {
        assert_eq!(marker_pid("owner_4242"), Some(4242));
        assert_eq!(marker_pid("owner_"), None);
        assert_eq!(marker_pid("CT4"), None);
        assert_eq!(marker_pid("link_eth0"), None);
    }

    #[test]
    fn a_second_owner_is_refused_and_named_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("fwd-owner-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // A marker left by a process that died is replaced.
        fs::create_dir(dir.join("owner_1")).unwrap();
        let first = lock(&dir).unwrap();
        assert_eq!(marked_pids(&dir), vec![std::process::id()]);
        match lock(&dir) {
            Err(DatapathError::PinDirInUse { pids, .. }) => {
                assert_eq!(pids, vec![std::process::id()]);
            }
            other => panic!("a second owner: {other:?}"),
        }
        drop(first);
        assert!(marked_pids(&dir).is_empty());
        let again = lock(&dir).unwrap();
        drop(again);
        fs::remove_dir_all(&dir).unwrap();
    }
}
