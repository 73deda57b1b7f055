//! The backend names in `fwd status`: the part of the status report
//! (`"dns"` in `fwd status --json`, a stable interface) and its table.

use std::{collections::BTreeMap, fmt::Write as _, time::SystemTime};

use serde::{Deserialize, Serialize};

use super::{Answer, LookupError, NameStatus, Servers};
use crate::text::{error_chain, rfc3339_millis, table};

/// The backend names of the file and what they resolve to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsReport {
    /// The servers asked (`the servers of /etc/resolv.conf`, or the list).
    pub servers: String,
    /// Each name, in name order.
    pub names: Vec<DnsNameReport>,
}

/// One name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsNameReport {
    /// The name as in the file.
    pub name: String,
    /// The services whose backends name it.
    pub services: Vec<String>,
    /// The addresses of the answer in use (each a backend).
    pub addresses: Vec<String>,
    /// The TTL of that answer, in seconds.
    pub ttl_s: Option<u64>,
    /// When it arrived (RFC 3339, UTC).
    pub resolved: Option<String>,
    /// Seconds since then.
    pub age_s: Option<u64>,
    /// Good answers since start.
    pub resolutions: u64,
    /// Failed resolutions since start.
    pub failures: u64,
    /// Failures since the last good answer.
    pub failing_for: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// The report of `names`, asked of `servers`; `None` without names.
pub fn report(servers: String, names: &BTreeMap<String, NameStatus>) -> Option<DnsReport> {
    if names.is_empty() {
        return None;
    }
    let now = SystemTime::now();
    let names = names
        .iter()
        .map(|(name, s)| DnsNameReport {
            name: name.clone(),
            services: s.services.clone(),
            addresses: s.addrs.iter().map(ToString::to_string).collect(),
            ttl_s: s.ttl.map(|t| t.as_secs()),
            resolved: s.resolved_wall.map(rfc3339_millis),
            age_s: s
                .resolved_wall
                .map(|t| now.duration_since(t).map_or(0, |d| d.as_secs())),
            resolutions: s.resolutions,
            failures: s.failures,
            failing_for: s.failing_for,
            last_error: s.last_error.clone(),
        })
        .collect();
    Some(DnsReport { servers, names })
}

/// The table of `fwd status`.
pub fn render(r: &DnsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nbackend names (asked: {})", r.servers);
    let mut rows = vec![[
        "NAME",
        "SERVICES",
        "ADDRESSES",
        "TTL",
        "RESOLVED",
        "FAILURES",
        "LAST ERROR",
    ]
    .map(String::from)
    .to_vec()];
    for n in &r.names {
        let failures = match n.failing_for {
            0 => n.failures.to_string(),
            now => format!("{} ({now} in a row)", n.failures),
        };
        rows.push(vec![
            n.name.clone(),
            n.services.join(", "),
            if n.addresses.is_empty() {
                "none".into()
            } else {
                n.addresses.join(", ")
            },
            n.ttl_s.map_or_else(|| "-".into(), |t| format!("{t}s")),
            n.age_s
                .map_or_else(|| "never".into(), |a| format!("{a}s ago")),
            failures,
            n.last_error.clone().unwrap_or_default(),
        ]);
    }
    out += &table(&rows);
    out
}

/// What `fwd check` prints about the names (nothing without names).
pub fn render_check(
    servers: &Servers,
    lookups: &Result<BTreeMap<String, Result<Answer, LookupError>>, String>,
) -> String {
    let lookups = match lookups {
        Ok(l) if l.is_empty() => return String::new(),
        Ok(l) => l,
        Err(why) => return format!("\nbackend names: not resolved: {why}\n"),
    };
    let mut out = format!("\nbackend names (asked: {servers})\n");
    let mut rows = vec![["NAME", "ADDRESSES", "TTL"].map(String::from).to_vec()];
    for (name, result) in lookups {
        rows.push(match result {
            Ok(a) => vec![
                name.clone(),
                a.addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                format!("{}s", a.ttl.as_secs()),
            ],
            Err(e) => vec![
                name.clone(),
                format!("does not resolve: {}", error_chain(e)),
                "-".into(),
            ],
        });
    }
    out += &table(&rows);
    out
}

#[cfg(test)]
mod tests {
    use std::{
        net::Ipv4Addr,
        time::{Duration, Instant},
    };

    use super::*;

    #[test]
    fn names_their_answers_and_failures() {
        assert_eq!(report("x".into(), &BTreeMap::new()), None);
        let mut names = BTreeMap::new();
        names.insert(
            "storage.example".to_string(),
            NameStatus {
                services: vec!["web".into(), "all".into()],
                addrs: [Ipv4Addr::new(198, 19, 0, 11), Ipv4Addr::new(198, 19, 0, 10)].into(),
                ttl: Some(Duration::from_secs(2)),
                resolved: Some(Instant::now()),
                resolved_wall: Some(SystemTime::now() - Duration::from_secs(1)),
                resolutions: 4,
                failures: 3,
                failing_for: 2,
                last_error: Some("resolving storage.example: request timed out".into()),
            },
        );
        names.insert("new.example".to_string(), NameStatus::default());
        let r = report("198.18.0.53:53".into(), &names).unwrap();
        let s = &r.names[1];
        assert_eq!(s.addresses, vec!["198.19.0.10", "198.19.0.11"]);
        assert_eq!((s.ttl_s, s.age_s), (Some(2), Some(1)));
        assert_eq!(r.names[0].name, "new.example");

        let text = render(&r);
        assert!(
            text.contains("backend names (asked: 198.18.0.53:53)"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("storage.example"))
            .unwrap();
        for cell in [
            "web, all",
            "198.19.0.10, 198.19.0.11",
            "2s",
            "1s ago",
            "3 (2 in a row)",
            "request timed out",
        ] {
            assert!(row.contains(cell), "{cell:?} in {row}");
        }
        let row = text.lines().find(|l| l.starts_with("new.example")).unwrap();
        assert!(row.contains("none") && row.contains("never"), "{row}");

        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<DnsReport>(&json).unwrap(), r);
        assert!(json.contains("\"failures\":3"), "{json}");
    }
}
