//! What the datapath decides before it touches the kernel. Against the
//! real kernel (root) it is tested by the integration tests
//! (`tests/tests/datapath.rs`, packet behaviour in `prog_test_run`).

use std::net::Ipv4Addr;

use fwd_common::{IPPROTO_TCP, IPPROTO_UDP};

use super::*;
use crate::plan::{PlannedBackend, PlannedService};

fn plan() -> Plan {
    let backend = |id, last| PlannedBackend {
        id,
        addr: Ipv4Addr::new(198, 19, 0, last),
        port: Some(8080),
        snat: Ipv4Addr::new(198, 19, 0, 1),
        weight: 1,
    };
    Plan {
        services: vec![PlannedService {
            id: 0,
            name: "web".into(),
            vip: Ipv4Addr::new(198, 18, 1, 10),
            port: Some(80),
            protocols: vec![IPPROTO_TCP, IPPROTO_UDP],
            mss_clamp: Default::default(),
            access: Default::default(),
            backends: vec![backend(0, 2), backend(1, 3)],
        }],
        settings: RelaySettings {
            max_flows: 1024,
            ..Default::default()
        },
    }
}

#[test]
fn a_plan_too_large_is_refused_before_anything_is_written() {
    let mut p = plan();
    p.services[0].backends[1].id = fwd_common::maps::MAX_BACKENDS;
    let err = check_fits(&p, 64).unwrap_err();
    assert!(
        err.to_string().contains("backend 198.19.0.3 has id 4096"),
        "{err}"
    );
    let mut p = plan();
    p.services[0].protocols = vec![1];
    assert!(check_fits(&p, 64).is_err());
    check_fits(&plan(), 64).unwrap();
    let err = check_fits(&plan(), 0).unwrap_err();
    assert!(err.to_string().contains("max_services = 0"), "{err}");
}
