//! Every method, with non-default arguments, through the codec: encode then
//! decode, decode then re-encode, every incomplete prefix, every truncated
//! payload, many frames in one buffer, and zero-copy body payloads.

use amqp_wire::*;
use bytes::{Bytes, BytesMut};

/// A table with several value types, nested, as brokers and clients send.
fn rich_table(seed: i32) -> FieldTable {
    FieldTable::new()
        .with("x-int", seed)
        .with("x-str", format!("value-{seed}"))
        .with("x-bool", seed % 2 == 0)
        .with("x-long", i64::from(seed) * -1_000_000_007)
        .with("x-double", f64::from(seed) / 3.0)
        .with(
            "x-nested",
            FieldTable::new()
                .with(
                    "deep",
                    vec![FieldValue::Void, FieldValue::ShortShortUint(7)],
                )
                .with("when", FieldValue::Timestamp(1_700_000_000)),
        )
        .with(
            "x-bytes",
            FieldValue::ByteArray(Bytes::from_static(b"\x00\xff")),
        )
        .with(
            "x-decimal",
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 1999,
            }),
        )
}

fn capabilities() -> FieldTable {
    FieldTable::new()
        .with("publisher_confirms", true)
        .with("exchange_exchange_bindings", true)
        .with("basic.nack", true)
        .with("consumer_cancel_notify", true)
        .with("connection.blocked", true)
        .with("authentication_failure_close", true)
}

