//! The UDP load generator: 64-byte frames (60 bytes plus the 4-byte FCS a
//! wire would add) sent from the client's interface through an AF_PACKET
//! socket with `sendmmsg`, on the outside CPU, at saturation or at a paced
//! rate, over a set of flows.
//!
//! Own rather than trafgen: trafgen gives up ("Flushing TX_RING failed")
//! as soon as the relay's NAPI thread on the other core lets the ring
//! fill, because inside a namespace it cannot raise the socket buffer
//! limits; this one waits (bounded) instead and keeps counting.

use std::{
    io,
    mem::size_of,
    net::Ipv4Addr,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use crate::{
    arena::Arena,
    host::{self, OUTSIDE_CPU},
    infra::{
        packet::checksum::{checksum, l4_checksum},
        topology::CLIENT_ADDR,
    },
};

/// Frame length without FCS: 14 Ethernet + 20 IPv4 + 8 UDP + 18 payload.
pub(crate) const FRAME_LEN: usize = 60;
/// Frames per `sendmmsg`.
const BATCH: usize = 64;

/// The flows the generator cycles through: every combination of source
/// address, source port and destination port (destination port varying
/// fastest, so that consecutive frames belong to different flows).
#[derive(Clone, Debug)]
pub(crate) struct FlowSet {
    /// Source addresses (in the client's subnet).
    pub src_ips: Vec<Ipv4Addr>,
    /// First source port.
    pub src_port: u16,
    /// Number of source ports.
    pub src_ports: u32,
    /// First destination port.
    pub dst_port: u16,
    /// Number of destination ports.
    pub dst_ports: u32,
}

impl FlowSet {
    /// `n` flows from the client's address: source ports 10000.. to one
    /// destination port.
    pub(crate) fn client_ports(n: u32, dst_port: u16) -> FlowSet {
        FlowSet {
            src_ips: vec![CLIENT_ADDR],
            src_port: 10_000,
            src_ports: n,
            dst_port,
            dst_ports: 1,
        }
    }

    /// Number of distinct flows.
    pub(crate) fn len(&self) -> u64 {
        self.src_ips.len() as u64 * u64::from(self.src_ports) * u64::from(self.dst_ports)
    }

    /// Flow `i` (modulo [`FlowSet::len`]): source address, source port,
    /// destination port.
    fn tuple(&self, i: u64) -> (Ipv4Addr, u16, u16) {
        let i = i % self.len();
        let dports = u64::from(self.dst_ports);
        let sports = u64::from(self.src_ports);
        let dport = self.dst_port.wrapping_add((i % dports) as u16);
        let sport = self.src_port.wrapping_add(((i / dports) % sports) as u16);
        let ip = self.src_ips[(i / dports / sports) as usize];
        (ip, sport, dport)
    }
}

/// What to send.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// The flows.
    pub flows: FlowSet,
    /// Packets per second; `None`: as fast as the path takes them.
    pub rate: Option<f64>,
    /// Stop after this many packets (`None`: until stopped).
    pub packets: Option<u64>,
    /// Stop after this long whatever happens.
    pub max_time: Duration,
}

/// A generator running on its own thread.
pub(crate) struct Generator {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: Option<JoinHandle<Result<()>>>,
}

impl Generator {
    /// Starts sending `spec` from `arena`'s client to `arena.target()`.
    pub(crate) fn start(arena: &Arena, spec: Spec) -> Result<Generator> {
        if spec.flows.len() == 0 {
            bail!("an empty flow set");
        }
        let template = Template {
            src_mac: arena.client_mac,
            dst_mac: arena.relay_mac,
            dst: arena.target(),
        };
        let ifname = arena.ifs.client.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (stop2, sent2) = (Arc::clone(&stop), Arc::clone(&sent));
        let handle = host::spawn_in(&arena.client, OUTSIDE_CPU, move || {
            send_loop(&ifname, &template, &spec, &stop2, &sent2)
        })?;
        Ok(Generator {
            stop,
            sent,
            handle: Some(handle),
        })
    }

    /// Packets handed to the kernel so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Whether it finished by itself (packet count or time limit).
    pub(crate) fn finished(&self) -> bool {
        self.handle
            .as_ref()
            .is_none_or(std::thread::JoinHandle::is_finished)
    }

