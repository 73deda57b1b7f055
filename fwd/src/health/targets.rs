//! Which backends are checked, and how: the installed plan (every backend
//! with its id and SNAT address, DNS-resolved ones included) joined with
//! each service's `[service.health]` from the desired service file. Pure.

use std::{collections::BTreeMap, net::SocketAddrV4};

use super::probe::Target;
use crate::{
    config::{
        health::{Health, HealthCheck, Probe, Unchecked},
        Config,
    },
    plan::{BackendRef, Plan},
};

/// One checked backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Its id in the plan (flows and start events carry it).
    pub id: u32,
    /// The service's settings.
    pub check: HealthCheck,
    /// Where and how to check it.
    pub target: Target,
}

impl Checked {
    /// The check, short: `tcp :80`, `http :80/health`.
    pub(crate) fn short(&self) -> String {
        let port = self.target.to.port();
        match &self.check.probe {
            Probe::Tcp => format!("tcp :{port}"),
            Probe::Http { path, .. } => format!("http :{port}{path}"),
        }
    }
}

/// The checks of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Targets {
    /// Checked backends.
    pub checked: BTreeMap<BackendRef, Checked>,
    /// Services not checked, and why.
    pub unchecked: BTreeMap<String, Unchecked>,
}

/// The checks of `plan` under `config` (a service missing from `config`,
/// which a plan built from it never has, is not checked).
pub(crate) fn targets(plan: &Plan, config: &Config) -> Targets {
    let mut out = Targets::default();
    for s in &plan.services {
        let Some(health) = config
            .services
            .iter()
            .find(|c| c.name == s.name)
            .map(|c| &c.health)
        else {
            continue;
        };
        let check = match health {
            Health::Unchecked(why) => {
                out.unchecked.insert(s.name.clone(), *why);
                continue;
            }
            Health::Checked(check) => check,
        };
        for b in &s.backends {
            let Some(port) = check.target_port(s.port, b.port) else {
                out.unchecked.insert(s.name.clone(), Unchecked::NoPort);
                break;
            };
            let key = BackendRef {
                service: s.name.clone(),
                addr: b.addr,
                port: b.port,
            };
            let target = Target {
                from: b.snat,
                to: SocketAddrV4::new(b.addr, port),
                probe: check.probe.clone(),
                timeout: check.timeout,
            };
            out.checked.insert(
                key,
                Checked {
                    id: b.id,
                    check: check.clone(),
                    target,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::{net::Ipv4Addr, time::Duration};

    use super::*;

    fn plan_of(text: &str) -> (Plan, Config) {
        let config = Config::parse(text).unwrap();
        let plan = Plan::build(&config, |b| {
            Ok::<_, std::io::Error>(Ipv4Addr::new(198, 19, b.octets()[2], 1))
        })
        .unwrap();
        (plan, config)
    }

    #[test]
    fn defaults_check_tcp_services_on_their_ports() {
        let (plan, config) = plan_of(
            r#"
[[service]]
name = "web"
listen = "198.18.0.10:8080"
protocol = "tcp"
backends = ["198.19.0.10:80", "198.19.1.11"]

[[service]]
name = "all"
listen = "198.18.0.11"
protocol = "tcp"
backends = ["198.19.0.12"]

[[service]]
name = "dns"
listen = "198.18.0.12:53"
protocol = "udp"
backends = ["198.19.0.13"]
"#,
        );
        let t = targets(&plan, &config);
        let ports: Vec<(String, u16, Ipv4Addr, u32)> = t
            .checked
            .iter()
            .map(|(k, c)| {
                let name = format!("{} {}", k.service, super::super::backend_name(k));
                (name, c.target.to.port(), c.target.from, c.id)
            })
            .collect();
        assert_eq!(
            ports,
            vec![
                // The remapped backend on its port, the other on the listen port.
                (
                    "web 198.19.0.10:80".into(),
                    80,
                    Ipv4Addr::new(198, 19, 0, 1),
                    0
                ),
                (
                    "web 198.19.1.11".into(),
                    8080,
                    Ipv4Addr::new(198, 19, 1, 1),
                    1
                ),
            ]
        );
        let web = &t.checked.values().next().unwrap();
        assert_eq!(web.check, HealthCheck::default());
        assert_eq!(web.target.timeout, Duration::from_secs(1));
        assert_eq!(web.short(), "tcp :80");
        assert_eq!(
            t.unchecked.into_iter().collect::<Vec<_>>(),
            vec![
                ("all".to_string(), Unchecked::NoPort),
                ("dns".to_string(), Unchecked::Udp)
            ]
        );
    }

    #[test]
    fn explicit_port_and_http() {
        let (plan, config) = plan_of(
            r#"
[[service]]
name = "all"
listen = "198.18.0.11"
backends = ["198.19.0.12", "198.19.0.13"]
[service.health]
type = "http"
port = 8081
path = "/ready"
status = 204
interval = "500ms"
"#,
        );
        let t = targets(&plan, &config);
        assert!(t.unchecked.is_empty());
        assert_eq!(t.checked.len(), 2);
        for c in t.checked.values() {
            assert_eq!(c.target.to.port(), 8081);
            assert_eq!(
                c.target.probe,
                Probe::Http {
                    path: "/ready".into(),
                    status: 204
                }
            );
            assert_eq!(c.short(), "http :8081/ready");
            assert_eq!(c.check.interval, Duration::from_millis(500));
            assert_eq!(
                c.target.timeout,
                Duration::from_millis(500),
                "capped by the interval"
            );
        }
    }
}
