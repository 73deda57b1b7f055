//! Backends by DNS name and `[relay] dns_servers`.

use std::net::SocketAddr;

use super::*;

#[test]
fn names_are_backends_in_both_forms() {
    let text = svc(
        "198.18.0.1:443",
        "\"198.19.0.1:443\", \"Storage.Internal.example:443\", \
         { address = \"db.example\", weight = 2 }",
    );
    let c = Config::parse(&text).unwrap();
    let s = &c.services[0];
    assert_eq!(s.backends.len(), 1, "the address");
    assert_eq!(
        s.names,
        vec![
            NamedBackend {
                name: "storage.internal.example".into(),
                port: Some(443),
                weight: 1,
                at: Position {
                    line: 4,
                    column: 31
                },
            },
            NamedBackend {
                name: "db.example".into(),
                port: None,
                weight: 2,
                at: Position {
                    line: 4,
                    column: 63
                },
            },
        ]
    );
    assert_eq!(s.names[0].to_string(), "storage.internal.example:443");
    assert_eq!(s.names[1].to_string(), "db.example");
    assert!(c.dns_servers.is_empty(), "default: /etc/resolv.conf");
}

#[test]
fn names_follow_the_rules_of_addresses() {
    // A port under a whole-address listen is refused for names too.
    let p = one(&svc("198.18.0.1", "\"db.example:80\""), 4, "backends[0]");
    assert_eq!(p.problem, Problem::BackendPortUnderWholeAddress);
    let p = one(&svc("198.18.0.1:80", "\"db.example:0\""), 4, "backends[0]");
    assert_eq!(p.problem, Problem::BadPort);
    let p = one(
        &svc(
            "198.18.0.1:80",
            "{ address = \"db.example:80\", weight = 1001 }",
        ),
        4,
        "backends[0].weight",
    );
    assert_eq!(p.problem, Problem::OutOfRange { min: 0, max: 1000 });
    // Listen addresses still take no name.
    let p = one(&svc("vip.example:80", "\"db.example:80\""), 3, "listen");
    assert_eq!(p.problem, Problem::ListenHostname);
}

#[test]
fn dns_servers_are_validated_with_their_position() {
    let base = svc("198.18.0.1:80", "\"db.example:80\"");
    let c = Config::parse(&format!(
        "{base}[relay]\ndns_servers = [\"198.18.0.53\", \"198.18.0.54:5353\", \"[2001:db8::53]:53\"]\n"
    ))
    .unwrap();
    let want: Vec<SocketAddr> = ["198.18.0.53:53", "198.18.0.54:5353", "[2001:db8::53]:53"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(c.dns_servers, want);

    let text = format!("{base}[relay]\ndns_servers = [\"198.18.0.53\", \"ns.example\"]\n");
    let p = one(&text, 6, "[relay] dns_servers[1]");
    assert_eq!(p.problem, Problem::BadDnsServer);
    assert_eq!(p.at.column, 31);
    assert!(p.to_string().contains("\"ns.example\""), "{p}");

    let text = format!("{base}[relay]\ndns_servers = []\n");
    let p = one(&text, 6, "[relay] dns_servers");
    assert_eq!(p.problem, Problem::NoDnsServers);

    let text = format!("{base}[relay]\ndns_servers = \"198.18.0.53\"\n");
    let (at, msg) = syntax(&text);
    assert_eq!(at.map(|p| p.line), Some(6), "{msg}");
}
