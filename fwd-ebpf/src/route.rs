//! Stage 3: route. Asks the kernel's FIB where the translated packet goes
//! (`bpf_fib_lookup`, with neighbour resolution and the egress MTU check),
//! before anything is written; and, for the MSS clamp, the MTU of that
//! route ([`path_mtu`]). Never writes the packet.

use core::mem::size_of;

use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibParams, BPF_FIB_LKUP_RET_BLACKHOLE, BPF_FIB_LKUP_RET_FRAG_NEEDED,
        BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_PROHIBIT, BPF_FIB_LKUP_RET_SUCCESS,
        BPF_FIB_LKUP_RET_UNREACHABLE,
    },
    helpers::bpf_fib_lookup,
    programs::XdpContext,
    EbpfContext as _,
};
use fwd_common::{flow::EGRESS_CACHE_NS, Flow4, Reason};

use crate::{
    maps::{DEVMAP, FIB_SCRATCH},
    nat::Nat,
    parse::{Ipv4, Packet},
};

/// `AF_INET`.
const AF_INET: u8 = 2;

/// Where a translated packet leaves.
pub enum Egress {
    /// Back out of the interface it came in on.
    Tx {
        /// The interface (the ingress).
        ifindex: u32,
        /// MAC of the egress interface.
        smac: [u8; 6],
        /// MAC of the next hop.
        dmac: [u8; 6],
        /// MTU of the route (host order).
        mtu: u16,
    },
    /// Out of another attached interface.
    Redirect {
        /// Egress ifindex (a key of `DEVMAP`).
        ifindex: u32,
        /// MAC of the egress interface.
        smac: [u8; 6],
        /// MAC of the next hop.
        dmac: [u8; 6],
        /// MTU of the route (host order).
        mtu: u16,
    },
    /// Translated, then handed to the kernel, which routes it: no neighbour
    /// entry yet (the kernel resolves it), or an egress fwd is not attached to.
    Kernel(Reason),
}

/// Why a packet has no egress.
pub enum Blocked {
    /// Dropped, or passed to the kernel, for this reason.
    Reason(Reason),
    /// Larger than the MTU of its route (host order): the caller answers
    /// as a router does, or drops it.
    TooBig {
        /// The route's MTU.
        mtu: u16,
    },
}

impl From<Reason> for Blocked {
    #[inline(always)]
    fn from(reason: Reason) -> Blocked {
        Blocked::Reason(reason)
    }
}

impl Blocked {
    /// The reason of a packet that is not answered: a packet too big is
    /// dropped.
    #[inline(always)]
    pub fn reason(self) -> Reason {
        match self {
            Blocked::Reason(r) => r,
            Blocked::TooBig { .. } => Reason::DropFragNeeded,
        }
    }
}

/// The egress a tracked flow's half cached, if it is younger than
/// `EGRESS_CACHE_NS`: established packets skip the FIB lookup (and its MTU
/// check, made here against the cached MTU for a packet of `ip_len`
/// bytes).
#[inline(always)]
pub fn cached(
    ctx: &XdpContext,
    flow: &Flow4,
    now: u64,
    ip_len: u16,
) -> Option<Result<Egress, Blocked>> {
    if flow.egress_ifindex == 0 || now.wrapping_sub(flow.egress_ns) >= EGRESS_CACHE_NS {
        return None;
    }
    let mtu = flow.egress_mtu;
    if mtu != 0 && ip_len > mtu {
        return Some(Err(Blocked::TooBig { mtu }));
    }
    let (ifindex, smac, dmac) = (flow.egress_ifindex, flow.egress_smac, flow.egress_dmac);
    Some(Ok(if ifindex == ctx.ingress_ifindex() as u32 {
        Egress::Tx {
            ifindex,
            smac,
            dmac,
            mtu,
        }
    } else {
        Egress::Redirect {
            ifindex,
            smac,
            dmac,
            mtu,
        }
    }))
}

/// What the FIB is told of a packet besides its translated addresses.
pub struct Leaving {
    /// IP protocol.
    pub proto: u8,
    /// TOS.
    pub tos: u8,
    /// Total length, host order (for the egress MTU check).
    pub ip_len: u16,
}

impl Leaving {
    /// A TCP or UDP packet.
    #[inline(always)]
    pub fn packet(pkt: &Packet) -> Leaving {
        Leaving {
            proto: pkt.key.proto,
            tos: pkt.tos,
            ip_len: pkt.ip_len,
        }
    }

    /// Any IPv4 packet (an ICMP error).
    #[inline(always)]
    pub fn ipv4(ip: &Ipv4) -> Leaving {
        Leaving {
            proto: ip.proto,
            tos: ip.tos,
            ip_len: ip.ip_len,
        }
    }
}

