//! Writing the service map file (`maps.toml`) that `fwd attach --map` reads.
//!
//! Only what the tests need, in the format documented in `fwd/src/config`:
//! `[[service]]` tables with `name`, `listen`, `protocol`, `backends`, and
//! an optional `[relay]` table given as raw TOML lines.

use std::fmt::Write as _;

/// One `[[service]]` of a map file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// `name`.
    pub name: String,
    /// `listen`: `A.B.C.D` (whole address) or `A.B.C.D:PORT`.
    pub listen: String,
    /// `protocol`: `Some("tcp" | "udp" | "any")`, or `None` for the default.
    pub protocol: Option<String>,
    /// `backends`: `A.B.C.D` (port kept) or `A.B.C.D:PORT`.
    pub backends: Vec<String>,
}

impl ServiceSpec {
    /// A service `name` listening on `listen` with `backends`, every
    /// protocol.
    pub fn new(name: &str, listen: impl ToString, backends: &[String]) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            listen: listen.to_string(),
            protocol: None,
            backends: backends.to_vec(),
        }
    }

    /// Restricts the service to one protocol (`"tcp"`, `"udp"`, `"any"`).
    pub fn protocol(mut self, protocol: &str) -> ServiceSpec {
        self.protocol = Some(protocol.to_string());
        self
    }
}

/// A map file with `services` and, unless empty, a `[relay]` table made of
/// `relay_lines` (e.g. `snat_ports = "20000-20999"`).
pub fn maps_toml(services: &[ServiceSpec], relay_lines: &[&str]) -> String {
    let mut s = String::new();
    for svc in services {
        let _ = writeln!(s, "[[service]]");
        let _ = writeln!(s, "name = {}", quote(&svc.name));
        let _ = writeln!(s, "listen = {}", quote(&svc.listen));
        if let Some(p) = &svc.protocol {
            let _ = writeln!(s, "protocol = {}", quote(p));
        }
        let backends: Vec<String> = svc.backends.iter().map(|b| quote(b)).collect();
        let _ = writeln!(s, "backends = [{}]\n", backends.join(", "));
    }
    if !relay_lines.is_empty() {
        let _ = writeln!(s, "[relay]");
        for line in relay_lines {
            let _ = writeln!(s, "{line}");
        }
    }
    s
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_documented_format() {
        let web = ServiceSpec::new("web", "198.18.100.2:8080", &["198.19.0.10:80".into()])
            .protocol("tcp");
        let all = ServiceSpec::new("all", "198.18.100.1", &["198.19.0.10".into()]);
        let text = maps_toml(&[all, web], &["snat_ports = \"20000-20999\""]);
        assert_eq!(
            text,
            "[[service]]\nname = \"all\"\nlisten = \"198.18.100.1\"\nbackends = [\"198.19.0.10\"]\n\n\
             [[service]]\nname = \"web\"\nlisten = \"198.18.100.2:8080\"\nprotocol = \"tcp\"\n\
             backends = [\"198.19.0.10:80\"]\n\n[relay]\nsnat_ports = \"20000-20999\"\n"
        );
    }
}
