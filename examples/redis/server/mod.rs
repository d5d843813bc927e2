//! A Redis-compatible server on netreactor: the event handler, its
//! configuration, and how to start it (also from a test, on port 0).
//!
//! Each connection's input is parsed where it lies in the loop's read
//! buffer: every whole command of a read is run and answered into the
//! outbound queue, which the engine sends with one write when
//! `on_traffic` returns; a partial command stays in the buffer for the
//! next read. The keyspace is sharded (see `keyspace`), so loops only
//! meet on a lock when they touch keys of the same shard at once.

mod blocking;
mod client;
mod cmd;
mod exec;
mod glob;
mod keyspace;
mod long_double;
mod pubsub;
mod reply;
mod resp;
mod shard;
mod small_bytes;
mod stats;
mod table;
mod value;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use netreactor::{Action, CloseReason, Conn, EngineBuilder, EngineHandle, ListenAddrs, Service};

use client::{Client, ClientInfo, Registry};
use exec::Args;
use keyspace::{Db, Keyspace, Want, DATABASES, SHARDS};
pub(crate) use pubsub::OutputLimit;
use pubsub::{PubSub, PUBSUB_OUTPUT_LIMIT};
use reply::Reply;
use resp::{Limits, Parsed, Span};
use shard::{unix_ms, Clock};
use stats::{LoopStats, Totals};

/// Everything that can be configured (`main.rs` maps flags onto it).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    /// Unconsumed input a connection may hold (Redis's
    /// `client-query-buffer-limit`); past it the connection is closed.
    pub(crate) query_buffer_limit: usize,
    /// Bytes all connections together may hold in commands still arriving
    /// (the engine's inbound budget; past it the biggest holders close).
    pub(crate) inbound_budget: usize,
    /// Output a connection may have queued before it is closed (a client
    /// that never reads).
    pub(crate) output_limit: usize,
    /// When a subscriber that does not read is closed (Redis's
    /// `client-output-buffer-limit pubsub`).
    pub(crate) pubsub_output_limit: OutputLimit,
    /// Once this much output is queued, the rest of the input waits until
    /// it has been sent (pipelined GETs of big values stay bounded).
    pub(crate) output_pause_bytes: usize,
    /// How often the active expiry sweep runs, and how long it may take.
    pub(crate) sweep_interval: Duration,
    pub(crate) sweep_budget: Duration,
    /// The port INFO and CONFIG GET report.
    pub(crate) port: u16,
}

/// Redis's `proto-max-bulk-len` default.
pub(crate) const DEFAULT_MAX_BULK_BYTES: usize = 512 * 1024 * 1024;
/// Most arguments in one command (Redis allows up to 2^31; each costs a
/// span here, so a header announcing more is refused before buffering).
pub(crate) const DEFAULT_MAX_ARGS: usize = 1024 * 1024;
/// Redis's `client-query-buffer-limit` default.
pub(crate) const DEFAULT_QUERY_BUFFER_BYTES: usize = 1024 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits {
                max_bulk_len: DEFAULT_MAX_BULK_BYTES,
                max_args: DEFAULT_MAX_ARGS,
            },
            query_buffer_limit: DEFAULT_QUERY_BUFFER_BYTES,
            inbound_budget: 2 * DEFAULT_QUERY_BUFFER_BYTES,
            output_limit: 2 * DEFAULT_MAX_BULK_BYTES + 64 * 1024 * 1024,
            pubsub_output_limit: PUBSUB_OUTPUT_LIMIT,
            output_pause_bytes: 1024 * 1024,
            sweep_interval: Duration::from_millis(100),
            sweep_budget: Duration::from_millis(2),
            port: 6379,
        }
    }
}

/// State shared by every loop.
#[derive(Debug)]
pub(crate) struct Server {
    /// Tells apart servers running in one process (tests), whose loops
    /// keep separate per-thread counters.
    id: u64,
    pub(crate) config: Config,
    pub(crate) keyspace: Keyspace,
    pub(crate) clients: Registry,
    pub(crate) pubsub: PubSub,
    pub(crate) engine: OnceLock<EngineHandle>,
    loop_stats: Mutex<Vec<Arc<LoopStats>>>,
    pub(crate) started: Instant,
    pub(crate) run_id: String,
    next_client_id: AtomicU64,
    pub(crate) connections_received: AtomicU64,
    /// Clients blocked in BLPOP and kin (INFO's `blocked_clients`).
    pub(crate) blocked_clients: AtomicUsize,
    /// Milliseconds since start, updated by the ticker (for idle times).
    coarse_ms: AtomicU64,
    sweep_cursor: AtomicUsize,
}

