//! Field tables and arrays (spec 4.2.5.5), with RabbitMQ's type letters.
//!
//! RabbitMQ does not use the 0-9-1 specification's table of field types; its
//! "AMQP 0-9-1 errata" page gives the letters every current broker and
//! client speaks, and that is what we encode:
//!
//! | letter | type | | letter | type |
//! |---|---|---|---|---|
//! | `t` | boolean | | `l` | signed 64 (spec: unsigned 64) |
//! | `b` | signed 8 | | `f` | float 32 |
//! | `B` | unsigned 8 | | `d` | float 64 |
//! | `s` | signed 16 (spec: short string) | | `D` | decimal: scale octet, signed 32 |
//! | `u` | unsigned 16 | | `S` | long string |
//! | `I` | signed 32 | | `x` | byte array (RabbitMQ only) |
//! | `i` | unsigned 32 | | `A` | array |
//! | `T` | timestamp | | `F` | nested table |
//! | `V` | void | | | |
//!
//! The spec's own `U` (signed 16) and `L` (signed 64) are decoded too, and kept
//! as [`FieldValue::SpecShortInt`] / [`FieldValue::SpecLongLongInt`] so they
//! re-encode with the same letter: a table that is decoded and re-encoded is
//! byte-identical, which is what forwarding a message's headers needs. Their
//! payload is a [`SpecInt`], which only the decoder can make, so no value
//! built through this API can carry those letters: RabbitMQ closes the whole
//! connection (541 INTERNAL_ERROR) on a `U`.
//!
//! Entries keep their wire order, and duplicate keys are kept as they came.

use bytes::Bytes;

use crate::constants::MAX_FIELD_DEPTH;
use crate::error::{DecodeError, EncodeError};
use crate::primitives::{Reader, Writer};
use crate::strings::{LongString, ShortString};

/// A decimal value: `value / 10^scale`, kept exact.
///
/// On the wire (`D`): the scale octet, then the value as a *signed* 32-bit
/// integer, so `-1.5` is `{ scale: 1, value: -15 }`, octets `01 FFFFFFF1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Decimal {
    /// Number of decimal digits after the point.
    pub scale: u8,
    /// The unscaled value, signed.
    pub value: i32,
}

/// The integer inside [`FieldValue::SpecShortInt`] (`U`) and
/// [`FieldValue::SpecLongLongInt`] (`L`): readable with [`SpecInt::get`], but
/// made only by the decoder.
///
/// There is no public constructor, no `From` and no `Default`, so those two
/// variants, whose letters RabbitMQ does not accept from a client, cannot be
/// built outside this crate; a table that arrived with them still re-encodes
/// byte for byte. Build [`FieldValue::ShortInt`] (`s`) or
/// [`FieldValue::LongLongInt`] (`l`) instead.
///
/// ```
/// use amqp_wire::field_table::decode_table;
/// use amqp_wire::FieldValue;
/// use bytes::Bytes;
///
/// // {k: U -2}, as an old client following the 0-9-1 spec would send it.
/// let table = decode_table(&Bytes::from_static(b"\0\0\0\x05\x01kU\xff\xfe")).unwrap();
/// match table.get("k") {
///     Some(FieldValue::SpecShortInt(v)) => assert_eq!(v.get(), -2),
///     other => panic!("{other:?}"),
/// }
/// ```
///
/// None of these compile:
///
/// ```compile_fail,E0308
/// let _ = amqp_wire::FieldValue::SpecShortInt(1);
/// ```
///
/// ```compile_fail,E0423
/// let _ = amqp_wire::FieldValue::SpecShortInt(amqp_wire::SpecInt(1));
/// ```
///
/// ```compile_fail,E0277
/// let _ = amqp_wire::FieldValue::SpecShortInt(1i16.into());
/// ```
///
/// ```compile_fail,E0277
/// let _ = amqp_wire::FieldValue::SpecLongLongInt(Default::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecInt<T>(T);

impl<T: Copy> SpecInt<T> {
    /// The integer.
    pub const fn get(&self) -> T {
        self.0
    }
}

