//! From the raw TOML to a [`Config`]: every value checked, every problem
//! collected with its position, then the checks across services (unique
//! names, no overlapping listens, the datapath's limits).

use std::{collections::HashMap, fmt::Debug, ops::Range, time::Duration};

use fwd_common::maps::{MAX_BACKENDS, MAX_BACKENDS_PER_SERVICE, MAX_SERVICES};
use toml::Spanned;

use super::{
    mss_clamp,
    raw::{RawBackend, RawFile, RawRelay, RawService},
    values::{self, BackendTarget},
    Access, BackendSpec, Config, ConfigError, ConfigWarning, Invalid, Listen, NamedBackend,
    Position, Problem, Protocol, Service, Snat,
};
use crate::config::RelaySettings;

mod health;
pub(super) use health::RawHealth;

/// Largest backend weight.
const MAX_WEIGHT: u32 = 1000;
/// Smallest accepted `max_flows`.
pub const MIN_MAX_FLOWS: u32 = 1024;
/// Largest accepted `max_flows`.
pub const MAX_MAX_FLOWS: u32 = 16_777_216;

/// RFC 5382 REQ-5: established TCP idle timeout at least 2 h 4 min.
const RFC_TCP_ESTABLISHED: Duration = Duration::from_secs(2 * 3600 + 4 * 60);
/// RFC 5382 REQ-5: transitory TCP timeout at least 4 min (2 MSL).
const RFC_TCP_TRANSITORY: Duration = Duration::from_secs(4 * 60);
/// RFC 4787 REQ-5: UDP mapping timeout at least 2 min.
const RFC_UDP: Duration = Duration::from_secs(2 * 60);
/// RFC 5508 REQ-2: an ICMP query session lives at least 60 s.
const RFC_ICMP: Duration = Duration::from_secs(60);

struct Validator<'t> {
    text: &'t str,
    problems: Vec<Invalid>,
    /// Warnings found along the way (those of `[relay]` are added last).
    warnings: Vec<ConfigWarning>,
}

impl Validator<'_> {
    fn pos(&self, span: Range<usize>) -> Position {
        Position::of_offset(self.text, span.start)
    }

    fn fail(&mut self, span: Range<usize>, key: &str, value: &impl Debug, problem: Problem) {
        let at = self.pos(span);
        self.problems.push(Invalid {
            at,
            key: key.to_string(),
            value: format!("{value:?}"),
            problem,
        });
    }

    /// Checks one value with `parse`, recording the problem if any.
    fn check<T, V: Debug>(
        &mut self,
        value: &Spanned<V>,
        key: &str,
        parse: impl FnOnce(&V) -> Result<T, Problem>,
    ) -> Option<T> {
        match parse(value.get_ref()) {
            Ok(t) => Some(t),
            Err(problem) => {
                self.fail(value.span(), key, value.get_ref(), problem);
                None
            }
        }
    }
}

