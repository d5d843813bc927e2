//! The example binaries, for tests that run them as processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The example binaries, built (or found fresh) by cargo itself, so a test
/// run never judges a stale binary: name -> executable.
pub(crate) fn binaries() -> &'static BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--examples",
                "--message-format=json-render-diagnostics",
                "--quiet",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "cargo build --examples failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut found = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let is_example = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "example"));
            if let (true, Some(name), Some(exe)) =
                (is_example, msg["target"]["name"].as_str(), msg["executable"].as_str())
            {
                found.insert(name.to_owned(), PathBuf::from(exe));
            }
        }
        found
    })
}

/// The executable of example `name`.
pub(crate) fn binary(name: &str) -> &'static PathBuf {
    binaries()
        .get(name)
        .unwrap_or_else(|| panic!("no example {name} was built"))
}

/// An example run as a process with its stderr in `dir/name.log`, for
/// examples without a pid file (echo, proxy); killed when dropped.
#[derive(Debug)]
pub(crate) struct Running {
    child: std::process::Child,
    log: PathBuf,
}

impl Running {
    /// Starts example `name` with `args`.
    pub(crate) fn start(name: &str, args: &[&str], dir: &std::path::Path) -> Running {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = dir.join(format!("{name}-{n}.log"));
        let child = Command::new(binary(name))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the example");
        Running { child, log }
    }

    /// The address it printed as listening on, as `kind` (`"Tcp"`, `"Tls"`):
    /// "listening on [Tls(127.0.0.1:PORT)]".
    pub(crate) fn listening(&mut self, kind: &str) -> std::net::SocketAddr {
        let mut found = None;
        super::wait_until(super::process::PROCESS_WAIT, "the example prints its address", || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the example exited ({status}):\n{}", self.log_text());
            }
            found = super::process::printed_address(&self.log_text(), kind);
            found.is_some()
        });
        found.unwrap()
    }

    /// Its log so far (for failure messages).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
