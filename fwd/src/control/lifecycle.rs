//! The client side of `fwd reload`, `fwd stop` and `fwd detach`.

use std::{path::Path, thread, time::Duration};

use super::{
    client::{request, ClientError},
    protocol::{Request, Response, StopRequest},
};
use crate::datapath::{bpffs, owner, pin, DatapathError};

/// How long `fwd stop` and `fwd detach` wait for the instance to exit.
pub(crate) const EXIT_WAIT: Duration = Duration::from_secs(15);

/// Why `fwd detach` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DetachError {
    /// The running instance could not be stopped.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// It did not exit in time.
    #[error("the running fwd did not exit within {EXIT_WAIT:?}")]
    StillRunning,
    /// The pinned state could not be removed.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
}

/// `fwd reload`: the running instance re-reads its file; prints what it
/// installed, or fails with why nothing changed.
pub(crate) fn reload(control: &Path) -> Result<String, ClientError> {
    match request(control, &Request::Reload)? {
        Response::Reloaded(r) => Ok(format!(
            "reloaded {}: {} services, {} backends\n",
            r.file, r.services, r.backends
        )),
        _ => Err(ClientError::Unexpected {
            path: control.display().to_string(),
        }),
    }
}

/// Waits until nothing answers on the control socket any more.
fn wait_for_exit(control: &Path) -> bool {
    let deadline = std::time::Instant::now() + EXIT_WAIT;
    while std::time::Instant::now() < deadline {
        match request(control, &Request::Status) {
            Err(ClientError::NoSocket { .. } | ClientError::NotAnswering { .. }) => return true,
            _ => thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

/// `fwd stop [--keep]`: stops the running instance and waits for it to exit.
pub(crate) fn stop(control: &Path, keep: bool) -> Result<String, DetachError> {
    let how = StopRequest { keep };
    match request(control, &Request::Stop(how))? {
        Response::Stopping(_) => {}
        _ => {
            return Err(ClientError::Unexpected {
                path: control.display().to_string(),
            }
            .into())
        }
    }
    if !wait_for_exit(control) {
        return Err(DetachError::StillRunning);
    }
    Ok(if keep {
        "stopped; the datapath keeps relaying (pinned): `fwd attach` adopts it, `fwd detach` removes it\n".into()
    } else {
        "stopped and detached\n".into()
    })
}

/// `fwd detach`: stops a running instance (detaching it), or removes the
/// datapath a stopped or killed instance left pinned.
pub(crate) fn detach(control: &Path, pin_dir: &Path) -> Result<String, DetachError> {
    match request(control, &Request::Stop(StopRequest { keep: false })) {
        Ok(_) => {
            if !wait_for_exit(control) {
                return Err(DetachError::StillRunning);
            }
        }
        Err(ClientError::NoSocket { .. } | ClientError::NotAnswering { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Where `fwd attach` pinned, from this mount namespace too.
    let pin_dir = &bpffs::durable(pin_dir)?;
    let links = pin::pinned_link_names(pin_dir);
    let existed = pin_dir.exists();
    // A live owner keeps its state: refused, naming it.
    let _owner = if existed {
        Some(owner::lock(pin_dir)?)
    } else {
        None
    };
    pin::remove_all(pin_dir)?;
    Ok(match (existed, links.is_empty()) {
        (false, _) => format!("nothing to detach ({} does not exist)\n", pin_dir.display()),
        (true, true) => format!("removed the pinned state in {}\n", pin_dir.display()),
        (true, false) => format!(
            "detached from {} and removed the pinned state in {}\n",
            links.join(", "),
            pin_dir.display()
        ),
    })
}
