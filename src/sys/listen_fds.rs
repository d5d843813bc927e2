//! systemd's socket activation protocol, read as `sd_listen_fds(3)` reads
//! it: `LISTEN_PID` must be this process, `LISTEN_FDS` sockets start at
//! descriptor 3, `LISTEN_FDNAMES` names them (colon-separated).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub(crate) const LISTEN_FDS_START: RawFd = 3;

/// Set once the descriptors have been taken: a second engine in this
/// process (with the variables kept) must not own them twice.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// One descriptor passed by systemd, with its name (`LISTEN_FDNAMES`;
/// systemd says `unknown` when the unit gives none).
#[derive(Debug)]
pub(crate) struct ListenFd {
    pub(crate) fd: OwnedFd,
    pub(crate) name: String,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// Takes the sockets systemd passed to this process. None set, or
/// `LISTEN_PID` naming another process (a variable inherited by a child
/// that was not meant to take them): no sockets, nothing taken. The
/// variables are removed afterwards when `unset` (as `sd_listen_fds(1)`
/// does), whatever the outcome, so children of this process do not try to
/// take the sockets again.
///
/// Each descriptor must be an open socket; if one is not, the call fails
/// before taking any (so nothing that is not ours is closed). Every
/// descriptor taken is made close-on-exec.
/// More than `max` descriptors is refused before any is looked at.
pub(crate) fn take(unset: bool, max: usize) -> io::Result<Vec<ListenFd>> {
    let taken = read_env(max);
    if unset {
        // Removing variables races with another thread reading the
        // environment (as every setenv does); done once, before the engine
        // starts its threads.
        for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            std::env::remove_var(var);
        }
    }
    taken
}

fn read_env(max: usize) -> io::Result<Vec<ListenFd>> {
    let (Some(pid), Some(fds)) = (std::env::var_os("LISTEN_PID"), std::env::var_os("LISTEN_FDS")) else {
        return Ok(Vec::new());
    };
    let pid = pid.to_string_lossy();
    let pid: u32 = pid
        .parse()
        .map_err(|_| invalid(format!("LISTEN_PID={pid:?} is not a process id")))?;
    if pid != std::process::id() {
        return Ok(Vec::new()); // meant for another process
    }
    let fds = fds.to_string_lossy();
    let n: usize = fds
        .parse()
        .map_err(|_| invalid(format!("LISTEN_FDS={fds:?} is not a count")))?;
    if n > max {
        return Err(invalid(format!("LISTEN_FDS={n} is more than {max}")));
    }
    let names: Vec<String> = match std::env::var_os("LISTEN_FDNAMES") {
        Some(names) => {
            let names: Vec<String> = names.to_string_lossy().split(':').map(str::to_owned).collect();
            if names.len() != n {
                return Err(invalid(format!(
                    "LISTEN_FDNAMES names {} sockets, LISTEN_FDS says {n}",
                    names.len()
                )));
            }
            names
        }
        None => vec!["unknown".to_owned(); n],
    };
    let raws: Vec<RawFd> = (0..n).map(|i| LISTEN_FDS_START + i as RawFd).collect();
    if let Some(bad) = raws.iter().find(|&&fd| !is_open_socket(fd)) {
        return Err(invalid(format!(
            "LISTEN_FDS={n}: descriptor {bad} is not an open socket"
        )));
    }
    if n > 0 && TAKEN.swap(true, Ordering::SeqCst) {
        return Err(invalid(
            "systemd's sockets (LISTEN_FDS) were already taken by another engine of this process".into(),
        ));
    }
    let mut taken = Vec::with_capacity(n);
    for (raw, name) in raws.into_iter().zip(names) {
        // SAFETY: systemd passed `raw` to this process for it to own
        // (LISTEN_PID names us), it is open (checked just above), and it is
        // taken exactly once: `TAKEN` turns any later call away.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        socket2::SockRef::from(&fd).set_cloexec(true)?;
        taken.push(ListenFd { fd, name });
    }
    Ok(taken)
}

/// True if `fd` is an open descriptor of a socket (fstat; EBADF is false).
fn is_open_socket(fd: RawFd) -> bool {
    let mut st = std::mem::MaybeUninit::<nix::libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer it is given and only
    // reads the descriptor number; a closed one is EBADF.
    let rc = unsafe { nix::libc::fstat(fd, st.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: fstat returned 0, so it filled the whole struct.
    let st = unsafe { st.assume_init() };
    st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFSOCK
}
