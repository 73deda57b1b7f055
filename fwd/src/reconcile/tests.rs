//! Deciding a change (ids, settings that need a restart, counters to
//! reset) and the reconciler's promise: on any error neither the desired
//! state nor what is installed changes. Installing into a real datapath
//! is tested as root in the integration tests (reload, restart).

use std::{
    collections::BTreeSet,
    io::Write as _,
    net::Ipv4Addr,
    sync::{Arc, Mutex},
};

use super::*;
use crate::{
    dns::Answers,
    host::testing::{both, facts, ip},
    plan::BackendRef,
};

const FILE: &str = r#"
[[service]]
name = "web"
listen = "198.18.0.10:80"
protocol = "tcp"
backends = ["198.19.0.5:8080", "198.19.0.6:8080"]
"#;

/// Plans with the hand-built facts of `host::testing`.
fn hand_planner(d: &Desired) -> Result<Plan, PlanError> {
    let config = pipeline::expand(&d.config, &d.resolved);
    pipeline::plan(&config, &facts(), &d.interfaces, &d.down).map(|p| p.plan)
}

fn desired(text: &str) -> Desired {
    Desired {
        config: Config::parse(text).unwrap(),
        interfaces: both(),
        down: BTreeSet::new(),
        resolved: Answers::new(),
    }
}

fn plan_of(text: &str) -> Plan {
    hand_planner(&desired(text)).unwrap()
}

fn ids(plan: &Plan) -> Vec<(Ipv4Addr, u32)> {
    plan.backends().map(|(_, b)| (b.addr, b.id)).collect()
}

#[test]
fn kept_backends_keep_their_ids_and_new_ones_are_fresh() {
    let current = plan_of(FILE);
    let book = IdBook::of(&current);
    // 198.19.0.5 leaves, 198.19.0.7 comes.
    let next = plan_of(&FILE.replace("198.19.0.5:8080", "198.19.0.7:8080"));
    let c = change(&current, next, &book, &Busy::default()).unwrap();
    assert_eq!(
        ids(&c.plan),
        vec![(ip("198.19.0.7"), 0), (ip("198.19.0.6"), 1)],
        "the free id 0 is reused when no flow holds it"
    );
    assert_eq!(c.fresh_backends, Vec::<u32>::new(), "id 0 existed before");
}

#[test]
fn an_id_held_by_live_flows_is_not_reused() {
    let current = plan_of(FILE);
    let book = IdBook::of(&current);
    let next = plan_of(&FILE.replace("198.19.0.5:8080", "198.19.0.7:8080"));
    let busy = Busy {
        services: [0].into(),
        backends: [0].into(),
    };
    let c = change(&current, next, &book, &busy).unwrap();
    assert_eq!(
        ids(&c.plan),
        vec![(ip("198.19.0.7"), 2), (ip("198.19.0.6"), 1)]
    );
    assert_eq!(c.fresh_backends, vec![2], "its counters start from zero");
    assert_eq!(c.plan.services[0].id, 0, "the service keeps its id");
}

#[test]
fn table_sizes_cannot_change_while_running() {
    let current = plan_of(FILE);
    let book = IdBook::of(&current);
    for (key, line) in [
        ("max_flows", "max_flows = 4096"),
        ("max_services", "max_services = 128"),
    ] {
        let next = plan_of(&format!("{FILE}\n[relay]\n{line}\n"));
        let err = change(&current, next, &book, &Busy::default()).unwrap_err();
        assert!(
            matches!(err, ApplyError::NeedsRestart { key: k } if k == key),
            "{err:?}"
        );
    }
    // Other settings may change.
    let next = plan_of(&format!("{FILE}\n[relay]\nudp_timeout = \"3m\"\n"));
    assert!(change(&current, next, &book, &Busy::default()).is_ok());
}

/// Records what it is asked to install; refuses when told to.
#[derive(Default)]
struct Recorder {
    installed: Mutex<Vec<Plan>>,
    refuse: bool,
}

impl Install for Recorder {
    fn install(&self, plan: Plan) -> Result<Arc<Plan>, ApplyError> {
        if self.refuse {
            return Err(ApplyError::NeedsRestart { key: "max_flows" });
        }
        self.installed.lock().unwrap().push(plan.clone());
        Ok(Arc::new(plan))
    }
}

fn web_6() -> BackendRef {
    BackendRef {
        service: "web".into(),
        addr: ip("198.19.0.6"),
        port: Some(8080),
    }
}

#[test]
fn replan_installs_the_changed_desired_state_and_keeps_it() {
    let r = Reconciler::with_planner(desired(FILE), "unused".into(), hand_planner);
    let to = Recorder::default();
    let plan = r
        .replan(&to, |d| {
            d.down.insert(web_6());
        })
        .unwrap();
    assert_eq!(plan.services[0].backends[1].weight, 0);
    assert_eq!(to.installed.lock().unwrap().len(), 1);
    assert!(r.desired().down.contains(&web_6()));
}

#[test]
fn a_refused_plan_or_install_changes_nothing() {
    let r = Reconciler::with_planner(desired(FILE), "unused".into(), hand_planner);
    let before = r.desired();
    // A backend without a route: the pipeline refuses.
    let to = Recorder::default();
    let err = r
        .replan(&to, |d| {
            d.config = Config::parse(&FILE.replace("198.19.0.6", "198.19.2.5")).unwrap();
        })
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::Plan(PlanError::Checks(_))),
        "{err:?}"
    );
    assert!(to.installed.lock().unwrap().is_empty());
    assert_eq!(r.desired(), before);
    // The datapath refuses.
    let refusing = Recorder {
        refuse: true,
        ..Recorder::default()
    };
    r.replan(&refusing, |d| {
        d.down.insert(web_6());
    })
    .unwrap_err();
    assert_eq!(r.desired(), before);
}

#[test]
fn reload_reads_the_file_again_and_refuses_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("fwd-reconcile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("maps.toml");
    std::fs::write(&file, FILE).unwrap();
    let r = Reconciler::with_planner(desired(FILE), file.clone(), hand_planner);
    let to = Recorder::default();

    let added = FILE.replace(
        "\"198.19.0.6:8080\"]",
        "\"198.19.0.6:8080\", \"198.19.0.7:8080\"]",
    );
    std::fs::write(&file, &added).unwrap();
    let reloaded = r.reload(&to).unwrap();
    assert_eq!(reloaded.plan.backends().count(), 3);
    assert!(reloaded.new_names.is_empty());
    assert_eq!(r.desired().config, Config::parse(&added).unwrap());

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(f, "[[service]]\nname = 3").unwrap();
    let err = r.reload(&to).unwrap_err();
    assert!(matches!(err, ReloadError::Config { .. }), "{err:?}");
    assert_eq!(r.desired().config, Config::parse(&added).unwrap());
    assert_eq!(to.installed.lock().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
