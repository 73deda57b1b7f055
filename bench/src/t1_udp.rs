//! T1: 64-byte UDP forwarding, one flow and 1,024 flows: forwarded packets
//! per second at saturation, CPU per forwarded packet at saturation and at
//! a fixed offered load that every competitor sustains (80 % of the
//! slowest one's saturation rate), and fwd's own run time per packet from
//! `kernel.bpf_stats_enabled`.

use anyhow::Result;

use crate::{
    arena::Offloads,
    competitor::Competitor,
    host::Sysctl,
    livegen::Ports,
    record::{Sample, Stats},
    relay::Serves,
    suite::{fixed_rate, Ctx, Metric},
    udp_run::{measure, Window},
};

/// The UDP port every frame goes to (socat listens on it for U1).
pub(crate) const UDP_PORT: u16 = 9;
/// The first source port of the flows (socat locks onto this one).
pub(crate) const SRC_PORT: u16 = 10_000;

const RATE: Metric = ("forwarded_rate", "packets/s");
const CPU_ALL: Metric = ("cpu_all_per_packet", "ns/packet");
const CPU_RELAY: Metric = ("cpu_relay_per_packet", "ns/packet");
const CPU_ALL_FIXED: Metric = ("cpu_all_per_packet_fixed_load", "ns/packet");
const CPU_RELAY_FIXED: Metric = ("cpu_relay_per_packet_fixed_load", "ns/packet");
const DELIVERED_FIXED: Metric = ("delivered_fixed_load", "%");
const BPF: Metric = ("bpf_run_time_per_packet", "ns/packet");

const METRICS: &[Metric] = &[
    RATE,
    CPU_ALL,
    CPU_RELAY,
    CPU_ALL_FIXED,
    CPU_RELAY_FIXED,
    DELIVERED_FIXED,
];

/// The note on the CPU metrics.
pub(crate) const CPU_NOTE: &str = "`all`: busy time of every CPU from /proc/stat (the generator and sink included); \
                            `relay`: run time of the relay's NAPI threads and processes (schedstat)";

/// Runs T1 for every competitor.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let one = "T1 UDP 64 B, 1 flow";
    let many = "T1 UDP 64 B, 1024 flows";
    let mut all = METRICS.to_vec();
    all.push(BPF);
    ctx.not_applicable(
        &[one, many],
        Competitor::Haproxy,
        &all,
        "not applicable: HAProxy relays TCP only (`mode tcp`)",
    );
    ctx.not_applicable(
        &[many],
        Competitor::Socat,
        &all,
        "not applicable: socat's UDP4-LISTEN relays a single peer; one process per flow \
         (UDP4-RECVFROM,fork forks per datagram) is not a relay configuration",
    );
    for c in Competitor::ALL
        .into_iter()
        .filter(|c| *c != Competitor::Fwd)
    {
        ctx.not_applicable(&[one, many], c, &[BPF], "not applicable: no BPF program");
    }

    let competitors = [
        Competitor::Routing,
        Competitor::Iptables,
        Competitor::Nftables,
        Competitor::Socat,
        Competitor::Fwd,
    ];
    let serves = Serves {
        udp: Some(UDP_PORT),
        max_flows: 131_072,
        ..Serves::default()
    };
    let mut arenas = ctx.arenas(&competitors, &serves, Offloads::On, &[one, many], &all);
    for slot in &mut arenas {
        if let Some(a) = slot {
            if let Err(e) = a.attach_sink() {
                ctx.fail(&[one, many], a.competitor, &all, &e);
                *slot = None;
            }
        }
    }

    for (test, flows) in [
        (
            one,
            Ports {
                first: SRC_PORT,
                count: 1,
                dst: UDP_PORT,
            },
        ),
        (
            many,
            Ports {
                first: SRC_PORT,
                count: 1024,
                dst: UDP_PORT,
            },
        ),
    ] {
        let applies = |c: Competitor| test == one || c != Competitor::Socat;
        let mut these: Vec<_> = arenas
            .iter_mut()
            .map(|slot| {
                if slot.as_ref().is_some_and(|a| applies(a.competitor)) {
                    slot.take()
                } else {
                    None
                }
            })
            .collect();
        for c in competitors.into_iter().filter(|c| applies(*c)) {
            if !ctx.results.has(test, c, RATE.0)
                && !these.iter().flatten().any(|a| a.competitor == c)
            {
                let e = anyhow::anyhow!("its relay failed in an earlier part of T1");
                ctx.fail(&[test], c, &all, &e);
            }
        }
        let (warmup, window) = (ctx.scale.warmup, ctx.scale.window);

        ctx.interleave(&mut these, &[test], &all, |ctx, arena, _| {
            let w = measure(arena, flows, None, warmup, window, false)?;
            saturation_samples(ctx, test, arena.competitor, &w);
            Ok(())
        });

        let slowest = these
            .iter()
            .flatten()
            .filter_map(|a| Stats::of(&ctx.results.samples(test, a.competitor, RATE.0)))
            .map(|s| s.median)
            .fold(f64::INFINITY, f64::min);
        let fixed = fixed_rate(slowest);
        if fixed > 0.0 {
            let note = format!(
                "at a fixed offered load of {fixed:.0} packets/s (80 % of the slowest saturation rate, at most 200 kpps); {CPU_NOTE}"
            );
            ctx.interleave(&mut these, &[test], &all, |ctx, arena, _| {
                let w = measure(arena, flows, Some(fixed), warmup, window, false)?;
                fixed_samples(ctx, test, arena.competitor, &w);
                Ok(())
            });
            for c in competitors {
                for m in [CPU_ALL_FIXED, CPU_RELAY_FIXED, DELIVERED_FIXED] {
                    ctx.results.note(test, c, m.0, note.clone());
                }
            }
            bpf_phase(ctx, &mut these, test, flows, fixed)?;
        }
        for c in competitors {
            for m in [CPU_ALL, CPU_RELAY] {
                ctx.results
                    .note(test, c, m.0, format!("at saturation; {CPU_NOTE}"));
            }
        }
        // Give the arenas back for the next flow set.
        for (slot, a) in arenas.iter_mut().zip(these) {
            if a.is_some() {
                *slot = a;
            }
        }
    }
    Ok(())
}

