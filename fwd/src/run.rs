//! The commands: `fwd check`, `fwd status`, `fwd flows` and `fwd attach`
//! (the orchestration of checks, load, install, sysctls, attach, the
//! running tasks and shutdown).

use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use log::{info, warn};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    cli::{AttachArgs, CheckArgs, Cli, Command, StatusArgs},
    config::Config,
    control::{self, client::ClientError, protocol::FlowFilter, ControlSocket},
    datapath::{bpffs, pin, Datapath, Origin},
    dns,
    flowlog::{FlowLog, FlowLogTarget},
    host::{self, sysctl, HostError, HostFacts, Interface},
    metrics,
    pipeline::{self, Desired},
    plan::{proto_name, Plan, PlannedService},
    reconcile::Reconciler,
    report,
    state::{AttachedInterface, Shared},
    tasks,
    text::error_chain,
};

/// Runs a parsed command line.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Status(args) => status(&args),
        Command::Flows(args) => {
            let filter = FlowFilter {
                service: args.service,
                client: args.client,
                backend: args.backend,
                snat: args.snat,
            };
            Ok(control::client::flows(&args.control, filter, args.json)?)
        }
        Command::Reload(args) => say(control::lifecycle::reload(&args.control)?),
        Command::Stop(args) => say(control::lifecycle::stop(&args.control, args.keep)?),
        Command::Detach(args) => say(control::lifecycle::detach(&args.control, &args.pin_dir)?),
        Command::Attach(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(attach(&args))
        }
    }
}

/// Prints a command's one-line result.
fn say(message: String) -> anyhow::Result<()> {
    print!("{message}");
    Ok(())
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let config = Config::load(path).with_context(|| format!("service map {}", path.display()))?;
    for w in &config.warnings {
        warn!("{}: {w}", path.display());
    }
    Ok(config)
}

/// `fwd check`: validate, then print what would be installed (backend
/// names resolved now).
pub fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let config = load_config(&args.map)?;
    let lookups = dns::check_names(&config).map_err(|e| error_chain(&e));
    let answers: dns::Answers = lookups
        .iter()
        .flatten()
        .filter_map(|(name, r)| Some((name.clone(), r.as_ref().ok()?.addrs.clone())))
        .collect();
    let expanded = pipeline::expand(&config, &answers);
    let facts = HostFacts::gather(&expanded).map_err(|e| error_chain(&e));
    print!(
        "{}",
        report::render(&expanded, facts.as_ref().map_err(String::as_str))
    );
    let servers = dns::Servers::of(&config.dns_servers);
    print!("{}", dns::report::render_check(&servers, &lookups));
    Ok(())
}

