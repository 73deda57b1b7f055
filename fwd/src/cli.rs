//! The command line: `fwd attach`, `fwd check`, `fwd status`, `fwd flows`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{control::protocol::AddrFilter, datapath::AttachMode};

/// fwd: a kernel-accelerated L4 relay (XDP). It rewrites VIP:port to
/// backend:port and the source to the relay's own address, so backends
/// answer through the relay.
#[derive(Debug, Parser)]
#[command(name = "fwd", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the host, install the service map, attach to the interfaces and
    /// relay until SIGINT or SIGTERM (runs in the foreground; needs root).
    Attach(AttachArgs),
    /// Validate a service map and show what `attach` would install.
    Check(CheckArgs),
    /// Show the running instance: interfaces, services and their traffic,
    /// packets by reason, connection table, flow events lost, GC.
    Status(StatusArgs),
    /// List the running instance's live flows (e.g. `--snat IP:PORT`: which
    /// client is behind this relay port).
    Flows(FlowsArgs),
    /// Make the running instance re-read its service file (as SIGHUP does):
    /// validated and checked whole, applied atomically, or nothing changes.
    Reload(ReloadArgs),
    /// Stop the running instance; with --keep the datapath keeps relaying,
    /// pinned, for the next `fwd attach` (upgrades without losing flows).
    Stop(StopArgs),
    /// Remove everything: stop a running instance, detach the program and
    /// remove the pinned state a stopped or killed instance left.
    Detach(DetachArgs),
}

/// `fwd reload [--control PATH]`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The control socket of the running instance.
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
}

/// `fwd stop [--keep] [--control PATH]`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Leave the datapath attached and its state pinned.
    #[arg(long)]
    pub keep: bool,
    /// The control socket of the running instance.
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
}

/// `fwd detach [--pin-dir DIR] [--control PATH]`.
#[derive(Debug, Args)]
pub struct DetachArgs {
    /// Where the state is pinned.
    #[arg(long, value_name = "DIR", default_value = crate::datapath::pin::DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    /// The control socket of a running instance.
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
}

/// `fwd attach <IFACE>... --map FILE [--mode auto|native|generic]`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Interfaces to attach to: where clients' packets arrive and where the
    /// routes to the backends leave.
    #[arg(required = true, value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// The service map (TOML).
    #[arg(long, value_name = "FILE")]
    pub map: PathBuf,
    /// XDP mode: native (in the driver), generic (in the stack), or auto
    /// (native, else generic with a warning).
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
    /// Write one JSON line per flow start and end to this file (appended,
    /// created if missing), or to standard output with `-`. Off by default.
    #[arg(long, value_name = "PATH")]
    pub flow_log: Option<String>,
    /// Where the maps and XDP links are pinned (bpffs): state left there by
    /// an earlier run is adopted, so a restart or an upgrade loses no flow.
    #[arg(long, value_name = "DIR", default_value = crate::datapath::pin::DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    /// The control socket that `fwd status` and `fwd flows` ask.
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
    /// Serve Prometheus metrics at http://ADDR/metrics (ADDRESS:PORT), or
    /// `off`. The default listens on loopback only.
    #[arg(long, value_name = "ADDR|off", default_value = crate::metrics::DEFAULT_ADDR)]
    pub metrics: crate::metrics::MetricsAddr,
}

/// `fwd check --map FILE`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The service map (TOML).
    #[arg(long, value_name = "FILE")]
    pub map: PathBuf,
}

/// `fwd status [--control PATH] [--pin-dir DIR] [--json]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The control socket of the instance to ask.
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
    /// Where a stopped or crashed instance may have left its datapath
    /// pinned (said when no instance answers).
    #[arg(long, value_name = "DIR", default_value = crate::datapath::pin::DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `fwd flows [--service NAME] [--client IP[:PORT]] [--backend IP[:PORT]]
/// [--snat IP[:PORT]] [--control PATH] [--json]`.
#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// Only flows of this service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Only flows from this client address (and port).
    #[arg(long, value_name = "IP[:PORT]")]
    pub client: Option<AddrFilter>,
    /// Only flows to this backend address (and port).
    #[arg(long, value_name = "IP[:PORT]")]
    pub backend: Option<AddrFilter>,
    /// Only flows with this SNAT address (and port), as the backend sees
    /// them.
    #[arg(long, value_name = "IP[:PORT]")]
    pub snat: Option<AddrFilter>,
    /// The control socket of the instance to ask.
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
    /// Print the flows as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `--mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Native, falling back to generic.
    Auto,
    /// Native only.
    Native,
    /// Generic only.
    Generic,
}

