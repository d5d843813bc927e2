//! Services bound to listeners: [`Bind`], one named service on its own
//! addresses with its own codec, and the router that hands each connection
//! to the service of the listener it came from.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netreactor_codecs::{Decoder, Encoder};

use crate::action::Action;
use crate::addr::{Address, ListenAddrs};
use crate::conn::Conn;
use crate::error::CloseReason;
use crate::framing::{CodecPrototype, Frame};
use crate::handle::EngineHandle;
use crate::handle::ServiceInfo;
use crate::service::{GivenState, Serve, Service};

/// One named service: a [`Service`] (or [`EventHandler`](crate::EventHandler))
/// on its own addresses, with its own codec, for
/// [`EngineBuilder::bind`](crate::EngineBuilder::bind). One engine serves
/// several (its loops, buffers and limits shared), each connection handled
/// by the service of the listener it came from, and each dial by the
/// service it names ([`DialOptions::service`](crate::DialOptions::service)).
///
/// Any thread (before start).
///
/// # Examples
///
/// Datagrams on UDP and a line protocol on a Unix admin socket, one engine:
///
/// ```
/// # use std::io::{BufRead, BufReader, Write};
/// use netreactor::codec::LineCodec;
/// use netreactor::{Action, Bind, Conn, Engine, EventHandler, Frame};
///
/// struct Data;
/// impl EventHandler for Data {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         conn.echo_all(); // one datagram back to its sender
///         Action::Continue
///     }
/// }
///
/// struct Admin;
/// impl EventHandler for Admin {
///     fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
///         let reply = match &*line {
///             b"connections" => conn.engine().connection_count().to_string(),
///             _ => "unknown command".to_string(),
///         };
///         conn.write_frame(reply.as_bytes()).into()
///     }
/// }
///
/// let dir = std::env::temp_dir().join(format!("nr-bind-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let admin = format!("unix://{}", dir.join("admin.sock").display());
/// let engine = Engine::builder()
///     .bind(Bind::new("data", "udp://127.0.0.1:0", Data))
///     .bind(Bind::new("admin", admin.as_str(), Admin).codec(LineCodec::new()))
///     .start_bound()?;
///
/// let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// udp.send_to(b"ping", engine.local_addr())?;
/// let mut buf = [0u8; 16];
/// let (n, _) = udp.recv_from(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
///
/// let mut unix = std::os::unix::net::UnixStream::connect(dir.join("admin.sock"))?;
/// unix.write_all(b"connections\n")?;
/// let mut line = String::new();
/// BufReader::new(&unix).read_line(&mut line)?;
/// assert_eq!(line, "1\n"); // the admin connection itself
/// engine.stop();
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Bind {
    pub(crate) name: String,
    /// The addresses, or why they do not parse (reported by `start_bound`).
    pub(crate) addrs: std::result::Result<Vec<Address>, String>,
    pub(crate) codec: Option<CodecPrototype>,
    pub(crate) info: ServiceInfo,
    service: Arc<dyn Erased>,
}

impl fmt::Debug for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bind")
            .field("name", &self.name)
            .field("addrs", &self.addrs)
            .field("codec", &self.codec.is_some())
            .field("state", &self.info.state_name)
            .finish()
    }
}

impl Bind {
    /// `service` named `name`, listening on `addrs` (as
    /// [`EngineBuilder::start`](crate::EngineBuilder::start) takes them; an
    /// address that does not parse is reported by `start_bound`). The
    /// engine's codec ([`EngineBuilder::codec`](crate::EngineBuilder::codec))
    /// frames its connections unless [`Bind::codec`] gives its own.
    ///
    /// See the example on [`Bind`].
    pub fn new<S: Service>(name: impl Into<String>, addrs: impl ListenAddrs, service: S) -> Self {
        let name = name.into();
        Bind {
            info: ServiceInfo::of::<S>(name.clone()),
            name,
            addrs: addrs.listen_addrs().map_err(|e| e.to_string()),
            codec: None,
            service: Arc::new(service),
        }
    }

