//! Every dial is accounted for: one that `dial` accepts (`Ok`) ends in a
//! callback (`on_close`, after `on_open` if it connected), one the engine
//! cannot take is an `Err` at once, and neither path lets user code (the
//! dial's state, dropped) take the engine down.
//!
//! Issue 17: before it a dial made while the engine stopped (from
//! `on_shutdown`, or from an `on_close` of the stop) vanished with no
//! callback, its context (now its state) dropped outside the panic guard (a panicking
//! `Drop` killed the loop: `Error::EngineFailed`); and a dial out of file
//! descriptors returned `Ok` and then nothing happened.
//!
//! The out-of-descriptors test runs in a child process (this test binary
//! re-run with `EMFILE_DIAL_CHILD_ENV` set, executing only
//! `emfile_dial_child`), because it lowers its own RLIMIT_NOFILE.

mod util;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use netreactor::{Action, CloseReason, Conn, DialOptions, Engine, EngineHandle, Error, Origin, Service};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use util::*;

const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `stop()` may take here (nothing to flush).
const STOP_BOUND: Duration = Duration::from_secs(10);

/// A dial's state: which dial it is, and a counter bumped when it is
/// dropped (then, if `panics`, its `Drop` panics).
struct Tag {
    name: String,
    drops: Arc<AtomicUsize>,
    panics: bool,
}

impl Drop for Tag {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics && !std::thread::panicking() {
            panic!("the Drop of dial {}'s state panics", self.name);
        }
    }
}

/// Dials `target` from its callbacks: from `on_shutdown`, and from the
/// `on_close` that the stop gives each accepted connection (once to that
/// connection's own loop, once through the balancer). Records every dial's
/// result and every callback of a dialed connection, by tag.
struct StopDialer {
    target: SocketAddr,
    panics: bool,
    engine: OnceLock<EngineHandle>,
    drops: Arc<AtomicUsize>,
    made: Mutex<Vec<(String, Result<(), String>)>>,
    opened: Mutex<Vec<String>>,
    closed: Mutex<Vec<(String, CloseReason)>>,
}

impl StopDialer {
    fn new(target: SocketAddr, panics: bool) -> Self {
        StopDialer {
            target,
            panics,
            engine: OnceLock::new(),
            drops: Arc::new(AtomicUsize::new(0)),
            made: Mutex::new(Vec::new()),
            opened: Mutex::new(Vec::new()),
            closed: Mutex::new(Vec::new()),
        }
    }

    fn dial(&self, engine: &EngineHandle, name: String, options: DialOptions) {
        let tag = Tag {
            name: name.clone(),
            drops: self.drops.clone(),
            panics: self.panics,
        };
        // A dial refused with an error drops its state here, in the
        // caller: a panicking Drop panics in the caller's thread.
        let target = self.target.to_string();
        let result = catch_unwind(AssertUnwindSafe(|| {
            engine.dial_with(&target, DIAL_TIMEOUT, options.state(Some(tag)))
        }));
        let result = match result {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("refused; its state's Drop panicked in the caller".to_string()),
        };
        lock(&self.made).push((name, result));
    }

    fn tag(tag: &Option<Tag>) -> String {
        tag.as_ref().map_or_else(|| "?".to_string(), |t| t.name.clone())
    }

