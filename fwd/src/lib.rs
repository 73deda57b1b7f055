//! fwd: the loader of the fwd XDP relay.

/// The XDP program object built by `build.rs` from `fwd-ebpf`.
pub const EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fwd"));
