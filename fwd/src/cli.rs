//! The command line: `fwd attach` and `fwd check`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::datapath::AttachMode;

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
}

/// `fwd check --map FILE`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The service map (TOML).
    #[arg(long, value_name = "FILE")]
    pub map: PathBuf,
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
        let cli = Cli::try_parse_from(["fwd", "check", "--map", "m.toml"]).unwrap();
        assert!(
            matches!(cli.command, Command::Check(CheckArgs { map }) if map == std::path::Path::new("m.toml"))
        );
    }
}
