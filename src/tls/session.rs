//! One connection's TLS state and the two ways bytes cross it: records
//! absorbed from the socket (plaintext for the handler, handshake replies
//! for the outbound queue), and the handler's plaintext sealed into records
//! before a flush.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::BytesMut;
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, InsufficientSizeError};
use rustls::{ClientConfig, ServerConfig};

use super::info::TlsInfo;
use super::record::{Records, MAX_PLAINTEXT};
use super::servers::{take_sni, with_secret_extraction};
use crate::buffer::outbound::Outbound;
use crate::error::TlsFailure;

thread_local! {
    /// The loop's scratch buffer for sealing: records are encrypted into it,
    /// then it trades places with the connection's emptied queue tail.
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    /// The loop's plaintext buffer, lent to a connection with nothing
    /// unconsumed while its records are decrypted and handled: an idle TLS
    /// connection holds no plaintext buffer, and a busy one allocates none.
    static PLAIN: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Spare buffers for partial records, kept by each loop: a connection
/// takes one while its records span reads and gives it back when a read
/// ends on a record boundary, so neither a busy connection allocates nor an
/// idle one holds one.
const SPARES: usize = 8;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

fn take_spare() -> BytesMut {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

fn give_spare(mut buf: BytesMut) {
    buf.clear();
    SPARE.with(|s| {
        let mut spares = s.borrow_mut();
        if spares.len() < SPARES && buf.capacity() <= 2 * MAX_PLAINTEXT {
            spares.push(buf);
        }
    });
}

/// Lends the loop's plaintext buffer to a connection whose own is empty.
pub(crate) fn lend_plain(inbound: &mut BytesMut) {
    if inbound.is_empty() {
        PLAIN.with(|p| std::mem::swap(&mut *p.borrow_mut(), inbound));
    }
}

/// Takes the lent buffer back once everything in it was consumed (a
/// partial message keeps it, as the plain read path keeps its tail).
pub(crate) fn return_plain(inbound: &mut BytesMut) {
    if inbound.is_empty() {
        PLAIN.with(|p| {
            let mut p = p.borrow_mut();
            if p.capacity() == 0 {
                inbound.clear();
                std::mem::swap(&mut *p, inbound);
            }
        });
        if inbound.capacity() > 0 {
            *inbound = BytesMut::new();
        }
    }
}

/// What a dial needs to start a TLS client.
#[derive(Debug, Clone)]
pub(crate) struct ClientStart {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl ClientStart {
    /// A TLS client with `config` (as the loop needs it: see
    /// `with_secret_extraction`) verifying the server as `server_name`.
    pub(crate) fn new(config: Arc<ClientConfig>, server_name: &str) -> crate::Result<ClientStart> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| crate::Error::InvalidAddress(format!("TLS server name {server_name:?}: {e}")))?;
        Ok(ClientStart {
            config: with_secret_extraction(config),
            name,
        })
    }
}

/// A connection's TLS layer.
pub(crate) struct TlsConn {
    layer: Layer,
    /// A partial record left from the last read (released once a read
    /// ends on a record boundary).
    pending: BytesMut,
    /// Plaintext queued before the handshake finished (a dial's first
    /// request), sealed once it has.
    early: BytesMut,
    /// Bytes received before the handshake finished.
    handshake_bytes: usize,
    /// The config's `max_fragment_size`, for the record layer.
    max_fragment_size: Option<usize>,
    /// How many bytes at the front of `pending` rustls has already seen as
    /// whole records (while a handshake message spans records, it keeps
    /// them there, joined in place).
    seen: usize,
    /// The handshake finished (and `on_open` is due or done).
    pub(crate) open: bool,
    /// The peer's close_notify arrived.
    pub(crate) peer_closed: bool,
    /// Ours went out.
    sent_close_notify: bool,
    /// SNI asked for (server) or the dialed name (client).
    server_name: Option<String>,
    info: Option<Box<TlsInfo>>,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("records", &matches!(self.layer, Layer::Records(_)))
            .field("open", &self.open)
            .field("peer_closed", &self.peer_closed)
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Who handles the connection's records: rustls during the handshake,
/// netreactor's record layer after it.
enum Layer {
    Handshake(Box<dyn Drive + Send>),
    Records(Box<Records>),
    /// The hand-over failed; the connection is closing.
    Gone,
}

/// What absorbing a read brought.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Absorbed {
    /// The handshake finished with this read: `on_open` is due.
    pub(crate) opened: bool,
    /// The peer's close_notify arrived with this read: `on_eof` is due.
    pub(crate) peer_closed: bool,
}

impl TlsConn {
    pub(crate) fn server(config: Arc<ServerConfig>) -> Result<TlsConn, TlsFailure> {
        let max_fragment_size = config.max_fragment_size;
        let conn = UnbufferedServerConnection::new(config).map_err(|e| TlsFailure::Handshake(e.to_string()))?;
        Ok(TlsConn::new(Box::new(conn), None, max_fragment_size))
    }

    pub(crate) fn client(start: ClientStart) -> Result<TlsConn, TlsFailure> {
        let name = start.name.to_str().into_owned();
        let max_fragment_size = start.config.max_fragment_size;
        let conn = UnbufferedClientConnection::new(start.config, start.name)
            .map_err(|e| TlsFailure::Handshake(e.to_string()))?;
        Ok(TlsConn::new(Box::new(conn), Some(name), max_fragment_size))
    }

    fn new(conn: Box<dyn Drive + Send>, server_name: Option<String>, max_fragment_size: Option<usize>) -> TlsConn {
        TlsConn {
            layer: Layer::Handshake(conn),
            pending: BytesMut::new(),
            early: BytesMut::new(),
            handshake_bytes: 0,
            max_fragment_size,
            seen: 0,
            open: false,
            peer_closed: false,
            sent_close_notify: false,
            server_name,
            info: None,
        }
    }

    /// What the handshake negotiated, once it has finished.
    pub(crate) fn info(&self) -> Option<&TlsInfo> {
        self.info.as_deref()
    }

    /// Moves the partial record kept from the last read to the front of
    /// `buf` (the loop's read buffer), where the next read appends.
    pub(crate) fn restore_pending(&mut self, buf: &mut BytesMut) {
        buf.clear();
        if !self.pending.is_empty() {
            buf.extend_from_slice(&self.pending);
            // Its room is kept while records keep spanning reads.
            self.pending.clear();
        }
    }

    /// A client's first flight (its ClientHello), queued in `out`.
    pub(crate) fn start(&mut self, out: &mut Outbound) -> Result<(), TlsFailure> {
        self.absorb(&mut BytesMut::new(), 0, usize::MAX, &mut BytesMut::new(), out)
            .map(|_| ())
    }

    /// Processes the records in `incoming` (ending with `arrived` new
    /// bytes): plaintext is appended to `plain`, handshake messages and
    /// alerts to `out`; a partial record is kept for the next read.
    pub(crate) fn absorb(
        &mut self,
        incoming: &mut BytesMut,
        arrived: usize,
        max_handshake: usize,
        plain: &mut BytesMut,
        out: &mut Outbound,
    ) -> Result<Absorbed, TlsFailure> {
        let mut got = Absorbed::default();
        debug_assert_eq!(out.unsealed_len(), 0, "plaintext left unsealed before a read");
        let mut consumed = 0;
        if let Layer::Handshake(conn) = &mut self.layer {
            let (n, result) = conn.drive_records(incoming, &mut self.seen, plain, out, &mut got);
            consumed = n;
            if let Err(e) = result {
                let failure = if self.open {
                    TlsFailure::Protocol(e.to_string())
                } else {
                    TlsFailure::Handshake(e.to_string())
                };
                // rustls queued the fatal alert that tells the peer why.
                conn.encode_alert(&mut incoming[consumed..], out);
                incoming.clear();
                return Err(failure);
            }
            if conn.is_server() {
                if let Some(sni) = take_sni() {
                    self.server_name = Some(sni);
                }
            }
            if conn.common().is_handshaking() {
                // Counted only while the handshake is still going after
                // this read: a read that finishes it may carry the peer's
                // first application data too (a client's Finished, then
                // its request, in one segment), which is not handshake.
                self.handshake_bytes = self.handshake_bytes.saturating_add(arrived);
                if self.handshake_bytes > max_handshake {
                    return Err(TlsFailure::HandshakeTooLarge { limit: max_handshake });
                }
            } else {
                self.opened(&mut got, out)?;
            }
        }
        if let Layer::Records(records) = &mut self.layer {
            if !got.peer_closed {
                let (n, result) = records.open(&mut incoming[consumed..], plain, out);
                consumed += n;
                match result {
                    Ok(closed) => got.peer_closed = closed,
                    Err(failure) => {
                        incoming.clear();
                        return Err(failure);
                    }
                }
            }
        }
        if consumed < incoming.len() {
            if self.pending.capacity() == 0 {
                self.pending = take_spare();
            }
            self.pending.extend_from_slice(&incoming[consumed..]);
        } else if self.pending.capacity() > 0 {
            // A read that ended on a record boundary: an idle connection
            // holds no buffer for a partial record.
            give_spare(std::mem::take(&mut self.pending));
        }
        incoming.clear();
        if got.peer_closed {
            self.peer_closed = true;
        }
        Ok(got)
    }

    /// The handshake just finished: what it negotiated is kept, rustls
    /// hands the keys to netreactor's record layer, and plaintext a dial
    /// queued early goes out.
    fn opened(&mut self, got: &mut Absorbed, out: &mut Outbound) -> Result<(), TlsFailure> {
        let Layer::Handshake(conn) = std::mem::replace(&mut self.layer, Layer::Gone) else {
            return Ok(());
        };
        let c = conn.common();
        self.open = true;
        got.opened = true;
        self.info = Some(Box::new(TlsInfo {
            alpn: c.alpn_protocol().map(<[u8]>::to_vec),
            server_name: self.server_name.take(),
            version: c.protocol_version(),
            suite: c.negotiated_cipher_suite().map(|s| s.suite()),
            peer_certificates: c.peer_certificates().map(<[_]>::to_vec).unwrap_or_default(),
            resumed: c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }));
        let mut records = Box::new(conn.into_records()?);
        records.set_max_fragment_size(self.max_fragment_size);
        self.seen = 0;
        if !self.early.is_empty() {
            let early = std::mem::take(&mut self.early);
            out.append_sealed(|buf| records.seal(&early, buf))?;
        }
        self.layer = Layer::Records(records);
        Ok(())
    }

    /// Encrypts the plaintext written since the last seal into records in
    /// place of it; with `close`, then a close_notify (once). Before the
    /// handshake has finished, plaintext waits aside and nothing is sealed.
    pub(crate) fn seal(&mut self, out: &mut Outbound, close: bool) -> Result<(), TlsFailure> {
        let notify = close && self.open && !self.sent_close_notify;
        if out.unsealed_len() == 0 && !notify {
            return Ok(());
        }
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            if !self.open {
                let early = &mut self.early;
                return out.reseal(scratch, |piece, _| {
                    early.extend_from_slice(piece);
                    Ok(())
                });
            }
            let Layer::Records(records) = &mut self.layer else {
                return Err(TlsFailure::Protocol("no record layer".into()));
            };
            out.reseal(scratch, |piece, buf| records.seal(piece, buf))?;
            if notify {
                self.sent_close_notify = true;
                out.append_sealed(|buf| records.seal_close_notify(buf))?;
            }
            Ok(())
        })
    }
}

