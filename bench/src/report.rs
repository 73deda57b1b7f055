//! Writing the results: `latest.json` (the records) and `latest.md` (a
//! table per test, rendered from the same records).

use std::{collections::BTreeMap, fmt::Write as _, fs, path::Path, process::Command};

use anyhow::{Context as _, Result};

use crate::{
    catalog,
    competitor::Competitor,
    host::{Machine, OUTSIDE_CPU, RELAY_CPU},
    record::Record,
};

/// Facts about the run printed above the tables.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    /// `--quick`.
    pub quick: bool,
    /// Repetitions per measurement.
    pub reps: usize,
    /// Tests that ran.
    pub tests: Vec<String>,
    /// The machine.
    pub machine: Machine,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// Writes `latest.json` and `latest.md` into `dir`.
pub(crate) fn write(dir: &Path, records: &[Record], run: &Run) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(records).context("serialising the records")?;
    let path = dir.join("latest.json");
    fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    let path = dir.join("latest.md");
    fs::write(&path, markdown(records, run))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A value in three significant digits with a k/M/G suffix.
pub(crate) fn human(v: f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, " G"),
        a if a >= 1e6 => (v / 1e6, " M"),
        a if a >= 1e4 => (v / 1e3, " k"),
        _ => (v, ""),
    };
    let digits = match scaled.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    format!("{scaled:.digits$}{suffix}")
}

/// The Markdown page.
pub(crate) fn markdown(records: &[Record], run: &Run) -> String {
    let mut s = String::new();
    let mode = if run.quick {
        "quick (`--quick`)"
    } else {
        "full"
    };
    let _ = writeln!(s, "# fwd benchmark results\n");
    let _ = writeln!(
        s,
        "Run: {mode}, {} repetitions per measurement, interleaved across competitors; {}; took {:.0} s.  ",
        run.reps,
        date(),
        run.seconds
    );
    let m = &run.machine;
    let _ = writeln!(
        s,
        "Machine: {} ({} CPUs), {:.0} GiB memory, Linux {}.  ",
        m.cpu, m.cpus, m.memory_gib, m.kernel
    );
    let flag = if run.quick { " --quick" } else { "" };
    let only = if run.tests.len() < catalog::TESTS.len() {
        format!(" --only {}", run.tests.join(","))
    } else {
        String::new()
    };
    let _ = writeln!(s, "Reproduce (as root): `cargo xtask bench{flag}{only}`.\n");
    let _ = writeln!(s, "Values are `median (min–max)` over the repetitions; `≥` marks a lower bound (the load generator, not the relay, was the limit). \
`F1/C1` and `F1/U1` divide fwd's median by C1's and U1's.\n");
    let _ = writeln!(s, "Competitors:\n");
    for c in Competitor::ALL {
        let _ = writeln!(s, "- **{}**: {}", c.label(), c.describe());
    }
    let _ = writeln!(
        s,
        "\nSetup, the same for every competitor: client -- wire -- relay -- wire -- backend in network namespaces joined by veth pairs; \
the wire passes frames on with XDP redirects, so that the relay receives them as from a NIC's driver; \
TX checksum offload off on every veth end, GRO on (T5 also runs with GRO, GSO and TSO off); threaded NAPI, \
the relay's NAPI threads and processes on CPU {RELAY_CPU}, the load generators, wire, sink, clients and servers on CPU {OUTSIDE_CPU}; \
permanent neighbour entries. UDP saturation load: XDP live frames (BPF_PROG_TEST_RUN); fixed loads and flow sets sent once: \
a paced AF_PACKET sender. UDP packets are counted at an XDP drop program on the backend's interface. \
`cpu_all`: busy time of every CPU from /proc/stat (generators and sink included, and anything else running on the machine); \
`cpu_relay`: run time of the relay's NAPI threads and processes.\n"
    );

    let mut tests: Vec<&str> = Vec::new();
    for r in records {
        if !tests.contains(&r.test.as_str()) {
            tests.push(&r.test);
        }
    }
    for test in tests {
        let rows: Vec<&Record> = records.iter().filter(|r| r.test == test).collect();
        section(&mut s, test, &rows);
    }
    s
}

/// The ratios of every table, numerator / denominator: fwd against
/// iptables NAT and against socat (`F1/C1`, `F1/U1`).
const RATIOS: [(Competitor, Competitor); 2] = [
    (Competitor::Fwd, Competitor::Iptables),
    (Competitor::Fwd, Competitor::Socat),
];

/// The column heading of a ratio, e.g. `F1/C1`.
fn ratio_label((num, den): (Competitor, Competitor)) -> String {
    format!("{}/{}", num.label(), den.label())
}

