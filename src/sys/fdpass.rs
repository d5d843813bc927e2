//! Passing descriptors over a Unix stream socket (SCM_RIGHTS), with a byte
//! payload, for the listener hand-off.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// The kernel's limit on descriptors in one SCM_RIGHTS message (SCM_MAX_FD).
pub(crate) const MAX_FDS_PER_MESSAGE: usize = 253;

/// Sends `payload` with `fds` attached, in one message.
pub(crate) fn send(sock: BorrowedFd<'_>, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} descriptors; one message carries at most {MAX_FDS_PER_MESSAGE}",
                fds.len()
            ),
        ));
    }
    let iov = [IoSlice::new(payload)];
    let cmsgs = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsgs };
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    if sent != payload.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short send of the hand-off message",
        ));
    }
    Ok(())
}

/// One message received: its bytes (in the caller's buffer) and the
/// descriptors it carried, owned (close-on-exec), so that whatever the
/// caller refuses is closed when dropped.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) fds: Vec<OwnedFd>,
    /// The message carried more descriptors than there was room for
    /// (those that fit are in `fds`; the kernel closed the rest).
    pub(crate) fds_truncated: bool,
    /// The message was longer than the buffer.
    pub(crate) bytes_truncated: bool,
}

/// Receives one message into `buf` with room for `MAX_FDS_PER_MESSAGE`
/// descriptors. Blocks (the socket's read timeout applies).
pub(crate) fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            for fd in raw {
                // SAFETY: the kernel installed `fd` in this process for this
                // message; nothing else knows its number, so it is owned here
                // exactly once.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok(Received {
        len: msg.bytes,
        fds,
        fds_truncated: msg.flags.contains(MsgFlags::MSG_CTRUNC),
        bytes_truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
    })
}

/// This process's effective user id, to compare with a peer's SO_PEERCRED.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { nix::libc::geteuid() }
}

/// Waits until `listener` (non-blocking) has a connection or `deadline`
/// passes (`None` then); the connection is blocking and close-on-exec.
pub(crate) fn accept_within(
    listener: &std::os::unix::net::UnixListener,
    deadline: std::time::Instant,
) -> io::Result<Option<std::os::unix::net::UnixStream>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(Some(stream));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
