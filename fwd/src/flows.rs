//! The flows of the connection table as users see them: the two halves of
//! `CT4` paired, their four address:port pairs, and the flow events the
//! loader makes itself.
//!
//! Events are made by `FlowEvent::new` (fwd-common), the constructor the
//! datapath uses too, so that an event made here (the GC ending a flow by
//! expiry) names the same four pairs as the datapath's start event of that
//! flow. Read by the GC ([`crate::gc`]) and the control socket's
//! `flows` and `status` answers ([`crate::control`]).

use std::collections::HashMap;

use fwd_common::{
    events::{FlowEvent, EVENT_END},
    flow::DIR_FORWARD,
    Flow4, Flow4Key,
};

pub(crate) use fwd_common::events::{ended_by_datapath, Endpoints};

/// The end event of a flow deleted by the GC (`reason` is
/// `end_reason::TIMEOUT` or `end_reason::EVICTED`) at `now_ns`.
pub(crate) fn end_event(
    reason: u8,
    forward_key: &Flow4Key,
    forward: &Flow4,
    reply: &Flow4,
    now_ns: u64,
) -> FlowEvent {
    FlowEvent::new(EVENT_END, reason, forward_key, forward, Some(reply), now_ns)
}

/// A complete flow of the connection table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PairedFlow {
    /// Key of the forward half (client -> VIP).
    pub forward_key: Flow4Key,
    /// The forward half.
    pub forward: Flow4,
    /// The reply half.
    pub reply: Flow4,
}

impl PairedFlow {
    /// Its four address:port pairs.
    pub(crate) fn endpoints(&self) -> Endpoints {
        Endpoints::of(&self.forward_key, &self.forward)
    }

    /// Its IP protocol.
    pub(crate) fn proto(&self) -> u8 {
        self.forward_key.proto
    }
}

/// The entries of a connection table by key, for pairing halves. A fast
/// hasher: at a million flows the table has two million entries, and the
/// keys are not chosen by anyone who could gain from collisions beyond the
/// kernel's own hash map.
pub(crate) struct HalfIndex<'a>(HashMap<Flow4Key, &'a Flow4, foldhash::fast::RandomState>);

impl<'a> HalfIndex<'a> {
    /// Indexes `entries`.
    pub(crate) fn new(entries: &'a [(Flow4Key, Flow4)]) -> Self {
        let mut map = HashMap::with_capacity_and_hasher(entries.len(), Default::default());
        map.extend(entries.iter().map(|(k, v)| (*k, v)));
        HalfIndex(map)
    }

    /// The other half of the half `half` stored at `key`, when it is there
    /// and points back (the halves of one flow have opposite directions and
    /// each derives the other's key).
    pub(crate) fn partner(&self, key: &Flow4Key, half: &Flow4) -> Option<(Flow4Key, &'a Flow4)> {
        let other = half.other_key(key.proto);
        self.0
            .get(&other)
            .filter(|p| p.direction != half.direction && p.other_key(key.proto) == *key)
            .map(|p| (other, *p))
    }
}

