//! Clamping the MSS option of a SYN or SYN-ACK (RFC 9293 section 3.7.1;
//! what iptables' TCPMSS target does): the option's value becomes at most
//! the limit and the TCP checksum is updated incrementally. A segment
//! without an MSS option (the peer then assumes 536, below any clamp) or
//! with a malformed option list is left as it is, as are the other options.
//!
//! The options (at most 40 bytes) are copied out of the frame and walked
//! in a loop of at most 40 steps; the value is written back with
//! `bpf_xdp_store_bytes`: its offset depends on the options before it,
//! where the verifier cannot follow a packet pointer.

use aya_ebpf::programs::XdpContext;
use fwd_common::{csum::CsumDiff, Reason};
use network_types::tcp::TcpHdr;

use crate::{
    access::{load_some, ptr_at, ptr_at_mut, store},
    parse::Packet,
};

/// Most bytes of TCP options (a 60-byte header).
const MAX_OPTIONS: usize = 40;
/// The options are copied into 8 words (`load_some` takes a power of two).
const OPTION_WORDS: usize = 8;
/// Offset of the data offset (header length) byte in the TCP header.
const DATA_OFFSET: usize = 12;
/// Offset of the checksum in the TCP header.
const CHECK_OFFSET: usize = 16;
/// Option kinds (RFC 9293 section 3.2).
const KIND_END: u8 = 0;
const KIND_NOP: u8 = 1;
const KIND_MSS: u8 = 2;
/// Length of the MSS option: kind, length, 16-bit value.
const MSS_LEN: usize = 4;

/// Lowers the MSS option of the TCP segment `pkt` to `limit` if it
/// announces more (0: no limit).
#[inline(always)]
pub fn clamp_mss(ctx: &XdpContext, pkt: &Packet, limit: u16) -> Result<(), Reason> {
    if limit == 0 {
        return Ok(());
    }
    let data_offset: *const u8 = ptr_at(ctx, pkt.l4_off + DATA_OFFSET)?;
    // SAFETY: checked by ptr_at.
    let header_len = ((unsafe { *data_offset } >> 4) as usize) * 4;
    let segment_len = pkt.ip_len as usize - (pkt.l4_off - pkt.l3_off);
    if header_len <= TcpHdr::LEN || header_len > segment_len {
        return Ok(());
    }
    let options_len = header_len - TcpHdr::LEN;
    let mut words = [0u64; OPTION_WORDS];
    load_some(ctx, pkt.l4_off + TcpHdr::LEN, &mut words, options_len)?;
    // SAFETY: 8 initialised words viewed as their 64 bytes.
    let options = unsafe { &*words.as_ptr().cast::<[u8; 8 * OPTION_WORDS]>() };
    let Some((at, value)) = find_mss(options, options_len) else {
        return Ok(());
    };
    if u16::from_be_bytes(value) <= limit {
        return Ok(());
    }
    let clamped = limit.to_be_bytes();
    // From the start of the TCP header: odd when an odd number of bytes
    // of options come before it.
    let offset = TcpHdr::LEN + at + 2;
    store(ctx, pkt.l4_off + offset, &clamped)?;
    let diff = CsumDiff::new().u16_at(
        offset,
        u16::from_ne_bytes(value),
        u16::from_ne_bytes(clamped),
    );
    let check: *mut [u8; 2] = ptr_at_mut(ctx, pkt.l4_off + CHECK_OFFSET)?;
    // SAFETY: checked by ptr_at_mut.
    unsafe { *check = diff.apply(u16::from_ne_bytes(*check)).to_ne_bytes() };
    Ok(())
}

/// The offset of the MSS option in the first `len` (at most 40) bytes of
/// `options`, and its value as stored; `None` when there is none, or the
/// list is malformed (an option shorter than 2 bytes or running past the
/// end, an MSS option of another length) before it.
///
/// Shaped for the verifier, which walks every path through the loop: each
/// step either ends the walk or goes on by one path only. The length of a
/// step (1 for a NOP, else the option's length) is computed without a
/// branch; branching on the kind would let the verifier go on with two
/// states, and then 2^40 of them.
#[inline(always)]
fn find_mss(options: &[u8; 8 * OPTION_WORDS], len: usize) -> Option<(usize, [u8; 2])> {
    const MASK: usize = 8 * OPTION_WORDS - 1;
    let mut at = 0;
    // Every option takes a byte at least: MAX_OPTIONS steps walk them all.
    for _ in 0..MAX_OPTIONS {
        if at >= len {
            return None;
        }
        // `at` is below 40: the masks only show the verifier and the
        // compiler that every index is inside `options`.
        let kind = options[at & MASK];
        let option_len = options[(at + 1) & MASK] as usize;
        if kind == KIND_END {
            return None;
        }
        if kind == KIND_MSS {
            return (option_len == MSS_LEN && at + MSS_LEN <= len)
                .then(|| (at, [options[(at + 2) & MASK], options[(at + 3) & MASK]]));
        }
        // 0 for a NOP, 1 for any other kind (2 to 255 here).
        let sized = ((kind ^ KIND_NOP) as usize + 0xff) >> 8;
        // 1 for a sized option shorter than 2 bytes: malformed.
        let short = sized & (((option_len + 0xfe) >> 8) ^ 1);
        if short != 0 {
            return None;
        }
        at += (option_len * sized) | (sized ^ 1);
        if at > len {
            return None;
        }
    }
    None
}