impl Server {
    /// The engine drains (or stops): blocking commands end at once.
    pub(crate) fn draining(&self) -> bool {
        self.engine.get().is_some_and(|e| e.drain_deadline().is_some())
    }

    fn new(config: Config) -> Server {
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let id = SERVERS.fetch_add(1, Ordering::Relaxed);
        Server {
            id,
            pubsub: PubSub::new(config.pubsub_output_limit),
            config,
            keyspace: Keyspace::default(),
            clients: Registry::default(),
            engine: OnceLock::new(),
            loop_stats: Mutex::new(Vec::new()),
            started: Instant::now(),
            run_id: run_id(),
            next_client_id: AtomicU64::new(1),
            connections_received: AtomicU64::new(0),
            blocked_clients: AtomicUsize::new(0),
            coarse_ms: AtomicU64::new(0),
            sweep_cursor: AtomicUsize::new(0),
        }
    }

    /// Every loop's counters added up.
    pub(crate) fn totals(&self) -> Totals {
        let loops = self.loop_stats.lock().unwrap_or_else(|e| e.into_inner());
        Totals::sum(loops.iter().map(|l| &**l))
    }

    /// Milliseconds since start, to the ticker's resolution.
    pub(crate) fn coarse_ms(&self) -> u64 {
        self.coarse_ms.load(Ordering::Relaxed)
    }

    /// One pass of the active expiry sweep over up to every shard of every
    /// database made, from where the last pass stopped, within the time
    /// budget. Returns true if it stopped early (more may be due).
    fn sweep(&self, stats: &LoopStats) -> bool {
        /// Deadlines one shard may pop per pass.
        const PER_SHARD: usize = 256;
        const TOTAL: usize = DATABASES * SHARDS;
        let start = Instant::now();
        let now = unix_ms();
        let clock = Clock::default();
        let mut db = Db::new(&self.keyspace, stats, &clock, 0);
        let mut at = self.sweep_cursor.load(Ordering::Relaxed) % TOTAL;
        let mut behind = false;
        let mut visited = 0;
        while visited < TOTAL {
            if !self.keyspace.exists(at / SHARDS) {
                // A database never made: skip all of it.
                let skip = SHARDS - at % SHARDS;
                visited += skip;
                at = (at + skip) % TOTAL;
                continue;
            }
            db.acquire(Want::One(at));
            let (looked, deleted) = db.shard_at(at).sweep(now, PER_SHARD);
            db.release();
            stats.expired_keys.add(deleted);
            behind |= looked == PER_SHARD;
            at = (at + 1) % TOTAL;
            visited += 1;
            if visited % 64 == 0 && start.elapsed() > self.config.sweep_budget {
                behind = true;
                break;
            }
        }
        self.sweep_cursor.store(at, Ordering::Relaxed);
        behind
    }
}

/// A random 40-hex-digit id (INFO's run_id), from the std's seeded hasher.
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..3)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            format!("{:016x}", h.finish())
        })
        .collect::<String>()[..40]
        .to_owned()
}

/// What a loop thread keeps between callbacks: its counters, and scratch
/// space for parsing, reused by every connection of the loop.
struct LoopLocal {
    server: u64,
    stats: Arc<LoopStats>,
    spans: Vec<Span>,
    scratch: Vec<u8>,
}

thread_local! {
    static LOCAL: RefCell<Option<LoopLocal>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's [`LoopLocal`] for `server`, creating and
/// registering it on first use.
fn with_local<R>(server: &Server, f: impl FnOnce(&mut LoopLocal) -> R) -> R {
    LOCAL.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|l| l.server != server.id) {
            let stats = Arc::new(LoopStats::default());
            server
                .loop_stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(stats.clone());
            *slot = Some(LoopLocal {
                server: server.id,
                stats,
                spans: Vec::new(),
                scratch: Vec::new(),
            });
        }
        f(slot.as_mut().expect("set above"))
    })
}

