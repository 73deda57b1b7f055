//! Attaching the program to interfaces, and the devmap of redirect targets.

use std::{fmt, net::Ipv4Addr};

use aya::programs::{xdp::XdpLinkId, XdpMode};
use log::{info, warn};

use fwd_common::maps::{self as names, MAX_IFINDEX, MAX_INTERFACES};

use super::{error::map_err, pin, Attachment, Datapath, DatapathError};
use crate::host::ifaces;

/// How to attach (`--mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// Native, falling back to generic with a warning.
    #[default]
    Auto,
    /// In the driver (fast); refused by drivers without XDP support.
    Native,
    /// In the kernel stack after the driver (works everywhere, slower).
    Generic,
}

/// The mode an attachment actually got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachedMode {
    /// XDP in the driver.
    Native,
    /// Generic (SKB) XDP.
    Generic,
    /// The attachment an earlier run pinned, now running this program (its
    /// mode is the one that run chose).
    Adopted,
}

impl fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachedMode::Native => "native",
            AttachedMode::Generic => "generic",
            AttachedMode::Adopted => "adopted",
        })
    }
}

impl Datapath {
    /// Attaches to `ifname` in `mode`; returns the mode actually used
    /// (`Auto` tries native, then generic with a warning).
    pub fn attach(
        &mut self,
        ifname: &str,
        mode: AttachMode,
    ) -> Result<AttachedMode, DatapathError> {
        let ifindex = ifaces::index_of(ifname).ok_or_else(|| DatapathError::UnknownInterface {
            ifname: ifname.into(),
        })?;
        if let Some(dir) = self.pin_dir.clone() {
            if let Some(link) = pin::pinned_link(&dir, ifname)? {
                // Swap this program onto the link an earlier run left: one
                // atomic update, no packet sees the interface without XDP.
                let id = self.program().attach_to_link(link).map_err(|source| {
                    DatapathError::Attach {
                        ifname: ifname.into(),
                        mode: AttachedMode::Adopted,
                        source,
                    }
                })?;
                self.attachments.push(Attachment {
                    ifname: ifname.into(),
                    link: id,
                });
                return Ok(AttachedMode::Adopted);
            }
        }
        let (link, used) = match mode {
            AttachMode::Native => (
                self.attach_as(ifname, ifindex, AttachedMode::Native)?,
                AttachedMode::Native,
            ),
            AttachMode::Generic => (
                self.attach_as(ifname, ifindex, AttachedMode::Generic)?,
                AttachedMode::Generic,
            ),
            AttachMode::Auto => match self.attach_as(ifname, ifindex, AttachedMode::Native) {
                Ok(link) => (link, AttachedMode::Native),
                Err(e) => {
                    warn!(
                        "{}; falling back to generic mode (slower)",
                        crate::text::error_chain(&e)
                    );
                    (
                        self.attach_as(ifname, ifindex, AttachedMode::Generic)?,
                        AttachedMode::Generic,
                    )
                }
            },
        };
        let link = match self.pin_dir.clone() {
            Some(dir) => {
                let owned =
                    self.program()
                        .take_link(link)
                        .map_err(|source| DatapathError::Attach {
                            ifname: ifname.into(),
                            mode: used,
                            source,
                        })?;
                let pinned = pin::pin_link(&dir, ifname, owned)?;
                self.program()
                    .attach_to_link(pinned)
                    .map_err(|source| DatapathError::Attach {
                        ifname: ifname.into(),
                        mode: used,
                        source,
                    })?
            }
            None => link,
        };
        self.attachments.push(Attachment {
            ifname: ifname.into(),
            link,
        });
        Ok(used)
    }

