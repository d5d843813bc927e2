//! The proxy's handler: every accepted connection is relayed by the loop
//! to a connection dialed to the upstream ([`Conn::relay_to`]): bytes both
//! ways with no callback per message, backpressure by the watermarks,
//! half-close and resets passed through.

#![allow(dead_code)] // the tests include this module without using all of it

use std::time::Duration;

use netreactor::{Action, Conn, Engine, EngineBuilder, EventHandler};

/// How long the upstream has to accept a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine the proxy runs on (kept so the tests tune the same builder).
pub(crate) fn engine_builder() -> EngineBuilder {
    Engine::builder()
}

/// Relays each connection to `upstream`.
pub(crate) struct Relay {
    upstream: String,
}

impl Relay {
    pub(crate) fn new(upstream: &str) -> Relay {
        Relay {
            upstream: upstream.to_owned(),
        }
    }
}

impl EventHandler for Relay {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.relay_to(&self.upstream, CONNECT_TIMEOUT).into()
    }
}
