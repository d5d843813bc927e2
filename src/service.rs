//! A handler with typed per-connection state: [`Service`], and what the
//! loops drive (`Serve`), a single service or the router of several.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use crate::action::Action;
use crate::conn::Conn;
use crate::error::CloseReason;
use crate::framing::Frame;
use crate::handle::{EngineHandle, ServiceInfo};
use crate::handler::EventHandler;

/// A server's behaviour with a state of its own per connection: the same
/// callbacks as [`EventHandler`], each given the connection's
/// [`State`](Service::State) by `&mut` next to the [`Conn`].
///
/// The state is made (by `Default`) when the connection is registered,
/// before `on_open`, or given by the dialer
/// ([`DialOptions::state`](crate::DialOptions::state)); it lives in the
/// connection's slot on its loop (no allocation, no downcast), and is
/// dropped right after `on_close` (a panic in its `Drop` is caught and
/// logged). On a UDP socket the state belongs to the socket, not to a peer.
///
/// Every [`EventHandler`] is a `Service` with `State = ()`: a handler with
/// nothing to keep per connection implements `EventHandler` and never meets
/// this trait. Runs on engine threads, as [`EventHandler`] says for each
/// callback.
///
/// # Examples
///
/// ```
/// # use std::io::{Read, Write};
/// use netreactor::codec::LineCodec;
/// use netreactor::{Action, Conn, Engine, Frame, Service};
///
/// /// Numbers each line of a connection.
/// struct Numbered;
///
/// impl Service for Numbered {
///     type State = u64; // lines seen on this connection
///
///     fn on_frame(&self, conn: &mut Conn, seen: &mut u64, line: Frame<'_>) -> Action {
///         *seen += 1;
///         let reply = format!("{seen}: {}", String::from_utf8_lossy(&line));
///         conn.write_frame(reply.as_bytes()).into()
///     }
/// }
///
/// let engine = Engine::builder()
///     .codec(LineCodec::new())
///     .start(Numbered, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// client.write_all(b"a\nb\n")?;
/// let mut reply = [0u8; 10];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"1: a\n2: b\n");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Service: Send + Sync + 'static {
    /// What the service keeps per connection (`()` for nothing).
    type State: Default + Send + 'static;

    /// As [`EventHandler::on_boot`].
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = engine;
        Action::Continue
    }

    /// As [`EventHandler::on_open`], with the connection's new state.
    fn on_open(&self, conn: &mut Conn, state: &mut Self::State) -> Action {
        let _ = (conn, state);
        Action::Continue
    }

    /// As [`EventHandler::on_traffic`].
    fn on_traffic(&self, conn: &mut Conn, state: &mut Self::State) -> Action {
        let _ = (conn, state);
        Action::Continue
    }

    /// As [`EventHandler::on_frame`].
    fn on_frame(&self, conn: &mut Conn, state: &mut Self::State, frame: Frame<'_>) -> Action {
        let _ = (conn, state, frame);
        Action::Continue
    }

    /// As [`EventHandler::on_eof`] (the default closes).
    fn on_eof(&self, conn: &mut Conn, state: &mut Self::State) -> Action {
        let _ = (conn, state);
        Action::Close
    }

    /// As [`EventHandler::on_writability_changed`].
    fn on_writability_changed(&self, conn: &mut Conn, state: &mut Self::State, writable: bool) -> Action {
        let _ = (conn, state, writable);
        Action::Continue
    }

    /// As [`EventHandler::on_timer`].
    fn on_timer(&self, conn: &mut Conn, state: &mut Self::State, token: u64) -> Action {
        let _ = (conn, state, token);
        Action::Continue
    }

    /// As [`EventHandler::on_tick`].
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        let _ = engine;
        (Duration::from_secs(1), Action::Continue)
    }

    /// As [`EventHandler::on_writable`].
    fn on_writable(&self, conn: &mut Conn, state: &mut Self::State) -> Action {
        let _ = (conn, state);
        Action::Continue
    }

    /// As [`EventHandler::on_close`]; the state is dropped right after.
    fn on_close(&self, conn: &mut Conn, state: &mut Self::State, reason: CloseReason) {
        let _ = (conn, state, reason);
    }

    /// As [`EventHandler::on_shutdown`].
    fn on_shutdown(&self, engine: &EngineHandle) {
        let _ = engine;
    }
}

