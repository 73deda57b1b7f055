//! The competitors: what stands between client and backend in each arena.

/// A way of relaying client -> backend, measured side by side with the
/// others (issue 5). The order is the order of every table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Competitor {
    /// Plain kernel routing, no NAT: the backend has a return route. The
    /// kernel path's ceiling.
    D1,
    /// iptables DNAT + SNAT with conntrack (x_tables, `iptables-legacy`).
    C1,
    /// The same rules in nftables.
    C2,
    /// socat, one process per listening port, `fork` per TCP connection.
    U1,
    /// HAProxy in `mode tcp`, one thread.
    U2,
    /// fwd, XDP native.
    F1,
}

impl Competitor {
    /// Every competitor, in table order.
    pub const ALL: [Competitor; 6] = [
        Competitor::D1,
        Competitor::C1,
        Competitor::C2,
        Competitor::U1,
        Competitor::U2,
        Competitor::F1,
    ];

    /// The ID used in the results.
    pub fn id(self) -> &'static str {
        match self {
            Competitor::D1 => "D1",
            Competitor::C1 => "C1",
            Competitor::C2 => "C2",
            Competitor::U1 => "U1",
            Competitor::U2 => "U2",
            Competitor::F1 => "F1",
        }
    }

    /// One line for the Markdown legend.
    pub fn describe(self) -> &'static str {
        match self {
            Competitor::D1 => "plain kernel routing, no NAT (the backend has a return route)",
            Competitor::C1 => {
                "iptables DNAT + SNAT with conntrack (`iptables-legacy`, x_tables; \
                 the distribution's default `iptables` compiles the same rules to nf_tables, which C2 measures)"
            }
            Competitor::C2 => "nftables `dnat to` + `snat to` with conntrack",
            Competitor::U1 => "socat (TCP4-LISTEN fork per connection; UDP4-LISTEN for one UDP peer)",
            Competitor::U2 => "HAProxy `mode tcp`, `nbthread 1`",
            Competitor::F1 => "fwd, XDP native",
        }
    }

    /// Whether clients address a VIP (everyone but D1, whose clients send
    /// to the backend itself).
    pub fn uses_vip(self) -> bool {
        self != Competitor::D1
    }

    /// Lower-case prefix of this competitor's interface names.
    pub fn prefix(self) -> String {
        self.id().to_ascii_lowercase()
    }
}