/// The connection's state: the client is moved out while a batch runs and
/// back after, so a panic mid-batch leaves none half-changed behind; the id
/// stays, so that `on_close` can unregister a client lost that way.
#[derive(Default)]
pub(crate) struct Slot(Option<Client>, u64);

/// The event handler.
#[derive(Debug, Clone)]
pub(crate) struct RedisServer(Arc<Server>);

impl RedisServer {
    pub(crate) fn new(config: Config) -> RedisServer {
        RedisServer(Arc::new(Server::new(config)))
    }

    /// Runs every whole command in the connection's input.
    fn serve(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        let server = &*self.0;
        let Some(mut client) = slot.0.take() else {
            return Action::Close;
        };
        client.info.touch(server.coarse_ms());
        if let Some(subs) = client.pubsub.as_mut() {
            subs.drain(|message| conn.write_bytes(message));
        }
        let paused = with_local(server, |local| {
            if !end_block(server, &mut client, local, conn, false) {
                return false;
            }
            let paused = serve_input(server, &mut client, local, conn);
            if server.draining() {
                // A command that blocked during a drain ends at once, as
                // at its timeout: nothing would wake it before the deadline.
                end_block(server, &mut client, local, conn, false);
            }
            paused
        });
        if let Some(blocked) = client.blocked.as_mut() {
            if let Some((delay, token)) = blocked.timer_due() {
                blocked.timer_armed(conn.schedule(delay, token));
            }
        }
        if let Some(subs) = client.pubsub.as_mut() {
            subs.attach(conn);
        }
        let closing = client.closing;
        client.paused = paused;
        slot.0 = Some(client);
        if closing {
            return Action::Close;
        }
        if paused {
            // Another turn once this output is sent: if the socket takes it
            // all, no on_writable follows, so wake; if not, that turn sees
            // output pending and leaves it to on_writable.
            let _ = conn.handle().wake();
        }
        Action::Continue
    }
}

/// Ends the client's block if it was served or timed out (at once when
/// `gone`), writing its reply. Returns false while it still waits (and
/// true when it was not blocked).
fn end_block(server: &Server, client: &mut Client, local: &mut LoopLocal, conn: &mut Conn, gone: bool) -> bool {
    let Some(blocked) = client.blocked.as_ref() else {
        return true;
    };
    let (_, mut tx) = conn.split();
    let mut out = Reply::new(&mut tx, client.proto);
    if !blocking::try_finish(server, blocked, &local.stats, gone, &mut out) {
        return false;
    }
    local.stats.error_replies.add(out.errors);
    if let Some(timer) = blocked.armed_timer() {
        conn.cancel_timer(timer);
    }
    client.blocked = None;
    client.info.blocked.store(false, Ordering::Relaxed);
    server.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    true
}

/// Parses and runs commands until the input runs out, an incomplete
/// command, a protocol error, QUIT, or enough queued output; consumes
/// what was run. Returns true when it stopped for the output.
fn serve_input(server: &Server, client: &mut Client, local: &mut LoopLocal, conn: &mut Conn) -> bool {
    let clock = Clock::default();
    let (mut rx, mut tx) = conn.split();
    let input = rx.peek_all();
    let mut out = Reply::new(&mut tx, client.proto);
    let mut pos = 0;
    let mut paused = false;
    while pos < input.len() && !client.closing && client.blocked.is_none() {
        if out.queued() >= server.config.output_pause_bytes {
            paused = true;
            break;
        }
        let parsed = resp::parse(
            &input[pos..],
            &server.config.limits,
            &mut client.progress,
            &mut local.spans,
            &mut local.scratch,
        );
        match parsed {
            Parsed::Command { len, unescaped } => {
                let src = if unescaped { &local.scratch[..] } else { &input[pos..] };
                let args = Args::new(src, &local.spans);
                exec::execute(server, client, &local.stats, &clock, &args, &mut out);
                pos += len;
            }
            Parsed::Nothing { len } => pos += len,
            Parsed::Incomplete => break,
            Parsed::Error(e) => {
                out.error(&e.message());
                client.closing = true;
            }
        }
    }
    local.stats.error_replies.add(out.errors);
    local.stats.expired_keys.add(clock.take_expired());
    rx.discard(pos);
    // One command with a million arguments must not leave the loop's
    // scratch space that big (inline scratch is bounded by the parser).
    if local.spans.capacity() > SCRATCH_KEEP_SPANS {
        local.spans = Vec::new();
    }
    paused
}

