//! The fast UDP load generator: `BPF_PROG_TEST_RUN` in live-frames mode
//! (`BPF_F_TEST_XDP_LIVE_FRAMES`, the mechanism of xdp-trafficgen) runs a
//! tiny XDP program that writes a 64-byte UDP frame (random source port in
//! a range, UDP checksum 0) and redirects it out of the wire's interface
//! facing the relay. Frames reach the relay's interface in bursts through
//! the veth's `ndo_xdp_xmit`, as from a NIC, at several million per second: enough to
//! saturate every competitor, which the AF_PACKET generator ([`crate::gen`])
//! is not. It cannot be paced (every test run has a fixed setup cost of
//! milliseconds), so it serves the saturation measurements only.
//!
//! The program rewrites the whole header of every frame: live-frame pages
//! are recycled after the relay and the sink are done with them, and by
//! then the relay has rewritten them.

use std::{
    os::fd::OwnedFd,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context as _, Result};

use crate::{
    arena::Arena,
    bpf::{ifindex, insn, load_xdp, HELPER_PRANDOM, HELPER_REDIRECT, XDP_DROP},
    gen::{Template, FRAME_LEN},
    host::{self, OUTSIDE_CPU},
    infra::{rawbpf, topology::CLIENT_ADDR},
};

const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
/// Frames of the first test run.
const FIRST_CHUNK: u32 = 16_384;
/// Most frames per test run.
const MAX_CHUNK: u32 = 4 << 20;
/// How long one test run should take.
const CALL_TIME: Duration = Duration::from_millis(100);
/// Sending threads: while one waits for its run's teardown, the other
/// sends, so the offered load has no gaps.
const SENDERS: usize = 2;
/// Header bytes the program writes (Ethernet, IPv4, UDP).
const HEADER: usize = 42;

/// The flows: source ports `first..first + count` (count a power of two),
/// from the client's address to one destination port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ports {
    /// First source port.
    pub first: u16,
    /// How many (a power of two).
    pub count: u16,
    /// Destination port.
    pub dst: u16,
}

/// The generator program for `header` (the first 42 bytes of the frame,
/// UDP checksum zero), `ports`, and the client interface `ifindex`.
fn program(header: &[u8; HEADER], ports: Ports, ifindex: u32) -> Vec<u64> {
    let mut p = vec![
        insn(0xbf, 6, 1, 0, 0),             // r6 = ctx
        insn(0x61, 2, 6, 0, 0),             // r2 = ctx->data
        insn(0x61, 3, 6, 4, 0),             // r3 = ctx->data_end
        insn(0xbf, 7, 2, 0, 0),             // r7 = r2
        insn(0xbf, 4, 2, 0, 0),             // r4 = r2
        insn(0x07, 4, 0, 0, HEADER as i32), // r4 += 42
    ];
    let stores: Vec<u64> = header[..40]
        .chunks(4)
        .enumerate()
        .map(|(i, w)| {
            let v = i32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            insn(0x62, 7, 0, (i * 4) as i16, v) // *(u32 *)(r7 + 4i) = v
        })
        .chain([insn(0x6a, 7, 0, 40, 0)]) // *(u16 *)(r7 + 40) = 0
        .collect();
    let tail = [
        insn(0x85, 0, 0, 0, HELPER_PRANDOM), // call get_prandom_u32
        insn(0x57, 0, 0, 0, i32::from(ports.count) - 1), // r0 &= count - 1
        insn(0x07, 0, 0, 0, i32::from(ports.first)), // r0 += first
        insn(0xdc, 0, 0, 0, 16),             // r0 = htobe16(r0)
        insn(0x6b, 7, 0, 34, 0),             // *(u16 *)(r7 + 34) = r0
        insn(0xb7, 1, 0, 0, ifindex as i32), // r1 = ifindex
        insn(0xb7, 2, 0, 0, 0),              // r2 = 0
        insn(0x85, 0, 0, 0, HELPER_REDIRECT), // call redirect
        insn(0x95, 0, 0, 0, 0),              // exit
        insn(0xb7, 0, 0, 0, XDP_DROP),       // drop: r0 = XDP_DROP
        insn(0x95, 0, 0, 0, 0),              // exit
    ];
    // if r4 > r3 goto drop (the last two instructions)
    let skip = (stores.len() + tail.len() - 2) as i16;
    p.push(insn(0x2d, 4, 3, skip, 0));
    p.extend(stores);
    p.extend(tail);
    p
}

