//! The record layer once a handshake is done: records are opened in place
//! in the loop's read buffer and sealed straight into the outbound queue by
//! netreactor, with the traffic keys rustls negotiated
//! (`dangerous_into_kernel_connection`, the interface rustls made for
//! kernel TLS). rustls 0.23's unbuffered API copies each received record's
//! plaintext into a `Vec` of its own and builds a `Vec` for each record it
//! encrypts; doing the AEAD here, with ring (the provider rustls uses),
//! takes both allocations and one copy off every message.
//!
//! rustls keeps what needs the key schedule: a TLS 1.3 key update (either
//! side's) derives the next secret through the [`KernelConnection`], and a
//! client's session tickets go to it. Everything else after the handshake
//! is here: the record framing and its limits, the nonces (the IV XOR the
//! record's sequence number, as rustls builds them; TLS 1.2 AES-GCM sends
//! that nonce's last eight bytes as its explicit part), TLS 1.3's inner
//! content type and padding, alerts both ways, and a key update before
//! AES-GCM's confidentiality limit.
//!
//! Refused after the handshake, each with a fatal alert: TLS 1.2
//! renegotiation, a TLS 1.3 post-handshake message that spans records
//! (rustls and OpenSSL send each in one record), and a client certificate
//! request after the handshake (rustls never asks for one).

use bytes::{BufMut, BytesMut};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{AlertDescription, ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion, SupportedCipherSuite};

use crate::buffer::outbound::Outbound;
use crate::error::TlsFailure;

/// A record header: type, version, length.
const HEADER: usize = 5;
/// The AEAD tag of every suite rustls offers.
const TAG: usize = 16;
/// TLS 1.2 AES-GCM's explicit nonce, sent before the ciphertext.
const EXPLICIT_NONCE: usize = 8;
/// The largest plaintext in one record (2^14).
pub(crate) const MAX_PLAINTEXT: usize = 16 * 1024;
/// The largest ciphertext the peer may send in one record.
const MAX_CIPHERTEXT_TLS13: usize = MAX_PLAINTEXT + 256;
const MAX_CIPHERTEXT_TLS12: usize = MAX_PLAINTEXT + 2048;

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;

const WARNING: u8 = 1;
const FATAL: u8 = 2;

/// What a peer may send between two records of application data before
/// it is cut off (rustls's limits): post-handshake messages (key updates,
/// renegotiation requests), TLS 1.2 warning alerts, empty records.
const MAX_KEY_UPDATES: u8 = 32;
const MAX_WARNINGS: u8 = 4;
const MAX_EMPTY_RECORDS: u8 = 32;

/// How TLS 1.2 carries the nonce (TLS 1.3 never sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nonces {
    /// AES-GCM: eight explicit bytes in each record.
    Explicit,
    /// ChaCha20-Poly1305: none.
    Implicit,
}

/// One direction's key, IV and next sequence number.
struct Keys {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl Keys {
    fn new(seq: u64, secrets: ConnectionTrafficSecrets) -> Result<(Keys, Nonces), TlsFailure> {
        let (algorithm, key, iv, nonces) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv, Nonces::Explicit),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv, Nonces::Explicit),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv, Nonces::Implicit)
            }
            _ => {
                return Err(TlsFailure::Protocol(
                    "a cipher netreactor's record layer does not know (it knows AES-GCM and ChaCha20-Poly1305)".into(),
                ))
            }
        };
        let key = UnboundKey::new(algorithm, key.as_ref())
            .map_err(|_| TlsFailure::Protocol("a traffic key of the wrong length".into()))?;
        let iv =
            <[u8; 12]>::try_from(iv.as_ref()).map_err(|_| TlsFailure::Protocol("an IV of the wrong length".into()))?;
        Ok((
            Keys {
                key: LessSafeKey::new(key),
                iv,
                seq,
            },
            nonces,
        ))
    }

    /// This record's nonce: the IV XOR the sequence number.
    fn nonce(&self) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// Moves on to the next record's sequence number.
    fn advance(&mut self) -> Result<(), TlsFailure> {
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| TlsFailure::Protocol("record sequence number exhausted".into()))?;
        Ok(())
    }
}

/// TLS 1.2's additional data: sequence number, type, version, length.
fn tls12_aad(seq: u64, typ: u8, len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = typ;
    aad[9..11].copy_from_slice(&[3, 3]);
    aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
    aad
}

