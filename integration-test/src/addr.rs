//! [`sa`]: socket addresses written the short way, for every test and the
//! demo.

use std::net::{Ipv4Addr, SocketAddrV4};

/// `addr:port` as the socket address type the caller needs: a
/// [`SocketAddrV4`] for packets ([`crate::packet::PacketBuilder`],
/// [`crate::packet::Parsed`]) or a [`std::net::SocketAddr`] for sockets
/// ([`crate::Netns::tcp_connect`], [`crate::traffic`]).
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
/// use integration_test::addr::sa;
///
/// let v4: SocketAddrV4 = sa(Ipv4Addr::new(198, 18, 0, 2), 40000);
/// let any: SocketAddr = sa(Ipv4Addr::new(198, 18, 0, 2), 40000);
/// assert_eq!(any, SocketAddr::V4(v4));
/// ```
pub fn sa<A: From<SocketAddrV4>>(addr: Ipv4Addr, port: u16) -> A {
    A::from(SocketAddrV4::new(addr, port))
}
