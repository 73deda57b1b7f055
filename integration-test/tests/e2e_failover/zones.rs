//! The failover tests' world: two zones serving TCP and UDP on one port,
//! the relay, clients that say which zone answered, connections held open,
//! and the relay's status and metrics.

use std::{
    io::{self, Read as _, Write as _},
    net::{SocketAddr, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use integration_test::{
    addr::sa,
    named_server::{read_name, NamedTcp, NamedUdp},
    netns::Netns,
    prometheus::http_get,
    relay::{fwd_bin, run_fwd},
    topology::{backend_addr, vip},
    traffic::pattern,
    Relay, Topology,
};
use serde_json::Value;

/// The service port (kept to the backends).
pub const PORT: u16 = 9000;
/// The zones: backend 0 and backend 1.
pub const ZONES: [&str; 2] = ["zone-a", "zone-b"];
/// Active checks of the first test.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Failed checks in a row that take a backend out (first test).
pub const FALL: u32 = 2;
/// Passed checks in a row that bring it back (first test).
pub const RISE: u32 = 2;
/// Slack on top of the configured bounds (scheduling, the reconciler).
pub const SLACK: Duration = Duration::from_secs(1);
/// Where fwd serves metrics, inside the relay's namespace.
pub const METRICS: &str = "127.0.0.1:19785";
/// Consecutive connections to the other zone that mean failover is done.
pub const STREAK: usize = 20;
/// Pause between two probing connections.
pub const PROBE_EVERY: Duration = Duration::from_millis(20);

/// The VIP and port clients connect to.
pub fn service_addr() -> SocketAddr {
    sa(vip(0), PORT)
}

/// The service file: one service on VIP 0 over both zones, with `health`
/// lines in its `[service.health]`.
pub fn maps(health: &[&str]) -> String {
    format!(
        "[[service]]\nname = \"storage\"\nlisten = \"{}\"\nbackends = [\"{}\", \"{}\"]\n\
         [service.health]\n{}\n\n[relay]\nsnat_ports = \"20000-29999\"\n",
        service_addr(),
        backend_addr(0),
        backend_addr(1),
        health.join("\n")
    )
}

/// Both zones serving TCP and UDP on [`PORT`], and the relay.
pub struct Zones {
    /// client -- relay -- bridge -- zone A, zone B.
    pub topo: Topology,
    /// The TCP servers, zone A first.
    pub tcp: Vec<NamedTcp>,
    _udp: Vec<NamedUdp>,
    /// `fwd attach`.
    pub relay: Relay,
}

/// Builds the zones and starts the relay with `health` lines.
pub fn start(health: &[&str]) -> Zones {
    let topo = Topology::two_arm(2).unwrap();
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    for (b, zone) in topo.backends.iter().zip(ZONES) {
        tcp.push(NamedTcp::start(&b.ns, sa(b.addr(), PORT), zone).unwrap());
        udp.push(NamedUdp::start(&b.ns, sa(b.addr(), PORT), zone).unwrap());
    }
    let relay = Relay::start_with(
        &topo.relay,
        &fwd_bin().unwrap(),
        &topo.relay_if_names(),
        &maps(health),
        &["--metrics", METRICS],
    )
    .unwrap();
    Zones {
        topo,
        tcp,
        _udp: udp,
        relay,
    }
}

/// A new connection to the service: the zone that answered, or the error.
pub fn probe(connect_timeout: Duration) -> io::Result<String> {
    let stream = TcpStream::connect_timeout(&service_addr(), connect_timeout)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    read_name(&stream)
}

/// A datagram to the service from a new socket (a new flow): the zone
/// that answered, or the error.
pub fn udp_probe() -> io::Result<String> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.connect(service_addr())?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    socket.send(b"who?")?;
    let mut buf = [0u8; 64];
    let n = socket.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Whether `e` is a refusal (a TCP RST, or an ICMP port unreachable).
pub fn refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}

/// Opens connections from the client (inside its namespace) every
/// [`PROBE_EVERY`] until [`STREAK`] in a row reach `zone`, at most
/// `limit`; returns how long after `since` the final streak began.
pub fn time_until_all_reach(
    client: &Netns,
    zone: &'static str,
    since: Instant,
    limit: Duration,
    connect_timeout: Duration,
) -> Duration {
    client
        .enter(move || {
            let mut streak: Option<(Instant, usize)> = None;
            let mut seen = Vec::new();
            loop {
                let at = Instant::now();
                let outcome = probe(connect_timeout);
                match &outcome {
                    Ok(z) if z == zone => {
                        let (start, n) = streak.unwrap_or((at, 0));
                        if n + 1 >= STREAK {
                            return start - since;
                        }
                        streak = Some((start, n + 1));
                    }
                    _ => streak = None,
                }
                seen.push(format!("{:?}: {outcome:?}", at - since));
                assert!(
                    at - since < limit,
                    "new connections did not all reach {zone} within {limit:?}: {seen:#?}"
                );
                thread::sleep(PROBE_EVERY);
            }
        })
        .unwrap()
}

/// A connection to `zone` (new connections are opened until one lands
/// there), exchanging a chunk every 50 ms on its own thread until stopped.
pub struct Pinger {
    stop: Arc<AtomicBool>,
    exchanges: Arc<AtomicU64>,
    thread: JoinHandle<io::Result<()>>,
}

impl Pinger {
    /// Opens it from `client`.
    pub fn open(client: &Netns, zone: &str) -> Pinger {
        let stream = (0..100)
            .find_map(|_| {
                let s = client
                    .tcp_connect(service_addr(), Duration::from_secs(2))
                    .unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                (read_name(&s).unwrap() == zone).then_some(s)
            })
            .unwrap_or_else(|| panic!("no connection reached {zone} in 100 tries"));
        let stop = Arc::new(AtomicBool::new(false));
        let exchanges = Arc::new(AtomicU64::new(0));
        let (flag, count) = (Arc::clone(&stop), Arc::clone(&exchanges));
        let thread = thread::spawn(move || {
            let mut stream = stream;
            let mut seed = 0;
            while !flag.load(Ordering::Relaxed) {
                seed += 1;
                let data = pattern(seed, 512);
                stream.write_all(&data)?;
                let mut echo = vec![0u8; data.len()];
                stream.read_exact(&mut echo)?;
                if echo != data {
                    return Err(io::Error::other(format!("exchange {seed}: echo differs")));
                }
                count.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        });
        Pinger {
            stop,
            exchanges,
            thread,
        }
    }

    /// Round trips so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Stops it; fails if any exchange failed.
    pub fn finish(self, what: &str) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let result = self.thread.join().expect("pinger thread");
        if let Err(e) = result {
            panic!("the long-lived connection to {what} broke: {e}");
        }
        self.exchanges.load(Ordering::Relaxed)
    }
}

impl Zones {
    /// `fwd status --json`.
    pub fn status(&self) -> Value {
        self.control_json("status")
    }

    /// `fwd flows --json`.
    pub fn flows(&self) -> Value {
        self.control_json("flows")
    }

    /// `fwd <command> --json` of the running relay.
    fn control_json(&self, command: &str) -> Value {
        let control = self.relay.control().to_string_lossy().into_owned();
        let argv = [command, "--control", control.as_str(), "--json"];
        let (status, out) = run_fwd(&self.topo.relay, &argv, Duration::from_secs(20)).unwrap();
        assert!(status.success(), "fwd {command}: {status}\n{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// The health object of backend `i` in `fwd status --json`.
    pub fn health(&self, i: usize) -> Value {
        let status = self.status();
        let backend = status["services"][0]["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["address"] == backend_addr(i).to_string())
            .unwrap_or_else(|| panic!("backend {i} in {status:#}"))
            .clone();
        backend["health"].clone()
    }

    /// Waits (at most `limit`) until backend `i`'s health state is `state`.
    pub fn wait_health(&self, i: usize, state: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let h = self.health(i);
            if h["state"] == state {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "backend {i} not {state} within {limit:?}: {h:#}\n{}",
                self.relay.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Packets counted under `reason` in `fwd status`.
    pub fn reason_packets(&self, reason: &str) -> u64 {
        self.status()["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["reason"] == reason)
            .map_or(0, |r| r["packets"].as_u64().unwrap())
    }

    /// Every reason's packet count, by name (for a failure message that
    /// shows where packets went).
    pub fn all_reasons(&self) -> std::collections::BTreeMap<String, u64> {
        self.status()["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["reason"].as_str().unwrap().to_string(),
                    r["packets"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The metrics exposition.
    pub fn metrics(&self) -> String {
        let r = http_get(&self.topo.relay, METRICS.parse().unwrap(), "/metrics", None).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }
}

/// One line of an exposition, by its start (name and labels).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