/// One test's table, its notes and its footnotes.
fn section(s: &mut String, test: &str, rows: &[&Record]) {
    let _ = writeln!(s, "## {test}\n");
    let comps: Vec<Competitor> = Competitor::ALL
        .into_iter()
        .filter(|c| rows.iter().any(|r| r.competitor == c.label()))
        .collect();
    let _ = write!(s, "| metric | unit |");
    for c in &comps {
        let _ = write!(s, " {} |", c.label());
    }
    let _ = writeln!(
        s,
        " {} | {} |",
        ratio_label(RATIOS[0]),
        ratio_label(RATIOS[1])
    );
    let _ = writeln!(s, "|---|---|{}---|---|", "---|".repeat(comps.len()));
    let mut metrics: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if !metrics.iter().any(|(m, _)| *m == r.metric) {
            metrics.push((&r.metric, &r.unit));
        }
    }
    let mut footnotes: BTreeMap<String, usize> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    for (metric, unit) in metrics {
        let _ = write!(s, "| {metric} | {unit} |");
        let find = |c: Competitor| {
            rows.iter()
                .find(|r| r.metric == metric && r.competitor == c.label())
        };
        for &c in &comps {
            let cell = match find(c) {
                Some(r) => match (r.median, r.min, r.max, &r.unavailable) {
                    (Some(med), Some(lo), Some(hi), _) => {
                        let bound = if r.at_least { "≥ " } else { "" };
                        format!("{bound}{} ({}–{})", human(med), human(lo), human(hi))
                    }
                    (_, _, _, reason) => {
                        let reason = reason.clone().unwrap_or_else(|| "no value".into());
                        let n = footnotes.len() + 1;
                        let n = *footnotes.entry(reason).or_insert(n);
                        format!("n/a [{n}]")
                    }
                },
                None => String::new(),
            };
            let _ = write!(s, " {cell} |");
        }
        let ratio = |(num, den): (Competitor, Competitor)| {
            let a = find(num).and_then(|r| r.median);
            let b = find(den).and_then(|r| r.median);
            match (a, b) {
                (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
                _ => String::new(),
            }
        };
        let _ = writeln!(s, " {} | {} |", ratio(RATIOS[0]), ratio(RATIOS[1]));
        for r in rows.iter().filter(|r| r.metric == metric) {
            if let Some(n) = &r.note {
                let line = format!("`{metric}`: {n}");
                if !notes.contains(&line) {
                    notes.push(line);
                }
            }
        }
    }
    let _ = writeln!(s);
    for n in notes {
        let _ = writeln!(s, "- {n}");
    }
    let mut by_number: Vec<(usize, String)> = footnotes.into_iter().map(|(r, n)| (n, r)).collect();
    by_number.sort();
    for (n, reason) in by_number {
        let _ = writeln!(s, "- [{n}] {reason}");
    }
    let _ = writeln!(s);
}

/// The current UTC time, from `date` (the bench has no clock crate).
fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "date unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(human(1_234_567.0), "1.23 M");
        assert_eq!(human(45_600.0), "45.6 k");
        assert_eq!(human(845.2), "845");
        assert_eq!(human(12.34), "12.3");
        assert_eq!(human(0.5), "0.50");
    }

    #[test]
    fn markdown_has_a_row_per_metric_and_footnotes() {
        let rec = |c: &str, median: Option<f64>, why: Option<&str>| Record {
            test: "T1 x".into(),
            competitor: c.into(),
            metric: "forwarded_rate".into(),
            unit: "packets/s".into(),
            median,
            min: median,
            max: median,
            runs: usize::from(median.is_some()) * 5,
            at_least: c == "F1",
            note: None,
            unavailable: why.map(String::from),
        };
        let records = vec![
            rec("C1", Some(100_000.0), None),
            rec("U2", None, Some("no UDP")),
            rec("F1", Some(300_000.0), None),
        ];
        let run = Run {
            quick: true,
            reps: 5,
            tests: vec!["T1".into()],
            machine: Machine::read(),
            seconds: 1.0,
        };
        let md = markdown(&records, &run);
        assert!(md.contains("| forwarded_rate | packets/s | 100 k (100 k–100 k) | n/a [1] | ≥ 300 k (300 k–300 k) | 3.00 |  |"), "{md}");
        assert!(
            md.contains("| metric | unit | C1 | U2 | F1 | F1/C1 | F1/U1 |\n"),
            "{md}"
        );
        assert!(md.contains("- [1] no UDP"));
    }
}
