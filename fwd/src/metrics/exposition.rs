//! Which exposition format a scraper gets, and the Prometheus text format.
//!
//! prometheus-client encodes OpenMetrics text. Prometheus asks for it in its
//! `Accept` header and gets it. Other clients (`curl`, `promtool check
//! metrics`, older scrapers) do not understand OpenMetrics counters (the
//! `# TYPE` line names `x` while the samples are `x_total`), so, as the Go
//! client library does, they get the Prometheus text format 0.0.4, derived
//! from the same encoding by [`to_prometheus_text`].

use std::collections::BTreeSet;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics text 1.0.0, as prometheus-client encodes it.
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    PrometheusText,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format for a request with this `Accept` header (`None`: no
    /// header): the acceptable media range with the highest `q` that names
    /// a format fwd serves; on a tie, the first listed. OpenMetrics only
    /// when asked for by name.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::PrometheusText;
        };
        let mut best: Option<(f32, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            let format = match media.as_str() {
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => Format::PrometheusText,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::PrometheusText, |(_, f)| f)
    }
}

/// Rewrites an OpenMetrics text exposition of counters and gauges into the
/// Prometheus text format 0.0.4.
///
/// The two differ, for these types, only in the metadata: a counter's
/// `# HELP` and `# TYPE` lines name the family `x` in OpenMetrics and the
/// sample name `x_total` in the text format, and the text format has no
/// `# UNIT` and no `# EOF` line. Sample lines (names, label escaping,
/// values) are the same and are kept byte for byte.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                if !tail.is_empty() {
                    out.push(' ');
                    out.push_str(tail);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Prometheus 2.x sends.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
        application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn negotiation() {
        use Format::*;
        assert_eq!(Format::negotiate(Some(PROMETHEUS_ACCEPT)), OpenMetrics);
        assert_eq!(Format::negotiate(None), PrometheusText);
        assert_eq!(Format::negotiate(Some("*/*")), PrometheusText);
        assert_eq!(Format::negotiate(Some("text/plain")), PrometheusText);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")),
            PrometheusText
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0, text/plain;q=0.1")),
            PrometheusText,
            "q=0 means not acceptable"
        );
        assert_eq!(Format::negotiate(Some("application/json")), PrometheusText);
        assert_eq!(Format::negotiate(Some(",;;=,q=x")), PrometheusText);
    }

    #[test]
    fn counters_get_total_in_their_metadata_and_units_and_eof_go() {
        let om = "# HELP fwd_backend_bytes IPv4 bytes.\n\
                  # TYPE fwd_backend_bytes counter\n\
                  # UNIT fwd_backend_bytes bytes\n\
                  fwd_backend_bytes_total{service=\"a b\",backend=\"198.19.0.10\"} 7\n\
                  # HELP fwd_conntrack_entries Entries.\n\
                  # TYPE fwd_conntrack_entries gauge\n\
                  fwd_conntrack_entries 4\n\
                  # HELP process_cpu_seconds CPU.\n\
                  # TYPE process_cpu_seconds counter\n\
                  # UNIT process_cpu_seconds seconds\n\
                  process_cpu_seconds_total 0.25\n\
                  # EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP fwd_backend_bytes_total IPv4 bytes.\n\
             # TYPE fwd_backend_bytes_total counter\n\
             fwd_backend_bytes_total{service=\"a b\",backend=\"198.19.0.10\"} 7\n\
             # HELP fwd_conntrack_entries Entries.\n\
             # TYPE fwd_conntrack_entries gauge\n\
             fwd_conntrack_entries 4\n\
             # HELP process_cpu_seconds_total CPU.\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total 0.25\n"
        );
    }

    #[test]
    fn a_gauge_named_like_a_counter_family_is_left_alone() {
        // Only families typed `counter` are renamed, whatever their name.
        let om = "# HELP x_bytes A gauge.\n# TYPE x_bytes gauge\nx_bytes 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP x_bytes A gauge.\n# TYPE x_bytes gauge\nx_bytes 1\n"
        );
    }
}
