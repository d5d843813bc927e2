//! The listener hand-off's wire format and its receiving side.
//!
//! The old process listens on a Unix stream socket; the new one connects,
//! and both check that the other runs as the same user (SO_PEERCRED). The
//! old one sends one message: the text `netreactor-hand-off 1\n`, then one
//! line per descriptor with the address it serves (`tcp://127.0.0.1:80`,
//! `tls://…`, `udp://…`, `unix:///path`, `unix://@name`), the descriptors attached
//! (SCM_RIGHTS, at most 253). The new one checks every descriptor against
//! its line, starts serving, and answers `ready\n`; only then does the old
//! one stop accepting. Anything else is refused with an error that says
//! what came, and every descriptor received is closed.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{describe, Inherited};
use crate::addr::Address;
use crate::error::{Error, Result};
use crate::options::{
    HAND_OFF_CONNECT_WAIT as CONNECT_WAIT, HAND_OFF_TIMEOUT as TIMEOUT, MAX_HAND_OFF_MESSAGE_BYTES as MAX_MESSAGE,
};

/// How often a new process tries again to reach an old one not listening yet.
const CONNECT_RETRY: std::time::Duration = std::time::Duration::from_millis(5);
use crate::sys;

/// The first line of the message.
pub(crate) const HEADER: &str = "netreactor-hand-off 1";
/// The receiver's answer once it serves.
pub(crate) const READY: &[u8] = b"ready\n";

/// A hand-off error, naming the socket it came through.
pub(crate) fn refused(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("listener hand-off through {}: {what}", path.display()),
    ))
}

/// Fails unless the peer of `stream` runs as this process's user.
pub(crate) fn check_peer_user(stream: &UnixStream, path: &Path) -> Result<()> {
    let (pid, uid, _) = sys::socket::peer_credentials(stream.as_fd()).map_err(|e| refused(path, e))?;
    let ours = sys::fdpass::effective_uid();
    if uid != ours {
        return Err(refused(
            path,
            format!("the peer (pid {pid}) runs as uid {uid}, this process as uid {ours}"),
        ));
    }
    Ok(())
}

/// The message for `addrs` (one per descriptor, in order).
pub(crate) fn encode(addrs: &[&Address], path: &Path) -> Result<Vec<u8>> {
    let mut text = format!("{HEADER}\n");
    for a in addrs {
        let line = a.to_string();
        if line.contains('\n') {
            return Err(refused(
                path,
                format!("the address {line:?} cannot be sent (a newline)"),
            ));
        }
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text.into_bytes())
}

/// The receiver's connection, answered once the engine serves.
#[derive(Debug)]
pub(crate) struct Ack(UnixStream);

impl Ack {
    /// Tells the old process the new one serves: it stops accepting.
    pub(crate) fn ready(mut self) {
        if let Err(e) = self.0.write_all(READY) {
            log::warn!("netreactor: listener hand-off: could not confirm to the old process: {e}");
        }
    }
}

/// Connects to the old process at `path`. The new process is usually
/// started just before the old one listens (the old one blocks listening):
/// while the path is missing or not listening yet, it tries again, for at
/// most `HAND_OFF_CONNECT_WAIT`.
fn connect(path: &Path) -> Result<UnixStream> {
    let give_up = std::time::Instant::now() + CONNECT_WAIT;
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(CONNECT_RETRY);
            }
            Err(e) => return Err(refused(path, format!("cannot connect: {e}"))),
        }
    }
}

/// Connects to the old process at `path` and takes its listeners.
pub(crate) fn receive(path: &Path) -> Result<(Vec<Inherited>, Ack)> {
    let stream = connect(path)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    check_peer_user(&stream, path)?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    let got = sys::fdpass::recv(stream.as_fd(), &mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            refused(path, format!("nothing received within {TIMEOUT:?}"))
        }
        _ => refused(path, e),
    })?;
    // From here on every early return drops `got.fds`: closed, none leaked.
    if got.fds_truncated {
        return Err(refused(
            path,
            format!(
                "the message carried more descriptors than the {} one message may",
                sys::fdpass::MAX_FDS_PER_MESSAGE
            ),
        ));
    }
    if got.bytes_truncated {
        return Err(refused(path, format!("a message longer than {MAX_MESSAGE} bytes")));
    }
    let text = std::str::from_utf8(&buf[..got.len]).map_err(|_| {
        let shown = String::from_utf8_lossy(&buf[..got.len.min(40)]).into_owned();
        refused(path, format!("not a netreactor hand-off (sent {shown:?})"))
    })?;
    let mut lines = text.split_terminator('\n');
    if lines.next() != Some(HEADER) || !text.ends_with('\n') {
        let shown: String = text.chars().take(40).collect();
        return Err(refused(path, format!("not a netreactor hand-off (sent {shown:?})")));
    }
    let addrs: Vec<&str> = lines.collect();
    if got.fds.is_empty() {
        return Err(refused(path, "the message carried no descriptors"));
    }
    if got.fds.len() != addrs.len() {
        return Err(refused(
            path,
            format!(
                "the message carried {} descriptors for {} addresses",
                got.fds.len(),
                addrs.len()
            ),
        ));
    }
    let mut inherited = Vec::with_capacity(addrs.len());
    for (i, (fd, want)) in got.fds.into_iter().zip(addrs).enumerate() {
        let mut s = describe(fd, format!("handed-off socket {i} ({want})"))?;
        // The line keeps the old engine's kind (`tls://`), the socket only
        // knows TCP.
        let tls_over_it = match &s.addr {
            Address::Tcp(a) => Address::Tls(*a).to_string() == want,
            _ => false,
        };
        if s.addr.to_string() != want && !tls_over_it {
            return Err(refused(
                path,
                format!("descriptor {i} is bound to {}, not {want}", s.addr),
            ));
        }
        if let Address::Unix(p) = &s.addr {
            // The file goes with the socket: removed by whoever serves last.
            s.file = sys::socket::SocketFile::existing(p).ok();
        }
        inherited.push(s);
    }
    Ok((inherited, Ack(stream)))
}

/// Reads the receiver's answer: `ready\n`, or an error saying what came.
pub(crate) fn await_ready(stream: &mut UnixStream, path: &Path) -> Result<()> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while got.len() < READY.len() {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => got.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(refused(path, format!("no answer from the new process: {e}"))),
        }
    }
    if got != READY {
        return Err(refused(
            path,
            format!(
                "the new process did not confirm that it serves (answered {:?}); still serving here",
                String::from_utf8_lossy(&got)
            ),
        ));
    }
    Ok(())
}