/// `fwd attach`: every check first (and the control socket, so that a
/// second instance stops here); then load, install, sysctls, attach; then
/// the GC, the flow events and the control socket until SIGINT or SIGTERM;
/// then detach.
pub async fn attach(args: &AttachArgs) -> anyhow::Result<()> {
    // Installed first so that a signal during setup stops fwd cleanly.
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    // Checks: nothing is installed or changed until all have passed.
    host::check_privileges()?;
    let config = load_config(&args.map)?;
    let interfaces = host::resolve_interfaces(&args.interfaces)?;
    // Backend names: resolved now (one that does not resolve stops fwd);
    // the checks and the plan see their addresses.
    let resolved = dns::resolve_all(&config).await?;
    let desired = Desired {
        config,
        interfaces,
        down: Default::default(),
        resolved: dns::answers_of(&resolved),
    };
    let plan = pipeline::plan_of(&desired)?;
    let interfaces = &desired.interfaces;
    let mut control_socket = ControlSocket::bind(&args.control)?;
    // Bound before anything is installed: an address in use stops fwd here.
    let metrics_listener = metrics::bind(args.metrics)?;
    let flow_log = match &args.flow_log {
        Some(arg) => {
            let target = FlowLogTarget::parse(arg);
            let log = FlowLog::open(&target)?;
            info!("flow log: {target}");
            Some(log)
        }
        None => None,
    };

    let pin_dir = bpffs::durable(&args.pin_dir).context("choosing where to pin")?;
    let mut datapath =
        Datapath::open_pinned(&plan.settings, &pin_dir).context("loading the XDP program")?;
    match datapath.origin() {
        Origin::Fresh => info!("state pinned in {}", pin_dir.display()),
        Origin::Adopted { ct_entries } => info!(
            "adopted the datapath pinned in {} ({} flows): no flow is lost",
            pin_dir.display(),
            ct_entries / 2
        ),
    }
    let attached = match prepare(&mut datapath, &plan, interfaces, &pin_dir, args.mode) {
        Ok(attached) => attached,
        // State this run created is undone: interfaces detached, nothing
        // left pinned for the next start to take for an adopted datapath.
        Err(e) if datapath.origin() == Origin::Fresh => {
            datapath.detach_all();
            if let Err(r) = datapath.remove_pins() {
                warn!("removing the pinned state: {}", error_chain(&r));
            }
            return Err(e);
        }
        // An adopted datapath was relaying before: it stays pinned and
        // attached, for the next start to adopt again.
        Err(e) => return Err(e),
    };
    for s in &plan.services {
        info!("{}", describe(s));
    }

    let events = datapath.take_flow_events();
    let fragments = datapath.take_held_fragments();
    let shared = Arc::new(Shared::new(datapath, plan, attached));
    shared.dns.set_names(&dns::names(&desired.config));
    for (name, answer) in &resolved {
        shared.dns.record_answer(name, answer);
        let addrs: Vec<String> = answer.addrs.iter().map(ToString::to_string).collect();
        info!(
            "dns: {name} resolves to {} (TTL {} s)",
            addrs.join(", "),
            answer.ttl.as_secs()
        );
    }
    shared.set_reconciler(Reconciler::new(desired, args.map.clone()));
    let listener = match control_socket.take_listener() {
        Ok(l) => l,
        Err(e) => {
            tasks::detach(shared).await;
            return Err(e).context("serving the control socket");
        }
    };
    let tasks = tasks::Tasks::start(&shared, events, fragments, flow_log, listener);
    let metrics_server = match metrics_listener
        .map(|l| l.serve(Arc::clone(&shared)))
        .transpose()
    {
        Ok(server) => server,
        Err(e) => {
            tasks.stop().await;
            tasks::detach(shared).await;
            return Err(e).context("serving metrics");
        }
    };
    if let Some(m) = &metrics_server {
        info!("metrics: http://{}/metrics", m.local_addr());
    }
    info!("control socket: {}", control_socket.path().display());
    info!("ready");

    let keep = tasks::run_until_stop(&shared, &mut sigterm, &mut sigint).await;
    if let Some(m) = metrics_server {
        m.shutdown().await;
    }
    tasks.stop().await;
    if keep {
        tasks::release(shared).await;
        info!(
            "exiting; the datapath keeps relaying, pinned in {}: `fwd attach` adopts it, `fwd detach` removes it",
            args.pin_dir.display()
        );
    } else {
        tasks::detach(shared).await;
    }
    drop(control_socket);
    Ok(())
}

/// The kernel settings the relay needs on the interfaces it serves.
fn enable_sysctls(interfaces: &[Interface]) -> Result<(), HostError> {
    if let Some(old) = sysctl::ensure("net.ipv4.ip_forward", "1")? {
        info!("enabling IPv4 forwarding (net.ipv4.ip_forward was {old})");
    }
    // The datapath hands some already-translated packets to the kernel (when
    // the next hop has no neighbour entry yet, so the kernel resolves it).
    // Those packets carry the relay's own address as their source; without
    // accept_local the kernel drops them as martians.
    for i in interfaces {
        let key = sysctl::accept_local_key(&i.name);
        if let Some(old) = sysctl::ensure(&key, "1")? {
            info!("setting {key} = 1 (was {old}): translated packets the kernel forwards have a local source");
        }
    }
    Ok(())
}

/// One log line per service: `aix-01 198.18.82.70 (any) -> 198.19.150.195 snat 198.19.0.1`.
pub fn describe(s: &PlannedService) -> String {
    let listen = match s.port {
        Some(p) => format!("{}:{p}", s.vip),
        None => s.vip.to_string(),
    };
    let proto = match s.protocols.as_slice() {
        [one] => proto_name(*one),
        _ => "any",
    };
    let backends: Vec<String> = s
        .backends
        .iter()
        .map(|b| match b.port {
            Some(p) => format!("{}:{p} snat {}", b.addr, b.snat),
            None => format!("{} snat {}", b.addr, b.snat),
        })
        .collect();
    format!("{} {listen} ({proto}) -> {}", s.name, backends.join(", "))
}

