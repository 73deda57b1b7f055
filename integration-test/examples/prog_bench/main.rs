//! T6 of `cargo xtask bench`: the cost of the real XDP program per packet,
//! measured with `BPF_PROG_TEST_RUN` (one run per call, `repeat = 1`: with a
//! larger repeat, later runs would see the frame the first one rewrote).
//!
//! Runs in the packet tests' private network namespace
//! (`integration_test::prog_test_run::env`), so the program's FIB lookups
//! find the same fixed neighbours. Needs root.
//!
//! `cargo run --release -p integration-test --example prog_bench -- [--runs N] [--reps R]
//! [--case NAME]` prints one line per (repetition, case), tab-separated, for the bench:
//! `case <name> <rep> <runs> <median_ns> <p1_ns> <p99_ns>`.
//! The kernel's own timing of each run is used (`duration` of the test run);
//! it includes the test-run harness's timer reads around the program, which
//! the `empty_program` case (an XDP program that only returns XDP_PASS, run
//! the same way) measures on its own.

mod floor;

use std::net::Ipv4Addr;

use anyhow::{bail, ensure, Context as _, Result};
use fwd::datapath::{Datapath, FlowEvents};
use fwd_common::{counters::xdp_action, Flow4Key, IPPROTO_UDP};
use integration_test::{
    addr::sa,
    packet::{IcmpError, PacketBuilder},
    prog_test_run::{
        env::{self, *},
        run,
    },
};

/// New-flow runs between two (untimed) clears of the connection table, so
/// that SNAT ports and table space never run out (random probing finds a
/// free port quickly only while the range is sparsely used).
const NEW_FLOWS_PER_BATCH: usize = 10_000;
/// UDP source port of the established flow.
const ESTABLISHED_PORT: u16 = 40_000;
/// First source port of the new-flow case.
const NEW_FLOW_FIRST_PORT: u16 = 1024;

/// The measured cases, in the order each repetition runs them.
const CASES: &[&str] = &[
    "established_forward",
    "established_reply",
    "new_flow",
    "non_vip_pass",
    "icmp_error",
    "empty_program",
];

struct Args {
    runs: usize,
    reps: usize,
    /// Only this case (for profiling one path), or every case.
    case: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        runs: 100_000,
        reps: 5,
        case: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let value = |it: &mut dyn Iterator<Item = String>| -> Result<usize> {
            it.next()
                .with_context(|| format!("{a} needs a value"))?
                .parse()
                .with_context(|| format!("{a} takes a number"))
        };
        match a.as_str() {
            "--runs" => args.runs = value(&mut it)?,
            "--reps" => args.reps = value(&mut it)?,
            "--case" => {
                let case = it.next().context("--case needs a value")?;
                ensure!(
                    CASES.contains(&case.as_str()),
                    "unknown case {case:?} (expected one of {})",
                    CASES.join(", ")
                );
                args.case = Some(case);
            }
            other => bail!("unknown argument {other:?} (expected --runs N, --reps R, --case NAME)"),
        }
    }
    ensure!(
        args.runs > 0 && args.reps > 0,
        "--runs and --reps must be positive"
    );
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // The namespace belongs to the benchmark's thread; it goes with it.
    env::in_relay_netns(|| bench(&args))
}

/// Runs every case `args.reps` times, interleaved, printing one line each.
fn bench(args: &Args) -> Result<()> {
    let mut dp = datapath()?;
    let mut events = dp
        .take_flow_events()
        .context("the flow-event ring buffer")?;
    let client = |port| sa(CLIENT, port);
    let vip = sa(VIP, VIP_UDP_PORT);
    let from_client = |b: PacketBuilder| b.macs(CLIENT_MAC, CLIENT_IF_MAC).build();

    // The established flow, created once (its first packet is a new flow).
    let forward = from_client(PacketBuilder::udp(client(ESTABLISHED_PORT), vip).payload(b"q"));
    let (action, _) = run_once(&mut dp, ifindex(CLIENT_IF), &forward)?;
    ensure!(
        action == xdp_action::REDIRECT,
        "the first packet of the flow got action {action}, expected REDIRECT"
    );
    let forward_key = Flow4Key::new(CLIENT, ESTABLISHED_PORT, VIP, VIP_UDP_PORT, IPPROTO_UDP);
    let half = dp
        .flow(&forward_key)?
        .context("the established flow is not in the table")?;
    let reply_key = half.other_key(IPPROTO_UDP);
    let snat_port = u16::from_be(reply_key.dst_port);
    let reply = PacketBuilder::udp(sa(BACKEND, 53), sa(SNAT, snat_port))
        .payload(b"a")
        .macs(BACKEND_MAC, BACKEND_IF_MAC)
        .build();
    let non_vip = from_client(PacketBuilder::udp(client(5555), sa(RELAY_CLIENT_SIDE, 53)));
    // A router beyond the backend side says the established flow's
    // translated datagram needs fragmenting: translated for the client.
    let quoted = PacketBuilder::udp(sa(SNAT, snat_port), sa(BACKEND, 53))
        .payload(b"q")
        .ttl(63)
        .ip_quote(8);
    let icmp_error = PacketBuilder::icmp_error(
        Ipv4Addr::new(198, 19, 0, 254),
        SNAT,
        IcmpError::FragNeeded { next_hop_mtu: 1400 },
        &quoted,
    )
    .macs(BACKEND_MAC, BACKEND_IF_MAC)
    .build();
    let (action, _) = run_once(&mut dp, ifindex(BACKEND_IF), &icmp_error)?;
    ensure!(
        action == xdp_action::REDIRECT,
        "the ICMP error got action {action}, expected REDIRECT (translated)"
    );

    let empty = floor::EmptyProgram::load()?;
    let mut next_new = 0usize;
    for rep in 0..args.reps {
        for &case in CASES {
            if args.case.as_deref().is_some_and(|only| only != case) {
                continue;
            }
            let mut times = Vec::with_capacity(args.runs);
            match case {
                "established_forward" => {
                    measure(&mut dp, CLIENT_IF, &forward, args.runs, &mut times)?
                }
                "established_reply" => measure(&mut dp, BACKEND_IF, &reply, args.runs, &mut times)?,
                "non_vip_pass" => measure(&mut dp, CLIENT_IF, &non_vip, args.runs, &mut times)?,
                "icmp_error" => {
                    measure(&mut dp, BACKEND_IF, &icmp_error, args.runs, &mut times)?;
                }
                "empty_program" => {
                    for _ in 0..args.runs {
                        times.push(empty.run(ifindex(CLIENT_IF), &non_vip)?);
                    }
                }
                _ => {
                    new_flows(&mut dp, &mut events, &mut next_new, args.runs, &mut times)?;
                    // The established flow must survive the clears.
                    run_once(&mut dp, ifindex(CLIENT_IF), &forward)?;
                }
            }
            times.sort_unstable();
            let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            println!(
                "case\t{case}\t{rep}\t{}\t{}\t{}\t{}",
                times.len(),
                at(0.5),
                at(0.01),
                at(0.99)
            );
        }
    }
    Ok(())
}