    /// Checks every accepted dial ended in exactly one `on_close` (after at
    /// most one `on_open`), every refused one in none, and every state
    /// was dropped exactly once. Returns the dials made.
    fn check_accounts(&self) -> Vec<(String, Result<(), String>)> {
        let made = lock(&self.made).clone();
        let opened = lock(&self.opened).clone();
        let closed = lock(&self.closed).clone();
        let report = format!("dials {made:?}; on_open {opened:?}; on_close {closed:?}");
        for (name, result) in &made {
            let opens = opened.iter().filter(|n| *n == name).count();
            let closes: Vec<_> = closed.iter().filter(|(n, _)| n == name).collect();
            match result {
                Ok(()) => {
                    assert_eq!(
                        closes.len(),
                        1,
                        "accepted dial {name} must end in one on_close: {report}"
                    );
                    assert!(opens <= 1, "dial {name}: on_open ran {opens} times: {report}");
                    if opens == 0 {
                        assert!(
                            matches!(closes[0].1, CloseReason::ConnectFailed(_) | CloseReason::Shutdown),
                            "dial {name} never opened yet closed for {:?}: {report}",
                            closes[0].1
                        );
                    }
                }
                Err(_) => assert_eq!(
                    (opens, closes.len()),
                    (0, 0),
                    "refused dial {name} got callbacks: {report}"
                ),
            }
        }
        assert_eq!(
            self.drops.load(Ordering::SeqCst),
            made.len(),
            "every dial's state is dropped exactly once: {report}"
        );
        made
    }
}

impl Service for StopDialer {
    type State = Option<Tag>; // a dial's; None for an accepted connection

    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = self.engine.set(engine.clone());
        Action::Continue
    }

    fn on_open(&self, conn: &mut Conn, tag: &mut Option<Tag>) -> Action {
        if conn.origin() == Origin::Dialed {
            lock(&self.opened).push(Self::tag(tag));
        }
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn, _: &mut Option<Tag>) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, tag: &mut Option<Tag>, reason: CloseReason) {
        if conn.origin() == Origin::Dialed {
            lock(&self.closed).push((Self::tag(tag), reason));
            return;
        }
        if reason == CloseReason::Shutdown {
            let engine = self.engine.get().expect("on_boot ran");
            let i = conn.id().event_loop();
            let own_loop = DialOptions::new().on_loop(i);
            self.dial(engine, format!("from on_close on loop {i}, to its own loop"), own_loop);
            self.dial(
                engine,
                format!("from on_close on loop {i}, through the balancer"),
                DialOptions::new(),
            );
        }
    }

    fn on_shutdown(&self, engine: &EngineHandle) {
        self.dial(engine, "from on_shutdown".into(), DialOptions::new());
        self.dial(
            engine,
            "from on_shutdown, to loop 0".into(),
            DialOptions::new().on_loop(0),
        );
    }
}

/// Stops the engine from another thread, failing the test if `stop()`
/// does not return within [`STOP_BOUND`]; then returns what `wait` says.
fn stop_within_bound(engine: util::Engine) -> netreactor::Result<()> {
    let (tx, rx) = mpsc::channel();
    let handle = engine.0.clone();
    std::thread::spawn(move || {
        handle.stop();
        let _ = tx.send(handle.wait());
    });
    let waited = rx
        .recv_timeout(STOP_BOUND)
        .unwrap_or_else(|_| panic!("stop() has not returned within {STOP_BOUND:?}"));
    drop(engine);
    waited
}

#[test]
fn dials_made_while_the_engine_stops_each_end_in_on_close_or_an_error() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = upstream.local_addr().unwrap();
    for round in 0..10 {
        let handler = Arc::new(StopDialer::new(target, false));
        let engine = start(Engine::builder().event_loops(2), handler.clone());
        // One accepted connection on each loop, so the stop's on_close
        // dials from both.
        let clients: Vec<_> = (0..2).map(|_| connect(engine.local_addr())).collect();
        wait_until(SETTLE, "both clients are accepted", || engine.connection_count() == 2);
        assert_eq!(
            stop_within_bound(engine).map_err(|e| e.to_string()),
            Ok(()),
            "round {round}"
        );
        let made = handler.check_accounts();
        assert_eq!(made.len(), 6, "round {round}: {made:?}");
        // The dials from on_shutdown come before the loops stop: the engine
        // takes them.
        for (name, result) in &made[..2] {
            assert_eq!(result, &Ok(()), "round {round}: {name}");
        }
        drop(clients);
    }
}

