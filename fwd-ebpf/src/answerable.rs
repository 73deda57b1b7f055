//! Whether the first packet of a new TCP flow could have been answered by
//! the backend (`fwd_common::events::start_flags::ANSWERABLE`), for passive
//! health: its checksum is right and its TTL does not run out before the
//! backend. Read only; for SYNs, before they are translated.

use aya_ebpf::programs::XdpContext;
use fwd_common::{
    csum::fold,
    events::start_flags::{ANSWERABLE, ANSWERABLE_MIN_TTL},
    IPPROTO_TCP,
};

use crate::{csum::sum_loaded, parse::Packet};

/// Longest TCP segment (header and data) whose checksum is verified: a SYN
/// with options and no data fits, one with data (TCP Fast Open) may not
/// and then does not count.
const MAX_CHECKED: usize = 64;

/// The start flags of a new TCP flow whose first packet is `pkt`.
#[inline(always)]
pub fn start_flags(ctx: &XdpContext, pkt: &Packet) -> u8 {
    if pkt.ttl < ANSWERABLE_MIN_TTL {
        return 0;
    }
    let seg_len = pkt.ip_len as usize - (pkt.l4_off - pkt.l3_off);
    if seg_len > MAX_CHECKED {
        return 0;
    }
    let Ok(sum) = sum_loaded::<1>(ctx, pkt.l4_off, seg_len) else {
        return 0;
    };
    let k = &pkt.key;
    let pseudo = (k.src_addr & 0xffff) as u64
        + (k.src_addr >> 16) as u64
        + (k.dst_addr & 0xffff) as u64
        + (k.dst_addr >> 16) as u64
        + u16::from_ne_bytes([0, IPPROTO_TCP]) as u64
        + (seg_len as u16).to_be() as u64;
    // A right checksum makes the whole sum all ones.
    if fold(pseudo + sum) == 0xffff {
        ANSWERABLE
    } else {
        0
    }
}
