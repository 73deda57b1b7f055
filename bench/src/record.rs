//! Results: the samples each repetition produces, and the records
//! (`bench/results/latest.json`) made from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::competitor::Competitor;

/// One line of `latest.json`: a metric of one competitor in one test, over
/// its repetitions. Written by [`Results::records`], read by the Markdown
/// and plot renderers (and by anyone comparing runs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Record {
    /// Starts with the test's T-number, e.g. `T1 UDP 64 B, 1 flow`.
    pub test: String,
    /// The competitor's label ([`Competitor::label`]): D1, C1, C2, U1,
    /// U2 or F1.
    pub competitor: String,
    /// What was measured, e.g. `forwarded_rate`.
    pub metric: String,
    /// Its unit, e.g. `packets/s`.
    pub unit: String,
    /// Median over the repetitions; `None` when the competitor could not run
    /// the test (see `unavailable`).
    pub median: Option<f64>,
    /// Smallest repetition.
    pub min: Option<f64>,
    /// Largest repetition.
    pub max: Option<f64>,
    /// Repetitions measured.
    pub runs: usize,
    /// The value is a lower bound: the load generator, not the competitor,
    /// was the limit in at least half the repetitions.
    #[serde(default)]
    pub at_least: bool,
    /// How the value was obtained, where the metric name does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why there is no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// The key of a series of samples.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// Position of the test in the order tests first reported.
    test_order: usize,
    /// Position of the metric in the order metrics first appeared.
    metric_order: usize,
    competitor: Competitor,
    test: String,
    metric: String,
}

#[derive(Debug, Default)]
struct Series {
    unit: String,
    samples: Vec<f64>,
    limited: usize,
    note: Option<String>,
    unavailable: Option<String>,
}

/// Everything measured in one bench run, in the order tests first reported
/// it. Filled by the tests (one sample per repetition), turned into
/// [`Record`]s at the end.
#[derive(Debug, Default)]
pub(crate) struct Results {
    series: BTreeMap<Key, Series>,
    tests: Vec<String>,
    metrics: Vec<String>,
}

/// One measured value of a repetition.
#[derive(Clone, Debug)]
pub(crate) struct Sample<'a> {
    /// The metric name.
    pub metric: &'a str,
    /// Its unit.
    pub unit: &'a str,
    /// The value.
    pub value: f64,
    /// Whether the generator limited this repetition.
    pub generator_limited: bool,
}

impl<'a> Sample<'a> {
    /// A sample that no generator limited.
    pub(crate) fn new((metric, unit): (&'a str, &'a str), value: f64) -> Self {
        Sample {
            metric,
            unit,
            value,
            generator_limited: false,
        }
    }

    /// A sample that is a lower bound when `limited`.
    pub(crate) fn limited(mut self, limited: bool) -> Self {
        self.generator_limited = limited;
        self
    }
}

impl Results {
    fn key(&mut self, test: &str, competitor: Competitor, metric: &str) -> Key {
        Key {
            test_order: position(&mut self.tests, test),
            metric_order: position(&mut self.metrics, metric),
            competitor,
            test: test.to_string(),
            metric: metric.to_string(),
        }
    }

    /// Adds one repetition's value.
    pub(crate) fn add(&mut self, test: &str, competitor: Competitor, sample: Sample<'_>) {
        let key = self.key(test, competitor, sample.metric);
        let series = self.series.entry(key).or_default();
        series.unit = sample.unit.to_string();
        if sample.value.is_finite() && series.unavailable.is_none() {
            series.samples.push(sample.value);
            series.limited += usize::from(sample.generator_limited);
        }
    }

    /// Attaches an explanation to a metric (how it was measured).
    pub(crate) fn note(&mut self, test: &str, competitor: Competitor, metric: &str, note: String) {
        let key = self.key(test, competitor, metric);
        self.series.entry(key).or_default().note = Some(note);
    }

