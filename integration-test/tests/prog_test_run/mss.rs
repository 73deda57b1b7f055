//! MSS clamping of relayed SYNs and SYN-ACKs, row by row through the real
//! program: the MSS option lowered to the service's clamp (1360, "auto"
//! from the MTUs) or left alone (below the clamp, "off", no option, a
//! malformed list, not a SYN), every other byte as it was, and the TCP
//! checksum right (the output is compared byte for byte with a frame
//! whose checksum the test crate computed, and recomputed on its own).

use std::{collections::HashMap, net::SocketAddrV4};

use fwd::{
    config::MssClamp,
    plan::{Plan, PlannedBackend, PlannedService},
};
use fwd_common::{flow::tcp_flags::*, Reason, IPPROTO_TCP};
use integration_test::{
    addr::sa,
    packet::PacketBuilder,
    prog_test_run::{
        env::{self, *},
        run::drain_events,
    },
};

use crate::{
    case::{from_backend, from_client, to_backend, to_client, Case},
    model::SnatModel,
    runner::{check, check_events},
};

/// The services added to the packet tests' plan: VIP port, backend port
/// (on [`BACKEND`]), clamp.
const CLAMPED: (u16, u16, MssClamp) = (8443, 443, MssClamp::Value(1360));
const OFF: (u16, u16, MssClamp) = (8444, 444, MssClamp::Off);
const AUTO: (u16, u16, MssClamp) = (8445, 445, MssClamp::Auto);
/// The MTU of the backend-side interface in these rows, and of the route
/// to [`BACKEND`] (`mtu lock`, so the FIB reports it).
const BACKEND_IF_MTU: u16 = 1400;
const BACKEND_ROUTE_MTU: u16 = 1300;

/// The options of a Linux SYN announcing `mss`: MSS, SACK permitted,
/// timestamps, NOP, window scale 7 (the MSS value at offset 22 of the TCP
/// header: an even offset).
fn linux_syn(mss: u16) -> Vec<u8> {
    let m = mss.to_be_bytes();
    vec![
        2, 4, m[0], m[1], 4, 2, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 1, 3, 3, 7,
    ]
}

/// An MSS option after `nops` NOPs, then NOPs up to 8 bytes: with an odd
/// number of NOPs the value lies at an odd offset of the TCP header and
/// straddles two checksum words.
fn after_nops(nops: usize, mss: u16) -> Vec<u8> {
    let m = mss.to_be_bytes();
    let mut o = vec![1; nops];
    o.extend_from_slice(&[2, 4, m[0], m[1]]);
    o.resize(8, 1);
    o
}

/// The packet tests' plan plus the three services of this table; returns
/// it and the backend id of each.
fn plan() -> (Plan, [u32; 3]) {
    let mut plan = env::plan();
    let mut next_backend = plan.services.iter().map(|s| s.backends.len() as u32).sum();
    let ids = [CLAMPED, OFF, AUTO].map(|(port, backend_port, mss_clamp)| {
        let id = next_backend;
        next_backend += 1;
        plan.services.push(PlannedService {
            id: plan.services.len() as u32,
            name: format!("mss-{mss_clamp}"),
            vip: VIP,
            port: Some(port),
            protocols: vec![IPPROTO_TCP],
            mss_clamp,
            access: Default::default(),
            backends: vec![PlannedBackend {
                id,
                addr: BACKEND,
                port: Some(backend_port),
                snat: SNAT,
                weight: 1,
            }],
        });
        id
    });
    (plan, ids)
}

/// A row: a segment of the flow from client port `client` to `service`,
/// with `options` in and `expected` out; a SYN comes from the client, a
/// segment with ACK (a SYN-ACK) from the backend.
struct Row {
    name: &'static str,
    service: (u16, u16, MssClamp),
    client: u16,
    flags: u8,
    options: Vec<u8>,
    expected: Vec<u8>,
    /// Builds on the builder both frames start from (payload, tags).
    extra: fn(PacketBuilder) -> PacketBuilder,
}

impl Row {
    fn new(
        name: &'static str,
        service: (u16, u16, MssClamp),
        client: u16,
        options: Vec<u8>,
        expected: Vec<u8>,
    ) -> Row {
        Row {
            name,
            service,
            client,
            flags: SYN,
            options,
            expected,
            extra: |b| b,
        }
    }

    /// A row whose options must leave as they came.
    fn untouched(
        name: &'static str,
        service: (u16, u16, MssClamp),
        client: u16,
        options: Vec<u8>,
    ) -> Row {
        Row::new(name, service, client, options.clone(), options)
    }

    fn flags(self, flags: u8) -> Row {
        Row { flags, ..self }
    }

    fn extra(self, extra: fn(PacketBuilder) -> PacketBuilder) -> Row {
        Row { extra, ..self }
    }

