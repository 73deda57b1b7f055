//! The competitors: what stands between client and backend in each arena.

/// A way of relaying client -> backend, measured side by side with the
/// others (issue 5). The order is the order of every table. Results and
/// tables name a competitor by its [`label`](Competitor::label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Competitor {
    /// Plain kernel routing, no NAT: the backend has a return route. The
    /// kernel path's ceiling.
    Routing,
    /// iptables DNAT + SNAT with conntrack (x_tables, `iptables-legacy`).
    Iptables,
    /// The same rules in nftables.
    Nftables,
    /// socat, one process per listening port, `fork` per TCP connection.
    Socat,
    /// HAProxy in `mode tcp`, one thread.
    Haproxy,
    /// fwd, XDP native.
    Fwd,
}

impl Competitor {
    /// Every competitor, in table order.
    pub(crate) const ALL: [Competitor; 6] = [
        Competitor::Routing,
        Competitor::Iptables,
        Competitor::Nftables,
        Competitor::Socat,
        Competitor::Haproxy,
        Competitor::Fwd,
    ];

    /// The short label of the results, the tables and the README: D1, C1,
    /// C2, U1, U2, F1 (a letter for the kind: direct, conntrack, userspace,
    /// fwd).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Competitor::Routing => "D1",
            Competitor::Iptables => "C1",
            Competitor::Nftables => "C2",
            Competitor::Socat => "U1",
            Competitor::Haproxy => "U2",
            Competitor::Fwd => "F1",
        }
    }

    /// One line for the Markdown legend.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Competitor::Routing => "plain kernel routing, no NAT (the backend has a return route)",
            Competitor::Iptables => {
                "iptables DNAT + SNAT with conntrack (`iptables-legacy`, x_tables; \
                 the distribution's default `iptables` compiles the same rules to nf_tables, which C2 measures)"
            }
            Competitor::Nftables => "nftables `dnat to` + `snat to` with conntrack",
            Competitor::Socat => {
                "socat (TCP4-LISTEN fork per connection; UDP4-LISTEN for one UDP peer)"
            }
            Competitor::Haproxy => "HAProxy `mode tcp`, `nbthread 1`",
            Competitor::Fwd => "fwd, XDP native",
        }
    }

    /// Whether clients address a VIP (everyone but plain routing, whose
    /// clients send to the backend itself).
    pub(crate) fn uses_vip(self) -> bool {
        self != Competitor::Routing
    }

    /// Lower-case prefix of this competitor's interface names (`f1` ...).
    pub(crate) fn prefix(self) -> String {
        self.label().to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_those_of_the_published_results() {
        let labels = Competitor::ALL.map(Competitor::label);
        assert_eq!(labels, ["D1", "C1", "C2", "U1", "U2", "F1"]);
    }
}