    /// Stops it and returns the packets sent; fails if sending failed.
    pub(crate) fn stop(mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join()
                .map_err(|_| anyhow::anyhow!("the generator thread panicked"))??;
        }
        Ok(self.sent())
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The fixed part of the generated frames.
pub(crate) struct Template {
    /// The client's MAC.
    pub src_mac: [u8; 6],
    /// The relay's MAC.
    pub dst_mac: [u8; 6],
    /// The destination address.
    pub dst: Ipv4Addr,
}

impl Template {
    /// Writes the frame of flow `(src, sport, dport)` into `f`: Ethernet,
    /// IPv4 (DF, TTL 64), UDP with a valid checksum, 18 bytes of payload.
    pub(crate) fn write(&self, f: &mut [u8; FRAME_LEN], src: Ipv4Addr, sport: u16, dport: u16) {
        f[0..6].copy_from_slice(&self.dst_mac);
        f[6..12].copy_from_slice(&self.src_mac);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip.copy_from_slice(&[
            0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let udp_len = (FRAME_LEN - 34) as u16;
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f[38..40].copy_from_slice(&udp_len.to_be_bytes());
        f[40..42].copy_from_slice(&[0, 0]);
        for (i, b) in f[42..].iter_mut().enumerate() {
            *b = b'a' + (i % 26) as u8;
        }
        let mut c = l4_checksum(src, self.dst, 17, &f[34..]);
        if c == 0 {
            c = 0xffff;
        }
        f[40..42].copy_from_slice(&c.to_be_bytes());
    }
}

/// An AF_PACKET socket bound to `ifname`, sending on the qdisc path, with
/// a send timeout so a stalled path never blocks forever.
fn packet_socket(ifname: &str) -> Result<OwnedFd> {
    let proto = (libc::ETH_P_IP as u16).to_be();
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("opening an AF_PACKET socket");
    }
    // SAFETY: a new descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(ifname)?;
    // SAFETY: a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("no interface {ifname}"));
    }
    // SAFETY: sockaddr_ll is plain data; all zeros is a valid start.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).context("binding the AF_PACKET socket");
    }
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    let sndbuf: libc::c_int = 4 << 20;
    // SAFETY: valid option values of the sizes passed.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const timeout).cast(),
            size_of::<libc::timeval>() as u32,
        );
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            (&raw const sndbuf).cast(),
            size_of::<libc::c_int>() as u32,
        );
    }
    Ok(sock)
}

fn send_loop(
    ifname: &str,
    template: &Template,
    spec: &Spec,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> Result<()> {
    let sock = packet_socket(ifname)?;
    let mut frames = vec![[0u8; FRAME_LEN]; BATCH];
    let start = Instant::now();
    let deadline = start + spec.max_time;
    let limit = spec.packets.unwrap_or(u64::MAX);
    let mut next = 0u64; // next flow index == packets sent
    while !stop.load(Ordering::Relaxed) && next < limit && Instant::now() < deadline {
        let n = (BATCH as u64).min(limit - next);
        if let Some(rate) = spec.rate {
            // Whole bursts of `n`, as a NIC with interrupt coalescing
            // would hand them over.
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            if due < next + n {
                let wait = (next + n) as f64 / rate - start.elapsed().as_secs_f64();
                thread::sleep(Duration::from_secs_f64(wait.clamp(0.0, 0.002)));
                continue;
            }
        }
        for (k, f) in frames.iter_mut().take(n as usize).enumerate() {
            let (src, sport, dport) = spec.flows.tuple(next + k as u64);
            template.write(f, src, sport, dport);
        }
        let done = send_batch(&sock, &mut frames[..n as usize])?;
        next += done as u64;
        sent.store(next, Ordering::Relaxed);
    }
    Ok(())
}

/// `sendmmsg` of `frames`; returns how many went out (0 after a timeout or
/// a full queue, which the caller retries).
fn send_batch(sock: &OwnedFd, frames: &mut [[u8; FRAME_LEN]]) -> Result<usize> {
    let mut iovs: Vec<libc::iovec> = frames
        .iter_mut()
        .map(|f| libc::iovec {
            iov_base: f.as_mut_ptr().cast(),
            iov_len: FRAME_LEN,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: msghdr is plain data; all zeros is a valid start.
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_iov = iov;
            hdr.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: `msgs` points to valid headers whose iovecs point to `frames`,
    // all alive for the call.
    let rc = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            msgs.len() as libc::c_uint,
            0,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR) => {
                thread::sleep(Duration::from_micros(20));
                Ok(0)
            }
            _ => Err(e).context("sendmmsg on the client's interface"),
        };
    }
    Ok(rc as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_cover_every_combination_once_per_cycle() {
        let set = FlowSet {
            src_ips: vec![Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 3)],
            src_port: 1000,
            src_ports: 3,
            dst_port: 7,
            dst_ports: 4,
        };
        assert_eq!(set.len(), 24);
        let all: std::collections::HashSet<_> = (0..24).map(|i| set.tuple(i)).collect();
        assert_eq!(all.len(), 24);
        assert_eq!(set.tuple(0), set.tuple(24));
        assert_ne!(
            set.tuple(0).2,
            set.tuple(1).2,
            "destination port varies fastest"
        );
    }

    #[test]
    fn frames_parse_with_valid_checksums() {
        let t = Template {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            dst: Ipv4Addr::new(198, 18, 100, 1),
        };
        let mut f = [0u8; FRAME_LEN];
        t.write(&mut f, Ipv4Addr::new(198, 18, 0, 2), 40000, 9);
        let p = crate::infra::packet::parse(&f).expect("parses");
        assert!(p.ip_checksum_valid && p.l4_checksum_valid);
        assert_eq!(p.src, "198.18.0.2:40000".parse().unwrap());
        assert_eq!(p.dst, "198.18.100.1:9".parse().unwrap());
    }
}
