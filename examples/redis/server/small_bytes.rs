//! A byte string that keeps up to 22 bytes inline: keys, list elements,
//! hash fields and values, set members. Most are short, so storing one
//! costs no allocation (LPUSH, HSET), dropping one no free (LPOP), and
//! comparing a key found in a table reads no second cache line.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes kept inline; longer strings are boxed.
const INLINE: usize = 22;

/// A byte string: 24 bytes, inline up to 22 bytes.
#[derive(Clone)]
pub(crate) enum SmallBytes {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<[u8]>),
}

impl SmallBytes {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, bytes } => &bytes[..usize::from(*len)],
            SmallBytes::Boxed(b) => b,
        }
    }
}

impl From<&[u8]> for SmallBytes {
    #[inline]
    fn from(s: &[u8]) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s);
            SmallBytes::Inline {
                len: s.len() as u8,
                bytes,
            }
        } else {
            SmallBytes::Boxed(s.into())
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Hashes as the slice does, as `Borrow<[u8]>` requires.
impl Hash for SmallBytes {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq for SmallBytes {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_inline_and_every_length_round_trips() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        for len in 0..64 {
            let s: Vec<u8> = (0..len as u8).collect();
            let b = SmallBytes::from(&s[..]);
            assert_eq!(&*b, &s[..]);
            assert_eq!(matches!(b, SmallBytes::Inline { .. }), len <= INLINE);
        }
        let mut set = std::collections::HashSet::new();
        set.insert(SmallBytes::from(&b"key"[..]));
        assert!(set.contains(&b"key"[..]));
        assert!(SmallBytes::from(&b"a"[..]) < SmallBytes::from(&b"b"[..]));
    }
}
