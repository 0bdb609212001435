//! What a user can build encodes only with letters RabbitMQ accepts.
//!
//! RabbitMQ reads the field-table letters of its "AMQP 0-9-1 errata", not the
//! spec's: it closes the whole connection (541 INTERNAL_ERROR) on the spec's
//! `U`. [`FieldValue::SpecShortInt`] (`U`) and [`FieldValue::SpecLongLongInt`]
//! (`L`) exist only so a decoded table re-encodes byte for byte; their payload
//! has no public constructor (the `compile_fail` examples on
//! `amqp_wire::SpecInt` check that). Here: every value built with the public
//! constructors and `From` impls, alone and nested, encodes with the letters
//! `t b B s u I i l f d D S x A T F V` only, read straight from the octets.

use amqp_wire::field_table::encode_table;
use amqp_wire::{Decimal, FieldArray, FieldTable, FieldValue, LongString};
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

/// The letters RabbitMQ accepts from a client.
const RABBITMQ_LETTERS: &[u8] = b"tbBsuIilfdDSxATFV";

// ===== reading the letters from the octets, without the crate's decoder =====

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(n <= self.0.len(), "truncated: {n} octets wanted");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn octet(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn long(&mut self) -> usize {
        u32::from_be_bytes(self.take(4).try_into().unwrap()) as usize
    }
}

/// Appends the letter of every value in the table at the cursor (length
/// prefix included), nested ones too.
fn table_letters(c: &mut Cursor<'_>, out: &mut Vec<u8>) {
    let len = c.long();
    let mut entries = Cursor(c.take(len));
    while !entries.0.is_empty() {
        let key_len = entries.octet() as usize;
        entries.take(key_len);
        value_letters(&mut entries, out);
    }
}

fn value_letters(c: &mut Cursor<'_>, out: &mut Vec<u8>) {
    let letter = c.octet();
    out.push(letter);
    let fixed = match letter {
        b't' | b'b' | b'B' => 1,
        b's' | b'u' | b'U' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'l' | b'L' | b'd' | b'T' => 8,
        b'V' => 0,
        b'S' | b'x' => c.long(),
        b'A' => {
            let len = c.long();
            let mut values = Cursor(c.take(len));
            while !values.0.is_empty() {
                value_letters(&mut values, out);
            }
            0
        }
        b'F' => {
            table_letters(c, out);
            0
        }
        other => panic!("unknown letter {:?}", other as char),
    };
    c.take(fixed);
}

/// Every letter in the encoding of `table`.
fn letters(table: &FieldTable) -> Vec<u8> {
    let mut wire = BytesMut::new();
    encode_table(table, &mut wire).expect("encodes");
    let mut cursor = Cursor(&wire);
    let mut out = Vec::new();
    table_letters(&mut cursor, &mut out);
    assert!(cursor.0.is_empty(), "octets after the table");
    out
}

fn assert_rabbitmq_letters(table: &FieldTable) -> Vec<u8> {
    let seen = letters(table);
    for letter in &seen {
        assert!(
            RABBITMQ_LETTERS.contains(letter),
            "{:?} is not a letter RabbitMQ accepts, in {table:?}",
            *letter as char
        );
    }
    seen
}

// ===== tests =====

