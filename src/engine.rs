//! Building, starting and stopping an engine.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::addr::Address;
use crate::balancer::{LoadBalancer, LoadBalancing};
use crate::codec::{Decoder, Encoder};
use crate::config::{Config, MaxConnectionsPolicy};
use crate::error::Result;
use crate::framing::CodecPrototype;
use crate::handle::{mark_engine_thread, EngineHandle, EngineShared, LoopShared};
use crate::handler::{Action, EventHandler};
use crate::mailbox::{self, Task};
use crate::options::*;
use crate::reactor::acceptor::Coordinator;
use crate::reactor::event_loop::EventLoop;
use crate::sys;

/// Entry point: `Engine::builder()`.
#[derive(Debug)]
pub struct Engine(());

impl Engine {
    /// A builder with every option at its default.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use netreactor::{Action, Conn, Engine, EventHandler, LoadBalancing};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// fn main() -> netreactor::Result<()> {
    ///     Engine::builder()
    ///         .event_loops(4)
    ///         .load_balancing(LoadBalancing::LeastConnections)
    ///         .run(Echo, "tcp://127.0.0.1:9000")
    /// }
    /// ```
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}

/// Configures and starts an engine. Every option has a default; see
/// docs/limits.md for the reasoning behind each.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    event_loops: usize,
    load_balancing: LoadBalancing,
    pin_threads: bool,
    reuse_port: bool,
    handle_signals: bool,
    shutdown_deadline: Duration,
    cfg: Config,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            event_loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_balancing: LoadBalancing::default(),
            pin_threads: false,
            reuse_port: false,
            handle_signals: false,
            shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
            cfg: Config {
                read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
                max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
                max_outbound_bytes: DEFAULT_MAX_OUTBOUND_BYTES,
                events_per_wait: DEFAULT_EVENTS_PER_WAIT,
                tasks_per_iteration: DEFAULT_TASKS_PER_ITERATION,
                close_linger: DEFAULT_CLOSE_LINGER,
                tcp_nodelay: true,
                high_watermark: DEFAULT_HIGH_WATERMARK_BYTES,
                low_watermark: DEFAULT_LOW_WATERMARK_BYTES,
                pause_reading_when_unwritable: true,
                read_idle_timeout: None,
                write_idle_timeout: None,
                frame_timeout: None,
                max_connections: None,
                ticker: false,
                codec: None,
            },
        }
    }
}

impl EngineBuilder {
    /// Number of event-loop threads (default: available cores; at least 1).
    pub fn event_loops(mut self, n: usize) -> Self {
        self.event_loops = n.max(1);
        self
    }

    /// How accepted connections are spread over the loops (default round robin).
    pub fn load_balancing(mut self, lb: LoadBalancing) -> Self {
        self.load_balancing = lb;
        self
    }

    /// Uses a balancer of your own.
    pub fn load_balancer(self, lb: impl LoadBalancer) -> Self {
        self.load_balancing(LoadBalancing::Custom(Arc::new(lb)))
    }

    /// Pins loop `i` to core `i` (modulo the core count). Default off.
    pub fn pin_threads(mut self, on: bool) -> Self {
        self.pin_threads = on;
        self
    }