    /// Records that `competitor` has no values for `metrics` of `test`, and
    /// why (the first reason given stays). Samples already taken are
    /// discarded: a partial series would look like a result.
    pub(crate) fn unavailable(
        &mut self,
        test: &str,
        competitor: Competitor,
        metrics: &[(&str, &str)],
        reason: &str,
    ) {
        for (metric, unit) in metrics {
            let key = self.key(test, competitor, metric);
            let series = self.series.entry(key).or_default();
            series.unit = unit.to_string();
            series.samples.clear();
            series.unavailable.get_or_insert_with(|| reason.to_string());
        }
    }

    /// Whether anything (a sample or a reason) is recorded for the metric.
    pub(crate) fn has(&self, test: &str, competitor: Competitor, metric: &str) -> bool {
        self.series.iter().any(|(k, s)| {
            k.test == test
                && k.competitor == competitor
                && k.metric == metric
                && (!s.samples.is_empty() || s.unavailable.is_some())
        })
    }

    /// The samples of one series so far (e.g. to calibrate a later phase).
    pub(crate) fn samples(&self, test: &str, competitor: Competitor, metric: &str) -> Vec<f64> {
        self.series
            .iter()
            .find(|(k, _)| k.test == test && k.competitor == competitor && k.metric == metric)
            .map(|(_, s)| s.samples.clone())
            .unwrap_or_default()
    }

    /// The records, tests in the order they ran, competitors in their
    /// fixed order.
    pub(crate) fn records(&self) -> Vec<Record> {
        self.series
            .iter()
            .map(|(k, s)| {
                let stats = Stats::of(&s.samples);
                let unavailable = s.unavailable.clone().or_else(|| {
                    stats
                        .is_none()
                        .then(|| "no repetition produced a value".to_string())
                });
                Record {
                    test: k.test.clone(),
                    competitor: k.competitor.label().to_string(),
                    metric: k.metric.clone(),
                    unit: s.unit.clone(),
                    median: stats.map(|s| s.median),
                    min: stats.map(|s| s.min),
                    max: stats.map(|s| s.max),
                    runs: s.samples.len(),
                    at_least: !s.samples.is_empty() && 2 * s.limited >= s.samples.len(),
                    note: s.note.clone(),
                    unavailable,
                }
            })
            .collect()
    }
}

/// Index of `name` in `list`, appending it when new.
fn position(list: &mut Vec<String>, name: &str) -> usize {
    if let Some(i) = list.iter().position(|t| t == name) {
        i
    } else {
        list.push(name.to_string());
        list.len() - 1
    }
}

/// Median, min and max of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stats {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stats {
    /// `None` for an empty series.
    pub(crate) fn of(values: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        };
        Some(Stats {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// The `q` quantile (0..=1) of `sorted` (nearest rank).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(Stats::of(&[]), None);
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
    }

    #[test]
    fn records_keep_test_order_and_mark_lower_bounds() {
        let mut r = Results::default();
        for (v, limited) in [(10.0, true), (12.0, true), (11.0, false)] {
            r.add(
                "T2 b",
                Competitor::Fwd,
                Sample::new(("rate", "packets/s"), v).limited(limited),
            );
        }
        r.add(
            "T1 a",
            Competitor::Iptables,
            Sample::new(("rate", "packets/s"), 5.0),
        );
        r.unavailable(
            "T1 a",
            Competitor::Haproxy,
            &[("rate", "packets/s")],
            "no UDP",
        );
        let recs = r.records();
        assert_eq!(recs[0].test, "T2 b");
        assert!(recs[0].at_least);
        assert_eq!(recs[0].median, Some(11.0));
        assert_eq!(recs[0].runs, 3);
        assert_eq!(recs[1].competitor, "C1");
        assert!(!recs[1].at_least);
        assert_eq!(recs[2].unavailable.as_deref(), Some("no UDP"));
        assert_eq!(recs[2].median, None);
    }
}
