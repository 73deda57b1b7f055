//! Packet tests: the real XDP program run through `BPF_PROG_TEST_RUN` on a
//! table of frames, each checked for verdict, output bytes (byte for byte
//! against a frame built from scratch, and both checksums verified
//! independently), counters and connection-table changes.
//!
//! Needs root (BPF and a private network namespace); `cargo xtask test`
//! runs it.
//!
//! - `case.rs`: what a row is; `fixtures.rs`: the main table's rows;
//!   `broken.rs`: rows that first break a map the loader owns;
//! - `runner.rs`: runs rows and checks each (verdict, output bytes,
//!   counters, connection table, flow events);
//! - `scenarios.rs`, `maglev.rs`, `reject.rs`, `pinned.rs`, `access.rs`:
//!   sequences a row cannot express; `mss.rs`: MSS clamping, rows on a plan of its
//!   own; `model.rs`: the SNAT ports expected.

mod access;
mod broken;
mod case;
mod fixtures;
mod frag;
mod icmp;
mod maglev;
mod model;
mod mss;
mod pinned;
mod reject;
mod runner;
mod scenarios;

use integration_test::prog_test_run::env::in_relay_netns;

#[test]
fn allow_and_deny_lists_decide_who_opens_flows() {
    in_relay_netns(access::allow_and_deny_lists);
}

#[test]
fn fixture_table() {
    in_relay_netns(runner::table);
}

#[test]
fn each_loader_bug_is_a_drop_of_its_own_reason() {
    in_relay_netns(runner::broken_map_table);
}

#[test]
fn snat_port_exhaustion_is_a_counted_drop() {
    in_relay_netns(scenarios::snat_exhaustion);
}

#[test]
fn full_conntrack_refuses_new_flows_and_keeps_live_ones() {
    in_relay_netns(scenarios::conntrack_full);
}

#[test]
fn snat_ports_are_keyed_by_a_secret_of_each_datapath() {
    in_relay_netns(scenarios::keyed_snat_ports);
}

#[test]
fn start_events_say_whether_a_syn_could_have_been_answered() {
    in_relay_netns(scenarios::answerable_syns);
}

#[test]
fn flow_events_report_start_and_end_with_counters() {
    in_relay_netns(scenarios::flow_events);
}

#[test]
fn weighted_maglev_selection_and_drain_keeps_live_flows() {
    in_relay_netns(maglev::weighted_selection_and_drain);
}

#[test]
fn a_syn_on_a_closed_tuple_picks_its_backend_anew() {
    in_relay_netns(maglev::reopened_tuple_after_drain);
}

#[test]
fn no_usable_backend_answers_rst_or_icmp_unreachable() {
    in_relay_netns(reject::rejects_when_no_backend_is_usable);
}

#[test]
fn the_relays_own_icmp_errors_are_rate_limited() {
    in_relay_netns(icmp::router_answers_are_rate_limited);
}

#[test]
fn syn_and_syn_ack_mss_is_clamped_with_the_checksum_updated() {
    in_relay_netns(mss::table);
}

#[test]
fn pinned_state_survives_a_restart() {
    in_relay_netns(pinned::pinned_state_survives_a_restart);
}

#[test]
fn fragments_ahead_of_their_first_are_held_then_run_again() {
    in_relay_netns(frag::held_until_their_first);
}

#[test]
fn held_fragments_are_bounded_and_unfragmented_traffic_flows() {
    in_relay_netns(frag::holding_is_bounded);
}
