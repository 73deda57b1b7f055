//! Rows that break a map the loader owns first, the way a loader bug (or a
//! detach in progress) leaves it, to provoke the reasons that count such a
//! bug; and the helpers that break them. The maps are found through the
//! loaded program (`BPF_OBJ_GET_INFO_BY_FD` lists its map ids), so the
//! loader's own API stays free of test-only writers.

use aya::maps::{Array, DevMapHash, HashMap, Map, MapData};
use fwd::{config::RelaySettings, datapath::Datapath};
use fwd_common::{
    counters::xdp_action,
    flow::tcp_flags::*,
    hash::flow_hash4,
    maps::{BACKENDS4, DEVMAP, MAGLEV, MAGLEV_SIZE, SERVICES4},
    service::maglev_index,
    Flow4Key, Reason, Service4, Service4Key, IPPROTO_TCP,
};
use integration_test::{
    addr::sa,
    packet::PacketBuilder,
    prog_test_run::{
        env::{self, *},
        run::run,
    },
};

use crate::{
    case::{from_client, to_backend, Case},
    model::SnatModel,
};

/// Breaks a map before a row runs.
pub type BreakMaps = Box<dyn Fn(&mut Datapath)>;

/// Rows that need a map broken first, the way a loader bug (or a detach in
/// progress) leaves it; each runs on a fresh datapath, after its breakage.
pub fn broken_map_cases() -> Vec<(BreakMaps, Case)> {
    let client = sa(CLIENT, 40000);
    let vip = sa(VIP, VIP_TCP_PORT);
    let syn = from_client(PacketBuilder::tcp(client, vip, SYN));
    let service = Service4Key::new(VIP, VIP_TCP_PORT, IPPROTO_TCP);
    let p_tcp = SnatModel::default()
        .claim(client, vip, IPPROTO_TCP, sa(BACKEND, 80))
        .expect("a free SNAT port");
    let open_flow = syn.clone();
    vec![
        (
            Box::new(move |dp: &mut Datapath| {
                let out = run(dp, ifindex(CLIENT_IF), &open_flow);
                assert_eq!(out.action, xdp_action::REDIRECT, "the flow opens");
                remove_from_devmap(dp, ifindex(BACKEND_IF));
            }),
            Case::translated(
                "a flow whose cached egress left DEVMAP is translated, then dropped",
                CLIENT_IF,
                from_client(PacketBuilder::tcp(client, vip, ACK)),
                Reason::DropRedirectFailed,
                to_backend(PacketBuilder::tcp(sa(SNAT, p_tcp), sa(BACKEND, 80), ACK)),
            )
            .backend(backend_id::TCP),
        ),
        (
            Box::new(move |dp: &mut Datapath| {
                let beyond = maglev_len(dp) / MAGLEV_SIZE;
                edit_service(dp, service, |s| s.maglev_table = beyond);
            }),
            Case::pass(
                "a service whose Maglev table lies beyond MAGLEV is dropped",
                CLIENT_IF,
                syn.clone(),
                Reason::DropNoMaglevEntry,
            ),
        ),
        (
            Box::new(move |dp: &mut Datapath| {
                let table = dp
                    .service_entries()
                    .expect("services")
                    .into_iter()
                    .find(|(k, _)| *k == service)
                    .expect("the TCP service")
                    .1
                    .maglev_table;
                let key = Flow4Key::new(CLIENT, 40000, VIP, VIP_TCP_PORT, IPPROTO_TCP);
                let beyond = backends_len(dp);
                set_maglev_entry(dp, maglev_index(table, flow_hash4(&key)), beyond);
            }),
            Case::pass(
                "a Maglev entry naming a backend beyond BACKENDS4 is dropped",
                CLIENT_IF,
                syn.clone(),
                Reason::DropNoBackendEntry,
            ),
        ),
        (
            Box::new(|dp: &mut Datapath| {
                // What an entry the loader never wrote holds: all zeros.
                let unwritten = RelaySettings {
                    snat_ports: 0..=0,
                    ..env::settings()
                };
                dp.set_relay_config(&unwritten).expect("write RELAY_CONFIG");
            }),
            Case::pass(
                "a new flow without a SNAT port range is dropped",
                CLIENT_IF,
                syn,
                Reason::DropNoSnatPorts,
            ),
        ),
    ]
}

/// The map called `name` of the programs (the attached one and the full
/// one it tail-calls).
fn map_named(dp: &mut Datapath, name: &str) -> MapData {
    let map_ids = |p: &mut aya::programs::Xdp| {
        p.info()
            .expect("program info")
            .map_ids()
            .expect("map ids")
            .expect("the kernel lists the program's maps")
    };
    let mut ids = map_ids(dp.program());
    ids.extend(map_ids(dp.full_program()));
    ids.into_iter()
        .map(|id| MapData::from_id(id).expect("map by id"))
        .find(|m| {
            m.info()
                .ok()
                .and_then(|i| i.name_as_str().map(|n| n == name))
                == Some(true)
        })
        .unwrap_or_else(|| panic!("the program has no map {name}"))
}

/// Removes `ifindex` from `DEVMAP` behind the loader's back (as when it
/// detaches an interface while flows still cache it as their egress).
pub fn remove_from_devmap(dp: &mut Datapath, ifindex: u32) {
    let mut devmap = DevMapHash::<MapData>::try_from(Map::DevMapHash(map_named(dp, DEVMAP)))
        .expect("DEVMAP is a devmap hash");
    devmap.remove(ifindex).expect("remove from DEVMAP");
}

/// Rewrites the `SERVICES4` entry `key` with `edit` applied.
pub fn edit_service(dp: &mut Datapath, key: Service4Key, edit: impl FnOnce(&mut Service4)) {
    let mut services: HashMap<MapData, Service4Key, Service4> =
        HashMap::try_from(Map::HashMap(map_named(dp, SERVICES4))).expect("SERVICES4 is a hash");
    let mut value = services.get(&key, 0).expect("the service entry");
    edit(&mut value);
    services.insert(key, value, 0).expect("write SERVICES4");
}

/// Writes `backend_id` into `MAGLEV` at `index`.
pub fn set_maglev_entry(dp: &mut Datapath, index: u32, backend_id: u32) {
    let mut maglev: Array<MapData, u32> =
        Array::try_from(Map::Array(map_named(dp, MAGLEV))).expect("MAGLEV is an array");
    maglev.set(index, backend_id, 0).expect("write MAGLEV");
}

/// The number of entries of `BACKENDS4`: the first backend id beyond it.
pub fn backends_len(dp: &mut Datapath) -> u32 {
    map_named(dp, BACKENDS4)
        .info()
        .expect("BACKENDS4 info")
        .max_entries()
}

/// The number of entries of `MAGLEV`.
pub fn maglev_len(dp: &mut Datapath) -> u32 {
    map_named(dp, MAGLEV)
        .info()
        .expect("MAGLEV info")
        .max_entries()
}
