//! Attaching the program to interfaces, and the devmap of redirect targets.

use std::fmt;

use aya::programs::{xdp::XdpLinkId, XdpMode};
use log::{info, warn};

use fwd_common::maps::{self as names, MAX_IFINDEX, MAX_INTERFACES};

use super::{error::map_err, Attachment, Datapath, DatapathError};
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
}

impl fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachedMode::Native => "native",
            AttachedMode::Generic => "generic",
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
                        crate::error_chain(&e)
                    );
                    (
                        self.attach_as(ifname, ifindex, AttachedMode::Generic)?,
                        AttachedMode::Generic,
                    )
                }
            },
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
            AttachedMode::Generic => XdpMode::Skb,
        };
        self.program()
            .attach_to_if_index(ifindex, flags)
            .map_err(|source| match mode {
                AttachedMode::Native => DatapathError::NativeRefused {
                    ifname: ifname.into(),
                    source,
                },
                AttachedMode::Generic => DatapathError::Attach {
                    ifname: ifname.into(),
                    mode,
                    source,
                },
            })
    }

    /// Detaches from every interface (also done on drop); logs each.
    pub fn detach_all(&mut self) {
        while let Some(a) = self.attachments.pop() {
            match self.program().detach(a.link) {
                Ok(()) => info!("detached from {}", a.ifname),
                Err(e) => warn!("detaching from {}: {}", a.ifname, crate::error_chain(&e)),
            }
        }
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
        let slot = self.interfaces.len() as u32 + 1;
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
