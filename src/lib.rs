//! netreactor: a multi-reactor, event-loop network server framework in the
//! style of Go's gnet, without async.
//!
//! An acceptor thread takes connections and a load balancer hands each to one
//! of N event loops; each loop owns an epoll instance, its connections and
//! their buffers, and calls your [`EventHandler`].
//!
//! ```
//! use std::io::{Read, Write};
//! use netreactor::{Action, Conn, Engine, EventHandler};
//!
//! struct Echo;
//!
//! impl EventHandler for Echo {
//!     fn on_traffic(&self, conn: &mut Conn) -> Action {
//!         conn.echo_all(); // queued for one write (large input by reference)
//!         Action::Continue
//!     }
//! }
//!
//! let engine = Engine::builder().event_loops(2).start(Echo, "tcp://127.0.0.1:0")?;
//! let mut client = std::net::TcpStream::connect(engine.local_addr())?;
//! client.write_all(b"hello")?;
//! let mut reply = [0u8; 5];
//! client.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"hello");
//! engine.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The rooms, from the face down; every import points down this list
// (docs/architecture.md, checked by tests/layering.rs).
mod action;
mod addr;
mod balancer;
mod bind;
mod buffer;
mod config;
mod conn;
mod deadline;
mod drain;
mod engine;
mod error;
mod framing;
mod handle;
mod handler;
mod id;
mod inherit;
mod listeners;
mod mailbox;
pub mod metrics;
pub mod options;
mod reactor;
mod service;
mod stats;
mod sys;
#[cfg(feature = "tls")]
pub mod tls;

pub use addr::{Address, ListenAddrs, Origin};
pub use balancer::{LeastConnections, LoadBalancer, LoadBalancing, LoopLoads, RoundRobin, SourceAddrHash};
pub use bind::Bind;
pub use bytes::{Bytes, BytesMut};
pub use config::{Keepalive, MaxConnectionsPolicy};
pub use conn::{Conn, ConnHandle, PeerCredentials, Reader, RelayOptions, Writer};
pub use engine::{Engine, EngineBuilder};
pub use error::{CloseReason, Error, Result, TimeoutKind, TlsFailure};
pub use framing::Frame;
pub use handle::{DialOptions, EngineHandle, Enroll, ListenerStats};
pub use handler::{Action, EventHandler};
pub use id::{ConnId, TimerId};
/// Frame codecs (the `netreactor-codecs` crate).
pub use netreactor_codecs as codec;
pub use service::Service;
pub use stats::Stats;

/// The programs of docs/guide.md, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;

/// The programs of docs/deployment.md, compiled (and the short ones run) as
/// doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/deployment.md")]
pub struct DeploymentDoctests;

/// The program of README.md, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
