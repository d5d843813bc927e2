//! The sending side of the listener hand-off (the wire format is in
//! `inherit::hand_off`): serve one receiver, then stop accepting and drain.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use super::EngineHandle;
use crate::error::{Error, Result};
use crate::inherit::hand_off::{await_ready, check_peer_user, encode, refused};
use crate::options::HAND_OFF_TIMEOUT as TIMEOUT;
use crate::sys;

/// Removes the hand-off socket's file when the hand-off ends.
struct Remove<'a>(&'a Path);

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

impl EngineHandle {
    /// Hands this engine's listening sockets (TCP, UDP, Unix; every loop's
    /// with `reuse_port`) to a new process, the zero-downtime upgrade:
    /// listens on a Unix socket at `path` until a process that runs as the
    /// same user connects (within `timeout`) with
    /// [`EngineBuilder::inherit_listeners`](crate::EngineBuilder::inherit_listeners),
    /// sends it every listener and its address (SCM_RIGHTS), and once it
    /// answers that it serves, stops accepting (the sockets, and the
    /// connections waiting in their queues, stay open in the new process)
    /// and drains ([`EngineHandle::drain`]) with the shutdown deadline
    /// ([`EngineBuilder::shutdown_deadline`](crate::EngineBuilder::shutdown_deadline)):
    /// the connections it serves finish, idle ones are closed first, then
    /// it stops. Returns when this engine has stopped. A
    /// handed-off Unix socket's file is left in place for the new process.
    ///
    /// A peer that runs as another user is refused (logged) and the wait
    /// goes on for the right one. If the receiver fails (it closes, answers
    /// something else, or does not answer within 30 s), the hand-off fails
    /// and this engine serves on as before.
    ///
    /// Any thread but the engine's own (it blocks). The file at `path` is
    /// created (it must not exist) and removed when the hand-off ends.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `path` cannot be bound, no receiver came within
    /// `timeout` (`TimedOut`), the receiver failed as above, or the engine
    /// no longer accepts (it is stopping or already handed off).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder().event_loops(1).start(Nothing, "tcp://127.0.0.1:0")?;
    /// let path = std::env::temp_dir().join(format!("nr-doc-hand-off-{}.sock", std::process::id()));
    /// // Nobody comes: the hand-off times out and the engine serves on.
    /// let err = engine.hand_off_listeners(&path, Duration::from_millis(50)).unwrap_err();
    /// assert!(err.to_string().contains("no new process connected"), "{err}");
    /// assert!(!engine.is_stopped() && !path.exists());
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    ///
    /// The example on
    /// [`EngineBuilder::inherit_listeners`](crate::EngineBuilder::inherit_listeners)
    /// hands over to a new engine.
    pub fn hand_off_listeners(&self, path: impl AsRef<Path>, timeout: Duration) -> Result<()> {
        let path = path.as_ref();
        if super::SERVING.with(std::cell::Cell::get) == std::sync::Arc::as_ptr(&self.shared) as usize {
            return Err(Error::InvalidConfig(
                "hand_off_listeners blocks until this engine has stopped: call it from a thread of your own, \
                 not from the engine's callbacks"
                    .into(),
            ));
        }
        let listener = UnixListener::bind(path).map_err(|e| refused(path, format!("cannot listen there: {e}")))?;
        let _remove = Remove(path);
        listener.set_nonblocking(true)?;
        let deadline = Instant::now() + timeout;
        loop {
            let Some(mut stream) = sys::fdpass::accept_within(&listener, deadline)? else {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "listener hand-off through {}: no new process connected within {timeout:?}; still serving",
                        path.display()
                    ),
                )));
            };
            stream.set_read_timeout(Some(TIMEOUT))?;
            stream.set_write_timeout(Some(TIMEOUT))?;
            if let Err(e) = check_peer_user(&stream, path) {
                log::warn!("netreactor: {e}; refused, waiting for another");
                continue;
            }
            {
                // Held while sending: no listener closes meanwhile.
                let listeners = self.shared.listeners.lock();
                let Some(sockets) = listeners.as_ref() else {
                    return Err(refused(path, "this engine no longer accepts (stopping, or handed off)"));
                };
                let addrs: Vec<_> = sockets.iter().map(|(_, a)| a).collect();
                let fds: Vec<_> = sockets.iter().map(|(fd, _)| *fd).collect();
                let message = encode(&addrs, path)?;
                sys::fdpass::send(stream.as_fd(), &message, &fds).map_err(|e| refused(path, e))?;
            }
            await_ready(&mut stream, path)?;
            break;
        }
        // The new process serves: stop accepting, let what is in flight end.
        self.shared.listeners.mark_handed_off();
        self.drain(self.shared.shutdown_deadline());
        Ok(())
    }
}
