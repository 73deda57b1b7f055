//! Bounds-checked access to packet bytes, in the form the verifier accepts.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
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

/// Length of the frame in bytes.
#[inline(always)]
pub fn frame_len(ctx: &XdpContext) -> u64 {
    (ctx.data_end() - ctx.data()) as u64
}
