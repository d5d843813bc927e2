//! The supervisor: starts the workers, restarts one that dies, upgrades
//! them one at a time on SIGUSR2, drains them all on SIGTERM or SIGINT.

use std::io::BufRead;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use super::common::pid_file::PidFile;
use super::common::Args;
use super::worker::READY;

/// How long a new worker may take to serve.
const START_WAIT: Duration = Duration::from_secs(10);
/// A worker that dies sooner than this after it started is restarted only
/// after this long (a worker that cannot start must not spin the machine).
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
/// How long past its drain deadline a worker may take before it is killed.
const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// One worker's place.
struct Slot {
    child: Option<Child>,
    started: Instant,
    /// When to start it again, after it died.
    restart_at: Option<Instant>,
}

struct Pool {
    exe: PathBuf,
    worker_args: Vec<String>,
    drain: Duration,
    slots: Vec<Slot>,
}

type Error = Box<dyn std::error::Error>;

pub(crate) fn supervise(args: &Args) -> Result<(), Error> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR2, Signal::SIGCHLD] {
        mask.add(s);
    }
    mask.thread_block()?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(signals.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))?;
    let _pid_file = args
        .get::<String>("pid-file")
        .map(|p| PidFile::write(p.as_ref()))
        .transpose()?;
    let drain = args.get("drain-timeout").unwrap_or(Duration::from_secs(10));
    let mut pool = Pool {
        exe: std::env::current_exe()?,
        worker_args: vec![
            "--worker".into(),
            "--addr".into(),
            args.addr.clone(),
            "--loops".into(),
            args.loops.to_string(),
            "--drain-timeout".into(),
            drain.as_secs_f64().to_string(),
        ],
        drain,
        slots: Vec::new(),
    };
    for i in 0..args.get::<usize>("workers").unwrap_or(2) {
        let child = pool.start(i)?;
        pool.slots.push(Slot {
            child: Some(child),
            started: Instant::now(),
            restart_at: None,
        });
    }
    eprintln!(
        "supervisor: pid {} runs {} workers on {}",
        std::process::id(),
        pool.slots.len(),
        args.addr
    );
    loop {
        let timeout = pool.slots.iter().filter_map(|s| s.restart_at).min().map_or(1000, |at| {
            at.saturating_duration_since(Instant::now()).as_millis().min(1000) as u16
        });
        let mut events = [EpollEvent::empty()];
        let _ = epoll.wait(&mut events, timeout);
        while let Ok(Some(info)) = signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGUSR2) => pool.upgrade(),
                Ok(Signal::SIGTERM | Signal::SIGINT) => {
                    eprintln!("supervisor: draining every worker");
                    pool.stop();
                    return Ok(());
                }
                _ => {} // SIGCHLD: looked at below
            }
        }
        pool.reap_and_restart();
    }
}

impl Pool {
    /// Starts worker `i` and waits until it serves.
    fn start(&self, i: usize) -> Result<Child, Error> {
        let mut child = Command::new(&self.exe)
            .args(&self.worker_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Reads the worker's stdout to its end, passing the first line on.
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            lines.for_each(drop);
        });
        match rx.recv_timeout(START_WAIT) {
            Ok(Some(Ok(line))) if line == READY => {
                eprintln!("supervisor: worker {i} is pid {}", child.id());
                Ok(child)
            }
            other => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("worker {i} did not start: {other:?}").into())
            }
        }
    }

    /// Restarts the workers that died (after a backoff if they died young).
    fn reap_and_restart(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if let Some(child) = &mut slot.child {
                if let Ok(Some(status)) = child.try_wait() {
                    eprintln!("supervisor: worker {i} (pid {}) died: {status}; restarting", child.id());
                    slot.child = None;
                    let young = now.duration_since(slot.started) < RESTART_BACKOFF;
                    slot.restart_at = Some(if young { now + RESTART_BACKOFF } else { now });
                }
            }
            if self.slots[i].restart_at.is_some_and(|at| at <= now) {
                self.slots[i].restart_at = None;
                self.slots[i].started = Instant::now();
                match self.start(i) {
                    Ok(child) => self.slots[i].child = Some(child),
                    Err(e) => {
                        eprintln!("supervisor: {e}; trying again");
                        self.slots[i].restart_at = Some(Instant::now() + RESTART_BACKOFF);
                    }
                }
            }
        }
    }

    /// One worker at a time: a new one starts and serves, then the old one
    /// drains and exits. A new one that fails to start ends the upgrade
    /// (the old ones serve on).
    fn upgrade(&mut self) {
        for i in 0..self.slots.len() {
            let new = match self.start(i) {
                Ok(child) => child,
                Err(e) => {
                    eprintln!("supervisor: upgrade stopped: {e}");
                    return;
                }
            };
            let old = self.slots[i].child.replace(new);
            self.slots[i].started = Instant::now();
            self.slots[i].restart_at = None;
            if let Some(old) = old {
                eprintln!("supervisor: worker {i}: old pid {} drains", old.id());
                self.retire(vec![old]);
            }
        }
    }

    /// Drains every worker and waits for them.
    fn stop(&mut self) {
        let children = self.slots.iter_mut().filter_map(|s| s.child.take()).collect();
        self.retire(children);
    }

    /// SIGTERM (a drain), then wait; SIGKILL whoever outlives the drain
    /// deadline by more than `EXIT_MARGIN`.
    fn retire(&self, mut children: Vec<Child>) {
        for c in &children {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
        let give_up = Instant::now() + self.drain + EXIT_MARGIN;
        while !children.is_empty() {
            children.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
            if Instant::now() >= give_up {
                for c in &mut children {
                    eprintln!("supervisor: worker pid {} outlived its drain; killing it", c.id());
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return;
            }
            // Polling our own children's exit (a SIGCHLD wait would also
            // take the signals meant for the main loop).
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
