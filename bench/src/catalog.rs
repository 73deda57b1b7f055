//! The tests of the bench: a table of (ID, name, function) in the order
//! they run, and the selection `--only` makes from it.

use anyhow::{bail, Result};
use clap::builder::{PossibleValue, PossibleValuesParser};

use crate::{
    suite::Ctx, t1_udp, t2_churn, t3_latency, t4_connections, t5_bulk, t6_program, t7_table,
};

/// One test of the bench.
pub(crate) struct Test {
    /// `T1` ... `T7`: what `--only` takes; the test names in the results
    /// start with it.
    pub id: &'static str,
    /// What it measures, in a few words (for `--help` and the log).
    pub name: &'static str,
    /// Runs it on every competitor it applies to, recording into
    /// [`Ctx::results`].
    pub run: fn(&mut Ctx<'_>) -> Result<()>,
}

/// Every test, in the order they run (and the results list them).
pub(crate) const TESTS: &[Test] = &[
    Test {
        id: "T6",
        name: "the XDP program's own cost (BPF_PROG_TEST_RUN)",
        run: t6_program::run,
    },
    Test {
        id: "T1",
        name: "64-byte UDP forwarding, 1 and 1,024 flows",
        run: t1_udp::run,
    },
    Test {
        id: "T2",
        name: "new-flow churn (UDP)",
        run: t2_churn::run,
    },
    Test {
        id: "T3",
        name: "1-byte TCP request/response latency",
        run: t3_latency::run,
    },
    Test {
        id: "T4",
        name: "new TCP connections per second",
        run: t4_connections::run,
    },
    Test {
        id: "T5",
        name: "bulk TCP (iperf3), offloads on and off",
        run: t5_bulk::run,
    },
    Test {
        id: "T7",
        name: "established flows with 1,024 and a million live flows",
        run: t7_table::run,
    },
];

/// The tests `only` names (IDs in any case), in the order they run; all
/// of them when `only` is empty. An ID not in [`TESTS`] is an error that
/// lists the IDs.
pub(crate) fn select(only: &[String]) -> Result<Vec<&'static Test>> {
    if let Some(unknown) = only.iter().find(|id| find(id).is_none()) {
        bail!("--only: no test `{unknown}`; the tests are {}", ids());
    }
    Ok(TESTS
        .iter()
        .filter(|t| only.is_empty() || only.iter().any(|id| t.id.eq_ignore_ascii_case(id)))
        .collect())
}

/// `--only`'s parser: the IDs of [`TESTS`] with their names, listed by
/// `--help` and in clap's error for an unknown ID.
pub(crate) fn id_parser() -> PossibleValuesParser {
    let mut tests: Vec<&Test> = TESTS.iter().collect();
    tests.sort_by_key(|t| t.id);
    PossibleValuesParser::new(
        tests
            .into_iter()
            .map(|t| PossibleValue::new(t.id).help(t.name)),
    )
}

/// The test with this ID (in any case).
fn find(id: &str) -> Option<&'static Test> {
    TESTS.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// The IDs, in order, for messages: `T1, T2, ...`.
fn ids() -> String {
    let mut ids: Vec<&str> = TESTS.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    ids.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_in_run_order_and_refuses_unknown_ids() {
        let all: Vec<&str> = select(&[]).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(all, ["T6", "T1", "T2", "T3", "T4", "T5", "T7"]);
        let some = select(&["t1".into(), "T6".into()]).unwrap();
        assert_eq!(some.iter().map(|t| t.id).collect::<Vec<_>>(), ["T6", "T1"]);
        let err = select(&["T1".into(), "T9".into()]).map(|_| ()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--only: no test `T9`; the tests are T1, T2, T3, T4, T5, T6, T7"
        );
    }
}
