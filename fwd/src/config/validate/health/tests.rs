//! `[service.health]`: defaults, every key, and each bad value named with
//! its line.

use std::time::Duration;

use crate::config::{
    health::{Health, HealthCheck, OnDown, Probe, Unchecked},
    Config, ConfigError, ConfigWarning, Invalid, Problem,
};

fn service(listen: &str, extra: &str) -> String {
    format!(
        "[[service]]\nname = \"s\"\nlisten = \"{listen}\"\nbackends = [\"198.19.0.1\"]\n{extra}"
    )
}

fn health_of(text: &str) -> Health {
    Config::parse(text).unwrap().services[0].health.clone()
}

fn problems(text: &str) -> Vec<Invalid> {
    match Config::parse(text) {
        Err(ConfigError::Invalid { problems }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The one problem of `text`, at `line`, naming `key`.
fn one(text: &str, line: usize, key: &str) -> Problem {
    let mut p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    let p = p.remove(0);
    let msg = p.to_string();
    assert_eq!(p.at.line, line, "{msg}");
    assert!(msg.contains(key), "{msg} should name {key}");
    p.problem
}

#[test]
fn defaults_check_tcp_services_with_a_port() {
    assert_eq!(
        health_of(&service("198.18.0.1:80", "protocol = \"tcp\"\n")),
        Health::Checked(HealthCheck::default())
    );
    let d = HealthCheck::default();
    assert_eq!(d.probe, Probe::Tcp);
    assert_eq!(d.port, None);
    assert_eq!(d.interval, Duration::from_secs(2));
    assert_eq!(d.timeout, Duration::from_secs(1));
    assert_eq!((d.rise, d.fall), (2, 3));
    assert_eq!(d.on_down, OnDown::Keep);
    assert_eq!(d.syn_timeout, Duration::from_secs(3));
    assert_eq!(d.passive_failures, 3);
    // A whole-address service has no port to check; a service that carries
    // UDP is not checked unless asked. Neither is a warning.
    let tcp_whole = service("198.18.0.1", "protocol = \"tcp\"\n");
    let c = Config::parse(&tcp_whole).unwrap();
    assert_eq!(c.services[0].health, Health::Unchecked(Unchecked::NoPort));
    assert!(c.warnings.is_empty());
    let udp = service("198.18.0.1:53", "protocol = \"udp\"\n");
    assert_eq!(health_of(&udp), Health::Unchecked(Unchecked::Udp));
    let any = service("198.18.0.1:53", "");
    assert_eq!(health_of(&any), Health::Unchecked(Unchecked::Udp));
    // Asked for, they are checked over TCP.
    let udp = udp + "[service.health]\nport = 53\n";
    assert!(matches!(health_of(&udp), Health::Checked(c) if c.port == Some(53)));
    let any = any + "[service.health]\n";
    assert_eq!(health_of(&any), Health::Checked(HealthCheck::default()));
}

#[test]
fn every_key() {
    let text = service(
        "198.18.0.1",
        r#"[service.health]
type = "http"
port = 8080
interval = "500ms"
timeout = "200ms"
rise = 1
fall = 2
path = "/health?full=1"
status = 204
on_down = "reset"
syn_timeout = "1s"
passive_failures = 0
"#,
    );
    let Health::Checked(c) = health_of(&text) else {
        panic!("checked")
    };
    assert_eq!(
        c,
        HealthCheck {
            probe: Probe::Http {
                path: "/health?full=1".into(),
                status: 204
            },
            port: Some(8080),
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(200),
            rise: 1,
            fall: 2,
            on_down: OnDown::Reset,
            syn_timeout: Duration::from_secs(1),
            passive_failures: 0,
        }
    );
    assert!(!c.passive());
    let http = service("198.18.0.1:80", "[service.health]\ntype = \"http\"\n");
    let Health::Checked(c) = health_of(&http) else {
        panic!("checked")
    };
    assert_eq!(
        c.probe,
        Probe::Http {
            path: "/".into(),
            status: 200
        }
    );
    let off = service("198.18.0.1:80", "[service.health]\ntype = \"none\"\n");
    assert_eq!(health_of(&off), Health::Unchecked(Unchecked::Off));
}

#[test]
fn the_default_timeout_never_exceeds_the_interval() {
    let text = service("198.18.0.1:80", "[service.health]\ninterval = \"300ms\"\n");
    let Health::Checked(c) = health_of(&text) else {
        panic!("checked")
    };
    assert_eq!(c.timeout, Duration::from_millis(300));
}

#[test]
fn a_whole_address_table_without_port_is_unchecked_with_a_warning() {
    let text = service("198.18.0.1", "[service.health]\nfall = 2\n");
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.services[0].health, Health::Unchecked(Unchecked::NoPort));
    assert_eq!(c.warnings.len(), 1);
    assert!(matches!(
        &c.warnings[0],
        ConfigWarning::HealthNoPort { at, .. } if at.line == 5
    ));
    let msg = c.warnings[0].to_string();
    assert!(msg.contains("\"s\"") && msg.contains("port = N"), "{msg}");
}

#[test]
fn bad_values_name_their_key_and_line() {
    let cases: &[(&str, &str, Problem)] = &[
        ("type = \"icmp\"", "health.type", Problem::BadCheckType),
        (
            "port = 0",
            "health.port",
            Problem::OutOfRange { min: 1, max: 65535 },
        ),
        (
            "port = 70000",
            "health.port",
            Problem::OutOfRange { min: 1, max: 65535 },
        ),
        (
            "interval = \"0s\"",
            "health.interval",
            Problem::ZeroDuration,
        ),
        (
            "interval = \"50ms\"",
            "health.interval",
            Problem::TooShort {
                min: Duration::from_millis(100),
            },
        ),
        (
            "rise = 0",
            "health.rise",
            Problem::OutOfRange { min: 1, max: 100 },
        ),
        (
            "fall = 101",
            "health.fall",
            Problem::OutOfRange { min: 1, max: 100 },
        ),
        (
            "passive_failures = -1",
            "health.passive_failures",
            Problem::OutOfRange { min: 0, max: 1000 },
        ),
        ("on_down = \"drop\"", "health.on_down", Problem::BadOnDown),
        ("path = \"/x\"", "health.path", Problem::HttpOnly),
        ("status = 200", "health.status", Problem::HttpOnly),
        (
            "syn_timeout = \"0s\"",
            "health.syn_timeout",
            Problem::ZeroDuration,
        ),
        (
            "timeout = \"3s\"",
            "health.timeout",
            Problem::TimeoutOverInterval {
                interval: Duration::from_secs(2),
            },
        ),
    ];
    for (line, key, problem) in cases {
        let text = service("198.18.0.1:80", &format!("[service.health]\n{line}\n"));
        let p = one(&text, 6, &format!("[[service]] \"s\": {key}"));
        assert_eq!(&p, problem, "{line}");
    }
    for (line, problem) in [
        ("path = \"health\"", Problem::BadHttpPath),
        ("path = \"/a b\"", Problem::BadHttpPath),
        ("status = 99", Problem::OutOfRange { min: 100, max: 599 }),
    ] {
        let text = service(
            "198.18.0.1:80",
            &format!("[service.health]\ntype = \"http\"\n{line}\n"),
        );
        assert_eq!(one(&text, 7, "health."), problem, "{line}");
    }
    let p = one(
        &service("198.18.0.1:80", "[service.health]\ninterval = \"soon\"\n"),
        6,
        "health.interval",
    );
    assert!(matches!(p, Problem::BadDuration { .. }));
}

#[test]
fn unknown_keys_and_wrong_types_are_refused_with_their_line() {
    for (line, word) in [("fal = 2", "fal"), ("rise = \"2\"", "invalid type")] {
        let text = service("198.18.0.1:80", &format!("[service.health]\n{line}\n"));
        match Config::parse(&text) {
            Err(e @ ConfigError::Syntax { .. }) => {
                let msg = e.to_string();
                assert!(msg.starts_with("line 6,"), "{msg}");
                assert!(msg.contains(word), "{msg}");
            }
            other => panic!("{line}: expected a syntax error, got {other:?}"),
        }
    }
}
