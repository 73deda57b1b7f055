//! Clamping the MSS option of a SYN or SYN-ACK (RFC 9293 section 3.7.1;
//! what iptables' TCPMSS target does): the option's value becomes at most
//! the limit and the TCP checksum is updated incrementally. A segment
//! without an MSS option (the peer then assumes 536, below any clamp) or
//! with a malformed option list is left as it is, as are the other options.
//!
//! The options (at most 40 bytes) are copied out of the frame and walked by
//! `bpf_loop` (Linux 5.17), at most 40 calls of [`step`]: the verifier
//! checks the step until its states converge, a few times, rather than 40
//! times over for every path that reaches it (an open-coded loop here cost
//! it 150,000 more instructions). The value is written back with
//! `bpf_xdp_store_bytes`: its offset depends on the options before it,
//! where the verifier cannot follow a packet pointer.

use core::ffi::c_void;

use aya_ebpf::{helpers::bpf_loop, programs::XdpContext};
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
/// Their bytes; an index masked with this stays inside them.
const OPTION_MASK: usize = 8 * OPTION_WORDS - 1;
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
/// [`step`]'s answers to `bpf_loop`.
const GO_ON: i64 = 0;
const STOP: i64 = 1;

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
    let mut walk = Walk {
        options: [0; OPTION_WORDS],
        len: (header_len - TcpHdr::LEN) as u64,
        at: 0,
        found: 0,
    };
    load_some(
        ctx,
        pkt.l4_off + TcpHdr::LEN,
        &mut walk.options,
        walk.len as usize,
    )?;
    let Some((at, value)) = walk.find_mss() else {
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

/// A walk through the options, shared by [`Walk::find_mss`] and each
/// [`step`] (through `bpf_loop`'s context pointer).
#[repr(C)]
struct Walk {
    /// The options, copied out of the frame.
    options: [u64; OPTION_WORDS],
    /// How many bytes of them there are (1 to 40).
    len: u64,
    /// Where the next option starts.
    at: u64,
    /// 1 once `at` is the MSS option.
    found: u64,
}

impl Walk {
    /// The options as bytes.
    #[inline(always)]
    fn bytes(&self) -> &[u8; 8 * OPTION_WORDS] {
        // SAFETY: initialised words viewed as their bytes (alignment 1).
        unsafe { &*self.options.as_ptr().cast() }
    }

    /// The offset of the MSS option, and its value as stored; `None` when
    /// there is none, or the list is malformed (an option shorter than 2
    /// bytes or running past the end, an MSS option of another length)
    /// before it.
    #[inline(always)]
    fn find_mss(&mut self) -> Option<(usize, [u8; 2])> {
        // Every option takes a byte at least: MAX_OPTIONS steps walk them
        // all. The helper only fails on flags or a count above 2^23.
        // SAFETY: `step` has the callback's signature and takes `self`.
        unsafe {
            bpf_loop(
                MAX_OPTIONS as u32,
                step as *mut c_void,
                (self as *mut Walk).cast(),
                0,
            )
        };
        if self.found == 0 {
            return None;
        }
        let at = self.at as usize;
        let b = self.bytes();
        Some((at, [b[(at + 2) & OPTION_MASK], b[(at + 3) & OPTION_MASK]]))
    }
}

/// One step of the walk, a `bpf_loop` callback (`walk` is the [`Walk`]):
/// looks at the option at `at`, stops at the MSS option (setting `found`),
/// at the end of the list or a malformed option, else moves `at` past it.
/// The length of a step (1 for a NOP, else the option's length) is
/// computed without a branch, so each step goes on by one path only.
#[inline(never)]
extern "C" fn step(_index: u64, walk: *mut c_void) -> i64 {
    // SAFETY: the Walk that find_mss passed to bpf_loop.
    let w = unsafe { &mut *walk.cast::<Walk>() };
    let (at, len) = (w.at as usize, w.len as usize);
    if at >= len {
        return STOP;
    }
    // `at` is below 40: the masks only show the verifier and the compiler
    // that every index is inside the options.
    let b = w.bytes();
    let kind = b[at & OPTION_MASK];
    let option_len = b[(at + 1) & OPTION_MASK] as usize;
    if kind == KIND_END {
        return STOP;
    }
    if kind == KIND_MSS {
        if option_len == MSS_LEN && at + MSS_LEN <= len {
            w.found = 1;
        }
        return STOP;
    }
    // 0 for a NOP, 1 for any other kind (2 to 255 here).
    let sized = ((kind ^ KIND_NOP) as usize + 0xff) >> 8;
    // 1 for a sized option shorter than 2 bytes: malformed.
    let short = sized & (((option_len + 0xfe) >> 8) ^ 1);
    if short != 0 {
        return STOP;
    }
    w.at = (at + ((option_len * sized) | (sized ^ 1))) as u64;
    GO_ON
}
