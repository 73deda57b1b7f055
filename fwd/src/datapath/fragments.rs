//! Fragments that came before their first (see `fwd_common::frag`): the
//! addresses whose early fragments the program holds, the ring it holds
//! them in, the state of each fragmented datagram, and running a held
//! fragment through the program again.

use std::{
    mem::size_of,
    os::fd::{AsRawFd, RawFd},
    ptr,
};

use aya::{
    maps::{MapData, RingBuf},
    programs::{TestRun as _, TestRunAttrs, TestRunOptions},
};
use fwd_common::{
    frag::{Frag4, Frag4Key, ParkedFragment, PARKED_FRAME, PARKED_HEADER_LEN, PARKED_RELEASE},
    maps as names,
};

use super::{
    error::{is_missing, map_err},
    Datapath, DatapathError,
};
use crate::plan::Plan;

/// One item of the `FRAGMENTS` ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parked {
    /// A held fragment: the frame as it came in on `ifindex`.
    Frame {
        /// The datagram.
        key: Frag4Key,
        /// The interface it came in on.
        ifindex: u32,
        /// The whole frame.
        frame: Vec<u8>,
    },
    /// The first fragment of `key` was handled: run its held ones again.
    Release {
        /// The datagram.
        key: Frag4Key,
    },
}

/// The datapath's held fragments, taken once from the [`Datapath`].
pub struct HeldFragments {
    ring: RingBuf<MapData>,
    skipped: u64,
}

impl HeldFragments {
    /// The next queued item, `None` when the ring is empty (malformed
    /// items, never written by this datapath, are skipped).
    pub fn next_item(&mut self) -> Option<Parked> {
        loop {
            let item = self.ring.next()?;
            if let Some(p) = parse(&item) {
                return Some(p);
            }
            self.skipped += 1;
        }
    }

    /// Items skipped so far because they were malformed.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Readable when items are queued (epoll).
impl AsRawFd for HeldFragments {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

/// The item in one ring record; `None` if it is malformed.
fn parse(item: &[u8]) -> Option<Parked> {
    if item.len() < PARKED_HEADER_LEN {
        return None;
    }
    // SAFETY: the item holds at least PARKED_HEADER_LEN bytes;
    // ParkedFragment is plain old data and the read does not assume
    // alignment.
    let header = unsafe { ptr::read_unaligned(item.as_ptr().cast::<ParkedFragment>()) };
    match header.kind {
        PARKED_RELEASE => Some(Parked::Release { key: header.key }),
        PARKED_FRAME => {
            let frame =
                item.get(PARKED_HEADER_LEN..PARKED_HEADER_LEN + header.frame_len as usize)?;
            Some(Parked::Frame {
                key: header.key,
                ifindex: header.ifindex,
                frame: frame.to_vec(),
            })
        }
        _ => None,
    }
}

/// `struct xdp_md` as `BPF_PROG_TEST_RUN` takes it for live frames.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

impl Datapath {
    /// Takes the ring of held fragments (once; `None` afterwards).
    pub fn take_held_fragments(&mut self) -> Option<HeldFragments> {
        self.fragments
            .take()
            .map(|ring| HeldFragments { ring, skipped: 0 })
    }

    /// The state of a fragmented datagram, if it has an entry.
    pub fn fragmented(&self, key: &Frag4Key) -> Result<Option<Frag4>, DatapathError> {
        match self.frag4.get(key, 0) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(map_err(names::FRAG4, "reading an entry")(e)),
        }
    }

