//! Who may open flows: a service's `allow` and `deny` source prefixes,
//! through the real program. Refused first packets are dropped and counted
//! (`drop_not_allowed`); `deny` is evaluated first; other services are not
//! affected; a reload that narrows a list leaves existing flows alone and
//! refuses new ones; a reload that drops the lists admits everyone again.

use std::net::Ipv4Addr;

use fwd::{
    config::{Access, Prefix4},
    plan::{Plan, PlannedBackend, PlannedService},
};
use fwd_common::{counters::xdp_action, Reason, IPPROTO_UDP};
use integration_test::{
    addr::sa,
    packet::{parse, PacketBuilder},
    prog_test_run::{
        env::{self, *},
        run::{run, snapshot},
    },
};

/// UDP port of the guarded service on [`VIP`].
const PORT: u16 = 9553;

fn prefix(a: [u8; 4], len: u8) -> Prefix4 {
    Prefix4 {
        addr: Ipv4Addr::from(a),
        len,
    }
}

/// The packet tests' plan plus a UDP service on [`VIP`]:[`PORT`] to
/// [`BACKEND`]:53 with `access`.
fn plan(access: Access) -> Plan {
    let mut plan = env::plan();
    let id = plan.services.len() as u32;
    let backend_id = plan.backends().count() as u32;
    plan.services.push(PlannedService {
        id,
        name: "guarded".into(),
        vip: VIP,
        port: Some(PORT),
        protocols: vec![IPPROTO_UDP],
        mss_clamp: Default::default(),
        access,
        backends: vec![PlannedBackend {
            id: backend_id,
            addr: BACKEND,
            port: Some(53),
            snat: SNAT,
            weight: 1,
        }],
    });
    plan
}

/// What the first datagram from `src` to `port` on [`VIP`] becomes:
/// relayed to the backend, or the reason it was not.
fn first_datagram(dp: &mut fwd::datapath::Datapath, src: [u8; 4], port: u16) -> Result<(), Reason> {
    let frame = PacketBuilder::udp(sa(Ipv4Addr::from(src), 40_000), sa(VIP, port))
        .payload(b"q")
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();
    let before = snapshot(dp, 64);
    let out = run(dp, ifindex(CLIENT_IF), &frame);
    let moved = snapshot(dp, 64).reasons_changed_since(&before);
    match out.action {
        xdp_action::REDIRECT => {
            assert_eq!(*parse(&out.frame).unwrap().dst.ip(), BACKEND);
            Ok(())
        }
        _ => {
            assert_eq!(moved.len(), 1, "{moved:?}");
            Err(moved[0].0)
        }
    }
}

pub fn allow_and_deny_lists() {
    let lists = Access {
        allow: Some(vec![prefix([198, 18, 7, 0], 24)]),
        deny: vec![prefix([198, 18, 7, 128], 25)],
    };
    let mut dp = env::datapath_with(&plan(lists));
    let refused = Err(Reason::DropNotAllowed);
    assert_eq!(first_datagram(&mut dp, [198, 18, 7, 5], PORT), Ok(()));
    assert_eq!(
        first_datagram(&mut dp, [198, 18, 7, 200], PORT),
        refused,
        "deny is evaluated first"
    );
    assert_eq!(
        first_datagram(&mut dp, [198, 18, 8, 5], PORT),
        refused,
        "not on the allow list"
    );
    assert_eq!(
        first_datagram(&mut dp, [198, 18, 8, 5], VIP_UDP_PORT),
        Ok(()),
        "a service without lists admits everyone"
    );

    // Narrowed by a reload: the existing flow goes on, a new one from a
    // source that was admitted before is refused.
    let narrowed = Access {
        allow: Some(vec![prefix([198, 18, 7, 0], 28)]),
        deny: vec![],
    };
    dp.install(&plan(narrowed)).expect("reload");
    assert_eq!(
        first_datagram(&mut dp, [198, 18, 7, 5], PORT),
        Ok(()),
        "existing flow"
    );
    assert_eq!(first_datagram(&mut dp, [198, 18, 7, 20], PORT), refused);

    // Deny only: everyone but the denied.
    let deny_only = Access {
        allow: None,
        deny: vec![prefix([198, 18, 9, 0], 24)],
    };
    dp.install(&plan(deny_only)).expect("reload");
    assert_eq!(first_datagram(&mut dp, [198, 18, 9, 1], PORT), refused);
    assert_eq!(first_datagram(&mut dp, [198, 18, 7, 21], PORT), Ok(()));

    // No lists: everyone, the old entries gone.
    dp.install(&plan(Access::default())).expect("reload");
    assert_eq!(first_datagram(&mut dp, [198, 18, 9, 2], PORT), Ok(()));
}
