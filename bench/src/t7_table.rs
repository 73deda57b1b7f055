//! T7: connection-table scale: the cost of established flows with 1,024
//! and with about a million live flows in the table, and the memory per
//! flow. Only the competitors with a connection table run it.

use std::{net::Ipv4Addr, time::Duration};

use anyhow::{bail, Result};

use crate::{
    arena::{Arena, Offloads},
    competitor::Competitor,
    counters::{conntrack_count, count_map_keys, hash_map_with_capacity, slab_bytes},
    gen::FlowSet,
    livegen::Ports,
    record::{Sample, Stats},
    relay::Serves,
    suite::{fixed_rate, Ctx, Metric},
    t1_udp::{CPU_NOTE, SRC_PORT, UDP_PORT},
    udp_run::{measure, send_once},
};

const RATE: Metric = ("forwarded_rate", "packets/s");
const CPU_RELAY: Metric = ("cpu_relay_per_packet", "ns/packet");
const CPU_RELAY_FIXED: Metric = ("cpu_relay_per_packet_fixed_load", "ns/packet");
const CPU_ALL_FIXED: Metric = ("cpu_all_per_packet_fixed_load", "ns/packet");
const LIVE: Metric = ("live_flows", "flows");
const MEMORY: Metric = ("memory_per_flow", "bytes/flow");
/// fwd's table: room for the million flows and the measured ones, below
/// 90 % (where fwd's GC starts expiring opening flows early).
const MAX_FLOWS: u32 = 2_000_000;
/// Bytes of a `CT4` key (fwd_common::Flow4Key).
const FLOW_KEY_SIZE: usize = 16;

/// Runs T7 for C1, C2 and F1.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let (dports, sports) = ctx.scale.large_table;
    let large = u64::from(dports) * u64::from(sports);
    let small_test = "T7 established flows, 1024 live flows";
    let large_test = format!("T7 established flows, {} live flows", large + 1024);
    let large_test = large_test.as_str();
    let memory_test = "T7 connection table memory";
    let per_size = [RATE, CPU_RELAY, CPU_RELAY_FIXED, CPU_ALL_FIXED, LIVE];
    let tests = [small_test, large_test];
    for (c, why) in [
        (
            Competitor::Routing,
            "not applicable: plain routing keeps no flow state",
        ),
        (
            Competitor::Socat,
            "not applicable: a userspace relay keeps a socket per flow, not a table",
        ),
        (
            Competitor::Haproxy,
            "not applicable: a userspace relay keeps a socket per flow, not a table",
        ),
    ] {
        ctx.not_applicable(&tests, c, &per_size, why);
        ctx.not_applicable(&[memory_test], c, &[MEMORY], why);
    }
    let serves = Serves {
        max_flows: MAX_FLOWS,
        ..Serves::default()
    };
    let competitors = [Competitor::Iptables, Competitor::Nftables, Competitor::Fwd];
    let mut arenas = ctx.arenas(&competitors, &serves, Offloads::On, &tests, &per_size);
    for slot in &mut arenas {
        if let Some(a) = slot {
            let ready = a.attach_sink().and_then(|()| {
                if a.competitor != Competitor::Fwd {
                    // Unreplied UDP entries live 30 s by default: keep the
                    // filled table for the whole test.
                    a.relay
                        .sysctl("net.netfilter.nf_conntrack_udp_timeout", "900")?;
                }
                Ok(())
            });
            if let Err(e) = ready {
                ctx.fail(&tests, a.competitor, &per_size, &e);
                *slot = None;
            }
        }
    }
    let measured = FlowSet::client_ports(1024, UDP_PORT);
    let ports = Ports {
        first: SRC_PORT,
        count: 1024,
        dst: UDP_PORT,
    };
    let fill_rate = ctx.scale.fill_rate;
    let mut fixed = 0.0;
    let mut memory = Vec::new();
    for (phase, test) in tests.into_iter().enumerate() {
        // Fill the table: the measured flows first, then the large set.
        let mut missing = Vec::new();
        for slot in &mut arenas {
            let Some(a) = slot.as_mut() else { continue };
            let before = (slab_bytes()?, live_flows(a)?);
            let set = if phase == 0 {
                measured.clone()
            } else {
                FlowSet {
                    src_ips: vec![Ipv4Addr::new(198, 18, 0, 3)],
                    src_port: 20_000,
                    src_ports: sports,
                    dst_port: 20_000,
                    dst_ports: dports,
                }
            };
            match fill(a, &set, fill_rate) {
                Ok(()) if phase == 1 => memory.push((a.competitor, memory_per_flow(a, before)?)),
                Ok(()) => {}
                Err(e) => {
                    missing.push((a.competitor, e));
                    *slot = None;
                }
            }
        }
        for (c, e) in missing {
            ctx.fail(&[test], c, &per_size, &e);
        }
        let (warmup, window) = (ctx.scale.warmup, ctx.scale.window);
        ctx.interleave(&mut arenas, &[test], &per_size, |ctx, arena, _| {
            let w = measure(arena, ports, None, warmup, window, false)?;
            let c = arena.competitor;
            ctx.results.add(
                test,
                c,
                Sample::new(RATE, w.rate()).limited(w.generator_limited()),
            );
            ctx.results
                .add(test, c, Sample::new(CPU_RELAY, w.cpu_relay_per_packet()));
            Ok(())
        });
        if phase == 0 {
            let slowest = arenas
                .iter()
                .flatten()
                .filter_map(|a| Stats::of(&ctx.results.samples(test, a.competitor, RATE.0)))
                .map(|s| s.median)
                .fold(f64::INFINITY, f64::min);
            fixed = fixed_rate(slowest);
        }
        if fixed > 0.0 {
            ctx.interleave(&mut arenas, &[test], &per_size, |ctx, arena, _| {
                let w = measure(arena, ports, Some(fixed), warmup, window, false)?;
                let c = arena.competitor;
                ctx.results.add(
                    test,
                    c,
                    Sample::new(CPU_RELAY_FIXED, w.cpu_relay_per_packet()),
                );
                ctx.results
                    .add(test, c, Sample::new(CPU_ALL_FIXED, w.cpu_all_per_packet()));
                Ok(())
            });
        }
        for slot in &mut arenas {
            let Some(a) = slot.as_mut() else { continue };
            let live = live_flows(a)?;
            eprintln!("bench:   {}: {live} live flows", a.competitor.label());
            ctx.results
                .add(test, a.competitor, Sample::new(LIVE, live as f64));
        }
        for (c, (bytes, how)) in memory.drain(..) {
            ctx.results.add(memory_test, c, Sample::new(MEMORY, bytes));
            ctx.results.note(memory_test, c, MEMORY.0, how);
        }
        for c in competitors {
            ctx.results
                .note(test, c, CPU_RELAY.0, format!("at saturation; {CPU_NOTE}"));
            for m in [CPU_RELAY_FIXED, CPU_ALL_FIXED] {
                ctx.results.note(test, c, m.0, format!("at {fixed:.0} packets/s offered (80 % of the slowest saturation rate with 1024 flows, at most 200 kpps); {CPU_NOTE}"));
            }
            ctx.results.note(
                test,
                c,
                RATE.0,
                "1024 established flows (random source port per packet), live-frame generator"
                    .into(),
            );
            ctx.results.note(
                test,
                c,
                LIVE.0,
                "after the measurements: nf_conntrack_count, or fwd's CT4 entries / 2".into(),
            );
        }
    }
    Ok(())
}

