//! The MSS clamp of a SYN or SYN-ACK: its service's setting, found in the
//! flow's backend (`Backend4::mss_clamp`), and for "auto" the MTUs of the
//! relay's interfaces the flow uses. Decides only: the option is written
//! by `rewrite::clamp_mss`.

use aya_ebpf::{helpers::bpf_check_mtu, programs::XdpContext, EbpfContext as _};
use fwd_common::{
    service::{mss_clamp, mss_of_mtu},
    Reason,
};

use crate::{
    lookup::Target,
    maps::BACKENDS4,
    nat::Nat,
    parse::Packet,
    rewrite,
    route::{self, Leaving},
};

/// Clamps the MSS option of the SYN or SYN-ACK `pkt` of the flow `target`
/// to its service's setting.
#[inline(always)]
pub fn clamp(ctx: &XdpContext, pkt: &Packet, target: &Target) -> Result<(), Reason> {
    let setting = setting(target);
    if setting == mss_clamp::OFF {
        return Ok(());
    }
    let nat = match target {
        Target::New(new) => new.towards_backend(),
        // SAFETY: from a CT4 lookup in this run (see `conntrack`).
        Target::Flow(flow) => Nat::of(unsafe { &**flow }),
    };
    rewrite::clamp_mss(ctx, pkt, limit(ctx, pkt, setting, &nat))
}

/// The clamp setting of the flow `target` ([`mss_clamp`] values).
///
/// A tracked flow's backend entry is read now: a reload that changed the
/// setting (or, rarely, gave the id to another service's backend) applies
/// to the SYN-ACK of a handshake already under way, which is harmless.
#[inline(always)]
fn setting(target: &Target) -> u16 {
    match target {
        Target::New(new) => new.backend.mss_clamp,
        Target::Flow(flow) => {
            // SAFETY: from a CT4 lookup in this run (see `conntrack`).
            let backend_id = unsafe { (**flow).backend_id };
            BACKENDS4
                .get(backend_id)
                .map_or(mss_clamp::OFF, |b| b.mss_clamp)
        }
    }
}

/// The largest MSS the SYN or SYN-ACK `pkt`, translated to `nat`, may
/// announce under `setting` (0: no limit).
///
/// "auto": the smaller of the MTU of the route the translated packet takes
/// (`route::path_mtu`) and the MTU of the interface it arrived on, less
/// the 40 bytes of IPv4 and TCP headers. Segments of this flow cross both
/// interfaces, one way or the other: the SYN's MSS limits what the other
/// side sends back, and the SYN-ACK's what this side sends. Without a
/// forwarding route (the kernel decides) only the ingress MTU counts.
#[inline(always)]
fn limit(ctx: &XdpContext, pkt: &Packet, setting: u16, nat: &Nat) -> u16 {
    if setting != mss_clamp::AUTO {
        return setting;
    }
    let ingress = ingress_mtu(ctx);
    let mtu = match route::path_mtu(ctx, &Leaving::packet(pkt), nat) {
        Some(egress) if egress < ingress => egress,
        _ => ingress,
    };
    mss_of_mtu(mtu)
}

/// The MTU of the interface the packet arrived on (`bpf_check_mtu` with
/// ifindex 0, which always reports the device's MTU; Linux 5.12), at most
/// 65,535.
#[inline(always)]
fn ingress_mtu(ctx: &XdpContext) -> u16 {
    let mut mtu: u32 = 0;
    // SAFETY: `mtu` is a valid, writable u32; no flags (the XDP variant
    // takes none).
    let rc = unsafe { bpf_check_mtu(ctx.as_ptr(), 0, &mut mtu, 0, 0) };
    if rc < 0 || mtu > u16::MAX as u32 {
        u16::MAX
    } else {
        mtu as u16
    }
}
