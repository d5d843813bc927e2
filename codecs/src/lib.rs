//! Sans-IO frame codecs: cut a byte stream into frames and back.
//!
//! The traits are shaped like `tokio-util`'s so Rust users feel at home; the
//! length-field codec follows Netty's `LengthFieldBasedFrameDecoder`.

use bytes::BytesMut;

/// Cuts frames out of a byte stream.
pub trait Decoder {
    /// The decoded frame.
    type Item;
    /// The error a corrupt or oversize frame yields.
    type Error;

    /// Decodes one frame from the front of `src`, or returns `Ok(None)` when
    /// `src` does not yet hold a whole frame.
    ///
    /// # Errors
    /// The bytes can never form a valid frame (corrupt or oversize).
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Called once the stream has ended; by default the same as `decode`.
    ///
    /// # Errors
    /// As [`Decoder::decode`].
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.decode(src)
    }
}

/// Turns an item into bytes appended to `dst`.
pub trait Encoder<Item> {
    /// The error an item that cannot be encoded yields.
    type Error;

    /// Appends the encoding of `item` to `dst`.
    ///
    /// # Errors
    /// The item cannot be encoded (for example its length does not fit the field).
    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), Self::Error>;
}
