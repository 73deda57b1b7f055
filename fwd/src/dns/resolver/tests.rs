//! The resolver against a real DNS server on loopback (a few lines on
//! hickory-proto's messages): addresses, the TTL kept, and the failures.

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use hickory_resolver::proto::{
    op::{Message, OpCode, ResponseCode},
    rr::{rdata::A, RData, Record, RecordType},
};

use super::*;

/// Answers `two.test` with two A records (TTL 30 and 5), `none.test` with
/// no record, anything else with NXDOMAIN. Stops when `stop` is set.
fn server(stop: Arc<AtomicBool>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(q) = query.queries.first().cloned() else {
                continue;
            };
            let mut reply = Message::response(query.metadata.id, OpCode::Query);
            reply.metadata.recursion_available = true;
            match q.name().to_ascii().as_str() {
                "two.test." if q.query_type() == RecordType::A => {
                    for (last, ttl) in [(11, 30), (10, 5)] {
                        let a = RData::A(A(Ipv4Addr::new(198, 19, 0, last)));
                        reply.add_answer(Record::from_rdata(q.name().clone(), ttl, a));
                    }
                }
                "none.test." => {}
                _ => reply.metadata.response_code = ResponseCode::NXDomain,
            }
            reply.add_query(q);
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer);
        }
    });
    addr
}

#[tokio::test]
async fn addresses_ttl_and_failures() {
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server(Arc::clone(&stop));
    let resolver = Resolver::new(Servers::of(&[addr])).unwrap();
    assert_eq!(resolver.servers(), &Servers::Given(vec![addr]));
    assert_eq!(resolver.servers().to_string(), addr.to_string());

    let a = resolver.lookup("two.test").await.unwrap();
    let want: BTreeSet<Ipv4Addr> = [10, 11].map(|l| Ipv4Addr::new(198, 19, 0, l)).into();
    assert_eq!(a.addrs, want);
    assert_eq!(a.ttl, Duration::from_secs(5), "the smallest TTL");

    let e = resolver.lookup("none.test").await.unwrap_err();
    assert!(matches!(e, LookupError::NoAddress { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "none.test has no IPv4 address (the answer holds no A record)"
    );
    let e = resolver.lookup("missing.test").await.unwrap_err();
    assert!(matches!(e, LookupError::NoSuchName { .. }), "{e:?}");
    assert_eq!(e.to_string(), "missing.test does not exist (NXDOMAIN)");

    // Nothing is cached: a second lookup asks again and sees the server's
    // full TTL.
    let again = resolver.lookup("two.test").await.unwrap();
    assert_eq!(again.ttl, Duration::from_secs(5));
    assert!(again.at >= a.at);
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn servers_of_an_empty_list_is_the_system() {
    assert_eq!(Servers::of(&[]), Servers::System);
    assert_eq!(
        Servers::System.to_string(),
        "the servers of /etc/resolv.conf"
    );
}
