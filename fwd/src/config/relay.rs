//! The `[relay]` table: settings of the datapath, the GC and the loader,
//! with their defaults.

use std::{ops::RangeInclusive, time::Duration};

use super::MssClamp;

/// The `[relay]` settings, read by the loader, the datapath (SNAT ports, via
/// `RELAY_CONFIG`) and the GC (timeouts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySettings {
    /// SNAT source ports (inclusive); must not overlap the host's
    /// `ip_local_port_range`.
    pub snat_ports: RangeInclusive<u16>,
    /// Most flows; `CT4` gets `2 * max_flows` entries (two halves per flow).
    pub max_flows: u32,
    /// Idle timeout of an established TCP flow.
    pub tcp_established: Duration,
    /// Idle timeout of a closing TCP flow.
    pub tcp_transitory: Duration,
    /// Idle timeout of an opening (half-open) TCP flow: the client's ACK of
    /// the backend's SYN-ACK not seen yet.
    pub tcp_opening: Duration,
    /// Idle timeout of a UDP flow.
    pub udp: Duration,
    /// Idle timeout of a UDP flow to a well-known backend port (below
    /// 1024, RFC 4787 REQ-5a) that saw at most one datagram each way (a
    /// DNS or NTP exchange).
    pub udp_single: Duration,
    /// Idle timeout of a TCP flow closed by a FIN each way (the time a
    /// closed connection holds its SNAT port, like TIME_WAIT).
    pub tcp_closed: Duration,
    /// Idle timeout of an ICMP echo session (RFC 5508 REQ-2: at least 60 s).
    pub icmp: Duration,
    /// How often the GC scans `CT4`.
    pub gc_interval: Duration,
    /// Most services; `MAGLEV` holds two tables per service (one in use,
    /// one to switch to when the service changes).
    pub max_services: u32,
    /// The MSS clamp of services without their own `mss_clamp`.
    pub mss_clamp: MssClamp,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            snat_ports: 10_000..=32_767,
            max_flows: 131_072,
            tcp_established: Duration::from_secs(2 * 3600 + 4 * 60),
            tcp_transitory: Duration::from_secs(4 * 60),
            tcp_opening: Duration::from_secs(2 * 60),
            udp: Duration::from_secs(5 * 60),
            udp_single: Duration::from_secs(30),
            tcp_closed: Duration::from_secs(2 * 60),
            icmp: Duration::from_secs(60),
            gc_interval: Duration::from_secs(10),
            max_services: 64,
            mss_clamp: MssClamp::Auto,
        }
    }
}

impl RelaySettings {
    /// Entries of `CT4`: two per flow.
    pub fn ct_entries(&self) -> u32 {
        self.max_flows.saturating_mul(2)
    }

    /// Number of Maglev tables in `MAGLEV`: two per service.
    pub fn maglev_tables(&self) -> u32 {
        self.max_services.saturating_mul(2)
    }
}
