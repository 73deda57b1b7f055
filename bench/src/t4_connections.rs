//! T4: new TCP connections per second through the relay (connect, 1-byte
//! request, 1-byte response, close) from several parallel clients, the CPU
//! per connection, and fwd's own run time per packet (bpf_stats).

use std::{thread, time::Duration};

use anyhow::{ensure, Result};

use crate::{
    arena::{backend, Offloads},
    competitor::Competitor,
    counters::{xdp_run_stats, CpuTimes},
    host::Sysctl,
    record::Sample,
    relay::Serves,
    suite::{Ctx, Metric},
    t1_udp::CPU_NOTE,
    tcp::{ConnectionClients, EchoServers},
};

const RATE: Metric = ("connection_rate", "connections/s");
const CPU_RELAY: Metric = ("cpu_relay_per_connection", "µs/connection");
const CPU_ALL: Metric = ("cpu_all_per_connection", "µs/connection");
const FAILED: Metric = ("failed_connections", "%");
const BPF: Metric = ("bpf_run_time_per_packet", "ns/packet");
/// First of the ports the connections go to (16 ports, round robin: each
/// port's SNAT range and TIME_WAIT slots are used up more slowly).
const FIRST_PORT: u16 = 7100;
const PORTS: u16 = 16;

/// Runs T4 for every competitor.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let clients = ctx.scale.clients;
    let test =
        format!("T4 TCP connections (connect, 1-byte request/response, close), {clients} clients");
    let test = test.as_str();
    let metrics = [RATE, CPU_RELAY, CPU_ALL, FAILED];
    let mut all = metrics.to_vec();
    all.push(BPF);
    let ports: Vec<u16> = (FIRST_PORT..FIRST_PORT + PORTS).collect();
    let serves = Serves {
        tcp: ports.clone(),
        max_flows: 2_000_000,
        ..Serves::default()
    };
    let mut arenas = ctx.arenas(&Competitor::ALL, &serves, Offloads::On, &[test], &all);
    let mut servers = Vec::new();
    for slot in &mut arenas {
        if let Some(a) = slot {
            match EchoServers::start(&a.backend, backend(), &ports) {
                Ok(s) => servers.push(s),
                Err(e) => {
                    ctx.fail(&[test], a.competitor, &all, &e);
                    *slot = None;
                }
            }
        }
    }
    // bpf_stats for the whole test: a few packets per connection, each
    // costing two clock reads more, next to a connection's microseconds.
    let _stats = Sysctl::set("kernel.bpf_stats_enabled", "1")?;
    let (warmup, window) = (ctx.scale.warmup, ctx.scale.window);
    ctx.interleave(&mut arenas, &[test], &all, |ctx, arena, _| {
        arena.pin()?;
        let c = ConnectionClients::start(&arena.client, clients, arena.target(), &ports, warmup + window + Duration::from_secs(10))?;
        thread::sleep(warmup);
        let bpf0 = arena.fwd_pid().map(xdp_run_stats).transpose()?;
        let (cpu0, relay0, (done0, failed0)) = (CpuTimes::read()?, arena.relay_cpu.read(), c.counts());
        thread::sleep(window);
        let (cpu1, relay1, (done1, failed1)) = (CpuTimes::read()?, arena.relay_cpu.read(), c.counts());
        let bpf1 = arena.fwd_pid().map(xdp_run_stats).transpose()?;
        let secs = (cpu1.at - cpu0.at).as_secs_f64();
        c.stop()?;
        arena.check_relay()?;
        let done = (done1 - done0) as f64;
        let failed = (failed1 - failed0) as f64;
        ensure!(done > 0.0, "no connection completed ({failed} failed)");
        let relay_us = relay1.saturating_sub(relay0) as f64 / 1e3 / done;
        let all_us = cpu1.all_since(&cpu0) / 1e3 / done;
        eprintln!(
            "bench:   {}: {:.0} connections/s, {failed} failed, {relay_us:.1} µs relay / {all_us:.1} µs all CPUs per connection",
            arena.competitor.label(),
            done / secs
        );
        let comp = arena.competitor;
        ctx.results.add(test, comp, Sample::new(RATE, done / secs));
        ctx.results.add(test, comp, Sample::new(CPU_RELAY, relay_us));
        ctx.results.add(test, comp, Sample::new(CPU_ALL, all_us));
        ctx.results.add(test, comp, Sample::new(FAILED, 100.0 * failed / (done + failed)));
        if let (Some(a), Some(b)) = (bpf0, bpf1) {
            let runs = b.1.saturating_sub(a.1);
            if runs > 0 {
                let ns = b.0.saturating_sub(a.0) as f64 / runs as f64;
                ctx.results.add(test, comp, Sample::new(BPF, ns));
            }
        }
        Ok(())
    });
    for c in Competitor::ALL
        .into_iter()
        .filter(|c| *c != Competitor::Fwd)
    {
        ctx.not_applicable(&[test], c, &[BPF], "not applicable: no BPF program");
    }
    for c in Competitor::ALL {
        for m in [CPU_RELAY, CPU_ALL] {
            ctx.results.note(test, c, m.0, CPU_NOTE.to_string());
        }
    }
    ctx.results.note(
        test,
        Competitor::Fwd,
        BPF.0,
        "run_time_ns / run_cnt of fwd's XDP program over the window, both directions (kernel.bpf_stats_enabled=1 during T4)".into(),
    );
    drop(servers);
    Ok(())
}
