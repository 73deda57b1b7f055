//! Backend selection by weighted Maglev, through the real program: every new
//! flow goes exactly where the loader's table says, shares follow the
//! weights, and draining a backend (weight 0, installed while flows are
//! live) sends it no new flow while its existing flows continue.

use std::{collections::HashMap, net::Ipv4Addr};

use fwd::{
    maglev::{self, TABLE_SIZE},
    plan::{Plan, PlannedBackend, PlannedService},
};
use fwd_common::{
    counters::xdp_action, flow::tcp_flags::*, hash::flow_hash4, Flow4Key, IPPROTO_TCP,
};
use integration_test::{
    addr::sa,
    packet::{parse, PacketBuilder},
};

use integration_test::prog_test_run::{
    env::{self, *},
    run::run,
};

/// TCP port of the weighted service on [`VIP`].
const PORT: u16 = 9443;
/// Its backends (all on the backend-side subnet, with neighbours) and weights.
const MEMBERS: [(Ipv4Addr, u32); 3] = [
    (Ipv4Addr::new(198, 19, 0, 21), 1),
    (Ipv4Addr::new(198, 19, 0, 22), 1),
    (Ipv4Addr::new(198, 19, 0, 23), 2),
];
/// Flows opened in each phase.
const FLOWS: u16 = 3000;

/// The packet tests' plan plus the weighted service, with `weights`.
fn plan(weights: [u32; 3]) -> Plan {
    let mut plan = env::plan();
    // Thousands of flows to one backend port need more than the table tests' 100 SNAT ports.
    plan.settings.snat_ports = 10_000..=32_767;
    let first_id = plan
        .services
        .iter()
        .map(|s| s.backends.len() as u32)
        .sum::<u32>();
    let backends = MEMBERS
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(i, ((addr, _), weight))| PlannedBackend {
            id: first_id + i as u32,
            addr: *addr,
            port: Some(443),
            snat: SNAT,
            weight,
        })
        .collect();
    let id = plan.services.len() as u32;
    plan.services.push(PlannedService {
        id,
        name: "weighted".into(),
        vip: VIP,
        port: Some(PORT),
        protocols: vec![IPPROTO_TCP],
        mss_clamp: Default::default(),
        access: Default::default(),
        backends,
    });
    plan
}

/// Where the loader's Maglev table for the weighted service of `plan`
/// sends a flow from each client port.
fn expected(plan: &Plan) -> impl Fn(u16) -> Option<Ipv4Addr> + '_ {
    let service = plan.services.last().unwrap();
    let table = maglev::populate(&fwd::datapath::maglev_members(service));
    move |client_port| {
        let key = Flow4Key::new(CLIENT, client_port, VIP, PORT, IPPROTO_TCP);
        let id = table[(flow_hash4(&key) % TABLE_SIZE) as usize];
        service.backends.iter().find(|b| b.id == id).map(|b| b.addr)
    }
}

/// Opens flows from client ports `ports` and returns the backend each went to.
fn open(dp: &mut fwd::datapath::Datapath, ports: std::ops::Range<u16>) -> Vec<(u16, Ipv4Addr)> {
    ports
        .map(|p| {
            let out = run(dp, ifindex(CLIENT_IF), &from_client(p, SYN));
            assert_eq!(out.action, xdp_action::REDIRECT, "flow from port {p}");
            (p, *parse(&out.frame).unwrap().dst.ip())
        })
        .collect()
}

/// Neighbour entries for the weighted service's backends.
fn add_neighbours() {
    for (i, (addr, _)) in MEMBERS.iter().enumerate() {
        let mac = [0x02, 0xb2, 0, 0, 0, i as u8];
        sh(&[
            "ip",
            "neigh",
            "replace",
            &addr.to_string(),
            "lladdr",
            &env::mac(mac),
            "dev",
            BACKEND_IF,
            "nud",
            "permanent",
        ]);
    }
}

/// A TCP frame from the client's `port` to the weighted service.
fn from_client(port: u16, flags: u8) -> Vec<u8> {
    PacketBuilder::tcp(sa(CLIENT, port), sa(VIP, PORT), flags)
        .macs(CLIENT_MAC, CLIENT_IF_MAC)
        .build()
}

