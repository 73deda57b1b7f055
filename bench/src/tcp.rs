//! TCP servers on the backend and clients on the client, for T3 and T4:
//! blocking sockets on threads pinned to the outside CPU, every wait
//! bounded.

use std::{
    io::{self, Read as _, Write as _},
    net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream},
    os::fd::AsRawFd as _,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{
    host::{self, OUTSIDE_CPU},
    infra::Netns,
};

/// Read and write timeout of every socket.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Threads accepting on each listening port.
const WORKERS_PER_PORT: usize = 2;

/// Echo servers on `ports` of an address in a namespace: each connection
/// gets back what it sends until it closes. Stopped on drop.
pub(crate) struct EchoServers {
    listeners: Vec<Arc<TcpListener>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServers {
    /// Listens on `addr`:`ports` in `ns`.
    pub(crate) fn start(ns: &Netns, addr: Ipv4Addr, ports: &[u16]) -> Result<EchoServers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut listeners = Vec::new();
        let mut threads = Vec::new();
        for &port in ports {
            let listener = Arc::new(ns.tcp_listen(SocketAddr::V4(SocketAddrV4::new(addr, port)))?);
            for _ in 0..WORKERS_PER_PORT {
                let (listener, stop) = (Arc::clone(&listener), Arc::clone(&stop));
                threads.push(std::thread::spawn(move || {
                    let _ = host::pin(0, OUTSIDE_CPU);
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let _ = echo(stream);
                            }
                            Err(_) if stop.load(Ordering::Relaxed) => break,
                            Err(_) => std::thread::sleep(Duration::from_millis(1)),
                        }
                    }
                }));
            }
            listeners.push(listener);
        }
        Ok(EchoServers {
            listeners,
            stop,
            threads,
        })
    }
}

impl Drop for EchoServers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for l in &self.listeners {
            // SAFETY: shutdown(2) on a descriptor the listener owns; it
            // wakes the threads blocked in accept.
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// T3: `warmup + count` 1-byte round trips on one connection from `ns` to
/// `to`, or fewer if `limit` runs out first; the timed ones' durations in
/// microseconds, sorted.
pub(crate) fn round_trips(
    ns: &Netns,
    to: SocketAddr,
    warmup: usize,
    count: usize,
    limit: Duration,
) -> Result<Vec<f64>> {
    let handle = host::spawn_in(ns, OUTSIDE_CPU, move || -> Result<Vec<f64>> {
        let mut s = TcpStream::connect_timeout(&to, IO_TIMEOUT)
            .with_context(|| format!("connecting to {to}"))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut times = Vec::with_capacity(count);
        let mut b = [0u8; 1];
        let deadline = Instant::now() + limit;
        for i in 0..warmup + count {
            if Instant::now() >= deadline && times.len() >= 100 {
                break;
            }
            let t = Instant::now();
            s.write_all(&[i as u8])?;
            s.read_exact(&mut b).context("reading the response")?;
            if b[0] != i as u8 {
                anyhow::bail!("the response carried {} instead of {}", b[0], i as u8);
            }
            if i >= warmup {
                times.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        s.shutdown(Shutdown::Write)?;
        times.sort_by(f64::total_cmp);
        Ok(times)
    })?;
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the latency client panicked"))?
}

/// T4: clients opening connections in a loop (connect, 1-byte request,
/// 1-byte response, close) to `target`:`ports` round robin.
pub(crate) struct ConnectionClients {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl ConnectionClients {
    /// Starts `clients` client threads in `ns`.
    pub(crate) fn start(
        ns: &Netns,
        clients: usize,
        target: Ipv4Addr,
        ports: &[u16],
        max_time: Duration,
    ) -> Result<ConnectionClients> {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for c in 0..clients {
            let (stop, done, failed) = (Arc::clone(&stop), Arc::clone(&done), Arc::clone(&failed));
            let ports = ports.to_vec();
            threads.push(host::spawn_in(ns, OUTSIDE_CPU, move || {
                let deadline = Instant::now() + max_time;
                let mut i = c;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let to = SocketAddr::V4(SocketAddrV4::new(target, ports[i % ports.len()]));
                    i += 1;
                    match one_connection(to) {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
                Ok(())
            })?);
        }
        Ok(ConnectionClients {
            stop,
            done,
            failed,
            threads,
        })
    }

    /// Connections completed and failed so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Stops the clients.
    pub(crate) fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join()
                .map_err(|_| anyhow::anyhow!("a connection client panicked"))??;
        }
        Ok(())
    }
}

impl Drop for ConnectionClients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn one_connection(to: SocketAddr) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(1))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.write_all(b"q")?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(())
}