/// What rustls keeps of a finished connection.
enum Kernel {
    Server(KernelConnection<ServerConnectionData>),
    Client(KernelConnection<ClientConnectionData>),
}

impl Kernel {
    fn update_rx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_rx_secret(),
            Kernel::Client(k) => k.update_rx_secret(),
        }
    }

    fn update_tx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_tx_secret(),
            Kernel::Client(k) => k.update_tx_secret(),
        }
    }
}

/// A failure after the handshake, with the alert that tells the peer why
/// (`None`: the peer's own fatal alert, answered with none).
struct Failed(Option<AlertDescription>, String);

/// A finished connection's records, both ways.
pub(crate) struct Records {
    tls13: bool,
    nonces: Nonces,
    tx: Keys,
    rx: Keys,
    /// Records sealed under one TLS 1.3 key before it is updated (the
    /// suite's confidentiality limit); a TLS 1.2 connection ends there.
    tx_limit: u64,
    kernel: Kernel,
    /// Plaintext per sealed record (the config's `max_fragment_size`).
    max_payload: usize,
    /// Our close_notify went out: nothing more is sealed.
    tx_closed: bool,
    /// The peer asked for our key update: one goes out after this read's
    /// records, however many asked.
    update_due: bool,
    /// Since the last record of application data.
    key_updates: u8,
    warnings: u8,
    empty_records: u8,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("tls13", &self.tls13)
            .field("tx_seq", &self.tx.seq)
            .field("rx_seq", &self.rx.seq)
            .finish_non_exhaustive()
    }
}

impl Records {
    pub(crate) fn server(
        (secrets, kernel): (ExtractedSecrets, KernelConnection<ServerConnectionData>),
    ) -> Result<Records, TlsFailure> {
        let (version, suite) = (kernel.protocol_version(), kernel.negotiated_cipher_suite());
        Records::new(secrets, version, suite, Kernel::Server(kernel))
    }

    pub(crate) fn client(
        (secrets, kernel): (ExtractedSecrets, KernelConnection<ClientConnectionData>),
    ) -> Result<Records, TlsFailure> {
        let (version, suite) = (kernel.protocol_version(), kernel.negotiated_cipher_suite());
        Records::new(secrets, version, suite, Kernel::Client(kernel))
    }

    fn new(
        secrets: ExtractedSecrets,
        version: ProtocolVersion,
        suite: SupportedCipherSuite,
        kernel: Kernel,
    ) -> Result<Records, TlsFailure> {
        let (tx, nonces) = Keys::new(secrets.tx.0, secrets.tx.1)?;
        let (rx, _) = Keys::new(secrets.rx.0, secrets.rx.1)?;
        let tx_limit = match suite {
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(s) => s.common.confidentiality_limit,
        };
        Ok(Records {
            tls13: version == ProtocolVersion::TLSv1_3,
            nonces,
            tx,
            rx,
            tx_limit,
            kernel,
            max_payload: MAX_PLAINTEXT,
            tx_closed: false,
            update_due: false,
            key_updates: 0,
            warnings: 0,
            empty_records: 0,
        })
    }

    /// Seals at most `max_fragment_size` bytes per record, header included
    /// (rustls's meaning; out-of-range values leave 2^14).
    pub(crate) fn set_max_fragment_size(&mut self, size: Option<usize>) {
        if let Some(size @ 32..=16_389) = size {
            self.max_payload = size - HEADER;
        }
    }

