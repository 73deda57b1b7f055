//! The control socket of `fwd attach`: a Unix stream socket where each
//! connection carries one request line and gets one response line.
//!
//! [`ControlSocket::bind`] runs before anything is installed: it refuses to
//! start when another instance answers on the path (a second instance would
//! replace the first one's program), replaces a socket file left by an
//! instance that died, and creates the socket with mode 0600 (only root may
//! ask). The file is removed when the [`ControlSocket`] is dropped.

use std::{
    fs::{self, DirBuilder},
    io,
    os::unix::{
        fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
        net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream},
    },
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use log::{debug, warn};
use thiserror::Error;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{UnixListener, UnixStream},
    sync::watch,
    task::JoinSet,
    time::timeout,
};

use super::{answer::answer, protocol::Request, protocol::Response};
use crate::state::Shared;

/// Longest request line accepted.
pub(crate) const MAX_REQUEST: u64 = 64 * 1024;
/// How long a client may take to send its request, and to read the answer.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections in flight may take to finish once fwd stops.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);

/// Why the control socket could not be set up.
#[derive(Debug, Error)]
pub(crate) enum ControlSocketError {
    /// Another process accepts connections on the path.
    #[error(
        "another fwd instance is running: its control socket {path} answers \
         (stop it first, or give this one another --control path)"
    )]
    InUse {
        /// The socket path.
        path: String,
    },
    /// The path exists and is not a socket.
    #[error("control socket path {path} exists and is not a socket")]
    NotASocket {
        /// The path.
        path: String,
    },
    /// A file-system operation failed.
    #[error("control socket {path}: {what}")]
    Io {
        /// The path.
        path: String,
        /// What was being done.
        what: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// The bound control socket; removes its file on drop (if it is still the
/// socket this instance created).
pub(crate) struct ControlSocket {
    path: PathBuf,
    listener: Option<StdUnixListener>,
    /// Device and inode of the socket file created.
    id: (u64, u64),
}

impl ControlSocket {
    /// Creates the parent directory (mode 0755) if missing, checks the
    /// path, and binds the socket with mode 0600.
    pub(crate) fn bind(path: &Path) -> Result<ControlSocket, ControlSocketError> {
        let io_err = |what| {
            move |source| ControlSocketError::Io {
                path: path.display().to_string(),
                what,
                source,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(dir)
                    .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o755)))
                    .map_err(io_err("creating its directory"))?;
            }
        }
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(ControlSocketError::NotASocket {
                    path: path.display().to_string(),
                })
            }
            Ok(_) => match StdUnixStream::connect(path) {
                Ok(_) => {
                    return Err(ControlSocketError::InUse {
                        path: path.display().to_string(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    warn!(
                        "replacing the stale control socket {} (left by an instance that is gone)",
                        path.display()
                    );
                    fs::remove_file(path).map_err(io_err("removing the stale socket"))?;
                }
                Err(e) => return Err(io_err("checking whether it answers")(e)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("examining it")(e)),
        }
        // The umask makes the socket 0600 from its creation on; the mode is
        // set again after, in case the umask was stricter in odd ways.
        // SAFETY: umask(2) cannot fail; nothing else creates files now.
        let old = unsafe { libc::umask(0o177) };
        let bound = StdUnixListener::bind(path);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let listener = bound.map_err(io_err("binding"))?;
        let meta = fs::symlink_metadata(path);
        let socket = ControlSocket {
            path: path.to_path_buf(),
            listener: Some(listener),
            id: meta.as_ref().map_or((0, 0), |m| (m.dev(), m.ino())),
        };
        meta.map_err(io_err("examining it"))?;
        // From here on, an error drops `socket`, which removes the file.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(io_err("setting its mode"))?;
        Ok(socket)
    }

    /// The socket path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The listener, for [`serve`] (once; needs a tokio runtime).
    pub(crate) fn take_listener(&mut self) -> io::Result<UnixListener> {
        let listener = self
            .listener
            .take()
            .ok_or_else(|| io::Error::other("the control listener was already taken"))?;
        listener.set_nonblocking(true)?;
        UnixListener::from_std(listener)
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id);
        if ours {
            if let Err(e) = fs::remove_file(&self.path) {
                warn!("removing the control socket {}: {e}", self.path.display());
            }
        }
    }
}

/// Answers connections on `listener` until `stop` changes, then gives the
/// connections in flight [`STOP_GRACE`] to finish (the answer to
/// `fwd stop` itself is one of them) and drops the rest.
pub(crate) async fn serve(
    listener: UnixListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        if let Err(e) = handle(stream, shared).await {
                            debug!("control connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!("control socket: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let finished = timeout(STOP_GRACE, async {
        while connections.join_next().await.is_some() {}
    });
    if finished.await.is_err() {
        debug!("control socket: dropping connections still open {STOP_GRACE:?} after the stop");
    }
}

/// One connection: a request line in, a response line out.
async fn handle(stream: UnixStream, shared: Arc<Shared>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    timeout(IO_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request"))??;
    let response = match parse_request(&line) {
        Ok(request) => tokio::task::spawn_blocking(move || answer(&shared, &request))
            .await
            .unwrap_or_else(|e| Response::Error {
                message: format!("answering failed: {e}"),
            }),
        Err(message) => Response::Error { message },
    };
    let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
    out.push(b'\n');
    timeout(IO_TIMEOUT, async {
        write.write_all(&out).await?;
        write.shutdown().await
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "response not read"))?
}

/// The request in `line`, or why it is not one.
pub(crate) fn parse_request(line: &str) -> Result<Request, String> {
    if line.len() as u64 >= MAX_REQUEST && !line.ends_with('\n') {
        return Err(format!(
            "bad request: one JSON line of at most {MAX_REQUEST} bytes expected"
        ));
    }
    serde_json::from_str(line.trim_end()).map_err(|e| format!("bad request: {e}"))
}
