//! State pinned under bpffs survives the process: a second datapath opened
//! on the same pin directory adopts the maps (flows, counters) and the XDP
//! attachment, and forwards the first one's flows unchanged; a datapath
//! that needs differently shaped maps is refused without touching them; a
//! clean stop removes everything.

use std::{path::PathBuf, process::Command};

use fwd::{
    config::RelaySettings,
    datapath::{AttachMode, AttachedMode, Datapath, DatapathError, Origin},
};
use fwd_common::{counters::xdp_action, flow::tcp_flags::*, Reason};
use integration_test::{
    addr::sa,
    packet::{parse, PacketBuilder},
};

use integration_test::prog_test_run::{
    env::{self, *},
    run::run,
};

/// Removes the test's pin directory however the test ends.
struct PinDir(PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = fwd::datapath::pin::remove_all(&self.0);
    }
}

fn xdp_on(ifname: &str) -> bool {
    let out = Command::new("ip")
        .args(["-d", "link", "show", ifname])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

fn open(settings: &RelaySettings, dir: &PinDir) -> Datapath {
    let mut dp = Datapath::open_pinned(settings, &dir.0).expect("open pinned");
    dp.install(&env::plan()).expect("install");
    dp.allow_redirect(ifindex(CLIENT_IF)).unwrap();
    dp.allow_redirect(ifindex(BACKEND_IF)).unwrap();
    dp
}

pub fn pinned_state_survives_a_restart() {
    let dir = PinDir(PathBuf::from(format!(
        "/sys/fs/bpf/fwd-test-{}-pinned",
        std::process::id()
    )));
    let _ = fwd::datapath::pin::remove_all(&dir.0);
    let settings = env::settings();
    let syn = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, VIP_TCP_PORT), SYN)
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();
    let ack = PacketBuilder::tcp(sa(CLIENT, 40000), sa(VIP, VIP_TCP_PORT), ACK)
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build();

    // First run: a flow, an attachment; then the process "dies" (no detach).
    let (snat, port_key) = {
        let mut first = open(&settings, &dir);
        assert_eq!(first.origin(), Origin::Fresh);
        let port_key = first.relay_config().unwrap().port_key;
        assert_ne!(
            port_key, [0; 4],
            "a fresh datapath draws its SNAT port secret"
        );
        assert_eq!(
            first.attach(CLIENT_IF, AttachMode::Generic).unwrap(),
            AttachedMode::Generic
        );
        let out = run(&mut first, ifindex(CLIENT_IF), &syn);
        assert_eq!(out.action, xdp_action::REDIRECT);
        (parse(&out.frame).unwrap().src, port_key)
    };
    assert!(
        xdp_on(CLIENT_IF),
        "the pinned link keeps the program attached"
    );

    // A different table size is refused, naming the map; nothing changes.
    let bigger = RelaySettings {
        max_flows: settings.max_flows * 2,
        ..settings.clone()
    };
    match Datapath::open_pinned(&bigger, &dir.0) {
        Err(e @ DatapathError::IncompatiblePin { .. }) => {
            assert!(e.to_string().contains("CT4"), "{e}")
        }
        Err(e) => panic!("expected IncompatiblePin, got {e}"),
        Ok(_) => panic!("an incompatible pinned map must not be adopted"),
    }

    // Second run adopts the flow, the counters and the attachment.
    let mut second = open(&settings, &dir);
    assert_eq!(second.origin(), Origin::Adopted { ct_entries: 2 });
    assert_eq!(
        second.relay_config().unwrap().port_key,
        port_key,
        "the SNAT port secret is kept with the pinned state"
    );
    assert_eq!(
        second.attach(CLIENT_IF, AttachMode::Generic).unwrap(),
        AttachedMode::Adopted
    );
    let out = run(&mut second, ifindex(CLIENT_IF), &ack);
    assert_eq!(out.action, xdp_action::REDIRECT);
    assert_eq!(
        parse(&out.frame).unwrap().src,
        snat,
        "the adopted flow keeps its SNAT port"
    );
    let redirected = second
        .reason_stats()
        .unwrap()
        .iter()
        .find(|(r, _)| *r == Reason::ForwardedRedirect)
        .unwrap()
        .1;
    assert_eq!(redirected.packets, 2, "counters survive the restart");

    // A clean stop removes the program and every pin.
    second.detach_all();
    second.remove_pins().unwrap();
    drop(second);
    assert!(!xdp_on(CLIENT_IF), "detached");
    assert!(!dir.0.exists(), "pins removed");
}