impl<H: EventHandler> Service for H {
    type State = ();

    #[inline]
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        EventHandler::on_boot(self, engine)
    }
    #[inline]
    fn on_open(&self, conn: &mut Conn, _: &mut ()) -> Action {
        EventHandler::on_open(self, conn)
    }
    #[inline]
    fn on_traffic(&self, conn: &mut Conn, _: &mut ()) -> Action {
        EventHandler::on_traffic(self, conn)
    }
    #[inline]
    fn on_frame(&self, conn: &mut Conn, _: &mut (), frame: Frame<'_>) -> Action {
        EventHandler::on_frame(self, conn, frame)
    }
    #[inline]
    fn on_eof(&self, conn: &mut Conn, _: &mut ()) -> Action {
        EventHandler::on_eof(self, conn)
    }
    #[inline]
    fn on_writability_changed(&self, conn: &mut Conn, _: &mut (), writable: bool) -> Action {
        EventHandler::on_writability_changed(self, conn, writable)
    }
    #[inline]
    fn on_timer(&self, conn: &mut Conn, _: &mut (), token: u64) -> Action {
        EventHandler::on_timer(self, conn, token)
    }
    #[inline]
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        EventHandler::on_tick(self, engine)
    }
    #[inline]
    fn on_writable(&self, conn: &mut Conn, _: &mut ()) -> Action {
        EventHandler::on_writable(self, conn)
    }
    #[inline]
    fn on_close(&self, conn: &mut Conn, _: &mut (), reason: CloseReason) {
        EventHandler::on_close(self, conn, reason)
    }
    #[inline]
    fn on_shutdown(&self, engine: &EngineHandle) {
        EventHandler::on_shutdown(self, engine)
    }
}

/// An `Arc` of a service (or handler) is a service, so you can keep a clone
/// of the one you give the engine and read its state while it runs.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// #[derive(Default)]
/// struct Opens(AtomicUsize);
/// impl EventHandler for Opens {
///     fn on_open(&self, _conn: &mut Conn) -> Action {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Action::Continue
///     }
/// }
///
/// let opens = Arc::new(Opens::default());
/// let engine = Engine::builder().start(opens.clone(), "tcp://127.0.0.1:0")?;
/// let _client = std::net::TcpStream::connect(engine.local_addr())?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while opens.0.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// assert_eq!(opens.0.load(Ordering::Relaxed), 1);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<S: Service> Service for Arc<S> {
    type State = S::State;

    fn on_boot(&self, engine: &EngineHandle) -> Action {
        (**self).on_boot(engine)
    }
    fn on_open(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        (**self).on_open(conn, state)
    }
    fn on_traffic(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        (**self).on_traffic(conn, state)
    }
    fn on_frame(&self, conn: &mut Conn, state: &mut S::State, frame: Frame<'_>) -> Action {
        (**self).on_frame(conn, state, frame)
    }
    fn on_eof(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        (**self).on_eof(conn, state)
    }
    fn on_writability_changed(&self, conn: &mut Conn, state: &mut S::State, writable: bool) -> Action {
        (**self).on_writability_changed(conn, state, writable)
    }
    fn on_timer(&self, conn: &mut Conn, state: &mut S::State, token: u64) -> Action {
        (**self).on_timer(conn, state, token)
    }
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        (**self).on_tick(engine)
    }
    fn on_writable(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        (**self).on_writable(conn, state)
    }
    fn on_close(&self, conn: &mut Conn, state: &mut S::State, reason: CloseReason) {
        (**self).on_close(conn, state, reason)
    }
    fn on_shutdown(&self, engine: &EngineHandle) {
        (**self).on_shutdown(engine)
    }
}

