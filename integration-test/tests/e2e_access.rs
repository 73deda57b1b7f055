//! Who may connect, end to end: a service whose `allow` list admits the
//! client's address relays its TCP connections, while the same client
//! host speaking from another address (not on the list) gets no
//! connection, and the drop shows in the metrics under its own reason.
//! A reload that narrows the list keeps the connection already open.
//! Needs root and the release binary (FWD_BIN).

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream},
    time::Duration,
};

use integration_test::{
    addr::sa,
    prometheus::http_get,
    relay::run_fwd,
    topology::{backend_addr, vip, CLIENT_ADDR, PREFIX_LEN},
    traffic::{pattern, Echo, EchoServer},
    Relay, Topology,
};

/// A second address of the client host, not on the allow list.
const OTHER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// How long the refused client waits for a connection.
const REFUSED_WAIT: Duration = Duration::from_secs(3);

fn file(allow: &str) -> String {
    format!(
        "[[service]]\nname = \"web\"\nlisten = \"{}:8080\"\nprotocol = \"tcp\"\n\
         backends = [\"{}:80\"]\nallow = [{allow}]\n",
        vip(0),
        backend_addr(0)
    )
}

/// Connects from `source` to `to` in the client's namespace.
fn connect_from(
    topo: &Topology,
    source: Ipv4Addr,
    to: SocketAddr,
    wait: Duration,
) -> std::io::Result<TcpStream> {
    topo.client
        .ns
        .enter(|| {
            // SAFETY: a plain socket, owned by the stream made from it.
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            use std::os::fd::FromRawFd;
            // SAFETY: `fd` is ours; the stream closes it.
            let stream = unsafe { TcpStream::from_raw_fd(fd) };
            let bind = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(source).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: a valid sockaddr_in of its size.
            let rc = unsafe {
                libc::bind(
                    fd,
                    (&raw const bind).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let SocketAddr::V4(to) = to else {
                unreachable!("IPv4 only")
            };
            connect_timeout(&stream, to, wait)?;
            Ok(stream)
        })
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

/// `connect` on a bound socket, with a timeout (std's `connect_timeout`
/// makes its own socket).
fn connect_timeout(stream: &TcpStream, to: SocketAddrV4, wait: Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    stream.set_nonblocking(true)?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid sockaddr_in of its size.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&raw mut pfd, 1, wait.as_millis() as libc::c_int) };
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
    }
    stream.set_nonblocking(false)
}

/// One round of 16 KiB through the echo server, the connection left open.
fn echo(stream: &mut TcpStream, seed: u64) -> std::io::Result<()> {
    use std::io::{Read, Write};
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let sent = pattern(seed, 16 * 1024);
    stream.write_all(&sent)?;
    let mut back = vec![0u8; sent.len()];
    stream.read_exact(&mut back)?;
    if back != sent {
        return Err(std::io::Error::other("the echo differs"));
    }
    Ok(())
}

/// The value of the `drop_not_allowed` packet counter on interface `c0`.
fn refused_packets(topo: &Topology) -> u64 {
    let metrics: SocketAddr = fwd::metrics::DEFAULT_ADDR.parse().unwrap();
    let text = http_get(&topo.relay, metrics, "/metrics", None)
        .unwrap()
        .body;
    text.lines()
        .find(|l| {
            l.starts_with("fwd_datapath_packets_total{")
                && l.contains("interface=\"c0\"")
                && l.contains("reason=\"drop_not_allowed\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn only_listed_clients_connect_and_the_refusals_are_counted() {
    let topo = Topology::two_arm(1).unwrap();
    topo.client
        .ns
        .ip(&[
            "addr",
            "add",
            &format!("{OTHER_ADDR}/{PREFIX_LEN}"),
            "dev",
            "eth0",
        ])
        .unwrap();
    let b = &topo.backends[0];
    let _echo = EchoServer::tcp(&b.ns, sa(b.addr(), 80), Echo::Same).unwrap();
    let relay = Relay::start(
        &topo.relay,
        &topo.relay_if_names(),
        &file(&format!("\"{CLIENT_ADDR}/32\"")),
    )
    .unwrap();
    let web = sa(vip(0), 8080);

    // The listed address connects and echoes.
    let mut kept = connect_from(&topo, CLIENT_ADDR, web, Duration::from_secs(5))
        .expect("the listed client connects");
    echo(&mut kept, 1).expect("the listed client's echo");

    // The other address gets no connection; its SYNs are counted.
    let refused = connect_from(&topo, OTHER_ADDR, web, REFUSED_WAIT);
    assert!(refused.is_err(), "a client not on the list connected");
    let dropped = refused_packets(&topo);
    assert!(dropped >= 1, "no drop_not_allowed in the metrics");

    // Narrowed to nobody the client host has: the open connection goes
    // on, a new one from the listed address is refused.
    relay.rewrite_map(&file("\"198.18.0.200/32\"")).unwrap();
    let control = relay.control().to_str().unwrap().to_owned();
    let (status, out) = run_fwd(
        &topo.relay,
        &["reload", "--control", &control],
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(status.success(), "{out}");
    echo(&mut kept, 2).expect("the open connection survives the reload");
    assert!(
        connect_from(&topo, CLIENT_ADDR, web, REFUSED_WAIT).is_err(),
        "a new connection after the narrowing"
    );
    assert!(
        refused_packets(&topo) > dropped,
        "the new refusal is counted"
    );
}
