//! Stage 6: redirect. Turns the route into the verdict. Never writes.

use fwd_common::Reason;

use crate::{maps::DEVMAP, route::Egress};

/// The reason (and so the XDP action) for a rewritten packet leaving by `egress`.
#[inline(always)]
pub fn send(egress: &Egress) -> Reason {
    match egress {
        Egress::Tx { .. } => Reason::ForwardedTx,
        Egress::Redirect { ifindex, .. } => match DEVMAP.redirect(*ifindex, 0) {
            Ok(_) => Reason::ForwardedRedirect,
            // The interface left DEVMAP since the route stage saw it (the
            // loader is detaching): the frame already carries the next hop's
            // MAC, so the kernel could not use it either.
            Err(_) => Reason::DropRedirectFailed,
        },
        Egress::Kernel(reason) => *reason,
    }
}

/// The reason for a packet leaving by `egress` that is counted apart from
/// relayed packets (a translated ICMP error, a later fragment): the same
/// action as [`send`], under `tx` or `redirect`.
#[inline(always)]
pub fn send_as(egress: &Egress, tx: Reason, redirect: Reason) -> Reason {
    match send(egress) {
        Reason::ForwardedTx => tx,
        Reason::ForwardedRedirect => redirect,
        other => other,
    }
}
