//! Reading a whole hash map with `BPF_MAP_LOOKUP_BATCH`: thousands of
//! entries per system call, where aya's iterator makes two per entry
//! (next key, then lookup). The connection table is read this way by the
//! GC, the metrics and the control socket; at a million flows the iterator
//! cost seconds of CPU per read.

use std::{
    io,
    mem::size_of,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::{
    maps::{MapData, MapError},
    sys::SyscallError,
    Pod,
};

/// `BPF_MAP_LOOKUP_BATCH` (`enum bpf_cmd`, Linux 5.6).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
/// Entries asked for per call. A hash map's batch never splits a bucket,
/// so this must exceed the longest bucket chain (a handful of entries).
const BATCH: u32 = 4096;

/// The `batch` member of `union bpf_attr` (include/uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Every entry of the hash map `map` (keys `K`, values `V`, not per-CPU).
///
/// Entries are read bucket by bucket: one that is added or removed during
/// the read may or may not be in the answer; every other entry is, once.
pub(super) fn lookup_all<K: Pod, V: Pod>(map: &MapData) -> Result<Vec<(K, V)>, MapError> {
    let mut keys: Vec<K> = Vec::with_capacity(BATCH as usize);
    let mut values: Vec<V> = Vec::with_capacity(BATCH as usize);
    let mut out = Vec::new();
    // The hash map's batch token is a bucket index (a u32); u64 leaves room.
    let mut token: u64 = 0;
    let mut first = true;
    loop {
        let mut next: u64 = 0;
        let mut attr = BatchAttr {
            in_batch: if first { 0 } else { &raw const token as u64 },
            out_batch: &raw mut next as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: BATCH,
            map_fd: map.fd().as_fd().as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` is a valid bpf_attr prefix of the size given; the
        // kernel writes at most `count` keys and values into buffers with
        // room for `BATCH` of each, and the token into `next`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &raw mut attr,
                size_of::<BatchAttr>() as u32,
            )
        };
        let mut done = false;
        if rc < 0 {
            let io_error = io::Error::last_os_error();
            // ENOENT: the walk reached the end; `count` entries came with it.
            if io_error.raw_os_error() != Some(libc::ENOENT) {
                return Err(MapError::SyscallError(SyscallError {
                    call: "bpf_map_lookup_batch",
                    io_error,
                }));
            }
            done = true;
        }
        let n = attr.count.min(BATCH) as usize;
        // SAFETY: the kernel filled the first `n` keys and values; `K` and
        // `V` are Pod, valid for any bytes.
        unsafe {
            keys.set_len(n);
            values.set_len(n);
        }
        out.extend(keys.drain(..).zip(values.drain(..)));
        if done {
            return Ok(out);
        }
        token = next;
        first = false;
    }
}
