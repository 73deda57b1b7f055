//! Translating an ICMP error about a relayed flow (see `crate::icmp`): the
//! outer header goes from the flow half's translated source to its
//! translated destination; the quoted packet becomes the one the other side
//! sent or received (addresses and ports, or an echo's identifier, swapped
//! back through the half); every checksum is updated incrementally: the
//! outer IPv4 header's, the quoted IPv4 header's, the quoted transport
//! checksum when the error holds it (adjusted like a translated packet's,
//! so it stays consistent with the quoted header: TCP's and UDP's for the
//! addresses and ports, a zero UDP checksum staying zero; an echo's for its
//! identifier alone, ICMP having no pseudo-header) and the ICMP checksum,
//! which covers all the quoted bytes. Every changed word lies at an even
//! offset from the start of the ICMP message, as the incremental update
//! needs (the quoted IPv4 header is a multiple of 4 bytes long).

use aya_ebpf::programs::XdpContext;
use fwd_common::{csum::CsumDiff, Flow4, Reason};
use network_types::ip::Ipv4Hdr;

use super::{forward_macs, readdress, Addrs};
use crate::{
    access::{load, ptr_at_mut, store},
    icmp::{Quoted, QuotedL4, ICMP_CHECK_OFFSET},
    parse::Ipv4,
    route::Egress,
};

/// Writes the translation of the error `ip` quoting `quoted`, through the
/// half `flow`, for leaving by `egress`.
#[inline(always)]
pub fn icmp_error(
    ctx: &XdpContext,
    ip: &Ipv4,
    quoted: &Quoted,
    flow: &Flow4,
    egress: &Egress,
) -> Result<(), Reason> {
    let forwarded_here = forward_macs(ctx, egress)?;

    // The outer header: from the half's translated source to its
    // translated destination (ICMP has no pseudo-header: the change of the
    // outer addresses touches no other checksum).
    let old = Addrs {
        src: ip.src_addr,
        dst: ip.dst_addr,
    };
    let new = Addrs {
        src: flow.nat_src_addr,
        dst: flow.nat_dst_addr,
    };
    readdress(ctx, ip.l3_off, ip.ttl, &old, &new, forwarded_here)?;

    // The quoted packet, as the other side sent or received it: from the
    // half's translated destination to its translated source.
    let q = &quoted.key;
    let addrs = CsumDiff::new()
        .u32(q.src_addr, flow.nat_dst_addr)
        .u32(q.dst_addr, flow.nat_src_addr);

    // The quote lies behind two variable-length headers: it is read and
    // written through copies, which the verifier can follow.
    let mut qip: [u8; Ipv4Hdr::LEN] = load(ctx, quoted.l3_off)?;
    let old = u16::from_ne_bytes([qip[10], qip[11]]);
    let new = addrs.apply(old);
    qip[10..12].copy_from_slice(&new.to_ne_bytes());
    qip[12..16].copy_from_slice(&flow.nat_dst_addr.to_ne_bytes());
    qip[16..20].copy_from_slice(&flow.nat_src_addr.to_ne_bytes());
    store(ctx, quoted.l3_off, &qip)?;
    let mut icmp = addrs.u16(old, new);

    // Its ports or identifier, and the checksum that covers them: where it
    // is, its change, and whether it is UDP's.
    let (ports, check) = match quoted.l4 {
        QuotedL4::Ports {
            off,
            check_off,
            udp,
        } => {
            let ports = CsumDiff::new()
                .u16(q.src_port, flow.nat_dst_port)
                .u16(q.dst_port, flow.nat_src_port);
            let mut qports = [0u8; 4];
            qports[..2].copy_from_slice(&flow.nat_dst_port.to_ne_bytes());
            qports[2..].copy_from_slice(&flow.nat_src_port.to_ne_bytes());
            store(ctx, off, &qports)?;
            (ports, check_off.map(|at| (at, addrs.merge(ports), udp)))
        }
        QuotedL4::Echo {
            id_off,
            check_off,
            request,
        } => {
            // The identifier stands for the port a reply would carry it
            // in (see `parse::echo_ports`); the other port is 0 both ways.
            let (old, new) = if request {
                (q.src_port, flow.nat_dst_port)
            } else {
                (q.dst_port, flow.nat_src_port)
            };
            store(ctx, id_off, &new.to_ne_bytes())?;
            let id = CsumDiff::new().u16(old, new);
            (id, Some((check_off, id, false)))
        }
    };
    icmp = icmp.merge(ports);
    if let Some((at, l4, udp)) = check {
        let old = u16::from_ne_bytes(load(ctx, at)?);
        let new = if udp {
            l4.apply_udp(old)
        } else {
            l4.apply(old)
        };
        store(ctx, at, &new.to_ne_bytes())?;
        icmp = icmp.u16(old, new);
    }

    let check: *mut [u8; 2] = ptr_at_mut(ctx, ip.l4_off + ICMP_CHECK_OFFSET)?;
    // SAFETY: checked by ptr_at_mut.
    unsafe { *check = icmp.apply(u16::from_ne_bytes(*check)).to_ne_bytes() };
    Ok(())
}
