//! The flow log, the control socket, `fwd status` and `fwd flows`, against
//! a real `fwd attach` relaying real TCP and UDP between namespaces. Needs
//! root and the release binary (FWD_BIN).
//!
//! What users rely on, and each test checks:
//! - every TCP connection gives one start and one end line (reason `fin`)
//!   naming the client's real address:port, the VIP, the backend and the
//!   SNAT address:port the backend saw, with traffic both ways, and the GC
//!   does not end it a second time;
//! - a UDP flow ends with reason `timeout` once idle past `udp_timeout`;
//! - `fwd flows --snat` names the client behind a relay port while its
//!   connection is open; the other filters work; `fwd status` shows the
//!   interfaces, modes, services and counters that match the traffic;
//! - without a running instance, both commands exit 1 with a clear message;
//!   a second instance on the same control socket is refused, a stale
//!   socket file is replaced, and the socket is removed at exit.

mod control;
mod env;
mod flow_log;