/// The complete flows among `entries` (both halves present and pointing
/// at each other), in the order their forward halves appear. Lone halves (a
/// flow being created, or left over) are skipped.
pub(crate) fn pairs(entries: &[(Flow4Key, Flow4)]) -> Vec<PairedFlow> {
    let index = HalfIndex::new(entries);
    entries
        .iter()
        .filter(|(_, half)| half.direction == DIR_FORWARD)
        .filter_map(|(key, forward)| {
            let (_, reply) = index.partner(key, forward)?;
            Some(PairedFlow {
                forward_key: *key,
                forward: *forward,
                reply: *reply,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use fwd_common::{
        addr4,
        events::{end_reason, EVENT_START},
        flow::tcp_flags::*,
        port, Counter, IPPROTO_TCP, IPPROTO_UDP,
    };

    use super::*;
    use crate::testing::{sa, TestFlow};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 100, 1);
    const SNAT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
    const BACKEND: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);

    /// A flow as the datapath creates it: client:40000 -> VIP:80, SNAT
    /// port 20001, backend port 8080.
    pub(crate) fn flow(proto: u8) -> [(Flow4Key, Flow4); 2] {
        TestFlow {
            backend_id: 3,
            service_id: 2,
            created_ns: 1_000,
            last_seen_ns: [5_000, 6_000],
            packets: [7, 5],
            bytes: [700, 5_000],
            ..TestFlow::new(
                proto,
                sa(CLIENT, 40000),
                sa(VIP, 80),
                sa(SNAT, 20001),
                sa(BACKEND, 8080),
            )
        }
        .halves()
    }

    #[test]
    fn both_halves_give_the_same_four_pairs() {
        let [(fkey, forward), (rkey, reply)] = flow(IPPROTO_TCP);
        let a = Endpoints::of(&fkey, &forward);
        let b = Endpoints::of(&rkey, &reply);
        assert_eq!(a, b);
        let s = |p| Endpoints::socket(p).to_string();
        assert_eq!(s(a.client), "198.18.0.2:40000");
        assert_eq!(s(a.vip), "198.18.100.1:80");
        assert_eq!(s(a.snat), "198.19.0.1:20001");
        assert_eq!(s(a.backend), "198.19.0.10:8080");
    }

    #[test]
    fn end_event_carries_both_directions_and_the_tuple() {
        let [(fkey, forward), (rkey, reply)] = flow(IPPROTO_UDP);
        let e = end_event(end_reason::TIMEOUT, &fkey, &forward, &reply, 9_000);
        assert_eq!((e.kind, e.end_reason, e.proto), (EVENT_END, 3, IPPROTO_UDP));
        assert_eq!((e.time_ns, e.created_ns), (9_000, 1_000));
        assert_eq!((e.service_id, e.backend_id), (2, 3));
        assert_eq!((e.client_addr, e.client_port), (addr4(CLIENT), port(40000)));
        assert_eq!((e.vip_addr, e.vip_port), (addr4(VIP), port(80)));
        assert_eq!((e.snat_addr, e.snat_port), (addr4(SNAT), port(20001)));
        assert_eq!(
            (e.backend_addr, e.backend_port),
            (addr4(BACKEND), port(8080))
        );
        assert_eq!((e.to_backend.packets, e.to_backend.bytes), (7, 700));
        assert_eq!((e.to_client.packets, e.to_client.bytes), (5, 5_000));
        // Made from the reply half, the same event (as the datapath would).
        let r = FlowEvent::new(
            EVENT_END,
            end_reason::TIMEOUT,
            &rkey,
            &reply,
            Some(&forward),
            9_000,
        );
        assert_eq!(r, e);
        // A start event from the forward half alone has no reply counters.
        let s = FlowEvent::new(EVENT_START, 0, &fkey, &forward, None, 1_000);
        assert_eq!(s.to_client, Counter::default());
        assert_eq!(s.snat_port, e.snat_port);
    }

    #[test]
    fn what_the_datapath_already_ended() {
        let cases = [
            // (proto, forward flags, reply flags, ended?)
            (IPPROTO_UDP, 0, 0, false),
            (IPPROTO_TCP, SYN, 0, false),
            (IPPROTO_TCP, SYN | ACK, SYN | ACK, false),
            (IPPROTO_TCP, SYN | ACK | FIN, SYN | ACK, false),
            (IPPROTO_TCP, SYN | ACK, SYN | ACK | FIN, false),
            (IPPROTO_TCP, SYN | ACK | FIN, SYN | ACK | FIN, true),
            (IPPROTO_TCP, SYN, RST, true),
            (IPPROTO_TCP, SYN | RST, 0, true),
        ];
        for (proto, f, r, ended) in cases {
            assert_eq!(
                ended_by_datapath(proto, f, r),
                ended,
                "{proto} {f:#x} {r:#x}"
            );
        }
    }

    #[test]
    fn pairs_skip_lone_halves() {
        let a = flow(IPPROTO_TCP);
        let mut b = flow(IPPROTO_UDP);
        b[0].0.src_port = port(40001);
        b[1].1.nat_dst_port = port(40001);
        // A forward half whose reply half belongs to another flow.
        let mut lone = flow(IPPROTO_TCP)[0];
        lone.0.src_port = port(40002);
        let entries = vec![a[1], b[0], lone, a[0], b[1]];
        let p = pairs(&entries);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].forward_key, b[0].0);
        assert_eq!(p[0].reply, b[1].1);
        assert_eq!(p[1].forward_key, a[0].0);
        assert_eq!(p[1].proto(), IPPROTO_TCP);
        assert_eq!(p[1].endpoints(), Endpoints::of(&a[1].0, &a[1].1));
    }
}