/// One typed value in a field table or array.
///
/// Every value built through this API encodes with one of the letters
/// RabbitMQ accepts (see the [module](self) table): `t b B s u I i l f d D S
/// x A T F V`. Only the decoder makes [`FieldValue::SpecShortInt`] (`U`) and
/// [`FieldValue::SpecLongLongInt`] (`L`), whose payload ([`SpecInt`]) has no
/// public constructor.
///
/// # Why there is no unsigned 64-bit value and no short-string value
///
/// The 0-9-1 specification's grammar (section 4.2.5.5 of its PDF) has both:
/// `l` for an unsigned 64-bit integer and `s` for a short string. RabbitMQ
/// does not follow that part of the spec; its "AMQP 0-9-1 errata" page
/// (<https://www.rabbitmq.com/amqp-0-9-1-errata.html>), which its clients
/// (pika among them) follow too, gives the letters actually spoken:
///
/// * `l` is a *signed* 64-bit integer (RabbitMQ also reads the spec's `L` as
///   signed 64), and no letter at all carries an unsigned 64-bit integer. A
///   `u64` sent as `l` would come back negative above `i64::MAX`: put it in
///   [`FieldValue::LongLongInt`] when it fits, or in a string.
/// * `s` is a signed 16-bit integer ([`FieldValue::ShortInt`]), and RabbitMQ
///   has no short-string letter: a short string sent as `s` would be read as a
///   number followed by garbage. Text goes in [`FieldValue::LongString`] (`S`).
///
/// (The JSON spec file `amqp-rabbitmq-0.9.1.json` lists method arguments
/// only, not field-table letters.)
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// `t`: boolean, one octet.
    Boolean(bool),
    /// `b`: signed 8-bit integer.
    ShortShortInt(i8),
    /// `B`: unsigned 8-bit integer.
    ShortShortUint(u8),
    /// `s`: signed 16-bit integer (RabbitMQ's letter).
    ShortInt(i16),
    /// `u`: unsigned 16-bit integer.
    ShortUint(u16),
    /// `I`: signed 32-bit integer.
    LongInt(i32),
    /// `i`: unsigned 32-bit integer.
    LongUint(u32),
    /// `l`: signed 64-bit integer (RabbitMQ's letter).
    LongLongInt(i64),
    /// `f`: IEEE-754 single precision.
    Float(f32),
    /// `d`: IEEE-754 double precision.
    Double(f64),
    /// `D`: decimal, scale octet then signed 32-bit value.
    Decimal(Decimal),
    /// `S`: long string.
    LongString(LongString),
    /// `x`: byte array (RabbitMQ's extension), length-prefixed like `S`.
    ByteArray(Bytes),
    /// `A`: array of values.
    Array(FieldArray),
    /// `T`: POSIX timestamp in seconds, 64-bit.
    Timestamp(u64),
    /// `F`: nested field table.
    Table(FieldTable),
    /// `V`: no value.
    Void,
    /// `U`: the 0-9-1 spec's signed 16-bit letter. Decoded leniently and
    /// re-encoded as `U` only to keep forwarded bytes identical; only the
    /// decoder can make one (RabbitMQ closes the connection with 541 on a
    /// `U`). Build [`FieldValue::ShortInt`] instead.
    SpecShortInt(SpecInt<i16>),
    /// `L`: the 0-9-1 spec's signed 64-bit letter. Decoded leniently and
    /// re-encoded as `L`; only the decoder can make one. Build
    /// [`FieldValue::LongLongInt`] instead.
    SpecLongLongInt(SpecInt<i64>),
}

/// An AMQP array (`A`): values of mixed types, in order.
pub type FieldArray = Vec<FieldValue>;

/// A field table: (name, value) entries in wire order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldTable(Vec<(ShortString, FieldValue)>);

