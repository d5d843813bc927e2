//! Type-erases a user's codec so connections can hold one without making
//! every engine type generic over it.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::codec::{Decoder, Encoder};

/// What the engine needs of a codec: decode frames as `Bytes`, encode byte
/// slices, and clone itself for each new connection.
pub(crate) trait FrameCodec: Send + 'static {
    fn decode(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<Bytes>, String>;
    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), String>;
    fn clone_box(&self) -> Box<dyn FrameCodec>;
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

    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), String> {
        Encoder::encode(self, frame, dst).map_err(|e| e.to_string())
    }

    fn clone_box(&self) -> Box<dyn FrameCodec> {
        Box::new(self.clone())
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
