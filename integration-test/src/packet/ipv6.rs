//! IPv6 extension headers ([`Ipv6Ext`]) as the builder writes them.

/// Next-header number of a hop-by-hop options header.
pub const NEXT_HOP_BY_HOP: u8 = 0;
/// Next-header number of a routing header.
pub const NEXT_ROUTING: u8 = 43;
/// Next-header number of a fragment header.
pub const NEXT_FRAGMENT: u8 = 44;
/// Next-header number of ICMPv6.
pub const NEXT_ICMPV6: u8 = 58;
/// Next-header number of a destination options header.
pub const NEXT_DEST_OPTIONS: u8 = 60;

/// An IPv6 extension header (RFC 8200 section 4), in the order added with
/// [`super::PacketBuilder::ipv6_ext`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options: the option TLVs, padded with Pad1/PadN to a
    /// multiple of 8 bytes with the 2-byte header.
    HopByHop(Vec<u8>),
    /// A routing header.
    Routing {
        /// Routing type (e.g. 4, segment routing; 0 is deprecated).
        routing_type: u8,
        /// Segments left.
        segments_left: u8,
        /// The type-specific data after the first 4 bytes, padded with
        /// zeros to a multiple of 8 bytes with them.
        data: Vec<u8>,
    },
    /// Destination options, padded as [`Ipv6Ext::HopByHop`].
    DestinationOptions(Vec<u8>),
    /// A fragment header.
    Fragment {
        /// Fragment offset in units of 8 bytes (13 bits).
        offset: u16,
        /// More fragments follow.
        more: bool,
        /// Identification.
        id: u32,
    },
}

impl Ipv6Ext {
    /// The next-header number that announces this header.
    pub fn number(&self) -> u8 {
        match self {
            Ipv6Ext::HopByHop(_) => NEXT_HOP_BY_HOP,
            Ipv6Ext::Routing { .. } => NEXT_ROUTING,
            Ipv6Ext::DestinationOptions(_) => NEXT_DEST_OPTIONS,
            Ipv6Ext::Fragment { .. } => NEXT_FRAGMENT,
        }
    }

    /// The header's bytes, announcing `next` as the header after it.
    pub(crate) fn bytes(&self, next: u8) -> Vec<u8> {
        let mut h = vec![next, 0];
        match self {
            Ipv6Ext::HopByHop(opts) | Ipv6Ext::DestinationOptions(opts) => {
                h.extend_from_slice(opts);
                let pad = (8 - h.len() % 8) % 8;
                match pad {
                    0 => {}
                    1 => h.push(0), // Pad1
                    n => {
                        h.extend_from_slice(&[1, (n - 2) as u8]); // PadN
                        h.resize(h.len() + n - 2, 0);
                    }
                }
            }
            Ipv6Ext::Routing {
                routing_type,
                segments_left,
                data,
            } => {
                h.extend_from_slice(&[*routing_type, *segments_left]);
                h.extend_from_slice(data);
                h.resize(h.len().div_ceil(8) * 8, 0);
            }
            Ipv6Ext::Fragment { offset, more, id } => {
                assert!(
                    *offset <= 0x1fff,
                    "fragment offset {offset} does not fit in 13 bits"
                );
                h.extend_from_slice(&(offset << 3 | u16::from(*more)).to_be_bytes());
                h.extend_from_slice(&id.to_be_bytes());
                // The length field of a fragment header is reserved (0).
                return h;
            }
        }
        h[1] = u8::try_from(h.len() / 8 - 1).expect("extension header fits in 2 KiB");
        h
    }
}
