//! T6: the cost of fwd's XDP program per packet, through
//! `BPF_PROG_TEST_RUN` (one run per call, median over the runs of a
//! repetition). The measurement itself is the `prog_bench` example of the
//! integration-test crate (it links `fwd`, which the bench cannot: xtask links the
//! bench and must build before the eBPF toolchain exists); this runs it and
//! reads its lines.

use std::process::Stdio;

use anyhow::{bail, Context as _, Result};

use crate::{competitor::Competitor, infra::TESTS_PACKAGE, record::Sample, suite::Ctx};

/// The test's name in the results.
pub(crate) const TEST: &str = "T6 program cost (BPF_PROG_TEST_RUN)";
const UNIT: &str = "ns/packet";

/// The example's case names and the metric each becomes.
const CASES: &[(&str, &str)] = &[
    ("established_forward", "established_forward"),
    ("established_reply", "established_reply"),
    ("new_flow", "new_flow_udp"),
    ("non_vip_pass", "not_a_vip_pass"),
    ("icmp_error", "icmp_error_translated"),
    ("empty_program", "floor_empty_program"),
];

/// Builds and runs the example, records one sample per case and
/// repetition.
pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let metrics: Vec<(&str, &str)> = CASES.iter().map(|(_, m)| (*m, UNIT)).collect();
    for c in Competitor::ALL
        .into_iter()
        .filter(|c| *c != Competitor::Fwd)
    {
        ctx.not_applicable(
            &[TEST],
            c,
            &metrics,
            "not applicable: T6 measures fwd's XDP program",
        );
    }
    let runs = ctx.scale.prog_runs.to_string();
    let reps = ctx.scale.reps.to_string();
    let out = ctx
        .workspace
        .cargo()?
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            TESTS_PACKAGE,
            "--example",
            "prog_bench",
            "--",
        ])
        .args(["--runs", &runs, "--reps", &reps])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the prog_bench example")?;
    if !out.status.success() {
        let e = anyhow::anyhow!(
            "the prog_bench example failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        ctx.fail(&[TEST], Competitor::Fwd, &metrics, &e);
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 || f[0] != "case" {
            continue;
        }
        let Some((_, metric)) = CASES.iter().find(|(case, _)| *case == f[1]) else {
            bail!("prog_bench reported an unknown case: {line}");
        };
        let median: f64 = f[4]
            .parse()
            .with_context(|| format!("a median in {line:?}"))?;
        ctx.results
            .add(TEST, Competitor::Fwd, Sample::new((metric, UNIT), median));
        seen += 1;
    }
    if seen != CASES.len() * ctx.scale.reps {
        bail!(
            "prog_bench printed {seen} results, expected {}:\n{text}",
            CASES.len() * ctx.scale.reps
        );
    }
    for (_, metric) in CASES {
        let note = if *metric == "floor_empty_program" {
            "an XDP program that only returns XDP_PASS, run the same way: the harness's own cost, included in every T6 figure".to_string()
        } else {
            format!(
                "kernel-timed BPF_PROG_TEST_RUN with repeat 1, median of {} runs per repetition",
                ctx.scale.prog_runs
            )
        };
        ctx.results.note(TEST, Competitor::Fwd, metric, note);
    }
    Ok(())
}
