//! The server config of each TLS listener, swapped by a reload, and the
//! SNI name each handshake asked for; both sides' configs as the loop
//! needs them (secret extraction on, for the record layer).
//!
//! rustls's unbuffered server does not expose the SNI name, but its
//! certificate resolver sees it, on the thread running the handshake: a
//! wrapper around the user's resolver leaves it in a thread-local, where
//! the loop picks it up right after (`take_sni`).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig};

thread_local! {
    static SNI: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The SNI name the last handshake step on this thread saw, if any.
pub(crate) fn take_sni() -> Option<String> {
    SNI.with(|s| s.borrow_mut().take())
}

/// The user's resolver, recording the SNI name on the way.
#[derive(Debug)]
struct RecordSni(Arc<dyn ResolvesServerCert>);

impl ResolvesServerCert for RecordSni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            SNI.with(|s| *s.borrow_mut() = Some(name.to_owned()));
        }
        self.0.resolve(hello)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.0.only_raw_public_keys()
    }
}

/// `config` with its resolver wrapped to record SNI names, its keys handed
/// to netreactor's record layer once a handshake is done, and no early data.
pub(crate) fn recording_sni(config: &ServerConfig) -> Arc<ServerConfig> {
    let mut config = config.clone();
    config.cert_resolver = Arc::new(RecordSni(config.cert_resolver.clone()));
    config.enable_secret_extraction = true;
    // Early data is not driven (the loop would stall on it).
    config.max_early_data_size = 0;
    Arc::new(config)
}

/// A client config whose keys are handed to netreactor's record layer once
/// a handshake is done, without early data (a copy when the user's
/// differs; its session store is shared, so resumption still works across
/// dials).
pub(crate) fn with_secret_extraction(config: Arc<ClientConfig>) -> Arc<ClientConfig> {
    if config.enable_secret_extraction && !config.enable_early_data {
        return config;
    }
    let mut config = (*config).clone();
    config.enable_secret_extraction = true;
    // Early data is not driven (the loop would stall on it).
    config.enable_early_data = false;
    Arc::new(config)
}

/// One slot per listener (`None`: a plain one). A reload swaps a slot's
/// `Arc`; each accepted connection clones the one in force then, so the
/// connections already open keep theirs.
#[derive(Debug, Default)]
pub(crate) struct ServerConfigs(Mutex<Vec<Option<Arc<ServerConfig>>>>);

impl ServerConfigs {
    pub(crate) fn install(&self, configs: Vec<Option<Arc<ServerConfig>>>) {
        let configs = configs.into_iter().map(|c| c.map(|c| recording_sni(&c))).collect();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = configs;
    }

    /// The config new connections on `listener` get (`None`: plain).
    pub(crate) fn get(&self, listener: usize) -> Option<Arc<ServerConfig>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(listener)
            .cloned()
            .flatten()
    }

    /// Replaces a TLS listener's config; false if `listener` is not one.
    pub(crate) fn replace(&self, listener: usize, config: Arc<ServerConfig>) -> bool {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).get_mut(listener) {
            Some(Some(slot)) => {
                *slot = recording_sni(&config);
                true
            }
            _ => false,
        }
    }
}