/// The datapath with the packet tests' services, a SNAT range of every
/// non-system port and room for the new-flow batches.
fn datapath() -> Result<Datapath> {
    let mut plan = env::plan();
    plan.settings.snat_ports = 1024..=65535;
    plan.settings.max_flows = 2 * NEW_FLOWS_PER_BATCH as u32 + 1024;
    let mut dp = Datapath::load(&plan.settings).context("loading the datapath")?;
    dp.install(&plan).context("installing the plan")?;
    dp.allow_redirect(ifindex(CLIENT_IF))?;
    dp.allow_redirect(ifindex(BACKEND_IF))?;
    Ok(dp)
}

/// Runs `frame` `runs` times on `ingress`; every run must take the action
/// of the first (the same path each time).
fn measure(
    dp: &mut Datapath,
    ingress: &str,
    frame: &[u8],
    runs: usize,
    times: &mut Vec<u64>,
) -> Result<()> {
    let ifindex = ifindex(ingress);
    let (expected, _) = run_once(dp, ifindex, frame)?;
    for _ in 0..runs {
        let (action, ns) = run_once(dp, ifindex, frame)?;
        ensure!(
            action == expected,
            "action changed from {expected} to {action}"
        );
        times.push(ns);
    }
    Ok(())
}

/// `runs` first packets of distinct UDP flows (a fresh client address and
/// port each), each of which must be forwarded. The table is cleared and
/// the flow events drained between batches, outside the timed runs.
fn new_flows(
    dp: &mut Datapath,
    events: &mut FlowEvents,
    next: &mut usize,
    runs: usize,
    times: &mut Vec<u64>,
) -> Result<()> {
    let ifindex = ifindex(CLIENT_IF);
    let ports = usize::from(u16::MAX - NEW_FLOW_FIRST_PORT) + 1;
    for _ in 0..runs {
        if next.is_multiple_of(NEW_FLOWS_PER_BATCH) {
            dp.clear_flows()
                .context("clearing the table between batches")?;
        }
        if next.is_multiple_of(1024) {
            while events.next_event().is_some() {}
        }
        let host = u8::try_from(10 + (*next / ports) % 200).expect("fits");
        let src = sa(Ipv4Addr::new(198, 18, 0, host), {
            NEW_FLOW_FIRST_PORT + u16::try_from(*next % ports).expect("fits")
        });
        *next += 1;
        let frame = PacketBuilder::udp(src, sa(VIP, VIP_UDP_PORT))
            .payload(b"q")
            .macs(CLIENT_MAC, CLIENT_IF_MAC)
            .build();
        let (action, ns) = run_once(dp, ifindex, &frame)?;
        if action != xdp_action::REDIRECT {
            let reasons: Vec<_> = dp
                .reason_stats()?
                .into_iter()
                .filter(|(_, c)| c.packets > 0)
                .map(|(r, c)| format!("{}={}", r.name(), c.packets))
                .collect();
            bail!(
                "new flow {src} got action {action}, expected REDIRECT ({} flows in the table; counters: {})",
                dp.flows()?.len(),
                reasons.join(" ")
            );
        }
        times.push(ns);
    }
    Ok(())
}

/// One `BPF_PROG_TEST_RUN` with `repeat = 1` (the packet tests' own runner):
/// the action and the kernel's time for the run in nanoseconds.
fn run_once(dp: &mut Datapath, ingress_ifindex: u32, frame: &[u8]) -> Result<(u32, u64)> {
    let out = run::try_run(dp, ingress_ifindex, frame).context("BPF_PROG_TEST_RUN")?;
    Ok((
        out.action,
        u64::try_from(out.duration.as_nanos()).unwrap_or(u64::MAX),
    ))
}
