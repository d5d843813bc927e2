//! A graceful stop loses none of the bytes already queued for peers that
//! keep reading; `on_shutdown` runs once, after the listener is closed; the
//! deadline bounds peers that do not read.

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Bytes, CloseReason, Conn, ConnHandle, Engine, EngineHandle, EventHandler};
use util::*;

const MIB: usize = 1024 * 1024;

/// Queues `payload` upon "send"; watches the shutdown.
#[derive(Default)]
struct Server {
    payload: Bytes,
    queued: AtomicUsize,
    shutdowns: AtomicUsize,
    /// Set when `on_shutdown` starts.
    shutting_down: AtomicBool,
    shutdown_at: Mutex<Option<Instant>>,
    /// bytes_out when `on_shutdown` started.
    bytes_out_at_shutdown: AtomicU64,
    /// The outcome of connecting to ourselves from `on_shutdown`.
    connect_in_shutdown: Mutex<Option<std::io::Result<()>>>,
    /// Handles to say goodbye through from `on_shutdown`.
    goodbye: Mutex<Vec<ConnHandle>>,
    say_goodbye: bool,
    /// Shrink each connection's kernel send buffer (SO_SNDBUF) to this.
    send_buffer: Option<usize>,
    closes: Mutex<Vec<(Option<SocketAddr>, String, Instant)>>,
}

impl EventHandler for Server {
    fn on_open(&self, conn: &mut Conn) -> Action {
        if let Some(size) = self.send_buffer {
            // SAFETY: the descriptor is this connection's and stays open for
            // the whole callback; the borrow does not outlive it.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(conn.fd()) };
            socket2::SockRef::from(&fd).set_send_buffer_size(size).unwrap();
        }
        if self.say_goodbye {
            lock(&self.goodbye).push(conn.handle());
        }
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"send" {
            conn.discard(4);
            conn.write_bytes(self.payload.clone());
            self.queued.fetch_add(1, Ordering::SeqCst);
        } else {
            conn.echo_all();
        }
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        lock(&self.closes).push((conn.peer_addr(), format!("{reason:?}"), Instant::now()));
    }

    fn on_shutdown(&self, engine: &EngineHandle) {
        *lock(&self.shutdown_at) = Some(Instant::now());
        self.bytes_out_at_shutdown
            .store(engine.stats().bytes_out, Ordering::SeqCst);
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        self.shutting_down.store(true, Ordering::SeqCst);
        let attempt = TcpStream::connect_timeout(&engine.local_addr(), Duration::from_secs(1)).map(drop);
        *lock(&self.connect_in_shutdown) = Some(attempt);
        for h in lock(&self.goodbye).iter() {
            h.async_write(Bytes::from_static(b"goodbye")).unwrap();
        }
    }
}

struct Shared(Arc<Server>);

impl EventHandler for Shared {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.0.on_open(conn)
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.0.on_traffic(conn)
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.0.on_close(conn, reason)
    }
    fn on_shutdown(&self, engine: &EngineHandle) {
        self.0.on_shutdown(engine)
    }
}