/// Validates a parsed file; `text` is the file, for positions.
pub(super) fn validate(text: &str, raw: RawFile) -> Result<Config, ConfigError> {
    let mut v = Validator {
        text,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    if raw.service.is_empty() {
        v.problems.push(Invalid {
            at: Position { line: 1, column: 1 },
            key: "[[service]]".into(),
            value: "(none)".into(),
            problem: Problem::NoServices,
        });
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut backends_total = 0usize;
    let mut services = Vec::new();
    for (i, raw) in raw.service.into_iter().enumerate() {
        if let Some(s) = service(&mut v, i, raw, &mut names, &mut backends_total) {
            services.push(s);
        }
    }
    overlaps(&mut v, &services);
    let raw_relay = raw.relay.unwrap_or_default();
    let dns_servers = dns_servers(&mut v, raw_relay.dns_servers.as_ref());
    let (relay, relay_warnings) = relay(&mut v, raw_relay);
    let mut warnings = std::mem::take(&mut v.warnings);
    warnings.extend(relay_warnings);
    if let Some(s) = services.get(relay.max_services as usize) {
        v.problems.push(Invalid {
            at: s.listen.at,
            key: format!("[[service]] {:?}", s.name),
            value: format!("service {} of {}", relay.max_services + 1, services.len()),
            problem: Problem::TooManyServices {
                count: relay.max_services as usize + 1,
                max: relay.max_services,
            },
        });
    }
    if !v.problems.is_empty() {
        v.problems.sort_by_key(|p| p.at);
        return Err(ConfigError::Invalid {
            problems: v.problems,
        });
    }
    Ok(Config {
        services,
        relay,
        dns_servers,
        warnings,
    })
}

/// A service's `allow` and `deny` lists; `None` if an entry is bad.
fn access(
    v: &mut Validator<'_>,
    label: &str,
    allow: Option<&Spanned<Vec<Spanned<String>>>>,
    deny: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Option<Access> {
    let mut ok = true;
    let mut list = |v: &mut Validator<'_>, key: &str, raw: &Spanned<Vec<Spanned<String>>>| {
        let mut out = Vec::new();
        for entry in raw.get_ref() {
            match v.check(entry, &format!("{label}: {key}"), |s| values::prefix(s)) {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        out
    };
    let allow = allow.map(|raw| {
        if raw.get_ref().is_empty() {
            v.fail(
                raw.span(),
                &format!("{label}: allow"),
                &"[]",
                Problem::EmptyAllow,
            );
        }
        list(v, "allow", raw)
    });
    let deny = deny.map(|raw| list(v, "deny", raw)).unwrap_or_default();
    let empty_allow = allow.as_ref().is_some_and(Vec::is_empty);
    (ok && !empty_allow).then_some(Access { allow, deny })
}

fn service(
    v: &mut Validator<'_>,
    index: usize,
    raw: RawService,
    names: &mut HashMap<String, usize>,
    backends_total: &mut usize,
) -> Option<Service> {
    let name = raw.name.get_ref().trim().to_string();
    let label = if name.is_empty() {
        format!("[[service]] #{}", index + 1)
    } else {
        format!("[[service]] {name:?}")
    };
    let name_line = v.pos(raw.name.span()).line;
    let mut ok = true;
    if name.is_empty() {
        v.fail(
            raw.name.span(),
            &format!("{label}: name"),
            raw.name.get_ref(),
            Problem::EmptyName,
        );
        ok = false;
    } else if let Some(&first_line) = names.get(&name) {
        v.fail(
            raw.name.span(),
            &format!("{label}: name"),
            raw.name.get_ref(),
            Problem::DuplicateName { first_line },
        );
        ok = false;
    } else {
        names.insert(name.clone(), name_line);
    }

    let listen_key = format!("{label}: listen");
    let listen = v.check(&raw.listen, &listen_key, |s| values::addr_port(s));
    let listen = listen.map(|(addr, port)| Listen {
        addr,
        port,
        at: v.pos(raw.listen.span()),
    });

    let protocol = match &raw.protocol {
        Some(p) => v.check(p, &format!("{label}: protocol"), |s| values::protocol(s)),
        None => Some(Protocol::Any),
    };

    let (snat, snat_at) = match &raw.snat {
        Some(s) => {
            let snat = v.check(s, &format!("{label}: snat"), |s| values::snat(s));
            (
                snat.map(|a| a.map_or(Snat::Auto, Snat::Address)),
                v.pos(s.span()),
            )
        }
        None => (Some(Snat::Auto), v.pos(raw.listen.span())),
    };

    let mss_clamp = match &raw.mss_clamp {
        Some(m) => v
            .check(m, &format!("{label}: mss_clamp"), mss_clamp::parse)
            .map(Some),
        None => Some(None),
    };

    let access = access(v, &label, raw.allow.as_ref(), raw.deny.as_ref());
    let backends = backends(v, &label, &raw.backends, listen.as_ref(), backends_total);
    let health = health::health(v, &label, raw.health.as_ref(), listen.as_ref(), protocol);

    match (listen, protocol, backends, snat, health, mss_clamp, access) {
        (
            Some(listen),
            Some(protocol),
            Some((backends, names)),
            Some(snat),
            Some(health),
            Some(mss_clamp),
            Some(access),
        ) if ok => Some(Service {
            name,
            listen,
            protocol,
            backends,
            names,
            snat,
            snat_at,
            mss_clamp,
            access,
            health,
        }),
        _ => None,
    }
}

fn backends(
    v: &mut Validator<'_>,
    label: &str,
    raw: &Spanned<Vec<Spanned<RawBackend>>>,
    listen: Option<&Listen>,
    backends_total: &mut usize,
) -> Option<(Vec<BackendSpec>, Vec<NamedBackend>)> {
    let list = raw.get_ref();
    let key = format!("{label}: backends");
    if list.is_empty() {
        v.fail(raw.span(), &key, list, Problem::NoBackends);
        return None;
    }
    if list.len() > MAX_BACKENDS_PER_SERVICE as usize {
        let problem = Problem::TooManyBackends {
            count: list.len(),
            max: MAX_BACKENDS_PER_SERVICE,
        };
        v.fail(
            raw.span(),
            &key,
            &format_args!("[{} entries]", list.len()),
            problem,
        );
        return None;
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut ok = true;
    for (i, b) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        *backends_total += 1;
        if *backends_total == MAX_BACKENDS as usize + 1 {
            let problem = Problem::TooManyBackendsTotal {
                count: *backends_total,
                max: MAX_BACKENDS,
            };
            v.fail(b.span(), &key, b.get_ref(), problem);
        }
        ok &= *backends_total <= MAX_BACKENDS as usize;
        let (text, weight) = match b.get_ref() {
            RawBackend::Address(s) => (s.as_str(), 1),
            RawBackend::Weighted(w) => (w.address.as_str(), w.weight.unwrap_or(1)),
        };
        if !(0..=i64::from(MAX_WEIGHT)).contains(&weight) {
            let problem = Problem::OutOfRange {
                min: 0,
                max: MAX_WEIGHT.into(),
            };
            v.fail(b.span(), &format!("{key}.weight"), &weight, problem);
            ok = false;
        }
        let (target, port) = match values::backend(text) {
            Ok(tp) => tp,
            Err(problem) => {
                v.fail(b.span(), &key, &text, problem);
                ok = false;
                continue;
            }
        };
        if port.is_some() && listen.is_some_and(|l| l.port.is_none()) {
            v.fail(b.span(), &key, &text, Problem::BackendPortUnderWholeAddress);
            ok = false;
        }
        let (weight, at) = (
            weight.clamp(0, i64::from(MAX_WEIGHT)) as u32,
            v.pos(b.span()),
        );
        match target {
            BackendTarget::Addr(addr) => out.push(BackendSpec {
                addr,
                port,
                weight,
                at,
            }),
            BackendTarget::Name(name) => names.push(NamedBackend {
                name,
                port,
                weight,
                at,
            }),
        }
    }
    ok.then_some((out, names))
}

/// `[relay] dns_servers`: each entry an address of a DNS server.
fn dns_servers(
    v: &mut Validator<'_>,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Vec<std::net::SocketAddr> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    if raw.get_ref().is_empty() {
        v.fail(
            raw.span(),
            "[relay] dns_servers",
            raw.get_ref(),
            Problem::NoDnsServers,
        );
    }
    raw.get_ref()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            v.check(s, &format!("[relay] dns_servers[{i}]"), |s| {
                values::dns_server(s)
            })
        })
        .collect()
}

/// Two services overlap when they have the same address, the same port (or
/// both none) and a protocol in common: the datapath has one entry per key.
fn overlaps(v: &mut Validator<'_>, services: &[Service]) {
    for (j, b) in services.iter().enumerate() {
        let earlier = services[..j].iter().find(|a| {
            a.listen.addr == b.listen.addr
                && a.listen.port == b.listen.port
                && a.protocol.overlaps(b.protocol)
        });
        if let Some(a) = earlier {
            v.problems.push(Invalid {
                at: b.listen.at,
                key: format!("[[service]] {:?}: listen", b.name),
                value: format!("{:?}", b.listen.to_string()),
                problem: Problem::ListenOverlap {
                    other: a.name.clone(),
                    other_line: a.listen.at.line,
                },
            });
        }
    }
}

fn relay(v: &mut Validator<'_>, raw: RawRelay) -> (RelaySettings, Vec<ConfigWarning>) {
    let mut s = RelaySettings::default();
    let mut warnings = Vec::new();
    if let Some(r) = &raw.snat_ports {
        if let Some(range) = v.check(r, "[relay] snat_ports", |s| values::port_range(s)) {
            s.snat_ports = range;
        }
    }
    if let Some(n) = &raw.max_flows {
        let range = i64::from(MIN_MAX_FLOWS)..=i64::from(MAX_MAX_FLOWS);
        let problem = Problem::OutOfRange {
            min: MIN_MAX_FLOWS.into(),
            max: MAX_MAX_FLOWS.into(),
        };
        if let Some(n) = v.check(n, "[relay] max_flows", |n| {
            if range.contains(n) {
                Ok(*n as u32)
            } else {
                Err(problem)
            }
        }) {
            s.max_flows = n;
        }
    }
    if let Some(n) = &raw.max_services {
        let problem = Problem::OutOfRange {
            min: 1,
            max: MAX_SERVICES.into(),
        };
        if let Some(n) = v.check(n, "[relay] max_services", |n| {
            if (1..=i64::from(MAX_SERVICES)).contains(n) {
                Ok(*n as u32)
            } else {
                Err(problem)
            }
        }) {
            s.max_services = n;
        }
    }
    if let Some(m) = &raw.mss_clamp {
        if let Some(m) = v.check(m, "[relay] mss_clamp", mss_clamp::parse) {
            s.mss_clamp = m;
        }
    }
    let mut timeout = |raw: &Option<Spanned<String>>,
                       key: &'static str,
                       slot: &mut Duration,
                       rfc: Option<(Duration, &'static str)>| {
        let Some(raw) = raw else { return };
        let Some(d) = v.check(raw, key, |s| values::duration(s)) else {
            return;
        };
        *slot = d;
        if let Some((minimum, rfc)) = rfc.filter(|(min, _)| d < *min) {
            warnings.push(ConfigWarning::ShortTimeout {
                at: v.pos(raw.span()),
                key,
                value: d,
                minimum,
                rfc,
            });
        }
    };
    let established = Some((RFC_TCP_ESTABLISHED, "RFC 5382 REQ-5"));
    timeout(
        &raw.tcp_established_timeout,
        "[relay] tcp_established_timeout",
        &mut s.tcp_established,
        established,
    );
    let transitory = Some((RFC_TCP_TRANSITORY, "RFC 5382 REQ-5"));
    timeout(
        &raw.tcp_transitory_timeout,
        "[relay] tcp_transitory_timeout",
        &mut s.tcp_transitory,
        transitory,
    );
    // A half-open flow holds a SNAT port and a table entry for a client
    // that may not exist (spoofed SYNs): kept shorter than RFC 5382's
    // transitory minimum, like the kernel's 120 s for SYN_SENT.
    timeout(
        &raw.tcp_opening_timeout,
        "[relay] tcp_opening_timeout",
        &mut s.tcp_opening,
        None,
    );
    timeout(
        &raw.udp_timeout,
        "[relay] udp_timeout",
        &mut s.udp,
        Some((RFC_UDP, "RFC 4787 REQ-5")),
    );
    // Shorter than RFC 4787 REQ-5's 2 minutes, which REQ-5a allows for
    // well-known destination ports: only such flows get it.
    timeout(
        &raw.udp_single_timeout,
        "[relay] udp_single_timeout",
        &mut s.udp_single,
        None,
    );
    // Shorter than RFC 5382 REQ-5's 4-minute transitory minimum on purpose
    // (netfilter's TIME_WAIT is 2 minutes): warned about below that.
    timeout(
        &raw.tcp_closed_timeout,
        "[relay] tcp_closed_timeout",
        &mut s.tcp_closed,
        None,
    );
    timeout(
        &raw.icmp_timeout,
        "[relay] icmp_timeout",
        &mut s.icmp,
        Some((RFC_ICMP, "RFC 5508 REQ-2")),
    );
    timeout(
        &raw.gc_interval,
        "[relay] gc_interval",
        &mut s.gc_interval,
        None,
    );
    (s, warnings)
}
