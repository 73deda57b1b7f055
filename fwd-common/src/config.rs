//! Datapath settings, set by the loader in [`crate::maps::RELAY_CONFIG`].

/// Settings the datapath reads when it starts a flow. One entry, index 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayConfig {
    /// First SNAT source port, host order.
    pub snat_port_min: u16,
    /// Last SNAT source port (inclusive), host order.
    pub snat_port_max: u16,
    /// Reserved for flags; zero.
    pub flags: u32,
    /// The secret of the SNAT port candidates (`crate::hash::port_hash4`):
    /// random, chosen by the loader when it creates the datapath and kept
    /// with the pinned state across restarts.
    pub port_key: [u32; 4],
    /// Reserved; zero.
    pub reserved: [u32; 2],
}
const _: () = assert!(core::mem::size_of::<RelayConfig>() == 32);

impl RelayConfig {
    /// Number of ports in the SNAT range (0 when the range is empty/unset).
    #[inline(always)]
    pub const fn snat_port_count(&self) -> u32 {
        if self.snat_port_max < self.snat_port_min || self.snat_port_min == 0 {
            0
        } else {
            (self.snat_port_max - self.snat_port_min) as u32 + 1
        }
    }
}
