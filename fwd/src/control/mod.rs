//! The control socket of a running `fwd attach`, and the commands that ask
//! it: `fwd status` and `fwd flows`.
//!
//! `fwd attach` listens on a Unix socket ([`DEFAULT_SOCKET`] unless
//! `--control PATH`; mode 0600, removed at exit). A client connects, sends
//! one JSON [`protocol::Request`] line, and reads one JSON
//! [`protocol::Response`] line. The server ([`server`]) answers from the shared state of
//! the relay ([`answer`]); the client ([`client`]) prints the answer as
//! tables ([`render`]) or, with `--json`, as it is.

pub(crate) mod answer;
pub(crate) mod client;
pub(crate) mod lifecycle;
pub(crate) mod protocol;
pub(crate) mod render;
pub(crate) mod server;

pub(crate) use self::server::ControlSocket;

/// Where `fwd attach` listens and `fwd status`/`fwd flows` connect by
/// default.
pub(crate) const DEFAULT_SOCKET: &str = "/run/fwd/fwd.sock";

#[cfg(test)]
mod tests;