/// A non-default sample of every one of the 66 methods: strings, tables of
/// several types, and bits set in varying patterns.
fn all_methods() -> Vec<Method> {
    vec![
        ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties: FieldTable::new()
                .with("product", "RabbitMQ")
                .with("version", "3.13.0")
                .with("capabilities", capabilities()),
            mechanisms: "PLAIN AMQPLAIN".into(),
            locales: "en_US".into(),
        }
        .into(),
        ConnectionStartOk {
            client_properties: FieldTable::new()
                .with("product", "amqp-rs")
                .with("capabilities", capabilities()),
            mechanism: "PLAIN".into(),
            response: LongString::from(&b"\0guest\0guest"[..]),
            locale: "en_US".into(),
        }
        .into(),
        ConnectionSecure {
            challenge: LongString::from(vec![0, 1, 2, 0xFF]),
        }
        .into(),
        ConnectionSecureOk {
            response: "answer".into(),
        }
        .into(),
        ConnectionTune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        }
        .into(),
        ConnectionTuneOk {
            channel_max: 100,
            frame_max: 4096,
            heartbeat: 30,
        }
        .into(),
        ConnectionOpen {
            virtual_host: "/prod".into(),
            capabilities: "".into(),
            insist: true,
        }
        .into(),
        ConnectionOpenOk {
            known_hosts: "node-1:5672".into(),
        }
        .into(),
        ConnectionClose {
            reply_code: 320,
            reply_text: "CONNECTION_FORCED - broker forced connection closure".into(),
            class_id: 0,
            method_id: 0,
        }
        .into(),
        ConnectionCloseOk {}.into(),
        ConnectionBlocked {
            reason: "low on memory".into(),
        }
        .into(),
        ConnectionUnblocked {}.into(),
        ConnectionUpdateSecret {
            new_secret: "eyJhbGciOi.token".into(),
            reason: "refresh".into(),
        }
        .into(),
        ConnectionUpdateSecretOk {}.into(),
        ChannelOpen {
            out_of_band: "oob".into(),
        }
        .into(),
        ChannelOpenOk {
            channel_id: "chan".into(),
        }
        .into(),
        ChannelFlow { active: true }.into(),
        ChannelFlowOk { active: true }.into(),
        ChannelClose {
            reply_code: 404,
            reply_text: "NOT_FOUND - no queue 'q'".into(),
            class_id: QueueDeclare::CLASS_ID,
            method_id: QueueDeclare::METHOD_ID,
        }
        .into(),
        ChannelCloseOk {}.into(),
        AccessRequest {
            realm: "/data".into(),
            exclusive: true,
            passive: false,
            active: true,
            write: false,
            read: true,
        }
        .into(),
        AccessRequestOk { ticket: 1 }.into(),
        ExchangeDeclare {
            ticket: 0,
            exchange: "logs".into(),
            r#type: "topic".into(),
            passive: false,
            durable: true,
            auto_delete: false,
            internal: true,
            nowait: false,
            arguments: FieldTable::new().with("alternate-exchange", "unrouted"),
        }
        .into(),
        ExchangeDeclareOk {}.into(),
        ExchangeDelete {
            ticket: 0,
            exchange: "logs".into(),
            if_unused: true,
            nowait: true,
        }
        .into(),
        ExchangeDeleteOk {}.into(),
        ExchangeBind {
            ticket: 0,
            destination: "dst".into(),
            source: "src".into(),
            routing_key: "a.*.c".into(),
            nowait: true,
            arguments: rich_table(1),
        }
        .into(),
        ExchangeBindOk {}.into(),
        ExchangeUnbind {
            ticket: 0,
            destination: "dst".into(),
            source: "src".into(),
            routing_key: "a.#".into(),
            nowait: false,
            arguments: rich_table(2),
        }
        .into(),
        ExchangeUnbindOk {}.into(),
        QueueDeclare {
            ticket: 0,
            queue: "tasks".into(),
            passive: true,
            durable: false,
            exclusive: true,
            auto_delete: false,
            nowait: true,
            arguments: FieldTable::new()
                .with("x-queue-type", "quorum")
                .with("x-message-ttl", 60_000i32)
                .with("x-dead-letter-exchange", "dlx"),
        }
        .into(),
        QueueDeclareOk {
            queue: "amq.gen-JzTY20BRgKO-HjmUJj0wLg".into(),
            message_count: 17,
            consumer_count: 3,
        }
        .into(),
        QueueBind {
            ticket: 0,
            queue: "tasks".into(),
            exchange: "logs".into(),
            routing_key: "error".into(),
            nowait: true,
            arguments: rich_table(3),
        }
        .into(),
        QueueBindOk {}.into(),
        QueuePurge {
            ticket: 0,
            queue: "tasks".into(),
            nowait: true,
        }
        .into(),
        QueuePurgeOk { message_count: 42 }.into(),
        QueueDelete {
            ticket: 0,
            queue: "tasks".into(),
            if_unused: false,
            if_empty: true,
            nowait: true,
        }
        .into(),
        QueueDeleteOk {
            message_count: u32::MAX,
        }
        .into(),
        QueueUnbind {
            ticket: 0,
            queue: "tasks".into(),
            exchange: "logs".into(),
            routing_key: "error".into(),
            arguments: rich_table(4),
        }
        .into(),
        QueueUnbindOk {}.into(),
        BasicQos {
            prefetch_size: 0,
            prefetch_count: 250,
            global: true,
        }
        .into(),
        BasicQosOk {}.into(),
        BasicConsume {
            ticket: 0,
            queue: "tasks".into(),
            consumer_tag: "ctag-1".into(),
            no_local: false,
            no_ack: true,
            exclusive: false,
            nowait: true,
            arguments: FieldTable::new().with("x-priority", 10i32),
        }
        .into(),
        BasicConsumeOk {
            consumer_tag: "amq.ctag-abc".into(),
        }
        .into(),
        BasicCancel {
            consumer_tag: "ctag-1".into(),
            nowait: true,
        }
        .into(),
        BasicCancelOk {
            consumer_tag: "ctag-1".into(),
        }
        .into(),
        BasicPublish {
            ticket: 0,
            exchange: "logs".into(),
            routing_key: "error".into(),
            mandatory: false,
            immediate: true,
        }
        .into(),
        BasicReturn {
            reply_code: 312,
            reply_text: "NO_ROUTE".into(),
            exchange: "logs".into(),
            routing_key: "nowhere".into(),
        }
        .into(),
        BasicDeliver {
            consumer_tag: "ctag-1".into(),
            delivery_tag: u64::MAX,
            redelivered: true,
            exchange: "".into(),
            routing_key: "tasks".into(),
        }
        .into(),
        BasicGet {
            ticket: 0,
            queue: "tasks".into(),
            no_ack: true,
        }
        .into(),
        BasicGetOk {
            delivery_tag: 9,
            redelivered: true,
            exchange: "logs".into(),
            routing_key: "error".into(),
            message_count: 5,
        }
        .into(),
        BasicGetEmpty {
            cluster_id: "c".into(),
        }
        .into(),
        BasicAck {
            delivery_tag: 1 << 40,
            multiple: true,
        }
        .into(),
        BasicReject {
            delivery_tag: 8,
            requeue: true,
        }
        .into(),
        BasicRecoverAsync { requeue: true }.into(),
        BasicRecover { requeue: true }.into(),
        BasicRecoverOk {}.into(),
        BasicNack {
            delivery_tag: 77,
            multiple: true,
            requeue: false,
        }
        .into(),
        TxSelect {}.into(),
        TxSelectOk {}.into(),
        TxCommit {}.into(),
        TxCommitOk {}.into(),
        TxRollback {}.into(),
        TxRollbackOk {}.into(),
        ConfirmSelect { nowait: true }.into(),
        ConfirmSelectOk {}.into(),
    ]
}

