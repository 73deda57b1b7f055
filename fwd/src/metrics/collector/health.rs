//! The health families (a child of `collector`, whose helpers it uses):
//! whether each backend takes new flows as far as health goes, and the
//! counts of active checks and of failed connection attempts seen by
//! passive health. README.md ("Metrics") lists them.

use std::{collections::HashMap, fmt};

use prometheus_client::encoding::DescriptorEncoder;

use super::{counters, gauges, Snapshot};
use crate::health::{backend_name, BackendHealth, State};

/// The health of each backend sample, by (service, backend label).
fn by_label(s: &Snapshot) -> HashMap<(&str, String), &BackendHealth> {
    s.health
        .backends
        .iter()
        .map(|(k, h)| ((k.service.as_str(), backend_name(k)), h))
        .collect()
}

/// Encodes the health families of `s`.
pub(super) fn encode_health(s: &Snapshot, enc: &mut DescriptorEncoder) -> fmt::Result {
    let health = by_label(s);
    let of = |service: &str, backend: &str| health.get(&(service, backend.to_string())).copied();
    gauges(
        enc,
        "fwd_backend_up",
        "1 if the backend may take new flows as far as health goes, 0 if health checks or \
         passive health took it out (an unchecked backend is 1).",
        None,
        s.backends.iter().map(|b| {
            let up = of(&b.service, &b.backend).is_none_or(|h| h.state == State::Up);
            (
                [
                    ("service", b.service.as_str()),
                    ("backend", b.backend.as_str()),
                ],
                u64::from(up),
            )
        }),
    )?;
    let checked: Vec<_> = s
        .backends
        .iter()
        .filter_map(|b| Some((b, of(&b.service, &b.backend)?)))
        .collect();
    counters(
        enc,
        "fwd_health_checks",
        "Active health checks of a backend by result (ok, failed).",
        None,
        checked.iter().flat_map(|(b, h)| {
            [("ok", h.checks_ok), ("failed", h.checks_failed)].map(|(result, n)| {
                (
                    [
                        ("service", b.service.as_str()),
                        ("backend", b.backend.as_str()),
                        ("result", result),
                    ],
                    n,
                )
            })
        }),
    )?;
    counters(
        enc,
        "fwd_health_passive_failures",
        "Connection attempts of clients to a backend that got no SYN-ACK within syn_timeout, \
         or a RST (passive health).",
        None,
        checked.iter().map(|(b, h)| {
            (
                [
                    ("service", b.service.as_str()),
                    ("backend", b.backend.as_str()),
                ],
                h.passive_failures,
            )
        }),
    )
}