impl From<ModeArg> for AttachMode {
    fn from(m: ModeArg) -> AttachMode {
        match m {
            ModeArg::Auto => AttachMode::Auto,
            ModeArg::Native => AttachMode::Native,
            ModeArg::Generic => AttachMode::Generic,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn attach_arguments() {
        let cli =
            Cli::try_parse_from(["fwd", "attach", "eth0", "eth1", "--map", "maps.toml"]).unwrap();
        let Command::Attach(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.interfaces, vec!["eth0", "eth1"]);
        assert_eq!(a.map, PathBuf::from("maps.toml"));
        assert_eq!(AttachMode::from(a.mode), AttachMode::Auto);
        let cli = Cli::try_parse_from(["fwd", "attach", "eth0", "--map", "m", "--mode", "generic"])
            .unwrap();
        let Command::Attach(a) = cli.command else {
            panic!()
        };
        assert_eq!(AttachMode::from(a.mode), AttachMode::Generic);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(
            Cli::try_parse_from(["fwd", "attach", "--map", "m"]).is_err(),
            "no interface"
        );
        assert!(
            Cli::try_parse_from(["fwd", "attach", "eth0"]).is_err(),
            "no map"
        );
        assert!(
            Cli::try_parse_from(["fwd", "attach", "eth0", "--map", "m", "--mode", "fast"]).is_err()
        );
        assert!(Cli::try_parse_from(["fwd", "check"]).is_err());
        assert!(Cli::try_parse_from(["fwd", "flows", "--snat", "198.19.0.1:x"]).is_err());
        assert!(Cli::try_parse_from(["fwd", "flows", "--client", "host:80"]).is_err());
        let cli = Cli::try_parse_from(["fwd", "check", "--map", "m.toml"]).unwrap();
        assert!(
            matches!(cli.command, Command::Check(CheckArgs { map }) if map == std::path::Path::new("m.toml"))
        );
    }

    #[test]
    fn status_and_flows_arguments() {
        let cli = Cli::try_parse_from(["fwd", "status"]).unwrap();
        let Command::Status(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.control, PathBuf::from("/run/fwd/fwd.sock"));
        assert!(!a.json);
        let cli = Cli::try_parse_from([
            "fwd",
            "flows",
            "--service",
            "web",
            "--client",
            "198.18.0.2",
            "--backend",
            "198.19.0.10:80",
            "--snat",
            "198.19.0.1:20001",
            "--control",
            "/tmp/f.sock",
            "--json",
        ])
        .unwrap();
        let Command::Flows(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.service.as_deref(), Some("web"));
        assert_eq!(a.client.unwrap().to_string(), "198.18.0.2");
        assert_eq!(a.backend.unwrap().to_string(), "198.19.0.10:80");
        assert_eq!(a.snat.unwrap().port, Some(20001));
        assert_eq!(a.control, PathBuf::from("/tmp/f.sock"));
        assert!(a.json);
        let cli = Cli::try_parse_from([
            "fwd",
            "attach",
            "eth0",
            "--map",
            "m",
            "--flow-log",
            "-",
            "--control",
            "/tmp/c.sock",
        ])
        .unwrap();
        let Command::Attach(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.flow_log.as_deref(), Some("-"));
        assert_eq!(a.control, PathBuf::from("/tmp/c.sock"));
        let cli = Cli::try_parse_from(["fwd", "attach", "eth0", "--map", "m"]).unwrap();
        let Command::Attach(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.flow_log, None, "the flow log is off by default");
        assert_eq!(a.control, PathBuf::from("/run/fwd/fwd.sock"));
    }

    #[test]
    fn metrics_argument() {
        use crate::metrics::MetricsAddr;
        let attach = |extra: &[&str]| {
            let mut argv = vec!["fwd", "attach", "eth0", "--map", "m"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Attach(a)) => Ok(a.metrics),
                Ok(_) => panic!("not attach"),
                Err(e) => Err(e),
            }
        };
        assert_eq!(
            attach(&[]).unwrap(),
            MetricsAddr::Listen("127.0.0.1:9785".parse().unwrap()),
            "loopback by default"
        );
        assert_eq!(attach(&["--metrics", "off"]).unwrap(), MetricsAddr::Off);
        assert_eq!(
            attach(&["--metrics", "0.0.0.0:9100"]).unwrap(),
            MetricsAddr::Listen("0.0.0.0:9100".parse().unwrap())
        );
        assert!(attach(&["--metrics", "9100"]).is_err());
    }
}
