//! `shortstr` and `longstr`: octet strings with 8-bit and 32-bit length
//! prefixes (spec 4.2.5.3). The spec calls them strings but they need not
//! be UTF-8, so both keep raw bytes and say whether they are text.

use std::fmt;

use bytes::Bytes;

/// A `shortstr`: at most 255 octets on the wire. A longer one can be built
/// but encoding it fails with [`crate::EncodeError::ShortStringTooLong`];
/// it is never truncated.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortString(Bytes);

/// A `longstr`: up to 4 GiB - 1 octets, often binary (SASL responses, `x` values).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LongString(Bytes);

macro_rules! octet_string {
    ($name:ident) => {
        impl $name {
            /// The raw octets.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
            /// The octets as `Bytes` (a cheap reference-counted clone).
            pub fn to_bytes(&self) -> Bytes {
                self.0.clone()
            }
            /// The text, if the octets are valid UTF-8.
            pub fn as_str(&self) -> Option<&str> {
                std::str::from_utf8(&self.0).ok()
            }
            /// The text, with invalid UTF-8 replaced by U+FFFD.
            pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
                String::from_utf8_lossy(&self.0)
            }
            /// Length in octets.
            pub fn len(&self) -> usize {
                self.0.len()
            }
            /// True when it has no octets.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(Bytes::copy_from_slice(s.as_bytes()))
            }
        }
        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Bytes::from(s))
            }
        }
        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                Self::from(s.as_str())
            }
        }
        impl From<Vec<u8>> for $name {
            fn from(v: Vec<u8>) -> Self {
                Self(Bytes::from(v))
            }
        }
        impl From<&[u8]> for $name {
            fn from(v: &[u8]) -> Self {
                Self(Bytes::copy_from_slice(v))
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.as_str() {
                    Some(s) => fmt::Debug::fmt(s, f),
                    None => write!(f, "{:?}", self.0),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_string_lossy())
            }
        }
    };
}

octet_string!(ShortString);
octet_string!(LongString);

impl ShortString {
    /// Wraps octets read from the wire (at most 255 by construction).
    pub(crate) fn from_wire(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<Bytes> for LongString {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}