    fn attach_as(
        &mut self,
        ifname: &str,
        ifindex: u32,
        mode: AttachedMode,
    ) -> Result<XdpLinkId, DatapathError> {
        let flags = match mode {
            AttachedMode::Native => XdpMode::Driver,
            AttachedMode::Generic | AttachedMode::Adopted => XdpMode::Skb,
        };
        self.program()
            .attach_to_if_index(ifindex, flags)
            .map_err(|source| match mode {
                AttachedMode::Native => DatapathError::NativeRefused {
                    ifname: ifname.into(),
                    source,
                },
                AttachedMode::Generic | AttachedMode::Adopted => DatapathError::Attach {
                    ifname: ifname.into(),
                    mode,
                    source,
                },
            })
    }

    /// The largest counter slot recorded in `IFINDEX_SLOTS` (0 if none).
    fn max_pinned_slot(&self) -> u32 {
        if self.pin_dir.is_none() {
            return 0;
        }
        self.ifindex_slots
            .iter()
            .filter_map(std::result::Result::ok)
            .max()
            .unwrap_or(0)
    }

    /// Detaches from every interface (also done on drop); logs each. Pinned
    /// links are unpinned first, so the program really leaves the
    /// interfaces.
    pub fn detach_all(&mut self) {
        while let Some(a) = self.attachments.pop() {
            if let Some(dir) = &self.pin_dir {
                let path = pin::link_path(dir, &a.ifname);
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        warn!("unpinning {}: {e}", path.display());
                    }
                }
            }
            match self.program().detach(a.link) {
                Ok(()) => info!("detached from {}", a.ifname),
                Err(e) => warn!(
                    "detaching from {}: {}",
                    a.ifname,
                    crate::text::error_chain(&e)
                ),
            }
        }
    }

    /// Records `addr` as the address of registered interface `ifindex`,
    /// for the ICMP errors the datapath sends from it as a router (time
    /// exceeded, fragmentation needed). An interface without one leaves
    /// them to the kernel (time exceeded) or drops the packet (too big).
    pub fn set_interface_addr(
        &mut self,
        ifindex: u32,
        addr: Ipv4Addr,
    ) -> Result<(), DatapathError> {
        let Some(&(_, slot)) = self.interfaces.iter().find(|(i, _)| *i == ifindex) else {
            return Ok(());
        };
        if slot > MAX_INTERFACES {
            return Ok(());
        }
        self.iface_addrs
            .set(slot, u32::from_ne_bytes(addr.octets()), 0)
            .map_err(map_err(
                names::IFACE_ADDRS,
                format!("writing the address of ifindex {ifindex}"),
            ))
    }

    /// Registers an interface: adds it to `DEVMAP` (key and value: its
    /// ifindex) so that the program may redirect to it, and gives it a
    /// counter slot in `IFINDEX_SLOTS` so its packets are counted apart
    /// ([`Datapath::interface_reason_stats`]). Registering twice is a no-op.
    pub fn allow_redirect(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        if self.interfaces.iter().any(|(i, _)| *i == ifindex) {
            return Ok(());
        }
        self.devmap
            .insert(ifindex, ifindex, None, 0)
            .map_err(|source| DatapathError::Devmap { ifindex, source })?;
        // A slot left by an earlier run (pinned maps) keeps its counters;
        // otherwise the next one after every slot in use.
        // (An ifindex beyond the array has no slot: 0.)
        let kept = self.ifindex_slots.get(&ifindex, 0).unwrap_or_default();
        let used_max = self.interfaces.iter().map(|(_, s)| *s).max().unwrap_or(0);
        let slot = if kept != 0 {
            kept
        } else {
            used_max.max(self.max_pinned_slot()) + 1
        };
        if slot <= MAX_INTERFACES && ifindex < MAX_IFINDEX {
            self.ifindex_slots.set(ifindex, slot, 0).map_err(map_err(
                names::IFINDEX_SLOTS,
                format!("writing ifindex {ifindex}"),
            ))?;
        } else {
            warn!(
                "interface {ifindex}: no counter slot left, its packets are counted as \"other\""
            );
        }
        self.interfaces.push((ifindex, slot));
        Ok(())
    }
}
