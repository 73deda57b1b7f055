//! Starting each competitor's relay in its arena's relay namespace.

use std::{
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{
    arena::{backend, the_vip, Arena},
    competitor::Competitor,
    host::{self, RELAY_CPU},
    infra::{
        process::{run, Background},
        relay::TempDir,
        topology::RELAY_BACKEND_ADDR,
        Netns, Relay,
    },
};

/// How long a userspace relay may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the relay must serve in a test: userspace relays listen per port;
/// the NAT competitors and fwd relay every port of the VIP.
#[derive(Clone, Debug, Default)]
pub(crate) struct Serves {
    /// A UDP port (socat relays one UDP peer on it).
    pub udp: Option<u16>,
    /// TCP ports.
    pub tcp: Vec<u16>,
    /// fwd's `max_flows`.
    pub max_flows: u32,
}

/// The running relay of an arena. Stopped on drop (the processes are
/// killed; the namespace's removal ends the rest).
pub(crate) enum RelayProcess {
    /// D1, C1, C2: the kernel relays; nothing runs.
    None,
    /// fwd, and the directory of its control socket.
    Fwd {
        /// The running `fwd attach`.
        relay: Box<Relay>,
        /// Removed after fwd stopped.
        _control: TempDir,
    },
    /// socat or HAProxy, and the directory holding HAProxy's config.
    Processes {
        /// The processes.
        procs: Vec<Background>,
        /// Removed after they stopped.
        _config: Option<TempDir>,
    },
}

impl RelayProcess {
    /// Sets up `arena.competitor`'s relay.
    pub(crate) fn start(arena: &Arena, serves: &Serves, fwd: &Path) -> Result<RelayProcess> {
        let ns = &arena.relay;
        let vip = the_vip();
        let backend = backend();
        let out_if = arena.ifs.relay_backend.as_str();
        match arena.competitor {
            Competitor::Routing => Ok(RelayProcess::None),
            Competitor::Iptables => {
                let (vip, backend, snat) = (
                    vip.to_string(),
                    backend.to_string(),
                    RELAY_BACKEND_ADDR.to_string(),
                );
                ns.run(&[
                    "iptables-legacy",
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-d",
                    &vip,
                    "-j",
                    "DNAT",
                    "--to-destination",
                    &backend,
                ])?;
                ns.run(&[
                    "iptables-legacy",
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    out_if,
                    "-j",
                    "SNAT",
                    "--to-source",
                    &snat,
                ])?;
                Ok(RelayProcess::None)
            }
            Competitor::Nftables => {
                let dir = TempDir::new()?;
                let rules = format!(
                    "table ip bench {{\n\
                     \tchain prerouting {{ type nat hook prerouting priority dstnat; ip daddr {vip} dnat to {backend}; }}\n\
                     \tchain postrouting {{ type nat hook postrouting priority srcnat; oifname \"{out_if}\" snat to {RELAY_BACKEND_ADDR}; }}\n\
                     }}\n"
                );
                let file = dir.write("rules.nft", &rules)?;
                ns.run(&["nft", "-f", &file.to_string_lossy()])?;
                Ok(RelayProcess::None)
            }
            Competitor::Socat => {
                ns.sysctl("net.ipv4.ip_local_port_range", "1024 65535")?;
                ns.ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"])?;
                let mut procs = Vec::new();
                if let Some(port) = serves.udp {
                    procs.push(pinned(
                        ns,
                        &[
                            "socat",
                            &format!("UDP4-LISTEN:{port},bind={vip},reuseaddr"),
                            &format!("UDP4:{backend}:{port}"),
                        ],
                    )?);
                }
                for port in &serves.tcp {
                    procs.push(pinned(
                        ns,
                        &[
                            "socat",
                            &format!("TCP4-LISTEN:{port},bind={vip},reuseaddr,fork,backlog=4096"),
                            &format!("TCP4:{backend}:{port}"),
                        ],
                    )?);
                }
                wait_listening(ns, serves, &mut procs)?;
                Ok(RelayProcess::Processes {
                    procs,
                    _config: None,
                })
            }
            Competitor::Haproxy => {
                ns.sysctl("net.ipv4.ip_local_port_range", "1024 65535")?;
                ns.ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"])?;
                if serves.tcp.is_empty() {
                    return Ok(RelayProcess::None);
                }
                let dir = TempDir::new()?;
                let cfg = dir.write("haproxy.cfg", &haproxy_config(&serves.tcp))?;
                let cfg = cfg.to_string_lossy();
                let mut procs = vec![pinned(ns, &["haproxy", "-db", "-f", &cfg])?];
                wait_listening(ns, serves, &mut procs)?;
                Ok(RelayProcess::Processes {
                    procs,
                    _config: Some(dir),
                })
            }
            Competitor::Fwd => {
                let toml = format!(
                    "[[service]]\nname = \"bench\"\nlisten = \"{vip}\"\nbackends = [\"{backend}\"]\n\n\
                     [relay]\nmax_flows = {}\n",
                    serves.max_flows
                );
                let ifs = [arena.ifs.relay_client.as_str(), out_if];
                let control = TempDir::new()?;
                let socket = control.path().join("fwd.sock");
                let socket = socket.to_string_lossy();
                let mut extra = vec!["--mode", "native"];
                let help = Command::new(fwd).args(["attach", "--help"]).output();
                let help = help
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                // Other fwd instances (tests) may run on this host: use a
                // control socket of our own where fwd has one.
                if help.contains("--control") {
                    extra.extend_from_slice(&["--control", &socket]);
                }
                let relay = Relay::start_with(ns, fwd, &ifs, &toml, &extra)
                    .context("starting fwd attach")?;
                host::pin_process(relay.pid(), RELAY_CPU)?;
                Ok(RelayProcess::Fwd {
                    relay: Box::new(relay),
                    _control: control,
                })
            }
        }
    }

    /// fwd's pid, for its BPF statistics.
    pub(crate) fn fwd_pid(&self) -> Option<u32> {
        match self {
            RelayProcess::Fwd { relay, .. } => Some(relay.pid()),
            _ => None,
        }
    }

    /// Fails with the output of a relay process that ended.
    pub(crate) fn check_running(&mut self) -> Result<()> {
        match self {
            RelayProcess::None => Ok(()),
            RelayProcess::Fwd { relay, .. } => Ok(relay.check_running()?),
            RelayProcess::Processes { procs, .. } => {
                for p in procs {
                    if let Some(status) = p.try_wait()? {
                        bail!("`{}` exited ({status}):\n{}", p.command(), p.output());
                    }
                }
                Ok(())
            }
        }
    }
}

/// Starts `argv` in `ns` on the relay's CPU (children inherit it).
fn pinned(ns: &Netns, argv: &[&str]) -> Result<Background> {
    let cpu = RELAY_CPU.to_string();
    let mut full = vec!["taskset", "-c", cpu.as_str()];
    full.extend_from_slice(argv);
    Ok(ns.spawn(&full)?)
}

/// HAProxy relaying `ports` of the VIP to the same ports of the backend.
fn haproxy_config(ports: &[u16]) -> String {
    let vip = the_vip();
    let binds: String = ports
        .iter()
        .map(|p| format!("    bind {vip}:{p}\n"))
        .collect();
    format!(
        "global\n    nbthread 1\n    maxconn 9000\n\n\
         defaults\n    mode tcp\n    maxconn 9000\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\n\
         frontend bench\n{binds}    default_backend backends\n\n\
         backend backends\n    server b0 {}\n",
        backend()
    )
}

/// Waits (bounded) until every port of `serves` is listening in `ns`.
fn wait_listening(ns: &Netns, serves: &Serves, procs: &mut [Background]) -> Result<()> {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    loop {
        let tcp = run(ns.command("ss").args(["-Hltn"]))?;
        let udp = run(ns.command("ss").args(["-Hlun"]))?;
        let listening = |text: &str, port: u16| {
            text.lines().any(|l| {
                l.split_whitespace()
                    .any(|w| w.ends_with(&format!(":{port}")))
            })
        };
        let missing: Vec<String> = serves
            .tcp
            .iter()
            .filter(|p| !listening(&tcp, **p))
            .map(|p| format!("tcp/{p}"))
            .chain(
                serves
                    .udp
                    .filter(|p| !listening(&udp, *p))
                    .map(|p| format!("udp/{p}")),
            )
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for p in procs.iter_mut() {
            if let Some(status) = p.try_wait()? {
                bail!("`{}` exited ({status}):\n{}", p.command(), p.output());
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "not listening after {LISTEN_TIMEOUT:?}: {}",
                missing.join(", ")
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}