    /// Deletes the entries of fragmented datagrams made before the
    /// timeout (`now_ns` on the datapath's clock); returns how many.
    pub fn expire_fragmented(&mut self, now_ns: u64) -> Result<usize, DatapathError> {
        let old: Vec<Frag4Key> = self
            .frag4
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, v)| v.expired(now_ns))
            .map(|(k, _)| k)
            .collect();
        for key in &old {
            match self.frag4.remove(key) {
                Err(e) if !is_missing(&e) => {
                    return Err(map_err(names::FRAG4, "removing an entry")(e))
                }
                _ => {}
            }
        }
        Ok(old.len())
    }

    /// Runs a held fragment through the program again as if it had just
    /// come in on `ifindex` (`BPF_PROG_TEST_RUN` with live frames: what
    /// the program sends is sent, what it passes goes to the kernel's
    /// stack). Returns the program's XDP action.
    pub fn rerun(&mut self, ifindex: u32, frame: &[u8]) -> Result<u32, DatapathError> {
        let md = XdpMd {
            data_end: frame.len() as u32,
            ingress_ifindex: ifindex,
            ..XdpMd::default()
        };
        // SAFETY: XdpMd is plain old data without padding.
        let ctx: &[u8] =
            unsafe { std::slice::from_raw_parts((&raw const md).cast::<u8>(), size_of::<XdpMd>()) };
        let opts = TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(ctx),
            attrs: TestRunAttrs::new().xdp_live_frames(0),
            ..TestRunOptions::new()
        };
        self.program()
            .test_run(opts)
            .map(|r| r.return_value)
            .map_err(|source| DatapathError::Rerun { ifindex, source })
    }

    /// Writes `FRAG_ADDRS4`: the VIPs and SNAT addresses of `plan` (stale
    /// ones removed first).
    pub(super) fn write_frag_addrs(&mut self, plan: &Plan) -> Result<(), DatapathError> {
        let mut wanted: Vec<u32> = plan
            .services
            .iter()
            .map(|s| u32::from(s.vip).to_be())
            .chain(plan.backends().map(|(_, b)| u32::from(b.snat).to_be()))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let stale: Vec<u32> = self
            .frag_addrs
            .keys()
            .collect::<Result<_, _>>()
            .map_err(map_err(names::FRAG_ADDRS4, "listing keys"))?;
        for addr in stale.iter().filter(|a| wanted.binary_search(a).is_err()) {
            match self.frag_addrs.remove(addr) {
                Err(e) if !is_missing(&e) => {
                    return Err(map_err(names::FRAG_ADDRS4, "removing a stale key")(e))
                }
                _ => {}
            }
        }
        for addr in wanted {
            self.frag_addrs
                .insert(addr, 1, 0)
                .map_err(map_err(names::FRAG_ADDRS4, "writing an address"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(header: ParkedFragment, frame: &[u8]) -> Vec<u8> {
        // SAFETY: ParkedFragment is plain old data of PARKED_HEADER_LEN bytes.
        let bytes: [u8; PARKED_HEADER_LEN] = unsafe { std::mem::transmute(header) };
        [&bytes[..], frame].concat()
    }

    #[test]
    fn ring_items_are_read_and_malformed_ones_skipped() {
        let key = Frag4Key {
            src_addr: 1,
            dst_addr: 2,
            id: 3,
            proto: 17,
            pad: 0,
        };
        let frame = ParkedFragment {
            kind: PARKED_FRAME,
            ifindex: 7,
            key,
            frame_len: 3,
            ..ParkedFragment::default()
        };
        assert_eq!(
            parse(&item(frame, b"abc")),
            Some(Parked::Frame {
                key,
                ifindex: 7,
                frame: b"abc".to_vec()
            })
        );
        // A frame shorter than its header says, an unknown kind, a stub.
        assert_eq!(parse(&item(frame, b"ab")), None);
        let unknown = ParkedFragment { kind: 9, ..frame };
        assert_eq!(parse(&item(unknown, b"abc")), None);
        assert_eq!(parse(&item(frame, b"")[..10]), None);
        let release = ParkedFragment {
            kind: PARKED_RELEASE,
            key,
            ..ParkedFragment::default()
        };
        assert_eq!(parse(&item(release, b"")), Some(Parked::Release { key }));
    }
}
