//! Sending hand-built IPv4 packets, header included, from the namespace
//! the calling thread is in: for what a kernel's own stack would not send
//! the way a network may deliver it, such as fragments out of order.

use std::{io, mem::size_of};

/// Sends each IPv4 packet (no Ethernet header) as it is, in order, through
/// a raw socket (`IPPROTO_RAW`: the kernel fills in the header checksum and
/// routes by the destination address, and leaves the fragment fields).
pub fn send_ipv4(packets: &[&[u8]]) -> io::Result<()> {
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = packets.iter().try_for_each(|p| send_one(fd, p));
    // SAFETY: the descriptor opened above, closed once.
    unsafe { libc::close(fd) };
    result
}

fn send_one(fd: i32, packet: &[u8]) -> io::Result<()> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an IPv4 packet",
        ));
    }
    let to = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([packet[16], packet[17], packet[18], packet[19]]),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `packet` and `to` are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd,
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&raw const to).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
