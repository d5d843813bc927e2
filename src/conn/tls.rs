//! A TLS connection as the handler sees it: what was negotiated, and the
//! sealing of what the handler wrote before it is sent.

use super::{Conn, WriteSide};
use crate::error::CloseReason;
use crate::tls::TlsInfo;

impl Conn {
    /// What this connection's TLS handshake negotiated (ALPN, SNI name,
    /// version, cipher suite, the peer's verified certificates), or `None`
    /// on a plain connection. Every callback of a TLS connection runs after
    /// its handshake, so it is always there for one.
    ///
    /// Loop thread (inside callbacks).
    ///
    /// See the example on [`TlsInfo`].
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_deref().and_then(|t| t.info())
    }

    /// Encrypts what the handler wrote since the last flush into TLS
    /// records (and, closing politely or shutting the write side, adds a
    /// close_notify): the loop and `flush` call it before sending.
    #[inline]
    pub(crate) fn seal_tls(&mut self) {
        if self.tls.is_some() {
            self.seal_tls_records();
        }
    }

    /// `seal_tls` for a TLS connection (out of line: the plain path pays
    /// one test, not a call).
    #[inline(never)]
    fn seal_tls_records(&mut self) {
        let Some(tls) = self.tls.as_deref_mut() else { return };
        let polite = self.write_side == WriteSide::ShutdownPending
            || self.close_reason.as_ref().is_some_and(|r| {
                !matches!(
                    r,
                    CloseReason::PeerReset
                        | CloseReason::Io(_)
                        | CloseReason::ConnectFailed(_)
                        | CloseReason::OutboundOverflow { .. }
                        | CloseReason::LingerTimeout
                        | CloseReason::Tls(_)
                )
            });
        if let Err(f) = tls.seal(&mut self.outbound, polite) {
            self.outbound.clear();
            self.close_reason = Some(CloseReason::Tls(f));
        }
    }
}
