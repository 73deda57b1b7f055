//! Test networks: `client -- relay -- backend(s)` in namespaces.
//!
//! Addresses (all in 198.18.0.0/15, the benchmarking range of RFC 2544):
//!
//! | who | address |
//! | --- | --- |
//! | client | [`CLIENT_ADDR`] in 198.18.0.0/24 |
//! | relay, client side | [`RELAY_CLIENT_ADDR`] (the client's gateway for the VIPs) |
//! | VIPs | [`vip`]`(i)` in [`VIP_NET`], on no interface: only fwd answers them |
//! | relay, backend side | [`RELAY_BACKEND_ADDR`] (the SNAT address) |
//! | backend `i` | [`backend_addr`]`(i)` in 198.19.0.0/24 |
//!
//! The backends have only their connected route: they cannot reach the
//! client, so any reply that arrives proves the relay translated the source.
//!
//! Three shapes:
//! - [`Topology::two_arm`]: the relay has one interface towards the client
//!   and one towards the backends (a veth to the single backend, or to a
//!   bridge in a "switch" namespace when there are several).
//! - [`Topology::one_arm`]: the relay has one interface into a "lan"
//!   namespace holding a bridge, with the client and the backends on the
//!   same bridge but in different subnets; the relay carries an address in
//!   each, so fwd sends translated packets back out of the interface they
//!   came in on (XDP_TX).
//! - [`Topology::via_router`]: two-arm, with a router between the relay and
//!   one backend in 198.19.1.0/24 whose route forwards only packets up to a
//!   given size (PMTU tests).

use std::net::Ipv4Addr;

use crate::{
    error::{Error, Result},
    netns::Netns,
    xdp_pass::XdpPass,
};

/// The client's address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The relay's address on the client's subnet: the client's route to the
/// VIPs, and the address of the relay's own services.
pub const RELAY_CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The relay's address on the backends' subnet: the source backends see.
pub const RELAY_BACKEND_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Where the VIPs are (the client routes it via [`RELAY_CLIENT_ADDR`]).
pub const VIP_NET: &str = "198.18.100.0/24";
/// Prefix length of the client and backend subnets.
pub const PREFIX_LEN: u8 = 24;

/// VIP number `i` (0-based), in [`VIP_NET`].
pub fn vip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 100, i + 1)
}

/// The address of backend `i` (0-based).
pub fn backend_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        198,
        19,
        0,
        10 + u8::try_from(i).expect("fewer than 240 backends"),
    )
}

/// The shapes of [`Topology`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Client and backends on different interfaces of the relay.
    TwoArm,
    /// Client and backends behind one interface of the relay.
    OneArm,
    /// Two-arm, with a router between the relay and the one backend whose
    /// route to it forwards packets of at most a given size (a VPN or
    /// dedicated-line hop).
    ViaRouter,
}

/// Via-router topology: the router's address towards the relay.
pub const ROUTER_RELAY_SIDE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
/// Via-router topology: the router's address towards the backend.
pub const ROUTER_BACKEND_SIDE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 254);
/// Via-router topology: the backend's address, beyond the router.
pub const ROUTED_BACKEND_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 10);

/// An interface as built: name, IPv4 addresses (each /[`PREFIX_LEN`]), MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name inside its namespace.
    pub name: String,
    /// Its IPv4 addresses, first is primary.
    pub addrs: Vec<Ipv4Addr>,
    /// Its MAC address.
    pub mac: [u8; 6],
}

/// A client or backend: its namespace and its one interface (`eth0`).
#[derive(Debug)]
pub struct Host {
    /// The namespace; removed when the host is dropped.
    pub ns: Netns,
    /// `eth0`.
    pub iface: Interface,
}

impl Host {
    /// The host's address.
    pub fn addr(&self) -> Ipv4Addr {
        self.iface.addrs[0]
    }
}

/// A built test network. Everything is removed when it is dropped.
///
/// Built by tests and by `cargo xtask demo`; the relay namespace is where
/// [`crate::relay::Relay`] runs `fwd attach` on [`Topology::relay_if_names`].
#[derive(Debug)]
pub struct Topology {
    /// Which shape this is.
    pub shape: Shape,
    /// The client.
    pub client: Host,
    /// The backends, `backends[i]` at [`backend_addr`]`(i)`.
    pub backends: Vec<Host>,
    /// The relay's namespace (IPv4 forwarding on).
    pub relay: Netns,
    /// The relay's interfaces, the ones fwd attaches to: client side first.
    pub relay_ifs: Vec<Interface>,
    /// Namespaces holding bridges (none for a two-arm topology with one
    /// backend).
    pub switches: Vec<Netns>,
    /// One-arm only: the pass program on the relay interface's peer (see
    /// [`crate::xdp_pass`]).
    pub peer_xdp: Option<XdpPass>,
    /// Via-router only: the router's namespace (IPv4 forwarding on).
    pub routers: Vec<Netns>,
}