    /// Gives every loop its own `SO_REUSEPORT` listener, so the kernel
    /// balances connections and no acceptor thread hands them over. The load
    /// balancer is then unused. Default off.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Sets TCP_NODELAY on accepted connections (default on).
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.cfg.tcp_nodelay = on;
        self
    }

    /// Bytes one read takes, and the size of each loop's read buffer
    /// (default [`DEFAULT_READ_BUFFER_BYTES`]).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.cfg.read_buffer_bytes = bytes.max(1024);
        self
    }

    /// Unconsumed inbound bytes at which a connection is closed
    /// (default [`DEFAULT_MAX_INBOUND_BYTES`]).
    pub fn max_inbound_buffer(mut self, bytes: usize) -> Self {
        self.cfg.max_inbound_bytes = bytes.max(1);
        self
    }

    /// Queued outbound bytes at which a connection is closed
    /// (default [`DEFAULT_MAX_OUTBOUND_BYTES`]).
    pub fn max_outbound_buffer(mut self, bytes: usize) -> Self {
        self.cfg.max_outbound_bytes = bytes.max(1);
        self
    }

    /// How long `close` waits for queued output (default [`DEFAULT_CLOSE_LINGER`]).
    pub fn close_linger(mut self, d: Duration) -> Self {
        self.cfg.close_linger = d;
        self
    }

    /// How long [`EngineHandle::stop`] lets connections flush
    /// (default [`DEFAULT_SHUTDOWN_DEADLINE`]).
    pub fn shutdown_deadline(mut self, d: Duration) -> Self {
        self.shutdown_deadline = d;
        self
    }

    /// Makes SIGINT and SIGTERM stop the engine gracefully (as
    /// [`EngineHandle::stop`]). Installs signal handlers for the engine's
    /// lifetime and restores the previous ones when it stops; works whatever
    /// the other threads' signal masks are. One engine at a time may do this
    /// (`start` fails otherwise). Default off.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Cuts each connection's byte stream into frames with `codec` (cloned
    /// once per connection): `on_frame` receives each frame, `write_frame`
    /// encodes. A decoding error closes only that connection, with
    /// `CloseReason::Codec`.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::codec::LengthFieldCodec;
    /// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
    ///
    /// struct FrameEcho;
    /// impl EventHandler for FrameEcho {
    ///     fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
    ///         conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    ///     }
    /// }
    /// let engine = Engine::builder().codec(LengthFieldCodec::new()).start(FrameEcho, "127.0.0.1:0")?;
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn codec<C>(mut self, codec: C) -> Self
    where
        C: Decoder<Item = Bytes> + for<'a> Encoder<&'a [u8]> + Clone + Send + Sync + 'static,
        <C as Decoder>::Error: fmt::Display,
        for<'a> <C as Encoder<&'a [u8]>>::Error: fmt::Display,
    {
        self.cfg.codec = Some(CodecPrototype(Box::new(codec)));
        self
    }

    /// Outbound watermarks: above `high` a connection turns unwritable,
    /// at or below `low` writable again (defaults 64 KiB / 32 KiB).
    pub fn write_watermarks(mut self, low: usize, high: usize) -> Self {
        self.cfg.high_watermark = high.max(1);
        self.cfg.low_watermark = low.min(self.cfg.high_watermark);
        self
    }

    /// Pause reading a connection while it is unwritable (default on), so
    /// a peer that sends but never reads cannot make us buffer its replies.
    pub fn pause_reading_when_unwritable(mut self, on: bool) -> Self {
        self.cfg.pause_reading_when_unwritable = on;
        self
    }

    /// Close connections that receive nothing for `d` (default: never).
    pub fn read_idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.read_idle_timeout = Some(d);
        self
    }

    /// Close connections whose queued output makes no progress for `d`
    /// (the peer is not reading; default: never).
    pub fn write_idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.write_idle_timeout = Some(d);
        self
    }

    /// Close connections whose incomplete frame (or, without a codec,
    /// unconsumed input) is still incomplete `d` after its first byte
    /// arrived: the slowloris guard (default: never).
    pub fn frame_timeout(mut self, d: Duration) -> Self {
        self.cfg.frame_timeout = Some(d);
        self
    }

    /// At most `n` open connections; beyond that `policy` applies.
    pub fn max_connections(mut self, n: usize, policy: MaxConnectionsPolicy) -> Self {
        self.cfg.max_connections = Some((n, policy));
        self
    }

    /// Calls [`EventHandler::on_tick`] on loop 0 (default off).
    pub fn ticker(mut self, on: bool) -> Self {
        self.cfg.ticker = on;
        self
    }

    /// Starts the engine and blocks until it has stopped.
    ///
    /// # Errors
    /// The address is invalid, binding failed, or a thread could not start.
    pub fn run<H: EventHandler>(self, handler: H, addr: &str) -> Result<()> {
        let handle = self.start(handler, addr)?;
        handle.wait();
        Ok(())
    }

    /// Starts the engine in the background and returns a handle to it.
    ///
    /// # Errors
    /// As [`EngineBuilder::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(2).start(Echo, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// client.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// client.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start<H: EventHandler>(self, handler: H, addr: &str) -> Result<EngineHandle> {
        let Address::Tcp(addr) = Address::parse(addr)?;
        let n = self.event_loops;
        let backlog = sys::socket::listen_backlog();

        // Listeners: one, or one per loop sharing the port.
        let mut listeners: Vec<OwnedFd> = Vec::new();
        let first = sys::socket::tcp_listener(addr, self.reuse_port, backlog)?;
        let bound = sys::socket::local_addr(first.as_fd()).unwrap_or(addr);
        listeners.push(first);
        if self.reuse_port {
            for _ in 1..n {
                listeners.push(sys::socket::tcp_listener(bound, true, backlog)?);
            }
        }

        let signals = if self.handle_signals {
            Some(sys::signal::SignalReader::install()?)
        } else {
            None
        };

        let mut loops = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        for _ in 0..n {
            let (mailbox, inbox) = mailbox::mailbox()?;
            loops.push(LoopShared::new(mailbox));
            inboxes.push(inbox);
        }
        let (coord_mailbox, coord_inbox) = mailbox::mailbox()?;
        let shared = Arc::new(EngineShared::new(
            loops,
            vec![bound],
            coord_mailbox,
            self.shutdown_deadline,
        ));
        let handle = EngineHandle::from_shared(shared.clone());
        let handler = Arc::new(handler);
        let boot = handler.on_boot(&handle);

        let cfg = Arc::new(self.cfg);
        let cores = if self.pin_threads {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut loop_threads = Vec::with_capacity(n);
        let acceptor_listener = if self.reuse_port { None } else { listeners.pop() };
        let mut own_listeners = listeners.into_iter();
        for (i, inbox) in inboxes.into_iter().enumerate() {
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let spawned = EventLoop::new(
                i,
                handler.clone(),
                inbox,
                shared.clone(),
                cfg.clone(),
                own_listeners.next(),
            )
            .and_then(|lp| {
                std::thread::Builder::new().name(format!("nr-loop-{i}")).spawn(move || {
                    mark_engine_thread();
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    lp.run();
                })
            });
            match spawned {
                Ok(t) => loop_threads.push(t),
                Err(e) => {
                    abort_start(&shared, loop_threads);
                    return Err(e.into());
                }
            }
        }

        let coordinator = Coordinator::new(
            acceptor_listener,
            signals,
            coord_inbox,
            shared.clone(),
            self.load_balancing.into_balancer(),
            cfg.clone(),
            handler,
            loop_threads,
        );
        let spawned = coordinator.and_then(|c| {
            std::thread::Builder::new().name("nr-accept".into()).spawn(move || {
                mark_engine_thread();
                c.run();
            })
        });
        let t = match spawned {
            Ok(t) => t,
            Err(e) => {
                // The loop threads went with the coordinator: stop them by message.
                abort_start(&shared, Vec::new());
                return Err(e.into());
            }
        };
        shared.set_coordinator_thread(t);
        if boot == Action::Shutdown {
            handle.request_stop(Duration::ZERO);
        }
        Ok(handle)
    }
}

fn abort_start(shared: &EngineShared, threads: Vec<JoinHandle<()>>) {
    let deadline = Instant::now();
    for l in &shared.loops {
        let _ = l.mailbox.post(Task::Stop(deadline));
    }
    for t in threads {
        let _ = t.join();
    }
}
