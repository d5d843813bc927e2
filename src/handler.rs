//! The callbacks a server implements.

use std::time::Duration;

pub use crate::action::Action;
use crate::conn::Conn;
use crate::error::CloseReason;
use crate::framing::Frame;
use crate::handle::EngineHandle;

/// A server's behaviour: one shared instance, called from every loop thread.
///
/// Every method has a default that does nothing, so a server implements only
/// what it needs. Connection callbacks run on the loop thread that owns the
/// connection, never concurrently for the same connection. A panic in a
/// connection callback closes that connection with
/// [`CloseReason::HandlerPanic`]; the loop goes on serving the others.
///
/// Runs on engine threads: each method says which thread the engine calls
/// it on (a connection's loop thread `nr-loop-N`, loop 0 for `on_tick`, the
/// coordinator `nr-accept` for `on_shutdown`, the caller of `start` for
/// `on_boot`), hence `Send + Sync`.
///
/// # Examples
///
/// ```
/// # use std::io::{Read, Write};
/// # use std::time::Duration;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// struct Echo;
///
/// impl EventHandler for Echo {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         conn.echo_all();
///         Action::Continue
///     }
/// }
///
/// let engine = Engine::builder().event_loops(1).start(Echo, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"echo")?;
/// let mut reply = [0; 4];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"echo");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait EventHandler: Send + Sync + 'static {
    /// Runs once when the engine has bound its listeners, before any
    /// connection is served.
    ///
    /// Runs on the thread that called [`start`](crate::EngineBuilder::start)
    /// or [`run`](crate::EngineBuilder::run), before that call returns.
    /// [`Action::Shutdown`] stops the engine at once; `Close` is ignored. A
    /// panic here makes `start` fail with
    /// [`Error::EngineFailed`](crate::Error::EngineFailed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use std::sync::{Arc, OnceLock};
    /// use netreactor::{Action, Engine, EngineHandle, EventHandler};
    ///
    /// /// Remembers (and logs) where it listens.
    /// #[derive(Default)]
    /// struct Announce(OnceLock<SocketAddr>);
    /// impl EventHandler for Announce {
    ///     fn on_boot(&self, engine: &EngineHandle) -> Action {
    ///         println!("listening on {}", engine.local_addr());
    ///         let _ = self.0.set(engine.local_addr());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let handler = Arc::new(Announce::default());
    /// let engine = Engine::builder().event_loops(1).start(handler.clone(), "tcp://127.0.0.1:0")?;
    /// assert_eq!(handler.0.get(), Some(&engine.local_addr())); // ran before start returned
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = engine;
        Action::Continue
    }

    /// A connection joined a loop. Writes made here (a greeting) are sent
    /// when it returns.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`),
    /// before any other callback of that connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Greet;
    /// impl EventHandler for Greet {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"welcome\n");
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Greet, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut greeting = [0; 8];
    /// client.read_exact(&mut greeting)?;
    /// assert_eq!(&greeting, b"welcome\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_open(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Continue
    }

    /// Bytes arrived (or [`ConnHandle::wake`](crate::ConnHandle::wake) was
    /// called). Consume with `peek`/`discard`/`next`/`echo_all`; what is left
    /// stays in the connection's buffer for the next call. Writes are
    /// flushed with one system call when it returns.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Answers each complete line with its length; a partial line waits.
    /// struct LineLength;
    /// impl EventHandler for LineLength {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         while let Some(end) = conn.peek_all().iter().position(|&b| b == b'\n') {
    ///             let line = conn.next(end + 1).expect("the whole line has arrived");
    ///             conn.write(format!("{}\n", line.len() - 1).as_bytes());
    ///         }
    ///         Action::Continue // what is left stays buffered for the next call
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(LineLength, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"hello\nwor")?;
    /// client.write_all(b"ld!\n")?;
    /// let mut reply = [0; 4];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"5\n6\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Continue
    }

    /// One decoded frame, when the engine has a codec
    /// ([`EngineBuilder::codec`](crate::EngineBuilder::codec)); then
    /// `on_traffic` runs only for [`ConnHandle::wake`](crate::ConnHandle::wake).
    ///
    /// The frame is lent: it dereferences to its bytes, which still lie in
    /// the connection's read buffer, so handling it costs no copy and no
    /// reference count. Call [`Frame::into_bytes`] to keep it beyond the
    /// call (zero-copy too). While frames are being handed out the codec
    /// owns the received bytes, so `conn.inbound_len()` is 0 here; to hand
    /// the rest of the stream to `on_traffic` instead (a protocol switch),
    /// call [`Conn::end_decoding`].
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::codec::LineCodec;
    /// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
    ///
    /// /// Sends every line back reversed.
    /// struct Reverse;
    /// impl EventHandler for Reverse {
    ///     fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
    ///         let reversed: Vec<u8> = line.iter().rev().copied().collect();
    ///         match conn.write_frame(&reversed) {
    ///             Ok(()) => Action::Continue,
    ///             Err(_) => Action::Close,
    ///         }
    ///     }
    /// }
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .codec(LineCodec::new())
    ///     .start(Reverse, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"abc\r\nxy\n")?;
    /// let mut reply = [0; 7];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"cba\nyx\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        let _ = (conn, frame);
        Action::Continue
    }

    /// The peer shut its sending side (end of file). The default closes the
    /// connection once pending output is flushed (`CloseReason::PeerEof`).
    /// Return `Action::Continue` to keep it half-open: you can still write,
    /// and close it later.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`), after
    /// the last `on_traffic` (or `on_frame`) of the received bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Answers once the client has finished sending.
    /// struct CountAll;
    /// impl EventHandler for CountAll {
    ///     fn on_traffic(&self, _conn: &mut Conn) -> Action {
    ///         Action::Continue // keep everything until the end
    ///     }
    ///     fn on_eof(&self, conn: &mut Conn) -> Action {
    ///         let n = conn.discard(usize::MAX);
    ///         conn.write(format!("{n} bytes\n").as_bytes());
    ///         Action::Close // after the reply is flushed
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(CountAll, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"hello")?;
    /// client.shutdown(std::net::Shutdown::Write)?; // end of file for the server
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "5 bytes\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_eof(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Close
    }

    /// Queued output crossed the high watermark (`false`: stop producing; by
    /// default reading this connection also pauses) or fell back to the low
    /// watermark (`true`). [`Conn::is_writable`] already tells the new state.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`), right
    /// after the flush that crossed the watermark.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Sends 16 MiB to each client and reports when it falls behind and catches up.
    /// struct Report(mpsc::Sender<bool>);
    /// impl EventHandler for Report {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write_bytes(vec![b'x'; 16 << 20]);
    ///         Action::Continue
    ///     }
    ///     fn on_writability_changed(&self, conn: &mut Conn, writable: bool) -> Action {
    ///         assert_eq!(conn.is_writable(), writable);
    ///         let _ = self.0.send(writable);
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Report(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// // Not reading yet: far more than the 64 KiB high watermark stays queued.
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, false);
    /// client.read_exact(&mut vec![0; 16 << 20])?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, true);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_writability_changed(&self, conn: &mut Conn, writable: bool) -> Action {
        let _ = (conn, writable);
        Action::Continue
    }

    /// A timer set with [`Conn::schedule`] is due; `token` is the one given
    /// there.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`); not
    /// after the connection has begun to close.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Says "ping" 10 ms after a client connects, then hangs up.
    /// struct Ping;
    /// impl EventHandler for Ping {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.schedule(Duration::from_millis(10), 7);
    ///         Action::Continue
    ///     }
    ///     fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
    ///         conn.write(format!("ping {token}").as_bytes());
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Ping, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut said = String::new();
    /// client.read_to_string(&mut said)?;
    /// assert_eq!(said, "ping 7");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        let _ = (conn, token);
        Action::Continue
    }

    /// Called periodically when the builder enabled the
    /// [`ticker`](crate::EngineBuilder::ticker): first right after start,
    /// then after each returned delay (at least 1 ms; `Duration::MAX`: never
    /// again). `Action::Shutdown` stops the engine (a tick that falls due
    /// while it stops may still run); `Close` is ignored.
    ///
    /// Runs on loop 0's thread (`nr-loop-0`), between its connections'
    /// callbacks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use netreactor::{Action, Engine, EngineHandle, EventHandler};
    ///
    /// /// Ticks every 5 ms and stops the engine from the third tick on.
    /// #[derive(Default)]
    /// struct Countdown(AtomicU32);
    /// impl EventHandler for Countdown {
    ///     fn on_tick(&self, _engine: &EngineHandle) -> (Duration, Action) {
    ///         let ticks = self.0.fetch_add(1, Ordering::Relaxed) + 1;
    ///         let action = if ticks >= 3 { Action::Shutdown } else { Action::Continue };
    ///         (Duration::from_millis(5), action)
    ///     }
    /// }
    ///
    /// let handler = Arc::new(Countdown::default());
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .ticker(true)
    ///     .start(handler.clone(), "tcp://127.0.0.1:0")?;
    /// engine.wait()?; // returns once the ticks have stopped it
    /// assert!(handler.0.load(Ordering::Relaxed) >= 3);
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        let _ = engine;
        (Duration::from_secs(1), Action::Continue)
    }

    /// Output that a full socket had held back has now been sent completely.
    /// Use it to stream more data without holding it all in memory. It only
    /// follows a flush that left output behind (if the kernel took
    /// everything, nothing is pending and it does not run), or a
    /// [`Conn::notify_when_drained`] request.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, Service};
    ///
    /// const CHUNK: usize = 64 * 1024;
    /// const TOTAL: usize = 8 << 20;
    ///
    /// /// Streams 8 MiB to each client, one 64 KiB chunk at a time.
    /// struct Download;
    /// impl Download {
    ///     fn pump(&self, conn: &mut Conn, sent: &mut usize) -> Action {
    ///         while *sent < TOTAL {
    ///             conn.write(&[b'x'; CHUNK]);
    ///             *sent += CHUNK;
    ///             if conn.flush().is_err() || conn.outbound_len() > 0 {
    ///                 break; // the socket is full: on_writable resumes
    ///             }
    ///         }
    ///         if *sent == TOTAL { Action::Close } else { Action::Continue }
    ///     }
    /// }
    /// impl Service for Download {
    ///     type State = usize; // bytes queued so far
    ///     fn on_open(&self, conn: &mut Conn, sent: &mut usize) -> Action {
    ///         self.pump(conn, sent)
    ///     }
    ///     fn on_writable(&self, conn: &mut Conn, sent: &mut usize) -> Action {
    ///         self.pump(conn, sent)
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Download, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut data = Vec::new();
    /// client.read_to_end(&mut data)?;
    /// assert_eq!(data.len(), TOTAL);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_writable(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Continue
    }

    /// The connection is closing, exactly once per connection. Its file
    /// descriptor is still open but nothing more is sent.
    ///
    /// Runs on the loop thread that owns the connection (`nr-loop-N`), as the
    /// connection's last callback (also when the engine stops:
    /// [`CloseReason::Shutdown`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Why(tx), "tcp://127.0.0.1:0")?;
    /// drop(std::net::TcpStream::connect(engine.local_addr())?); // connect and hang up
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, CloseReason::PeerEof);
    ///
    /// let _client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # let deadline = std::time::Instant::now() + Duration::from_secs(10);
    /// # while engine.stats().accepted < 2 && std::time::Instant::now() < deadline {
    /// #     std::thread::yield_now();
    /// # }
    /// engine.stop(); // closes the connections still open
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, CloseReason::Shutdown);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        let _ = (conn, reason);
    }

    /// The engine is stopping: listeners are closed and connections are
    /// about to be flushed and closed (writes queued through a
    /// [`ConnHandle`](crate::ConnHandle) now are still delivered).
    ///
    /// Runs once, on the engine's coordinator thread (`nr-accept`), before
    /// any connection is closed for the stop. With a drain
    /// ([`EngineHandle::drain`], SIGTERM) it runs when the drain begins,
    /// and [`EngineHandle::drain_deadline`] says by when every connection
    /// will be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::Mutex;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, EngineHandle, EventHandler};
    ///
    /// /// Tells every client the server is going down.
    /// #[derive(Default)]
    /// struct Farewell(Mutex<Vec<ConnHandle>>);
    /// impl EventHandler for Farewell {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         self.0.lock().unwrap().push(conn.handle());
    ///         conn.write(b"hi\n");
    ///         Action::Continue
    ///     }
    ///     fn on_shutdown(&self, _engine: &EngineHandle) {
    ///         for client in self.0.lock().unwrap().iter() {
    ///             let _ = client.async_write("going down\n");
    ///         }
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Farewell::default(), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.read_exact(&mut [0; 3])?; // "hi\n": the connection is open
    /// engine.stop();
    /// let mut rest = String::new();
    /// client.read_to_string(&mut rest)?;
    /// assert_eq!(rest, "going down\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_shutdown(&self, engine: &EngineHandle) {
        let _ = engine;
    }
}