/// A client with a small receive buffer (and so a small TCP window), so the
/// kernel cannot take a payload off the engine's hands before it is read.
fn small_window_client(addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(32 * 1024).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[test]
fn stop_under_load_delivers_every_queued_byte_then_eof() {
    const CLIENTS: usize = 50;
    const LEN: usize = 2 * MIB;
    let h = Arc::new(Server {
        payload: Bytes::from(Rng::new(50).bytes(LEN)),
        send_buffer: Some(64 * 1024),
        ..Server::default()
    });
    let engine = start(Engine::builder().event_loops(4), Shared(h.clone()));
    let addr = engine.local_addr();

    // Each client asks for 2 MiB, and starts reading only once the stop has
    // begun. Small kernel buffers on both sides keep most of it queued in
    // the engine until then.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut s = small_window_client(addr);
            s.write_all(b"send").unwrap();
            let h = h.clone();
            thread::spawn(move || {
                let peer = s.local_addr().unwrap();
                wait_until(SETTLE, "on_shutdown started", || h.shutting_down.load(Ordering::SeqCst));
                let got = read_to_eof(&mut s, Duration::from_secs(20));
                assert_eq!(got.len(), LEN, "client {i}: bytes before EOF");
                assert!(
                    got[..] == h.payload[..],
                    "client {i}: bytes differ at {:?}",
                    first_difference(&got, &h.payload)
                );
                peer
            })
        })
        .collect();
    wait_until(SETTLE, "every payload is queued", || {
        h.queued.load(Ordering::SeqCst) == CLIENTS
    });

    let t = Instant::now();
    engine.stop_with_deadline(Duration::from_secs(5));
    let took = t.elapsed();
    assert!(engine.is_stopped());

    let peers: Vec<SocketAddr> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.join().unwrap_or_else(|_| panic!("client {i} failed")))
        .collect();
    let unsent = (CLIENTS * LEN) as u64 - h.bytes_out_at_shutdown.load(Ordering::SeqCst);
    eprintln!(
        "stop took {took:?}; {} KiB were still queued when it began",
        unsent / 1024
    );
    assert!(
        took < Duration::from_secs(5),
        "the stop ran into its deadline: {took:?}"
    );
    assert!(
        unsent >= (CLIENTS * LEN / 2) as u64,
        "only {unsent} bytes were queued when the stop began: not a stop under load"
    );

    let closes = lock(&h.closes).clone();
    assert_eq!(closes.len(), CLIENTS, "on_close calls");
    let shutdown_at = lock(&h.shutdown_at).expect("on_shutdown ran");
    for (peer, why, at) in &closes {
        assert_eq!(why, "Shutdown", "{peer:?}");
        assert!(*at >= shutdown_at, "{peer:?} closed before on_shutdown");
        assert!(peers.contains(&peer.unwrap()));
    }
    assert_eq!(h.shutdowns.load(Ordering::SeqCst), 1, "on_shutdown calls");
    let attempt = lock(&h.connect_in_shutdown)
        .take()
        .expect("on_shutdown tried to connect");
    assert!(attempt.is_err(), "a connection was accepted while on_shutdown ran");
    let stats = engine.stats();
    assert_eq!(stats.closed_shutdown, CLIENTS as u64);
    assert_eq!(stats.bytes_out, (CLIENTS * LEN) as u64);
}

#[test]
fn stop_deadline_bounds_a_peer_that_never_reads() {
    const DEADLINE: Duration = Duration::from_millis(300);
    let h = Arc::new(Server {
        payload: Bytes::from(vec![0xEE; 16 * MIB]),
        ..Server::default()
    });
    let engine = start(Engine::builder().event_loops(2), Shared(h.clone()));
    let mut stuck = connect(engine.local_addr());
    let stuck_peer = stuck.local_addr().unwrap();
    stuck.write_all(b"send").unwrap();
    let mut reader = connect(engine.local_addr());
    round_trip(&mut reader, b"hello");
    wait_until(SETTLE, "the payload is queued", || h.queued.load(Ordering::SeqCst) == 1);

    let t = Instant::now();
    engine.stop_with_deadline(DEADLINE);
    let took = t.elapsed();
    assert!(
        took >= DEADLINE && took < Duration::from_secs(2),
        "stop_with_deadline({DEADLINE:?}) took {took:?}"
    );
    let closes = lock(&h.closes).clone();
    assert_eq!(closes.len(), 2);
    for (peer, why, _) in &closes {
        let expected = if *peer == Some(stuck_peer) {
            "LingerTimeout"
        } else {
            "Shutdown"
        };
        assert_eq!(why, expected, "{peer:?}");
    }
    expect_eof(&mut reader, IO_TIMEOUT);
    drop(stuck);
}

#[test]
fn writes_queued_through_handles_in_on_shutdown_are_delivered() {
    let h = Arc::new(Server {
        say_goodbye: true,
        ..Server::default()
    });
    let engine = start(Engine::builder().event_loops(2), Shared(h.clone()));
    let mut clients: Vec<_> = (0..6).map(|_| connect(engine.local_addr())).collect();
    for c in &mut clients {
        round_trip(c, b"hi");
    }
    engine.stop();
    for c in &mut clients {
        assert_eq!(read_to_eof(c, IO_TIMEOUT), b"goodbye");
    }
    assert!(lock(&h.closes).iter().all(|c| c.1 == "Shutdown"));
    assert_eq!(lock(&h.closes).len(), 6);
}
