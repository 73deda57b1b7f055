//! Long-lived TCP connections that keep exchanging data through the relay,
//! checked byte for byte, for tests that change the relay under traffic
//! (restarts, upgrades, reloads, failover).

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use crate::{
    netns::Netns,
    traffic::{pattern, IO_TIMEOUT},
    Result,
};

/// Bytes per round trip.
const CHUNK: usize = 1024;
/// Pause between round trips.
const PAUSE: Duration = Duration::from_millis(5);

/// Connections echoing chunks until [`Streams::finish`].
pub struct Streams {
    stop: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Streams {
    /// Opens `count` connections from `ns` to `to` (an echo server behind
    /// it) and starts a round trip loop on each: send a chunk, read it back,
    /// compare. A failed connect is an error of the call; a failure later
    /// is recorded and reported by [`Streams::finish`].
    pub fn open(ns: &Netns, to: SocketAddr, count: u64) -> Result<Streams> {
        let (stop, bytes) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for i in 0..count {
            let stream = ns.tcp_connect(to, Duration::from_secs(5))?;
            let (stop, bytes, errors) =
                (Arc::clone(&stop), Arc::clone(&bytes), Arc::clone(&errors));
            threads.push(thread::spawn(move || {
                if let Err(e) = round_trips(stream, i, &stop, &bytes) {
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("stream {i}: {e}"));
                }
            }));
        }
        Ok(Streams {
            stop,
            bytes,
            errors,
            threads,
        })
    }

    /// Bytes echoed and checked so far (all connections).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until `more` further bytes have been echoed.
    pub fn progress(&self, more: u64, timeout: Duration) -> bool {
        let target = self.bytes() + more;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.bytes() >= target {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Stops the loops and returns every failure (empty: no byte lost,
    /// changed or reset on any connection).
    pub fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            if t.join().is_err() {
                self.errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push("a stream thread panicked".into());
            }
        }
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        errors
    }
}

fn round_trips(
    mut stream: TcpStream,
    seed: u64,
    stop: &AtomicBool,
    bytes: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut round = 0u64;
    let mut back = vec![0u8; CHUNK];
    while !stop.load(Ordering::Relaxed) {
        let chunk = pattern(seed << 32 | round, CHUNK);
        stream.write_all(&chunk)?;
        stream.read_exact(&mut back)?;
        if back != chunk {
            return Err(std::io::Error::other(format!(
                "round {round}: echo differs"
            )));
        }
        bytes.fetch_add(CHUNK as u64, Ordering::Relaxed);
        round += 1;
        thread::sleep(PAUSE);
    }
    Ok(())
}
