//! One UDP measurement window, shared by T1, T2 and T7: the generator
//! runs, and between two snapshots the sink's count, the CPU time of all
//! CPUs, that of the relay's threads and processes (and fwd's BPF run
//! time) are compared.

use std::{
    thread,
    time::{Duration, Instant},
};

use anyhow::{ensure, Result};

use crate::{
    arena::Arena,
    counters::{xdp_run_stats, CpuTimes},
    gen::{FlowSet, Generator, Spec},
    livegen::{LiveGenerator, Ports},
};

/// Below this share of the window spent running the relay's threads and
/// processes at saturation, the relay was not the bottleneck: the generator was, and the rate is a
/// lower bound ("at least").
pub(crate) const SATURATED_BUSY: f64 = 0.9;

/// Counters at one moment.
struct Snapshot {
    refused: u64,
    cpu: CpuTimes,
    relay_ns: u64,
    sink: u64,
    sent: u64,
    at: Instant,
    bpf: Option<(u64, u64)>,
}

impl Snapshot {
    fn take(arena: &Arena, sent: u64, bpf: bool) -> Result<Snapshot> {
        let bpf = match (bpf, arena.fwd_pid()) {
            (true, Some(pid)) => Some(xdp_run_stats(pid)?),
            _ => None,
        };
        Ok(Snapshot {
            refused: arena.refused()?,
            relay_ns: arena.relay_cpu.read(),
            cpu: CpuTimes::read()?,
            sink: arena.sink_count()?,
            sent,
            at: Instant::now(),
            bpf,
        })
    }
}

/// What one window measured.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// Frames that reached the sink.
    pub forwarded: u64,
    /// Frames the generator sent.
    pub offered: u64,
    /// Frames the relay's interface refused (its receive ring was full).
    pub refused: u64,
    /// Length in seconds.
    pub secs: f64,
    /// Busy nanoseconds of all CPUs.
    pub cpu_all_ns: f64,
    /// CPU nanoseconds of the relay's threads and processes.
    pub cpu_relay_ns: f64,
    /// fwd's XDP run time and runs (when asked and F1).
    pub bpf: Option<(u64, u64)>,
}

impl Window {
    /// Forwarded packets per second.
    pub(crate) fn rate(&self) -> f64 {
        self.forwarded as f64 / self.secs
    }

    /// Nanoseconds of all CPUs per forwarded packet.
    pub(crate) fn cpu_all_per_packet(&self) -> f64 {
        self.cpu_all_ns / self.forwarded as f64
    }

    /// CPU nanoseconds of the relay's threads and processes per forwarded
    /// packet.
    pub(crate) fn cpu_relay_per_packet(&self) -> f64 {
        self.cpu_relay_ns / self.forwarded as f64
    }

    /// Share of the window the relay's threads and processes ran.
    pub(crate) fn relay_busy(&self) -> f64 {
        self.cpu_relay_ns / (self.secs * 1e9)
    }

    /// At saturation: the relay refused no frame and had spare CPU, so
    /// the generator was the limit.
    pub(crate) fn generator_limited(&self) -> bool {
        self.refused == 0 && self.relay_busy() < SATURATED_BUSY
    }

    /// Share of the offered packets that arrived.
    pub(crate) fn delivered(&self) -> f64 {
        if self.offered == 0 {
            return 0.0;
        }
        self.forwarded as f64 / self.offered as f64
    }

    /// fwd's mean XDP run time per run, in nanoseconds.
    pub(crate) fn bpf_ns_per_run(&self) -> Option<f64> {
        self.bpf
            .filter(|(_, runs)| *runs > 0)
            .map(|(ns, runs)| ns as f64 / runs as f64)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} packets/s ({:.1} % of offered, {} refused), relay busy {:.0} %, {:.0} ns relay / {:.0} ns all CPUs per packet",
            self.rate(),
            100.0 * self.delivered(),
            self.refused,
            100.0 * self.relay_busy(),
            self.cpu_relay_per_packet(),
            self.cpu_all_per_packet()
        )?;
        if let Some(ns) = self.bpf_ns_per_run() {
            write!(f, ", XDP {ns:.0} ns per run")?;
        }
        Ok(())
    }
}

