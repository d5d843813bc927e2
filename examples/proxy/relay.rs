//! The proxy's handler: every accepted connection is relayed by the loop
//! to a connection dialed to the upstream ([`Conn::relay_with`]): bytes both
//! ways with no callback per message, backpressure by the watermarks,
//! half-close and resets passed through; TLS to the upstream when its
//! [`RelayOptions`] say so.

#![allow(dead_code)] // the tests include this module without using all of it

use std::time::Duration;

use netreactor::{Action, Conn, Engine, EngineBuilder, EngineHandle, EventHandler, RelayOptions};

/// How long the upstream has to accept a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine the proxy runs on (kept so the tests tune the same builder).
pub(crate) fn engine_builder() -> EngineBuilder {
    Engine::builder()
}

/// Relays each connection to `upstream`.
pub(crate) struct Relay {
    upstream: String,
    options: RelayOptions,
}

impl Relay {
    /// A plain TCP upstream.
    pub(crate) fn new(upstream: &str) -> Relay {
        Relay::with_options(upstream, RelayOptions::new())
    }

    /// An upstream reached as `options` say (TLS: `RelayOptions::tls`).
    pub(crate) fn with_options(upstream: &str, options: RelayOptions) -> Relay {
        Relay {
            upstream: upstream.to_owned(),
            options,
        }
    }
}

impl EventHandler for Relay {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        eprintln!("proxy: listening on {:?}", engine.local_addrs());
        Action::Continue
    }

    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.relay_with(&self.upstream, CONNECT_TIMEOUT, self.options.clone())
            .into()
    }
}
