//! A small authoritative DNS server over UDP for one name, its answer and
//! TTL changeable while it runs: what the relay's resolver asks in these
//! tests. Messages are read and written with hickory-proto.

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, OpCode, ResponseCode},
    rr::{rdata::A, RData, Record, RecordType},
};
use integration_test::Netns;

/// The name served, its addresses and TTL.
#[derive(Clone, Debug)]
struct Zone {
    /// Lower case, without the final dot.
    name: String,
    addrs: Vec<Ipv4Addr>,
    ttl: u32,
}

/// A DNS server running on a thread, its socket bound in a namespace.
/// Stops on drop (its port is then closed: queries get ICMP unreachable).
pub struct DnsServer {
    zone: Arc<Mutex<Zone>>,
    queries: Arc<AtomicUsize>,
    /// When each A query for the name was answered.
    answered: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `name` -> `addrs` with `ttl` seconds on `addr` in `ns`; every
    /// other name gets NXDOMAIN, other types of `name` an empty answer.
    pub fn start(
        ns: &Netns,
        addr: SocketAddr,
        name: &str,
        addrs: &[Ipv4Addr],
        ttl: u32,
    ) -> integration_test::Result<DnsServer> {
        let socket = ns.udp_bind(addr)?;
        let zone = Arc::new(Mutex::new(Zone {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            addrs: addrs.to_vec(),
            ttl,
        }));
        let queries = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (zone, queries, answered, stop) = (
                Arc::clone(&zone),
                Arc::clone(&queries),
                Arc::clone(&answered),
                Arc::clone(&stop),
            );
            thread::spawn(move || serve(&socket, &zone, &queries, &answered, &stop))
        };
        Ok(DnsServer {
            zone,
            queries,
            answered,
            stop,
            thread: Some(thread),
        })
    }

    /// Answers `addrs` from now on.
    pub fn set_answer(&self, addrs: &[Ipv4Addr]) {
        self.zone.lock().unwrap_or_else(|e| e.into_inner()).addrs = addrs.to_vec();
    }

    /// Queries answered so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }

    /// When the first A query for the name after `t` was answered.
    pub fn first_answer_after(&self, t: Instant) -> Option<Instant> {
        let answered = self.answered.lock().unwrap_or_else(|e| e.into_inner());
        answered.iter().copied().find(|&a| a >= t)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    socket: &UdpSocket,
    zone: &Mutex<Zone>,
    queries: &AtomicUsize,
    answered: &Mutex<Vec<Instant>>,
    stop: &AtomicBool,
) {
    if socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .is_err()
    {
        return;
    }
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => continue,
        };
        let zone = zone.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((reply, for_the_name)) = answer(&buf[..n], &zone) {
            queries.fetch_add(1, Ordering::Relaxed);
            let _ = socket.send_to(&reply, peer);
            if for_the_name {
                let mut answered = answered.lock().unwrap_or_else(|e| e.into_inner());
                answered.push(Instant::now());
            }
        }
    }
}

/// The reply to one query, and whether it is an A query for the name
/// (`None` for what is not a query).
fn answer(query: &[u8], zone: &Zone) -> Option<(Vec<u8>, bool)> {
    let query = Message::from_vec(query).ok()?;
    let q = query.queries.first()?.clone();
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    let asked = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let for_the_name = asked == zone.name && q.query_type() == RecordType::A;
    if asked != zone.name {
        reply.metadata.response_code = ResponseCode::NXDomain;
    } else if q.query_type() == RecordType::A {
        for &a in &zone.addrs {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                zone.ttl,
                RData::A(A(a)),
            ));
        }
    }
    reply.add_query(q);
    Some((reply.to_vec().ok()?, for_the_name))
}