/// The loop of rustls's unbuffered API over `incoming` (see `Drive::drive_records`).
macro_rules! drive_body {
    ($c:ident, $incoming:ident, $seen:ident, $plain:ident, $out:ident, $got:ident) => {{
        let mut consumed = 0usize;
        // rustls sees the records one more at a time while the handshake
        // goes on (those after its last one are the record layer's): what
        // it saw whole last time, and the next record.
        let mut whole = (*$seen).min($incoming.len());
        let mut end = whole;
        widen(&$incoming[..], &mut end, &mut whole);
        let result = loop {
            let status = $c.process_tls_records(&mut $incoming[consumed..end]);
            let mut discard = status.discard;
            let step: Result<bool, rustls::Error> = match status.state {
                Err(e) => Err(e),
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    let mut step = Ok(true);
                    while let Some(record) = r.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                crate::sys::memory::reserve($plain, record.payload.len());
                                $plain.extend_from_slice(record.payload);
                            }
                            Err(e) => {
                                step = Err(e);
                                break;
                            }
                        }
                    }
                    step
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => encode_handshake(&mut e, $out).map(|()| true),
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    Ok(true)
                }
                Ok(ConnectionState::PeerClosed) => {
                    $got.peer_closed = true;
                    Ok(true)
                }
                // BlockedHandshake (more bytes needed), WriteTraffic (all
                // records processed), Closed; early data is not enabled.
                Ok(_) => Ok(false),
            };
            consumed += discard;
            match step {
                Ok(true) => {}
                Ok(false) if $c.is_handshaking() && end < $incoming.len() => {
                    widen(&$incoming[..], &mut end, &mut whole)
                }
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        *$seen = whole.saturating_sub(consumed);
        (consumed, result)
    }};
}