#[test]
fn a_dial_state_whose_drop_panics_does_not_take_the_engine_down() {
    // Running: a refused dial's state is dropped after its on_close.
    let refusing = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = refusing.local_addr().unwrap();
    drop(refusing);
    let handler = Arc::new(StopDialer::new(closed_port, true));
    let engine = start(Engine::builder().event_loops(2), handler.clone());
    for i in 0..2 {
        handler.dial(
            &engine,
            format!("refused while running on loop {i}"),
            DialOptions::new().on_loop(i),
        );
    }
    wait_until(SETTLE, "both refused dials closed", || lock(&handler.closed).len() == 2);
    wait_until(SETTLE, "both states dropped", || {
        handler.drops.load(Ordering::SeqCst) == 2
    });
    // The engine serves on, on both loops.
    let mut clients: Vec<_> = (0..2).map(|_| connect(engine.local_addr())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        round_trip(c, format!("served after a panicking drop {i}").as_bytes());
    }
    // Stopping: dials from on_shutdown and from the stop's on_close, each
    // with a state that panics when dropped.
    assert_eq!(
        stop_within_bound(engine).map_err(|e| e.to_string()),
        Ok(()),
        "a panicking dial state took the engine down"
    );
    let made = handler.check_accounts();
    assert_eq!(made.len(), 2 + 2 + 2 * 2, "{made:?}");
    for c in &mut clients {
        expect_eof(c, IO_TIMEOUT);
    }
}

const EMFILE_DIAL_CHILD_ENV: &str = "NETREACTOR_EMFILE_DIAL_CHILD";
const CHILD_TEST: &str = "emfile_dial_child";

/// Opens `/dev/null` until the process is out of descriptors; returns them.
fn exhaust_descriptors() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) if e.raw_os_error() == Some(nix::libc::EMFILE) => return held,
            Err(e) => panic!("opening /dev/null: {e}"),
        }
        assert!(held.len() < 100_000, "RLIMIT_NOFILE was not lowered");
    }
}

/// The body of `dial_out_of_file_descriptors_is_an_error_not_a_silent_ok`,
/// run only in the child process.
#[test]
fn emfile_dial_child() {
    if std::env::var_os(EMFILE_DIAL_CHILD_ENV).is_none() {
        return; // a normal test run: nothing to do here
    }
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let handler = Arc::new(RecordingEcho::default());
    let engine = start(Engine::builder().event_loops(1), handler.clone());
    let (_soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let limit = open_fd_count() as u64 + 16;
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
    let held = exhaust_descriptors();
    eprintln!("child: RLIMIT_NOFILE {limit}, {} more descriptors held", held.len());

    let target = upstream.local_addr().unwrap().to_string();
    for _ in 0..3 {
        match engine.dial(&target, DIAL_TIMEOUT) {
            Err(Error::Io(e)) => assert_eq!(e.raw_os_error(), Some(nix::libc::EMFILE), "{e}"),
            other => panic!("a dial with no descriptor left returned {other:?}, not Err(Io(EMFILE))"),
        }
    }
    // Nothing was started: no callback, no connection counted.
    assert_eq!((handler.rec.opens(), handler.rec.closes()), (0, 0));
    assert_eq!(engine.connection_count(), 0);

    // With descriptors back, a dial connects.
    drop(held);
    engine
        .dial(&target, DIAL_TIMEOUT)
        .expect("a dial with descriptors to spare");
    wait_until(SETTLE, "the dial opened", || handler.rec.opens() == 1);
    engine.stop();
    drop(upstream);
    println!("EMFILE_DIAL_CHILD_OK");
}

#[test]
fn dial_out_of_file_descriptors_is_an_error_not_a_silent_ok() {
    if std::env::var_os(EMFILE_DIAL_CHILD_ENV).is_some() {
        return; // we are the child
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(EMFILE_DIAL_CHILD_ENV, "1")
        .output()
        .expect("run the child");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("EMFILE_DIAL_CHILD_OK"),
        "the child failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}