/// Sends every flow of `set` at `rate`, again (up to four passes) while
/// fewer than 99 % of them are in the table (frames the relay refused
/// while it was busy create no flow); the table's count is what T7
/// reports, so a shortfall shows there.
fn fill(arena: &mut Arena, set: &FlowSet, rate: f64) -> Result<()> {
    let want = set.len();
    let base = live_flows(arena)?;
    for _ in 0..4 {
        let b = send_once(arena, set, Some(rate))?;
        let live = live_flows(arena)?.saturating_sub(base);
        eprintln!(
            "bench:   {}: {live} of {want} flows in the table ({} arrived, {:.0} packets/s)",
            arena.competitor.label(),
            b.arrived,
            b.arrived as f64 / b.secs
        );
        if live * 100 >= want * 99 {
            return Ok(());
        }
        if b.arrived == 0 {
            bail!("nothing reached the backend while filling the table");
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    Ok(())
}

/// Flows in the competitor's table now.
fn live_flows(arena: &Arena) -> Result<u64> {
    match arena.fwd_pid() {
        Some(pid) => {
            let (id, _) = hash_map_with_capacity(pid, 2 * u64::from(MAX_FLOWS))?;
            Ok(count_map_keys(id, FLOW_KEY_SIZE)? / 2)
        }
        None => conntrack_count(&arena.relay),
    }
}

/// Bytes per flow, and how they were counted; `before` is (slab bytes,
/// live flows) before the large fill.
fn memory_per_flow(arena: &Arena, before: (u64, u64)) -> Result<(f64, String)> {
    if let Some(pid) = arena.fwd_pid() {
        let (_, memlock) = hash_map_with_capacity(pid, 2 * u64::from(MAX_FLOWS))?;
        return Ok((
            memlock as f64 / f64::from(MAX_FLOWS),
            format!("memlock of fwd's CT4 map / max_flows ({MAX_FLOWS}): preallocated when fwd starts, two entries per flow"),
        ));
    }
    let flows = live_flows(arena)?.saturating_sub(before.1).max(1);
    Ok((
        slab_bytes()?.saturating_sub(before.0) as f64 / flows as f64,
        "growth of the kernel's slab memory (/proc/meminfo Slab) while the large table filled, per flow added \
         (anything else allocating meanwhile counts too)"
            .into(),
    ))
}