/// Widens the window shown to rustls (ending at `end`) by the next record;
/// `whole` follows the end of the last record that is all there.
fn widen(incoming: &[u8], end: &mut usize, whole: &mut usize) {
    let (e, all_there) = record_end(incoming, *end);
    *end = e;
    if all_there {
        *whole = e;
    }
}

/// Where the record that starts at `at` in `incoming` ends, and whether it
/// is all there; if not, the end of `incoming` (rustls waits for the rest,
/// or refuses a header it cannot accept).
fn record_end(incoming: &[u8], at: usize) -> (usize, bool) {
    match incoming.get(at..at + 5) {
        Some(&[_, _, _, hi, lo]) => {
            let end = at + 5 + usize::from(u16::from_be_bytes([hi, lo]));
            if end <= incoming.len() {
                (end, true)
            } else {
                (incoming.len(), false)
            }
        }
        _ => (incoming.len(), false),
    }
}

/// The fatal alert rustls queued after an error, if any, into `out`:
/// one step, which encodes before it would read `incoming` again.
macro_rules! alert_body {
    ($c:ident, $incoming:ident, $out:ident) => {{
        if let Ok(ConnectionState::EncodeTlsData(mut e)) = $c.process_tls_records($incoming).state {
            let _ = encode_handshake(&mut e, $out);
        }
    }};
}

