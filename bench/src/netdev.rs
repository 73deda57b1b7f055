//! Building blocks of an arena's network: namespaces, veth pairs,
//! addresses, neighbours, and the NAPI threads of an interface.

use std::{fs, net::Ipv4Addr};

use anyhow::Result;

use crate::{arena::Offloads, infra::Netns};

/// A namespace with IPv6 off (no router solicitations in the counts).
pub(crate) fn new_ns(role: &str) -> Result<Netns> {
    let ns = Netns::new(role)?;
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
    Ok(ns)
}

/// A veth pair `a_if` in `a` -- `b_if` in `b` with the arena's offloads.
pub(crate) fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str, offloads: Offloads) -> Result<()> {
    let features: &[&str] = match offloads {
        Offloads::On => &["tx", "off", "gro", "on", "gso", "on"],
        Offloads::Off => &["tx", "off", "tso", "off", "gso", "off", "gro", "off"],
    };
    Ok(a.veth(a_if, b, b_if, features)?)
}

/// Address (/24) and link up.
pub(crate) fn up(ns: &Netns, name: &str, addr: Ipv4Addr) -> Result<()> {
    ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", name])?;
    ns.ip(&["link", "set", name, "up"])?;
    Ok(())
}

/// A permanent neighbour entry.
pub(crate) fn neigh(ns: &Netns, addr: Ipv4Addr, mac: [u8; 6], dev: &str) -> Result<()> {
    let mac = mac.map(|b| format!("{b:02x}")).join(":");
    ns.ip(&[
        "neigh",
        "replace",
        &addr.to_string(),
        "lladdr",
        &mac,
        "dev",
        dev,
        "nud",
        "permanent",
    ])?;
    Ok(())
}

/// Turns threaded NAPI on for `name` (when it has NAPI: GRO or XDP).
pub(crate) fn threaded_napi(ns: &Netns, name: &str) -> Result<()> {
    let path = format!("/sys/class/net/{name}/threaded");
    // Without NAPI the write fails; the NAPI added later (XDP attach)
    // inherits the flag where it was set, and `pin` checks the result.
    let _ = ns.run(&["sh", "-c", &format!("echo 1 > {path}")]);
    Ok(())
}

/// Thread ids of the NAPI kthreads of interface `name` (`napi/<name>-<id>`).
pub(crate) fn napi_threads(name: &str) -> Vec<libc::pid_t> {
    let prefix = format!("napi/{name}-");
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(std::result::Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with(&prefix))
        })
        .collect()
}
