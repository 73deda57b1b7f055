//! One active check of one backend, from the relay's own stack: a TCP
//! connection from the backend's SNAT address (so the check takes the
//! path and return route the relayed flows take), then for HTTP a
//! `GET` whose status line is read. Everything within the check's timeout.
//!
//! The relay's own sockets use ports from the host's
//! `ip_local_port_range`, which `fwd attach` made sure is apart from
//! `snat_ports`, so the datapath hands their packets to the kernel.

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    time::Duration,
};

use thiserror::Error;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpSocket, TcpStream},
    time::timeout,
};

use crate::config::health::Probe;

/// Most bytes read while looking for the status line.
pub(crate) const MAX_STATUS_LINE: usize = 1024;

/// Where and how to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The address the check connects from (the backend's SNAT address).
    pub from: Ipv4Addr,
    /// The backend address and the port checked.
    pub to: SocketAddrV4,
    /// What the check does.
    pub probe: Probe,
    /// How long it may take.
    pub timeout: Duration,
}

/// Why a check failed.
#[derive(Debug, Error)]
pub(crate) enum CheckError {
    /// No answer within the timeout.
    #[error("no answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        /// The timeout.
        timeout: Duration,
    },
    /// The connection could not be made (refused, unreachable, ...).
    #[error("connect")]
    Connect(#[source] io::Error),
    /// The HTTP exchange failed after the connection was made.
    #[error("http exchange")]
    Io(#[source] io::Error),
    /// The answer is not an HTTP status line.
    #[error("not an HTTP answer")]
    NotHttp,
    /// The answer has another status than expected.
    #[error("http status {got}, expected {expected}")]
    Status {
        /// The status received.
        got: u16,
        /// The status expected.
        expected: u16,
    },
}

/// Runs one check.
pub(crate) async fn check(target: &Target) -> Result<(), CheckError> {
    match timeout(target.timeout, run(target)).await {
        Ok(result) => result,
        Err(_) => Err(CheckError::Timeout {
            timeout: target.timeout,
        }),
    }
}

async fn run(target: &Target) -> Result<(), CheckError> {
    let stream = connect(target.from, target.to)
        .await
        .map_err(CheckError::Connect)?;
    match &target.probe {
        Probe::Tcp => Ok(()),
        Probe::Http { path, status } => http(stream, target.to, path, *status).await,
    }
}

/// Connects from `from` (any port) to `to`.
async fn connect(from: Ipv4Addr, to: SocketAddrV4) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    bind_address_no_port(&socket)?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(from, 0)))?;
    socket.connect(SocketAddr::V4(to)).await
}

/// Sets `IP_BIND_ADDRESS_NO_PORT`: the source port is chosen at connect
/// time for the destination, not at bind time for every destination, so
/// checks of many backends (each leaving a socket in TIME_WAIT for a
/// minute) share the ephemeral ports instead of exhausting them
/// (ip(7), Linux 4.2).
fn bind_address_no_port(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the socket's own and open; the option value
    // is a valid c_int whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The request of an HTTP check.
pub(crate) fn request(to: SocketAddrV4, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {to}\r\nUser-Agent: fwd-health/{}\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

async fn http(
    mut stream: TcpStream,
    to: SocketAddrV4,
    path: &str,
    expected: u16,
) -> Result<(), CheckError> {
    stream
        .write_all(request(to, path).as_bytes())
        .await
        .map_err(CheckError::Io)?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    let line = loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            break &buf[..end];
        }
        if buf.len() >= MAX_STATUS_LINE {
            return Err(CheckError::NotHttp);
        }
        let n = stream.read(&mut chunk).await.map_err(CheckError::Io)?;
        if n == 0 {
            return Err(CheckError::NotHttp);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    match status_code(line) {
        Some(got) if got == expected => Ok(()),
        Some(got) => Err(CheckError::Status { got, expected }),
        None => Err(CheckError::NotHttp),
    }
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
pub(crate) fn status_code(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.splitn(3, ' ');
    let version = words.next()?;
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok().filter(|c| (100..=599).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(status_code(b"HTTP/1.1 204"), Some(204));
        for bad in [
            &b"HTTP/2 200 OK"[..],
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc OK",
            b"HTTP/1.1 700 Nope",
            b"SSH-2.0-OpenSSH_9.6",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(status_code(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn request_names_the_path_and_closes() {
        let to = SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 10), 8080);
        let r = request(to, "/health?deep=1");
        assert!(r.starts_with("GET /health?deep=1 HTTP/1.1\r\nHost: 198.19.0.10:8080\r\n"));
        assert!(r.contains("\r\nConnection: close\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }

    /// A check against loopback servers (a real socket, no namespace
    /// needed): a listener passes TCP, a closed port fails, an HTTP server
    /// passes with the expected status only.
    #[tokio::test]
    async fn checks_against_local_servers() {
        let lo = Ipv4Addr::LOCALHOST;
        let listener = tokio::net::TcpListener::bind((lo, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = |probe| Target {
            from: lo,
            to: SocketAddrV4::new(lo, port),
            probe,
            timeout: Duration::from_secs(2),
        };
        check(&target(Probe::Tcp)).await.unwrap();

        let server = tokio::spawn(async move {
            // The TCP check's connection, waiting in the backlog.
            drop(listener.accept().await.unwrap());
            for answer in [
                "HTTP/1.1 200 OK\r\n\r\n",
                "HTTP/1.1 503 Busy\r\n\r\n",
                "hello\r\n",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"GET /health HTTP/1.1\r\n"));
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let http = |status| Probe::Http {
            path: "/health".into(),
            status,
        };
        check(&target(http(200))).await.unwrap();
        let e = check(&target(http(200))).await.unwrap_err();
        assert!(
            matches!(
                e,
                CheckError::Status {
                    got: 503,
                    expected: 200
                }
            ),
            "{e}"
        );
        let e = check(&target(http(200))).await.unwrap_err();
        assert!(matches!(e, CheckError::NotHttp), "{e}");
        server.await.unwrap();

        // Nothing listens any more.
        let e = check(&target(Probe::Tcp)).await.unwrap_err();
        assert!(matches!(e, CheckError::Connect(_)), "{e}");
    }
}
