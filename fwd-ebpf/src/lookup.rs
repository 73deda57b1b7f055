//! Stage 2: lookup. Finds the flow a packet belongs to, or the service and
//! backend a new flow goes to. Never writes.

use aya_ebpf::maps::lpm_trie::Key;
use fwd_common::{
    access::{prefix_len, Access4Key, ALLOW},
    flow::{tcp_flags, DIR_FORWARD},
    hash::flow_hash4,
    maps::NO_BACKEND,
    service::{maglev_index, service_flags},
    Backend4, Flow4, Reason, Service4, Service4Key, IPPROTO_ICMP, IPPROTO_TCP,
};

use crate::{
    maps::{ACCESS4, BACKENDS4, CT4, MAGLEV, SERVICES4},
    nat::Nat,
    parse::{Packet, ICMP_ECHO_REQUEST},
};

/// What a packet to the relay is: relayed, or refused from the VIP.
pub enum Lookup {
    /// Relayed: part of a tracked flow, or the first packet of a new one.
    Relay(Target),
    /// The first packet of a flow to a service with no usable backend: the
    /// entry point answers it (see `rewrite::reject`); it is never tracked.
    Reject,
    /// An echo request to a VIP that no service relays ICMP to: the entry
    /// point answers it from the VIP (see `rewrite::echo_reply`).
    AnswerEcho,
}

/// The flow a relayed packet belongs to.
pub enum Target {
    /// A tracked flow: the half of [`crate::maps::CT4`] matching the packet.
    Flow(*mut Flow4),
    /// The first packet of a flow to `backend`.
    New(NewFlow),
}

/// A flow to create.
pub struct NewFlow {
    /// The service the VIP belongs to.
    pub service_id: u32,
    /// The chosen backend's id.
    pub backend_id: u32,
    /// The chosen backend.
    pub backend: Backend4,
    /// Destination port towards the backend (network order).
    pub backend_port: u16,
    /// The packet is a SYN reusing the tuple of a closed flow, which
    /// conntrack ends before it creates this one.
    pub reopens: bool,
    /// `fwd_common::events::start_flags` of its start event (set by the
    /// entry point, see `crate::answerable`).
    pub start_flags: u8,
}

impl NewFlow {
    /// The translation towards the backend as far as it is known before
    /// conntrack: the SNAT address and the backend, but no SNAT port yet
    /// (0), which is what the route lookup needs.
    #[inline(always)]
    pub fn towards_backend(&self) -> Nat {
        Nat {
            src_addr: self.backend.snat_addr,
            dst_addr: self.backend.addr,
            src_port: 0,
            dst_port: self.backend_port,
        }
    }
}

/// The service `pkt` is addressed to: its VIP and port, else its VIP's
/// whole-address service.
#[inline(always)]
pub fn service_of(pkt: &Packet) -> Option<Service4> {
    let key = &pkt.key;
    let mut skey = Service4Key {
        addr: key.dst_addr,
        port: key.dst_port,
        proto: key.proto,
        pad: 0,
    };
    // SAFETY: service entries are written whole by the loader; a value read
    // during an update is either the old or the new service (both valid).
    if let Some(s) = unsafe { SERVICES4.get(skey) } {
        return Some(*s);
    }
    skey.port = 0;
    // SAFETY: as above.
    unsafe { SERVICES4.get(skey) }.copied()
}

/// Finds the flow of `pkt`, or the backend for a new one. A SYN that
/// reuses the tuple of a closed TCP flow is a new flow: its backend is
/// chosen anew, so a backend drained, down or removed since gets no new
/// connection that way.
#[inline(always)]
pub fn lookup(pkt: &Packet) -> Result<Lookup, Reason> {
    let mut reopens = false;
    if let Some(flow) = CT4.get_ptr_mut(pkt.key) {
        // SAFETY: from a CT4 lookup in this run, read only.
        if !reopened(pkt, unsafe { &*flow }) {
            return Ok(Lookup::Relay(Target::Flow(flow)));
        }
        reopens = true;
    }
    let key = &pkt.key;
    let service = service_of(pkt).ok_or(Reason::PassNoService)?;
    // Only a SYN opens a TCP flow: anything else to a VIP without a flow is
    // the kernel's to answer (it resets unknown connections).
    if key.proto == IPPROTO_TCP && !opens(pkt.tcp_flags) {
        return Err(Reason::PassTcpNoFlow);
    }
    // Only an echo request opens an ICMP session.
    if key.proto == IPPROTO_ICMP {
        if pkt.icmp_type != ICMP_ECHO_REQUEST {
            return Err(Reason::PassIcmpNoFlow);
        }
        if service.flags & service_flags::ANSWER_ECHO != 0 {
            return Ok(Lookup::AnswerEcho);
        }
    }
    if service.flags & service_flags::ACCESS_LIST != 0 && !admitted(&service, key.src_addr) {
        return Err(Reason::DropNotAllowed);
    }
    if service.backend_count == 0 {
        return Ok(Lookup::Reject);
    }
    let hash = flow_hash4(key);
    // Maglev: the service's table maps the flow hash to a backend.
    let backend_id = *MAGLEV
        .get(maglev_index(service.maglev_table, hash))
        .ok_or(Reason::DropNoMaglevEntry)?;
    if backend_id == NO_BACKEND {
        return Ok(Lookup::Reject);
    }
    let backend = *BACKENDS4
        .get(backend_id)
        .ok_or(Reason::DropNoBackendEntry)?;
    if backend.addr == 0 {
        return Ok(Lookup::Reject);
    }
    let backend_port = if backend.port == 0 {
        key.dst_port
    } else {
        backend.port
    };
    Ok(Lookup::Relay(Target::New(NewFlow {
        service_id: service.id,
        backend_id,
        backend,
        backend_port,
        reopens,
        start_flags: 0,
    })))
}

/// Whether `service`'s `allow` and `deny` lists admit a new flow from
/// `src_addr` (network order): see `fwd_common::access`.
#[inline(always)]
fn admitted(service: &Service4, src_addr: u32) -> bool {
    let key = Key::new(
        prefix_len(32),
        Access4Key {
            service_id_be: service.id.to_be(),
            addr: src_addr,
        },
    );
    match ACCESS4.get(&key) {
        Some(&verdict) => verdict == ALLOW,
        None => service.flags & service_flags::ALLOW_LIST == 0,
    }
}

/// Whether TCP `flags` open a connection: a SYN without ACK, RST or FIN
/// (SYN|FIN and SYN|RST open nothing, as in netfilter).
#[inline(always)]
fn opens(flags: u8) -> bool {
    flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN) == tcp_flags::SYN
}

/// Whether `pkt`, which matched the half `flow`, opens a new connection on
/// the tuple of a closed one: a SYN ([`opens`]) from the client after a FIN or
/// RST from the client, or a RST from the backend. A retransmitted SYN of
/// a flow still opening, or any other packet, stays in its flow.
#[inline(always)]
fn reopened(pkt: &Packet, flow: &Flow4) -> bool {
    if pkt.key.proto != IPPROTO_TCP || !opens(pkt.tcp_flags) || flow.direction != DIR_FORWARD {
        return false;
    }
    if flow.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
        return true;
    }
    // SAFETY: from a CT4 lookup in this run, a plain integer read.
    CT4.get_ptr(flow.other_key(IPPROTO_TCP))
        .is_some_and(|other| unsafe { (*other).tcp_flags } & tcp_flags::RST != 0)
}
