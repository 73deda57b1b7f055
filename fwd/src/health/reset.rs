//! `on_down = "reset"`: removing a down backend's flows from the
//! connection table, each with an end event (reason `backend_down`) for
//! the flow log and the closed-flow counters.
//!
//! After the removal the next packet of such a flow finds no flow: a UDP
//! datagram starts a new flow to a backend that is up; a TCP segment other
//! than a SYN is handed to the kernel (see README, "Health checks").

use fwd_common::{
    events::{end_reason, FlowEvent},
    Flow4, Flow4Key,
};

use crate::flows::{end_event, ended_by_datapath, pairs};

/// One flow (or lone half) to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Removal {
    /// Keys to remove, forward half first: the reply half holds the SNAT
    /// port, which is free for a new flow only once no packet can be
    /// translated to it any more.
    pub keys: Vec<Flow4Key>,
    /// Its end event (`None` for a lone half, or a flow the datapath
    /// already reported ended).
    pub end: Option<FlowEvent>,
}

/// The removals that take every flow of backend `backend_id` out of
/// `entries`, at `now_ns`. Pure.
pub(crate) fn select(entries: &[(Flow4Key, Flow4)], backend_id: u32, now_ns: u64) -> Vec<Removal> {
    let mine: Vec<(Flow4Key, Flow4)> = entries
        .iter()
        .filter(|(_, f)| f.backend_id == backend_id)
        .copied()
        .collect();
    let mut paired = std::collections::HashSet::new();
    let mut out = Vec::new();
    for f in pairs(&mine) {
        let reply_key = f.forward.other_key(f.proto());
        paired.insert(reply_key);
        paired.insert(f.forward_key);
        let ended = ended_by_datapath(f.proto(), f.forward.tcp_flags, f.reply.tcp_flags);
        out.push(Removal {
            keys: vec![f.forward_key, reply_key],
            end: (!ended).then(|| {
                end_event(
                    end_reason::BACKEND_DOWN,
                    &f.forward_key,
                    &f.forward,
                    &f.reply,
                    now_ns,
                )
            }),
        });
    }
    for (key, _) in mine.iter().filter(|(k, _)| !paired.contains(k)) {
        out.push(Removal {
            keys: vec![*key],
            end: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use fwd_common::{flow::tcp_flags::*, IPPROTO_TCP, IPPROTO_UDP};

    use super::*;
    use crate::health::testing;

    fn flow(proto: u8) -> [(Flow4Key, Flow4); 2] {
        testing::flow(proto, 40_000, 20_001, 3, 1_000, 0, 0)
    }

    #[test]
    fn every_flow_of_the_backend_and_no_other() {
        // A TCP and a UDP flow of backend 3, a flow of backend 4, a lone
        // half of backend 3.
        let tcp = flow(IPPROTO_TCP);
        let udp = flow(IPPROTO_UDP);
        let mut other = flow(IPPROTO_TCP);
        for (k, f) in &mut other {
            f.backend_id = 4;
            k.src_port ^= 1;
            f.nat_dst_port ^= 1;
        }
        let mut lone = flow(IPPROTO_TCP)[1];
        lone.0.dst_port = fwd_common::port(29_999);
        let entries = [tcp, udp, other]
            .into_iter()
            .flatten()
            .chain([lone])
            .collect::<Vec<_>>();
        let removals = select(&entries, 3, 9_000);
        assert_eq!(removals.len(), 3);
        for (r, pair) in removals.iter().zip([tcp, udp]) {
            assert_eq!(r.keys, vec![pair[0].0, pair[1].0], "forward half first");
            let end = r.end.unwrap();
            assert_eq!(end.end_reason, end_reason::BACKEND_DOWN);
            assert_eq!((end.backend_id, end.time_ns), (3, 9_000));
        }
        assert_eq!(removals[2].keys, vec![lone.0]);
        assert_eq!(removals[2].end, None);
        assert!(select(&entries, 5, 9_000).is_empty());
    }

    #[test]
    fn flows_the_datapath_ended_get_no_second_end() {
        let mut tcp = flow(IPPROTO_TCP);
        tcp[0].1.tcp_flags = SYN | ACK;
        tcp[1].1.tcp_flags = SYN | ACK | RST;
        let removals = select(&tcp, 3, 9_000);
        assert_eq!(removals.len(), 1);
        assert_eq!(removals[0].keys.len(), 2);
        assert_eq!(removals[0].end, None);
    }
}
