//! What the datapath is expected to choose, computed independently of it
//! from the shared pure functions (the hash and the SNAT port probe order).

use std::{collections::HashSet, net::SocketAddrV4};

use fwd_common::{
    hash::{flow_hash4, snat_port_candidate, SNAT_PORT_TRIES},
    Flow4Key,
};

use integration_test::prog_test_run::env::{SNAT_PORT_MAX, SNAT_PORT_MIN};

/// The SNAT ports claimed so far, per (backend, backend port, protocol).
#[derive(Default)]
pub struct SnatModel {
    claimed: HashSet<(SocketAddrV4, u8, u16)>,
}

impl SnatModel {
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
        let hash = flow_hash4(&key);
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
