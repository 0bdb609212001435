//! Malformed input, one case per way a peer can get it wrong: each asserts
//! the exact `DecodeError` and the reply code we would close the connection
//! with (501 frame error, 502 syntax error, 505 unexpected frame, 540 not
//! implemented). Then encoding errors, which must leave the buffer as it was.

use amqp_wire::field_table::{decode_table, encode_table};
use amqp_wire::*;
use bytes::{Bytes, BytesMut};

const FRAME_ERROR: u16 = 501;
const SYNTAX_ERROR: u16 = 502;
const UNEXPECTED_FRAME: u16 = 505;
const NOT_IMPLEMENTED: u16 = 540;

fn frame(frame_type: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![frame_type];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
    out
}

fn method_frame(class_id: u16, method_id: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = class_id.to_be_bytes().to_vec();
    payload.extend_from_slice(&method_id.to_be_bytes());
    payload.extend_from_slice(args);
    frame(FRAME_METHOD, 1, &payload)
}

/// A queue.declare whose `arguments` table has the given body octets.
fn queue_declare_with_table_body(body: &[u8]) -> Vec<u8> {
    let mut args = vec![0, 0, 1, b'q', 0];
    args.extend_from_slice(&(body.len() as u32).to_be_bytes());
    args.extend_from_slice(body);
    method_frame(QueueDeclare::CLASS_ID, QueueDeclare::METHOD_ID, &args)
}

/// A content header frame on channel 1 with the given payload after the class id.
fn header_frame(class_id: u16, rest: &[u8]) -> Vec<u8> {
    let mut payload = class_id.to_be_bytes().to_vec();
    payload.extend_from_slice(rest);
    frame(FRAME_HEADER, 1, &payload)
}

/// Weight 0, body size 5, then the flags word and the property octets.
fn header_rest(flags: u16, properties: &[u8]) -> Vec<u8> {
    let mut rest = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
    rest.extend_from_slice(&flags.to_be_bytes());
    rest.extend_from_slice(properties);
    rest
}

#[track_caller]
fn assert_rejected_with(wire: &[u8], frame_max: u32, expected: DecodeError, reply_code: u16) {
    let mut buf = BytesMut::from(wire);
    let err = Frame::decode(&mut buf, frame_max).expect_err("malformed input is refused");
    assert_eq!(err, expected);
    assert_eq!(
        err.reply_code(),
        ReplyCode(reply_code),
        "reply code of {err}"
    );
    assert!(
        err.reply_code().is_hard(),
        "{err} must close the connection"
    );
    assert!(!err.to_string().is_empty());
}

#[track_caller]
fn assert_rejected(wire: &[u8], expected: DecodeError, reply_code: u16) {
    assert_rejected_with(wire, DEFAULT_FRAME_MAX, expected, reply_code);
}

fn truncated(context: &'static str) -> DecodeError {
    DecodeError::Truncated { context }
}

/// A table nesting `depth` tables inside one another, each under key `k`.
/// Written outside-in, in linear time: level `i` (from the inside) is
/// `size | 01 'k' 'F' | level i-1`, and the innermost is an empty table.
fn nested_tables_wire(depth: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(4 + 7 * depth);
    for level in (1..=depth).rev() {
        wire.extend_from_slice(&((7 * level) as u32).to_be_bytes());
        wire.extend_from_slice(b"\x01kF");
    }
    wire.extend_from_slice(&[0, 0, 0, 0]);
    wire
}

/// A one-entry table whose value is `depth` arrays nested inside one
/// another (`depth` >= 1); array `i` (from the inside) is `'A' size | array i-1`.
fn nested_arrays_wire(depth: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(6 + 5 * depth);
    wire.extend_from_slice(&((2 + 5 * depth) as u32).to_be_bytes());
    wire.extend_from_slice(b"\x01k");
    for level in (1..=depth).rev() {
        wire.push(b'A');
        wire.extend_from_slice(&((5 * (level - 1)) as u32).to_be_bytes());
    }
    wire
}

// ===== framing (501) =====