fn saturation_samples(ctx: &mut Ctx<'_>, test: &str, c: Competitor, w: &Window) {
    let limited = w.generator_limited();
    ctx.results
        .add(test, c, Sample::new(RATE, w.rate()).limited(limited));
    ctx.results
        .add(test, c, Sample::new(CPU_ALL, w.cpu_all_per_packet()));
    ctx.results
        .add(test, c, Sample::new(CPU_RELAY, w.cpu_relay_per_packet()));
}

fn fixed_samples(ctx: &mut Ctx<'_>, test: &str, c: Competitor, w: &Window) {
    ctx.results
        .add(test, c, Sample::new(CPU_ALL_FIXED, w.cpu_all_per_packet()));
    ctx.results.add(
        test,
        c,
        Sample::new(CPU_RELAY_FIXED, w.cpu_relay_per_packet()),
    );
    ctx.results
        .add(test, c, Sample::new(DELIVERED_FIXED, 100.0 * w.delivered()));
}

/// fwd alone at the fixed load with `kernel.bpf_stats_enabled=1` (kept
/// out of the other windows: the statistics cost two clock reads per run).
fn bpf_phase(
    ctx: &mut Ctx<'_>,
    arenas: &mut [Option<crate::arena::Arena>],
    test: &str,
    flows: Ports,
    fixed: f64,
) -> Result<()> {
    let Some(slot) = arenas
        .iter_mut()
        .find(|a| a.as_ref().is_some_and(|a| a.competitor == Competitor::Fwd))
    else {
        return Ok(());
    };
    let _stats = Sysctl::set("kernel.bpf_stats_enabled", "1")?;
    let (warmup, window) = (ctx.scale.warmup, ctx.scale.window);
    ctx.interleave(
        std::slice::from_mut(slot),
        &[test],
        &[BPF],
        |ctx, arena, _| {
            let w = measure(arena, flows, Some(fixed), warmup, window, true)?;
            let ns = w
                .bpf_ns_per_run()
                .ok_or_else(|| anyhow::anyhow!("fwd's program ran 0 times"))?;
            ctx.results.add(test, Competitor::Fwd, Sample::new(BPF, ns));
            Ok(())
        },
    );
    ctx.results.note(
        test,
        Competitor::Fwd,
        BPF.0,
        format!(
            "run_time_ns / run_cnt of fwd's XDP program (kernel.bpf_stats_enabled=1, separate windows) at {fixed:.0} packets/s"
        ),
    );
    Ok(())
}
