//! fwd: the loader of the fwd XDP relay.
//!
//! `fwd attach` reads the service map ([`config`]), resolves backend names
//! ([`dns`]), checks the host (`host`) and turns all of it into a
//! [`plan::Plan`] through one pipeline (`pipeline`, also used by `fwd check`
//! and every reload), installs it through [`datapath::Datapath`] (the only
//! owner of the eBPF maps), attaches the program and runs the tasks
//! (`tasks`: GC, flow events, DNS, health, control socket) until it is
//! stopped ([`run`]). Changes while running go through `reconcile`.
//!
//! Modules depend on each other in one direction, from the commands down
//! to pure pieces (`cargo xtask lint` fails on a cycle):
//!
//! | layer | modules |
//! |---|---|
//! | leaves | `clock`, `text`, [`config`], `flows`, [`maglev`] |
//! | model | [`plan`], [`dns`], `health` |
//! | host | [`host`], `ids`, `flowlog`, `pipeline`, `report` |
//! | datapath | [`datapath`]: aya types never leave it |
//! | runtime | `gc`, `reconcile`, `state`, `control`, [`metrics`] |
//! | top | [`cli`], `tasks`, [`run`] |

#![warn(unreachable_pub)]

pub mod cli;
mod clock;
pub mod config;
mod control;
pub mod datapath;
pub mod dns;
mod flowlog;
mod flows;
mod gc;
mod health;
pub mod host;
mod ids;
pub mod maglev;
pub mod metrics;
mod pipeline;
pub mod plan;
mod reconcile;
mod report;
pub mod run;
mod state;
mod tasks;
#[cfg(test)]
mod testing;
mod text;