#[test]
fn rejects_wrong_frame_end_octet() {
    let mut wire = frame(FRAME_HEARTBEAT, 0, b"");
    *wire.last_mut().unwrap() = 0x00;
    assert_rejected(&wire, DecodeError::BadFrameEnd(0x00), FRAME_ERROR);
}

#[test]
fn rejects_size_field_one_short_as_bad_frame_end() {
    // basic.ack with size one octet short: the frame end falls on the bit octet.
    let mut wire = method_frame(
        BasicAck::CLASS_ID,
        BasicAck::METHOD_ID,
        &[0, 0, 0, 0, 0, 0, 0, 1, 0x01],
    );
    wire[6] -= 1;
    assert_rejected(&wire, DecodeError::BadFrameEnd(0x01), FRAME_ERROR);
}

#[test]
fn checks_frame_end_before_decoding_the_payload() {
    let mut wire = method_frame(ConnectionStart::CLASS_ID, 99, b"");
    *wire.last_mut().unwrap() = 0xCF;
    assert_rejected(&wire, DecodeError::BadFrameEnd(0xCF), FRAME_ERROR);
}

#[test]
fn rejects_heartbeat_on_channel_1() {
    assert_rejected(
        &frame(FRAME_HEARTBEAT, 1, b""),
        DecodeError::BadHeartbeat {
            channel: 1,
            size: 0,
        },
        FRAME_ERROR,
    );
}

#[test]
fn rejects_heartbeat_with_payload() {
    assert_rejected(
        &frame(FRAME_HEARTBEAT, 0, b"hi"),
        DecodeError::BadHeartbeat {
            channel: 0,
            size: 2,
        },
        FRAME_ERROR,
    );
}

#[test]
fn rejects_unknown_frame_type_4() {
    assert_rejected(
        &frame(4, 1, b""),
        DecodeError::UnknownFrameType(4),
        FRAME_ERROR,
    );
}

#[test]
fn rejects_unknown_frame_type_0() {
    assert_rejected(
        &frame(0, 0, b""),
        DecodeError::UnknownFrameType(0),
        FRAME_ERROR,
    );
}

#[test]
fn rejects_0x41_not_followed_by_amqp_as_unknown_frame_type() {
    assert_rejected(
        b"ABCDEFGH",
        DecodeError::UnknownFrameType(0x41),
        FRAME_ERROR,
    );
    // Known as soon as the second octet is not 'M'.
    assert_rejected(b"AB", DecodeError::UnknownFrameType(0x41), FRAME_ERROR);
}

#[test]
fn rejects_protocol_header_where_a_frame_should_be_naming_0_9_1() {
    let mut buf = BytesMut::from(&b"AMQP\x00\x00\x09\x01"[..]);
    let err = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap_err();
    assert_eq!(err, DecodeError::ProtocolHeader("0-9-1".into()));
    assert_eq!(err.reply_code(), ReplyCode(FRAME_ERROR));
    assert!(err.to_string().contains("0-9-1"), "{err}");
    assert_eq!(buf.len(), 8, "nothing consumed");
}

#[test]
fn rejects_old_style_protocol_header_as_protocol_header() {
    let mut buf = BytesMut::from(&b"AMQP\x01\x01\x08\x00"[..]);
    let err = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap_err();
    assert!(matches!(err, DecodeError::ProtocolHeader(_)), "{err:?}");
    assert_eq!(err.reply_code(), ReplyCode(FRAME_ERROR));
    assert!(err.to_string().contains("protocol header"), "{err}");
}

#[test]
fn rejects_frame_larger_than_frame_max_from_the_seven_octet_header_alone() {
    let header = [FRAME_METHOD, 0, 1, 0xFF, 0xFF, 0xFF, 0xF8];
    let mut buf = BytesMut::from(&header[..]);
    let err = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap_err();
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            size: 0xFFFF_FFF8,
            frame_max: DEFAULT_FRAME_MAX,
        }
    );
    assert_eq!(err.reply_code(), ReplyCode(FRAME_ERROR));
    assert!(
        buf.capacity() <= 4096,
        "buffer grew to {} octets for a refused frame",
        buf.capacity()
    );
}

