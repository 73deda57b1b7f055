//! One's complement sums over packet bytes, for checksums computed from
//! scratch (answers built in place) and verified (ICMP errors before they
//! are translated). Incremental updates are `fwd_common::csum`.

use aya_ebpf::{helpers::bpf_csum_diff, programs::XdpContext};
use fwd_common::Reason;

use crate::access::{load_some, ptr_at};

/// One's complement sum of the 16-bit words of the `len` bytes at `offset`
/// (an odd last byte is padded with zero, RFC 1071), read with native
/// loads like every checksum here. At most `MAX_WORDS` words are read: a
/// longer `len` is the caller's to refuse.
#[inline(always)]
pub fn sum_bytes<const MAX_WORDS: usize>(
    ctx: &XdpContext,
    offset: usize,
    len: usize,
) -> Result<u64, Reason> {
    let mut sum = 0u64;
    for i in 0..MAX_WORDS {
        let at = i * 2;
        if at + 2 > len {
            if at < len {
                let b: *const u8 = ptr_at(ctx, offset + at)?;
                // SAFETY: checked by ptr_at.
                sum += u16::from_ne_bytes([unsafe { *b }, 0]) as u64;
            }
            break;
        }
        let w: *const [u8; 2] = ptr_at(ctx, offset + at)?;
        // SAFETY: checked by ptr_at.
        sum += u16::from_ne_bytes(unsafe { *w }) as u64;
    }
    Ok(sum)
}

/// Bytes read per call by [`sum_loaded`] (8 words of 8 bytes).
const CHUNK: usize = 64;

/// Zeroes `buf` with plain stores (a zeroed array literal becomes a call
/// to `memset`, a byte loop the verifier walks on every path).
#[inline(always)]
fn zero(buf: &mut [u64; CHUNK / 8]) {
    for w in buf.iter_mut() {
        // SAFETY: `w` is a valid, aligned u64 of `buf`.
        unsafe { core::ptr::write_volatile(w, 0) };
    }
}

/// One's complement sum of the `len` bytes at `offset` (an odd last byte
/// padded with zero), copied out of the frame `CHUNK` bytes at a time: for
/// data at offsets the verifier cannot follow. At most `MAX_CHUNKS` chunks
/// are read: a longer `len` is the caller's to refuse.
#[inline(always)]
pub fn sum_loaded<const MAX_CHUNKS: usize>(
    ctx: &XdpContext,
    offset: usize,
    len: usize,
) -> Result<u64, Reason> {
    let mut sum = 0u64;
    let mut done = 0;
    let mut buf = [0u64; CHUNK / 8];
    for _ in 0..MAX_CHUNKS {
        if done >= len {
            break;
        }
        let take = if len - done < CHUNK {
            // The last chunk: what it does not fill must sum to zero.
            zero(&mut buf);
            len - done
        } else {
            CHUNK
        };
        load_some(ctx, offset + done, &mut buf, take)?;
        // The helper sums the buffer (one call instead of 32 additions, so
        // the verifier walks a short loop body).
        // SAFETY: `buf` holds CHUNK bytes, a multiple of 4.
        let partial = unsafe {
            bpf_csum_diff(
                core::ptr::null_mut(),
                0,
                buf.as_mut_ptr().cast(),
                CHUNK as u32,
                0,
            )
        };
        if partial < 0 {
            return Err(Reason::DropTruncated);
        }
        sum += partial as u32 as u64;
        done += take;
    }
    Ok(sum)
}