/// A state handed in from outside the loop (a dial's), checked against
/// the service's state type when it was given (`EngineHandle::dial_with`).
pub(crate) type GivenState = Box<dyn Any + Send>;

impl ServiceInfo {
    /// The name and state type of `S`, named `name`.
    pub(crate) fn of<S: Service>(name: impl Into<String>) -> Self {
        ServiceInfo {
            name: name.into(),
            state: TypeId::of::<S::State>(),
            state_name: std::any::type_name::<S::State>(),
            state_size: std::mem::size_of::<S::State>(),
        }
    }
}

/// What the loops drive: the callbacks of [`Service`], plus how a
/// connection's state is made. One service ([`One`]) or several routed by
/// listener (`bind::Router`).
pub(crate) trait Serve: Send + Sync + 'static {
    type State: Send + 'static;

    /// The state of a new connection of service number `service` (its
    /// listener's, or its dial's), or the one its dial gave.
    fn new_state(&self, service: usize, given: Option<GivenState>) -> Self::State;
    fn on_boot(&self, engine: &EngineHandle) -> Action;
    fn on_open(&self, conn: &mut Conn, state: &mut Self::State) -> Action;
    fn on_traffic(&self, conn: &mut Conn, state: &mut Self::State) -> Action;
    fn on_frame(&self, conn: &mut Conn, state: &mut Self::State, frame: Frame<'_>) -> Action;
    fn on_eof(&self, conn: &mut Conn, state: &mut Self::State) -> Action;
    fn on_writability_changed(&self, conn: &mut Conn, state: &mut Self::State, writable: bool) -> Action;
    fn on_timer(&self, conn: &mut Conn, state: &mut Self::State, token: u64) -> Action;
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action);
    fn on_writable(&self, conn: &mut Conn, state: &mut Self::State) -> Action;
    fn on_close(&self, conn: &mut Conn, state: &mut Self::State, reason: CloseReason);
    fn on_shutdown(&self, engine: &EngineHandle);
}

/// An engine of one service: every callback a direct call, the state
/// inline in the connection's slot.
#[derive(Debug)]
pub(crate) struct One<S>(pub(crate) S);

impl<S: Service> Serve for One<S> {
    type State = S::State;

    fn new_state(&self, _: usize, given: Option<GivenState>) -> S::State {
        given
            .and_then(|g| g.downcast::<S::State>().ok())
            .map_or_else(S::State::default, |g| *g)
    }
    #[inline]
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        self.0.on_boot(engine)
    }
    #[inline]
    fn on_open(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        self.0.on_open(conn, state)
    }
    #[inline]
    fn on_traffic(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        self.0.on_traffic(conn, state)
    }
    #[inline]
    fn on_frame(&self, conn: &mut Conn, state: &mut S::State, frame: Frame<'_>) -> Action {
        self.0.on_frame(conn, state, frame)
    }
    #[inline]
    fn on_eof(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        self.0.on_eof(conn, state)
    }
    #[inline]
    fn on_writability_changed(&self, conn: &mut Conn, state: &mut S::State, writable: bool) -> Action {
        self.0.on_writability_changed(conn, state, writable)
    }
    #[inline]
    fn on_timer(&self, conn: &mut Conn, state: &mut S::State, token: u64) -> Action {
        self.0.on_timer(conn, state, token)
    }
    #[inline]
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        self.0.on_tick(engine)
    }
    #[inline]
    fn on_writable(&self, conn: &mut Conn, state: &mut S::State) -> Action {
        self.0.on_writable(conn, state)
    }
    #[inline]
    fn on_close(&self, conn: &mut Conn, state: &mut S::State, reason: CloseReason) {
        self.0.on_close(conn, state, reason)
    }
    #[inline]
    fn on_shutdown(&self, engine: &EngineHandle) {
        self.0.on_shutdown(engine)
    }
}