pub fn weighted_selection_and_drain() {
    add_neighbours();
    let weighted = plan([1, 1, 2]);
    let expected_weighted = expected(&weighted);
    let mut dp = env::datapath_with(&weighted);

    // Every flow goes where the table says; shares follow the weights.
    let first = open(&mut dp, 10_000..10_000 + FLOWS);
    let mut count: HashMap<Ipv4Addr, u32> = HashMap::new();
    for (port, backend) in &first {
        assert_eq!(
            Some(*backend),
            expected_weighted(*port),
            "flow from port {port}"
        );
        *count.entry(*backend).or_default() += 1;
    }
    for ((addr, weight), share) in MEMBERS.iter().zip([0.25, 0.25, 0.5]) {
        let got = count[addr] as f64 / FLOWS as f64;
        assert!(
            (got - share).abs() < 0.05,
            "{addr} (weight {weight}): {got:.3} of new flows, want {share}"
        );
    }

    // Drain the heaviest backend while the flows are live.
    let drained = plan([1, 1, 0]);
    let expected_drained = expected(&drained);
    dp.install(&drained).expect("reinstall with weight 0");
    for (port, backend) in &first {
        let out = run(&mut dp, ifindex(CLIENT_IF), &from_client(*port, ACK));
        assert_eq!(out.action, xdp_action::REDIRECT);
        assert_eq!(
            *parse(&out.frame).unwrap().dst.ip(),
            *backend,
            "existing flow from port {port} keeps its backend"
        );
    }
    let second = open(&mut dp, 20_000..20_000 + FLOWS);
    for (port, backend) in &second {
        assert_ne!(*backend, MEMBERS[2].0, "a drained backend gets no new flow");
        assert_eq!(
            Some(*backend),
            expected_drained(*port),
            "flow from port {port}"
        );
    }
    // Maglev moves only the drained backend's share: new flows that went to
    // the others before go there still, but for a small disruption.
    let moved = (20_000..20_000 + FLOWS)
        .filter(|p| {
            let before = expected_weighted(*p).unwrap();
            before != MEMBERS[2].0 && Some(before) != expected_drained(*p)
        })
        .count();
    assert!(
        (moved as f64) < 0.02 * FLOWS as f64,
        "{moved} flows of the remaining backends moved"
    );
}

/// How a connection to the drained backend was left before the client
/// sent a new SYN from the same port.
#[derive(Clone, Copy, Debug)]
enum Left {
    /// Closed by the client's FIN.
    Fin,
    /// Reset by the client.
    ClientRst,
    /// Reset by the backend.
    BackendRst,
    /// Still open: the SYN is a retransmission.
    Open,
}

/// A new SYN on the tuple of a closed connection is a new flow: after a
/// drain, a client reusing the tuple of a connection it had with the
/// drained backend goes where Maglev now says, never to the drained
/// backend; a SYN on a connection still open stays with its backend. The
/// old flow's two halves are replaced, not left behind.
pub fn reopened_tuple_after_drain() {
    add_neighbours();
    let mut dp = env::datapath_with(&plan([1, 1, 2]));
    let first = open(&mut dp, 30_000..30_000 + 400);
    let drained = plan([1, 1, 0]);
    let expected_drained = expected(&drained);
    dp.install(&drained).expect("reinstall with weight 0");
    let on_drained: Vec<u16> = first
        .iter()
        .filter(|(_, backend)| *backend == MEMBERS[2].0)
        .map(|(port, _)| *port)
        .collect();
    assert!(
        on_drained.len() > 100,
        "{} flows on the drained backend",
        on_drained.len()
    );
    let entries = dp.flows().unwrap().len();
    let ways = [Left::Fin, Left::ClientRst, Left::BackendRst, Left::Open];
    for (i, port) in on_drained.iter().copied().enumerate() {
        let left = ways[i % ways.len()];
        let key = Flow4Key::new(CLIENT, port, VIP, PORT, IPPROTO_TCP);
        let old = dp
            .flow(&key)
            .unwrap()
            .expect("the flow to the drained backend");
        let closing = match left {
            Left::Fin => Some((from_client(port, FIN | ACK), CLIENT_IF)),
            Left::ClientRst => Some((from_client(port, RST | ACK), CLIENT_IF)),
            Left::BackendRst => {
                let reply = old.other_key(IPPROTO_TCP);
                let frame = PacketBuilder::tcp(
                    sa(MEMBERS[2].0, 443),
                    sa(SNAT, u16::from_be(reply.dst_port)),
                    RST | ACK,
                )
                .macs(BACKEND_MAC, BACKEND_IF_MAC)
                .build();
                Some((frame, BACKEND_IF))
            }
            Left::Open => None,
        };
        if let Some((frame, iface)) = closing {
            let out = run(&mut dp, ifindex(iface), &frame);
            assert_eq!(
                out.action,
                xdp_action::REDIRECT,
                "{left:?} from port {port}"
            );
        }
        let out = run(&mut dp, ifindex(CLIENT_IF), &from_client(port, SYN));
        assert_eq!(out.action, xdp_action::REDIRECT, "SYN from port {port}");
        let backend = *parse(&out.frame).unwrap().dst.ip();
        let now = dp.flow(&key).unwrap().expect("the flow after the SYN");
        if let Left::Open = left {
            assert_eq!(
                backend, MEMBERS[2].0,
                "an open connection keeps its backend"
            );
            assert_eq!(now.created_ns, old.created_ns, "the same flow");
        } else {
            assert_eq!(
                Some(backend),
                expected_drained(port),
                "port {port} after {left:?}: chosen anew"
            );
            assert_ne!(
                backend, MEMBERS[2].0,
                "a drained backend gets no new connection"
            );
            assert_eq!(now.tcp_flags, SYN, "a new flow, from the SYN");
            assert_eq!(now.packets, 1);
        }
    }
    assert_eq!(
        dp.flows().unwrap().len(),
        entries,
        "each reopened flow replaced its two halves"
    );
}
