//! Each refusal of [`preflight`], on facts built by hand.

use fwd_common::IPPROTO_UDP;

use super::*;
use crate::host::testing::{both, facts, iface, ip, ETH0};

fn config(services: &str) -> Config {
    Config::parse(services).unwrap()
}

fn svc(name: &str, listen: &str, extra: &str, backends: &str) -> String {
    format!(
        "[[service]]\nname = \"{name}\"\nlisten = \"{listen}\"\n{extra}backends = [{backends}]\n"
    )
}

/// The single problem of `services`, as text, with its line checked.
fn problem(services: &str, attach: &[Interface], line: Option<usize>) -> (HostProblem, String) {
    let mut problems = preflight(&config(services), &facts(), attach).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = problems.remove(0);
    let msg = p.to_string();
    if let Some(line) = line {
        assert!(msg.starts_with(&format!("line {line}: ")), "{msg}");
    }
    (p, msg)
}

#[test]
fn a_good_setup_passes_with_a_warning_for_a_remote_vip() {
    let text = svc("a", "198.18.0.10", "", "\"198.19.0.2\"")
        + &svc("b", "198.18.0.10:8080", "", "\"198.19.0.3:80\"");
    let warnings = preflight(&config(&text), &facts(), &both()).unwrap();
    assert_eq!(warnings.len(), 2);
    let msg = warnings[0].to_string();
    assert!(msg.contains("VIP 198.18.0.10 is not an address of this host: make sure 198.18.0.10 is routed to this host"), "{msg}");
}

#[test]
fn unroutable_and_local_backends() {
    let (p, msg) = problem(
        &svc("a", "198.18.0.10", "", "\"198.19.2.5\""),
        &both(),
        Some(4),
    );
    assert!(matches!(p, HostProblem::BackendUnroutable { .. }));
    assert!(msg.contains("backend 198.19.2.5 is not routable"), "{msg}");
    let (p, _) = problem(
        &svc("a", "198.18.0.10", "", "\"198.19.0.1\""),
        &both(),
        Some(4),
    );
    assert!(matches!(p, HostProblem::BackendIsLocal { .. }));
    let (p, _) = problem(
        &svc("a", "198.18.0.10", "", "\"198.19.9.9\""),
        &both(),
        Some(4),
    );
    assert!(matches!(p, HostProblem::BackendRouteUnknown { .. }));
}

#[test]
fn backend_behind_an_interface_not_attached() {
    let (_, msg) = problem(
        &svc("a", "198.18.0.10", "", "\"198.19.0.2\""),
        &[iface("eth0", ETH0)],
        Some(4),
    );
    assert!(
        msg.contains("leaves through eth1, which fwd is not attached to"),
        "{msg}"
    );
    assert!(
        msg.contains("replies would miss the program: attach to eth1 too, or fix the route"),
        "{msg}"
    );
    // The same backend is fine once eth1 is attached, and one-armed works too.
    preflight(
        &config(&svc("a", "198.18.0.10", "", "\"198.19.1.5\"")),
        &facts(),
        &[iface("eth0", ETH0)],
    )
    .unwrap();
}

#[test]
fn explicit_snat_must_be_local() {
    let text = svc(
        "a",
        "198.18.0.10",
        "snat = \"198.19.0.99\"\n",
        "\"198.19.0.2\"",
    );
    let (p, msg) = problem(&text, &both(), Some(4));
    assert_eq!(
        p,
        HostProblem::SnatNotLocal {
            service: "a".into(),
            line: 4,
            snat: ip("198.19.0.99")
        }
    );
    assert!(
        msg.contains("snat 198.19.0.99 is not an address of this host"),
        "{msg}"
    );
    preflight(
        &config(&text.replace("198.19.0.99", "198.19.0.1")),
        &facts(),
        &both(),
    )
    .unwrap();
}

#[test]
fn auto_snat_needs_a_preferred_source() {
    let mut f = facts();
    if let Some(Ok(r)) = f.routes.get_mut(&ip("198.19.0.2")) {
        r.prefsrc = None;
    }
    let problems = preflight(
        &config(&svc("a", "198.18.0.10", "", "\"198.19.0.2\"")),
        &f,
        &both(),
    )
    .unwrap_err();
    assert!(
        matches!(problems[..], [HostProblem::NoSourceAddress { line: 4, .. }]),
        "{problems:?}"
    );
}

