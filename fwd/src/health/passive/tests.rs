//! Passive health on flows built by hand: the halves the datapath creates
//! for a SYN, then what the backend's answer (or silence) leaves in them.

use std::collections::HashMap;

use fwd_common::{
    events::{end_reason, EVENT_END},
    flow::tcp_flags::*,
    IPPROTO_UDP,
};

use super::*;

const SECOND: u64 = 1_000_000_000;
const SYN_TIMEOUT: Duration = Duration::from_secs(3);

/// A TCP flow (see [`super::super::testing::flow`]).
fn flow(
    cport: u16,
    sport: u16,
    backend_id: u32,
    created_ns: u64,
    fwd_flags: u8,
    reply_flags: u8,
) -> [(Flow4Key, Flow4); 2] {
    super::super::testing::flow(
        IPPROTO_TCP,
        cport,
        sport,
        backend_id,
        created_ns,
        fwd_flags,
        reply_flags,
    )
}

/// The start event the datapath sends for `flow`, whose SYN could have
/// been answered.
fn start(flow: &[(Flow4Key, Flow4); 2]) -> FlowEvent {
    let [(fkey, forward), (_, reply)] = flow;
    let mut event = FlowEvent::new(
        EVENT_START,
        end_reason::NONE,
        fkey,
        forward,
        Some(reply),
        forward.created_ns,
    );
    event.flags = start_flags::ANSWERABLE;
    event
}

#[test]
fn a_start_event_gives_the_reply_key() {
    let f = flow(40_000, 20_001, 7, 5 * SECOND, SYN, 0);
    let a = Attempt::of(&start(&f)).unwrap();
    assert_eq!(
        a.reply_key, f[1].0,
        "the key the datapath stored the reply half under"
    );
    assert_eq!((a.backend_id, a.created_ns), (7, 5 * SECOND));
    // Not a start, or not TCP: nothing to follow.
    let mut end = start(&f);
    end.kind = EVENT_END;
    assert_eq!(Attempt::of(&end), None);
    let mut udp = start(&f);
    udp.proto = IPPROTO_UDP;
    assert_eq!(Attempt::of(&udp), None);
    // A SYN the backend would have dropped (bad checksum, expiring TTL):
    // not followed, so it can never count as a failure.
    let mut unanswerable = start(&f);
    unanswerable.flags = 0;
    assert_eq!(Attempt::of(&unanswerable), None);
}

#[test]
fn verdicts_from_the_reply_half() {
    let t0 = 100 * SECOND;
    let cases = [
        // (reply flags, seconds after the SYN, verdict)
        (SYN | ACK, 0, Verdict::Answered),
        (SYN | ACK | FIN, 10, Verdict::Answered),
        (RST | ACK, 0, Verdict::Refused),
        (0, 1, Verdict::Wait),
        (0, 3, Verdict::Wait),
        (0, 4, Verdict::Unanswered),
        (ACK, 4, Verdict::Unanswered),
    ];
    for (flags, after, expected) in cases {
        let f = flow(40_000, 20_001, 1, t0, SYN, flags);
        let a = Attempt::of(&start(&f)).unwrap();
        let v = verdict(&a, Some(&f[1].1), t0 + after * SECOND, SYN_TIMEOUT);
        assert_eq!(v, expected, "flags {flags:#x} after {after}s");
    }
    let f = flow(40_000, 20_001, 1, t0, SYN, 0);
    let a = Attempt::of(&start(&f)).unwrap();
    assert_eq!(verdict(&a, None, t0, SYN_TIMEOUT), Verdict::Gone);
    // The tuple was reused by a newer flow (a new SYN after the end).
    let newer = flow(40_000, 20_001, 1, t0 + 5 * SECOND, SYN, 0);
    let v = verdict(&a, Some(&newer[1].1), t0 + 9 * SECOND, SYN_TIMEOUT);
    assert_eq!(v, Verdict::Gone);
    assert_eq!(Verdict::Refused.failed(), Some(true));
    assert_eq!(Verdict::Unanswered.failed(), Some(true));
    assert_eq!(Verdict::Answered.failed(), Some(false));
    assert_eq!(Verdict::Wait.failed(), None);
    assert_eq!(Verdict::Gone.failed(), None);
}

#[test]
fn the_inbox_keeps_watched_tcp_starts_within_its_bound() {
    let inbox = Inbox::default();
    let f = flow(40_000, 20_001, 7, SECOND, SYN, 0);
    inbox.observe(&start(&f));
    assert!(inbox.take().is_empty(), "backend 7 is not watched yet");
    inbox.watch([7].into_iter().collect());
    inbox.observe(&start(&f));
    inbox.observe(&start(&flow(40_001, 20_002, 8, SECOND, SYN, 0)));
    assert_eq!(inbox.take().len(), 1, "only backend 7");
    assert!(inbox.take().is_empty());
    for i in 0..MAX_QUEUED + 10 {
        inbox.observe(&start(&flow(i as u16, 20_001, 7, SECOND, SYN, 0)));
    }
    assert_eq!(inbox.take().len(), MAX_QUEUED);
    inbox.observe(&start(&f));
    inbox.watch(HashSet::new());
    assert!(inbox.take().is_empty(), "unwatching drops what waits");
}

/// A table of halves, and a reader over it.
fn table(flows: &[[(Flow4Key, Flow4); 2]]) -> HashMap<Flow4Key, Flow4> {
    flows.iter().flatten().copied().collect()
}

#[test]
fn followed_attempts_are_decided_in_order_and_only_once() {
    let t0 = 10 * SECOND;
    // Backend 1: answered, then two unanswered; backend 2: refused, and one
    // still waiting; backend 3: no longer watched.
    let flows = [
        flow(1, 20_001, 1, t0, SYN | ACK, SYN | ACK),
        flow(2, 20_002, 1, t0 + 1, SYN, 0),
        flow(3, 20_003, 1, t0 + 2, SYN, 0),
        flow(4, 20_004, 2, t0, SYN, RST | ACK),
        flow(5, 20_005, 2, t0 + 3 * SECOND, SYN, 0),
        flow(6, 20_006, 3, t0, SYN, 0),
    ];
    let mut followed = Followed::default();
    followed.add(flows.iter().rev().map(|f| Attempt::of(&start(f)).unwrap()));
    let table = table(&flows);
    let read = |k: &Flow4Key| table.get(k).copied();
    let timeout_of = |id: u32| (id != 3).then_some(SYN_TIMEOUT);

    let mut decided = followed.decide(read, t0 + 4 * SECOND, timeout_of);
    decided.sort_by_key(|(id, _)| *id);
    assert_eq!(
        decided,
        vec![(1, false), (1, true), (1, true), (2, true)],
        "per backend in the order they started"
    );
    assert_eq!(followed.all().count(), 1, "backend 2's newer attempt waits");
    assert!(followed
        .decide(read, t0 + 4 * SECOND, timeout_of)
        .is_empty());
    let later = followed.decide(read, t0 + 7 * SECOND, timeout_of);
    assert_eq!(later, vec![(2, true)]);
    assert!(followed.is_empty());
}

#[test]
fn followed_attempts_are_bounded_per_backend() {
    let mut followed = Followed::default();
    followed.add(
        (0..MAX_WATCHED_PER_BACKEND as u16 + 5)
            .map(|i| Attempt::of(&start(&flow(i, 20_000 + i, 1, SECOND, SYN, 0))).unwrap()),
    );
    followed.add([Attempt::of(&start(&flow(1, 20_001, 2, SECOND, SYN, 0))).unwrap()]);
    assert_eq!(followed.all().count(), MAX_WATCHED_PER_BACKEND + 1);
}
