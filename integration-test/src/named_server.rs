//! Servers that say who they are, for failover tests: a TCP server whose
//! listener can be closed and opened again while its connections go on,
//! and a UDP server; both answer with their name, so a client knows which
//! backend the relay chose.

use std::{
    io::{self, BufRead, BufReader, Read},
    net::{SocketAddr, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use crate::{error::Result, netns::Netns, traffic::echo_stream};

/// How often server loops check whether they must stop.
const TICK: Duration = Duration::from_millis(20);

/// A TCP server that sends `<name>\n` on every connection, then echoes
/// until the peer closes. Its listener can be closed
/// ([`NamedTcp::stop_listening`]: new connections are refused) while the
/// connections it has go on, and opened again ([`NamedTcp::listen`]).
/// Everything stops on drop.
pub struct NamedTcp {
    name: String,
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// Stops the connections (on drop).
    stop: Arc<AtomicBool>,
    /// Stops the accept loop.
    stop_accepting: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl NamedTcp {
    /// Listens on `addr` in `ns` as `name`.
    pub fn start(ns: &Netns, addr: SocketAddr, name: &str) -> Result<NamedTcp> {
        let mut server = NamedTcp {
            name: name.to_string(),
            addr,
            accepted: Arc::default(),
            stop: Arc::default(),
            stop_accepting: Arc::default(),
            acceptor: None,
            connections: Arc::default(),
        };
        server.listen(ns)?;
        Ok(server)
    }

    /// Opens the listener (again).
    pub fn listen(&mut self, ns: &Netns) -> Result<()> {
        self.stop_listening();
        let listener = ns.tcp_listen(self.addr)?;
        let stop_accepting = Arc::new(AtomicBool::new(false));
        self.stop_accepting = Arc::clone(&stop_accepting);
        let (name, stop, accepted, conns) = (
            self.name.clone(),
            Arc::clone(&self.stop),
            Arc::clone(&self.accepted),
            Arc::clone(&self.connections),
        );
        self.acceptor = Some(thread::spawn(move || {
            if listener.set_nonblocking(true).is_err() {
                return;
            }
            while !stop_accepting.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let (name, stop) = (name.clone(), Arc::clone(&stop));
                        let conn = thread::spawn(move || {
                            let _ = echo_stream(stream, Some(&format!("{name}\n")), &stop);
                        });
                        conns.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
                    }
                    Err(_) => thread::sleep(TICK),
                }
            }
            // The listener is dropped here: new connections are refused.
        }));
        Ok(())
    }

    /// Closes the listener (waits until it is closed); the connections go
    /// on.
    pub fn stop_listening(&mut self) {
        self.stop_accepting.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for NamedTcp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop_listening();
        let conns =
            std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for c in conns {
            let _ = c.join();
        }
    }
}

/// Reads the `<name>\n` line a [`NamedTcp`] sends first.
pub fn read_name(stream: &TcpStream) -> io::Result<String> {
    let mut line = String::new();
    BufReader::new(stream.try_clone()?)
        .take(256)
        .read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("no name line, got {line:?}"),
        ));
    }
    Ok(line.trim_end().to_string())
}

/// A UDP server that answers every datagram with `<name>`. Stops on drop.
pub struct NamedUdp {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NamedUdp {
    /// Binds `addr` in `ns` as `name`.
    pub fn start(ns: &Netns, addr: SocketAddr, name: &str) -> Result<NamedUdp> {
        let socket: UdpSocket = ns.udp_bind(addr)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (name, flag) = (name.to_string(), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            if socket.set_read_timeout(Some(TICK)).is_err() {
                return;
            }
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, peer)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(name.as_bytes(), peer);
                }
            }
        });
        Ok(NamedUdp {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for NamedUdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
