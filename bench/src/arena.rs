//! An arena: `client -- wire -- relay -- wire -- backend`, the namespaces
//! of one competitor, built the same way for every competitor.
//!
//! Addresses are those of the end-to-end tests (the integration-test crate's
//! `topology`, all in 198.18.0.0/15): client 198.18.0.2, relay 198.18.0.1
//! and 198.19.0.1, backend 198.19.0.10, VIP 198.18.100.1. Only D1's
//! backend has a route back to the clients. Interface names carry the competitor's ID
//! (`f1cl` -- `f1w0` `f1w1` -- `f1rc` | `f1rb` -- `f1w2` `f1w3` -- `f1bk`)
//! so that their NAPI threads (`napi/f1rc-<id>`) can be told apart and
//! pinned. The wire ([`crate::wire`]) hands the relay frames the way a
//! NIC's driver does.
//!
//! Settings, identical for every competitor:
//! - TX checksum offload off on every veth end (a locally sent packet would
//!   otherwise carry a partial checksum that an XDP program rewrites and
//!   forwards as is, see the integration-test crate's `topology`); GRO on (the
//!   receiving peers need NAPI, see below), GSO on;
//! - threaded NAPI on every veth end; the relay's two NAPI threads and the
//!   relay's processes on [`RELAY_CPU`], everything else on [`OUTSIDE_CPU`];
//!   the wire's and the backend's NAPI threads (test equipment: the sink's
//!   receive path) at real-time priority, so that they never limit a
//!   measurement;
//! - permanent neighbour entries, so that no ARP happens during a run;
//! - T5 with offloads off: GRO, GSO and TSO off, and an XDP_PASS program on
//!   every client, relay and backend interface without another XDP program
//!   (the wire's redirects need NAPI on the receiving veth, which GRO or an
//!   XDP program provides).

use std::{net::Ipv4Addr, thread, time::Duration};

use anyhow::{bail, Context as _, Result};

use crate::{
    competitor::Competitor,
    counters::EthtoolStats,
    host::{self, OUTSIDE_CPU, RELAY_CPU},
    infra::{
        topology::{
            backend_addr, read_mac, vip, CLIENT_ADDR, RELAY_BACKEND_ADDR, RELAY_CLIENT_ADDR,
        },
        Netns, XdpPass,
    },
    netdev::{napi_threads, neigh, new_ns, threaded_napi, up, veth},
    relay::{RelayProcess, Serves},
    relay_cpu::RelayCpu,
    sink::Sink,
    wire::Wire,
};

/// The backend's address.
pub(crate) fn backend() -> Ipv4Addr {
    backend_addr(0)
}

/// The VIP clients send to (except in D1).
pub(crate) fn the_vip() -> Ipv4Addr {
    vip(0)
}

/// Offload settings of an arena's veth ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offloads {
    /// GRO and GSO on (TX checksum offload off).
    On,
    /// GRO, GSO and TSO off; NAPI kept by an XDP_PASS program (see the
    /// module documentation).
    Off,
}

/// Names of the veth ends: client -- wire -- relay -- wire -- backend.
#[derive(Clone, Debug)]
pub(crate) struct Ifs {
    /// Client's interface.
    pub client: String,
    /// Wire, facing the client.
    pub wire_client: String,
    /// Wire, facing the relay's client side.
    pub wire_relay_client: String,
    /// Relay's interface towards the client.
    pub relay_client: String,
    /// Relay's interface towards the backend.
    pub relay_backend: String,
    /// Wire, facing the relay's backend side.
    pub wire_relay_backend: String,
    /// Wire, facing the backend.
    pub wire_backend: String,
    /// Backend's interface.
    pub backend: String,
}

/// What a veth end is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The client's or the backend's interface.
    Endpoint,
    /// One of the relay's two interfaces.
    Relay,
    /// An interface of the wire.
    Wire,
}

/// One competitor's network and relay. Dropping it stops the relay and
/// removes the namespaces (fields drop in declaration order).
pub(crate) struct Arena {
    /// Who relays here.
    pub competitor: Competitor,
    relay_process: RelayProcess,
    /// The UDP sink on the backend's interface, when attached.
    pub sink: Option<Sink>,
    _pass: Vec<XdpPass>,
    _wire: Wire,
    /// The client's namespace.
    pub client: Netns,
    /// The wire's namespace.
    pub wire: Netns,
    /// The relay's namespace.
    pub relay: Netns,
    /// The backend's namespace.
    pub backend: Netns,
    /// Interface names.
    pub ifs: Ifs,
    /// MAC of the client's interface.
    pub client_mac: [u8; 6],
    /// MAC of the relay's client-side interface (where clients send).
    pub relay_mac: [u8; 6],
    /// CPU time of the relay's threads and processes.
    pub relay_cpu: RelayCpu,
    /// Counters of the wire's interface towards the relay: frames the
    /// relay's interface refused (`tx_queue_0_xdp_xmit_errors`).
    pub wire_stats: EthtoolStats,
}

