//! The test environment: a relay with short timeouts, its control socket
//! and flow log in a directory of the test, and helpers to read both.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpStream},
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use integration_test::{
    addr::sa,
    maps_toml,
    relay::{fwd_bin, run_fwd, TempDir},
    topology::{backend_addr, vip},
    traffic::pattern,
    Relay, ServiceSpec, Topology,
};
use serde_json::Value;

/// The service's port (whole-address service: kept end to end).
pub const PORT: u16 = 9000;
/// TCP connections of the flow-log test.
pub const CONNECTIONS: u64 = 20;
/// How long a `fwd status`/`fwd flows` may take.
pub const COMMAND: Duration = Duration::from_secs(20);

/// A relay with short timeouts, its control socket and flow log in a
/// directory of the test.
pub struct Running {
    /// client -- relay -- backend, two-arm.
    pub topo: Topology,
    /// `fwd attach` with `--control` and `--flow-log`.
    pub relay: Relay,
    /// The control socket.
    pub control: PathBuf,
    flow_log: PathBuf,
    _dir: TempDir,
}

/// Builds the topology and starts the relay.
pub fn start() -> Running {
    let topo = Topology::two_arm(1).unwrap();
    let dir = TempDir::new().unwrap();
    let control = dir.path().join("fwd.sock");
    let flow_log = dir.path().join("flows.jsonl");
    let relay = start_relay(&topo, &control, &["--flow-log", flow_log.to_str().unwrap()]).unwrap();
    Running {
        topo,
        relay,
        control,
        flow_log,
        _dir: dir,
    }
}

/// One whole-address service `web` on VIP 0, short timeouts.
pub fn maps() -> String {
    maps_toml(
        &[ServiceSpec::new(
            "web",
            vip(0),
            &[backend_addr(0).to_string()],
        )],
        &[
            "snat_ports = \"20000-20999\"",
            "udp_timeout = \"2s\"",
            "tcp_transitory_timeout = \"2s\"",
            "tcp_opening_timeout = \"3s\"",
            "gc_interval = \"1s\"",
        ],
    )
}

/// Starts `fwd attach --control <control> extra...` in the relay namespace.
pub fn start_relay(
    topo: &Topology,
    control: &Path,
    extra: &[&str],
) -> integration_test::Result<Relay> {
    let mut args = vec!["--control", control.to_str().unwrap()];
    args.extend_from_slice(extra);
    Relay::start_with(
        &topo.relay,
        &fwd_bin()?,
        &topo.relay_if_names(),
        &maps(),
        &args,
    )
}

impl Running {
    /// `fwd <command> --control <socket> args... --json`, parsed; fails
    /// unless it exits 0.
    pub fn json(&self, command: &str, args: &[&str]) -> Value {
        let mut argv = vec![
            command,
            "--control",
            self.control.to_str().unwrap(),
            "--json",
        ];
        argv.extend_from_slice(args);
        let (status, out) = run_fwd(&self.topo.relay, &argv, COMMAND).unwrap();
        assert!(status.success(), "fwd {argv:?}: {status}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("fwd {argv:?}: {e}\n{out}"))
    }

    /// `fwd <command> --control <socket> args...` for people: its output.
    pub fn text(&self, command: &str, args: &[&str]) -> String {
        let mut argv = vec![command, "--control", self.control.to_str().unwrap()];
        argv.extend_from_slice(args);
        let (status, out) = run_fwd(&self.topo.relay, &argv, COMMAND).unwrap();
        assert!(status.success(), "fwd {argv:?}: {status}\n{out}");
        out
    }

    /// Every line of the flow log so far.
    pub fn log(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.flow_log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    /// Waits (at most `timeout`) until the log satisfies `done`.
    pub fn wait_log(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.log();
            if done(&lines) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not in the flow log within {timeout:?}:\n{lines:#?}\n{}",
                self.relay.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The lines of one event kind (`start`, `end`).
pub fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == kind).collect()
}

/// A JSON count.
pub fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Connects to the VIP, reads the backend's `peer <addr>` line, sends a
/// little data, closes its side and reads the echo to the end. Returns
/// (the client's address, the SNAT address:port the backend saw), and the
/// still open stream when `keep_open`.
pub fn tcp_exchange(
    topo: &Topology,
    seed: u64,
    keep_open: bool,
) -> (String, String, Option<TcpStream>) {
    let stream = topo
        .client
        .ns
        .tcp_connect(sa(vip(0), PORT), Duration::from_secs(5))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let client = stream.local_addr().unwrap().to_string();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let snat = line.trim().strip_prefix("peer ").unwrap().to_string();
    if keep_open {
        return (client, snat, Some(stream));
    }
    let data = pattern(seed, 1000);
    (&stream).write_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut echo = Vec::new();
    reader.read_to_end(&mut echo).unwrap();
    assert!(echo == data, "connection {seed}: echo differs");
    (client, snat, None)
}
