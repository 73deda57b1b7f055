//! Breaking the maps the loader owns, the way a loader bug would leave
//! them, to provoke the reasons that count such a bug. The maps are found
//! through the loaded program (`BPF_OBJ_GET_INFO_BY_FD` lists its map ids),
//! so the loader's own API stays free of test-only writers.

use aya::maps::{Array, DevMapHash, HashMap, Map, MapData};
use fwd::datapath::Datapath;
use fwd_common::{
    maps::{BACKENDS4, DEVMAP, MAGLEV, SERVICES4},
    Service4, Service4Key,
};

/// The map of the program called `name`.
fn map_named(dp: &mut Datapath, name: &str) -> MapData {
    let ids = dp
        .program()
        .info()
        .expect("program info")
        .map_ids()
        .expect("map ids")
        .expect("the kernel lists the program's maps");
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