impl Topology {
    /// `client -- relay -- backends`, `backends` >= 1.
    pub fn two_arm(backends: usize) -> Result<Topology> {
        assert!(backends >= 1, "a topology needs a backend");
        let (relay, client, to_client) = relay_with_client()?;

        let mut switches = Vec::new();
        let mut hosts = Vec::new();
        if backends == 1 {
            let ns = new_ns("backend0")?;
            veth(&relay, "b0", &ns, "eth0")?;
            hosts.push(host(ns, backend_addr(0), false)?);
        } else {
            let sw = new_switch("bsw")?;
            veth(&relay, "b0", &sw, "p0")?;
            port_up(&sw, "p0")?;
            for i in 0..backends {
                let ns = new_ns(&format!("backend{i}"))?;
                let port = format!("p{}", i + 1);
                veth(&sw, &port, &ns, "eth0")?;
                port_up(&sw, &port)?;
                hosts.push(host(ns, backend_addr(i), false)?);
            }
            switches.push(sw);
        }
        let to_backends = configure(&relay, "b0", &[RELAY_BACKEND_ADDR])?;
        Ok(Topology {
            shape: Shape::TwoArm,
            client,
            backends: hosts,
            relay,
            relay_ifs: vec![to_client, to_backends],
            switches,
            peer_xdp: None,
            routers: Vec::new(),
        })
    }

    /// `client -- relay -- router -- backend`: the backend
    /// ([`ROUTED_BACKEND_ADDR`]) is a subnet away from the relay, and the
    /// router's route to it forwards IPv4 packets of at most `route_mtu`
    /// bytes (`mtu lock`): a larger one with DF set is answered with an
    /// ICMP fragmentation needed, to its source, as an IPsec or
    /// dedicated-line hop does. The links themselves have the usual 1500.
    pub fn via_router(route_mtu: u16) -> Result<Topology> {
        let (relay, client, to_client) = relay_with_client()?;
        let router = new_ns("router")?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        veth(&relay, "b0", &router, "eth0")?;
        configure(&router, "eth0", &[ROUTER_RELAY_SIDE_ADDR])?;
        let to_backends = configure(&relay, "b0", &[RELAY_BACKEND_ADDR])?;
        let backend_net = "198.19.1.0/24";
        relay.ip(&[
            "route",
            "add",
            backend_net,
            "via",
            &ROUTER_RELAY_SIDE_ADDR.to_string(),
        ])?;

        let backend_ns = new_ns("backend0")?;
        veth(&router, "eth1", &backend_ns, "eth0")?;
        configure(&router, "eth1", &[ROUTER_BACKEND_SIDE_ADDR])?;
        let backend = host(backend_ns, ROUTED_BACKEND_ADDR, false)?;
        backend.ns.ip(&[
            "route",
            "add",
            "default",
            "via",
            &ROUTER_BACKEND_SIDE_ADDR.to_string(),
        ])?;
        router.ip(&[
            "route",
            "add",
            &format!("{ROUTED_BACKEND_ADDR}/32"),
            "dev",
            "eth1",
            "mtu",
            "lock",
            &route_mtu.to_string(),
        ])?;
        Ok(Topology {
            shape: Shape::ViaRouter,
            client,
            backends: vec![backend],
            relay,
            relay_ifs: vec![to_client, to_backends],
            switches: Vec::new(),
            peer_xdp: None,
            routers: vec![router],
        })
    }

    /// `client, backends -- lan bridge -- relay` on one relay interface,
    /// `backends` >= 1.
    pub fn one_arm(backends: usize) -> Result<Topology> {
        assert!(backends >= 1, "a topology needs a backend");
        let relay = new_ns("relay")?;
        relay.sysctl("net.ipv4.ip_forward", "1")?;
        let lan = new_switch("lan")?;
        veth(&relay, "l0", &lan, "p0")?;
        port_up(&lan, "p0")?;
        let client_ns = new_ns("client")?;
        veth(&lan, "pc", &client_ns, "eth0")?;
        port_up(&lan, "pc")?;
        let client = host(client_ns, CLIENT_ADDR, true)?;
        let mut hosts = Vec::new();
        for i in 0..backends {
            let ns = new_ns(&format!("backend{i}"))?;
            let port = format!("p{}", i + 1);
            veth(&lan, &port, &ns, "eth0")?;
            port_up(&lan, &port)?;
            hosts.push(host(ns, backend_addr(i), false)?);
        }
        let arm = configure(&relay, "l0", &[RELAY_CLIENT_ADDR, RELAY_BACKEND_ADDR])?;
        // fwd answers with XDP_TX here, which a veth peer with GRO alone
        // delivers late: see `crate::xdp_pass`.
        let peer_xdp = Some(XdpPass::attach(&lan, "p0")?);
        Ok(Topology {
            shape: Shape::OneArm,
            client,
            backends: hosts,
            relay,
            relay_ifs: vec![arm],
            switches: vec![lan],
            peer_xdp,
            routers: Vec::new(),
        })
    }