/// Argument spans a loop keeps room for between commands (a command with
/// more gets a vector of its own, dropped after it).
const SCRATCH_KEEP_SPANS: usize = 4096;

impl Service for RedisServer {
    type State = Slot;

    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = self.0.engine.set(engine.clone());
        Action::Continue
    }

    fn on_open(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        let server = &*self.0;
        let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
        server.connections_received.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(ClientInfo::new(
            id,
            conn.peer_addr(),
            conn.local_addr(),
            conn.fd(),
            server.coarse_ms(),
            conn.handle(),
        ));
        server.clients.add(info.clone());
        let handle = conn.handle();
        *slot = Slot(Some(Client::new(info, handle)), id);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        // Paused with output still in flight: on_writable resumes.
        if conn.outbound_len() > 0 && slot.0.as_ref().is_some_and(|c| c.paused) {
            return Action::Continue;
        }
        self.serve(conn, slot)
    }

    fn on_writable(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        if slot.0.as_ref().is_some_and(|c| c.paused) {
            self.serve(conn, slot)
        } else {
            Action::Continue
        }
    }

    fn on_close(&self, conn: &mut Conn, slot: &mut Slot, _reason: CloseReason) {
        let server = &*self.0;
        server.clients.remove(slot.1);
        if let Some(mut client) = slot.0.take() {
            server.pubsub.unsubscribe_all(&mut client.pubsub);
            with_local(server, |local| {
                end_block(server, &mut client, local, conn, true);
                let clock = Clock::default();
                let mut db = Db::new(&server.keyspace, &local.stats, &clock, client.db);
                cmd::tx::unwatch_all(&mut db, &mut client);
            });
        } else {
            server.pubsub.forget_client(slot.1);
        }
    }

    fn on_timer(&self, conn: &mut Conn, slot: &mut Slot, token: u64) -> Action {
        let blocked_timer = slot
            .0
            .as_mut()
            .and_then(|c| c.blocked.as_mut())
            .is_some_and(|b| b.timer_fired(token));
        if blocked_timer {
            self.serve(conn, slot)
        } else {
            Action::Continue
        }
    }

    /// The engine drains: blocked clients get their timeout's reply now
    /// (no element was taken for them), so that each connection ends
    /// idle, answered, and the drain closes it.
    fn on_shutdown(&self, _engine: &EngineHandle) {
        for client in self.0.clients.all() {
            if client.blocked.load(Ordering::Relaxed) {
                let _ = client.handle.wake();
            }
        }
    }

    fn on_tick(&self, _engine: &EngineHandle) -> (Duration, Action) {
        let server = &*self.0;
        server
            .coarse_ms
            .store(server.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let behind = with_local(server, |local| server.sweep(&local.stats));
        let next = if behind {
            server.config.sweep_interval / 10
        } else {
            server.config.sweep_interval
        };
        (next, Action::Continue)
    }
}

/// Applies the engine options the server relies on to `builder`: inbound
/// limits (per connection and for all of them) and an outbound limit that
/// let a legitimate 512 MiB value through (the parser refuses a bigger one
/// at its header), and the ticker that drives the expiry sweep.
pub(crate) fn configure(config: &Config, builder: EngineBuilder) -> EngineBuilder {
    builder
        .max_inbound_buffer(config.query_buffer_limit)
        .inbound_budget(config.inbound_budget)
        .max_outbound_buffer(config.output_limit)
        .ticker(true)
}

/// Starts a server on `addr` ("tcp://127.0.0.1:0" in tests) on an engine
/// made from `builder` (loops, signals) and `configure`.
pub(crate) fn start(
    config: Config,
    builder: EngineBuilder,
    addr: impl ListenAddrs,
) -> netreactor::Result<EngineHandle> {
    configure(&config, builder).start(RedisServer::new(config), addr)
}