#[test]
fn accepts_frame_of_exactly_frame_max_and_refuses_one_octet_more() {
    let frame_max = FRAME_MIN_SIZE;
    let fits = (frame_max - 8).to_be_bytes();
    let mut buf = BytesMut::from(&[FRAME_BODY, 0, 1, fits[0], fits[1], fits[2], fits[3]][..]);
    assert_eq!(Frame::decode(&mut buf, frame_max), Ok(None));

    let body = vec![0x55; (frame_max - 8) as usize];
    let wire = frame(FRAME_BODY, 1, &body);
    assert_eq!(wire.len(), frame_max as usize);
    let mut buf = BytesMut::from(&wire[..]);
    assert!(matches!(
        Frame::decode(&mut buf, frame_max),
        Ok(Some(Frame::Body { .. }))
    ));

    let too_big = frame(FRAME_BODY, 1, &[body, vec![0x55]].concat());
    assert_rejected_with(
        &too_big,
        frame_max,
        DecodeError::FrameTooLarge {
            size: frame_max - 7,
            frame_max,
        },
        FRAME_ERROR,
    );
}

#[test]
fn unlimited_frame_max_does_not_reserve_the_announced_size_up_front() {
    // Regression (found by cargo-fuzz): with frame_max 0 a header announcing
    // 2.6 GB made decode reserve all of it before any payload arrived.
    let mut buf = BytesMut::from(&[FRAME_HEADER, 0, 1, 0x9F, 0, 0, 0xCE][..]);
    assert_eq!(Frame::decode(&mut buf, 0), Ok(None));
    assert!(
        buf.capacity() <= 2 << 20,
        "reserved {} octets for an incomplete frame",
        buf.capacity()
    );
    assert_eq!(buf.len(), 7);
    // The fuzz target body on the same input.
    fuzzing::decode_frames(b"\x00\x00\x02\x00\x01\x9f\x00\x00\xce");
}

// ===== unexpected frames (505) =====

#[test]
fn rejects_body_frame_on_channel_0() {
    assert_rejected(
        &frame(FRAME_BODY, 0, b"hello"),
        DecodeError::ContentOnChannelZero {
            frame_type: FRAME_BODY,
        },
        UNEXPECTED_FRAME,
    );
}

#[test]
fn rejects_header_frame_on_channel_0() {
    let mut wire = header_frame(60, &header_rest(0, b""));
    wire[1..3].copy_from_slice(&[0, 0]);
    assert_rejected(
        &wire,
        DecodeError::ContentOnChannelZero {
            frame_type: FRAME_HEADER,
        },
        UNEXPECTED_FRAME,
    );
}

// ===== unknown methods and classes (540) =====

#[test]
fn rejects_unknown_method_id_in_known_class() {
    assert_rejected(
        &method_frame(ConnectionStart::CLASS_ID, 99, b""),
        DecodeError::UnknownMethod {
            class_id: ConnectionStart::CLASS_ID,
            method_id: 99,
        },
        NOT_IMPLEMENTED,
    );
}

#[test]
fn rejects_unknown_class() {
    assert_rejected(
        &method_frame(99, 10, b""),
        DecodeError::UnknownMethod {
            class_id: 99,
            method_id: 10,
        },
        NOT_IMPLEMENTED,
    );
}

#[test]
fn rejects_method_id_0_of_basic() {
    assert_rejected(
        &method_frame(BASIC_CLASS_ID, 0, b""),
        DecodeError::UnknownMethod {
            class_id: BASIC_CLASS_ID,
            method_id: 0,
        },
        NOT_IMPLEMENTED,
    );
}

#[test]
fn rejects_content_header_for_class_other_than_basic() {
    assert_rejected(
        &header_frame(50, &header_rest(0, b"")),
        DecodeError::UnknownContentClass(50),
        NOT_IMPLEMENTED,
    );
}

// ===== syntax errors in method payloads (502) =====