    /// A service that listens nowhere: its connections are dialed
    /// ([`DialOptions::service`](crate::DialOptions::service)).
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Bind, Engine, EventHandler};
    ///
    /// struct Upstream;
    /// impl EventHandler for Upstream {}
    /// struct Front;
    /// impl EventHandler for Front {}
    ///
    /// let engine = Engine::builder()
    ///     .bind(Bind::new("front", "tcp://127.0.0.1:0", Front))
    ///     .bind(Bind::dialing("upstream", Upstream))
    ///     .start_bound()?;
    /// assert_eq!(engine.local_addrs().len(), 1);
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn dialing<S: Service>(name: impl Into<String>, service: S) -> Self {
        Bind {
            addrs: Ok(Vec::new()),
            ..Bind::new(name, "tcp://127.0.0.1:0", service)
        }
    }

    /// This service's own codec (its connections framed by it, whatever the
    /// engine's is).
    ///
    /// See the example on [`Bind`].
    pub fn codec<C>(mut self, codec: C) -> Self
    where
        C: Decoder<Item = Bytes> + for<'a> Encoder<&'a [u8]> + Clone + Send + Sync + 'static,
        <C as Decoder>::Error: fmt::Display,
        for<'a> <C as Encoder<&'a [u8]>>::Error: fmt::Display,
    {
        self.codec = Some(CodecPrototype(Box::new(codec)));
        self
    }
}

/// A service behind the router: its state boxed (`Box` of a zero-sized
/// state allocates nothing), downcast to its own type in each call.
trait Erased: Send + Sync + 'static {
    fn new_state(&self, given: Option<GivenState>) -> GivenState;
    fn on_boot(&self, engine: &EngineHandle) -> Action;
    fn on_open(&self, conn: &mut Conn, state: &mut dyn Any) -> Action;
    fn on_traffic(&self, conn: &mut Conn, state: &mut dyn Any) -> Action;
    fn on_frame(&self, conn: &mut Conn, state: &mut dyn Any, frame: Frame<'_>) -> Action;
    fn on_eof(&self, conn: &mut Conn, state: &mut dyn Any) -> Action;
    fn on_writability_changed(&self, conn: &mut Conn, state: &mut dyn Any, writable: bool) -> Action;
    fn on_timer(&self, conn: &mut Conn, state: &mut dyn Any, token: u64) -> Action;
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action);
    fn on_writable(&self, conn: &mut Conn, state: &mut dyn Any) -> Action;
    fn on_close(&self, conn: &mut Conn, state: &mut dyn Any, reason: CloseReason);
    fn on_shutdown(&self, engine: &EngineHandle);
}

/// The state a router made for this service (it made it, so it is one).
fn own<T: 'static>(state: &mut dyn Any) -> &mut T {
    state
        .downcast_mut::<T>()
        .expect("the router gives each service the state it made")
}

impl<S: Service> Erased for S {
    fn new_state(&self, given: Option<GivenState>) -> GivenState {
        match given {
            Some(g) if g.is::<S::State>() => g,
            _ => Box::new(S::State::default()),
        }
    }
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        Service::on_boot(self, engine)
    }
    fn on_open(&self, conn: &mut Conn, state: &mut dyn Any) -> Action {
        Service::on_open(self, conn, own(state))
    }
    fn on_traffic(&self, conn: &mut Conn, state: &mut dyn Any) -> Action {
        Service::on_traffic(self, conn, own(state))
    }
    fn on_frame(&self, conn: &mut Conn, state: &mut dyn Any, frame: Frame<'_>) -> Action {
        Service::on_frame(self, conn, own(state), frame)
    }
    fn on_eof(&self, conn: &mut Conn, state: &mut dyn Any) -> Action {
        Service::on_eof(self, conn, own(state))
    }
    fn on_writability_changed(&self, conn: &mut Conn, state: &mut dyn Any, writable: bool) -> Action {
        Service::on_writability_changed(self, conn, own(state), writable)
    }
    fn on_timer(&self, conn: &mut Conn, state: &mut dyn Any, token: u64) -> Action {
        Service::on_timer(self, conn, own(state), token)
    }
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        Service::on_tick(self, engine)
    }
    fn on_writable(&self, conn: &mut Conn, state: &mut dyn Any) -> Action {
        Service::on_writable(self, conn, own(state))
    }
    fn on_close(&self, conn: &mut Conn, state: &mut dyn Any, reason: CloseReason) {
        Service::on_close(self, conn, own(state), reason)
    }
    fn on_shutdown(&self, engine: &EngineHandle) {
        Service::on_shutdown(self, engine)
    }
}

