//! Per-connection state ([`Client`], the service's per-connection state) and what
//! other connections may see of it ([`ClientInfo`], in the registry that
//! CLIENT LIST reads).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use netreactor::ConnHandle;

use super::blocking::Blocked;
use super::pubsub::Subscriptions;
use super::reply::Proto;
use super::resp::{Progress, Span};
use super::table::Spec;
use super::value::Bytes;

/// One connection's state, owned by its loop.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) info: Arc<ClientInfo>,
    pub(crate) proto: Proto,
    /// The selected database (SELECT).
    pub(crate) db: usize,
    /// Progress through a command that has not fully arrived.
    pub(crate) progress: Progress,
    /// Commands queued since MULTI (None: not in a transaction).
    pub(crate) multi: Option<Box<Multi>>,
    /// WATCHed keys with the version each had when watched.
    pub(crate) watched: Vec<Watched>,
    /// Channels and patterns subscribed to (None: none).
    pub(crate) pubsub: Option<Box<Subscriptions>>,
    /// QUIT, or a protocol error: close once the replies are sent.
    pub(crate) closing: bool,
    /// Input is waiting because enough output was queued.
    pub(crate) paused: bool,
    /// This connection's handle (a blocked client is woken through it).
    pub(crate) handle: ConnHandle,
    /// Blocked in BLPOP and kin: no command runs until it ends.
    pub(crate) blocked: Option<Box<Blocked>>,
    /// Counts blocks (each one's timer token).
    pub(crate) block_serial: u64,
    /// EXEC is running the queued commands (which must not block).
    pub(crate) in_exec: bool,
}

impl Client {
    pub(crate) fn new(info: Arc<ClientInfo>, handle: ConnHandle) -> Client {
        Client {
            info,
            proto: Proto::Resp2,
            db: 0,
            progress: Progress::default(),
            multi: None,
            watched: Vec::new(),
            pubsub: None,
            closing: false,
            paused: false,
            handle,
            blocked: None,
            block_serial: 0,
            in_exec: false,
        }
    }

    /// Selects database `db` (SELECT, RESET), for CLIENT LIST too.
    pub(crate) fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db as u8, Ordering::Relaxed);
    }
}

/// A transaction being queued.
#[derive(Debug, Default)]
pub(crate) struct Multi {
    pub(crate) queued: Vec<Queued>,
    /// A command was refused while queueing: EXEC will fail (EXECABORT).
    pub(crate) failed: bool,
}

/// A queued command: its arguments copied out of the input buffer.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) spec: &'static Spec,
    pub(crate) data: Vec<u8>,
    pub(crate) spans: Vec<Span>,
}

/// A WATCHed key, in the database it was watched in.
#[derive(Debug)]
pub(crate) struct Watched {
    pub(crate) db: usize,
    pub(crate) key: Bytes,
    pub(crate) version: u64,
}

/// What CLIENT LIST shows of a connection; shared with the registry.
#[derive(Debug)]
pub(crate) struct ClientInfo {
    pub(crate) id: u64,
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) laddr: Option<SocketAddr>,
    pub(crate) fd: i32,
    /// Server uptime (ms) when the connection opened / last sent a command.
    pub(crate) opened_ms: u64,
    pub(crate) active_ms: AtomicU64,
    /// The address of the last command's `Spec` (0: none yet).
    pub(crate) last_command: AtomicUsize,
    pub(crate) resp: AtomicU8,
    /// The selected database.
    pub(crate) db: AtomicU8,
    /// Commands queued in MULTI, or -1.
    pub(crate) multi: AtomicI64,
    /// Channels and patterns subscribed to (CLIENT LIST's sub and psub).
    pub(crate) subscribed: [AtomicU32; 2],
    /// Blocked on keys (CLIENT LIST's flag b).
    pub(crate) blocked: AtomicBool,
    /// Its connection, for the drain to wake it when it is blocked.
    pub(crate) handle: ConnHandle,
    /// Allocated when the client first names itself (most never do).
    names: Mutex<Option<Box<Names>>>,
}

/// The name a client gives itself (CLIENT SETNAME, HELLO SETNAME).
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) name: Option<Bytes>,
}

impl ClientInfo {
    pub(crate) fn new(
        id: u64,
        addr: Option<SocketAddr>,
        laddr: Option<SocketAddr>,
        fd: i32,
        now_ms: u64,
        handle: ConnHandle,
    ) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            opened_ms: now_ms,
            active_ms: AtomicU64::new(now_ms),
            last_command: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            db: AtomicU8::new(0),
            multi: AtomicI64::new(-1),
            subscribed: [AtomicU32::new(0), AtomicU32::new(0)],
            blocked: AtomicBool::new(false),
            handle,
            names: Mutex::new(None),
        }
    }

    /// Reads the names (None: never set).
    pub(crate) fn names<R>(&self, f: impl FnOnce(Option<&Names>) -> R) -> R {
        f(self.names.lock().unwrap_or_else(|e| e.into_inner()).as_deref())
    }

    /// Changes the names.
    pub(crate) fn set_names(&self, f: impl FnOnce(&mut Names)) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        f(names.get_or_insert_with(Box::default));
    }

    /// Subscribed to a channel or a pattern (CLIENT LIST's flag P and type
    /// pubsub).
    pub(crate) fn is_pubsub(&self) -> bool {
        self.subscribed.iter().any(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Notes activity; a relaxed store, and only when the coarse clock moved.
    #[inline]
    pub(crate) fn touch(&self, now_ms: u64) {
        if self.active_ms.load(Ordering::Relaxed) != now_ms {
            self.active_ms.store(now_ms, Ordering::Relaxed);
        }
    }
}

/// Every open connection, by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Registry {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, info: Arc<ClientInfo>) {
        self.map().insert(info.id, info);
    }

    pub(crate) fn remove(&self, id: u64) {
        self.map().remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }

    /// A snapshot, in id order.
    pub(crate) fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map().values().cloned().collect()
    }
}

/// CLIENT SETNAME's rule: printable ASCII without spaces ('!'..='~').
pub(crate) fn is_valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}