/// Asks the FIB about a packet `leaving`, translated to `nat`, of
/// `tot_len` bytes: the return code and what the kernel filled in (this
/// CPU's [`FIB_SCRATCH`] entry, valid until the next lookup). `None` only
/// if the scratch entry is missing, which a loaded program never sees.
#[inline(always)]
fn fib_lookup(
    ctx: &XdpContext,
    leaving: &Leaving,
    nat: &Nat,
    tot_len: u16,
) -> Option<(u32, &'static FibParams)> {
    let params = FIB_SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's scratch entry, used only within this run; every
    // field the helper reads (flags 0) is written here, the rest zeroed.
    let rc = unsafe {
        *params = core::mem::zeroed();
        let p = &mut *params;
        p.family = AF_INET;
        p.l4_protocol = leaving.proto;
        p.sport = nat.src_port;
        p.dport = nat.dst_port;
        p.__bindgen_anon_1.tot_len = tot_len;
        p.ifindex = ctx.ingress_ifindex() as u32;
        p.__bindgen_anon_2.tos = leaving.tos;
        p.__bindgen_anon_3.ipv4_src = nat.src_addr;
        p.__bindgen_anon_4.ipv4_dst = nat.dst_addr;
        bpf_fib_lookup(ctx.as_ptr(), params, size_of::<FibParams>() as i32, 0)
    };
    // SAFETY: as above; read only from here on.
    Some((rc as u32, unsafe { &*params }))
}

/// Looks up the route of a packet `leaving`, translated to `nat`.
#[inline(always)]
pub fn route(ctx: &XdpContext, leaving: &Leaving, nat: &Nat) -> Result<Egress, Blocked> {
    let (rc, params) = fib_lookup(ctx, leaving, nat, leaving.ip_len).ok_or(Reason::DropInternal)?;
    if rc == BPF_FIB_LKUP_RET_SUCCESS {
        let ingress = ctx.ingress_ifindex() as u32;
        // SAFETY: on success the helper writes the route's MTU over the
        // total length (a union of two u16).
        let mtu = unsafe { params.__bindgen_anon_1.mtu_result };
        if params.ifindex == ingress {
            return Ok(Egress::Tx {
                ifindex: ingress,
                smac: params.smac,
                dmac: params.dmac,
                mtu,
            });
        }
        if DEVMAP.get_ifindex(params.ifindex).is_some() {
            return Ok(Egress::Redirect {
                ifindex: params.ifindex,
                smac: params.smac,
                dmac: params.dmac,
                mtu,
            });
        }
        return Ok(Egress::Kernel(Reason::PassNotAttached));
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH {
        return Ok(Egress::Kernel(Reason::PassNoNeighbour));
    }
    if rc == BPF_FIB_LKUP_RET_BLACKHOLE
        || rc == BPF_FIB_LKUP_RET_UNREACHABLE
        || rc == BPF_FIB_LKUP_RET_PROHIBIT
    {
        return Err(Reason::DropNoRoute.into());
    }
    if rc == BPF_FIB_LKUP_RET_FRAG_NEEDED {
        // SAFETY: on FRAG_NEEDED the helper writes the route's MTU over
        // the total length.
        let mtu = unsafe { params.__bindgen_anon_1.mtu_result };
        return Err(Blocked::TooBig { mtu });
    }
    // Not forwarded (a local destination), forwarding disabled, lightweight
    // tunnels: the kernel decides.
    Ok(Egress::Kernel(Reason::PassNotAttached))
}

/// The MTU of the route a packet `leaving`, translated to `nat`, takes:
/// the route's own, a learnt path MTU, or its device's
/// (`ip_mtu_from_fib_result`); `None` when the FIB has no forwarding route
/// for it. Asked as a packet of 65,535 bytes: any smaller MTU refuses it
/// with `BPF_FIB_LKUP_RET_FRAG_NEEDED`, before the neighbour is looked at,
/// and "params->mtu_result contains the MTU" (`bpf_fib_lookup` in
/// include/uapi/linux/bpf.h, Linux 5.12); a route of 65,535 passes and
/// leaves that field, shared with `tot_len`, at 65,535.
#[inline(always)]
pub fn path_mtu(ctx: &XdpContext, leaving: &Leaving, nat: &Nat) -> Option<u16> {
    let (rc, params) = fib_lookup(ctx, leaving, nat, u16::MAX)?;
    if rc == BPF_FIB_LKUP_RET_SUCCESS
        || rc == BPF_FIB_LKUP_RET_FRAG_NEEDED
        || rc == BPF_FIB_LKUP_RET_NO_NEIGH
    {
        // SAFETY: an integer field of a union of integers.
        Some(unsafe { params.__bindgen_anon_1.mtu_result })
    } else {
        None
    }
}
