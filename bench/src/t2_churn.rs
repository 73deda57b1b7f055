//! T2: new-flow churn: every packet of a repetition opens a new flow
//! (256 source ports x 256 destination ports, 65,536 flows, from a source
//! address no earlier repetition used), sent as fast as the AF_PACKET
//! generator goes; the relay's new-flow rate and CPU per new flow.

use std::net::Ipv4Addr;

use anyhow::{ensure, Result};

use crate::{
    arena::Offloads,
    competitor::Competitor,
    gen::FlowSet,
    record::Sample,
    relay::Serves,
    suite::{Ctx, Metric},
    t1_udp::CPU_NOTE,
    udp_run::send_once,
};

const RATE: Metric = ("new_flow_rate", "flows/s");
const DELIVERED: Metric = ("delivered", "%");
const CPU_RELAY: Metric = ("cpu_relay_per_new_flow", "ns/flow");
const CPU_ALL: Metric = ("cpu_all_per_new_flow", "ns/flow");

/// Runs T2 for the competitors that relay UDP to any port.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let (dports, sports) = ctx.scale.churn;
    let flows = u64::from(dports) * u64::from(sports);
    let test = format!("T2 new-flow churn, {flows} new UDP flows per repetition");
    let test = test.as_str();
    let metrics = [RATE, DELIVERED, CPU_RELAY, CPU_ALL];
    ctx.not_applicable(
        &[test],
        Competitor::Socat,
        &metrics,
        "not applicable: socat's UDP4-LISTEN relays a single peer",
    );
    ctx.not_applicable(
        &[test],
        Competitor::Haproxy,
        &metrics,
        "not applicable: HAProxy relays TCP only (`mode tcp`)",
    );
    let serves = Serves {
        max_flows: 2_000_000,
        ..Serves::default()
    };
    let competitors = [
        Competitor::Routing,
        Competitor::Iptables,
        Competitor::Nftables,
        Competitor::Fwd,
    ];
    let mut arenas = ctx.arenas(&competitors, &serves, Offloads::On, &[test], &metrics);
    for slot in &mut arenas {
        if let Some(a) = slot {
            if let Err(e) = a.attach_sink() {
                ctx.fail(&[test], a.competitor, &metrics, &e);
                *slot = None;
            }
        }
    }
    ctx.interleave(&mut arenas, &[test], &metrics, |ctx, arena, rep| {
        let set = FlowSet {
            src_ips: vec![Ipv4Addr::new(198, 18, 0, 100 + rep as u8)],
            src_port: 10_000,
            src_ports: sports,
            dst_port: 10_000,
            dst_ports: dports,
        };
        let b = send_once(arena, &set, None)?;
        ensure!(b.arrived > 0, "no packet arrived ({} sent)", b.sent);
        let n = b.arrived as f64;
        eprintln!(
            "bench:   {}: {:.0} new flows/s, {:.1} % delivered, {} refused, {:.0} ns relay / {:.0} ns all CPUs per flow",
            arena.competitor.label(),
            n / b.secs,
            100.0 * n / b.sent as f64,
            b.refused,
            b.cpu_relay_ns / n,
            b.cpu_all_ns / n
        );
        let c = arena.competitor;
        ctx.results.add(test, c, Sample::new(RATE, n / b.secs).limited(b.generator_limited()));
        ctx.results.add(test, c, Sample::new(DELIVERED, 100.0 * n / b.sent as f64));
        ctx.results.add(test, c, Sample::new(CPU_RELAY, b.cpu_relay_ns / n));
        ctx.results.add(test, c, Sample::new(CPU_ALL, b.cpu_all_ns / n));
        Ok(())
    });
    for c in competitors {
        ctx.results.note(
            test,
            c,
            RATE.0,
            "flows that reached the backend, from the first packet sent to the last one arriving"
                .into(),
        );
        for m in [CPU_RELAY, CPU_ALL] {
            ctx.results.note(test, c, m.0, CPU_NOTE.to_string());
        }
    }
    Ok(())
}
