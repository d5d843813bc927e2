//! What a callback asks the engine to do next.

/// What the engine does after a callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Keep the connection (and the engine) running.
    #[default]
    Continue,
    /// Close this connection once its queued output is flushed.
    Close,
    /// Stop the whole engine gracefully (as [`EngineHandle::stop`](crate::EngineHandle::stop) does).
    Shutdown,
}
