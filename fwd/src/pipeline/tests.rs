//! The pipeline on facts built by hand: names expanded, checks, SNAT
//! resolved from the routes, down backends drained, refusals.

use std::{collections::BTreeSet, net::Ipv4Addr};

use super::*;
use crate::host::testing::{both, facts, ip};

/// VIP 198.18.0.10 (routed to the relay, not local: a warning) with two
/// backends behind eth1 and one backend name.
const FILE: &str = r#"
[[service]]
name = "web"
listen = "198.18.0.10:80"
protocol = "tcp"
backends = ["198.19.0.5:8080", "198.19.0.6:8080", "db.example:8080"]
"#;

fn config(text: &str) -> Config {
    Config::parse(text).unwrap()
}

fn answers(name: &str, addrs: &[&str]) -> Answers {
    [(name.to_string(), addrs.iter().map(|a| ip(a)).collect())].into()
}

fn addrs(plan: &Plan) -> Vec<(Ipv4Addr, Option<u16>, u32)> {
    plan.backends()
        .map(|(_, b)| (b.addr, b.port, b.weight))
        .collect()
}

#[test]
fn names_become_backends_with_the_entry_port() {
    let expanded = expand(&config(FILE), &answers("db.example", &["198.19.0.7"]));
    let planned = plan(&expanded, &facts(), &both(), &BTreeSet::new()).unwrap();
    assert_eq!(
        addrs(&planned.plan),
        vec![
            (ip("198.19.0.5"), Some(8080), 1),
            (ip("198.19.0.6"), Some(8080), 1),
            (ip("198.19.0.7"), Some(8080), 1),
        ]
    );
}

#[test]
fn auto_snat_is_the_route_source_and_warnings_are_returned() {
    let expanded = expand(&config(FILE), &Answers::new());
    let planned = plan(&expanded, &facts(), &both(), &BTreeSet::new()).unwrap();
    let service = &planned.plan.services[0];
    assert_eq!((service.id, service.vip), (0, ip("198.18.0.10")));
    assert!(service.backends.iter().all(|b| b.snat == ip("198.19.0.1")));
    assert_eq!(planned.warnings.len(), 1, "{:?}", planned.warnings);
    assert!(
        matches!(&planned.warnings[0], HostWarning::VipNotLocal { vip, .. } if *vip == ip("198.18.0.10"))
    );
}

#[test]
fn down_backends_get_weight_zero_and_others_keep_theirs() {
    let expanded = expand(&config(FILE), &Answers::new());
    let down: BTreeSet<BackendRef> = [BackendRef {
        service: "web".into(),
        addr: ip("198.19.0.6"),
        port: Some(8080),
    }]
    .into();
    let planned = plan(&expanded, &facts(), &both(), &down).unwrap();
    assert_eq!(
        addrs(&planned.plan),
        vec![
            (ip("198.19.0.5"), Some(8080), 1),
            (ip("198.19.0.6"), Some(8080), 0),
        ]
    );
}

#[test]
fn a_failed_check_is_a_checks_error_naming_the_problem() {
    // 198.19.2.5 has no route in the facts.
    let text = FILE.replace("198.19.0.6:8080", "198.19.2.5:8080");
    let expanded = expand(&config(&text), &Answers::new());
    let err = plan(&expanded, &facts(), &both(), &BTreeSet::new()).unwrap_err();
    assert!(matches!(err, PlanError::Checks(_)), "{err:?}");
    assert!(err.to_string().contains("198.19.2.5"), "{err}");
}

#[test]
fn an_explicit_snat_is_kept() {
    let text = FILE.replace(
        "protocol = \"tcp\"",
        "protocol = \"tcp\"\nsnat = \"198.19.0.1\"",
    );
    let expanded = expand(&config(&text), &Answers::new());
    let planned = plan(&expanded, &facts(), &both(), &BTreeSet::new()).unwrap();
    assert!(planned
        .plan
        .backends()
        .all(|(_, b)| b.snat == ip("198.19.0.1")));
}
