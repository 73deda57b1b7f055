//! A real Prometheus server for end-to-end tests, and a small HTTP client.
//!
//! [`Prometheus::start`] runs the `prometheus` binary (Debian package
//! `prometheus`, installed by `cargo xtask test`) inside a test namespace,
//! on loopback, with its own configuration and storage in a temporary
//! directory; it is killed on drop (and with its namespace). Tests ask it
//! questions through its HTTP API ([`Prometheus::query`]) and fetch fwd's
//! `/metrics` directly with [`http_get`].

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::SocketAddr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    netns::Netns,
    process::{Background, POLL},
    relay::TempDir,
};

/// How long Prometheus may take to answer `/-/ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of one HTTP exchange (connect, send, read to the end).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP response: status code, headers (names lower-cased), body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    pub body: String,
}

/// `GET path` (HTTP/1.0, so the server closes and sends no chunks) to
/// `addr` from inside `ns`, with an optional `Accept` header, bounded by
/// [`HTTP_TIMEOUT`] per step.
pub fn http_get(
    ns: &Netns,
    addr: SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> Result<HttpResponse> {
    let io_err = |source| Error::Socket {
        what: "talk HTTP to",
        addr,
        ns: ns.name().to_string(),
        source,
    };
    let mut stream = ns.tcp_connect(addr, HTTP_TIMEOUT)?;
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(io_err)?;
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(io_err)?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(a) = accept {
        request.push_str(&format!("Accept: {a}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(io_err)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io_err)?;
    parse_response(&String::from_utf8_lossy(&raw))
}

/// Parses a complete HTTP/1.x response without chunked encoding.
pub fn parse_response(raw: &str) -> Result<HttpResponse> {
    let bad = || Error::Unexpected {
        what: "an HTTP response".into(),
        output: raw.chars().take(500).collect(),
    };
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Percent-encodes `s` for a URL query value (RFC 3986 unreserved kept).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs `promtool check metrics` on `exposition`: Ok if it exits 0 and
/// prints nothing (no parse error, no lint problem).
pub fn promtool_check_metrics(exposition: &str) -> Result<()> {
    let command = "promtool check metrics".to_string();
    let spawn_err = |source| Error::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(exposition.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().map_err(spawn_err)?;
    written.map_err(spawn_err)?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !printed.trim().is_empty() {
        return Err(Error::Command {
            command,
            status: out.status,
            stderr: printed,
        });
    }
    Ok(())
}

/// One element of an instant vector: its labels (`__name__` included when
/// Prometheus keeps it) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Label names to values.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Parses the body of `/api/v1/query` for an instant vector.
pub fn parse_vector(body: &str) -> Result<Vec<Sample>> {
    let bad = |what: &str| Error::Unexpected {
        what: format!("a Prometheus vector result ({what})"),
        output: body.chars().take(2000).collect(),
    };
    let json: serde_json::Value = serde_json::from_str(body).map_err(|_| bad("JSON"))?;
    if json["status"] != "success" {
        return Err(bad("status success"));
    }
    if json["data"]["resultType"] != "vector" {
        return Err(bad("resultType vector"));
    }
    let result = json["data"]["result"]
        .as_array()
        .ok_or_else(|| bad("a result array"))?;
    result
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .ok_or_else(|| bad("metric labels"))?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let value = r["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("a value"))?;
            Ok(Sample { labels, value })
        })
        .collect()
}

/// A Prometheus server running in a namespace, scraping `targets` every
/// second. Killed on drop; its temporary directory is removed.
pub struct Prometheus {
    ns_name: String,
    addr: SocketAddr,
    process: Background,
    _dir: TempDir,
}

impl Prometheus {
    /// The configuration: one job `job` scraping `targets` every second.
    pub fn config(job: &str, targets: &[SocketAddr]) -> String {
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: '{job}'\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        )
    }

    /// Starts `prometheus` in `ns`, listening on `listen` (a loopback
    /// address), scraping `targets` as job `job`; returns once it is ready.
    pub fn start(
        ns: &Netns,
        listen: SocketAddr,
        job: &str,
        targets: &[SocketAddr],
    ) -> Result<Prometheus> {
        let dir = TempDir::new()?;
        let config = dir.write("prometheus.yml", &Prometheus::config(job, targets))?;
        let data = dir.path().join("data");
        let argv = [
            "prometheus".to_string(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={listen}"),
            "--log.level=warn".to_string(),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut process = ns.spawn(&argv)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = http_get(ns, listen, "/-/ready", None) {
                if r.status == 200 {
                    break;
                }
            }
            if let Some(status) = process.try_wait()? {
                return Err(Error::Exited {
                    command: process.command().to_string(),
                    status,
                    output: process.output(),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "Prometheus answering /-/ready".into(),
                    timeout: READY_TIMEOUT,
                    output: process.output(),
                });
            }
            std::thread::sleep(POLL * 5);
        }
        Ok(Prometheus {
            ns_name: ns.name().to_string(),
            addr: listen,
            process,
            _dir: dir,
        })
    }

    /// Everything Prometheus logged so far.
    pub fn log(&self) -> String {
        self.process.output()
    }

    /// Evaluates the PromQL `expr` now (an instant query) from inside `ns`
    /// (the namespace it was started in).
    pub fn query(&self, ns: &Netns, expr: &str) -> Result<Vec<Sample>> {
        assert_eq!(ns.name(), self.ns_name, "query from Prometheus's namespace");
        let path = format!("/api/v1/query?query={}", url_encode(expr));
        let r = http_get(ns, self.addr, &path, None)?;
        if r.status != 200 {
            return Err(Error::Unexpected {
                what: format!("200 from Prometheus for {expr}"),
                output: format!("{}: {}", r.status, r.body),
            });
        }
        parse_vector(&r.body)
    }

    /// Polls `expr` (every 200 ms, at most `timeout`) until `done` holds
    /// for its result, and returns that result. On timeout the error shows
    /// the last result and Prometheus's log.
    pub fn wait_for(
        &self,
        ns: &Netns,
        expr: &str,
        timeout: Duration,
        done: impl Fn(&[Sample]) -> bool,
    ) -> Result<Vec<Sample>> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.query(ns, expr);
            if let Ok(samples) = &last {
                if done(samples) {
                    return Ok(samples.clone());
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("`{expr}` as expected (last: {last:?})"),
                    timeout,
                    output: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Polls `expr` until it yields exactly one sample equal to `value`.
    pub fn wait_for_value(
        &self,
        ns: &Netns,
        expr: &str,
        value: f64,
        timeout: Duration,
    ) -> Result<()> {
        self.wait_for(ns, expr, timeout, |s| s.len() == 1 && s[0].value == value)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_of_promql() {
        assert_eq!(
            url_encode(r#"sum(x{a="b c"})"#),
            "sum%28x%7Ba%3D%22b%20c%22%7D%29"
        );
        assert_eq!(url_encode("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn responses_and_vectors_parse() {
        let r = parse_response(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"success\"}",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(parse_response("garbage").is_err());

        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"fwd"},"value":[1700000000.1,"1"]},
            {"metric":{},"value":[1700000000.1,"2.5"]}]}}"#;
        let v = parse_vector(body).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels["job"], "fwd");
        assert_eq!(v[0].value, 1.0);
        assert_eq!(v[1].value, 2.5);
        assert!(parse_vector(r#"{"status":"error"}"#).is_err());
        assert!(parse_vector("not json").is_err());
    }

    #[test]
    fn promtool_accepts_good_text_and_refuses_bad() {
        let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"b\"} 1\n";
        promtool_check_metrics(good).unwrap();
        // A counter without _total is a lint problem; garbage a parse error.
        let lint = "# HELP x Things.\n# TYPE x counter\nx 1\n";
        assert!(promtool_check_metrics(lint).is_err());
        assert!(promtool_check_metrics("x{ 1\n").is_err());
    }

    #[test]
    fn config_scrapes_every_second() {
        let c = Prometheus::config("fwd", &["127.0.0.1:9785".parse().unwrap()]);
        assert!(c.contains("scrape_interval: 1s"));
        assert!(c.contains("job_name: 'fwd'"));
        assert!(c.contains("targets: ['127.0.0.1:9785']"));
    }
}