/// Non-method frames to mix in: headers, bodies, a heartbeat.
fn other_frames() -> Vec<Frame> {
    vec![
        Frame::Header {
            channel: 1,
            header: Box::new(ContentHeader::new(
                11,
                BasicProperties {
                    content_type: Some("application/json".into()),
                    headers: Some(rich_table(5)),
                    delivery_mode: Some(DELIVERY_MODE_PERSISTENT),
                    timestamp: Some(1_700_000_000),
                    r#type: Some("order.created".into()),
                    ..Default::default()
                },
            )),
        },
        Frame::Header {
            channel: 65_535,
            header: Box::new(ContentHeader::new(0, BasicProperties::default())),
        },
        Frame::Body {
            channel: 1,
            payload: Bytes::from_static(b"hello world"),
        },
        Frame::Body {
            channel: 2,
            payload: Bytes::new(),
        },
        Frame::Heartbeat,
    ]
}

fn all_frames() -> Vec<Frame> {
    let mut frames: Vec<Frame> = all_methods()
        .into_iter()
        .enumerate()
        .map(|(i, m)| Frame::method(i as u16 % 3, m))
        .collect();
    frames.extend(other_frames());
    frames
}

fn encode(frame: &Frame) -> BytesMut {
    let mut out = BytesMut::new();
    frame.encode(&mut out).expect("sample encodes");
    out
}

#[test]
fn all_methods_covers_every_method_once_with_non_default_arguments() {
    let methods = all_methods();
    assert_eq!(methods.len(), 66);
    let ids: Vec<_> = methods
        .iter()
        .map(|m| (m.class_id(), m.method_id(), m.name()))
        .collect();
    assert_eq!(ids, Method::ALL);
    // Every method with arguments has a sample that differs from its default,
    // whose arguments all encode as zero octets (0, "", empty table, false).
    for m in &methods {
        let mut sample = BytesMut::new();
        Frame::method(0, m.clone()).encode(&mut sample).unwrap();
        let args = &sample[11..sample.len() - 1];
        assert!(
            args.is_empty() || args.iter().any(|&b| b != 0),
            "{} sample has default arguments",
            m.name()
        );
    }
}

#[test]
fn every_frame_decodes_to_what_was_encoded() {
    for frame in all_frames() {
        let mut buf = encode(&frame);
        let decoded = Frame::decode(&mut buf, DEFAULT_FRAME_MAX)
            .unwrap_or_else(|e| panic!("{frame:?}: {e}"))
            .expect("complete");
        assert_eq!(decoded, frame);
        assert!(buf.is_empty(), "{frame:?} left {} octets", buf.len());
    }
}

#[test]
fn decoded_frames_reencode_to_identical_bytes() {
    for frame in all_frames() {
        let bytes = encode(&frame);
        let mut buf = bytes.clone();
        let decoded = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap().unwrap();
        assert_eq!(encode(&decoded), bytes, "{frame:?}");
    }
}

#[test]
fn every_strict_prefix_is_incomplete_and_consumes_nothing() {
    for frame in all_frames() {
        let bytes = encode(&frame);
        for len in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..len]);
            assert_eq!(
                Frame::decode(&mut buf, DEFAULT_FRAME_MAX),
                Ok(None),
                "{frame:?} cut to {len} octets"
            );
            assert_eq!(&buf[..], &bytes[..len], "Ok(None) consumed octets");
        }
    }
}

#[test]
fn every_truncated_payload_in_a_well_formed_frame_is_an_error() {
    for frame in all_frames() {
        if matches!(frame, Frame::Body { .. } | Frame::Heartbeat) {
            continue; // any body length is valid; a heartbeat has no payload
        }
        let bytes = encode(&frame);
        let payload = &bytes[7..bytes.len() - 1];
        for len in 0..payload.len() {
            let mut wire = BytesMut::new();
            wire.extend_from_slice(&bytes[..3]);
            wire.extend_from_slice(&(len as u32).to_be_bytes());
            wire.extend_from_slice(&payload[..len]);
            wire.extend_from_slice(&[FRAME_END]);
            let result = Frame::decode(&mut wire, DEFAULT_FRAME_MAX);
            assert!(
                matches!(result, Err(DecodeError::Truncated { .. })),
                "{frame:?} with payload cut to {len}: {result:?}"
            );
            assert_eq!(
                result.unwrap_err().reply_code(),
                ReplyCode::SYNTAX_ERROR,
                "{frame:?}"
            );
        }
    }
}

