//! Restarts without loss: the datapath's state is pinned, so a relay that
//! crashes (SIGKILL) keeps relaying while it is down, and `fwd attach`
//! started again adopts the pinned maps and links: established TCP
//! connections go on with every byte intact. The same across an upgrade
//! (`fwd stop --keep`, then a new `fwd attach` swaps its program onto the
//! running link). A clean stop (SIGTERM) removes everything.

use std::{net::SocketAddr, time::Duration};

use integration_test::{
    longlived::Streams,
    maps_toml,
    relay::{fwd_bin, run_fwd, xdp_attached, TempDir},
    topology::{backend_addr, vip},
    traffic::{Echo, EchoServer},
    Relay, ServiceSpec, Topology,
};

/// Long-lived connections through the relay.
const STREAMS: u64 = 8;
/// Bytes the streams must move through each phase (bounded waits).
const PROGRESS: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(10);

fn maps() -> String {
    maps_toml(
        &[ServiceSpec::new(
            "web",
            format!("{}:8080", vip(0)),
            &[format!("{}:80", backend_addr(0))],
        )],
        &[],
    )
}

/// The echo server on the backend's port 80.
fn backend_echo(topo: &Topology) -> EchoServer {
    let b = &topo.backends[0];
    EchoServer::tcp(&b.ns, SocketAddr::new(b.addr().into(), 80), Echo::Same).unwrap()
}

/// [`STREAMS`] long-lived connections through the VIP, checked to move
/// data (`what` names the phase in the failure).
fn open_streams(topo: &Topology, what: &str) -> Streams {
    let streams = Streams::open(
        &topo.client.ns,
        SocketAddr::new(vip(0).into(), 8080),
        STREAMS,
    )
    .unwrap();
    assert!(streams.progress(PROGRESS, WAIT), "{what}");
    streams
}

/// The XDP program id on `ifname` in the relay namespace.
fn prog_id(topo: &Topology, ifname: &str) -> String {
    let out = topo
        .relay
        .run(&["ip", "-d", "link", "show", ifname])
        .unwrap();
    let at = out
        .find("prog/xdp id ")
        .unwrap_or_else(|| panic!("no XDP on {ifname}: {out}"));
    out[at + 12..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn crash_and_upgrade_keep_established_connections() {
    let topo = Topology::two_arm(1).unwrap();
    let ifs = topo.relay_if_names();
    let _echo = backend_echo(&topo);
    let first = Relay::start(&topo.relay, &ifs, &maps()).unwrap();
    let (pin_dir, control) = (first.pin_dir().to_owned(), first.control().to_owned());
    let same_state = [
        "--pin-dir",
        pin_dir.to_str().unwrap(),
        "--control",
        control.to_str().unwrap(),
    ];

    let streams = open_streams(&topo, "traffic before the crash");

    // Crash: the pinned datapath keeps relaying with nobody in userspace.
    let log = first.kill_leaving_state();
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic while fwd is down\n{log}"
    );
    assert!(
        !xdp_attached(&topo.relay).unwrap().is_empty(),
        "still attached while fwd is down"
    );
    // `fwd status` says so: nobody answers, but the datapath relays.
    let (status, out) = run_fwd(
        &topo.relay,
        &[
            "status",
            "--control",
            control.to_str().unwrap(),
            "--pin-dir",
            pin_dir.to_str().unwrap(),
        ],
        WAIT,
    )
    .unwrap();
    assert!(!status.success(), "{out}");
    let mut attached = ifs.clone();
    attached.sort_unstable();
    assert!(
        out.contains(&format!("still attached to {}", attached.join(", "))),
        "{out}"
    );

    // Restart: the new instance adopts the state; the connections go on.
    let second =
        Relay::start_with(&topo.relay, &fwd_bin().unwrap(), &ifs, &maps(), &same_state).unwrap();
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic after the restart"
    );
    let before_upgrade = prog_id(&topo, ifs[0]);

    // Upgrade: stop keeping the datapath, start again (a new program is
    // loaded and swapped onto the running links).
    let (status, out) = run_fwd(
        &topo.relay,
        &["stop", "--keep", "--control", control.to_str().unwrap()],
        WAIT,
    )
    .unwrap();
    assert!(status.success(), "fwd stop --keep: {out}");
    let log = second.kill_leaving_state();
    assert!(log.contains("keeps relaying"), "{log}");
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic between the two instances"
    );
    let third =
        Relay::start_with(&topo.relay, &fwd_bin().unwrap(), &ifs, &maps(), &same_state).unwrap();
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic after the upgrade"
    );
    assert_ne!(
        prog_id(&topo, ifs[0]),
        before_upgrade,
        "the new program runs on the link"
    );

    let errors = streams.finish();
    assert!(
        errors.is_empty(),
        "connections broken by the restarts: {errors:?}"
    );

    // A clean stop removes the program and the pinned state.
    let log = third.stop().unwrap();
    assert!(xdp_attached(&topo.relay).unwrap().is_empty(), "{log}");
    assert!(!pin_dir.exists(), "pinned state removed by a clean stop");
}

