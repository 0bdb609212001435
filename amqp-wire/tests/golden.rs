//! Golden byte vectors, written by hand from the AMQP 0-9-1 specification
//! (section 4.2 "Frame format", the class/method ids of the protocol
//! definition, and RabbitMQ's field-table letters), each checked both ways:
//! decoding the bytes gives the expected value, and encoding the value gives
//! the bytes.
//!
//! Every frame is written as `type | channel | size | payload | 0xCE`, with
//! the payload split into its fields so that each octet can be checked
//! against the spec by eye.

use amqp_wire::field_table::{decode_table, encode_table};
use amqp_wire::{
    BasicAck, BasicDeliver, BasicProperties, BasicPublish, ConnectionClose, ConnectionStartOk,
    ConnectionTune, ContentHeader, Decimal, ExchangeDeclare, ExchangeUnbindOk, FieldTable,
    FieldValue, Frame, LongString, Method, ProtocolHeader, QueueDeclare, ShortString,
    DEFAULT_FRAME_MAX, FRAME_END, PROTOCOL_HEADER,
};
use bytes::{Bytes, BytesMut};

/// Octets from hex text; whitespace and `|` separate fields for the reader,
/// and `//` starts a comment that runs to the end of the line.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .lines()
        .flat_map(|line| line.split("//").next().unwrap_or("").bytes())
        .filter(|b| !b.is_ascii_whitespace() && *b != b'|')
        .collect();
    assert!(
        digits.len() % 2 == 0,
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Concatenates fields written as hex or as literal text.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Decoding `wire` gives exactly `expected` and consumes every octet;
/// encoding `expected` gives exactly `wire`.
fn assert_both_ways(wire: &[u8], expected: &Frame) {
    let mut buf = BytesMut::from(wire);
    let decoded = Frame::decode(&mut buf, DEFAULT_FRAME_MAX)
        .expect("golden frame decodes")
        .expect("golden frame is complete");
    assert_eq!(&decoded, expected);
    assert!(buf.is_empty(), "{} octets left over", buf.len());

    let mut out = BytesMut::new();
    expected.encode(&mut out).expect("golden frame encodes");
    assert_eq!(
        amqp_wire::display::hex(&out),
        amqp_wire::display::hex(wire),
        "encoding of {expected:?}"
    );
}

// ===== frames =====

#[test]
fn protocol_header_is_amqp_zero_then_0_9_1() {
    // Spec 4.2.2: "AMQP" %d0 major minor revision.
    let wire = cat(&[b"AMQP", &hex("00 | 00 09 01")]);
    assert_eq!(PROTOCOL_HEADER[..], wire[..]);

    let mut buf = BytesMut::from(&wire[..]);
    let header = ProtocolHeader::decode(&mut buf)
        .expect("is a protocol header")
        .expect("is complete");
    assert!(buf.is_empty());
    assert!(header.is_0_9_1());
    assert_eq!(header.version(), "0-9-1");
    assert_eq!(header.0, PROTOCOL_HEADER);
}

#[test]
fn protocol_header_decode_waits_for_all_eight_octets_and_refuses_other_bytes() {
    let mut partial = BytesMut::from(&b"AMQP\x00\x00"[..]);
    assert_eq!(ProtocolHeader::decode(&mut partial), Ok(None));
    assert_eq!(partial.len(), 6);

    let mut other = BytesMut::from(&b"HTTP/1.1"[..]);
    assert_eq!(ProtocolHeader::decode(&mut other), Err(()));
}

#[test]
fn heartbeat_is_type_8_channel_0_empty() {
    let wire = hex("08 | 0000 | 00000000 | CE");
    assert_both_ways(&wire, &Frame::Heartbeat);
}

#[test]
fn connection_start_ok_with_plain_response() {
    let client_properties = cat(&[
        &hex("00000011"), // table size: 17 octets
        &hex("07"),       // key length 7
        b"product",       //
        b"S",             // long string
        &hex("00000004"), // length 4
        b"test",          //
    ]);
    let payload = cat(&[
        &hex("000A 000B"), // connection (10) . start-ok (11)
        &client_properties,
        &hex("05"),
        b"PLAIN", // mechanism (shortstr)
        &hex("0000000C"),
        b"\0guest\0guest", // response (longstr): authzid NUL user NUL password
        &hex("05"),
        b"en_US", // locale (shortstr)
    ]);
    assert_eq!(payload.len(), 0x35);
    let wire = cat(&[&hex("01 | 0000 | 00000035"), &payload, &hex("CE")]);

    let expected = Frame::method(
        0,
        ConnectionStartOk {
            client_properties: FieldTable::new().with("product", "test"),
            mechanism: "PLAIN".into(),
            response: LongString::from(&b"\0guest\0guest"[..]),
            locale: "en_US".into(),
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn connection_tune_packs_short_long_short() {
    let wire = hex("01 | 0000 | 0000000C |
         000A 001E | // connection (10) . tune (30)
         07FF | // channel-max 2047
         00020000 | // frame-max 131072
         003C | // heartbeat 60
         CE");
    let expected = Frame::method(
        0,
        ConnectionTune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn connection_close_with_403_access_refused() {
    let wire = cat(&[
        &hex("01 | 0000 | 00000019"),
        &hex("000A 0032"), // connection (10) . close (50)
        &hex("0193"),      // reply-code 403
        &hex("0E"),
        b"ACCESS_REFUSED", // reply-text
        &hex("000A 000B"), // caused by connection.start-ok
        &hex("CE"),
    ]);
    let expected = Frame::method(
        0,
        ConnectionClose {
            reply_code: 403,
            reply_text: "ACCESS_REFUSED".into(),
            class_id: ConnectionStartOk::CLASS_ID,
            method_id: ConnectionStartOk::METHOD_ID,
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn basic_publish_with_mandatory_bit() {
    let wire = cat(&[
        &hex("01 | 0001 | 00000013"),
        &hex("003C 0028"), // basic (60) . publish (40)
        &hex("0000"),      // ticket
        &hex("00"),        // exchange "" (default exchange)
        &hex("0A"),
        b"task_queue", // routing-key
        &hex("01"),    // bits: mandatory (bit 0) set, immediate (bit 1) clear
        &hex("CE"),
    ]);
    let expected = Frame::method(
        1,
        BasicPublish {
            ticket: 0,
            exchange: "".into(),
            routing_key: "task_queue".into(),
            mandatory: true,
            immediate: false,
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn content_header_with_delivery_mode_2() {
    let wire = hex("02 | 0001 | 0000000F |
         003C | // class basic (60)
         0000 | // weight
         0000000000000005 | // body-size 5
         1000 | // flags: bit 12 = delivery-mode (4th property)
         02 | // delivery-mode 2 (persistent)
         CE");
    let expected = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(
            5,
            BasicProperties::default().persistent(),
        )),
    };
    assert_both_ways(&wire, &expected);
}

#[test]
fn content_header_properties_follow_in_flag_order() {
    let wire = cat(&[
        &hex("02 | 0001 | 0000001A"),
        &hex("003C 0000 0000000000000005"),
        &hex("9000"), // content-type (bit 15) and delivery-mode (bit 12)
        &hex("0A"),
        b"text/plain",
        &hex("02"),
        &hex("CE"),
    ]);
    let expected = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(
            5,
            BasicProperties {
                content_type: Some("text/plain".into()),
                delivery_mode: Some(2),
                ..Default::default()
            },
        )),
    };
    assert_both_ways(&wire, &expected);
}

#[test]
fn queue_declare_with_durable_set() {
    let wire = cat(&[
        &hex("01 | 0001 | 00000011"),
        &hex("0032 000A"), // queue (50) . declare (10)
        &hex("0000"),      // ticket
        &hex("05"),
        b"tasks",
        // bits: passive 0, durable 1, exclusive 2, auto-delete 3, nowait 4
        &hex("02"),
        &hex("00000000"), // arguments: empty table
        &hex("CE"),
    ]);
    let expected = Frame::method(
        1,
        QueueDeclare {
            queue: "tasks".into(),
            durable: true,
            ..Default::default()
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn queue_declare_with_quorum_type_argument() {
    let wire = cat(&[
        &hex("01 | 0001 | 00000029"),
        &hex("0032 000A 0000"),
        &hex("05"),
        b"tasks",
        &hex("02"),
        &hex("00000018"), // table: 24 octets
        &hex("0C"),
        b"x-queue-type",
        b"S",
        &hex("00000006"),
        b"quorum",
        &hex("CE"),
    ]);
    let expected = Frame::method(
        1,
        QueueDeclare {
            queue: "tasks".into(),
            durable: true,
            arguments: FieldTable::new().with("x-queue-type", "quorum"),
            ..Default::default()
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn exchange_declare_packs_five_bits_into_one_octet() {
    let wire = cat(&[
        &hex("01 | 0001 | 00000017"),
        &hex("0028 000A 0000"), // exchange (40) . declare (10), ticket
        &hex("04"),
        b"logs",
        &hex("06"),
        b"fanout",
        // passive 0, durable 1 (set), auto-delete 2 (set), internal 3, nowait 4 (set)
        &hex("16"),
        &hex("00000000"),
        &hex("CE"),
    ]);
    let expected = Frame::method(
        1,
        ExchangeDeclare {
            exchange: "logs".into(),
            r#type: "fanout".into(),
            durable: true,
            auto_delete: true,
            nowait: true,
            ..Default::default()
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn basic_deliver_with_redelivered() {
    let wire = cat(&[
        &hex("01 | 0001 | 0000001A"),
        &hex("003C 003C"), // basic (60) . deliver (60)
        &hex("05"),
        b"ctag1",                 // consumer-tag
        &hex("0000000000000007"), // delivery-tag 7
        &hex("01"),               // redelivered
        &hex("00"),               // exchange ""
        &hex("05"),
        b"tasks", // routing-key
        &hex("CE"),
    ]);
    let expected = Frame::method(
        1,
        BasicDeliver {
            consumer_tag: "ctag1".into(),
            delivery_tag: 7,
            redelivered: true,
            exchange: "".into(),
            routing_key: "tasks".into(),
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn basic_ack_with_multiple() {
    let wire = hex("01 | 0001 | 0000000D |
         003C 0050 | // basic (60) . ack (80)
         000000000000002A | // delivery-tag 42
         01 | // multiple
         CE");
    let expected = Frame::method(
        1,
        BasicAck {
            delivery_tag: 42,
            multiple: true,
        },
    );
    assert_both_ways(&wire, &expected);
}

#[test]
fn exchange_unbind_ok_has_method_id_51() {
    let wire = hex("01 | 0001 | 00000004 | 0028 0033 | CE");
    assert_both_ways(&wire, &Frame::method(1, ExchangeUnbindOk {}));
    assert_eq!(ExchangeUnbindOk::METHOD_ID, 51);
}

#[test]
fn body_frame_carries_raw_octets() {
    let wire = cat(&[&hex("03 | 0001 | 0000000B"), b"hello world", &hex("CE")]);
    let expected = Frame::Body {
        channel: 1,
        payload: Bytes::from_static(b"hello world"),
    };
    assert_both_ways(&wire, &expected);
}

#[test]
fn empty_body_frame_is_valid() {
    let wire = hex("03 | 0002 | 00000000 | CE");
    let expected = Frame::Body {
        channel: 2,
        payload: Bytes::new(),
    };
    assert_both_ways(&wire, &expected);
}

#[test]
fn encode_content_writes_method_header_and_body_frames_split_at_frame_max() {
    // frame_max 13 leaves 5 body octets per frame: "hello", " worl", "d".
    let mut out = BytesMut::new();
    amqp_wire::encode_content(
        1,
        &Method::from(BasicPublish {
            routing_key: "q".into(),
            ..Default::default()
        }),
        &BasicProperties::default().persistent(),
        b"hello world",
        13,
        &mut out,
    )
    .unwrap();
    let wire = cat(&[
        &hex("01 0001 0000000A | 003C 0028 0000 00 01"),
        b"q",
        &hex("00 CE"),
        &hex("02 0001 0000000F | 003C 0000 000000000000000B 1000 02 CE"),
        &hex("03 0001 00000005"),
        b"hello",
        &hex("CE"),
        &hex("03 0001 00000005"),
        b" worl",
        &hex("CE"),
        &hex("03 0001 00000001"),
        b"d",
        &hex("CE"),
    ]);
    assert_eq!(
        amqp_wire::display::hex(&out),
        amqp_wire::display::hex(&wire)
    );
}

#[test]
fn frame_end_constant_is_0xce() {
    assert_eq!(FRAME_END, 0xCE);
}

// ===== bit packing =====

#[test]
fn bit_octet_patterns_of_queue_declare() {
    // Each of the five bits alone lands on its own position, least significant first.
    type SetBit = fn(&mut QueueDeclare);
    let cases: [(SetBit, u8); 5] = [
        (|q| q.passive = true, 0x01),
        (|q| q.durable = true, 0x02),
        (|q| q.exclusive = true, 0x04),
        (|q| q.auto_delete = true, 0x08),
        (|q| q.nowait = true, 0x10),
    ];
    for (set, octet) in cases {
        let mut declare = QueueDeclare::default();
        set(&mut declare);
        let wire = cat(&[
            &hex("01 0001 0000000C | 0032 000A 0000 00"),
            &[octet],
            &hex("00000000 CE"),
        ]);
        assert_both_ways(&wire, &Frame::method(1, declare));
    }
}

#[test]
fn bits_followed_by_another_field_start_a_new_octet() {
    // basic.nack: delivery-tag, then multiple and requeue share one octet.
    let wire = hex("01 0001 0000000D | 003C 0078 | 0000000000000001 | 02 | CE");
    let expected = Frame::method(
        1,
        amqp_wire::BasicNack {
            delivery_tag: 1,
            multiple: false,
            requeue: true,
        },
    );
    assert_both_ways(&wire, &expected);
}

// ===== field values, one golden vector per type letter =====

fn table_of(key: &str, value: FieldValue) -> FieldTable {
    let mut table = FieldTable::new();
    table.insert(key, value);
    table
}

/// A one-entry table `{k: value}` encodes to `size | 01 'k' | value_wire`.
fn assert_value_both_ways(value: FieldValue, value_wire: &[u8]) {
    let body = cat(&[&hex("01"), b"k", value_wire]);
    let wire = cat(&[&(body.len() as u32).to_be_bytes(), &body]);

    let decoded = decode_table(&Bytes::from(wire.clone())).expect("decodes");
    let table = table_of("k", value.clone());
    // NaN != NaN: such a value is checked by its bytes only.
    #[allow(clippy::eq_op)]
    let comparable = value == value;
    if comparable {
        assert_eq!(decoded, table);
    }
    let mut out = BytesMut::new();
    encode_table(&table, &mut out).expect("encodes");
    assert_eq!(out[..], wire[..], "encoding of {value:?}");
}

/// A one-entry table `{k: value}` whose value only the decoder can make
/// (`U`, `L`): decoding it and encoding it again gives the same octets.
/// Returns the decoded value.
fn decoded_value(value_wire: &[u8]) -> FieldValue {
    let body = cat(&[&hex("01"), b"k", value_wire]);
    let wire = cat(&[&(body.len() as u32).to_be_bytes(), &body]);
    let table = decode_table(&Bytes::from(wire.clone())).expect("decodes");
    let mut out = BytesMut::new();
    encode_table(&table, &mut out).expect("encodes");
    assert_eq!(out[..], wire[..], "re-encoding of {table:?}");
    table.get("k").cloned().expect("the entry k")
}

#[test]
fn field_value_boolean_is_t_then_0_or_1() {
    assert_value_both_ways(FieldValue::Boolean(true), &cat(&[b"t", &hex("01")]));
    assert_value_both_ways(FieldValue::Boolean(false), &cat(&[b"t", &hex("00")]));
}

#[test]
fn field_value_eight_bit_integers() {
    assert_value_both_ways(FieldValue::ShortShortInt(-2), &cat(&[b"b", &hex("FE")]));
    assert_value_both_ways(FieldValue::ShortShortUint(254), &cat(&[b"B", &hex("FE")]));
}

#[test]
fn field_value_sixteen_bit_integers_use_rabbitmq_letters() {
    assert_value_both_ways(FieldValue::ShortInt(-2), &cat(&[b"s", &hex("FFFE")]));
    assert_value_both_ways(FieldValue::ShortUint(65534), &cat(&[b"u", &hex("FFFE")]));
    // The spec's `U`: decoded, and re-encoded with the same letter.
    let spec = decoded_value(&cat(&[b"U", &hex("FFFE")]));
    assert!(
        matches!(spec, FieldValue::SpecShortInt(v) if v.get() == -2),
        "{spec:?}"
    );
}

#[test]
fn field_value_thirty_two_bit_integers() {
    assert_value_both_ways(FieldValue::LongInt(-2), &cat(&[b"I", &hex("FFFFFFFE")]));
    assert_value_both_ways(
        FieldValue::LongUint(0xFFFF_FFFE),
        &cat(&[b"i", &hex("FFFFFFFE")]),
    );
}

#[test]
fn field_value_sixty_four_bit_integers_and_timestamp() {
    assert_value_both_ways(
        FieldValue::LongLongInt(-2),
        &cat(&[b"l", &hex("FFFFFFFFFFFFFFFE")]),
    );
    // The spec's `L`: decoded, and re-encoded with the same letter.
    let spec = decoded_value(&cat(&[b"L", &hex("FFFFFFFFFFFFFFFE")]));
    assert!(
        matches!(spec, FieldValue::SpecLongLongInt(v) if v.get() == -2),
        "{spec:?}"
    );
    assert_value_both_ways(
        FieldValue::Timestamp(1_700_000_000),
        &cat(&[b"T", &hex("000000006553F100")]),
    );
}

#[test]
fn field_value_floats_are_ieee754_big_endian() {
    assert_value_both_ways(FieldValue::Float(1.5), &cat(&[b"f", &hex("3FC00000")]));
    assert_value_both_ways(
        FieldValue::Double(-0.5),
        &cat(&[b"d", &hex("BFE0000000000000")]),
    );
    // NaN keeps its exact bit pattern (compared by bytes, as NaN != NaN).
    assert_value_both_ways(
        FieldValue::Float(f32::from_bits(0x7FC0_0001)),
        &cat(&[b"f", &hex("7FC00001")]),
    );
}

#[test]
fn field_value_decimal_is_scale_then_signed_value() {
    assert_value_both_ways(
        FieldValue::Decimal(Decimal {
            scale: 2,
            value: 1999,
        }),
        &cat(&[b"D", &hex("02 000007CF")]),
    );
    assert_value_both_ways(
        FieldValue::Decimal(Decimal {
            scale: 0,
            value: i32::MAX,
        }),
        &cat(&[b"D", &hex("00 7FFFFFFF")]),
    );
}

/// pika's `Decimal("-1.5")`, and the extremes of the signed 32-bit value.
#[test]
fn field_value_negative_decimal_is_twos_complement() {
    assert_value_both_ways(
        FieldValue::Decimal(Decimal {
            scale: 1,
            value: -15,
        }),
        &cat(&[b"D", &hex("01 FFFFFFF1")]),
    );
    assert_value_both_ways(
        FieldValue::Decimal(Decimal {
            scale: 2,
            value: -1,
        }),
        &cat(&[b"D", &hex("02 FFFFFFFF")]),
    );
    assert_value_both_ways(
        FieldValue::Decimal(Decimal {
            scale: 255,
            value: i32::MIN,
        }),
        &cat(&[b"D", &hex("FF 80000000")]),
    );
    // Nested in an array and a table, as headers carry them.
    assert_value_both_ways(
        FieldValue::Array(vec![FieldValue::Decimal(Decimal {
            scale: 3,
            value: -1234,
        })]),
        &cat(&[b"A", &hex("00000006"), b"D", &hex("03 FFFFFB2E")]),
    );
    assert_value_both_ways(
        FieldValue::Table(FieldTable::new().with(
            "p",
            Decimal {
                scale: 1,
                value: -15,
            },
        )),
        &cat(&[b"F", &hex("00000008 01"), b"p", b"D", &hex("01 FFFFFFF1")]),
    );
}

#[test]
fn field_value_strings_and_byte_arrays_have_32_bit_lengths() {
    assert_value_both_ways(
        FieldValue::LongString("héllo".into()),
        &cat(&[b"S", &hex("00000006"), "héllo".as_bytes()]),
    );
    assert_value_both_ways(
        FieldValue::ByteArray(Bytes::from_static(&[0, 0xFF])),
        &cat(&[b"x", &hex("00000002 00FF")]),
    );
}

#[test]
fn field_value_void_has_no_payload() {
    assert_value_both_ways(FieldValue::Void, b"V");
}

#[test]
fn field_value_array_holds_mixed_values() {
    assert_value_both_ways(
        FieldValue::Array(vec![
            FieldValue::ShortShortInt(1),
            FieldValue::Void,
            FieldValue::LongString("a".into()),
        ]),
        &cat(&[
            b"A",
            &hex("00000009"),
            b"b",
            &hex("01"),
            b"V",
            b"S",
            &hex("00000001"),
            b"a",
        ]),
    );
}

#[test]
fn field_value_nested_table() {
    assert_value_both_ways(
        FieldValue::Table(FieldTable::new().with("x", true)),
        &cat(&[b"F", &hex("00000004 01"), b"x", b"t", &hex("01")]),
    );
}

#[test]
fn empty_table_is_four_zero_octets() {
    let mut out = BytesMut::new();
    encode_table(&FieldTable::new(), &mut out).unwrap();
    assert_eq!(out[..], hex("00000000")[..]);
    assert_eq!(
        decode_table(&Bytes::from(hex("00000000"))).unwrap(),
        FieldTable::new()
    );
}

#[test]
fn table_keeps_wire_order_and_duplicate_keys() {
    let wire = cat(&[
        &hex("0000000B"),
        &hex("01"),
        b"b",
        b"t",
        &hex("01"),
        &hex("01"),
        b"a",
        b"V",
        &hex("01"),
        b"b",
        b"t",
        &hex("00"),
    ]);
    let table = decode_table(&Bytes::from(wire.clone())).unwrap();
    let entries: Vec<_> = table
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(
        entries,
        [
            ("b".to_string(), FieldValue::Boolean(true)),
            ("a".to_string(), FieldValue::Void),
            ("b".to_string(), FieldValue::Boolean(false)),
        ]
    );
    assert_eq!(table.get("b"), Some(&FieldValue::Boolean(true)));
    let mut out = BytesMut::new();
    encode_table(&table, &mut out).unwrap();
    assert_eq!(out[..], wire[..]);
}

#[test]
fn table_insert_replaces_first_entry_and_appends_new_keys() {
    let mut table = FieldTable::new().with("a", 1i32).with("b", 2i32);
    table.insert("a", 3i32);
    let keys: Vec<_> = table.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(table.get("a"), Some(&FieldValue::LongInt(3)));
    assert_eq!(table.len(), 2);
    assert!(!table.is_empty());
}

#[test]
fn field_value_accessors_and_native_conversions() {
    assert_eq!(FieldValue::from(true), FieldValue::Boolean(true));
    assert_eq!(FieldValue::from(-1i8), FieldValue::ShortShortInt(-1));
    assert_eq!(FieldValue::from(1u8), FieldValue::ShortShortUint(1));
    assert_eq!(FieldValue::from(-1i16), FieldValue::ShortInt(-1));
    assert_eq!(FieldValue::from(1u16), FieldValue::ShortUint(1));
    assert_eq!(FieldValue::from(-1i32), FieldValue::LongInt(-1));
    assert_eq!(FieldValue::from(1u32), FieldValue::LongUint(1));
    assert_eq!(FieldValue::from(-1i64), FieldValue::LongLongInt(-1));
    assert_eq!(FieldValue::from("s").as_str(), Some("s"));
    assert_eq!(
        decoded_value(&cat(&[b"U", &hex("FFF9")])).as_i64(),
        Some(-7)
    );
    assert_eq!(
        decoded_value(&cat(&[b"L", &hex("FFFFFFFFFFFFFFF9")])).as_i64(),
        Some(-7)
    );
    assert_eq!(FieldValue::Timestamp(u64::MAX).as_i64(), None);
    assert_eq!(FieldValue::Void.as_i64(), None);
    let letters: Vec<u8> = [
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
        decoded_value(&cat(&[b"U", &hex("0000")])),
        decoded_value(&cat(&[b"L", &hex("0000000000000000")])),
    ]
    .iter()
    .map(FieldValue::type_letter)
    .collect();
    assert_eq!(letters, b"tbBsuIilfdDSxATFVUL");
}

// ===== strings =====

#[test]
fn shortstr_of_255_octets_is_the_longest_accepted() {
    let key = "k".repeat(255);
    let declare = QueueDeclare {
        queue: key.as_str().into(),
        ..Default::default()
    };
    let mut out = BytesMut::new();
    Frame::method(1, declare.clone()).encode(&mut out).unwrap();
    // header 7, ids 4, ticket 2, then the length octet.
    assert_eq!(out[13], 0xFF);
    assert_eq!(&out[14..14 + 255], key.as_bytes());
    let frame = Frame::decode(&mut out, DEFAULT_FRAME_MAX).unwrap().unwrap();
    assert_eq!(frame, Frame::method(1, declare));
}

#[test]
fn strings_keep_non_utf8_octets() {
    let s = ShortString::from(&[0xFF, 0x00, b'a'][..]);
    assert_eq!(s.as_str(), None);
    assert_eq!(s.len(), 3);
    assert_eq!(s.to_string_lossy(), "\u{FFFD}\0a");
    let l = LongString::from(vec![0xC3, 0xA9]);
    assert_eq!(l.as_str(), Some("é"));
    assert_eq!(format!("{l}"), "é");
}

// ===== properties =====

#[test]
fn each_basic_property_has_its_own_flag_bit() {
    let cases: [(BasicProperties, u16); 14] = [
        (
            BasicProperties {
                content_type: Some("".into()),
                ..Default::default()
            },
            0x8000,
        ),
        (
            BasicProperties {
                content_encoding: Some("".into()),
                ..Default::default()
            },
            0x4000,
        ),
        (
            BasicProperties {
                headers: Some(FieldTable::new()),
                ..Default::default()
            },
            0x2000,
        ),
        (
            BasicProperties {
                delivery_mode: Some(1),
                ..Default::default()
            },
            0x1000,
        ),
        (
            BasicProperties {
                priority: Some(0),
                ..Default::default()
            },
            0x0800,
        ),
        (
            BasicProperties {
                correlation_id: Some("".into()),
                ..Default::default()
            },
            0x0400,
        ),
        (
            BasicProperties {
                reply_to: Some("".into()),
                ..Default::default()
            },
            0x0200,
        ),
        (
            BasicProperties {
                expiration: Some("".into()),
                ..Default::default()
            },
            0x0100,
        ),
        (
            BasicProperties {
                message_id: Some("".into()),
                ..Default::default()
            },
            0x0080,
        ),
        (
            BasicProperties {
                timestamp: Some(0),
                ..Default::default()
            },
            0x0040,
        ),
        (
            BasicProperties {
                r#type: Some("".into()),
                ..Default::default()
            },
            0x0020,
        ),
        (
            BasicProperties {
                user_id: Some("".into()),
                ..Default::default()
            },
            0x0010,
        ),
        (
            BasicProperties {
                app_id: Some("".into()),
                ..Default::default()
            },
            0x0008,
        ),
        (
            BasicProperties {
                cluster_id: Some("".into()),
                ..Default::default()
            },
            0x0004,
        ),
    ];
    for (properties, flag) in cases {
        assert_eq!(properties.flags(), flag, "{properties:?}");
        let header = ContentHeader::new(0, properties);
        let mut out = BytesMut::new();
        Frame::header(1, header.clone()).encode(&mut out).unwrap();
        // header 7, class 2, weight 2, body size 8, then the flags.
        assert_eq!(out[19..21], flag.to_be_bytes());
        let frame = Frame::decode(&mut out, DEFAULT_FRAME_MAX).unwrap().unwrap();
        assert_eq!(frame, Frame::header(1, header));
    }
}

#[test]
fn content_header_with_all_properties_golden() {
    let wire = cat(&[
        &hex("02 0001 00000058"),
        &hex("003C 0000 00000000000003E8 FFFC"), // body 1000, all 14 flags
        &hex("0A"),
        b"text/plain",
        &hex("04"),
        b"gzip",
        &hex("00000007 01"),
        b"h",
        b"I",
        &hex("FFFFFFFF"),
        &hex("02 05"), // delivery-mode 2, priority 5
        &hex("03"),
        b"c-1",
        &hex("05"),
        b"reply",
        &hex("05"),
        b"60000",
        &hex("03"),
        b"m-1",
        &hex("000000006553F100"),
        &hex("05"),
        b"order",
        &hex("05"),
        b"guest",
        &hex("03"),
        b"app",
        &hex("00"),
        &hex("CE"),
    ]);
    assert_eq!(wire.len() - 8, 0x58);
    let properties = BasicProperties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("gzip".into()),
        headers: Some(FieldTable::new().with("h", -1i32)),
        delivery_mode: Some(2),
        priority: Some(5),
        correlation_id: Some("c-1".into()),
        reply_to: Some("reply".into()),
        expiration: Some("60000".into()),
        message_id: Some("m-1".into()),
        timestamp: Some(1_700_000_000),
        r#type: Some("order".into()),
        user_id: Some("guest".into()),
        app_id: Some("app".into()),
        cluster_id: Some("".into()),
    };
    assert!(properties.is_persistent());
    assert_both_ways(
        &wire,
        &Frame::Header {
            channel: 1,
            header: Box::new(ContentHeader::new(1000, properties)),
        },
    );
}

// ===== display =====

#[test]
fn frames_display_as_one_readable_line() {
    let publish = Frame::method(
        1,
        BasicPublish {
            routing_key: "task_queue".into(),
            mandatory: true,
            ..Default::default()
        },
    );
    assert_eq!(
        publish.to_string(),
        r#"ch=1 basic.publish exchange="" routing_key="task_queue" mandatory=true immediate=false"#
    );
    assert_eq!(Frame::Heartbeat.to_string(), "ch=0 heartbeat");
    assert_eq!(
        Frame::Heartbeat.to_json(),
        r#"{"frame":"heartbeat","channel":0}"#
    );
    let header = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(
            3,
            BasicProperties {
                r#type: Some("t".into()),
                ..Default::default()
            },
        )),
    };
    assert_eq!(
        header.to_string(),
        r#"ch=1 content-header class=60 body_size=3 type="t""#
    );
}