    /// Opens the whole records at the front of `incoming` in place:
    /// application data is appended to `plain`, a key update's answer to
    /// `out`. Returns the bytes consumed (what is left is a partial record)
    /// and whether the peer's close_notify came (what follows it is
    /// ignored). On failure the fatal alert, if any, is queued in `out`.
    pub(crate) fn open(
        &mut self,
        incoming: &mut [u8],
        plain: &mut BytesMut,
        out: &mut Outbound,
    ) -> (usize, Result<bool, TlsFailure>) {
        let mut at = 0;
        let result = loop {
            let rest = &mut incoming[at..];
            if rest.len() < HEADER {
                break Ok(false);
            }
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            let max = if self.tls13 {
                MAX_CIPHERTEXT_TLS13
            } else {
                MAX_CIPHERTEXT_TLS12
            };
            if len > max {
                break Err(Failed(
                    Some(AlertDescription::RecordOverflow),
                    format!("a record of {len} bytes (at most {max})"),
                ));
            }
            if rest.len() < HEADER + len {
                break Ok(false);
            }
            at += HEADER + len;
            let (header, body) = rest[..HEADER + len].split_at_mut(HEADER);
            let (typ, payload) = match self.decrypt(header, body) {
                Ok(opened) => opened,
                Err(f) => break Err(f),
            };
            match self.take(typ, payload, plain, out) {
                Ok(false) => {}
                Ok(true) => {
                    // Nothing after a close_notify is read.
                    at = incoming.len();
                    break Ok(true);
                }
                Err(f) => break Err(f),
            }
        };
        let result = result.and_then(|closed| {
            if std::mem::take(&mut self.update_due) && !self.tx_closed {
                out.append_sealed(|buf| self.update_tx_key(buf))
                    .map_err(|f| Failed(None, f.to_string()))?;
            }
            Ok(closed)
        });
        let result = result.map_err(|Failed(alert, why)| {
            if let (Some(alert), false) = (alert, self.tx_closed) {
                let _ = out.append_sealed(|buf| self.seal_alert(FATAL, alert, buf));
            }
            TlsFailure::Protocol(why)
        });
        (at, result)
    }

