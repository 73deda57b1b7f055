//! Network interfaces and the host's own IPv4 addresses.

use std::{
    ffi::{CStr, CString},
    io,
    net::Ipv4Addr,
};

/// A network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Index (what routes and the devmap use).
    pub index: u32,
}

/// An IPv4 address configured on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The interface it is on.
    pub ifname: String,
}

/// Every interface of this network namespace, by index.
pub fn interfaces() -> io::Result<Vec<Interface>> {
    // SAFETY: if_nameindex returns a heap array ended by a zero entry, freed
    // below with if_freenameindex; names are NUL-terminated C strings.
    unsafe {
        let head = libc::if_nameindex();
        if head.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut p = head;
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            let name = CStr::from_ptr((*p).if_name).to_string_lossy().into_owned();
            out.push(Interface {
                name,
                index: (*p).if_index,
            });
            p = p.add(1);
        }
        libc::if_freenameindex(head);
        out.sort_by_key(|i| i.index);
        Ok(out)
    }
}

/// The index of interface `name`, if it exists.
pub fn index_of(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// `ARPHRD_ETHER`: Ethernet framing.
pub const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`: the loopback device, which frames like Ethernet.
pub const ARPHRD_LOOPBACK: u16 = 772;
/// `ARPHRD_NONE`: no link-layer header (WireGuard, tun).
pub const ARPHRD_NONE: u16 = 65534;

/// The link type (`ARPHRD_*`) of interface `name`, asked of the kernel
/// (`SIOCGIFHWADDR`) in this process's network namespace.
pub fn link_type(name: &str) -> io::Result<u16> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if c.as_bytes_with_nul().len() > libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: a plain socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: an all-zero ifreq is valid; the name fits (checked above)
    // with its NUL; the kernel fills ifr_hwaddr.
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(c.as_bytes_with_nul()) {
            *dst = *src as libc::c_char;
        }
        let rc = libc::ioctl(fd, libc::SIOCGIFHWADDR, &raw mut req);
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(req.ifr_ifru.ifru_hwaddr.sa_family)
        }
    };
    // SAFETY: `fd` is ours.
    unsafe { libc::close(fd) };
    result
}

/// Every IPv4 address configured on this host.
pub fn local_addrs() -> io::Result<Vec<LocalAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed by freeifaddrs below;
    // for AF_INET entries, ifa_addr points to a sockaddr_in.
    unsafe {
        if libc::getifaddrs(&raw mut head) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                let ifname = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
                out.push(LocalAddr { addr, ifname });
            }
            p = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_address() {
        let ifs = interfaces().unwrap();
        let lo = ifs.iter().find(|i| i.name == "lo").expect("lo");
        assert_eq!(index_of("lo"), Some(lo.index));
        assert_eq!(index_of("no-such-if0"), None);
        assert_eq!(index_of("bad\0name"), None);
        assert_eq!(link_type("lo").unwrap(), ARPHRD_LOOPBACK);
        assert!(link_type("no-such-if0").is_err());
        let addrs = local_addrs().unwrap();
        assert!(
            addrs.contains(&LocalAddr {
                addr: Ipv4Addr::LOCALHOST,
                ifname: "lo".into()
            }),
            "{addrs:?}"
        );
    }
}