/// Several services on one engine: each connection's state says whose it
/// is (`service`: the engine's `Config::service_of` its listener or dial).
pub(crate) struct Router {
    services: Vec<Arc<dyn Erased>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("services", &self.services.len())
            .finish()
    }
}

/// A routed connection's state: its service, and that service's state.
pub(crate) struct Routed {
    service: usize,
    state: GivenState,
}

impl Router {
    /// The router of `binds`' services, numbered in their order.
    pub(crate) fn new(binds: &[Bind]) -> Self {
        Router {
            services: binds.iter().map(|b| b.service.clone()).collect(),
        }
    }

    /// Every service's answer to an engine-wide callback: a stop if any
    /// asks for one.
    fn all(&self, mut f: impl FnMut(&dyn Erased) -> Action) -> Action {
        self.services.iter().fold(Action::Continue, |acc, s| match f(&**s) {
            Action::Shutdown => Action::Shutdown,
            _ => acc,
        })
    }
}

impl Serve for Router {
    type State = Routed;

    fn new_state(&self, service: usize, given: Option<GivenState>) -> Routed {
        let service = service.min(self.services.len() - 1);
        Routed {
            service,
            state: self.services[service].new_state(given),
        }
    }
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        self.all(|s| s.on_boot(engine))
    }
    fn on_open(&self, conn: &mut Conn, st: &mut Routed) -> Action {
        self.services[st.service].on_open(conn, &mut *st.state)
    }
    fn on_traffic(&self, conn: &mut Conn, st: &mut Routed) -> Action {
        self.services[st.service].on_traffic(conn, &mut *st.state)
    }
    fn on_frame(&self, conn: &mut Conn, st: &mut Routed, frame: Frame<'_>) -> Action {
        self.services[st.service].on_frame(conn, &mut *st.state, frame)
    }
    fn on_eof(&self, conn: &mut Conn, st: &mut Routed) -> Action {
        self.services[st.service].on_eof(conn, &mut *st.state)
    }
    fn on_writability_changed(&self, conn: &mut Conn, st: &mut Routed, writable: bool) -> Action {
        self.services[st.service].on_writability_changed(conn, &mut *st.state, writable)
    }
    fn on_timer(&self, conn: &mut Conn, st: &mut Routed, token: u64) -> Action {
        self.services[st.service].on_timer(conn, &mut *st.state, token)
    }
    /// Every service's tick; the next comes at the soonest any asked for.
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        let mut next = Duration::MAX;
        let action = self.all(|s| {
            let (delay, action) = s.on_tick(engine);
            next = next.min(delay);
            action
        });
        (next, action)
    }
    fn on_writable(&self, conn: &mut Conn, st: &mut Routed) -> Action {
        self.services[st.service].on_writable(conn, &mut *st.state)
    }
    fn on_close(&self, conn: &mut Conn, st: &mut Routed, reason: CloseReason) {
        self.services[st.service].on_close(conn, &mut *st.state, reason)
    }
    fn on_shutdown(&self, engine: &EngineHandle) {
        for s in &self.services {
            s.on_shutdown(engine);
        }
    }
}