    /// Names of the relay's interfaces, for `fwd attach`.
    pub fn relay_if_names(&self) -> Vec<&str> {
        self.relay_ifs.iter().map(|i| i.name.as_str()).collect()
    }

    /// Every namespace of this topology.
    pub fn namespaces(&self) -> Vec<&Netns> {
        let mut all = vec![&self.client.ns, &self.relay];
        all.extend(self.backends.iter().map(|b| &b.ns));
        all.extend(self.switches.iter());
        all.extend(self.routers.iter());
        all
    }
}

/// The relay's namespace (forwarding on) and the client on its interface
/// `c0`, for the two-arm shapes.
fn relay_with_client() -> Result<(Netns, Host, Interface)> {
    let relay = new_ns("relay")?;
    relay.sysctl("net.ipv4.ip_forward", "1")?;
    let client_ns = new_ns("client")?;
    veth(&relay, "c0", &client_ns, "eth0")?;
    let client = host(client_ns, CLIENT_ADDR, true)?;
    let to_client = configure(&relay, "c0", &[RELAY_CLIENT_ADDR])?;
    Ok((relay, client, to_client))
}

/// A namespace with IPv6 off: no router solicitations or DAD in captures.
fn new_ns(role: &str) -> Result<Netns> {
    let ns = Netns::new(role)?;
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
    Ok(ns)
}

/// A namespace holding an up bridge `br0` (STP off: ports forward at once).
fn new_switch(role: &str) -> Result<Netns> {
    let ns = new_ns(role)?;
    ns.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0"])?;
    ns.ip(&["link", "set", "br0", "up"])?;
    Ok(ns)
}

/// A veth pair `a_if` in `a` and `b_if` in `b`, both left down.
///
/// Every end gets TX checksum offload off: a locally sent packet otherwise
/// carries only a partial checksum (CHECKSUM_PARTIAL, the pseudo-header sum
/// to be completed by the "hardware"), and an XDP program on the receiving
/// veth would see, rewrite and forward that incomplete checksum, which the
/// final receiver then drops. With offload off the kernel completes the
/// checksum before the frame leaves, as a real NIC would on the wire.
fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    a.veth(a_if, b, b_if, &["tx", "off"])
}

/// Enslaves `port` to the switch's bridge, brings it up and turns GRO on
/// (see [`configure`]).
fn port_up(sw: &Netns, port: &str) -> Result<()> {
    sw.ip(&["link", "set", port, "master", "br0"])?;
    sw.ip(&["link", "set", port, "up"])?;
    sw.run(&["ethtool", "-K", port, "gro", "on"])?;
    Ok(())
}

/// Configures `eth0` of a host: address, up, GRO on, and for the client a
/// route to the VIPs via the relay.
fn host(ns: Netns, addr: Ipv4Addr, is_client: bool) -> Result<Host> {
    let iface = configure(&ns, "eth0", &[addr])?;
    if is_client {
        ns.ip(&[
            "route",
            "add",
            VIP_NET,
            "via",
            &RELAY_CLIENT_ADDR.to_string(),
        ])?;
    }
    Ok(Host { ns, iface })
}

/// Adds `addrs` to `name`, brings it up, turns GRO on and reads its MAC.
///
/// GRO is turned on for every host and switch-port interface because each
/// may be the peer of a relay interface: a veth that fwd redirects a frame
/// to (XDP_REDIRECT) delivers it through its peer's NAPI instance, which
/// exists only when the peer has an XDP program or GRO enabled; otherwise
/// the frame is dropped (`veth_xdp_xmit` in drivers/net/veth.c). Frames
/// sent back out with XDP_TX need more: see [`crate::xdp_pass`].
fn configure(ns: &Netns, name: &str, addrs: &[Ipv4Addr]) -> Result<Interface> {
    for a in addrs {
        ns.ip(&["addr", "add", &format!("{a}/{PREFIX_LEN}"), "dev", name])?;
    }
    ns.ip(&["link", "set", name, "up"])?;
    ns.run(&["ethtool", "-K", name, "gro", "on"])?;
    let mac = read_mac(ns, name)?;
    Ok(Interface {
        name: name.to_string(),
        addrs: addrs.to_vec(),
        mac,
    })
}

/// The MAC of `name` in `ns`, from `ip -br link show`.
pub fn read_mac(ns: &Netns, name: &str) -> Result<[u8; 6]> {
    let out = ns.ip(&["-br", "link", "show", "dev", name])?;
    let bad = || Error::Unexpected {
        what: format!("a MAC address for {name}"),
        output: out.clone(),
    };
    let text = out.split_whitespace().nth(2).ok_or_else(bad)?;
    let bytes: Vec<u8> = text
        .split(':')
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    bytes.try_into().map_err(|_| bad())
}
