//! The HTTP endpoint: hyper (HTTP/1.1) on the attach command's tokio
//! runtime.
//!
//! `GET /metrics` (and `HEAD`) answers with a fresh scrape; `/` points
//! there; anything else is 404. Each scrape reads the maps on a blocking
//! thread ([`tokio::task::spawn_blocking`]), at most [`MAX_SCRAPES`] at a
//! time, so the runtime (GC timer, signals, other connections) keeps
//! running while a large connection table is read.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    body::Incoming,
    header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE},
    server::conn::http1,
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use log::{debug, warn};
use tokio::{
    net::TcpListener,
    sync::{oneshot, Semaphore},
    task::{JoinHandle, JoinSet},
};

use super::{render, Format, MetricsError};
use crate::{state::Shared, text::error_chain};

/// Scrapes that may read the datapath at the same time.
pub const MAX_SCRAPES: u32 = 4;
/// Connections served at the same time; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound metrics socket, not yet serving. Bound by `fwd attach` during
/// its checks, so that an address in use stops fwd before anything is
/// installed.
#[derive(Debug)]
pub struct MetricsListener {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl MetricsListener {
    /// Binds `addr` (port 0: any free port).
    pub fn bind(addr: SocketAddr) -> Result<MetricsListener, MetricsError> {
        let bind_err = |source| MetricsError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        Ok(MetricsListener { listener, addr })
    }

    /// The address bound (with the actual port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving on the current tokio runtime. Must be called from
    /// within the runtime.
    pub fn serve(self, shared: Arc<Shared>) -> Result<MetricsServer, MetricsError> {
        let listener =
            TcpListener::from_std(self.listener).map_err(|source| MetricsError::Bind {
                addr: self.addr,
                source,
            })?;
        let scrapes = Arc::new(Semaphore::new(MAX_SCRAPES as usize));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared, Arc::clone(&scrapes), stopped));
        Ok(MetricsServer {
            task: Some(task),
            stop: Some(stop),
            scrapes,
            addr: self.addr,
        })
    }
}

/// The running endpoint. Dropping it stops accepting and aborts its
/// connections; [`MetricsServer::shutdown`] also waits for scrapes that
/// are reading the datapath, so that afterwards the server holds no
/// reference to the [`Shared`] state.
#[derive(Debug)]
pub struct MetricsServer {
    task: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    scrapes: Arc<Semaphore>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends every connection, and waits until no scrape
    /// is reading the datapath.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // Every running scrape holds a permit until its blocking read ends.
        let _ = self.scrapes.acquire_many(MAX_SCRAPES).await;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Accepts connections until `stopped` fires (or the task is aborted);
/// then ends every connection task.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    scrapes: Arc<Semaphore>,
    mut stopped: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => accepted.map(|(stream, _)| (stream, slot)),
                },
                Err(_) => break,
            },
        };
        let (stream, slot) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, or the peer gave up: wait a little.
                warn!("metrics: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let (shared, scrapes) = (Arc::clone(&shared), Arc::clone(&scrapes));
        connections.spawn(async move {
            let service =
                service_fn(move |req| respond(req, Arc::clone(&shared), Arc::clone(&scrapes)));
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                debug!("metrics: connection: {e}");
            }
            drop(slot);
        });
    }
    connections.shutdown().await;
}

type Body = Full<Bytes>;

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn respond(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    scrapes: Arc<Semaphore>,
) -> Result<Response<Body>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
            scrape(Format::negotiate(accept), shared, scrapes).await
        }
        (_, "/metrics") => {
            let mut r = response(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET or HEAD\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        (&Method::GET | &Method::HEAD, "/") => response(
            StatusCode::OK,
            TEXT,
            "fwd: Prometheus metrics at /metrics\n",
        ),
        _ => response(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: metrics are at /metrics\n",
        ),
    })
}

/// Reads and encodes on a blocking thread; 500 with the cause if the
/// datapath cannot be read (Prometheus then marks the target down).
async fn scrape(format: Format, shared: Arc<Shared>, scrapes: Arc<Semaphore>) -> Response<Body> {
    let Ok(permit) = scrapes.acquire_owned().await else {
        return response(StatusCode::SERVICE_UNAVAILABLE, TEXT, "shutting down\n");
    };
    let read = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        render(&shared, format)
    })
    .await;
    match read {
        Ok(Ok(body)) => response(StatusCode::OK, format.content_type(), body),
        Ok(Err(e)) => {
            let message = error_chain(&e);
            warn!("metrics: {message}");
            response(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                format!("{message}\n"),
            )
        }
        Err(e) => {
            warn!("metrics: the scrape task failed: {e}");
            response(StatusCode::INTERNAL_SERVER_ERROR, TEXT, "internal error\n")
        }
    }
}