/// One value from every public constructor and `From` impl.
fn everything_buildable() -> Vec<FieldValue> {
    vec![
        FieldValue::Boolean(true),
        FieldValue::ShortShortInt(-1),
        FieldValue::ShortShortUint(u8::MAX),
        FieldValue::ShortInt(i16::MIN),
        FieldValue::ShortUint(u16::MAX),
        FieldValue::LongInt(i32::MIN),
        FieldValue::LongUint(u32::MAX),
        FieldValue::LongLongInt(i64::MIN),
        FieldValue::Float(f32::NAN),
        FieldValue::Double(-0.0),
        FieldValue::Decimal(Decimal {
            scale: 1,
            value: -15,
        }),
        FieldValue::LongString(LongString::from("text")),
        FieldValue::ByteArray(Bytes::from_static(b"\x00\xff")),
        FieldValue::Array(vec![FieldValue::Void]),
        FieldValue::Timestamp(u64::MAX),
        FieldValue::Table(FieldTable::new().with("k", 1u8)),
        FieldValue::Void,
        // Every `From`.
        FieldValue::from(false),
        FieldValue::from(i8::MIN),
        FieldValue::from(u8::MAX),
        FieldValue::from(i16::MIN),
        FieldValue::from(u16::MAX),
        FieldValue::from(i32::MIN),
        FieldValue::from(u32::MAX),
        FieldValue::from(i64::MIN),
        FieldValue::from(1.5f32),
        FieldValue::from(-1.5f64),
        FieldValue::from(Decimal::default()),
        FieldValue::from(LongString::from(&b"\xc3("[..])),
        FieldValue::from("str"),
        FieldValue::from(String::from("string")),
        FieldValue::from(FieldTable::from_iter([("a", -2i16), ("b", 3i16)])),
        FieldValue::from(FieldArray::from([FieldValue::from(-2i16)])),
    ]
}

#[test]
fn every_value_built_through_the_public_api_encodes_with_rabbitmq_letters() {
    let values = everything_buildable();
    let mut table = FieldTable::new();
    for (i, value) in values.iter().enumerate() {
        table.insert(format!("v{i}"), value.clone());
    }
    // Nested too: in an array, and in a table inside an array.
    table.insert("array", FieldValue::Array(values.clone()));
    table.insert(
        "deep",
        FieldValue::Array(vec![FieldValue::Table(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("w{i}"), v.clone()))
                .collect(),
        )]),
    );
    let mut seen = assert_rabbitmq_letters(&table);

    // And every one of RabbitMQ's letters was seen: the samples cover every
    // value a user can build.
    seen.sort_unstable();
    seen.dedup();
    let mut all = RABBITMQ_LETTERS.to_vec();
    all.sort_unstable();
    assert_eq!(seen, all);
}

/// The byte walker above does see the letters RabbitMQ refuses, when a
/// decoded table carries them.
#[test]
fn decoded_spec_letters_are_kept_and_the_walker_sees_them() {
    let wire =
        Bytes::from_static(b"\x00\x00\x00\x10\x01aU\xff\xfe\x01bL\x00\x00\x00\x00\x00\x00\x00\x07");
    let table = amqp_wire::field_table::decode_table(&wire).expect("decodes");
    assert_eq!(letters(&table), b"UL");
}

fn built_leaf() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<bool>().prop_map(FieldValue::from),
        any::<i8>().prop_map(FieldValue::from),
        any::<u8>().prop_map(FieldValue::from),
        any::<i16>().prop_map(FieldValue::from),
        any::<u16>().prop_map(FieldValue::from),
        any::<i32>().prop_map(FieldValue::from),
        any::<u32>().prop_map(FieldValue::from),
        any::<i64>().prop_map(FieldValue::from),
        any::<u32>().prop_map(|bits| FieldValue::from(f32::from_bits(bits))),
        any::<u64>().prop_map(|bits| FieldValue::from(f64::from_bits(bits))),
        (any::<u8>(), any::<i32>()).prop_map(|(scale, value)| Decimal { scale, value }.into()),
        ".{0,8}".prop_map(FieldValue::from),
        vec(any::<u8>(), 0..8).prop_map(|b| FieldValue::ByteArray(b.into())),
        any::<u64>().prop_map(FieldValue::Timestamp),
        Just(FieldValue::Void),
    ]
}

fn built_value() -> impl Strategy<Value = FieldValue> {
    built_leaf().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(FieldValue::Array),
            vec(("[a-z]{1,4}", inner), 0..5)
                .prop_map(|entries| FieldValue::Table(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn built_values_encode_with_rabbitmq_letters_only(
        entries in vec(("[a-z]{1,4}", built_value()), 0..6),
    ) {
        let table: FieldTable = entries.into_iter().collect();
        assert_rabbitmq_letters(&table);
    }
}