    /// The row as a case of the runner; `ids`: the backend id of each
    /// service of the table.
    fn case(&self, flows: &mut Flows, ids: &[u32; 3]) -> Case {
        let (port, backend_port, _) = self.service;
        let backend_id = ids[[CLAMPED, OFF, AUTO]
            .iter()
            .position(|s| *s == self.service)
            .expect("a service of this table")];
        let (client, vip, backend) = (
            sa(CLIENT, self.client),
            sa(VIP, port),
            sa(BACKEND, backend_port),
        );
        let snat_port = flows.snat_port(client, vip, backend, self.flags == SYN);
        let snat_addr = sa(SNAT, snat_port);
        let tcp = |src: SocketAddrV4, dst: SocketAddrV4, options: &[u8]| {
            (self.extra)(PacketBuilder::tcp(src, dst, self.flags).tcp_options(options))
        };
        let case = if self.flags & ACK == 0 {
            Case::translated(
                self.name,
                CLIENT_IF,
                from_client(tcp(client, vip, &self.options)),
                Reason::ForwardedRedirect,
                to_backend(tcp(snat_addr, backend, &self.expected)),
            )
        } else {
            Case::translated(
                self.name,
                BACKEND_IF,
                from_backend(tcp(backend, snat_addr, &self.options)),
                Reason::ForwardedRedirect,
                to_client(tcp(vip, client, &self.expected)),
            )
        };
        let case = case.backend(backend_id);
        if self.flags == SYN {
            case.new_flow()
        } else {
            case
        }
    }
}

/// The SNAT port of each flow: claimed in the model by its SYN, then
/// looked up for its later packets.
#[derive(Default)]
struct Flows {
    model: SnatModel,
    ports: HashMap<(SocketAddrV4, SocketAddrV4), u16>,
}

impl Flows {
    fn snat_port(
        &mut self,
        client: SocketAddrV4,
        vip: SocketAddrV4,
        backend: SocketAddrV4,
        syn: bool,
    ) -> u16 {
        if syn {
            let port = self
                .model
                .claim(client, vip, IPPROTO_TCP, backend)
                .expect("a free SNAT port");
            self.ports.insert((client, vip), port);
        }
        *self
            .ports
            .get(&(client, vip))
            .expect("the flow's SYN came first")
    }
}

fn rows() -> Vec<Row> {
    let clamped = linux_syn(1360);
    vec![
        Row::new(
            "a SYN announcing 1460 to a service clamped at 1360 leaves announcing 1360",
            CLAMPED,
            41000,
            linux_syn(1460),
            clamped.clone(),
        ),
        Row::new(
            "the backend's SYN-ACK announcing 1460 reaches the client announcing 1360",
            CLAMPED,
            41000,
            linux_syn(1460),
            clamped.clone(),
        )
        .flags(SYN | ACK),
        Row::untouched(
            "a segment without SYN is never clamped, whatever its options hold",
            CLAMPED,
            41000,
            after_nops(0, 1460),
        )
        .flags(ACK),
        Row::untouched(
            "a SYN announcing less than the clamp keeps its MSS",
            CLAMPED,
            41001,
            linux_syn(1200),
        ),
        Row::new(
            "an MSS after one NOP (its value at an odd offset) is clamped; the payload is kept",
            CLAMPED,
            41002,
            after_nops(1, 1460),
            after_nops(1, 1360),
        )
        .extra(|b| b.payload(b"abc")),
        Row::new(
            "behind a VLAN tag and IPv4 options, an MSS of 65535 after three NOPs is clamped",
            CLAMPED,
            41003,
            after_nops(3, 65535),
            after_nops(3, 1360),
        )
        .extra(|b| b.vlan(100).ip_options(&[0x94, 0x04, 0, 0])),
        Row::untouched(
            "a SYN without an MSS option is left alone (536 applies)",
            CLAMPED,
            41004,
            vec![4, 2, 1, 1],
        ),
        Row::untouched(
            "an MSS option after the end of the option list is not read",
            CLAMPED,
            41005,
            vec![0, 0, 0, 0, 2, 4, 5, 0xb4],
        ),
        Row::untouched(
            "an option of length 0 before the MSS ends the walk: the SYN is left alone",
            CLAMPED,
            41006,
            vec![8, 0, 2, 4, 5, 0xb4, 1, 1],
        ),
        Row::untouched(
            "a service with mss_clamp = \"off\" leaves 1460",
            OFF,
            41007,
            linux_syn(1460),
        ),
        Row::new(
            "auto: a SYN is clamped to the route's MTU (1300, below the ingress 1500) less 40",
            AUTO,
            41008,
            linux_syn(1460),
            linux_syn(BACKEND_ROUTE_MTU - 40),
        ),
        Row::new(
            "auto: the SYN-ACK to the ingress MTU (1400, below the route's 1500) less 40",
            AUTO,
            41008,
            linux_syn(1460),
            linux_syn(BACKEND_IF_MTU - 40),
        )
        .flags(SYN | ACK),
    ]
}

/// Runs the rows in order against one datapath (a SYN-ACK row finds the
/// flow its SYN row opened).
pub fn table() {
    sh(&[
        "ip",
        "link",
        "set",
        BACKEND_IF,
        "mtu",
        &BACKEND_IF_MTU.to_string(),
    ]);
    sh(&[
        "ip",
        "route",
        "add",
        &format!("{BACKEND}/32"),
        "dev",
        BACKEND_IF,
        "mtu",
        "lock",
        &BACKEND_ROUTE_MTU.to_string(),
    ]);
    let (plan, ids) = plan();
    let backends = plan.services.iter().map(|s| s.backends.len() as u32).sum();
    let mut dp = env::datapath_with(&plan);
    let mut ring = dp.take_flow_events().expect("the flow event ring");
    let mut flows = Flows::default();
    for row in rows() {
        let case = row.case(&mut flows, &ids);
        check(&mut dp, &case, backends);
        check_events(&case, &drain_events(&mut ring));
    }
}