    /// Decrypts one record in place: its content type and plaintext.
    fn decrypt<'a>(&mut self, header: &[u8], body: &'a mut [u8]) -> Result<(u8, &'a [u8]), Failed> {
        let bad_mac = || {
            Failed(
                Some(AlertDescription::BadRecordMac),
                "a record that does not decrypt".into(),
            )
        };
        let typ = header[0];
        let rx = &mut self.rx;
        let plaintext: &[u8] = if self.tls13 {
            if typ != APPLICATION_DATA {
                return Err(unexpected(typ));
            }
            if body.len() < TAG {
                return Err(bad_mac());
            }
            let nonce = Nonce::assume_unique_for_key(rx.nonce());
            &*rx.key
                .open_in_place(nonce, Aad::from(header), body)
                .map_err(|_| bad_mac())?
        } else {
            if !matches!(typ, ALERT | HANDSHAKE | APPLICATION_DATA) {
                return Err(unexpected(typ));
            }
            let explicit = if self.nonces == Nonces::Explicit {
                EXPLICIT_NONCE
            } else {
                0
            };
            if body.len() < explicit + TAG {
                return Err(bad_mac());
            }
            let mut nonce = rx.nonce();
            if explicit > 0 {
                nonce[4..].copy_from_slice(&body[..EXPLICIT_NONCE]);
            }
            let aad = tls12_aad(rx.seq, typ, body.len() - explicit - TAG);
            let nonce = Nonce::assume_unique_for_key(nonce);
            &*rx.key
                .open_within(nonce, Aad::from(aad), body, explicit..)
                .map_err(|_| bad_mac())?
        };
        rx.advance().map_err(|f| Failed(None, f.to_string()))?;
        let (typ, payload) = if self.tls13 {
            // Content, type and padding together: at most 2^14 + 1.
            if plaintext.len() > MAX_PLAINTEXT + 1 {
                return Err(Failed(
                    Some(AlertDescription::RecordOverflow),
                    format!("{} bytes of inner plaintext in a record", plaintext.len()),
                ));
            }
            // The inner content type is the last byte that is not padding.
            let end = plaintext.iter().rposition(|&b| b != 0).ok_or_else(|| {
                Failed(
                    Some(AlertDescription::UnexpectedMessage),
                    "a record with no content type".into(),
                )
            })?;
            (plaintext[end], &plaintext[..end])
        } else {
            (typ, plaintext)
        };
        if payload.len() > MAX_PLAINTEXT {
            return Err(Failed(
                Some(AlertDescription::RecordOverflow),
                format!("{} bytes of plaintext in a record", payload.len()),
            ));
        }
        Ok((typ, payload))
    }

    /// Takes one record's content; true for a close_notify.
    fn take(&mut self, typ: u8, payload: &[u8], plain: &mut BytesMut, out: &mut Outbound) -> Result<bool, Failed> {
        match typ {
            APPLICATION_DATA if payload.is_empty() => {
                self.empty_records += 1;
                if self.empty_records > MAX_EMPTY_RECORDS {
                    return Err(Failed(
                        Some(AlertDescription::UnexpectedMessage),
                        "too many empty records in a row".into(),
                    ));
                }
                Ok(false)
            }
            APPLICATION_DATA => {
                (self.empty_records, self.key_updates, self.warnings) = (0, 0, 0);
                crate::sys::memory::reserve(plain, payload.len());
                plain.extend_from_slice(payload);
                Ok(false)
            }
            ALERT => self.take_alert(payload),
            HANDSHAKE if payload.is_empty() => Err(Failed(
                Some(AlertDescription::DecodeError),
                "an empty handshake record".into(),
            )),
            HANDSHAKE => {
                self.key_updates += 1;
                if self.key_updates > MAX_KEY_UPDATES {
                    return Err(Failed(
                        Some(AlertDescription::UnexpectedMessage),
                        "too many post-handshake messages in a row".into(),
                    ));
                }
                if self.tls13 {
                    self.take_handshake(payload).map(|()| false)
                } else {
                    // TLS 1.2: a renegotiation (HelloRequest or
                    // ClientHello), declined with a warning as rustls does.
                    if !self.tx_closed {
                        out.append_sealed(|buf| self.seal_alert(WARNING, AlertDescription::NoRenegotiation, buf))
                            .map_err(|f| Failed(None, f.to_string()))?;
                    }
                    Ok(false)
                }
            }
            other => Err(unexpected(other)),
        }
    }

    fn take_alert(&mut self, payload: &[u8]) -> Result<bool, Failed> {
        let &[level, description] = payload else {
            return Err(Failed(Some(AlertDescription::DecodeError), "a malformed alert".into()));
        };
        let description = AlertDescription::from(description);
        match description {
            AlertDescription::CloseNotify => Ok(true),
            // TLS 1.3 ignores user_canceled (a close_notify follows);
            // TLS 1.2 ignores every warning.
            AlertDescription::UserCanceled if self.tls13 => Ok(false),
            _ if level == WARNING && !self.tls13 => {
                self.warnings += 1;
                if self.warnings > MAX_WARNINGS {
                    return Err(Failed(
                        Some(AlertDescription::UnexpectedMessage),
                        "too many warning alerts in a row".into(),
                    ));
                }
                Ok(false)
            }
            _ => Err(Failed(None, format!("the peer sent the alert {description:?}"))),
        }
    }

    /// TLS 1.3's post-handshake messages: key updates, and (to a client)
    /// session tickets.
    fn take_handshake(&mut self, mut messages: &[u8]) -> Result<(), Failed> {
        let split = || {
            Failed(
                Some(AlertDescription::UnexpectedMessage),
                "a post-handshake message split across records".into(),
            )
        };
        while !messages.is_empty() {
            let [kind, a, b, c, ..] = *messages else {
                return Err(split());
            };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            let body = messages.get(4..4 + len).ok_or_else(split)?;
            messages = &messages[4 + len..];
            match (kind, &mut self.kernel) {
                (KEY_UPDATE, _) => {
                    // A key change must end its record.
                    if !messages.is_empty() {
                        return Err(unexpected(HANDSHAKE));
                    }
                    let requested = match body {
                        [0] => false,
                        [1] => true,
                        _ => {
                            return Err(Failed(
                                Some(AlertDescription::IllegalParameter),
                                "a key update of an unknown kind".into(),
                            ))
                        }
                    };
                    let (seq, secrets) = self.kernel.update_rx().map_err(protocol)?;
                    self.rx = Keys::new(seq, secrets).map_err(|f| Failed(None, f.to_string()))?.0;
                    // Answered once after this read's records, however many
                    // asked (RFC 8446 4.6.3), and never after our
                    // close_notify.
                    self.update_due |= requested;
                }
                (NEW_SESSION_TICKET, Kernel::Client(k)) => k
                    .handle_new_session_ticket(body)
                    .map_err(|e| Failed(Some(AlertDescription::DecodeError), e.to_string()))?,
                _ => return Err(unexpected(HANDSHAKE)),
            }
        }
        Ok(())
    }

    /// Seals `plain` into records of at most 2^14 bytes (or the config's
    /// `max_fragment_size`) at the end of `buf`.
    pub(crate) fn seal(&mut self, plain: &[u8], buf: &mut BytesMut) -> Result<(), TlsFailure> {
        if self.tx_closed {
            return Err(TlsFailure::Protocol("data written after our close_notify".into()));
        }
        let records = plain.len().div_ceil(self.max_payload);
        buf.reserve(plain.len() + records * (HEADER + EXPLICIT_NONCE + TAG + 1));
        for piece in plain.chunks(self.max_payload) {
            self.seal_record(APPLICATION_DATA, piece, buf)?;
        }
        Ok(())
    }

    /// Seals a close_notify at the end of `buf`.
    pub(crate) fn seal_close_notify(&mut self, buf: &mut BytesMut) -> Result<(), TlsFailure> {
        self.seal_alert(WARNING, AlertDescription::CloseNotify, buf)?;
        self.tx_closed = true;
        Ok(())
    }

    fn seal_alert(&mut self, level: u8, description: AlertDescription, buf: &mut BytesMut) -> Result<(), TlsFailure> {
        self.seal_record(ALERT, &[level, u8::from(description)], buf)
    }

    /// Sends a key update (not asking for the peer's) under the current
    /// key, then moves to the next one.
    fn update_tx_key(&mut self, buf: &mut BytesMut) -> Result<(), TlsFailure> {
        self.seal_one(HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, 0], buf)?;
        let (seq, secrets) = self
            .kernel
            .update_tx()
            .map_err(|e| TlsFailure::Protocol(e.to_string()))?;
        self.tx = Keys::new(seq, secrets)?.0;
        Ok(())
    }

    /// One record of `typ`, after a key update if the key has sealed as
    /// many as its confidentiality limit allows.
    fn seal_record(&mut self, typ: u8, plain: &[u8], buf: &mut BytesMut) -> Result<(), TlsFailure> {
        if self.tx.seq >= self.tx_limit {
            if !self.tls13 {
                return Err(TlsFailure::Protocol(
                    "the cipher's confidentiality limit was reached".into(),
                ));
            }
            self.update_tx_key(buf)?;
        }
        self.seal_one(typ, plain, buf)
    }

    fn seal_one(&mut self, typ: u8, plain: &[u8], buf: &mut BytesMut) -> Result<(), TlsFailure> {
        let tx = &mut self.tx;
        let nonce = tx.nonce();
        let start = buf.len();
        let explicit = if !self.tls13 && self.nonces == Nonces::Explicit {
            EXPLICIT_NONCE
        } else {
            0
        };
        let sealed_len = explicit + plain.len() + usize::from(self.tls13) + TAG;
        let outer = if self.tls13 { APPLICATION_DATA } else { typ };
        let header = [outer, 3, 3, (sealed_len >> 8) as u8, sealed_len as u8];
        // TLS 1.3 authenticates the header; TLS 1.2 its own 13 bytes.
        let (aad, aad_len) = if self.tls13 {
            (pad_aad(&header), HEADER)
        } else {
            (tls12_aad(tx.seq, typ, plain.len()), 13)
        };
        buf.put_slice(&header);
        buf.put_slice(&nonce[12 - explicit..]);
        buf.put_slice(plain);
        if self.tls13 {
            buf.put_u8(typ);
        }
        let tag = tx
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..aad_len]),
                &mut buf[start + HEADER + explicit..],
            )
            .map_err(|_| TlsFailure::Protocol("sealing a record failed".into()))?;
        buf.put_slice(tag.as_ref());
        tx.advance()
    }
}

