//! Type-erases a user's codec so connections can hold one without making
//! every engine type generic over it.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::{Buf, Bytes, BytesMut};

use crate::codec::{Decoder, Encoder, FrameSpan, PrefixRule};

/// What the engine needs of a codec: find frames (in place when the decoder
/// can, else as `Bytes`), encode byte slices, and clone itself for each new
/// connection.
pub(crate) trait FrameCodec: Send + 'static {
    fn decode(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<Bytes>, String>;
    /// `None`: this decoder only hands out `Bytes` (see `Decoder::decode_span`).
    fn decode_span(&mut self, src: &mut BytesMut, eof: bool) -> Option<Result<Option<FrameSpan>, String>>;
    /// The whole frames at the front of `src` (see `Decoder::decode_spans`).
    fn decode_spans(&mut self, src: &[u8], out: &mut [FrameSpan]) -> usize;
    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), String>;
    fn frame_overhead(&self) -> usize;
    /// A copy for a new connection, with its encoder's prefix rule (user
    /// code: call under a panic guard).
    fn framer(&self) -> Framer;
}

impl<C> FrameCodec for C
where
    C: Decoder<Item = Bytes> + for<'a> Encoder<&'a [u8]> + Clone + Send + 'static,
    <C as Decoder>::Error: fmt::Display,
    for<'a> <C as Encoder<&'a [u8]>>::Error: fmt::Display,
{
    fn decode(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<Bytes>, String> {
        let res = if eof {
            Decoder::decode_eof(self, src)
        } else {
            Decoder::decode(self, src)
        };
        res.map_err(|e| e.to_string())
    }

    #[inline]
    fn decode_span(&mut self, src: &mut BytesMut, eof: bool) -> Option<Result<Option<FrameSpan>, String>> {
        Decoder::decode_span(self, src, eof).map(|r| r.map_err(|e| e.to_string()))
    }

    #[inline]
    fn decode_spans(&mut self, src: &[u8], out: &mut [FrameSpan]) -> usize {
        Decoder::decode_spans(self, src, out)
    }

    #[inline]
    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), String> {
        match Encoder::encode(self, frame, dst) {
            Ok(()) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }

    fn frame_overhead(&self) -> usize {
        Encoder::frame_overhead(self)
    }

    fn framer(&self) -> Framer {
        Box::new(Framed {
            rule: Encoder::prefix_rule(self),
            codec: self.clone(),
        })
    }
}

/// A connection's codec, with its encoder's prefix rule read once: with a
/// rule, `Conn::write_frame` frames the payload itself (no dynamic call into
/// the codec per frame). One allocation and one (fat) pointer, as a plain
/// `Box<dyn FrameCodec>` was: an idle connection's slot does not grow.
pub(crate) type Framer = Box<Framed<dyn FrameCodec>>;

/// A codec and its prefix rule (see [`Framer`]).
pub(crate) struct Framed<C: ?Sized> {
    rule: Option<PrefixRule>,
    codec: C,
}

impl<C: ?Sized> Framed<C> {
    #[inline]
    pub(crate) fn rule(&self) -> Option<PrefixRule> {
        self.rule
    }
}

impl<C: ?Sized> Deref for Framed<C> {
    type Target = C;

    #[inline]
    fn deref(&self) -> &C {
        &self.codec
    }
}

impl<C: ?Sized> DerefMut for Framed<C> {
    #[inline]
    fn deref_mut(&mut self) -> &mut C {
        &mut self.codec
    }
}

/// A codec's error as text, out of line: the per-frame calls stay lean.
#[cold]
#[inline(never)]
fn describe(e: impl fmt::Display) -> String {
    e.to_string()
}

/// One decoded frame, lent to [`EventHandler::on_frame`](crate::EventHandler::on_frame).
///
/// It dereferences to the frame's bytes (`&frame[..]`, `frame.len()`,
/// `conn.write_frame(&frame)`), which still lie in the connection's read
/// buffer: lending them costs nothing. To keep a frame beyond the callback
/// (queue it, send it to another thread) call [`Frame::into_bytes`], which
/// splits it off that buffer without copying.
///
/// Loop thread only (inside `on_frame`); the `Bytes` from
/// [`into_bytes`](Frame::into_bytes) go anywhere.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use std::io::{Read, Write};
/// use std::sync::{Arc, Mutex};
/// use netreactor::codec::LineCodec;
/// use netreactor::{Action, Bytes, Conn, Engine, EventHandler, Frame};
///
/// /// Echoes every frame and keeps the ones that start with `b'!'`.
/// #[derive(Default)]
/// struct Keep(Mutex<Vec<Bytes>>);
///
/// impl EventHandler for Keep {
///     fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
///         if conn.write_frame(&frame).is_err() {
///             return Action::Close;
///         }
///         if frame.first() == Some(&b'!') {
///             self.0.lock().unwrap().push(frame.into_bytes());
///         }
///         Action::Continue
///     }
/// }
///
/// let keep = Arc::new(Keep::default());
/// let engine = Engine::builder()
///     .event_loops(1)
///     .codec(LineCodec::new())
///     .start(keep.clone(), "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"a\n!b\nc\n")?;
/// let mut echo = [0; 7];
/// client.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"a\n!b\nc\n");
/// assert_eq!(*keep.0.lock().unwrap(), [Bytes::from_static(b"!b")]);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Frame<'a>(FrameRepr<'a>);

enum FrameRepr<'a> {
    /// `buf[start..end]`, still in the read buffer.
    Lent {
        buf: &'a mut BytesMut,
        start: usize,
        end: usize,
    },
    /// From a decoder that only hands out `Bytes`.
    Owned(Bytes),
}

impl<'a> Frame<'a> {
    pub(crate) fn lent(buf: &'a mut BytesMut, span: FrameSpan) -> Self {
        Frame(FrameRepr::Lent {
            buf,
            start: span.start,
            end: span.end,
        })
    }

    pub(crate) fn owned(bytes: Bytes) -> Self {
        Frame(FrameRepr::Owned(bytes))
    }

    /// The frame as `Bytes` that outlive the callback, split off the read
    /// buffer without copying (one reference-count increment).
    ///
    /// Loop thread only (inside `on_frame`).
    ///
    /// See the example on [`Frame`].
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            FrameRepr::Lent { buf, start, end } => {
                buf.advance(start);
                buf.split_to(end - start).freeze()
            }
            FrameRepr::Owned(bytes) => bytes,
        }
    }
}

impl Deref for Frame<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            FrameRepr::Lent { buf, start, end } => &buf[*start..*end],
            FrameRepr::Owned(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Frame<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&Bytes::copy_from_slice(self)).finish()
    }
}

impl PartialEq<[u8]> for Frame<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Frame<'_> {
    fn eq(&self, other: &&[u8; N]) -> bool {
        **self == other[..]
    }
}

/// The codec the builder was given, cloned once per connection.
pub(crate) struct CodecPrototype(pub(crate) Box<dyn CloneCodec>);

/// A codec that can also be shared by the loops as the prototype.
pub(crate) trait CloneCodec: FrameCodec + Sync {
    fn clone_prototype(&self) -> Box<dyn CloneCodec>;
}

impl<C: FrameCodec + Clone + Sync> CloneCodec for C {
    fn clone_prototype(&self) -> Box<dyn CloneCodec> {
        Box::new(self.clone())
    }
}

impl Clone for CodecPrototype {
    fn clone(&self) -> Self {
        CodecPrototype(self.0.clone_prototype())
    }
}

impl fmt::Debug for CodecPrototype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodecPrototype")
    }
}