impl Arena {
    /// Builds the network of `competitor` and starts its relay, serving
    /// what `serves` lists.
    pub(crate) fn build(
        competitor: Competitor,
        serves: &Serves,
        offloads: Offloads,
        fwd: &std::path::Path,
    ) -> Result<Arena> {
        let p = competitor.prefix();
        let ifs = Ifs {
            client: format!("{p}cl"),
            wire_client: format!("{p}w0"),
            wire_relay_client: format!("{p}w1"),
            relay_client: format!("{p}rc"),
            relay_backend: format!("{p}rb"),
            wire_relay_backend: format!("{p}w2"),
            wire_backend: format!("{p}w3"),
            backend: format!("{p}bk"),
        };
        let client = new_ns(&format!("{p}-client"))?;
        let wire = new_ns(&format!("{p}-wire"))?;
        let relay = new_ns(&format!("{p}-relay"))?;
        let backend = new_ns(&format!("{p}-backend"))?;
        veth(&client, &ifs.client, &wire, &ifs.wire_client, offloads)?;
        veth(
            &wire,
            &ifs.wire_relay_client,
            &relay,
            &ifs.relay_client,
            offloads,
        )?;
        veth(
            &relay,
            &ifs.relay_backend,
            &wire,
            &ifs.wire_relay_backend,
            offloads,
        )?;
        veth(&wire, &ifs.wire_backend, &backend, &ifs.backend, offloads)?;
        for name in [
            &ifs.wire_client,
            &ifs.wire_relay_client,
            &ifs.wire_relay_backend,
            &ifs.wire_backend,
        ] {
            wire.ip(&["link", "set", name, "up"])?;
        }
        let wire_xdp = Wire::attach(
            &wire,
            [
                (&ifs.wire_client, &ifs.wire_relay_client),
                (&ifs.wire_relay_backend, &ifs.wire_backend),
            ],
        )?;

        up(&client, &ifs.client, CLIENT_ADDR)?;
        up(&relay, &ifs.relay_client, RELAY_CLIENT_ADDR)?;
        up(&relay, &ifs.relay_backend, RELAY_BACKEND_ADDR)?;
        up(&backend, &ifs.backend, self::backend())?;
        relay.sysctl("net.ipv4.ip_forward", "1")?;

        let client_mac = read_mac(&client, &ifs.client)?;
        let relay_mac = read_mac(&relay, &ifs.relay_client)?;
        let relay_b_mac = read_mac(&relay, &ifs.relay_backend)?;
        let backend_mac = read_mac(&backend, &ifs.backend)?;
        neigh(&client, RELAY_CLIENT_ADDR, relay_mac, &ifs.client)?;
        neigh(&relay, CLIENT_ADDR, client_mac, &ifs.relay_client)?;
        neigh(&relay, self::backend(), backend_mac, &ifs.relay_backend)?;
        neigh(&backend, RELAY_BACKEND_ADDR, relay_b_mac, &ifs.backend)?;

        let gw = RELAY_CLIENT_ADDR.to_string();
        client.ip(&["route", "add", crate::infra::topology::VIP_NET, "via", &gw])?;
        if competitor == Competitor::Routing {
            client.ip(&["route", "add", "198.19.0.0/24", "via", &gw])?;
            let back = RELAY_BACKEND_ADDR.to_string();
            backend.ip(&["route", "add", "198.18.0.0/24", "via", &back])?;
        }
        // The client is the load generator: many short connections.
        client.sysctl("net.ipv4.ip_local_port_range", "1024 65535")?;
        client.sysctl("net.ipv4.tcp_tw_reuse", "1")?;

        let relay_cpu = RelayCpu::new(&relay, &[&ifs.relay_client, &ifs.relay_backend])?;
        let wire_stats = EthtoolStats::open(&wire, &ifs.wire_relay_client)?;
        let mut arena = Arena {
            competitor,
            relay_process: RelayProcess::None,
            sink: None,
            _pass: Vec::new(),
            _wire: wire_xdp,
            client,
            wire,
            relay,
            backend,
            ifs,
            client_mac,
            relay_mac,
            relay_cpu,
            wire_stats,
        };
        for (ns, name, _) in arena.ends() {
            threaded_napi(ns, name)?;
        }
        arena.relay_process = RelayProcess::start(&arena, serves, fwd)
            .with_context(|| format!("starting {}'s relay", competitor.label()))?;
        if offloads == Offloads::Off {
            arena.keep_napi_without_gro()?;
        }
        arena.pin()?;
        Ok(arena)
    }