impl FieldTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`: replaces the first entry of that name, or
    /// appends a new one at the end.
    pub fn insert(&mut self, key: impl Into<ShortString>, value: impl Into<FieldValue>) {
        let (key, value) = (key.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    /// Builder form of [`FieldTable::insert`].
    pub fn with(mut self, key: impl Into<ShortString>, value: impl Into<FieldValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Entries in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&ShortString, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_nested(r, 0)
    }

    fn decode_nested(r: &mut Reader<'_>, depth: usize) -> Result<Self, DecodeError> {
        if depth > MAX_FIELD_DEPTH {
            return Err(DecodeError::NestingTooDeep(MAX_FIELD_DEPTH));
        }
        let block = r.sized_block()?;
        let mut inner = Reader::new(&block, "field table");
        let mut entries = Vec::new();
        while !inner.is_empty() {
            let key = inner.shortstr()?;
            let value = FieldValue::decode(&mut inner, depth)?;
            entries.push((key, value));
        }
        Ok(Self(entries))
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.encode_nested(w, 0)
    }

    fn encode_nested(&self, w: &mut Writer<'_>, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_FIELD_DEPTH {
            return Err(EncodeError::NestingTooDeep(MAX_FIELD_DEPTH));
        }
        w.sized_block(|w| {
            for (key, value) in &self.0 {
                w.shortstr(key)?;
                value.encode(w, depth)?;
            }
            Ok(())
        })
    }
}

impl<K: Into<ShortString>, V: Into<FieldValue>> FromIterator<(K, V)> for FieldTable {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut table = Self::new();
        for (k, v) in iter {
            table.insert(k, v);
        }
        table
    }
}

impl FieldValue {
    /// The type letter this value is encoded with.
    pub fn type_letter(&self) -> u8 {
        match self {
            Self::Boolean(_) => b't',
            Self::ShortShortInt(_) => b'b',
            Self::ShortShortUint(_) => b'B',
            Self::ShortInt(_) => b's',
            Self::ShortUint(_) => b'u',
            Self::LongInt(_) => b'I',
            Self::LongUint(_) => b'i',
            Self::LongLongInt(_) => b'l',
            Self::Float(_) => b'f',
            Self::Double(_) => b'd',
            Self::Decimal(_) => b'D',
            Self::LongString(_) => b'S',
            Self::ByteArray(_) => b'x',
            Self::Array(_) => b'A',
            Self::Timestamp(_) => b'T',
            Self::Table(_) => b'F',
            Self::Void => b'V',
            Self::SpecShortInt(_) => b'U',
            Self::SpecLongLongInt(_) => b'L',
        }
    }

    fn decode(r: &mut Reader<'_>, depth: usize) -> Result<Self, DecodeError> {
        Ok(match r.octet()? {
            b't' => match r.octet()? {
                0 => Self::Boolean(false),
                1 => Self::Boolean(true),
                other => return Err(DecodeError::BadBoolean(other)),
            },
            b'b' => Self::ShortShortInt(r.octet()? as i8),
            b'B' => Self::ShortShortUint(r.octet()?),
            b's' => Self::ShortInt(r.short()? as i16),
            b'u' => Self::ShortUint(r.short()?),
            b'I' => Self::LongInt(r.long()? as i32),
            b'i' => Self::LongUint(r.long()?),
            b'l' => Self::LongLongInt(r.longlong()? as i64),
            b'f' => Self::Float(f32::from_bits(r.long()?)),
            b'd' => Self::Double(f64::from_bits(r.longlong()?)),
            b'D' => Self::Decimal(Decimal {
                scale: r.octet()?,
                value: r.long()? as i32,
            }),
            b'S' => Self::LongString(r.longstr()?),
            b'x' => Self::ByteArray(r.sized_block()?),
            b'A' => {
                if depth + 1 > MAX_FIELD_DEPTH {
                    return Err(DecodeError::NestingTooDeep(MAX_FIELD_DEPTH));
                }
                let block = r.sized_block()?;
                let mut inner = Reader::new(&block, "field array");
                let mut values = Vec::new();
                while !inner.is_empty() {
                    values.push(Self::decode(&mut inner, depth + 1)?);
                }
                Self::Array(values)
            }
            b'T' => Self::Timestamp(r.longlong()?),
            b'F' => Self::Table(FieldTable::decode_nested(r, depth + 1)?),
            b'V' => Self::Void,
            b'U' => Self::SpecShortInt(SpecInt(r.short()? as i16)),
            b'L' => Self::SpecLongLongInt(SpecInt(r.longlong()? as i64)),
            other => return Err(DecodeError::UnknownFieldType(other)),
        })
    }

    fn encode(&self, w: &mut Writer<'_>, depth: usize) -> Result<(), EncodeError> {
        w.octet(self.type_letter());
        match self {
            Self::Boolean(v) => w.octet(u8::from(*v)),
            Self::ShortShortInt(v) => w.octet(*v as u8),
            Self::ShortShortUint(v) => w.octet(*v),
            Self::ShortInt(v) => w.short(*v as u16),
            Self::SpecShortInt(v) => w.short(v.get() as u16),
            Self::ShortUint(v) => w.short(*v),
            Self::LongInt(v) => w.long(*v as u32),
            Self::LongUint(v) => w.long(*v),
            Self::LongLongInt(v) => w.longlong(*v as u64),
            Self::SpecLongLongInt(v) => w.longlong(v.get() as u64),
            Self::Float(v) => w.long(v.to_bits()),
            Self::Double(v) => w.longlong(v.to_bits()),
            Self::Decimal(d) => {
                w.octet(d.scale);
                w.long(d.value as u32);
            }
            Self::LongString(s) => w.longstr(s.as_bytes())?,
            Self::ByteArray(b) => w.longstr(b)?,
            Self::Array(values) => {
                if depth + 1 > MAX_FIELD_DEPTH {
                    return Err(EncodeError::NestingTooDeep(MAX_FIELD_DEPTH));
                }
                w.sized_block(|w| values.iter().try_for_each(|v| v.encode(w, depth + 1)))?
            }
            Self::Timestamp(v) => w.longlong(*v),
            Self::Table(t) => t.encode_nested(w, depth + 1)?,
            Self::Void => {}
        }
        Ok(())
    }

    /// The text of a `S` value, if it is one and is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::LongString(s) => s.as_str(),
            _ => None,
        }
    }

    /// The value as an `i64`, for any integer letter that fits.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            Self::ShortShortInt(v) => v.into(),
            Self::ShortShortUint(v) => v.into(),
            Self::ShortInt(v) => v.into(),
            Self::SpecShortInt(v) => v.get().into(),
            Self::ShortUint(v) => v.into(),
            Self::LongInt(v) => v.into(),
            Self::LongUint(v) => v.into(),
            Self::LongLongInt(v) => v,
            Self::SpecLongLongInt(v) => v.get(),
            Self::Timestamp(v) => i64::try_from(v).ok()?,
            _ => return None,
        })
    }

    /// The nested table, if this is an `F` value.
    pub fn as_table(&self) -> Option<&FieldTable> {
        match self {
            Self::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The values, if this is an `A` value.
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}

macro_rules! from_native {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                Self::$variant(v.into())
            }
        })*
    };
}

from_native! {
    bool => Boolean,
    i8 => ShortShortInt,
    u8 => ShortShortUint,
    i16 => ShortInt,
    u16 => ShortUint,
    i32 => LongInt,
    u32 => LongUint,
    i64 => LongLongInt,
    f32 => Float,
    f64 => Double,
    Decimal => Decimal,
    LongString => LongString,
    &str => LongString,
    String => LongString,
    FieldTable => Table,
    FieldArray => Array,
}

/// Encodes a table alone (length prefix included), e.g. for tests and tools.
pub fn encode_table(table: &FieldTable, dst: &mut bytes::BytesMut) -> Result<(), EncodeError> {
    crate::primitives::atomically(dst, |dst| table.encode(&mut Writer::new(dst)))
}

/// Decodes a table alone (length prefix included) that must fill `src` exactly.
pub fn decode_table(src: &Bytes) -> Result<FieldTable, DecodeError> {
    let mut r = Reader::new(src, "field table");
    let table = FieldTable::decode(&mut r)?;
    r.finish()?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn roundtrip_bytes(wire: &[u8]) -> Vec<u8> {
        let table = decode_table(&Bytes::copy_from_slice(wire)).expect("decodes");
        let mut out = BytesMut::new();
        encode_table(&table, &mut out).expect("encodes");
        out.to_vec()
    }

    #[test]
    fn every_letter_decodes_and_reencodes_byte_identical() {
        let mut body = Vec::new();
        let entries: &[(&[u8], &[u8])] = &[
            (b"t", b"t\x01"),
            (b"b", b"b\xff"),
            (b"B", b"B\xff"),
            (b"s", b"s\xff\xfe"),
            (b"u", b"u\xff\xfe"),
            (b"I", b"I\xff\xff\xff\xfe"),
            (b"i", b"i\xff\xff\xff\xfe"),
            (b"l", b"l\xff\xff\xff\xff\xff\xff\xff\xfe"),
            (b"f", b"f\x3f\xc0\x00\x00"),
            (b"d", b"d\x3f\xf8\x00\x00\x00\x00\x00\x00"),
            (b"D", b"D\x02\x00\x00\x30\x39"),
            (b"S", b"S\x00\x00\x00\x02hi"),
            (b"x", b"x\x00\x00\x00\x02\x00\xff"),
            (b"A", b"A\x00\x00\x00\x03b\x01V"),
            (b"T", b"T\x00\x00\x00\x00\x65\x53\xf1\x00"),
            (b"F", b"F\x00\x00\x00\x03\x01kV"),
            (b"V", b"V"),
            (b"U", b"U\x80\x00"),
            (b"L", b"L\x80\x00\x00\x00\x00\x00\x00\x00"),
            (b"D-", b"D\x01\xff\xff\xff\xf1"),
        ];
        for (key, value) in entries {
            body.push(key.len() as u8);
            body.extend_from_slice(key);
            body.extend_from_slice(value);
        }
        let mut wire = (body.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(&body);
        let table = decode_table(&Bytes::from(wire.clone())).expect("decodes");
        assert_eq!(table.len(), entries.len());
        assert_eq!(
            table.get("D"),
            Some(&FieldValue::Decimal(Decimal {
                scale: 2,
                value: 12345
            }))
        );
        assert_eq!(
            table.get("D-"),
            Some(&FieldValue::Decimal(Decimal {
                scale: 1,
                value: -15
            }))
        );
        assert_eq!(
            table.get("U"),
            Some(&FieldValue::SpecShortInt(SpecInt(i16::MIN)))
        );
        assert_eq!(
            table.get("L"),
            Some(&FieldValue::SpecLongLongInt(SpecInt(i64::MIN)))
        );
        assert_eq!(roundtrip_bytes(&wire), wire);
    }

    #[test]
    fn wire_order_and_letters_are_kept() {
        let table = FieldTable::new()
            .with("z", 1i8)
            .with("a", FieldValue::SpecShortInt(SpecInt(-2)))
            .with("m", "text");
        let mut out = BytesMut::new();
        encode_table(&table, &mut out).unwrap();
        assert_eq!(
            &out[..],
            b"\x00\x00\x00\x14\x01zb\x01\x01aU\xff\xfe\x01mS\x00\x00\x00\x04text"
        );
        assert_eq!(roundtrip_bytes(&out), out.to_vec());
        let back = decode_table(&out.freeze()).unwrap();
        let keys: Vec<_> = back.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    /// The letters RabbitMQ accepts from a client (its "AMQP 0-9-1 errata").
    const RABBITMQ_LETTERS: &[u8] = b"tbBsuIilfdDSxATFV";

    /// Whether only the decoder can make `value`. Exhaustive on purpose, no
    /// `_` arm: a new variant does not compile until it is sorted here, and
    /// the test below then holds it to RabbitMQ's letters.
    fn decoder_only(value: &FieldValue) -> bool {
        match value {
            FieldValue::Boolean(_)
            | FieldValue::ShortShortInt(_)
            | FieldValue::ShortShortUint(_)
            | FieldValue::ShortInt(_)
            | FieldValue::ShortUint(_)
            | FieldValue::LongInt(_)
            | FieldValue::LongUint(_)
            | FieldValue::LongLongInt(_)
            | FieldValue::Float(_)
            | FieldValue::Double(_)
            | FieldValue::Decimal(_)
            | FieldValue::LongString(_)
            | FieldValue::ByteArray(_)
            | FieldValue::Array(_)
            | FieldValue::Timestamp(_)
            | FieldValue::Table(_)
            | FieldValue::Void => false,
            // Their payload, `SpecInt`, has a private field and no constructor.
            FieldValue::SpecShortInt(_) | FieldValue::SpecLongLongInt(_) => true,
        }
    }

    #[test]
    fn only_decoder_made_values_have_letters_rabbitmq_refuses() {
        let one_of_each = [
            FieldValue::Boolean(true),
            FieldValue::ShortShortInt(0),
            FieldValue::ShortShortUint(0),
            FieldValue::ShortInt(0),
            FieldValue::ShortUint(0),
            FieldValue::LongInt(0),
            FieldValue::LongUint(0),
            FieldValue::LongLongInt(0),
            FieldValue::Float(0.0),
            FieldValue::Double(0.0),
            FieldValue::Decimal(Decimal::default()),
            FieldValue::LongString("".into()),
            FieldValue::ByteArray(Bytes::new()),
            FieldValue::Array(vec![]),
            FieldValue::Timestamp(0),
            FieldValue::Table(FieldTable::new()),
            FieldValue::Void,
            FieldValue::SpecShortInt(SpecInt(0)),
            FieldValue::SpecLongLongInt(SpecInt(0)),
        ];
        let mut letters: Vec<u8> = one_of_each.iter().map(FieldValue::type_letter).collect();
        for value in &one_of_each {
            let letter = value.type_letter() as char;
            if decoder_only(value) {
                assert!(!RABBITMQ_LETTERS.contains(&value.type_letter()), "{letter}");
            } else {
                assert!(RABBITMQ_LETTERS.contains(&value.type_letter()), "{letter}");
            }
        }
        // One sample of each letter, so of each variant.
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(letters.len(), one_of_each.len());
    }

    #[test]
    fn hostile_deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 26_000;
        // Innermost: an empty table; each level wraps it as `F` in a one-key table.
        let mut wire = vec![0, 0, 0, 0];
        for _ in 0..depth {
            let mut outer = Vec::with_capacity(wire.len() + 7);
            let inner_len = 2 + 1 + wire.len();
            outer.extend_from_slice(&(inner_len as u32).to_be_bytes());
            outer.extend_from_slice(b"\x01kF");
            outer.extend_from_slice(&wire);
            wire = outer;
        }
        assert_eq!(
            decode_table(&Bytes::from(wire)),
            Err(DecodeError::NestingTooDeep(MAX_FIELD_DEPTH))
        );
    }
}
