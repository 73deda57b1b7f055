//! Bounds-checked access to packet bytes, in the form the verifier accepts.

use core::mem::size_of;

use aya_ebpf::{
    helpers::{bpf_xdp_load_bytes, bpf_xdp_store_bytes},
    programs::XdpContext,
    EbpfContext as _,
};
use fwd_common::Reason;

/// A pointer to a `T` at `offset` in the frame, if the frame holds it.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*const T, Reason> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return Err(Reason::DropTruncated);
    }
    Ok((start + offset) as *const T)
}

/// A mutable pointer to a `T` at `offset` in the frame; only `rewrite` uses it.
#[inline(always)]
pub fn ptr_at_mut<T>(ctx: &XdpContext, offset: usize) -> Result<*mut T, Reason> {
    Ok(ptr_at::<T>(ctx, offset)? as *mut T)
}

/// `N` bytes at `offset` copied out of the frame (`bpf_xdp_load_bytes`):
/// for data deep behind variable-length headers (an ICMP error's quote),
/// where the verifier cannot follow a packet pointer's range.
#[inline(always)]
pub fn load<const N: usize>(ctx: &XdpContext, offset: usize) -> Result<[u8; N], Reason> {
    let mut buf = [0u8; N];
    // SAFETY: the helper checks the frame's bounds and writes N bytes into
    // `buf`, which holds N.
    let rc = unsafe {
        bpf_xdp_load_bytes(
            ctx.as_ptr().cast(),
            offset as u32,
            buf.as_mut_ptr().cast(),
            N as u32,
        )
    };
    if rc != 0 {
        return Err(Reason::DropTruncated);
    }
    Ok(buf)
}

/// The first `len` bytes (1 to `8 * N`) of `buf` filled from the frame
/// at `offset`, the rest left as they are (`N` a power of two).
#[inline(always)]
pub fn load_some<const N: usize>(
    ctx: &XdpContext,
    offset: usize,
    buf: &mut [u64; N],
    len: usize,
) -> Result<(), Reason> {
    // 1..=8N, in a form the verifier can bound.
    let len = (len.wrapping_sub(1) & (8 * N - 1)) + 1;
    // SAFETY: the helper checks the frame's bounds and writes `len` <= 8N
    // bytes into `buf`.
    let rc = unsafe {
        bpf_xdp_load_bytes(
            ctx.as_ptr().cast(),
            offset as u32,
            buf.as_mut_ptr().cast(),
            len as u32,
        )
    };
    if rc != 0 {
        return Err(Reason::DropTruncated);
    }
    Ok(())
}

/// Fills all of `buf` (at least one byte) from the frame at `offset`
/// (`bpf_xdp_load_bytes`): for copies whose length is known only at run
/// time, into a buffer the verifier knows the size of (a map value).
#[inline(always)]
pub fn load_into(ctx: &XdpContext, offset: usize, buf: &mut [u8]) -> Result<(), Reason> {
    // SAFETY: the helper checks the frame's bounds and writes buf.len()
    // bytes into `buf`, which holds them.
    let rc = unsafe {
        bpf_xdp_load_bytes(
            ctx.as_ptr().cast(),
            offset as u32,
            buf.as_mut_ptr().cast(),
            buf.len() as u32,
        )
    };
    if rc != 0 {
        return Err(Reason::DropTruncated);
    }
    Ok(())
}

/// Writes `bytes` into the frame at `offset` (`bpf_xdp_store_bytes`); only
/// `rewrite` uses it, where [`ptr_at_mut`] cannot be followed.
#[inline(always)]
pub fn store<const N: usize>(
    ctx: &XdpContext,
    offset: usize,
    bytes: &[u8; N],
) -> Result<(), Reason> {
    let mut buf = *bytes;
    // SAFETY: the helper checks the frame's bounds and reads N bytes from
    // `buf`.
    let rc = unsafe {
        bpf_xdp_store_bytes(
            ctx.as_ptr().cast(),
            offset as u32,
            buf.as_mut_ptr().cast(),
            N as u32,
        )
    };
    if rc != 0 {
        return Err(Reason::DropTruncated);
    }
    Ok(())
}

/// Length of the frame in bytes.
#[inline(always)]
pub fn frame_len(ctx: &XdpContext) -> u64 {
    (ctx.data_end() - ctx.data()) as u64
}
