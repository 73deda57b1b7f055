//! The loader's datapath and host lookups against the real kernel: load,
//! install, read, attach and detach on a veth pair, and route lookups, in
//! a network namespace private to the test thread. Needs root (run by
//! `cargo xtask test`). Packet behaviour is tested in `prog_test_run`.

use std::{net::Ipv4Addr, process::Command};

use fwd::{
    config::RelaySettings,
    datapath::{AttachMode, AttachedMode, Datapath, DatapathError},
    host::routes::{NoRoute, RouteLookup},
    plan::{Plan, PlannedBackend, PlannedService},
};
use fwd_common::{Flow4, Flow4Key, Reason, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use integration_test::netns::in_private_netns;

fn plan() -> Plan {
    let backend = |id, last| PlannedBackend {
        id,
        addr: Ipv4Addr::new(198, 19, 0, last),
        port: Some(8080),
        snat: Ipv4Addr::new(198, 19, 0, 1),
        weight: 1,
    };
    Plan {
        services: vec![PlannedService {
            id: 0,
            name: "web".into(),
            vip: Ipv4Addr::new(198, 18, 1, 10),
            port: Some(80),
            protocols: vec![IPPROTO_TCP, IPPROTO_UDP],
            mss_clamp: Default::default(),
            access: Default::default(),
            backends: vec![backend(0, 2), backend(1, 3)],
        }],
        settings: RelaySettings {
            max_flows: 1024,
            ..Default::default()
        },
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("running ip");
    assert!(status.success(), "ip {args:?}");
}

#[test]
fn load_install_read_attach_detach() {
    in_private_netns(|| {
        ip(&["link", "add", "dp0", "type", "veth", "peer", "name", "dp1"]);
        ip(&["link", "set", "dp0", "up"]);
        ip(&["link", "set", "dp1", "up"]);

        let mut dp = Datapath::load(&plan().settings).unwrap();
        assert_eq!(dp.flow_capacity(), 2048);
        dp.install(&plan()).unwrap();
        let mut entries = dp.service_entries().unwrap();
        entries.sort_by_key(|(k, _)| k.proto);
        let vip = Ipv4Addr::new(198, 18, 1, 10);
        let value = fwd_common::Service4 {
            id: 0,
            backend_count: 2,
            ..Default::default()
        };
        // The VIP relays no ICMP: an entry makes the datapath answer its
        // echo requests itself.
        let answer = fwd_common::Service4 {
            id: 0,
            flags: fwd_common::service::service_flags::ANSWER_ECHO,
            ..Default::default()
        };
        assert_eq!(
            entries,
            vec![
                (fwd_common::Service4Key::new(vip, 0, IPPROTO_ICMP), answer),
                (fwd_common::Service4Key::new(vip, 80, IPPROTO_TCP), value),
                (fwd_common::Service4Key::new(vip, 80, IPPROTO_UDP), value),
            ]
        );
        // Installing again (same or smaller plan) is fine.
        let mut smaller = plan();
        smaller.services[0].protocols = vec![IPPROTO_TCP];
        dp.install(&smaller).unwrap();
        let mut entries = dp.service_entries().unwrap();
        entries.sort_by_key(|(k, _)| k.proto);
        assert_eq!(entries.len(), 2, "the UDP key is gone: {entries:?}");
        assert_eq!(entries[0].0.proto, IPPROTO_ICMP);
        assert_eq!(entries[1].0.proto, IPPROTO_TCP);

        let stats = dp.reason_stats().unwrap();
        assert_eq!(stats.len(), Reason::ALL.len());
        assert!(stats.iter().all(|(_, c)| c.packets == 0));
        assert_eq!(dp.backend_stats(1).unwrap(), Default::default());
        assert!(dp.flows().unwrap().is_empty());
        let key = fwd_common::Flow4Key::new(
            Ipv4Addr::new(198, 18, 0, 2),
            1,
            Ipv4Addr::new(198, 18, 1, 10),
            80,
            6,
        );
        dp.remove_flow(&key).unwrap();
        assert_eq!(dp.flow(&key).unwrap(), None);
        dp.clear_flows().unwrap();

        let dp0 = fwd::host::ifaces::index_of("dp0").unwrap();
        dp.allow_redirect(dp0).unwrap();
        assert_eq!(
            dp.attach("dp0", AttachMode::Native).unwrap(),
            AttachedMode::Native
        );
        assert_eq!(
            dp.attach("dp1", AttachMode::Generic).unwrap(),
            AttachedMode::Generic
        );
        let shown = String::from_utf8(
            Command::new("ip")
                .args(["-d", "link", "show", "dp1"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(shown.contains("xdpgeneric"), "{shown}");
        let err = dp.attach("nosuch0", AttachMode::Auto).unwrap_err();
        assert!(
            matches!(err, DatapathError::UnknownInterface { .. }),
            "{err}"
        );
        dp.detach_all();
        let shown = String::from_utf8(
            Command::new("ip")
                .args(["-d", "link", "show", "dp0"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(!shown.contains("prog/xdp"), "detached: {shown}");
    })
    .expect("a private network namespace (run as root)");
}

#[test]
fn the_whole_connection_table_is_read_across_batches() {
    // More entries than one batch holds, so the walk takes several calls.
    const ENTRIES: u32 = 10_000;
    let mut p = plan();
    p.settings.max_flows = ENTRIES;
    let mut dp = Datapath::load(&p.settings).unwrap();
    let key = |i: u32| {
        Flow4Key::new(
            Ipv4Addr::from(0xc612_0000 + i),
            1024 + (i % 50_000) as u16,
            Ipv4Addr::new(198, 18, 1, 10),
            80,
            IPPROTO_UDP,
        )
    };
    for i in 0..ENTRIES {
        let half = Flow4 {
            packets: u64::from(i),
            ..Default::default()
        };
        dp.insert_flow(&key(i), &half).unwrap();
    }
    let mut read = dp.flows().unwrap();
    read.sort_by_key(|(_, half)| half.packets);
    assert_eq!(read.len(), ENTRIES as usize);
    for (i, (k, half)) in read.iter().enumerate() {
        assert_eq!((*k, half.packets), (key(i as u32), i as u64));
    }
    dp.clear_flows().unwrap();
    assert!(dp.flows().unwrap().is_empty());
}

/// In a new network namespace (this thread only) there is no route at
/// all: the kernel's answer is ENETUNREACH.
#[test]
fn empty_namespace_has_no_route() {
    in_private_netns(|| {
        let mut lookup = RouteLookup::new().unwrap();
        let r = lookup.get(Ipv4Addr::new(198, 18, 0, 1)).unwrap();
        assert_eq!(
            r,
            Err(NoRoute {
                errno: libc::ENETUNREACH
            })
        );
        assert!(r.unwrap_err().to_string().contains("unreachable"));
    })
    .expect("a private network namespace (run as root)");
}
