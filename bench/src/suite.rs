//! What every test shares: the scale of the run, the arenas of a test
//! (competitors that could not be set up are recorded as unavailable), and
//! the interleaved repetition loop.

use std::{path::PathBuf, time::Duration};

use anyhow::Result;

use crate::{
    arena::{Arena, Offloads},
    competitor::Competitor,
    record::Results,
    relay::Serves,
    Workspace,
};

/// Durations and sizes of a run.
#[derive(Clone, Debug)]
pub(crate) struct Scale {
    /// Repetitions of every measurement (at least 5).
    pub reps: usize,
    /// Traffic before a window starts.
    pub warmup: Duration,
    /// A measurement window.
    pub window: Duration,
    /// T3: timed round trips per repetition.
    pub round_trips: usize,
    /// T4: parallel clients.
    pub clients: usize,
    /// T5: seconds per iperf3 run.
    pub iperf_seconds: u32,
    /// T6: test runs per case and repetition.
    pub prog_runs: usize,
    /// T2: destination ports x source ports of one repetition's new flows.
    pub churn: (u32, u32),
    /// T7: the large table, destination ports x source ports.
    pub large_table: (u32, u32),
    /// T7: packets per second while filling a table.
    pub fill_rate: f64,
}

impl Scale {
    /// The quick run (about five minutes) or the full one.
    pub(crate) fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                reps: 5,
                warmup: Duration::from_millis(200),
                window: Duration::from_millis(500),
                round_trips: 2_000,
                clients: 4,
                iperf_seconds: 1,
                prog_runs: 100_000,
                churn: (256, 256),
                large_table: (1024, 1024),
                fill_rate: 250_000.0,
            }
        } else {
            Scale {
                reps: 10,
                warmup: Duration::from_millis(500),
                window: Duration::from_secs(2),
                round_trips: 20_000,
                clients: 4,
                iperf_seconds: 3,
                prog_runs: 200_000,
                churn: (256, 512),
                large_table: (1024, 1024),
                fill_rate: 250_000.0,
            }
        }
    }
}

/// What a test needs from the run.
pub(crate) struct Ctx<'a> {
    /// The fwd binary.
    pub fwd: PathBuf,
    /// The workspace: its root and its build code.
    pub workspace: &'a dyn Workspace,
    /// Durations and sizes.
    pub scale: &'a Scale,
    /// Where values go.
    pub results: &'a mut Results,
}

/// A metric's name and unit.
pub(crate) type Metric = (&'static str, &'static str);

impl Ctx<'_> {
    /// Builds an arena for each of `competitors`; one that fails is
    /// recorded as unavailable for `metrics` of every test in `tests`, with
    /// the error, and left out.
    pub(crate) fn arenas(
        &mut self,
        competitors: &[Competitor],
        serves: &Serves,
        offloads: Offloads,
        tests: &[&str],
        metrics: &[Metric],
    ) -> Vec<Option<Arena>> {
        competitors
            .iter()
            .map(|&c| match Arena::build(c, serves, offloads, &self.fwd) {
                Ok(a) => Some(a),
                Err(e) => {
                    self.fail(tests, c, metrics, &e);
                    None
                }
            })
            .collect()
    }

    /// Records `competitor` as unavailable for `metrics` of `tests`
    /// because of `err`, and says so on stderr.
    pub(crate) fn fail(
        &mut self,
        tests: &[&str],
        competitor: Competitor,
        metrics: &[Metric],
        err: &anyhow::Error,
    ) {
        let reason = format!("failed: {}", one_line(err));
        eprintln!(
            "bench: {} {}: {reason}",
            tests.join(" / "),
            competitor.label()
        );
        for t in tests {
            self.results.unavailable(t, competitor, metrics, &reason);
        }
    }

    /// Records `competitor` as not applicable to `tests`.
    pub(crate) fn not_applicable(
        &mut self,
        tests: &[&str],
        competitor: Competitor,
        metrics: &[Metric],
        why: &str,
    ) {
        for t in tests {
            self.results.unavailable(t, competitor, metrics, why);
        }
    }

    /// `reps` repetitions, each running `f` on every arena in turn
    /// (A B C A B C ...). An arena whose run fails is recorded unavailable
    /// for `metrics` of `tests` and dropped from later repetitions.
    pub(crate) fn interleave<F>(
        &mut self,
        arenas: &mut [Option<Arena>],
        tests: &[&str],
        metrics: &[Metric],
        mut f: F,
    ) where
        F: FnMut(&mut Ctx<'_>, &mut Arena, usize) -> Result<()>,
    {
        for rep in 0..self.scale.reps {
            for slot in arenas.iter_mut() {
                let Some(arena) = slot.as_mut() else {
                    continue;
                };
                if let Err(e) = f(self, arena, rep) {
                    let c = arena.competitor;
                    self.fail(
                        tests,
                        c,
                        metrics,
                        &e.context(format!("repetition {}", rep + 1)),
                    );
                    *slot = None;
                }
            }
        }
    }
}

/// An error and its causes on one line.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let text = err
        .chain()
        .map(std::string::ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The highest fixed load used: what the paced AF_PACKET generator
/// sustains on a small machine.
pub(crate) const MAX_FIXED_RATE: f64 = 200_000.0;

/// The fixed offered load of a test: 80 % of the slowest competitor's
/// median saturation rate, at most [`MAX_FIXED_RATE`], rounded down.
pub(crate) fn fixed_rate(slowest: f64) -> f64 {
    round_rate((0.8 * slowest).min(MAX_FIXED_RATE))
}

/// Rounds a rate down to two significant digits (for a fixed load that
/// reads well).
pub(crate) fn round_rate(rate: f64) -> f64 {
    if rate <= 0.0 || !rate.is_finite() {
        return 0.0;
    }
    let magnitude = 10f64.powf(rate.log10().floor() - 1.0);
    (rate / magnitude).floor() * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_down_to_two_digits() {
        assert_eq!(round_rate(123_456.0), 120_000.0);
        assert_eq!(round_rate(99.0), 99.0);
        assert_eq!(round_rate(0.0), 0.0);
    }
}
