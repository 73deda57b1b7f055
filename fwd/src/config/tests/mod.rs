//! Good files and each kind of bad file: every error names its key and line.

mod across;
mod dns;

use std::{net::Ipv4Addr, time::Duration};

use super::*;

fn invalid(text: &str) -> Vec<Invalid> {
    match Config::parse(text) {
        Err(ConfigError::Invalid { problems }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The one problem of `text`; checks its line, that the message names
/// `key`, and returns it.
fn one(text: &str, line: usize, key: &str) -> Invalid {
    let mut problems = invalid(text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = problems.remove(0);
    let msg = p.to_string();
    assert_eq!(p.at.line, line, "{msg}");
    assert!(msg.starts_with(&format!("line {line}, column ")), "{msg}");
    assert!(msg.contains(key), "{msg} should name {key}");
    p
}

fn syntax(text: &str) -> (Option<Position>, String) {
    match Config::parse(text) {
        Err(e @ ConfigError::Syntax { .. }) => {
            let ConfigError::Syntax { at, message } = &e else {
                unreachable!()
            };
            (*at, format!("{e} / {message}"))
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
}

fn svc(listen: &str, backends: &str) -> String {
    format!("[[service]]\nname = \"s\"\nlisten = \"{listen}\"\nbackends = [{backends}]\n")
}

#[test]
fn good_file_with_every_key() {
    let text = r#"
[[service]]
name = "aix-01"
listen = "198.18.82.70"
backends = ["198.19.150.195"]

[[service]]
name = "object-storage"
listen = "198.18.82.80:8080"
protocol = "tcp"
backends = ["198.19.10.11:80", "198.19.10.12"]
snat = "198.19.0.1"
mss_clamp = 1360

[relay]
snat_ports = "40000-50000"
max_flows = 2048
tcp_established_timeout = "3h"
tcp_transitory_timeout = "5m"
tcp_opening_timeout = "30s"
tcp_closed_timeout = "90s"
udp_timeout = "10m"
udp_single_timeout = "20s"
gc_interval = "1s"
mss_clamp = "off"
"#;
    let c = Config::parse(text).unwrap();
    assert!(c.warnings.is_empty());
    assert_eq!(c.services.len(), 2);
    let a = &c.services[0];
    assert_eq!(a.name, "aix-01");
    assert_eq!(
        (a.listen.addr, a.listen.port),
        (Ipv4Addr::new(198, 18, 82, 70), None)
    );
    assert_eq!(
        a.listen.at,
        Position {
            line: 4,
            column: 10
        }
    );
    assert_eq!(a.protocol, Protocol::Any);
    assert_eq!(a.snat, Snat::Auto);
    assert_eq!(a.backends[0].addr, Ipv4Addr::new(198, 19, 150, 195));
    let b = &c.services[1];
    assert_eq!(b.listen.port, Some(8080));
    assert_eq!(b.protocol, Protocol::Tcp);
    assert_eq!(b.snat, Snat::Address(Ipv4Addr::new(198, 19, 0, 1)));
    assert_eq!(b.snat_at.line, 12);
    assert_eq!(b.backends[0].port, Some(80));
    assert_eq!(
        b.backends[1].port, None,
        "port listen with portless backend keeps the port"
    );
    assert_eq!(c.relay.snat_ports, 40000..=50000);
    assert_eq!(c.relay.max_flows, 2048);
    assert_eq!(c.relay.tcp_established, Duration::from_secs(3 * 3600));
    assert_eq!(c.relay.tcp_transitory, Duration::from_secs(300));
    assert_eq!(c.relay.tcp_opening, Duration::from_secs(30));
    assert_eq!(c.relay.tcp_closed, Duration::from_secs(90));
    assert_eq!(c.relay.udp_single, Duration::from_secs(20));
    assert_eq!(c.relay.udp, Duration::from_secs(600));
    assert_eq!(c.relay.gc_interval, Duration::from_secs(1));
    assert_eq!(c.relay.mss_clamp, MssClamp::Off);
    assert_eq!(
        (a.mss_clamp, b.mss_clamp),
        (None, Some(MssClamp::Value(1360)))
    );
}

#[test]
fn defaults() {
    let c = Config::parse(&svc("198.18.0.1", "\"198.19.0.1\"")).unwrap();
    assert_eq!(c.relay, crate::config::RelaySettings::default());
    assert_eq!(c.relay.snat_ports, 10000..=32767);
    assert_eq!(c.relay.max_flows, 131072);
    assert_eq!(c.relay.tcp_established, Duration::from_secs(7440));
    assert_eq!(c.relay.tcp_transitory, Duration::from_secs(240));
    assert_eq!(c.relay.tcp_opening, Duration::from_secs(120));
    assert_eq!(c.relay.tcp_closed, Duration::from_secs(120));
    assert_eq!(c.relay.udp_single, Duration::from_secs(30));
    assert_eq!(c.relay.udp, Duration::from_secs(300));
    assert_eq!(c.relay.gc_interval, Duration::from_secs(10));
    assert_eq!(c.relay.ct_entries(), 262144);
}

#[test]
fn example_maps_toml_parses() {
    let c = Config::parse(include_str!("../../../../maps.toml")).unwrap();
    assert!(c.services.len() >= 2);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn short_timeouts_are_accepted_with_a_warning() {
    let text = svc("198.18.0.1", "\"198.19.0.1\"")
        + "[relay]\nudp_timeout = \"30s\"\ntcp_established_timeout = \"1h\"\n";
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.relay.udp, Duration::from_secs(30));
    assert_eq!(c.warnings.len(), 2);
    let msgs: Vec<String> = c
        .warnings
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert!(
        msgs.iter().any(|m| m.starts_with("line 6,")
            && m.contains("udp_timeout")
            && m.contains("RFC 4787")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("tcp_established_timeout") && m.contains("2h 4m")),
        "{msgs:?}"
    );
}

#[test]
fn icmp_sessions_default_to_a_minute_and_shorter_is_warned_about() {
    let base = svc("198.18.0.1", "\"198.19.0.1\"");
    let c = Config::parse(&base).unwrap();
    assert_eq!(c.relay.icmp, Duration::from_secs(60));
    let c = Config::parse(&(base.clone() + "[relay]\nicmp_timeout = \"2m\"\n")).unwrap();
    assert_eq!(c.relay.icmp, Duration::from_secs(120));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = Config::parse(&(base + "[relay]\nicmp_timeout = \"20s\"\n")).unwrap();
    assert_eq!(c.relay.icmp, Duration::from_secs(20));
    let msgs: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert!(
        msgs.len() == 1 && msgs[0].contains("icmp_timeout") && msgs[0].contains("RFC 5508"),
        "{msgs:?}"
    );
}

#[test]
fn listen_values() {
    for (listen, problem) in [
        ("2001:db8::1", Problem::Ipv6),
        ("[2001:db8::1]:80", Problem::Ipv6),
        ("vip.example", Problem::ListenHostname),
        ("198.18.0.1:0", Problem::BadPort),
        ("198.18.0.1:70000", Problem::BadPort),
        ("198.18.0", Problem::BadAddress),
    ] {
        let p = one(&svc(listen, "\"198.19.0.1\""), 3, "listen");
        assert_eq!(p.problem, problem, "{listen}");
        assert!(p.to_string().contains(listen), "{p}");
    }
    let p = one(&svc("2001:db8::1", "\"198.19.0.1\""), 3, "listen");
    assert!(p.to_string().ends_with("IPv6 is not supported yet"), "{p}");
    assert_eq!(p.at.column, 10);
}

#[test]
fn protocol_values() {
    let text = svc("198.18.0.1", "\"198.19.0.1\"") + "protocol = \"sctp\"\n";
    let p = one(&text, 5, "protocol");
    assert_eq!(p.problem, Problem::BadProtocol);
}

#[test]
fn backend_values() {
    let p = one(&svc("198.18.0.1", ""), 4, "backends");
    assert_eq!(p.problem, Problem::NoBackends);
    let p = one(
        &svc("198.18.0.1:80", "\"198.19.0.1\", \"db..example:80\""),
        4,
        "backends[1]",
    );
    assert!(matches!(p.problem, Problem::BadDnsName { .. }), "{p}");
    assert!(p.to_string().contains("not a valid DNS name"), "{p}");
    let p = one(
        &svc("198.18.0.1:80", "\"198.19.0.1:99999\""),
        4,
        "backends[0]",
    );
    assert_eq!(p.problem, Problem::BadPort);
    let p = one(&svc("198.18.0.1:80", "\"2001:db8::2\""), 4, "backends[0]");
    assert_eq!(p.problem, Problem::Ipv6);
    let p = one(&svc("198.18.0.1:80", "\"127.0.0.1:80\""), 4, "backends[0]");
    assert!(matches!(p.problem, Problem::UnusableAddress { .. }));
}

#[test]
fn whole_address_listen_refuses_backend_ports() {
    let p = one(
        &svc("198.18.0.1", "\"198.19.0.1\", \"198.19.0.2:80\""),
        4,
        "backends[1]",
    );
    assert_eq!(p.problem, Problem::BackendPortUnderWholeAddress);
    assert!(p.to_string().contains("198.19.0.2:80"));
}

#[test]
fn snat_values() {
    let text = svc("198.18.0.1", "\"198.19.0.1\"") + "snat = \"automatic\"\n";
    assert_eq!(one(&text, 5, "snat").problem, Problem::BadSnat);
    let text = svc("198.18.0.1", "\"198.19.0.1\"") + "snat = \"0.0.0.0\"\n";
    assert!(matches!(
        one(&text, 5, "snat").problem,
        Problem::UnusableAddress { .. }
    ));
}

#[test]
fn relay_values() {
    let base = svc("198.18.0.1", "\"198.19.0.1\"") + "[relay]\n";
    for (line, key, problem) in [
        (
            "snat_ports = \"1000-2000\"",
            "[relay] snat_ports",
            Problem::BadPortRange,
        ),
        (
            "snat_ports = \"30000-20000\"",
            "[relay] snat_ports",
            Problem::BadPortRange,
        ),
        (
            "max_flows = 1000",
            "[relay] max_flows",
            Problem::OutOfRange {
                min: 1024,
                max: 16_777_216,
            },
        ),
        (
            "max_flows = 16777217",
            "[relay] max_flows",
            Problem::OutOfRange {
                min: 1024,
                max: 16_777_216,
            },
        ),
        (
            "udp_timeout = \"0s\"",
            "[relay] udp_timeout",
            Problem::ZeroDuration,
        ),
        (
            "gc_interval = \"0s\"",
            "[relay] gc_interval",
            Problem::ZeroDuration,
        ),
        (
            "mss_clamp = 500",
            "[relay] mss_clamp",
            Problem::OutOfRange {
                min: 536,
                max: 65_495,
            },
        ),
        (
            "mss_clamp = \"on\"",
            "[relay] mss_clamp",
            Problem::BadMssClamp,
        ),
    ] {
        let p = one(&format!("{base}{line}\n"), 6, key);
        assert_eq!(p.problem, problem, "{line}");
    }
    let p = one(
        &format!("{base}tcp_transitory_timeout = \"soon\"\n"),
        6,
        "tcp_transitory_timeout",
    );
    assert!(matches!(p.problem, Problem::BadDuration { .. }));
}

#[test]
fn mss_clamp_of_the_relay_and_of_a_service() {
    let c = Config::parse(&svc("198.18.0.1", "\"198.19.0.1\"")).unwrap();
    assert_eq!(c.relay.mss_clamp, MssClamp::Auto, "the default");
    assert_eq!(c.services[0].mss_clamp, None, "the relay's");

    let text =
        svc("198.18.0.1", "\"198.19.0.1\"") + "mss_clamp = 1360\n[relay]\nmss_clamp = \"off\"\n";
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.relay.mss_clamp, MssClamp::Off);
    assert_eq!(c.services[0].mss_clamp, Some(MssClamp::Value(1360)));

    let text = svc("198.18.0.1", "\"198.19.0.1\"") + "mss_clamp = \"1360\"\n";
    let p = one(&text, 5, "[[service]] \"s\": mss_clamp");
    assert_eq!(p.problem, Problem::BadMssClamp);
    assert_eq!(
        p.to_string(),
        "line 5, column 13: [[service]] \"s\": mss_clamp = \"1360\": \
         mss_clamp must be \"auto\", \"off\" or a number from 536 to 65495"
    );
    let text = svc("198.18.0.1", "\"198.19.0.1\"") + "mss_clamp = 65496\n";
    let p = one(&text, 5, "mss_clamp");
    assert_eq!(
        p.to_string(),
        "line 5, column 13: [[service]] \"s\": mss_clamp = 65496: must be from 536 to 65495"
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text =
        svc("vip.example", "\"db..example\"") + "protocol = \"icmp\"\n[relay]\nmax_flows = 1\n";
    let problems = invalid(&text);
    let lines: Vec<usize> = problems.iter().map(|p| p.at.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 7]);
    let all = ConfigError::Invalid { problems }.to_string();
    assert!(
        all.starts_with("4 problems:\n  line 3, column 10: "),
        "{all}"
    );
}

#[test]
fn empty_file_has_no_services() {
    let p = one("", 1, "[[service]]");
    assert_eq!(p.problem, Problem::NoServices);
}

#[test]
fn unknown_keys_and_wrong_types_name_key_and_line() {
    let (at, msg) = syntax(&svc("198.18.0.1", "\"198.19.0.1\"").replace("backends", "bakends"));
    assert_eq!(at.map(|p| p.line), Some(4), "{msg}");
    assert!(msg.contains("bakends"), "{msg}");

    let (at, msg) = syntax(&(svc("198.18.0.1", "\"198.19.0.1\"") + "[relay]\nmax_flow = 5000\n"));
    assert_eq!(at.map(|p| p.line), Some(6), "{msg}");
    assert!(msg.contains("max_flow"), "{msg}");

    let (at, msg) = syntax(&(svc("198.18.0.1", "\"198.19.0.1\"") + "[relays]\n"));
    assert_eq!(at.map(|p| p.line), Some(5), "{msg}");
    assert!(msg.contains("relays"), "{msg}");

    let (at, msg) =
        syntax("[[service]]\nname = 5\nlisten = \"198.18.0.1\"\nbackends = [\"198.19.0.1\"]\n");
    assert_eq!(at.map(|p| p.line), Some(2), "{msg}");

    let (_, msg) = syntax("[[service]]\nname = \"x\"\nlisten = \"198.18.0.1\"\n");
    assert!(msg.contains("backends"), "{msg}");

    let (at, _) = syntax("[[service]\nname = \"x\"\n");
    assert_eq!(at.map(|p| p.line), Some(1));
}

#[test]
fn positions_count_characters() {
    let text = "a\nxé = 1\n";
    assert_eq!(
        Position::of_offset(text, 0),
        Position { line: 1, column: 1 }
    );
    assert_eq!(
        Position::of_offset(text, 2),
        Position { line: 2, column: 1 }
    );
    assert_eq!(
        Position::of_offset(text, 5),
        Position { line: 2, column: 3 }
    );
    assert_eq!(
        Position::of_offset(text, 999),
        Position { line: 3, column: 1 }
    );
}

#[test]
fn allow_and_deny_lists() {
    let c = Config::parse(&svc("198.18.0.1", "\"198.19.0.1\"")).unwrap();
    assert_eq!(c.services[0].access, Access::default(), "everyone");

    let text = svc("198.18.0.1", "\"198.19.0.1\"")
        + "allow = [\"198.18.52.0/24\", \"198.18.9.7\"]\ndeny = [\"198.18.52.128/25\"]\n";
    let access = &Config::parse(&text).unwrap().services[0].access;
    let p = |a, len| Prefix4 { addr: a, len };
    assert_eq!(
        access.allow,
        Some(vec![
            p(Ipv4Addr::new(198, 18, 52, 0), 24),
            p(Ipv4Addr::new(198, 18, 9, 7), 32)
        ])
    );
    assert_eq!(access.deny, vec![p(Ipv4Addr::new(198, 18, 52, 128), 25)]);
    assert!(access.admits(Ipv4Addr::new(198, 18, 52, 1)));
    assert!(
        !access.admits(Ipv4Addr::new(198, 18, 52, 200)),
        "deny first"
    );
    assert!(access.admits(Ipv4Addr::new(198, 18, 9, 7)));
    assert!(!access.admits(Ipv4Addr::new(198, 18, 9, 8)), "not listed");

    for (line, problem) in [
        (
            "allow = [\"198.18.52.1/24\"]",
            Problem::PrefixHostBits {
                network: "198.18.52.0/24".into(),
            },
        ),
        ("allow = [\"198.18.52.0/33\"]", Problem::BadPrefix),
        ("allow = [\"clients\"]", Problem::BadPrefix),
        ("deny = [\"2001:db8::/32\"]", Problem::Ipv6),
        ("allow = []", Problem::EmptyAllow),
    ] {
        let text = svc("198.18.0.1", "\"198.19.0.1\"") + line + "\n";
        let key = if line.starts_with("deny") {
            "[[service]] \"s\": deny"
        } else {
            "[[service]] \"s\": allow"
        };
        let found = one(&text, 5, key);
        assert_eq!(found.problem, problem, "{line}");
    }
}