#[test]
fn concatenated_frames_come_out_one_by_one() {
    let frames = all_frames();
    let mut buf = BytesMut::new();
    for frame in &frames {
        frame.encode(&mut buf).unwrap();
    }
    // Followed by half of another frame, which must stay in the buffer.
    let tail = encode(&Frame::Heartbeat);
    buf.extend_from_slice(&tail[..4]);

    for expected in &frames {
        let frame = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap().unwrap();
        assert_eq!(&frame, expected);
    }
    assert_eq!(Frame::decode(&mut buf, DEFAULT_FRAME_MAX), Ok(None));
    assert_eq!(&buf[..], &tail[..4]);
    buf.extend_from_slice(&tail[4..]);
    assert_eq!(
        Frame::decode(&mut buf, DEFAULT_FRAME_MAX),
        Ok(Some(Frame::Heartbeat))
    );
    assert!(buf.is_empty());
}

#[test]
fn body_frame_payloads_are_zero_copy_slices_of_the_read_buffer() {
    let mut buf = BytesMut::new();
    let bodies: [&[u8]; 3] = [b"first body", b"second, longer body payload", &[0xAB; 1000]];
    Frame::method(1, BasicDeliver::default())
        .encode(&mut buf)
        .unwrap();
    for body in bodies {
        Frame::Body {
            channel: 1,
            payload: Bytes::copy_from_slice(body),
        }
        .encode(&mut buf)
        .unwrap();
    }
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();

    assert!(matches!(
        Frame::decode(&mut buf, DEFAULT_FRAME_MAX),
        Ok(Some(Frame::Method { .. }))
    ));
    for body in bodies {
        let Some(Frame::Body { payload, .. }) = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap()
        else {
            panic!("expected a body frame");
        };
        assert_eq!(&payload[..], body);
        let p = payload.as_ptr() as usize;
        assert!(
            p >= start && p + payload.len() <= end,
            "payload at {p:#x} is outside the read buffer {start:#x}..{end:#x}"
        );
    }
}

#[test]
fn encode_content_output_decodes_to_method_header_and_body_chunks() {
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let properties = BasicProperties {
        content_type: Some("application/octet-stream".into()),
        headers: Some(rich_table(6)),
        ..Default::default()
    }
    .persistent();
    let publish = Method::from(BasicPublish {
        routing_key: "bulk".into(),
        ..Default::default()
    });
    let frame_max = FRAME_MIN_SIZE;
    let mut buf = BytesMut::new();
    encode_content(7, &publish, &properties, &body, frame_max, &mut buf).unwrap();

    assert_eq!(
        Frame::decode(&mut buf, frame_max).unwrap(),
        Some(Frame::method(7, publish))
    );
    assert_eq!(
        Frame::decode(&mut buf, frame_max).unwrap(),
        Some(Frame::Header {
            channel: 7,
            header: Box::new(ContentHeader::new(body.len() as u64, properties)),
        })
    );
    let mut received = Vec::new();
    let mut chunks = 0;
    while let Some(frame) = Frame::decode(&mut buf, frame_max).unwrap() {
        let Frame::Body {
            channel: 7,
            payload,
        } = frame
        else {
            panic!("expected a body frame on channel 7, got {frame:?}");
        };
        assert!(payload.len() <= max_body_chunk(frame_max));
        received.extend_from_slice(&payload);
        chunks += 1;
    }
    assert_eq!(received, body);
    assert_eq!(chunks, body.len().div_ceil(frame_max as usize - 8));
}

#[test]
fn encode_content_with_empty_body_sends_no_body_frames() {
    let mut buf = BytesMut::new();
    let publish = Method::from(BasicPublish::default());
    encode_content(
        1,
        &publish,
        &BasicProperties::default(),
        b"",
        DEFAULT_FRAME_MAX,
        &mut buf,
    )
    .unwrap();
    assert!(Frame::decode(&mut buf, DEFAULT_FRAME_MAX)
        .unwrap()
        .is_some());
    let header = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap().unwrap();
    assert_eq!(
        header,
        Frame::Header {
            channel: 1,
            header: Box::new(ContentHeader::new(0, BasicProperties::default())),
        }
    );
    assert!(buf.is_empty());
}

#[test]
fn frames_display_and_serialise_without_panicking() {
    for frame in all_frames() {
        let text = frame.to_string();
        assert!(
            text.starts_with(&format!("ch={} ", frame.channel())),
            "{text}"
        );
        let json = frame.to_json();
        assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
        serde_json::from_str::<serde_json::Value>(&json)
            .unwrap_or_else(|e| panic!("{json} is not JSON: {e}"));
    }
}
