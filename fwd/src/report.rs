//! What `fwd check` prints: the services, the map keys and the relay
//! settings that `fwd attach` would install, in aligned tables.

use std::fmt::Write as _;

use crate::{
    config::{Config, Snat},
    host::HostFacts,
    plan::proto_name,
    text::table,
};

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(std::string::ToString::to_string).collect()
}

/// The SNAT column of a backend: explicit, resolved from the route, or why
/// not (`facts` is `None` when the host could not be examined).
fn snat_cell(snat: Snat, backend: std::net::Ipv4Addr, facts: Result<&HostFacts, &str>) -> String {
    match (snat, facts) {
        (Snat::Address(a), _) => a.to_string(),
        (Snat::Auto, Err(why)) => format!("auto (not resolved: {why})"),
        (Snat::Auto, Ok(f)) => match f.auto_snat(backend) {
            Ok(a) => {
                let via = f
                    .routes
                    .get(&backend)
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|r| r.oif);
                match via.and_then(|i| f.ifname(i)) {
                    Some(ifname) => format!("{a} (auto, via {ifname})"),
                    None => format!("{a} (auto)"),
                }
            }
            Err(e) => format!("auto: {e}"),
        },
    }
}

/// The whole report. `facts` resolves `snat = "auto"` when available.
pub(crate) fn render(config: &Config, facts: Result<&HostFacts, &str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "services ({})", config.services.len());
    let mut rows = vec![row([
        "ID",
        "NAME",
        "LISTEN",
        "PROTO",
        "MSS CLAMP",
        "BACKEND ID",
        "BACKEND",
        "SNAT",
    ])];
    let mut backend_id = 0u32;
    for (id, s) in config.services.iter().enumerate() {
        for (i, b) in s.backends.iter().enumerate() {
            let first = i == 0;
            rows.push(vec![
                if first { id.to_string() } else { String::new() },
                if first { s.name.clone() } else { String::new() },
                if first {
                    s.listen.to_string()
                } else {
                    String::new()
                },
                if first {
                    s.protocol.name().to_string()
                } else {
                    String::new()
                },
                if first {
                    s.mss_clamp.unwrap_or(config.relay.mss_clamp).to_string()
                } else {
                    String::new()
                },
                backend_id.to_string(),
                match b.port {
                    Some(_) => b.to_string(),
                    None => format!("{} (port kept)", b.addr),
                },
                snat_cell(s.snat, b.addr, facts),
            ]);
            backend_id += 1;
        }
    }
    out += &table(&rows);

    let _ = writeln!(out, "\nSERVICES4 keys (port 0: whole address, every port)");
    let mut rows = vec![row(["VIP", "PORT", "PROTO", "SERVICE ID", "BACKENDS"])];
    for (id, s) in config.services.iter().enumerate() {
        for proto in s.protocol.ipprotos() {
            rows.push(vec![
                s.listen.addr.to_string(),
                s.listen.port.unwrap_or(0).to_string(),
                proto_name(proto).to_string(),
                id.to_string(),
                s.backends.len().to_string(),
            ]);
        }
    }
    out += &table(&rows);

    let listed: Vec<_> = config
        .services
        .iter()
        .enumerate()
        .filter(|(_, s)| s.access.allow.is_some() || !s.access.deny.is_empty())
        .collect();
    if !listed.is_empty() {
        let _ = writeln!(
            out,
            "\nwho may open flows (deny first; other services: everyone)"
        );
        let mut rows = vec![row(["SERVICE ID", "NAME", "ALLOW", "DENY"])];
        let prefixes = |list: &[crate::config::Prefix4]| {
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (id, s) in listed {
            rows.push(vec![
                id.to_string(),
                s.name.clone(),
                s.access
                    .allow
                    .as_deref()
                    .map_or_else(|| "everyone".to_string(), prefixes),
                if s.access.deny.is_empty() {
                    "-".to_string()
                } else {
                    prefixes(&s.access.deny)
                },
            ]);
        }
        out += &table(&rows);
    }

    let r = &config.relay;
    let d = |d| humantime::format_duration(d).to_string();
    let _ = writeln!(out, "\nrelay");
    out += &table(&[
        row([
            "snat_ports",
            &format!("{}-{}", r.snat_ports.start(), r.snat_ports.end()),
        ]),
        row([
            "max_flows",
            &format!("{} (CT4: {} entries)", r.max_flows, r.ct_entries()),
        ]),
        row(["tcp_established_timeout", &d(r.tcp_established)]),
        row(["tcp_transitory_timeout", &d(r.tcp_transitory)]),
        row(["tcp_opening_timeout", &d(r.tcp_opening)]),
        row(["tcp_closed_timeout", &d(r.tcp_closed)]),
        row(["udp_timeout", &d(r.udp)]),
        row(["udp_single_timeout", &d(r.udp_single)]),
        row(["icmp_timeout", &d(r.icmp)]),
        row(["gc_interval", &d(r.gc_interval)]),
        row(["mss_clamp", &r.mss_clamp.to_string()]),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::host::{Interface, NoRoute, Route, RouteKind};

    #[test]
    fn columns_are_aligned() {
        let t = table(&[row(["A", "BB", "C"]), row(["long", "x", "y"])]);
        assert_eq!(t, "A     BB  C\nlong  x   y\n");
    }

    #[test]
    fn renders_services_keys_and_settings() {
        let config = Config::parse(include_str!("../../maps.toml")).unwrap();
        let mut routes = BTreeMap::new();
        let backend = "198.19.150.195".parse().unwrap();
        let prefsrc = Some("198.19.0.1".parse().unwrap());
        routes.insert(
            backend,
            Ok(Route {
                dst: backend,
                kind: RouteKind::Unicast,
                oif: Some(3),
                prefsrc,
                gateway: None,
            }),
        );
        routes.insert(
            "198.19.10.11".parse().unwrap(),
            Err(NoRoute {
                errno: libc::ENETUNREACH,
            }),
        );
        let facts = HostFacts {
            interfaces: vec![Interface {
                name: "eth1".into(),
                index: 3,
            }],
            local_addrs: vec![],
            listeners: vec![],
            local_port_range: 32768..=60999,
            routes,
        };
        let out = render(&config, Ok(&facts));
        assert!(
            out.contains("198.19.150.195 (port kept)  198.19.0.1 (auto, via eth1)"),
            "{out}"
        );
        let line = out.lines().find(|l| l.contains("198.19.10.11:80")).unwrap();
        assert!(
            line.contains("  auto: no route to it: Network is unreachable"),
            "{out}"
        );
        assert!(
            out.contains("198.19.0.1\n"),
            "explicit snat shown as is:\n{out}"
        );
        assert!(out.contains("198.18.82.70  0     tcp    0"), "{out}");
        assert!(out.contains("198.18.82.70  0     udp    0"), "{out}");
        assert!(out.contains("198.18.82.80  8080  tcp    1"), "{out}");
        assert!(
            out.contains("max_flows                131072 (CT4: 262144 entries)"),
            "{out}"
        );
        assert!(out.contains("tcp_established_timeout  2h 4m"), "{out}");
        assert!(out.contains("mss_clamp                auto"), "{out}");
        let line = out.lines().find(|l| l.contains("object-storage")).unwrap();
        assert!(line.contains("tcp    1360 "), "its own clamp:\n{out}");
        let line = out.lines().find(|l| l.contains("aix-01")).unwrap();
        assert!(line.contains("any    auto "), "the relay's:\n{out}");

        assert!(out.contains("udp_single_timeout       30s"), "{out}");
        assert!(!out.contains("who may open flows"), "no lists:\n{out}");

        let text = "[[service]]\nname = \"web\"\nlisten = \"198.18.100.1:443\"\n\
                    backends = [\"198.19.0.10\"]\nallow = [\"198.18.52.0/24\", \"198.18.9.7\"]\n\
                    deny = [\"198.18.52.128/25\"]\n";
        let out = render(&Config::parse(text).unwrap(), Err("not looked at"));
        assert!(
            out.contains("0           web   198.18.52.0/24 198.18.9.7/32  198.18.52.128/25"),
            "{out}"
        );

        let out = render(&config, Err("netlink refused"));
        assert!(
            out.contains("auto (not resolved: netlink refused)"),
            "{out}"
        );
    }
}
