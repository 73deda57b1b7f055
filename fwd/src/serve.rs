//! The running phase of `fwd attach`: the tasks that share the relay's
//! state ([`Shared`]) until a signal stops them.
//!
//! - the GC expires idle flows every `gc_interval` and sends the end events
//!   of the flows it deletes to the flow sink;
//! - the flow-event consumer reads the datapath's ring buffer into the same
//!   sink ([`crate::flowlog`]);
//! - the control server answers `fwd status` and `fwd flows`
//!   ([`crate::control`]);
//! - the DNS task resolves backend names again when their TTL ends and
//!   installs changed answers ([`crate::dns::run`]);
//! - the health task checks the backends and takes those that fail out of
//!   selection ([`crate::health::monitor::run`]).
//!
//! Map reads and writes run on blocking threads (a large connection table
//! takes a while to read) and hold the datapath lock only there, never
//! across an await.

use std::{sync::Arc, time::Duration};

use aya::maps::{MapData, RingBuf};
use log::{info, warn};
use tokio::{
    signal::unix::Signal,
    sync::watch,
    task::JoinHandle,
    time::{timeout, Instant},
};

use crate::{
    control::server as control,
    datapath::DatapathError,
    error_chain,
    flowlog::{consumer, FlowLog, FlowSink},
    gc,
    state::Shared,
};

/// How long the tasks may take to finish after the stop signal.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The running tasks.
pub struct Tasks {
    stop: watch::Sender<bool>,
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    /// Starts the GC, the flow-event consumer (if the datapath still has
    /// its ring buffer) and the control server. Needs a tokio runtime.
    pub fn start(
        shared: &Arc<Shared>,
        ring: Option<RingBuf<MapData>>,
        flow_log: Option<FlowLog>,
        control: tokio::net::UnixListener,
    ) -> Tasks {
        let (stop, stopped) = watch::channel(false);
        let sink = Arc::new(FlowSink::new(Arc::clone(shared), flow_log));
        let mut handles = Vec::new();
        handles.push((
            "gc",
            tokio::spawn(gc_loop(
                Arc::clone(shared),
                Arc::clone(&sink),
                stopped.clone(),
            )),
        ));
        match ring {
            Some(ring) => {
                let (sink, stopped) = (Arc::clone(&sink), stopped.clone());
                handles.push((
                    "flow events",
                    tokio::spawn(async move {
                        if let Err(e) = consumer::run(ring, sink, stopped).await {
                            warn!("flow events: {e}; no more flow events are read");
                        }
                    }),
                ));
            }
            None => warn!("flow events: the ring buffer is already taken; none are read"),
        }
        handles.push((
            "dns",
            tokio::spawn(crate::dns::run(Arc::clone(shared), stopped.clone())),
        ));
        handles.push((
            "health",
            tokio::spawn(crate::health::monitor::run(
                Arc::clone(shared),
                Arc::clone(&sink),
                stopped.clone(),
            )),
        ));
        handles.push((
            "control socket",
            tokio::spawn(control::serve(control, Arc::clone(shared), stopped)),
        ));
        Tasks { stop, handles }
    }

    /// Stops every task and waits for them (at most [`STOP_TIMEOUT`] in
    /// all; a task still running then is aborted).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + STOP_TIMEOUT;
        for (name, mut handle) in self.handles {
            let left = deadline.saturating_duration_since(Instant::now());
            if timeout(left, &mut handle).await.is_err() {
                warn!("{name}: still running {STOP_TIMEOUT:?} after the stop; aborted");
                handle.abort();
            }
        }
    }
}

/// Runs until SIGTERM or SIGINT (returns false: detach) or a stop request
/// over the control socket (returns whether to keep the datapath);
/// reloads the service file on SIGHUP meanwhile.
pub async fn run_until_stop(
    shared: &Arc<Shared>,
    sigterm: &mut Signal,
    sigint: &mut Signal,
) -> bool {
    let mut sighup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("SIGHUP: cannot listen for it ({e}); reload with `fwd reload`");
            None
        }
    };
    loop {
        let hup = async {
            match sighup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); return false; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); return false; }
            how = shared.stop_requested() => {
                info!("stop requested{}", if how.keep { " (keeping the datapath)" } else { "" });
                return how.keep;
            }
            _ = hup => {
                info!("SIGHUP: reloading");
                let shared = Arc::clone(shared);
                let result = tokio::task::spawn_blocking(move || match shared.reconciler() {
                    Some(r) => r.reload(&shared).map(|_| ()).map_err(|e| error_chain(&e)),
                    None => Err("no reconciler".into()),
                })
                .await;
                match result {
                    Ok(Ok(())) => info!("reloaded"),
                    Ok(Err(e)) => warn!("reload refused, nothing changed: {e}"),
                    Err(e) => warn!("reload: {e}"),
                }
            }
        }
    }
}

/// Drops the relay state without detaching: the pinned links and maps keep
/// the datapath running for the next `fwd attach`.
pub async fn release(shared: Arc<Shared>) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut shared = shared;
    while Instant::now() < deadline {
        match Arc::try_unwrap(shared) {
            Ok(owned) => {
                drop(owned.into_datapath());
                return;
            }
            Err(still_shared) => {
                shared = still_shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    warn!("the relay state is still in use at exit; leaving it to the process exit");
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal(sigterm: &mut Signal, sigint: &mut Signal) {
    tokio::select! {
        _ = sigterm.recv() => info!("SIGTERM: stopping"),
        _ = sigint.recv() => info!("SIGINT: stopping"),
    }
}

/// Expires idle flows every `gc_interval` until `stop` changes.
async fn gc_loop(shared: Arc<Shared>, sink: Arc<FlowSink>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.plan().settings.gc_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // The first tick is immediate: nothing to expire yet.
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (shared, sink) = (Arc::clone(&shared), Arc::clone(&sink));
                match tokio::task::spawn_blocking(move || gc_once(&shared, &sink)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!("gc: {}", error_chain(&e)),
                    Err(e) => warn!("gc: {e}"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// One GC run: expire under the datapath lock, then (lock released) send
/// the end events to the sink and add the run to the totals.
fn gc_once(shared: &Shared, sink: &FlowSink) -> Result<(), DatapathError> {
    let run = {
        let mut datapath = shared.datapath();
        gc::run_once(&mut datapath, &shared.plan().settings)?
    };
    sink.handle(&run.events);
    shared.record_gc(&run.stats);
    Ok(())
}

/// Takes the datapath back once every other owner of `shared` is gone
/// (waiting at most [`STOP_TIMEOUT`] for a request still being answered),
/// detaches it from every interface and frees it. If some owner remains,
/// detaches through the lock instead.
pub async fn detach(shared: Arc<Shared>) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut shared = shared;
    loop {
        match Arc::try_unwrap(shared) {
            Ok(owned) => {
                let mut datapath = owned.into_datapath();
                datapath.detach_all();
                if let Err(e) = datapath.remove_pins() {
                    warn!("removing the pinned state: {}", error_chain(&e));
                }
                return;
            }
            Err(still_shared) if Instant::now() < deadline => {
                shared = still_shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(still_shared) => {
                warn!("the relay state is still in use at exit; detaching through its lock");
                let mut datapath = still_shared.datapath();
                datapath.detach_all();
                if let Err(e) = datapath.remove_pins() {
                    warn!("removing the pinned state: {}", error_chain(&e));
                }
                return;
            }
        }
    }
}
