//! T5: bulk TCP throughput through the relay (iperf3, one stream, client
//! to backend), with offloads on and off. On veth, an XDP program takes
//! GSO away from its peer, so fwd may lose here: the figures are published
//! as they are.

use std::{thread, time::Duration};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::{
    arena::{backend, Arena, Offloads},
    competitor::Competitor,
    infra::process::run as run_command,
    record::Sample,
    relay::Serves,
    suite::{Ctx, Metric},
};

const PORT: u16 = 5201;
const THROUGHPUT: Metric = ("throughput", "Gbit/s");
const RELAY_BUSY: Metric = ("relay_cpu_busy", "%");

/// Runs T5 for every competitor, offloads on then off.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let metrics = [THROUGHPUT, RELAY_BUSY];
    for (offloads, test) in [
        (Offloads::On, "T5 TCP bulk (iperf3, 1 stream), offloads on"),
        (
            Offloads::Off,
            "T5 TCP bulk (iperf3, 1 stream), offloads off",
        ),
    ] {
        let serves = Serves {
            tcp: vec![PORT],
            max_flows: 131_072,
            ..Serves::default()
        };
        let mut arenas = ctx.arenas(&Competitor::ALL, &serves, offloads, &[test], &metrics);
        let mut servers = Vec::new();
        for slot in &mut arenas {
            if let Some(a) = slot {
                match iperf_server(a) {
                    Ok(s) => servers.push(s),
                    Err(e) => {
                        ctx.fail(&[test], a.competitor, &metrics, &e);
                        *slot = None;
                    }
                }
            }
        }
        let secs = ctx.scale.iperf_seconds;
        ctx.interleave(&mut arenas, &[test], &metrics, |ctx, arena, _| {
            arena.pin()?;
            let relay0 = arena.relay_cpu.read();
            let t0 = std::time::Instant::now();
            let out = run_command(arena.client.command("iperf3").args([
                "-c",
                &arena.target().to_string(),
                "-p",
                &PORT.to_string(),
                "-t",
                &secs.to_string(),
                "-J",
                "-A",
                "0",
                "--connect-timeout",
                "3000",
            ]))?;
            let wall = t0.elapsed().as_secs_f64();
            let relay = arena.relay_cpu.read().saturating_sub(relay0) as f64;
            arena.check_relay()?;
            let bps = received_bits_per_second(&out)?;
            let busy = 100.0 * relay / (wall * 1e9);
            eprintln!(
                "bench:   {}: {:.2} Gbit/s, relay busy {busy:.0} %",
                arena.competitor.label(),
                bps / 1e9
            );
            ctx.results
                .add(test, arena.competitor, Sample::new(THROUGHPUT, bps / 1e9));
            ctx.results
                .add(test, arena.competitor, Sample::new(RELAY_BUSY, busy));
            Ok(())
        });
        for c in Competitor::ALL {
            ctx.results.note(
                test,
                c,
                THROUGHPUT.0,
                format!("iperf3 -t {secs}, received bits per second"),
            );
            ctx.results.note(
                test,
                c,
                RELAY_BUSY.0,
                "run time of the relay's NAPI threads and processes over the iperf3 run (its startup included)".into(),
            );
        }
        drop(servers);
    }
    Ok(())
}

/// `iperf3 -s` on the backend, on the outside CPU; returns once listening.
fn iperf_server(arena: &Arena) -> Result<crate::infra::process::Background> {
    let b = backend().to_string();
    let mut server =
        arena
            .backend
            .spawn(&["iperf3", "-s", "-B", &b, "-p", &PORT.to_string(), "-A", "0"])?;
    for _ in 0..250 {
        let ss = run_command(arena.backend.command("ss").args(["-Hltn"]))?;
        if ss.contains(&format!("{b}:{PORT}")) {
            return Ok(server);
        }
        if let Some(status) = server.try_wait()? {
            bail!("iperf3 -s exited ({status}): {}", server.output());
        }
        thread::sleep(Duration::from_millis(20));
    }
    bail!("iperf3 -s is not listening after 5 s: {}", server.output())
}

/// `end.sum_received.bits_per_second` of `iperf3 -J` output.
fn received_bits_per_second(json: &str) -> Result<f64> {
    let v: Value = serde_json::from_str(json).context("parsing iperf3's JSON")?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        bail!("iperf3: {e}");
    }
    v.pointer("/end/sum_received/bits_per_second")
        .and_then(Value::as_f64)
        .context("no end.sum_received.bits_per_second in iperf3's output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iperf3_json() {
        let j = r#"{"end": {"sum_received": {"bits_per_second": 1.5e9}}}"#;
        assert_eq!(received_bits_per_second(j).unwrap(), 1.5e9);
        assert!(received_bits_per_second(r#"{"error": "unable to connect"}"#).is_err());
    }
}
