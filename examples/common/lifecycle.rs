//! How the HTTP and Redis examples run as a service, the way nginx does:
//! `--pid-file PATH`; SIGUSR2 upgrades in place (a new copy of the same
//! binary is started, inherits the listening sockets through the listener
//! hand-off and rewrites the pid file; this process drains and exits);
//! SIGTERM and SIGINT drain (a second one stops at once); with systemd's
//! `LISTEN_FDS` the sockets systemd passed are served instead of `--addr`.

use std::os::fd::{AsFd, RawFd};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use netreactor::{EngineBuilder, EngineHandle};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{getsockname, SockaddrStorage};

use super::pid_file::PidFile;
use super::Args;

/// Set by the process that upgrades for the one it starts: the hand-off
/// socket to inherit the listeners from.
const UPGRADE_FROM: &str = "NETREACTOR_UPGRADE_FROM";
/// With it: the addresses the old process served, one a line.
const UPGRADE_ADDRS: &str = "NETREACTOR_UPGRADE_ADDRS";
/// How long the old process waits for the new one to take the sockets.
const HAND_OFF_WAIT: Duration = Duration::from_secs(10);
/// How often the main thread looks whether the engine stopped by itself.
const WATCH: Duration = Duration::from_millis(200);

/// Adds `--pid-file` and `--drain-timeout` to an example's command line.
pub(crate) fn flags(command: clap::Command) -> clap::Command {
    command
        .arg(super::flag(
            "pid-file",
            "PATH",
            "Write the serving process's pid here (rewritten by the new process after an upgrade)",
        ))
        .arg(
            super::flag(
                "drain-timeout",
                "SECS",
                "On SIGTERM or after an upgrade, how long connections may finish before they are closed [default: 10]",
            )
            .value_parser(|v: &str| {
                let secs: f64 = v.parse().map_err(|e| format!("{e}"))?;
                Duration::try_from_secs_f64(secs).map_err(|e| format!("{e}"))
            }),
        )
}

/// The process's side of serving: signals, pid file, upgrades.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    signals: SignalFd,
    pid_file: Option<PathBuf>,
    drain: Duration,
    /// This binary's path, read at start: after the file is replaced by a
    /// new build, the upgrade starts the new one.
    exe: PathBuf,
    /// The hand-off socket to inherit from (this process is an upgrade).
    inherit: Option<PathBuf>,
    addrs: Vec<String>,
}

impl Lifecycle {
    /// Takes SIGTERM, SIGINT and SIGUSR2 for this thread to wait on: call
    /// it first in `main`, before any thread starts (they inherit the
    /// mask, so no thread dies of these signals).
    pub(crate) fn new(args: &Args) -> std::io::Result<Lifecycle> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR2] {
            mask.add(s);
        }
        mask.thread_block()?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        let inherit = std::env::var_os(UPGRADE_FROM).map(PathBuf::from);
        let addrs = match (&inherit, std::env::var(UPGRADE_ADDRS)) {
            (Some(_), Ok(list)) => list.lines().map(str::to_owned).collect(),
            _ => systemd_addrs().unwrap_or_else(|| vec![args.addr.clone()]),
        };
        // Not for this process's own children.
        std::env::remove_var(UPGRADE_FROM);
        std::env::remove_var(UPGRADE_ADDRS);
        Ok(Lifecycle {
            signals,
            pid_file: args.get::<String>("pid-file").map(PathBuf::from),
            drain: args.get("drain-timeout").unwrap_or(Duration::from_secs(10)),
            exe: std::env::current_exe()?,
            inherit,
            addrs,
        })
    }

    /// Where to listen: `--addr`, or systemd's sockets, or (after an
    /// upgrade) what the old process served.
    pub(crate) fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The builder's part: systemd's sockets, the inherited ones, the
    /// drain deadline.
    pub(crate) fn configure(&self, builder: EngineBuilder) -> EngineBuilder {
        let builder = builder.socket_activation(true).shutdown_deadline(self.drain);
        match &self.inherit {
            Some(path) => builder.inherit_listeners(path),
            None => builder,
        }
    }

    /// Writes the pid file and serves until the engine stops: SIGUSR2
    /// upgrades, SIGTERM/SIGINT drain (twice: stop now).
    pub(crate) fn serve(self, engine: &EngineHandle) -> netreactor::Result<()> {
        let _pid_file = match &self.pid_file {
            Some(path) => Some(PidFile::write(path)?),
            None => None,
        };
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(std::io::Error::from)?;
        epoll
            .add(self.signals.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))
            .map_err(std::io::Error::from)?;
        let mut draining = false;
        while !engine.is_stopped() {
            let mut events = [EpollEvent::empty()];
            let _ = epoll.wait(&mut events, WATCH.as_millis() as u16);
            while let Ok(Some(info)) = self.signals.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGUSR2) if !draining => match self.upgrade(engine) {
                        Ok(()) => return engine.wait(), // the new process serves
                        Err(e) => eprintln!("upgrade failed, still serving: {e}"),
                    },
                    Ok(Signal::SIGUSR2) => eprintln!("SIGUSR2 while draining: no upgrade"),
                    Ok(_) if draining => engine.stop_with_deadline(Duration::ZERO),
                    Ok(signal) => {
                        eprintln!("{signal}: draining for at most {:?}", self.drain);
                        draining = true;
                        let engine = engine.clone();
                        let grace = self.drain;
                        std::thread::spawn(move || engine.drain(grace));
                    }
                    Err(_) => {}
                }
            }
        }
        engine.wait()
    }

    /// Starts a new copy of this binary, hands it the listeners, and
    /// drains (returns once this engine has stopped).
    fn upgrade(&self, engine: &EngineHandle) -> std::io::Result<()> {
        let hand_off = std::env::temp_dir().join(format!("netreactor-upgrade-{}.sock", std::process::id()));
        let addrs: Vec<String> = engine.local_addrs().iter().map(|a| a.to_string()).collect();
        let mut new = Command::new(&self.exe)
            .args(std::env::args_os().skip(1))
            .env(UPGRADE_FROM, &hand_off)
            .env(UPGRADE_ADDRS, addrs.join("\n"))
            .spawn()?;
        eprintln!("SIGUSR2: upgrading to pid {}", new.id());
        match engine.hand_off_listeners(&hand_off, HAND_OFF_WAIT) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = new.kill();
                let _ = new.wait();
                Err(std::io::Error::other(e))
            }
        }
    }
}

/// The addresses of the sockets systemd passed this process, if it did
/// (`LISTEN_PID` is this process), as `tcp://` and `unix://` addresses.
fn systemd_addrs() -> Option<Vec<String>> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let n: RawFd = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() {
        return None;
    }
    let addrs = (3..3 + n)
        .filter_map(|fd| getsockname::<SockaddrStorage>(fd).ok())
        .filter_map(|a| {
            if let Some(inet) = a.as_sockaddr_in() {
                Some(format!("tcp://{inet}"))
            } else if let Some(inet6) = a.as_sockaddr_in6() {
                Some(format!("tcp://{inet6}"))
            } else {
                let unix = a.as_unix_addr()?;
                Some(format!("unix://{}", unix.path()?.display()))
            }
        })
        .collect();
    Some(addrs)
}
