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
    let max = fwd_common::maps::MAX_SERVICES as usize;
    let mut text = String::new();
    for i in 0..=max {
        text += &format!("[[service]]\nname = \"s{i}\"\nlisten = \"198.18.{}.{}\"\nbackends = [\"198.19.0.1\"]\n", i / 200, 1 + i % 200);
    }
    let p = one(&text, 4 * max + 2, "name");
    assert_eq!(
        p.problem,
        Problem::TooManyServices {
            count: max + 1,
            max: max as u32
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
