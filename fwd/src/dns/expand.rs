//! From named backends to address backends: a pure function of the file
//! and the current answers, so that the host checks, the plan and the
//! health checks see the addresses of a name as ordinary backends.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    net::Ipv4Addr,
};

use fwd_common::maps::MAX_BACKENDS_PER_SERVICE;

use crate::config::{usable, BackendSpec, Config};

/// The addresses each name resolves to now (the last good answer), by
/// name as written in the file. Held in [`crate::pipeline::Desired`],
/// written by the resolver task (`crate::tasks::dns`).
pub type Answers = BTreeMap<String, BTreeSet<Ipv4Addr>>;

/// An address of an answer that did not become a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The service.
    pub service: String,
    /// The name.
    pub name: String,
    /// The address.
    pub addr: Ipv4Addr,
    /// Why.
    pub why: SkipReason,
}

/// Why an address of an answer is not a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Loopback, unspecified, broadcast or multicast.
    Unusable(&'static str),
    /// The service already has [`MAX_BACKENDS_PER_SERVICE`] backends.
    TooMany,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (service, name, addr) = (&self.service, &self.name, self.addr);
        match self.why {
            SkipReason::Unusable(why) => write!(
                f,
                "service {service:?}: {name} resolves to {addr}, which is {why}: not used"
            ),
            SkipReason::TooMany => write!(
                f,
                "service {service:?}: {name} resolves to {addr}, but the service already has \
                 {MAX_BACKENDS_PER_SERVICE} backends: not used"
            ),
        }
    }
}

/// The services that use each name of `config`, by name.
pub fn names(config: &Config) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &config.services {
        for n in &s.names {
            let services = out.entry(n.name.clone()).or_default();
            if !services.contains(&s.name) {
                services.push(s.name.clone());
            }
        }
    }
    out
}