/// Loads the program (in the calling thread's namespace, where `ifname`
/// is).
fn load(header: &[u8; HEADER], ports: Ports, ifname: &str) -> Result<OwnedFd> {
    load_xdp("bench_gen", &program(header, ports, ifindex(ifname)?))
}

/// Sends `repeat` live frames of `frame` through `prog`.
fn run(prog: &OwnedFd, frame: &[u8; FRAME_LEN], repeat: u32) -> Result<(), rawbpf::BpfError> {
    let run = rawbpf::TestRun {
        data_in: frame,
        repeat,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: 64,
        ..Default::default()
    };
    rawbpf::test_run(prog, run).map(drop)
}

/// The live-frame generator: [`SENDERS`] threads in the wire's
/// namespace on the outside CPU, at the lowest priority (`SCHED_IDLE`), so
/// that the sink and everything else on that CPU always goes first and
/// the generator only takes what is left.
pub(crate) struct LiveGenerator {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handles: Vec<JoinHandle<Result<()>>>,
}

impl LiveGenerator {
    /// Sends to `arena.target()`:`ports.dst` as fast as it can for at most
    /// `max_time`.
    pub(crate) fn start(arena: &Arena, ports: Ports, max_time: Duration) -> Result<LiveGenerator> {
        ensure!(
            ports.count.is_power_of_two(),
            "the port count must be a power of two"
        );
        let template = Template {
            src_mac: arena.client_mac,
            dst_mac: arena.relay_mac,
            dst: arena.target(),
        };
        let mut frame = [0u8; FRAME_LEN];
        template.write(&mut frame, CLIENT_ADDR, ports.first, ports.dst);
        frame[40..42].copy_from_slice(&[0, 0]); // no UDP checksum
        let header: [u8; HEADER] = frame[..HEADER].try_into().expect("42 bytes");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for _ in 0..SENDERS {
            let ifname = arena.ifs.wire_relay_client.clone();
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            handles.push(host::spawn_in(&arena.wire, OUTSIDE_CPU, move || {
                host::lowest_priority()?;
                let prog = load(&header, ports, &ifname)?;
                let deadline = Instant::now() + max_time;
                let mut chunk = FIRST_CHUNK;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let t = Instant::now();
                    run(&prog, &frame, chunk).context("BPF_PROG_TEST_RUN (live frames)")?;
                    sent.fetch_add(u64::from(chunk), Ordering::Relaxed);
                    // Each call has a fixed cost (the kernel sets up and
                    // tears down a page pool, waiting for RCU): size calls
                    // to last about CALL_TIME.
                    let secs = t.elapsed().as_secs_f64().max(1e-6);
                    let next = f64::from(chunk) * CALL_TIME.as_secs_f64() / secs;
                    chunk = (next as u32).clamp(FIRST_CHUNK, MAX_CHUNK);
                }
                Ok(())
            })?);
        }
        Ok(LiveGenerator {
            stop,
            sent,
            handles,
        })
    }

    /// Frames handed to the client's interface so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Whether a sender ended by itself (time limit or error).
    pub(crate) fn finished(&self) -> bool {
        self.handles
            .iter()
            .any(std::thread::JoinHandle::is_finished)
    }

    /// Stops it; fails if sending failed.
    pub(crate) fn stop(mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        for h in std::mem::take(&mut self.handles) {
            h.join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(self.sent())
    }
}

impl Drop for LiveGenerator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in std::mem::take(&mut self.handles) {
            let _ = h.join();
        }
    }
}
