//! What the datapath is expected to choose, computed independently of it
//! from the shared pure functions (the keyed hash and the SNAT port probe
//! order).

use std::{collections::HashSet, net::SocketAddrV4};

use fwd_common::{
    hash::{port_hash4, snat_port_candidate, SNAT_PORT_TRIES},
    Flow4Key,
};

use integration_test::prog_test_run::env::{PORT_KEY, SNAT_PORT_MAX, SNAT_PORT_MIN};

/// The SNAT ports claimed so far, per (backend, backend port, protocol),
/// by a datapath whose port secret is `key`.
pub struct SnatModel {
    key: [u32; 4],
    claimed: HashSet<(SocketAddrV4, u8, u16)>,
}

impl Default for SnatModel {
    /// The model of the packet tests' datapaths (secret [`PORT_KEY`]).
    fn default() -> Self {
        SnatModel::keyed(PORT_KEY)
    }
}

impl SnatModel {
    /// The model of a datapath whose SNAT port secret is `key`.
    pub fn keyed(key: [u32; 4]) -> Self {
        SnatModel {
            key,
            claimed: HashSet::new(),
        }
    }

    /// The port a new flow `client -> vip` to `backend` gets, claiming it;
    /// `None` when all the ports it probes are taken.
    pub fn claim(
        &mut self,
        client: SocketAddrV4,
        vip: SocketAddrV4,
        proto: u8,
        backend: SocketAddrV4,
    ) -> Option<u16> {
        let key = Flow4Key::new(*client.ip(), client.port(), *vip.ip(), vip.port(), proto);
        let hash = port_hash4(&key, &self.key);
        let count = (SNAT_PORT_MAX - SNAT_PORT_MIN) as u32 + 1;
        (0..SNAT_PORT_TRIES)
            .map(|attempt| snat_port_candidate(hash, attempt, SNAT_PORT_MIN, count))
            .find(|&port| self.claimed.insert((backend, proto, port)))
    }

    /// Whether `port` is claimed towards `backend`.
    pub fn is_claimed(&self, backend: SocketAddrV4, proto: u8, port: u16) -> bool {
        self.claimed.contains(&(backend, proto, port))
    }
}
