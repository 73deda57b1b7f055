//! The client side of the control socket: `fwd status` and `fwd flows`.

use std::{
    io::{self, BufRead as _, BufReader, Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use thiserror::Error;

use super::{
    protocol::{FlowFilter, Request, Response},
    render,
};

/// How long the client waits for an answer (a large connection table takes
/// a while to read).
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest answer accepted.
pub(crate) const MAX_ANSWER: u64 = 1 << 30;

/// Why a request could not be answered.
#[derive(Debug, Error)]
pub(crate) enum ClientError {
    /// No socket file.
    #[error("no running fwd instance (no control socket at {path}); start one with `fwd attach`")]
    NoSocket {
        /// The socket path.
        path: String,
    },
    /// A socket file nobody listens on.
    #[error(
        "no running fwd instance (nothing answers on the control socket {path}); \
         start one with `fwd attach`"
    )]
    NotAnswering {
        /// The socket path.
        path: String,
    },
    /// Connecting, writing or reading failed otherwise.
    #[error("control socket {path}: {what}")]
    Io {
        /// The socket path.
        path: String,
        /// What was being done.
        what: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The answer is not a response.
    #[error("control socket {path}: the answer is not a response")]
    BadAnswer {
        /// The socket path.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// fwd answered with an error.
    #[error("fwd: {message}")]
    Refused {
        /// Its message.
        message: String,
    },
    /// The answer could not be printed.
    #[error("writing to standard output")]
    Output(#[source] io::Error),
    /// fwd answered something else than asked.
    #[error("control socket {path}: unexpected answer to the request")]
    Unexpected {
        /// The socket path.
        path: String,
    },
}

/// Sends `request` to the instance listening on `path` and returns its
/// response (an error response is an [`ClientError::Refused`]).
pub(crate) fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    let p = || path.display().to_string();
    let io_err = |what| {
        move |source| ClientError::Io {
            path: p(),
            what,
            source,
        }
    };
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ClientError::NoSocket { path: p() },
        io::ErrorKind::ConnectionRefused => ClientError::NotAnswering { path: p() },
        _ => io_err("connecting (fwd status and fwd flows need root)")(e),
    })?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(ANSWER_TIMEOUT)))
        .map_err(io_err("setting timeouts"))?;
    let mut line = serde_json::to_vec(request).expect("a request always serializes");
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(io_err("sending the request"))?;
    let mut answer = String::new();
    BufReader::new((&stream).take(MAX_ANSWER))
        .read_line(&mut answer)
        .map_err(io_err("reading the answer"))?;
    match serde_json::from_str(answer.trim_end()) {
        Ok(Response::Error { message }) => Err(ClientError::Refused { message }),
        Ok(response) => Ok(response),
        Err(source) => Err(ClientError::BadAnswer { path: p(), source }),
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("a report always serializes");
    s.push('\n');
    s
}

/// `fwd status`: prints the status of the instance listening on
/// `control`, as tables or as JSON.
pub(crate) fn status(control: &Path, json_out: bool) -> Result<(), ClientError> {
    match request(control, &Request::Status)? {
        Response::Status(report) => output(if json_out {
            json(&report)
        } else {
            render::status(&report)
        }),
        _ => Err(unexpected(control)),
    }
}

/// `fwd flows`: prints the live flows matching `filter` of the instance
/// listening on `control`, as a table or as JSON.
pub(crate) fn flows(control: &Path, filter: FlowFilter, json_out: bool) -> Result<(), ClientError> {
    match request(control, &Request::Flows(filter))? {
        Response::Flows(report) => output(if json_out {
            json(&report)
        } else {
            render::flows(&report)
        }),
        _ => Err(unexpected(control)),
    }
}

/// Writes `text` to standard output; a reader that went away (`| head`)
/// is not an error.
fn output(text: String) -> Result<(), ClientError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(ClientError::Output(e)),
        _ => Ok(()),
    }
}

fn unexpected(path: &Path) -> ClientError {
    ClientError::Unexpected {
        path: path.display().to_string(),
    }
}