#[test]
fn rejects_empty_method_payload() {
    assert_rejected(
        &frame(FRAME_METHOD, 1, b""),
        truncated("method"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_method_payload_with_only_a_class_id() {
    assert_rejected(
        &frame(FRAME_METHOD, 1, &[0, 60]),
        truncated("method"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_truncated_method_payload() {
    // basic.ack with 2 of the 8 delivery-tag octets.
    assert_rejected(
        &method_frame(BasicAck::CLASS_ID, BasicAck::METHOD_ID, &[0, 0]),
        truncated("method"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_missing_bit_octet() {
    // basic.ack with its delivery tag but no octet for `multiple`.
    assert_rejected(
        &method_frame(
            BasicAck::CLASS_ID,
            BasicAck::METHOD_ID,
            &[0, 0, 0, 0, 0, 0, 0, 1],
        ),
        truncated("method"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_longstr_length_past_the_end() {
    // connection.secure: challenge claims 255 octets, 2 follow.
    assert_rejected(
        &method_frame(
            ConnectionSecure::CLASS_ID,
            ConnectionSecure::METHOD_ID,
            b"\x00\x00\x00\xffab",
        ),
        truncated("method"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_shortstr_length_past_the_end() {
    // basic.consume-ok: consumer tag claims 10 octets, 3 follow.
    assert_rejected(
        &method_frame(
            BasicConsumeOk::CLASS_ID,
            BasicConsumeOk::METHOD_ID,
            b"\x0aabc",
        ),
        truncated("method"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_table_length_past_the_end() {
    let mut wire = queue_declare_with_table_body(b"\x01kV");
    // Claim 16 octets of table where 3 follow; keep the frame well-formed.
    let table_len_at = 7 + 4 + 2 + 2 + 1;
    wire[table_len_at..table_len_at + 4].copy_from_slice(&16u32.to_be_bytes());
    assert_rejected(&wire, truncated("method"), SYNTAX_ERROR);
}

#[test]
fn rejects_trailing_bytes_after_the_last_argument() {
    assert_rejected(
        &method_frame(
            BasicAck::CLASS_ID,
            BasicAck::METHOD_ID,
            &[0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x00],
        ),
        DecodeError::TrailingBytes {
            context: "basic.ack",
            extra: 1,
        },
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_trailing_bytes_after_a_method_without_arguments() {
    assert_rejected(
        &method_frame(TxSelect::CLASS_ID, TxSelect::METHOD_ID, b"xyz"),
        DecodeError::TrailingBytes {
            context: "tx.select",
            extra: 3,
        },
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_reserved_bits_set_in_final_bit_octet() {
    // basic.ack has one bit (`multiple`); bit 1 is reserved.
    assert_rejected(
        &method_frame(
            BasicAck::CLASS_ID,
            BasicAck::METHOD_ID,
            &[0, 0, 0, 0, 0, 0, 0, 1, 0x02],
        ),
        DecodeError::ReservedBitsSet {
            context: "method",
            octet: 0x02,
        },
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_reserved_bits_set_in_bit_octet_followed_by_more_fields() {
    // basic.deliver: consumer-tag, delivery-tag, redelivered (0x81), exchange, routing-key.
    let args = b"\x01c\x00\x00\x00\x00\x00\x00\x00\x01\x81\x00\x01q";
    assert_rejected(
        &method_frame(BasicDeliver::CLASS_ID, BasicDeliver::METHOD_ID, args),
        DecodeError::ReservedBitsSet {
            context: "method",
            octet: 0x81,
        },
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_sixth_bit_set_in_queue_declare_five_bit_octet() {
    let mut wire = queue_declare_with_table_body(b"");
    let bits_at = 7 + 4 + 2 + 2;
    wire[bits_at] = 0x3F;
    assert_rejected(
        &wire,
        DecodeError::ReservedBitsSet {
            context: "method",
            octet: 0x3F,
        },
        SYNTAX_ERROR,
    );
}

// ===== syntax errors in field tables (502) =====

#[test]
fn rejects_unknown_field_type_letter() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01kZ\x00"),
        DecodeError::UnknownFieldType(b'Z'),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_unknown_field_type_letter_at_the_end_of_a_table() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01kz"),
        DecodeError::UnknownFieldType(b'z'),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_boolean_value_2() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01kt\x02"),
        DecodeError::BadBoolean(2),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_table_key_length_past_the_end() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x05ab"),
        truncated("field table"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_value_missing_after_key() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01k"),
        truncated("field table"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_nested_array_length_past_the_end() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01aA\x00\x00\x00\xffV"),
        truncated("field table"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_truncated_value_inside_an_array() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01aA\x00\x00\x00\x02I\x00"),
        truncated("field array"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_nested_table_length_past_the_end() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01nF\x00\x00\x00\x09\x01kV"),
        truncated("field table"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_byte_array_length_past_the_end() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01xx\x00\x00\x01\x00ab"),
        truncated("field table"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_truncated_decimal() {
    assert_rejected(
        &queue_declare_with_table_body(b"\x01dD\x02\x00\x00"),
        truncated("field table"),
        SYNTAX_ERROR,
    );
}

/// Asserts that a too deeply nested `table` is refused, alone and as queue.declare's
/// arguments (no frame_max limit, so it is delimited), without overflowing the stack.
fn assert_too_deep(table: Vec<u8>) {
    assert_eq!(
        decode_table(&Bytes::from(table.clone())),
        Err(DecodeError::NestingTooDeep(MAX_FIELD_DEPTH))
    );
    let mut args = vec![0, 0, 1, b'q', 0];
    args.extend_from_slice(&table);
    assert_rejected_with(
        &method_frame(QueueDeclare::CLASS_ID, QueueDeclare::METHOD_ID, &args),
        0,
        DecodeError::NestingTooDeep(MAX_FIELD_DEPTH),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_26000_deep_nested_tables_without_overflowing_the_stack() {
    assert_too_deep(nested_tables_wire(26_000));
}

#[test]
fn rejects_26000_deep_nested_arrays_without_overflowing_the_stack() {
    assert_too_deep(nested_arrays_wire(26_000));
}

#[test]
fn accepts_nesting_up_to_max_field_depth_and_refuses_one_more() {
    let ok = nested_tables_wire(MAX_FIELD_DEPTH);
    let table = decode_table(&Bytes::from(ok.clone())).expect("at the limit");
    let mut out = BytesMut::new();
    encode_table(&table, &mut out).expect("re-encodes at the limit");
    assert_eq!(out[..], ok[..]);
    assert_eq!(
        decode_table(&Bytes::from(nested_tables_wire(MAX_FIELD_DEPTH + 1))),
        Err(DecodeError::NestingTooDeep(MAX_FIELD_DEPTH))
    );

    assert!(decode_table(&Bytes::from(nested_arrays_wire(MAX_FIELD_DEPTH))).is_ok());
    assert_eq!(
        decode_table(&Bytes::from(nested_arrays_wire(MAX_FIELD_DEPTH + 1))),
        Err(DecodeError::NestingTooDeep(MAX_FIELD_DEPTH))
    );
}

#[test]
fn rejects_trailing_bytes_after_a_standalone_table() {
    assert_eq!(
        decode_table(&Bytes::from_static(b"\x00\x00\x00\x00\x00")),
        Err(DecodeError::TrailingBytes {
            context: "field table",
            extra: 1,
        })
    );
}

// ===== syntax errors in content headers (502) =====

#[test]
fn rejects_property_flags_with_continuation_bit() {
    assert_rejected(
        &header_frame(60, &header_rest(0x1001, b"\x02")),
        DecodeError::BadPropertyFlags(0x1001),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_property_flag_bit_1() {
    assert_rejected(
        &header_frame(60, &header_rest(0x0002, b"")),
        DecodeError::BadPropertyFlags(0x0002),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_truncated_content_header() {
    // Class id and weight, then 6 of the 8 body-size octets.
    assert_rejected(
        &header_frame(60, &[0, 0, 0, 0, 0, 0, 0, 5]),
        truncated("content header"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_property_announced_but_missing() {
    // content-type flagged, nothing follows.
    assert_rejected(
        &header_frame(60, &header_rest(0x8000, b"")),
        truncated("content header"),
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_trailing_bytes_after_the_last_property() {
    assert_rejected(
        &header_frame(60, &header_rest(0x1000, b"\x02\x00\x00")),
        DecodeError::TrailingBytes {
            context: "content header",
            extra: 2,
        },
        SYNTAX_ERROR,
    );
}

#[test]
fn rejects_unknown_letter_in_headers_property() {
    assert_rejected(
        &header_frame(60, &header_rest(0x2000, b"\x00\x00\x00\x03\x01kQ")),
        DecodeError::UnknownFieldType(b'Q'),
        SYNTAX_ERROR,
    );
}

// ===== incomplete input is not an error =====

#[test]
fn waits_on_a_partial_protocol_header_or_frame_header() {
    for partial in [
        &b"A"[..],
        b"AMQP",
        b"AMQP\x00\x00\x09",
        b"\x01\x00",
        b"\x08\x00\x00\x00\x00\x00",
    ] {
        let mut buf = BytesMut::from(partial);
        assert_eq!(
            Frame::decode(&mut buf, DEFAULT_FRAME_MAX),
            Ok(None),
            "{partial:?}"
        );
        assert_eq!(&buf[..], partial);
    }
}

// ===== encoding errors: refused, never truncated, buffer unchanged =====

#[test]
fn refuses_shortstr_of_256_octets_and_leaves_the_buffer_unchanged() {
    let mut dst = BytesMut::from(&b"keep"[..]);
    let publish = BasicPublish {
        routing_key: "r".repeat(256).into(),
        ..Default::default()
    };
    assert_eq!(
        Frame::method(1, publish).encode(&mut dst),
        Err(EncodeError::ShortStringTooLong(256))
    );
    assert_eq!(&dst[..], b"keep");
}

#[test]
fn refuses_table_key_of_256_octets_and_leaves_the_buffer_unchanged() {
    let table = FieldTable::new()
        .with("ok", 1i32)
        .with("k".repeat(256), 2i32);
    let mut dst = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encode_table(&table, &mut dst),
        Err(EncodeError::ShortStringTooLong(256))
    );
    assert_eq!(&dst[..], b"keep");

    let declare = QueueDeclare {
        arguments: table,
        ..Default::default()
    };
    assert_eq!(
        Frame::method(1, declare).encode(&mut dst),
        Err(EncodeError::ShortStringTooLong(256))
    );
    assert_eq!(&dst[..], b"keep");
}

#[test]
fn refuses_long_property_in_content_header_and_leaves_the_buffer_unchanged() {
    let properties = BasicProperties {
        content_type: Some("t".repeat(300).into()),
        ..Default::default()
    };
    let mut dst = BytesMut::from(&b"keep"[..]);
    let header = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(1, properties.clone())),
    };
    assert_eq!(
        header.encode(&mut dst),
        Err(EncodeError::ShortStringTooLong(300))
    );
    assert_eq!(&dst[..], b"keep");
    assert_eq!(
        encode_content_header(1, 1, &properties, &mut dst),
        Err(EncodeError::ShortStringTooLong(300))
    );
    assert_eq!(&dst[..], b"keep");
}

#[test]
fn encode_content_writes_nothing_when_any_part_fails() {
    // The method encodes fine; the header fails: not even the method is left.
    let properties = BasicProperties {
        message_id: Some("m".repeat(256).into()),
        ..Default::default()
    };
    let mut dst = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encode_content(
            1,
            &BasicPublish::default().into(),
            &properties,
            b"body",
            DEFAULT_FRAME_MAX,
            &mut dst,
        ),
        Err(EncodeError::ShortStringTooLong(256))
    );
    assert_eq!(&dst[..], b"keep");
}

#[test]
fn refuses_to_encode_tables_nested_deeper_than_max_field_depth() {
    let mut table = FieldTable::new();
    for _ in 0..=MAX_FIELD_DEPTH {
        table = FieldTable::new().with("k", table);
    }
    let mut dst = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encode_table(&table, &mut dst),
        Err(EncodeError::NestingTooDeep(MAX_FIELD_DEPTH))
    );
    assert_eq!(&dst[..], b"keep");
}
