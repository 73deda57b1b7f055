//! T3: request/response latency through the relay: 1-byte TCP request,
//! 1-byte response, on one connection, p50 and p99 of the round trip as
//! the client sees it.

use std::net::{SocketAddr, SocketAddrV4};

use anyhow::Result;

use crate::{
    arena::{backend, Offloads},
    competitor::Competitor,
    record::{quantile, Sample},
    relay::Serves,
    suite::{Ctx, Metric},
    tcp::{round_trips, EchoServers},
};

/// The test's name in the results.
const TEST: &str = "T3 TCP 1-byte request/response latency";
const PORT: u16 = 7000;
const P50: Metric = ("rtt_p50", "µs");
const P99: Metric = ("rtt_p99", "µs");

/// Runs T3 for every competitor.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let metrics = [P50, P99];
    let serves = Serves {
        tcp: vec![PORT],
        max_flows: 131_072,
        ..Serves::default()
    };
    let mut arenas = ctx.arenas(&Competitor::ALL, &serves, Offloads::On, &[TEST], &metrics);
    let mut servers = Vec::new();
    for slot in &mut arenas {
        if let Some(a) = slot {
            match EchoServers::start(&a.backend, backend(), &[PORT]) {
                Ok(s) => servers.push(s),
                Err(e) => {
                    ctx.fail(&[TEST], a.competitor, &metrics, &e);
                    *slot = None;
                }
            }
        }
    }
    let count = ctx.scale.round_trips;
    // Bounded: a relay that answers in milliseconds must not take minutes.
    let limit = ctx.scale.window * 4;
    ctx.interleave(&mut arenas, &[TEST], &metrics, |ctx, arena, _| {
        arena.pin()?;
        let to = SocketAddr::V4(SocketAddrV4::new(arena.target(), PORT));
        let times = round_trips(&arena.client, to, count / 10, count, limit)?;
        arena.check_relay()?;
        let (p50, p99) = (quantile(&times, 0.5), quantile(&times, 0.99));
        eprintln!(
            "bench:   {}: p50 {p50:.1} µs, p99 {p99:.1} µs",
            arena.competitor.label()
        );
        ctx.results
            .add(TEST, arena.competitor, Sample::new(P50, p50));
        ctx.results
            .add(TEST, arena.competitor, Sample::new(P99, p99));
        Ok(())
    });
    for c in Competitor::ALL {
        for m in metrics {
            ctx.results.note(
                TEST,
                c,
                m.0,
                format!(
                    "{count} timed round trips per repetition (fewer if {:.0} s run out) on one connection, TCP_NODELAY",
                    limit.as_secs_f64()
                ),
            );
        }
    }
    drop(servers);
    Ok(())
}
