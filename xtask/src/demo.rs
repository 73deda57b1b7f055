//! `cargo xtask demo`: fwd relaying real TCP and UDP between namespaces.
//!
//! client (198.18.0.2) -- relay running `fwd attach` -- backend (198.19.0.10)
//!
//! The backend has no route back to the client; its echo servers reply
//! with the source address they saw, which is the relay's, not the
//! client's. Every namespace is removed at the end, also on error.

use std::{
    io::{Read as _, Write as _},
    net::{Shutdown, SocketAddr},
    path::Path,
    time::Duration,
};

use anyhow::{Context as _, Result};
use integration_test::{
    addr::sa,
    maps_toml,
    topology::{backend_addr, vip, RELAY_BACKEND_ADDR},
    traffic::{udp_exchange, Echo, EchoServer, IO_TIMEOUT},
    Relay, ServiceSpec, Topology,
};

use crate::build;

/// Port the whole-address service is reached on (kept end to end).
const WHOLE_PORT: u16 = 7000;
/// UDP port on the whole-address VIP.
const UDP_PORT: u16 = 5353;
/// The port-remapped service: VIP port -> backend port.
const REMAP_FROM: u16 = 8080;
const REMAP_TO: u16 = 80;

/// Builds fwd, runs the demo, tears everything down.
pub(crate) fn demo(root: &Path) -> Result<()> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    anyhow::ensure!(
        unsafe { libc::geteuid() } == 0,
        "the demo needs root (network namespaces, XDP)"
    );
    let bin = build::build(root)?;

    println!("== topology");
    let topo = Topology::two_arm(1).context("creating the namespaces")?;
    let backend = backend_addr(0);
    println!(
        "client  {} in {}",
        topo.client.addr(),
        topo.client.ns.name()
    );
    println!(
        "relay   {} (client side), {RELAY_BACKEND_ADDR} (backend side) in {}",
        integration_test::topology::RELAY_CLIENT_ADDR,
        topo.relay.name()
    );
    println!(
        "backend {backend} in {} (no route to the client)",
        topo.backends[0].ns.name()
    );

    let services = [
        ServiceSpec::new("whole", vip(0), &[backend.to_string()]),
        ServiceSpec::new(
            "web",
            format!("{}:{REMAP_FROM}", vip(1)),
            &[format!("{backend}:{REMAP_TO}")],
        )
        .protocol("tcp"),
    ];
    let toml = maps_toml(&services, &[]);
    println!("\n== maps.toml\n{toml}");

    let ifs = topo.relay_if_names();
    println!("== fwd attach {} (in {})", ifs.join(" "), topo.relay.name());
    let relay = Relay::start_with(&topo.relay, &bin, &ifs, &toml, &[]).context("starting fwd")?;

    let b = &topo.backends[0].ns;
    let tcp_whole = EchoServer::tcp(b, sa(backend, WHOLE_PORT), Echo::WithPeer)?;
    let tcp_remap = EchoServer::tcp(b, sa(backend, REMAP_TO), Echo::WithPeer)?;
    let udp = EchoServer::udp(b, sa(backend, UDP_PORT), Echo::WithPeer)?;

    let outcome = (|| -> Result<()> {
        tcp_exchange(
            &topo,
            sa(vip(0), WHOLE_PORT),
            "hello through the whole-address VIP",
        )?;
        tcp_exchange(
            &topo,
            sa(vip(1), REMAP_FROM),
            "hello through the port-remapped VIP",
        )?;

        let socket = topo.client.ns.udp_bind("0.0.0.0:0".parse()?)?;
        let to = sa(vip(0), UDP_PORT);
        let msg = "hello over UDP";
        let from = format!("{}:{}", topo.client.addr(), socket.local_addr()?.port());
        println!("\n== UDP {from} -> {to}");
        println!("client sent:     {msg:?}");
        let (reply, from) = udp_exchange(&socket, to, msg.as_bytes(), Duration::from_secs(5))
            .with_context(|| format!("no UDP reply from {to}"))?;
        println!(
            "client received: {:?} from {from}",
            String::from_utf8_lossy(&reply)
        );
        Ok(())
    })();

    println!("\n== what the backend saw");
    for (what, server) in [("TCP", &tcp_whole), ("TCP", &tcp_remap), ("UDP", &udp)] {
        for peer in server.peers() {
            let who = if peer.ip() == std::net::IpAddr::V4(RELAY_BACKEND_ADDR) {
                "the relay"
            } else {
                "NOT the relay"
            };
            println!("{what} {} <- {peer} ({who})", server.addr());
        }
    }
    drop((tcp_whole, tcp_remap, udp));

    println!("\n== stopping fwd (SIGTERM)");
    let log = relay.stop().context("stopping fwd")?;
    println!("== fwd log\n{}", log.trim_end());
    outcome?;
    println!("\n== done: namespaces removed");
    Ok(())
}

/// Sends `msg` over TCP to `to` from the client and prints the reply.
fn tcp_exchange(topo: &Topology, to: SocketAddr, msg: &str) -> Result<()> {
    let mut stream = topo
        .client
        .ns
        .tcp_connect(to, Duration::from_secs(5))
        .with_context(|| format!("connecting to {to}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    println!("\n== TCP {} -> {to}", stream.local_addr()?);
    println!("client sent:     {msg:?}");
    stream.write_all(msg.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .with_context(|| format!("reading the reply of {to}"))?;
    println!("client received: {reply:?}");
    Ok(())
}
