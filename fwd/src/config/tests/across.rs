//! Checks across services: unique names, overlapping listens, limits.

use super::*;

#[test]
fn names_must_be_non_empty_and_unique() {
    let p = one(
        &svc("198.18.0.1", "\"198.19.0.1\"").replace("\"s\"", "\"\""),
        2,
        "name",
    );
    assert_eq!(p.problem, Problem::EmptyName);
    let text = svc("198.18.0.1", "\"198.19.0.1\"") + &svc("198.18.0.2", "\"198.19.0.1\"");
    let p = one(&text, 6, "[[service]] \"s\": name");
    assert_eq!(p.problem, Problem::DuplicateName { first_line: 2 });
}

#[test]
fn backend_limits() {
    let max = fwd_common::maps::MAX_BACKENDS_PER_SERVICE as usize;
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("\"198.19.{}.{}\"", i / 200, 1 + i % 200))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Config::parse(&svc("198.18.0.1", &list(max))).unwrap();
    let p = one(&svc("198.18.0.1", &list(max + 1)), 4, "backends");
    assert_eq!(
        p.problem,
        Problem::TooManyBackends {
            count: max + 1,
            max: max as u32
        }
    );

    // 4096 in total is fine, 4097 is not: 64 services of 64, then one more.
    let total = fwd_common::maps::MAX_BACKENDS as usize;
    let mut text = String::new();
    for i in 0..total / max {
        text += &format!(
            "[[service]]\nname = \"s{i}\"\nlisten = \"198.18.{}.{}\"\nbackends = [{}]\n",
            i / 200,
            1 + i % 200,
            list(max)
        );
    }
    Config::parse(&text).unwrap();
    text += "[[service]]\nname = \"last\"\nlisten = \"198.18.9.9\"\nbackends = [\"198.19.0.1\"]\n";
    let p = one(
        &text,
        4 * (total / max) + 4,
        "[[service]] \"last\": backends[0]",
    );
    assert_eq!(
        p.problem,
        Problem::TooManyBackendsTotal {
            count: total + 1,
            max: total as u32
        }
    );
}

#[test]
fn service_limit() {
    let services = |n: usize| {
        (0..n)
            .map(|i| format!("[[service]]\nname = \"s{i}\"\nlisten = \"198.18.{}.{}\"\nbackends = [\"198.19.0.1\"]\n", i / 200, 1 + i % 200))
            .collect::<String>()
    };
    // The default max_services is 64: the 65th service is refused, at its listen.
    let p = one(&services(65), 4 * 64 + 3, "[[service]] \"s64\"");
    assert_eq!(p.problem, Problem::TooManyServices { count: 65, max: 64 });
    assert!(p.to_string().contains("max_services"), "{p}");
    // Raised, it fits; the hard cap is MAX_SERVICES.
    Config::parse(&(services(65) + "[relay]\nmax_services = 65\n")).unwrap();
    let max = fwd_common::maps::MAX_SERVICES;
    let p = one(
        &(services(1) + &format!("[relay]\nmax_services = {}\n", max + 1)),
        6,
        "[relay] max_services",
    );
    assert_eq!(
        p.problem,
        Problem::OutOfRange {
            min: 1,
            max: max.into()
        }
    );
}

#[test]
fn overlapping_listens() {
    let two = |a: &str, pa: &str, b: &str, pb: &str| {
        format!(
            "[[service]]\nname = \"a\"\nlisten = \"{a}\"\nprotocol = \"{pa}\"\nbackends = [\"198.19.0.1\"]\n\
             [[service]]\nname = \"b\"\nlisten = \"{b}\"\nprotocol = \"{pb}\"\nbackends = [\"198.19.0.2\"]\n"
        )
    };
    let p = one(
        &two("198.18.0.1", "any", "198.18.0.1", "tcp"),
        8,
        "[[service]] \"b\": listen",
    );
    assert_eq!(
        p.problem,
        Problem::ListenOverlap {
            other: "a".into(),
            other_line: 3
        }
    );
    let p = one(
        &two("198.18.0.1:80", "tcp", "198.18.0.1:80", "any"),
        8,
        "listen",
    );
    assert!(matches!(p.problem, Problem::ListenOverlap { .. }));
    // Not overlapping: other protocol, other port, whole address next to a port.
    Config::parse(&two("198.18.0.1:80", "tcp", "198.18.0.1:80", "udp")).unwrap();
    Config::parse(&two("198.18.0.1:80", "any", "198.18.0.1:81", "any")).unwrap();
    Config::parse(&two("198.18.0.1", "any", "198.18.0.1:81", "any")).unwrap();
    Config::parse(&two("198.18.0.1", "tcp", "198.18.0.1", "udp")).unwrap();
}

#[test]
fn weighted_backends() {
    let svc = |backends: &str| {
        format!("[[service]]\nname = \"w\"\nlisten = \"198.18.0.1:443\"\nbackends = [{backends}]\n")
    };
    let c = Config::parse(&svc(
        "\"198.19.0.1:443\", { address = \"198.19.0.2:443\", weight = 2 }, { address = \"198.19.0.3\", weight = 0 }",
    ))
    .unwrap();
    let got: Vec<(String, u32)> = c.services[0]
        .backends
        .iter()
        .map(|b| (b.to_string(), b.weight))
        .collect();
    assert_eq!(
        got,
        [
            ("198.19.0.1:443".into(), 1),
            ("198.19.0.2:443".into(), 2),
            ("198.19.0.3".into(), 0)
        ]
    );
    let p = one(
        &svc("{ address = \"198.19.0.2:443\", weight = 1001 }"),
        4,
        "backends[0].weight",
    );
    assert_eq!(p.problem, Problem::OutOfRange { min: 0, max: 1000 });
    let p = one(
        &svc("{ address = \"198.19.0.2:443\", weight = -1 }"),
        4,
        "backends[0].weight",
    );
    assert_eq!(p.problem, Problem::OutOfRange { min: 0, max: 1000 });
    let p = one(
        &svc("{ address = \"db-.example:443\", weight = 1 }"),
        4,
        "backends[0]",
    );
    assert!(matches!(p.problem, Problem::BadDnsName { .. }), "{p}");
    // A misspelt key in the table form is refused, with its line.
    match Config::parse(&svc("{ address = \"198.19.0.2:443\", wieght = 2 }")) {
        Err(ConfigError::Syntax { at: Some(at), .. }) => assert_eq!(at.line, 4),
        other => panic!("expected a syntax error on line 4, got {other:?}"),
    }
}