/// Everything `fwd attach` does to the datapath after opening it: stale
/// links unpinned, the plan installed, the sysctls, the redirect targets
/// and the interfaces' addresses, the attachments. On an error the caller
/// undoes what this run created (see [`attach`]).
fn prepare(
    datapath: &mut Datapath,
    plan: &Plan,
    interfaces: &[Interface],
    pin_dir: &Path,
    mode: crate::cli::ModeArg,
) -> anyhow::Result<Vec<AttachedInterface>> {
    // Interfaces an earlier run attached to and this one does not name: the
    // program leaves them.
    for stale in pin::pinned_link_names(pin_dir) {
        if !interfaces.iter().any(|i| i.name == stale) {
            let path = pin::link_path(pin_dir, &stale);
            std::fs::remove_file(&path).with_context(|| format!("unpinning {}", path.display()))?;
            warn!("detached from {stale}: attached by an earlier run, not named now");
        }
    }
    datapath
        .install(plan)
        .context("installing the service map")?;
    enable_sysctls(interfaces)?;
    // Redirect targets first, so that the program never runs without them;
    // with the address each answers from as a router.
    let addrs = host::ifaces::local_addrs().context("listing local addresses")?;
    for i in interfaces {
        datapath.allow_redirect(i.index)?;
        match addrs.iter().find(|a| a.ifname == i.name) {
            Some(a) => datapath.set_interface_addr(i.index, a.addr)?,
            None => warn!(
                "{}: no IPv4 address: packets whose TTL expires here go to the kernel, \
                 and packets too big for their egress are dropped without \
                 \"fragmentation needed\"",
                i.name
            ),
        }
    }
    let mut attached = Vec::new();
    for i in interfaces {
        let mode = datapath.attach(&i.name, mode.into())?;
        info!("attached to {} ({mode} mode)", i.name);
        attached.push(AttachedInterface {
            name: i.name.clone(),
            ifindex: i.index,
            mode,
        });
    }
    Ok(attached)
}

/// `fwd status`; with no instance answering, says whether a datapath
/// pinned by a stopped or crashed one is still attached and relaying.
fn status(args: &StatusArgs) -> anyhow::Result<()> {
    match control::client::status(&args.control, args.json) {
        Err(e @ (ClientError::NoSocket { .. } | ClientError::NotAnswering { .. })) => {
            let links = pin::pinned_link_names(&args.pin_dir);
            if links.is_empty() {
                return Err(e.into());
            }
            anyhow::bail!(
                "{e}; but the datapath pinned in {} is still attached to {} and relays \
                 established flows, with nothing expiring them or serving metrics: \
                 `fwd attach` adopts it, `fwd detach` removes it",
                args.pin_dir.display(),
                links.join(", ")
            )
        }
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::plan::PlannedBackend;

    #[test]
    fn service_log_lines() {
        let s = PlannedService {
            id: 0,
            name: "aix-01".into(),
            vip: Ipv4Addr::new(198, 18, 82, 70),
            port: None,
            protocols: vec![fwd_common::IPPROTO_TCP, fwd_common::IPPROTO_UDP],
            mss_clamp: Default::default(),
            access: Default::default(),
            backends: vec![PlannedBackend {
                id: 0,
                addr: Ipv4Addr::new(198, 19, 150, 195),
                port: None,
                snat: Ipv4Addr::new(198, 19, 0, 1),
                weight: 1,
            }],
        };
        assert_eq!(
            describe(&s),
            "aix-01 198.18.82.70 (any) -> 198.19.150.195 snat 198.19.0.1"
        );
        let mut s = s;
        s.port = Some(8080);
        s.protocols = vec![fwd_common::IPPROTO_TCP];
        s.backends[0].port = Some(80);
        s.backends.push(PlannedBackend {
            id: 1,
            addr: Ipv4Addr::new(198, 19, 150, 196),
            ..s.backends[0]
        });
        assert_eq!(
            describe(&s),
            "aix-01 198.18.82.70:8080 (tcp) -> 198.19.150.195:80 snat 198.19.0.1, 198.19.150.196:80 snat 198.19.0.1"
        );
    }
}