/// `config` with every named backend replaced by one backend per address
/// of its answer in `answers` (the name's port, weight and position each);
/// the names stay in [`crate::config::Service::names`] for reports.
///
/// The addresses given in the file come first, then those of each name in
/// file order, each answer in address order. An address already a backend
/// of the service with the same port is not added twice (the first entry
/// keeps its weight); an unusable address, or one over the service's limit
/// of [`MAX_BACKENDS_PER_SERVICE`], is skipped and returned. A name without
/// an answer adds nothing.
pub fn expand(config: &Config, answers: &Answers) -> (Config, Vec<Skipped>) {
    let mut out = config.clone();
    let mut skipped = Vec::new();
    for s in &mut out.services {
        for n in &s.names {
            let Some(addrs) = answers.get(&n.name) else {
                continue;
            };
            for &addr in addrs {
                let skip = |why| Skipped {
                    service: s.name.clone(),
                    name: n.name.clone(),
                    addr,
                    why,
                };
                if let Err(problem) = usable(addr) {
                    let why = match problem {
                        crate::config::Problem::UnusableAddress { why, .. } => why,
                        _ => "not usable",
                    };
                    skipped.push(skip(SkipReason::Unusable(why)));
                    continue;
                }
                if s.backends
                    .iter()
                    .any(|b| b.addr == addr && b.port == n.port)
                {
                    continue;
                }
                if s.backends.len() >= MAX_BACKENDS_PER_SERVICE as usize {
                    skipped.push(skip(SkipReason::TooMany));
                    continue;
                }
                s.backends.push(BackendSpec {
                    addr,
                    port: n.port,
                    weight: n.weight,
                    at: n.at,
                });
            }
        }
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[service]]
name = "web"
listen = "198.18.100.1:443"
backends = ["198.19.0.5:443", "storage.example:443", { address = "db.example:443", weight = 3 }]

[[service]]
name = "all"
listen = "198.18.100.2"
backends = ["storage.example"]
"#;

    fn a(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, last)
    }

    fn answers(entries: &[(&str, &[Ipv4Addr])]) -> Answers {
        entries
            .iter()
            .map(|(n, addrs)| (n.to_string(), addrs.iter().copied().collect()))
            .collect()
    }

    fn backends(c: &Config, service: usize) -> Vec<(Ipv4Addr, Option<u16>, u32, usize)> {
        c.services[service]
            .backends
            .iter()
            .map(|b| (b.addr, b.port, b.weight, b.at.line))
            .collect()
    }

    #[test]
    fn each_address_of_a_name_is_a_backend_with_the_names_port_and_weight() {
        let config = Config::parse(FILE).unwrap();
        assert_eq!(config.services[0].backends.len(), 1);
        assert_eq!(config.services[0].names.len(), 2);
        let ans = answers(&[
            ("storage.example", &[a(11), a(10)]),
            ("db.example", &[a(20)]),
        ]);
        let (out, skipped) = expand(&config, &ans);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            backends(&out, 0),
            vec![
                (a(5), Some(443), 1, 5),
                (a(10), Some(443), 1, 5),
                (a(11), Some(443), 1, 5),
                (a(20), Some(443), 3, 5),
            ]
        );
        assert_eq!(
            backends(&out, 1),
            vec![(a(10), None, 1, 10), (a(11), None, 1, 10)]
        );
        // The names stay, for reports; expanding again adds nothing.
        assert_eq!(out.services[0].names, config.services[0].names);
        assert_eq!(expand(&out, &ans).0, out);
        // Everything else is the file's.
        assert_eq!(out.relay, config.relay);
        assert_eq!(out.services[0].listen, config.services[0].listen);
    }

    #[test]
    fn a_name_without_answer_adds_nothing_and_duplicates_are_merged() {
        let config = Config::parse(FILE).unwrap();
        let (out, skipped) = expand(&config, &Answers::new());
        assert!(skipped.is_empty());
        assert_eq!(backends(&out, 0), vec![(a(5), Some(443), 1, 5)]);
        assert!(out.services[1].backends.is_empty());

        // db.example answers an address already listed: it stays once,
        // with the weight of the file's entry.
        let ans = answers(&[("db.example", &[a(5), a(6)])]);
        let (out, _) = expand(&config, &ans);
        assert_eq!(
            backends(&out, 0),
            vec![(a(5), Some(443), 1, 5), (a(6), Some(443), 3, 5)]
        );
    }

    #[test]
    fn unusable_addresses_and_addresses_over_the_limit_are_skipped() {
        let config = Config::parse(FILE).unwrap();
        let mut many: Vec<Ipv4Addr> = (0..70).map(|i| Ipv4Addr::new(198, 19, 1, i)).collect();
        many.push(Ipv4Addr::LOCALHOST);
        let ans = answers(&[("storage.example", &many)]);
        let (out, skipped) = expand(&config, &ans);
        let max = MAX_BACKENDS_PER_SERVICE as usize;
        assert_eq!(out.services[0].backends.len(), max);
        assert_eq!(out.services[1].backends.len(), max);
        let loopback: Vec<&Skipped> = skipped
            .iter()
            .filter(|s| s.addr == Ipv4Addr::LOCALHOST)
            .collect();
        assert_eq!(loopback.len(), 2, "once per service");
        assert!(matches!(loopback[0].why, SkipReason::Unusable(w) if w.contains("loopback")));
        // web has one address of its own: 63 of 70 fit, 7 skipped; all: 64, 6.
        let too_many = |svc: &str| {
            skipped
                .iter()
                .filter(|s| s.service == svc && s.why == SkipReason::TooMany)
                .count()
        };
        assert_eq!((too_many("web"), too_many("all")), (7, 6));
        // The lowest addresses are kept.
        assert_eq!(
            out.services[1].backends[63].addr,
            Ipv4Addr::new(198, 19, 1, 63)
        );
        let msg = skipped[0].to_string();
        assert!(
            msg.contains("storage.example") && msg.contains("\"web\""),
            "{msg}"
        );
    }

    #[test]
    fn names_lists_the_services_of_each_name() {
        let config = Config::parse(FILE).unwrap();
        let n = names(&config);
        assert_eq!(n.len(), 2);
        assert_eq!(n["storage.example"], vec!["web", "all"]);
        assert_eq!(n["db.example"], vec!["web"]);
    }
}
