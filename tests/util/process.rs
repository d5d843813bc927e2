//! Example servers run as processes: started with their log in a file,
//! found by the address they print, followed through pid files, and
//! killed if a test ends early.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::wait_until;

/// How long a process may take to start serving or to exit.
pub(crate) const PROCESS_WAIT: Duration = Duration::from_secs(30);

/// True once `pid` has exited (a zombie nobody reaped counts as exited).
pub(crate) fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// The pid a pid file holds, if it holds one.
pub(crate) fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Sends `signal` to `pid`.
pub(crate) fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
}

/// An example server process (and whatever pids it was upgraded to),
/// killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
    pub(crate) pid_file: PathBuf,
    /// Every pid seen serving, killed on drop if still there.
    pub(crate) pids: Vec<u32>,
}

impl Server {
    /// Starts `exe` with `args` plus `--pid-file` in `dir` (named `name`),
    /// its stderr in `dir/name.log`, and waits for its pid file.
    pub(crate) fn start(exe: &Path, args: &[&str], dir: &Path, name: &str) -> Server {
        let log = dir.join(format!("{name}.log"));
        let pid_file = dir.join(format!("{name}.pid"));
        let child = Command::new(exe)
            .args(args)
            .arg("--pid-file")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the example");
        let pid = child.id();
        let server = Server {
            child,
            log,
            pid_file,
            pids: vec![pid],
        };
        wait_until(PROCESS_WAIT, "the pid file names the server", || {
            read_pid(&server.pid_file) == Some(pid)
        });
        server
    }

    /// The TCP address it printed ("listening on [Tcp(ADDR)]").
    pub(crate) fn tcp_addr(&self) -> SocketAddr {
        self.listening("Tcp")
    }

    /// The address it printed as `kind` ("listening on [Tls(ADDR)]").
    pub(crate) fn listening(&self, kind: &str) -> SocketAddr {
        let mut found = None;
        wait_until(PROCESS_WAIT, "the server prints its address", || {
            found = printed_address(&std::fs::read_to_string(&self.log).unwrap_or_default(), kind);
            found.is_some()
        });
        found.unwrap()
    }

    /// The pid the pid file names now.
    pub(crate) fn pid(&self) -> u32 {
        read_pid(&self.pid_file).expect("a pid file")
    }

    /// Upgrades by SIGUSR2: waits until the pid file names a new process
    /// and the old one has exited; returns the new pid.
    pub(crate) fn upgrade(&mut self) -> u32 {
        let old = self.pid();
        signal(old, Signal::SIGUSR2);
        wait_until(PROCESS_WAIT, "the new process rewrites the pid file", || {
            read_pid(&self.pid_file).is_some_and(|p| p != old)
        });
        let new = self.pid();
        self.pids.push(new);
        self.wait_gone(old);
        assert!(!is_gone(new), "the new process {new} died");
        new
    }

    /// Waits until `pid` has exited (reaping it if it is our child).
    pub(crate) fn wait_gone(&mut self, pid: u32) {
        wait_until(PROCESS_WAIT, "the old process exits", || {
            if pid == self.child.id() {
                self.child.try_wait().expect("try_wait").is_some()
            } else {
                is_gone(pid)
            }
        });
    }

    /// SIGTERM: drains; waits until it has exited and its pid file is gone.
    pub(crate) fn terminate(&mut self) {
        let pid = self.pid();
        signal(pid, Signal::SIGTERM);
        self.wait_gone(pid);
        assert!(!self.pid_file.exists(), "the pid file outlived its process");
    }

    /// The log so far (for failure messages).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for &pid in &self.pids {
            if !is_gone(pid) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// The first address of `kind` (`"Tcp"`, `"Tls"`) in a server's log line
/// "listening on [Tcp(ADDR), Tls(ADDR)]".
pub(crate) fn printed_address(log: &str, kind: &str) -> Option<SocketAddr> {
    log.split(&format!("{kind}("))
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|a| a.parse().ok())
}