#[test]
fn detach_removes_what_a_crashed_instance_left() {
    let topo = Topology::two_arm(1).unwrap();
    let ifs = topo.relay_if_names();
    let relay = Relay::start(&topo.relay, &ifs, &maps()).unwrap();
    let (pin_dir, control) = (relay.pin_dir().to_owned(), relay.control().to_owned());
    relay.kill_leaving_state();
    assert!(!xdp_attached(&topo.relay).unwrap().is_empty());
    let (status, out) = run_fwd(
        &topo.relay,
        &[
            "detach",
            "--pin-dir",
            pin_dir.to_str().unwrap(),
            "--control",
            control.to_str().unwrap(),
        ],
        WAIT,
    )
    .unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("detached from"), "{out}");
    assert!(
        xdp_attached(&topo.relay).unwrap().is_empty(),
        "nothing attached after fwd detach"
    );
    assert!(!pin_dir.exists());
}

/// A second `fwd attach` with the same `--pin-dir` while the first runs
/// (another control socket, so nothing else stops it): refused, naming the
/// first's pid, and nothing of the first is touched: its connections go on
/// and its state stays pinned. Once the first is gone (killed), the same
/// command starts and adopts the state.
#[test]
fn a_second_attach_on_a_live_pin_dir_is_refused_naming_its_owner() {
    let topo = Topology::two_arm(1).unwrap();
    let ifs = topo.relay_if_names();
    let _echo = backend_echo(&topo);
    let first = Relay::start(&topo.relay, &ifs, &maps()).unwrap();
    let pin_dir = first.pin_dir().to_owned();
    let streams = open_streams(&topo, "traffic before");

    let dir = TempDir::new().unwrap();
    let map = dir.write("maps.toml", &maps()).unwrap();
    let other_control = dir.path().join("other.sock");
    // Its own control socket and no metrics listener: only the pin
    // directory is shared.
    let other = [
        "--pin-dir",
        pin_dir.to_str().unwrap(),
        "--control",
        other_control.to_str().unwrap(),
        "--metrics",
        "off",
    ];
    let mut argv = vec!["attach"];
    argv.extend_from_slice(&ifs);
    argv.extend_from_slice(&["--map", map.to_str().unwrap()]);
    argv.extend_from_slice(&other);
    let (status, output) = run_fwd(&topo.relay, &argv, WAIT).unwrap();
    assert!(!status.success(), "a second owner started:\n{output}");
    assert!(
        output.contains(&format!(
            "in use by another fwd attach (pid {})",
            first.pid()
        )),
        "the refusal must name the owner:\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        pin_dir.join("CT4").exists(),
        "the owner's state is still pinned"
    );
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic after the refused attach"
    );

    // The owner dies: the same attach now adopts its state.
    let log = first.kill_leaving_state();
    let second =
        Relay::start_with(&topo.relay, &fwd_bin().unwrap(), &ifs, &maps(), &other).unwrap();
    assert!(
        second.log().contains("adopted the datapath"),
        "{}\n(first: {log})",
        second.log()
    );
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic after the adoption"
    );
}

/// Started as operators start it under `ip netns exec`: a private mount
/// namespace with a fresh /sys, where a bpffs fwd mounted on /sys/fs/bpf
/// would die with the process, and with it every pin. fwd pins in the
/// bpffs of the mount namespace it was started from (PID 1's where it can
/// read it, else its parent's: here the test's own), so a SIGKILL restart
/// with the same flags adopts the state and every connection goes on; a
/// clean stop removes it there.
#[test]
fn under_a_private_mount_namespace_a_crash_restart_loses_no_connection() {
    let topo = Topology::two_arm(1).unwrap();
    let ifs = topo.relay_if_names();
    let _echo = backend_echo(&topo);
    // Under /sys/fs/bpf, as the default is, but of this test alone.
    let pin_dir = format!("/sys/fs/bpf/fwd-e2e-{}", std::process::id());
    // This test is the namespace fwd's parent is in.
    let on_host = std::path::PathBuf::from(&pin_dir);
    let first = Relay::start_with(
        &topo.relay,
        &fwd_bin().unwrap(),
        &ifs,
        &maps(),
        &["--pin-dir", &pin_dir],
    )
    .unwrap();
    assert!(
        first
            .log()
            .contains("a private mount namespace: pinning in"),
        "{}",
        first.log()
    );
    assert!(
        on_host.join("CT4").exists(),
        "pinned in the namespace fwd was started from"
    );
    let control = first.control().to_owned();
    let same = [
        "--pin-dir",
        &pin_dir,
        "--control",
        control.to_str().unwrap(),
    ];
    let streams = open_streams(&topo, "traffic before the crash");

    let log = first.kill_leaving_state();
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic while fwd is down\n{log}"
    );
    let second = Relay::start_with(&topo.relay, &fwd_bin().unwrap(), &ifs, &maps(), &same).unwrap();
    assert!(
        second.log().contains("adopted the datapath"),
        "{}",
        second.log()
    );
    assert!(
        streams.progress(PROGRESS, WAIT),
        "traffic after the restart"
    );
    drop(streams);
    second.stop().unwrap();
    assert!(!on_host.exists(), "a clean stop removes the host's pins");
}
