//! Connections opened and closed as fast as possible: a backend that
//! greets and hangs up, and a client connection that reads the greeting and
//! resets. Used by load tests (`integration-test/tests/e2e_metrics.rs`) to create many
//! flows quickly without leaving tuples in TIME_WAIT on either side.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

/// Timeout of each step of a [`short_connection`].
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `listener` until `stop`: accepts as fast as it can, sends one
/// byte on each connection and closes it. Polls every millisecond when no
/// connection is waiting.
pub fn greet_and_close(listener: &TcpListener, stop: &AtomicBool) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false)?;
                // The client may already have given up: not this loop's error.
                let _ = s.write_all(b"x");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One short connection to `to` (from the calling thread's namespace):
/// connect, read the server's byte, close with a RST (`SO_LINGER` 0) so
/// that neither side keeps the tuple in TIME_WAIT. Each step is bounded
/// by [`STEP_TIMEOUT`].
pub fn short_connection(to: SocketAddr) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&to, STEP_TIMEOUT)?;
    s.set_read_timeout(Some(STEP_TIMEOUT))?;
    let mut one = [0u8; 1];
    s.read_exact(&mut one)?;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) reads `linger`, a valid struct of the size
    // given, and writes nothing; the descriptor is open (owned by `s`).
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
