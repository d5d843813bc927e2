//! What an encoder puts in front of an item it otherwise copies unchanged,
//! and the rule that gives it from the item's length.

use std::ops::RangeInclusive;

use bytes::BytesMut;

/// The bytes an encoder writes before an item whose own bytes follow
/// unchanged (a length field; nothing, for fixed-length frames), as a
/// [`PrefixRule`] gives them. At most [`Prefix::MAX_LEN`] bytes.
///
/// Any thread.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::Prefix;
///
/// let p = Prefix::new(b"\x00\x05").unwrap();
/// assert_eq!(p.as_bytes(), b"\x00\x05");
/// assert_eq!(p.len(), 2);
/// assert!(Prefix::new(&[0; 9]).is_none()); // longer than Prefix::MAX_LEN
/// assert!(Prefix::default().is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefix {
    bytes: [u8; Prefix::MAX_LEN],
    len: u8,
}

impl Prefix {
    /// The longest prefix: an 8-byte length field.
    ///
    /// See the example on [`Prefix`].
    pub const MAX_LEN: usize = 8;

    /// A prefix of `bytes`; `None` when they are more than
    /// [`MAX_LEN`](Self::MAX_LEN).
    ///
    /// Any thread. See the example on [`Prefix`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        let mut p = Self::default();
        p.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        p.len = bytes.len() as u8;
        Some(p)
    }

    /// The prefix's bytes.
    ///
    /// Any thread. See the example on [`Prefix`].
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// How many bytes the prefix has.
    ///
    /// Any thread. See the example on [`Prefix`].
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for the empty prefix.
    ///
    /// Any thread. See the example on [`Prefix`].
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the prefix and then `item` to `dst`, with one reservation:
    /// the framed item. The prefix goes in as its fixed-size array, cut back
    /// to its length: an 8-byte store rather than a call to `memcpy`.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::Prefix;
    ///
    /// let mut out = BytesMut::from(&b"before "[..]);
    /// Prefix::new(b"\x00\x03").unwrap().write(b"abc", &mut out);
    /// assert_eq!(&out[..], b"before \x00\x03abc");
    /// ```
    #[inline]
    pub fn write(self, item: &[u8], dst: &mut BytesMut) {
        let start = dst.len();
        dst.reserve(Prefix::MAX_LEN + item.len());
        dst.extend_from_slice(&self.bytes);
        dst.truncate(start + self.len());
        dst.extend_from_slice(item);
    }
}

/// The largest value a `width`-byte length field (1 to 8) holds: an 8-byte
/// field is a signed long, as a Netty decoder reads it (2^63 and above are
/// negative).
pub(crate) fn field_max_value(width: usize) -> u64 {
    match width {
        8 => i64::MAX as u64,
        n => (1u64 << (8 * n)) - 1,
    }
}

/// How an encoder that only puts a prefix before an item's own bytes
/// derives that prefix from the item's length: nothing, or a length field.
/// An encoder states its rule once ([`Encoder::prefix_rule`](crate::Encoder::prefix_rule));
/// a caller can then frame every item itself, reserving once and copying the
/// item straight into its buffer, with no call into the encoder per item
/// (netreactor's `Conn::write_frame` does).
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::{Prefix, PrefixRule};
///
/// // A 2-byte big-endian length field holding the item's length.
/// let rule = PrefixRule::length_field(2, true, 0, 0..=usize::MAX).unwrap();
/// assert_eq!(rule.prefix(5).unwrap().as_bytes(), b"\x00\x05");
/// assert!(rule.prefix(70_000).is_none()); // does not fit two bytes
///
/// // Nothing before items of exactly 3 bytes.
/// let fixed = PrefixRule::none(3..=3);
/// assert_eq!(fixed.prefix(3), Some(Prefix::default())); // empty
/// assert!(fixed.prefix(4).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixRule {
    /// The item lengths the rule frames (`lo > hi`: none).
    lo: usize,
    hi: usize,
    /// Subtracted from the item's length, modulo 2^64, to give the field's
    /// value (exact for every length in range).
    value_offset: u64,
    /// The field's width in bytes; 0: no prefix.
    width: u8,
    big_endian: bool,
    /// `64 - 8 * width` (unused without a field): a big-endian field is the
    /// first `width` bytes of the value shifted up by this much.
    shift: u8,
}

impl PrefixRule {
    /// No prefix: the encoding of an item whose length is in `lengths` is
    /// the item itself (fixed-length frames).
    ///
    /// Any thread. See the example on [`PrefixRule`].
    pub fn none(lengths: RangeInclusive<usize>) -> Self {
        Self {
            lo: *lengths.start(),
            hi: *lengths.end(),
            value_offset: 0,
            width: 0,
            big_endian: true,
            shift: 0,
        }
    }

    /// A `width`-byte length field (1 to 8 bytes; `None` otherwise), in
    /// big- or little-endian order, holding the item's length minus
    /// `adjustment`, for the items whose length is in `lengths` and whose
    /// value fits the field (the range is narrowed to those; an 8-byte
    /// field holds at most `i64::MAX`, as a Netty decoder reads it).
    ///
    /// Any thread. See the example on [`PrefixRule`].
    pub fn length_field(
        width: usize,
        big_endian: bool,
        adjustment: i128,
        lengths: RangeInclusive<usize>,
    ) -> Option<Self> {
        if !(1..=Prefix::MAX_LEN).contains(&width) {
            return None;
        }
        let field_max = field_max_value(width);
        let lo = (*lengths.start() as i128).max(adjustment).max(0);
        let hi = (*lengths.end() as i128).min(i128::from(field_max) + adjustment);
        let clamp = |v: i128| usize::try_from(v.max(0)).unwrap_or(usize::MAX);
        let (lo, hi) = if hi < lo { (1, 0) } else { (clamp(lo), clamp(hi)) };
        Some(Self {
            lo,
            hi,
            // Truncation is the point: used modulo 2^64.
            value_offset: adjustment as u64,
            width: width as u8,
            big_endian,
            shift: (64 - 8 * width) as u8,
        })
    }

    /// The prefix of an item of `len` bytes; `None` when the rule does not
    /// frame that length (the encoder's `encode` says why).
    ///
    /// Any thread. See the example on [`PrefixRule`].
    #[inline]
    pub fn prefix(&self, len: usize) -> Option<Prefix> {
        if len < self.lo || len > self.hi {
            return None;
        }
        if self.width == 0 {
            return Some(Prefix::default());
        }
        let value = (len as u64).wrapping_sub(self.value_offset);
        let bytes = if self.big_endian {
            (value << self.shift).to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        Some(Prefix { bytes, len: self.width })
    }
}
