//! Connection buffers. Inbound bytes live in a `BytesMut` (the loop's shared
//! read buffer, or the connection's own only while a partial message waits);
//! outbound bytes in [`Outbound`].

pub(crate) mod outbound;
