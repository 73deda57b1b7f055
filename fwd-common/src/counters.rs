//! Why the program returned each verdict, and the per-CPU counters.
//!
//! [`Reason`] is the one list of outcomes: it indexes
//! [`crate::maps::REASON_STATS`], decides the XDP action, and its
//! [`Reason::name`] is the `reason` label of the metrics. Values are stable:
//! a retired reason keeps its number and a new one takes the next.

/// XDP action codes (`enum xdp_action` in `include/uapi/linux/bpf.h`).
pub mod xdp_action {
    /// Drop the frame.
    pub const DROP: u32 = 1;
    /// Hand the frame to the kernel stack.
    pub const PASS: u32 = 2;
    /// Send the frame back out of the interface it came in on.
    pub const TX: u32 = 3;
    /// Send the frame out of another interface (through the devmap).
    pub const REDIRECT: u32 = 4;
}

macro_rules! reasons {
    ($($(#[doc = $doc:literal])* $variant:ident = $value:literal, $name:literal, $action:ident;)*) => {
        /// The outcome of one packet: what the program did with it and why.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Reason {
            $($(#[doc = $doc])* $variant = $value,)*
        }

        impl Reason {
            /// Every reason, in value order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The metrics label for this reason (snake case, stable).
            pub const fn name(self) -> &'static str {
                match self { $(Reason::$variant => $name,)* }
            }

            /// The XDP action the program returns for this reason.
            #[inline(always)]
            pub const fn action(self) -> u32 {
                match self { $(Reason::$variant => xdp_action::$action,)* }
            }

            /// The reason with this value, if any.
            pub const fn from_u32(value: u32) -> Option<Reason> {
                match value { $($value => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    /// Translated and sent back out of the interface it arrived on.
    ForwardedTx = 0, "forwarded_tx", TX;
    /// Translated and redirected to another attached interface.
    ForwardedRedirect = 1, "forwarded_redirect", REDIRECT;
    /// Not IPv4 (ARP, IPv6, LLDP, ...): the kernel's business.
    PassNotIpv4 = 2, "pass_not_ipv4", PASS;
    /// More than one VLAN tag: not parsed.
    PassStackedVlan = 3, "pass_stacked_vlan", PASS;
    /// An IPv4 fragment fwd does not relay: a later fragment whose first
    /// was not translated (not relayed, not yet seen, or too long ago), or
    /// an ICMP fragment. The kernel gets it.
    PassFragment = 4, "pass_fragment", PASS;
    /// Neither TCP nor UDP (ICMP, ...).
    PassNotTcpUdp = 5, "pass_not_tcp_udp", PASS;
    /// Not to a VIP and not part of a tracked flow: the host's own traffic.
    PassNoService = 6, "pass_no_service", PASS;
    /// TCP to a VIP without SYN and without a flow: the kernel answers it.
    PassTcpNoFlow = 7, "pass_tcp_no_flow", PASS;
    /// TTL 1 or 0 and the ingress interface has no address to answer from
    /// (see [`Reason::AnsweredTimeExceeded`]): handed over untouched, for
    /// the kernel to answer as a router.
    PassTtlExpired = 8, "pass_ttl_expired", PASS;
    /// Translated, but the next hop has no neighbour entry yet: the kernel
    /// forwards this one and resolves the neighbour.
    PassNoNeighbour = 9, "pass_no_neighbour", PASS;
    /// Translated, but the route leaves through an interface fwd is not
    /// attached to (or the FIB says the kernel must handle it).
    PassNotAttached = 10, "pass_not_attached", PASS;
    /// Shorter than the headers it claims (Ethernet, VLAN, IPv4, TCP, UDP).
    DropTruncated = 11, "drop_truncated", DROP;
    /// Invalid IPv4 header: version, IHL below 5, total length too small.
    DropMalformedIpv4 = 12, "drop_malformed_ipv4", DROP;
    /// A VIP whose service has no usable backend, and the reject (see
    /// [`Reason::RejectNoBackend`]) could not be built.
    DropNoBackend = 13, "drop_no_backend", DROP;
    /// Every SNAT port tried for a new flow was taken.
    DropSnatExhausted = 14, "drop_snat_exhausted", DROP;
    /// The connection table is full: new flows are refused, live flows kept.
    DropConntrackFull = 15, "drop_conntrack_full", DROP;
    /// No route to the destination (unreachable, blackhole, prohibit).
    DropNoRoute = 16, "drop_no_route", DROP;
    /// Larger than the egress MTU, and either Don't Fragment is clear (fwd
    /// does not fragment) or the ingress interface has no address to send
    /// "fragmentation needed" from (see [`Reason::AnsweredFragNeeded`]).
    DropFragNeeded = 17, "drop_frag_needed", DROP;
    /// `RELAY_CONFIG` entry 0 could not be read. It always exists (an array
    /// of one entry); the check is there for the verifier. Before
    /// [`Reason::DropRedirectFailed`] and the reasons after it existed, this
    /// value also counted their causes.
    DropInternal = 18, "drop_internal", DROP;
    /// A new flow to a service none of whose backends is usable (all down
    /// or drained): answered with a TCP RST, or for UDP an ICMP port
    /// unreachable, sent back from the VIP.
    RejectNoBackend = 19, "reject_no_backend", TX;
    /// Translated, but the redirect to the egress failed: the interface
    /// left `DEVMAP` after the flow cached it as its egress (the loader is
    /// detaching it). The frame already carries the next hop's MAC, so the
    /// kernel could not use it either.
    DropRedirectFailed = 20, "drop_redirect_failed", DROP;
    /// The service's Maglev table lies beyond `MAGLEV`: the service entry
    /// and the size the loader gave `MAGLEV` disagree (a loader bug).
    DropNoMaglevEntry = 21, "drop_no_maglev_entry", DROP;
    /// The Maglev table names a backend id beyond `BACKENDS4` (a loader
    /// bug).
    DropNoBackendEntry = 22, "drop_no_backend_entry", DROP;
    /// A new flow, but `RELAY_CONFIG` holds no SNAT port range: the loader
    /// writes it before it attaches, so it did not (a loader bug).
    DropNoSnatPorts = 23, "drop_no_snat_ports", DROP;
    /// An ICMP error (destination unreachable, time exceeded, parameter
    /// problem) about a packet of a relayed flow, translated for the other
    /// side (RFC 5508) and sent back out of the interface it arrived on.
    ForwardedIcmpErrorTx = 24, "forwarded_icmp_error_tx", TX;
    /// The same, redirected to another attached interface.
    ForwardedIcmpErrorRedirect = 25, "forwarded_icmp_error_redirect", REDIRECT;
    /// ICMP of no relayed flow: an error about a packet whose source port
    /// is not a SNAT port (the host's own traffic), or an echo reply no
    /// session expects. The kernel's.
    PassIcmpNoFlow = 26, "pass_icmp_no_flow", PASS;
    /// An ICMP error quoting a SNAT port that no live flow holds, or sent
    /// to someone other than the sender of the packet it quotes: stale or
    /// forged, dropped (RFC 5508 REQ-3).
    DropIcmpNoFlow = 27, "drop_icmp_no_flow", DROP;
    /// An ICMP error whose ICMP checksum is wrong.
    DropIcmpBadChecksum = 28, "drop_icmp_bad_checksum", DROP;
    /// An ICMP error whose quoted packet is malformed or cut before its
    /// ports.
    DropIcmpTruncated = 29, "drop_icmp_truncated", DROP;
    /// An ICMP error whose ICMP message is longer than the program verifies
    /// (576 bytes: a whole error is at most 576 bytes, RFC 1812 4.3.2.3).
    DropIcmpTooLong = 30, "drop_icmp_too_long", DROP;
    /// An echo request to a VIP that no service relays ICMP to (none is a
    /// whole address of protocol "any"), answered from the VIP itself.
    AnsweredEcho = 31, "answered_echo", TX;
    /// An ICMP error whose quoted IPv4 header has a wrong checksum (RFC
    /// 5508 REQ-3).
    DropIcmpQuoteBadChecksum = 32, "drop_icmp_quote_bad_checksum", DROP;
    /// A packet to a VIP whose TTL expires here, answered with ICMP time
    /// exceeded from the ingress interface's address (the relay as a hop).
    AnsweredTimeExceeded = 33, "answered_time_exceeded", TX;
    /// A packet with Don't Fragment larger than the MTU of its egress,
    /// answered with ICMP fragmentation needed (that MTU) from the ingress
    /// interface's address.
    AnsweredFragNeeded = 34, "answered_frag_needed", TX;
    /// An ICMP error the relay would send as a router, over its budget
    /// (1,000 a second per CPU, bursts of 50, as the kernel's defaults):
    /// the packet is dropped.
    DropIcmpRateLimited = 35, "drop_icmp_rate_limited", DROP;
    /// An answer built in place (an ICMP error from the relay) could not
    /// be built: the driver refused to grow or shrink the frame.
    DropAnswerFailed = 36, "drop_answer_failed", DROP;
    /// A fragment after the first of a relayed datagram (its first was
    /// translated), translated the same way and sent back out of the
    /// interface it arrived on.
    ForwardedFragmentTx = 37, "forwarded_fragment_tx", TX;
    /// The same, redirected to another attached interface.
    ForwardedFragmentRedirect = 38, "forwarded_fragment_redirect", REDIRECT;
    /// A later fragment to a VIP or SNAT address that came before its
    /// first: held for the loader, which runs it again when the first
    /// arrives (see `crate::frag`).
    HeldFragment = 39, "held_fragment", DROP;
    /// A fragment that would have been held, but the table of fragmented
    /// datagrams is full.
    DropFragmentTableFull = 40, "drop_fragment_table_full", DROP;
    /// A fragment that would have been held, but the ring of held
    /// fragments is full (the loader is not reading it) or the frame is
    /// longer than the datapath holds.
    DropFragmentHoldFailed = 41, "drop_fragment_hold_failed", DROP;
    /// The first packet of a flow from a source its service's `allow` list
    /// does not admit, or its `deny` list refuses (see `crate::access`).
    DropNotAllowed = 42, "drop_not_allowed", DROP;
}

/// Number of reasons.
pub const REASON_COUNT: u32 = Reason::ALL.len() as u32;

/// Room for reasons in [`ReasonCounters`]: more than there are, so that a
/// version with new reasons keeps the shape of the pinned
/// [`crate::maps::REASON_STATS`] and adopts an older version's state
/// (upgrades lose no flow).
pub const REASON_SLOTS: usize = 64;
const _: () = assert!(REASON_COUNT as usize <= REASON_SLOTS);

/// The counters of one interface: a [`Counter`] per [`Reason`], indexed by
/// the reason's number (slots beyond [`REASON_COUNT`] stay zero). One value
/// of [`crate::maps::REASON_STATS`], so the datapath finds an interface's
/// block once per packet, at the start, and the count at the end is a
/// plain add.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonCounters {
    /// Packets and frame bytes per reason.
    pub by_reason: [Counter; REASON_SLOTS],
}
const _: () = assert!(core::mem::size_of::<ReasonCounters>() == 16 * REASON_SLOTS);

// Arrays of more than 32 elements have no derived Default.
impl Default for ReasonCounters {
    fn default() -> Self {
        ReasonCounters {
            by_reason: [Counter::default(); REASON_SLOTS],
        }
    }
}

impl ReasonCounters {
    /// Adds one packet of `bytes` bytes under `reason`.
    #[inline(always)]
    pub fn add(&mut self, reason: Reason, bytes: u64) {
        if let Some(c) = self.by_reason.get_mut(reason as usize) {
            c.add(bytes);
        }
    }

    /// The counter of `reason`.
    pub fn get(&self, reason: Reason) -> Counter {
        self.by_reason[reason as usize]
    }

    /// Adds another block (summing over CPUs or interfaces).
    pub fn merge(&mut self, other: &ReasonCounters) {
        for (a, b) in self.by_reason.iter_mut().zip(&other.by_reason) {
            a.merge(b);
        }
    }
}

/// A packet and byte counter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets.
    pub packets: u64,
    /// Bytes. In [`crate::maps::REASON_STATS`] these are frame bytes
    /// (Ethernet header included); in [`BackendStats`] IPv4 total length.
    pub bytes: u64,
}
const _: () = assert!(core::mem::size_of::<Counter>() == 16);

impl Counter {
    /// Adds one packet of `bytes` bytes.
    #[inline(always)]
    pub fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }

    /// Adds another counter (summing over CPUs).
    pub fn merge(&mut self, other: &Counter) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Traffic of one backend (and, summed over its backends, of a service).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Client -> backend packets and IPv4 bytes.
    pub to_backend: Counter,
    /// Backend -> client packets and IPv4 bytes.
    pub to_client: Counter,
    /// TCP flows created towards this backend (a SYN reopening a closed
    /// tuple counts as a new flow).
    pub flows_created_tcp: u64,
    /// UDP flows created towards this backend.
    pub flows_created_udp: u64,
    /// ICMP echo sessions created towards this backend.
    pub flows_created_icmp: u64,
}
const _: () = assert!(core::mem::size_of::<BackendStats>() == 56);

impl BackendStats {
    /// Adds another CPU's stats.
    pub fn merge(&mut self, other: &BackendStats) {
        self.to_backend.merge(&other.to_backend);
        self.to_client.merge(&other.to_client);
        self.flows_created_tcp += other.flows_created_tcp;
        self.flows_created_udp += other.flows_created_udp;
        self.flows_created_icmp += other.flows_created_icmp;
    }

    /// Flows of protocol `proto` created (0 for a protocol never relayed).
    pub const fn flows_created(&self, proto: u8) -> u64 {
        match proto {
            crate::IPPROTO_TCP => self.flows_created_tcp,
            crate::IPPROTO_UDP => self.flows_created_udp,
            crate::IPPROTO_ICMP => self.flows_created_icmp,
            _ => 0,
        }
    }

    /// Flows of every protocol created.
    pub const fn flows_created_all(&self) -> u64 {
        self.flows_created_tcp + self.flows_created_udp + self.flows_created_icmp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_dense_and_stable() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as u32, i as u32);
            assert_eq!(Reason::from_u32(i as u32), Some(*r));
        }
        assert_eq!(Reason::from_u32(REASON_COUNT), None);
        assert_eq!(Reason::DropInternal as u32, 18);
        assert_eq!(Reason::RejectNoBackend as u32, 19);
        assert_eq!(Reason::DropRedirectFailed as u32, 20);
        assert_eq!(Reason::DropNoMaglevEntry as u32, 21);
        assert_eq!(Reason::DropNoBackendEntry as u32, 22);
        assert_eq!(Reason::DropNoSnatPorts as u32, 23);
        assert_eq!(Reason::ForwardedIcmpErrorTx as u32, 24);
        assert_eq!(Reason::DropIcmpTooLong as u32, 30);
        assert_eq!(Reason::AnsweredEcho as u32, 31);
        assert_eq!(Reason::DropIcmpQuoteBadChecksum as u32, 32);
        assert_eq!(Reason::DropAnswerFailed as u32, 36);
        assert_eq!(Reason::ForwardedFragmentRedirect as u32, 38);
        assert_eq!(Reason::HeldFragment as u32, 39);
        assert_eq!(Reason::DropFragmentHoldFailed as u32, 41);
        assert_eq!(Reason::DropNotAllowed as u32, 42);
        assert_eq!(REASON_COUNT, 43);
    }

    #[test]
    fn flows_created_by_protocol() {
        let s = BackendStats {
            flows_created_tcp: 1,
            flows_created_udp: 2,
            flows_created_icmp: 4,
            ..BackendStats::default()
        };
        assert_eq!(s.flows_created(crate::IPPROTO_TCP), 1);
        assert_eq!(s.flows_created(crate::IPPROTO_UDP), 2);
        assert_eq!(s.flows_created(crate::IPPROTO_ICMP), 4);
        assert_eq!(s.flows_created(47), 0);
        assert_eq!(s.flows_created_all(), 7);
    }

    #[test]
    fn names_match_actions() {
        for r in Reason::ALL {
            let prefix = r.name().split('_').next().unwrap();
            let expected = match prefix {
                "forwarded" => r.action() == xdp_action::TX || r.action() == xdp_action::REDIRECT,
                "pass" => r.action() == xdp_action::PASS,
                // A held frame is dropped by the program, kept by the loader.
                "drop" | "held" => r.action() == xdp_action::DROP,
                "reject" | "answered" => r.action() == xdp_action::TX,
                _ => false,
            };
            assert!(expected, "{r:?}");
        }
    }
}