/// `aad` in a 13-byte array (the longer of the two versions' AADs).
fn pad_aad(aad: &[u8]) -> [u8; 13] {
    let mut padded = [0u8; 13];
    padded[..aad.len()].copy_from_slice(aad);
    padded
}

fn unexpected(typ: u8) -> Failed {
    Failed(
        Some(AlertDescription::UnexpectedMessage),
        format!("an unexpected record of type {typ} after the handshake"),
    )
}

fn protocol(e: rustls::Error) -> Failed {
    Failed(Some(AlertDescription::UnexpectedMessage), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_the_iv_xor_the_sequence_number() {
        let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &[0; 16]).unwrap());
        let keys = Keys {
            key,
            iv: [0xff; 12],
            seq: 0x0102_0304_0506_0708,
        };
        assert_eq!(
            keys.nonce(),
            [0xff, 0xff, 0xff, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7]
        );
    }

    #[test]
    fn tls12_aad_is_sequence_type_version_length() {
        assert_eq!(
            tls12_aad(1, APPLICATION_DATA, 0x0102),
            [0, 0, 0, 0, 0, 0, 0, 1, 23, 3, 3, 1, 2]
        );
    }

    #[test]
    fn a_sequence_number_at_its_end_is_refused() {
        let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &[0; 16]).unwrap());
        let mut keys = Keys {
            key,
            iv: [0; 12],
            seq: u64::MAX,
        };
        assert!(keys.advance().is_err());
    }
}
