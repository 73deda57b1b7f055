//! Real traffic for end-to-end tests: echo servers that record who they
//! talk to, and clients that check every byte that comes back.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use crate::{error::Result, netns::Netns};

/// Read/write timeout of every test socket: no test waits forever.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// How often server loops check whether they must stop.
const TICK: Duration = Duration::from_millis(50);

/// What an echo server sends back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Exactly what it received.
    Same,
    /// TCP: a line `peer <addr>\n` first, then what it received. UDP:
    /// `peer <addr>: ` followed by the datagram. Used by `cargo xtask demo`
    /// to show which source address the backend saw.
    WithPeer,
}

/// A TCP or UDP echo server running on threads, its socket opened in a
/// namespace. Records the peer address of every connection or datagram.
/// Stops (and joins its threads) on drop.
pub struct EchoServer {
    addr: SocketAddr,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// A TCP echo server listening on `addr` in `ns`; each connection is
    /// served on its own thread until the peer closes its side.
    pub fn tcp(ns: &Netns, addr: SocketAddr, echo: Echo) -> Result<EchoServer> {
        let listener = ns.tcp_listen(addr)?;
        Ok(EchoServer::run(addr, move |stop, peers| {
            tcp_accept_loop(listener, echo, stop, peers)
        }))
    }

    /// A UDP echo server bound to `addr` in `ns`.
    pub fn udp(ns: &Netns, addr: SocketAddr, echo: Echo) -> Result<EchoServer> {
        let socket = ns.udp_bind(addr)?;
        Ok(EchoServer::run(addr, move |stop, peers| {
            udp_loop(socket, echo, stop, peers)
        }))
    }

    fn run<F>(addr: SocketAddr, body: F) -> EchoServer
    where
        F: FnOnce(Arc<AtomicBool>, Arc<Mutex<Vec<SocketAddr>>>) + Send + 'static,
    {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, peers) = (Arc::clone(&stop), Arc::clone(&peers));
            thread::spawn(move || body(stop, peers))
        };
        EchoServer {
            addr,
            peers,
            stop,
            thread: Some(thread),
        }
    }

    /// The address it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer of every connection (TCP) or datagram (UDP) so far.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tcp_accept_loop(
    listener: TcpListener,
    echo: Echo,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let mut conns = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                peers.lock().unwrap_or_else(|e| e.into_inner()).push(peer);
                let stop = Arc::clone(&stop);
                conns.push(thread::spawn(move || {
                    let _ = tcp_echo(stream, peer, echo, &stop);
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(_) => thread::sleep(TICK),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

/// Echoes one connection until EOF, then closes the write side.
fn tcp_echo(stream: TcpStream, peer: SocketAddr, echo: Echo, stop: &AtomicBool) -> io::Result<()> {
    let greeting = (echo == Echo::WithPeer).then(|| format!("peer {peer}\n"));
    echo_stream(stream, greeting.as_deref(), stop)
}

/// Sends `greeting` (if any), then echoes what `stream` receives until
/// EOF (then closes the write side) or until `stop` is set.
pub(crate) fn echo_stream(
    mut stream: TcpStream,
    greeting: Option<&str>,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    if let Some(greeting) = greeting {
        stream.write_all(greeting.as_bytes())?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => {
                stream.shutdown(Shutdown::Write)?;
                return Ok(());
            }
            Ok(n) => stream.write_all(&buf[..n])?,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn udp_loop(
    socket: UdpSocket,
    echo: Echo,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
) {
    if socket.set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        peers.lock().unwrap_or_else(|e| e.into_inner()).push(peer);
        let reply = match echo {
            Echo::Same => buf[..n].to_vec(),
            Echo::WithPeer => [format!("peer {peer}: ").as_bytes(), &buf[..n]].concat(),
        };
        let _ = socket.send_to(&reply, peer);
    }
}

/// `len` deterministic pseudo-random bytes for stream `seed`: a shifted or
/// corrupted byte anywhere shows up as a mismatch.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Sends `len` bytes of [`pattern`]`(seed)` on `stream` while reading the
/// echo, and checks the echo byte for byte, then EOF. Every read and write
/// is bounded by [`IO_TIMEOUT`].
pub fn tcp_echo_check(stream: TcpStream, seed: u64, len: usize) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let data = Arc::new(pattern(seed, len));
    let writer = {
        let mut stream = stream.try_clone()?;
        let data = Arc::clone(&data);
        thread::spawn(move || -> io::Result<()> {
            for chunk in data.chunks(32 * 1024) {
                stream.write_all(chunk)?;
            }
            stream.shutdown(Shutdown::Write)
        })
    };
    let mut received = Vec::with_capacity(len);
    let read = (&stream).take(len as u64 + 1).read_to_end(&mut received);
    let written = writer
        .join()
        .map_err(|_| io::Error::other("writer thread panicked"))?;
    written?;
    read?;
    if received.len() != len {
        return Err(io::Error::other(format!(
            "stream {seed}: echoed {} bytes, sent {len}",
            received.len()
        )));
    }
    if let Some(at) = received.iter().zip(data.iter()).position(|(a, b)| a != b) {
        return Err(io::Error::other(format!(
            "stream {seed}: echo differs at byte {at}"
        )));
    }
    Ok(())
}

/// Sends `payload` from `socket` to `to` and waits at most `timeout` for a
/// reply; returns it with its source.
pub fn udp_exchange(
    socket: &UdpSocket,
    to: SocketAddr,
    payload: &[u8],
    timeout: Duration,
) -> io::Result<(Vec<u8>, SocketAddr)> {
    socket.set_read_timeout(Some(timeout))?;
    socket.send_to(payload, to)?;
    let mut buf = vec![0u8; 65_536];
    let (n, from) = socket.recv_from(&mut buf)?;
    buf.truncate(n);
    Ok((buf, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_seeded() {
        assert_eq!(pattern(7, 1000), pattern(7, 1000));
        assert_ne!(pattern(7, 1000), pattern(8, 1000));
        assert_eq!(pattern(7, 1001)[..1000], pattern(7, 1000)[..]);
        assert_eq!(pattern(1, 13).len(), 13);
    }
}