/// Appends a handshake record (or alert) rustls has ready to `out`.
fn encode_handshake<D>(
    e: &mut rustls::unbuffered::EncodeTlsData<'_, D>,
    out: &mut Outbound,
) -> Result<(), rustls::Error> {
    out.append_sealed(|buf| {
        encode_with(buf, 4096, |dst| {
            e.encode(dst).map_err(|err| match err {
                EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => Some(required_size),
                _ => None,
            })
        })
    })
    .map_err(|()| rustls::Error::General("encoding a handshake record failed".into()))
}

/// Either side's rustls connection (their `process_tls_records` are two
/// inherent methods, not one generic one: the bodies are macros).
trait Drive {
    fn is_server(&self) -> bool;
    fn common(&self) -> &rustls::CommonState;
    /// Processes the records in `incoming`; returns the bytes consumed
    /// (what remains is a partial record, or bytes rustls keeps there
    /// while a handshake message spans records) and how it ended.
    /// `seen`: the bytes at the front of `incoming` rustls saw as whole
    /// records in the last read; updated for what remains.
    fn drive_records(
        &mut self,
        incoming: &mut [u8],
        seen: &mut usize,
        plain: &mut BytesMut,
        out: &mut Outbound,
        got: &mut Absorbed,
    ) -> (usize, Result<(), rustls::Error>);
    /// After an error: the alert rustls queued, into `out`; `incoming` is
    /// what the failed `drive_records` left unconsumed.
    fn encode_alert(&mut self, incoming: &mut [u8], out: &mut Outbound);
    /// The finished connection's keys, handed to netreactor's record layer.
    fn into_records(self: Box<Self>) -> Result<Records, TlsFailure>;
}

impl Drive for UnbufferedServerConnection {
    fn is_server(&self) -> bool {
        true
    }

    fn common(&self) -> &rustls::CommonState {
        self
    }

    fn drive_records(
        &mut self,
        incoming: &mut [u8],
        seen: &mut usize,
        plain: &mut BytesMut,
        out: &mut Outbound,
        got: &mut Absorbed,
    ) -> (usize, Result<(), rustls::Error>) {
        drive_body!(self, incoming, seen, plain, out, got)
    }

    fn encode_alert(&mut self, incoming: &mut [u8], out: &mut Outbound) {
        alert_body!(self, incoming, out)
    }

    fn into_records(self: Box<Self>) -> Result<Records, TlsFailure> {
        Records::server(self.dangerous_into_kernel_connection().map_err(handed_over)?)
    }
}

impl Drive for UnbufferedClientConnection {
    fn is_server(&self) -> bool {
        false
    }

    fn common(&self) -> &rustls::CommonState {
        self
    }

    fn drive_records(
        &mut self,
        incoming: &mut [u8],
        seen: &mut usize,
        plain: &mut BytesMut,
        out: &mut Outbound,
        got: &mut Absorbed,
    ) -> (usize, Result<(), rustls::Error>) {
        drive_body!(self, incoming, seen, plain, out, got)
    }

    fn encode_alert(&mut self, incoming: &mut [u8], out: &mut Outbound) {
        alert_body!(self, incoming, out)
    }

    fn into_records(self: Box<Self>) -> Result<Records, TlsFailure> {
        Records::client(self.dangerous_into_kernel_connection().map_err(handed_over)?)
    }
}

/// rustls refused to hand a finished connection over.
fn handed_over(e: rustls::Error) -> TlsFailure {
    TlsFailure::Protocol(format!("taking the keys from rustls: {e}"))
}

/// Lets `f` write into `guess` bytes of room at the end of `buf`, growing
/// the room to what `f` reports it needs (`Err(Some(n))`) and retrying;
/// `Err(None)`: `f` failed, nothing is kept.
fn encode_with(
    buf: &mut BytesMut,
    guess: usize,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), ()> {
    let start = buf.len();
    let mut room = guess;
    loop {
        buf.resize(start + room, 0);
        match f(&mut buf[start..]) {
            Ok(n) => {
                buf.truncate(start + n);
                return Ok(());
            }
            Err(Some(needed)) if needed > room => room = needed,
            Err(_) => {
                buf.truncate(start);
                return Err(());
            }
        }
    }
}
