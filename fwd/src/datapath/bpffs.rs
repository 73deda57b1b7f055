//! A bpffs that outlives the process. Pins are only worth something if
//! the next `fwd attach` finds them; a bpffs mounted in a private mount
//! namespace (`ip netns exec` unshares one and remounts /sys, systemd's
//! `PrivateMounts=` does the same) goes away with the last process in it,
//! and with it every pin: the program would detach and a restart start
//! empty.
//!
//! So when the pin directory is under `/sys/fs/bpf`, no bpffs is mounted
//! there, and fwd runs in a mount namespace other than that of PID 1 or,
//! when PID 1's cannot be read, of its parent (the shell or service manager
//! that ran `ip netns exec`), fwd pins in that namespace's `/sys/fs/bpf`
//! (mounting bpffs there first if needed, from a thread that joins the
//! namespace for the mount and ends). It reaches it through
//! `/proc/<pid>/root`, and keeps a descriptor of the directory open for
//! its life, so the pins stay reachable (`/proc/self/fd/<fd>`) whatever
//! that process does. When neither namespace can be read, fwd refuses to
//! start rather than pin where the state would vanish. A `--pin-dir`
//! outside `/sys/fs/bpf` is the operator's choice and used as given.

use std::{
    ffi::CString,
    fs, io,
    os::{fd::AsRawFd, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
};

use log::info;

use super::DatapathError;

/// Where bpffs is mounted by convention.
pub const BPFFS: &str = "/sys/fs/bpf";
/// `BPF_FS_MAGIC` (include/uapi/linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Whether `path` is on a bpffs.
fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid output buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid buffer.
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == BPF_FS_MAGIC
}

/// The mount namespace of process `pid` (device and inode), if readable.
fn mount_ns(pid: &str) -> Option<(u64, u64)> {
    let m = fs::metadata(format!("/proc/{pid}/ns/mnt")).ok()?;
    Some((m.dev(), m.ino()))
}

/// Mounts bpffs on `target` in the caller's mount namespace.
fn mount_bpffs(target: &str) -> io::Result<()> {
    let c = |s: &str| CString::new(s).expect("no NUL");
    let (src, target, fstype) = (c("bpf"), c(target), c("bpf"));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Mounts bpffs on `/sys/fs/bpf` in the mount namespace of process `pid`,
/// from a thread of its own that joins it (a thread must not share its
/// filesystem attributes to change mount namespace) and ends.
fn mount_in_ns_of(pid: &str) -> io::Result<()> {
    let ns = fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
    std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: unshare(2) of this thread's filesystem attributes only.
        if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: setns(2) with a namespace descriptor this thread holds.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
            return Err(io::Error::last_os_error());
        }
        mount_bpffs(BPFFS)
    })
    .join()
    .map_err(|_| io::Error::other("the mounting thread panicked"))?
}

/// Directories of other namespaces kept open for the process's life (see
/// the module's doc).
static KEPT: std::sync::Mutex<Vec<fs::File>> = std::sync::Mutex::new(Vec::new());

/// The directory to pin in for `dir` (see the module's doc), with bpffs
/// mounted under it where needed; `dir` itself is not created unless it
/// lies in another namespace.
pub fn durable(dir: &Path) -> Result<PathBuf, DatapathError> {
    let err = |source| DatapathError::PinDir {
        dir: BPFFS.into(),
        source,
    };
    if !dir.starts_with(BPFFS) || is_bpffs(Path::new(BPFFS)) {
        return Ok(dir.to_path_buf());
    }
    let own = mount_ns("self").ok_or_else(|| err(io::Error::last_os_error()))?;
    let parent = std::os::unix::process::parent_id().to_string();
    // The first namespace that can be read: PID 1's, else the parent's.
    let other = ["1", parent.as_str()]
        .into_iter()
        .find_map(|pid| mount_ns(pid).map(|ns| (pid, ns)));
    let pid = match other {
        // The same namespace: a bpffs mounted here is the one that lasts.
        Some((_, ns)) if ns == own => {
            mount_bpffs(BPFFS).map_err(err)?;
            info!("mounted bpffs on {BPFFS}");
            return Ok(dir.to_path_buf());
        }
        Some((pid, _)) => pid,
        None => return Err(DatapathError::PrivateBpffs { dir: dir.into() }),
    };
    let bpffs_there = PathBuf::from(format!("/proc/{pid}/root{BPFFS}"));
    if !is_bpffs(&bpffs_there) {
        mount_in_ns_of(pid).map_err(err)?;
        info!("mounted bpffs on {BPFFS} in the mount namespace of process {pid}");
    }
    // The bpffs itself is kept open; the pin directory is a plain path
    // under it (so it can be removed like any directory).
    let kept = fs::File::open(&bpffs_there).map_err(|source| DatapathError::PinDir {
        dir: bpffs_there.clone(),
        source,
    })?;
    let below = dir.strip_prefix(BPFFS).unwrap_or(dir);
    let path = PathBuf::from(format!("/proc/self/fd/{}", kept.as_raw_fd())).join(below);
    KEPT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(kept);
    info!(
        "a private mount namespace: pinning in {} of the mount namespace of process {pid}, \
         which outlives this one",
        dir.display()
    );
    Ok(path)
}