    /// Every veth end with its namespace and role, client to backend.
    pub(crate) fn ends(&self) -> [(&Netns, &str, Role); 8] {
        let i = &self.ifs;
        [
            (&self.client, i.client.as_str(), Role::Endpoint),
            (&self.wire, i.wire_client.as_str(), Role::Wire),
            (&self.wire, i.wire_relay_client.as_str(), Role::Wire),
            (&self.relay, i.relay_client.as_str(), Role::Relay),
            (&self.relay, i.relay_backend.as_str(), Role::Relay),
            (&self.wire, i.wire_relay_backend.as_str(), Role::Wire),
            (&self.wire, i.wire_backend.as_str(), Role::Wire),
            (&self.backend, i.backend.as_str(), Role::Endpoint),
        ]
    }

    /// Where clients send: the VIP, or for D1 the backend itself.
    pub(crate) fn target(&self) -> Ipv4Addr {
        if self.competitor.uses_vip() {
            the_vip()
        } else {
            backend()
        }
    }

    /// The relay's process (fwd), if it runs one whose BPF objects can be
    /// read.
    pub(crate) fn fwd_pid(&self) -> Option<u32> {
        self.relay_process.fwd_pid()
    }

    /// Fails with the relay's output if its process ended.
    pub(crate) fn check_relay(&mut self) -> Result<()> {
        self.relay_process.check_running()
    }

    /// Attaches the UDP sink to the backend's interface.
    pub(crate) fn attach_sink(&mut self) -> Result<()> {
        self.sink = Some(Sink::attach(&self.backend, &self.ifs.backend)?);
        Ok(())
    }

    /// Frames the relay's client-side interface refused (its receive ring
    /// was full) so far.
    pub(crate) fn refused(&self) -> Result<u64> {
        self.wire_stats.read("tx_queue_0_xdp_xmit_errors")
    }

    /// The sink's count; fails if none is attached.
    pub(crate) fn sink_count(&self) -> Result<u64> {
        self.sink.as_ref().context("no sink attached")?.count()
    }

    /// An XDP_PASS program on every client, relay and backend interface
    /// that has no XDP program yet (the wire's redirects need NAPI on the
    /// receiving side).
    fn keep_napi_without_gro(&mut self) -> Result<()> {
        let mut pass = Vec::new();
        for (ns, name, role) in self.ends() {
            if role != Role::Wire && crate::infra::relay::xdp_mode(ns, name)?.is_none() {
                pass.push(XdpPass::attach(ns, name)?);
            }
        }
        self._pass = pass;
        Ok(())
    }

    /// Pins the NAPI threads of every veth end: the relay's to
    /// [`RELAY_CPU`], the others to [`OUTSIDE_CPU`], the wire's and the
    /// backend's at real-time priority. Called before every measurement:
    /// attaching XDP may recreate a NAPI thread.
    pub(crate) fn pin(&self) -> Result<()> {
        for (ns, name, role) in self.ends() {
            let cpu = if role == Role::Relay {
                RELAY_CPU
            } else {
                OUTSIDE_CPU
            };
            let mut threads = napi_threads(name);
            if threads.is_empty() {
                threaded_napi(ns, name)?;
                thread::sleep(Duration::from_millis(20));
                threads = napi_threads(name);
            }
            if threads.is_empty() {
                bail!("{name} has no NAPI thread (threaded NAPI did not take)");
            }
            for tid in threads {
                host::pin(tid, cpu).with_context(|| format!("pinning napi/{name} to CPU {cpu}"))?;
                // The wire and the backend's receive path (the sink) are
                // the test equipment: they must never limit a measurement.
                if role == Role::Wire || name == self.ifs.backend {
                    host::realtime(tid)?;
                }
            }
        }
        Ok(())
    }
}
