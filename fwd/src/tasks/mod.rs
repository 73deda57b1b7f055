//! The running phase of `fwd attach`: the tasks that share the relay's
//! state ([`Shared`]) until a signal stops them.
//!
//! - [`gc`]: expires idle flows every `gc_interval` and sends the end
//!   events of the flows it deletes to the flow sink;
//! - [`flow_events`]: reads the datapath's ring buffer into the same sink
//!   ([`sink`]: counters, passive health, the flow log);
//! - [`fragments`]: keeps the fragments the datapath held because they
//!   came before their first, and runs them again when it comes;
//! - the control server answers `fwd status` and `fwd flows`
//!   ([`crate::control`]);
//! - [`dns`]: resolves backend names again when their TTL ends and
//!   installs changed answers;
//! - [`health`]: checks the backends and takes those that fail out of
//!   selection.
//!
//! Map reads and writes run on blocking threads (a large connection table
//! takes a while to read) and hold the datapath lock only there, never
//! across an await.

mod dns;
mod flow_events;
mod fragments;
mod gc;
mod health;
mod sink;

use std::{sync::Arc, time::Duration};

use log::{info, warn};
use tokio::{
    signal::unix::Signal,
    sync::watch,
    task::JoinHandle,
    time::{timeout, Instant},
};

use self::sink::FlowSink;
use crate::{
    control::server as control,
    datapath::{FlowEvents, HeldFragments},
    flowlog::FlowLog,
    state::Shared,
    text::error_chain,
};

/// How long the tasks may take to finish after the stop signal.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The running tasks.
pub(crate) struct Tasks {
    stop: watch::Sender<bool>,
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    /// Starts the GC, the flow-event consumer and the fragment keeper (if
    /// the datapath still has their ring buffers), DNS, health and the
    /// control server. Needs a tokio runtime.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        events: Option<FlowEvents>,
        fragments: Option<HeldFragments>,
        flow_log: Option<FlowLog>,
        control: tokio::net::UnixListener,
    ) -> Tasks {
        let (stop, stopped) = watch::channel(false);
        let sink = Arc::new(FlowSink::new(Arc::clone(shared), flow_log));
        let mut handles = Vec::new();
        handles.push((
            "gc",
            tokio::spawn(gc::run(
                Arc::clone(shared),
                Arc::clone(&sink),
                stopped.clone(),
            )),
        ));
        match events {
            Some(events) => {
                let (sink, stopped) = (Arc::clone(&sink), stopped.clone());
                handles.push((
                    "flow events",
                    tokio::spawn(async move {
                        if let Err(e) = flow_events::run(events, sink, stopped).await {
                            warn!("flow events: {e}; no more flow events are read");
                        }
                    }),
                ));
            }
            None => warn!("flow events: the ring buffer is already taken; none are read"),
        }
        match fragments {
            Some(ring) => {
                let (shared, stopped) = (Arc::clone(shared), stopped.clone());
                handles.push((
                    "held fragments",
                    tokio::spawn(async move {
                        if let Err(e) = fragments::run(ring, shared, stopped).await {
                            warn!("held fragments: {e}; no more are kept");
                        }
                    }),
                ));
            }
            None => warn!("held fragments: the ring buffer is already taken; none are kept"),
        }
        handles.push((
            "dns",
            tokio::spawn(dns::run(Arc::clone(shared), stopped.clone())),
        ));
        handles.push((
            "health",
            tokio::spawn(health::run(
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
    pub(crate) async fn stop(self) {
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
pub(crate) async fn run_until_stop(
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
            how = shared.stop.requested() => {
                info!("stop requested{}", if how.keep { " (keeping the datapath)" } else { "" });
                return how.keep;
            }
            _ = hup => {
                info!("SIGHUP: reloading");
                let shared = Arc::clone(shared);
                let result = tokio::task::spawn_blocking(move || {
                    shared.reload().map(drop).map_err(|e| error_chain(&e))
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
pub(crate) async fn release(shared: Arc<Shared>) {
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

/// Takes the datapath back once every other owner of `shared` is gone
/// (waiting at most [`STOP_TIMEOUT`] for a request still being answered),
/// detaches it from every interface and frees it. If some owner remains,
/// detaches through the lock instead.
pub(crate) async fn detach(shared: Arc<Shared>) {
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