/// Sends to `ports` at `rate` for `warmup + window` and measures the last
/// `window`: at saturation (`None`) with the live-frame generator, at a
/// fixed rate with the paced AF_PACKET one. `bpf`: also read fwd's BPF run
/// statistics (`kernel.bpf_stats_enabled` must be 1).
pub(crate) fn measure(
    arena: &mut Arena,
    ports: Ports,
    rate: Option<f64>,
    warmup: Duration,
    window: Duration,
    bpf: bool,
) -> Result<Window> {
    arena.pin()?;
    let max_time = warmup + window + Duration::from_secs(5);
    let gen: Box<dyn Source> = if rate.is_none() {
        Box::new(LiveGenerator::start(arena, ports, max_time)?)
    } else {
        let flows = FlowSet {
            src_ips: vec![crate::infra::topology::CLIENT_ADDR],
            src_port: ports.first,
            src_ports: u32::from(ports.count),
            dst_port: ports.dst,
            dst_ports: 1,
        };
        let spec = Spec {
            flows,
            rate,
            packets: None,
            max_time,
        };
        Box::new(Generator::start(arena, spec)?)
    };
    thread::sleep(warmup);
    let a = Snapshot::take(arena, gen.sent(), bpf)?;
    thread::sleep(window);
    let b = Snapshot::take(arena, gen.sent(), bpf)?;
    let finished_early = gen.finished();
    gen.end()?;
    arena.check_relay()?;
    ensure!(
        !finished_early,
        "the generator stopped before the window ended"
    );
    let w = Window {
        forwarded: b.sink - a.sink,
        offered: b.sent - a.sent,
        refused: b.refused - a.refused,
        secs: (b.at - a.at).as_secs_f64(),
        cpu_all_ns: b.cpu.all_since(&a.cpu),
        cpu_relay_ns: b.relay_ns.saturating_sub(a.relay_ns) as f64,
        bpf: a.bpf.zip(b.bpf).map(|(a, b)| (b.0 - a.0, b.1 - a.1)),
    };
    ensure!(
        w.forwarded > 0,
        "nothing reached the backend ({} packets offered)",
        w.offered
    );
    eprintln!("bench:   {}: {w}", arena.competitor.label());
    if std::env::var_os("BENCH_DEBUG").is_some() {
        print_veth_counters(arena);
    }
    Ok(w)
}

/// `BENCH_DEBUG=1`: every veth end's non-zero ethtool counters, to see
/// where frames were refused or dropped.
fn print_veth_counters(arena: &Arena) {
    for (ns, name, _) in arena.ends() {
        let out = ns.run(&["ethtool", "-S", name]).unwrap_or_default();
        let counters: Vec<&str> = out
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.ends_with(": 0") && !l.starts_with("peer_ifindex"))
            .collect();
        eprintln!("bench:     {name}: {}", counters.join(", "));
    }
}

/// Either generator.
trait Source {
    fn sent(&self) -> u64;
    fn finished(&self) -> bool;
    fn end(self: Box<Self>) -> Result<u64>;
}

impl Source for LiveGenerator {
    fn sent(&self) -> u64 {
        LiveGenerator::sent(self)
    }
    fn finished(&self) -> bool {
        LiveGenerator::finished(self)
    }
    fn end(self: Box<Self>) -> Result<u64> {
        self.stop()
    }
}

impl Source for Generator {
    fn sent(&self) -> u64 {
        Generator::sent(self)
    }
    fn finished(&self) -> bool {
        Generator::finished(self)
    }
    fn end(self: Box<Self>) -> Result<u64> {
        self.stop()
    }
}

/// Sends each flow of `flows` once (paced at `rate`), then waits until the
/// sink stops counting; returns (sent, arrived, seconds from the first
/// packet to the last arrival) and the CPU snapshots around it.
pub(crate) fn send_once(arena: &mut Arena, flows: &FlowSet, rate: Option<f64>) -> Result<Burst> {
    arena.pin()?;
    let before = arena.sink_count()?;
    let refused0 = arena.refused()?;
    let cpu0 = CpuTimes::read()?;
    let relay0 = arena.relay_cpu.read();
    let start = Instant::now();
    let gen = Generator::start(
        arena,
        Spec {
            flows: flows.clone(),
            rate,
            packets: Some(flows.len()),
            max_time: Duration::from_secs(120),
        },
    )?;
    while !gen.finished() {
        thread::sleep(Duration::from_millis(2));
    }
    let sent = gen.stop()?;
    // Drain: wait until the count has not moved for 50 ms (bounded).
    let mut last = arena.sink_count()?;
    let mut last_change = Instant::now();
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while last_change.elapsed() < Duration::from_millis(50) && Instant::now() < drain_deadline {
        thread::sleep(Duration::from_millis(5));
        let now = arena.sink_count()?;
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    let end = last_change;
    let cpu1 = CpuTimes::read()?;
    let relay1 = arena.relay_cpu.read();
    arena.check_relay()?;
    Ok(Burst {
        sent,
        refused: arena.refused()? - refused0,
        arrived: last - before,
        secs: (end - start).as_secs_f64(),
        cpu_all_ns: cpu1.all_since(&cpu0),
        cpu_relay_ns: relay1.saturating_sub(relay0) as f64,
    })
}

impl Burst {
    /// The relay refused nothing and had spare CPU: the generator was the
    /// limit.
    pub(crate) fn generator_limited(&self) -> bool {
        self.refused == 0 && self.cpu_relay_ns / (self.secs * 1e9) < SATURATED_BUSY
    }
}

/// The outcome of [`send_once`].
#[derive(Clone, Debug)]
pub(crate) struct Burst {
    /// Packets sent.
    pub sent: u64,
    /// Packets the relay's interface refused (its receive ring was full).
    pub refused: u64,
    /// Packets that reached the sink.
    pub arrived: u64,
    /// From the first send to the last arrival.
    pub secs: f64,
    /// Busy nanoseconds of all CPUs meanwhile (including the 50 ms of
    /// quiet at the end).
    pub cpu_all_ns: f64,
    /// CPU nanoseconds of the relay's threads and processes meanwhile.
    pub cpu_relay_ns: f64,
}