#[test]
fn snat_ports_must_not_overlap_ephemeral_ports() {
    let text =
        svc("a", "198.18.0.10", "", "\"198.19.0.2\"") + "[relay]\nsnat_ports = \"30000-40000\"\n";
    let (_, msg) = problem(&text, &both(), None);
    assert!(
        msg.contains("snat_ports 30000-40000 overlaps the host's ephemeral ports 32768-60999"),
        "{msg}"
    );
    let text = text.replace("30000-40000", "61000-65535");
    preflight(&config(&text), &facts(), &both()).unwrap();
    let text = text.replace("61000-65535", "10000-32768");
    problem(&text, &both(), None);
}

#[test]
fn whole_address_vip_on_a_snat_address() {
    // UDP only, so that sshd on 0.0.0.0:22 is not in the way.
    let udp = "protocol = \"udp\"\n";
    let text = svc("a", "198.18.0.10", "", "\"198.19.0.2\"")
        + &svc("b", "198.19.0.1", udp, "\"198.19.0.3\"");
    let (p, msg) = problem(&text, &both(), Some(7));
    assert!(
        matches!(p, HostProblem::VipIsSnatAddress { ref other, .. } if other == "a"),
        "{p:?}"
    );
    assert!(
        msg.contains("VIP 198.19.0.1 is the SNAT address of backend 198.19.0.2"),
        "{msg}"
    );
}

#[test]
fn vip_port_on_a_snat_address_inside_the_snat_range() {
    let text = svc("a", "198.18.0.10", "", "\"198.19.0.2\"")
        + &svc("b", "198.19.0.1:20000", "", "\"198.19.0.3\"");
    let (p, _) = problem(&text, &both(), Some(7));
    assert!(
        matches!(p, HostProblem::VipPortInSnatRange { port: 20000, .. }),
        "{p:?}"
    );
    // Outside the range it is fine.
    let text = text.replace(":20000", ":8080");
    preflight(&config(&text), &facts(), &both()).unwrap();
}

#[test]
fn vip_that_would_hijack_a_local_socket() {
    // Whole local address: sshd on 0.0.0.0:22 would lose it.
    let (p, msg) = problem(
        &svc("a", "198.18.0.1", "", "\"198.19.0.2\""),
        &both(),
        Some(3),
    );
    assert!(
        matches!(
            p,
            HostProblem::VipHijacksSocket {
                port: 22,
                whole: true,
                ..
            }
        ),
        "{p:?}"
    );
    assert!(
        msg.contains("a local tcp socket listens on 0.0.0.0:22"),
        "{msg}"
    );
    // UDP only: sshd is not concerned.
    preflight(
        &config(&svc(
            "a",
            "198.18.0.1",
            "protocol = \"udp\"\n",
            "\"198.19.0.2\"",
        )),
        &facts(),
        &both(),
    )
    .unwrap();
    // A port of a local address: only the listened port clashes.
    problem(
        &svc("a", "198.18.0.1:22", "", "\"198.19.0.2\""),
        &both(),
        Some(3),
    );
    preflight(
        &config(&svc("a", "198.18.0.1:2222", "", "\"198.19.0.2\"")),
        &facts(),
        &both(),
    )
    .unwrap();
    // A socket bound to the VIP itself (IP_FREEBIND), even if not local.
    let (p, _) = problem(
        &svc("a", "198.18.0.11:5353", "", "\"198.19.0.2\""),
        &both(),
        Some(3),
    );
    assert!(
        matches!(
            p,
            HostProblem::VipHijacksSocket {
                proto: IPPROTO_UDP,
                ..
            }
        ),
        "{p:?}"
    );
    // A wildcard socket does not receive for a VIP that is not local.
    preflight(
        &config(&svc("a", "198.18.0.10:22", "", "\"198.19.0.2\"")),
        &facts(),
        &both(),
    )
    .unwrap();
}

#[test]
fn every_problem_is_reported() {
    let text = svc("a", "198.18.0.1", "", "\"198.19.2.5\", \"198.19.0.1\"")
        + "[relay]\nsnat_ports = \"30000-40000\"\n";
    let problems = preflight(&config(&text), &facts(), &both()).unwrap_err();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    let lines: Vec<Option<usize>> = problems.iter().map(HostProblem::line).collect();
    assert_eq!(
        lines,
        vec![None, Some(3), Some(4), Some(4)],
        "in file order, [relay] first"
    );
}
