//! Property tests: arbitrary field values, tables, properties, content
//! headers and methods survive a round trip byte for byte; a stream of
//! frames cut into arbitrary chunks decodes to the same frames as the whole;
//! arbitrary bytes never make the decoder panic.

use amqp_wire::field_table::{decode_table, encode_table};
use amqp_wire::*;
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;

// ===== strategies =====

fn octets(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// Any octets, at most 255 of them (a valid shortstr), often text.
fn shortstr() -> impl Strategy<Value = ShortString> {
    prop_oneof![
        octets(40).prop_map(ShortString::from),
        "[a-z._-]{0,20}".prop_map(ShortString::from),
        octets(255).prop_map(ShortString::from),
    ]
}

fn longstr() -> impl Strategy<Value = LongString> {
    octets(300).prop_map(LongString::from)
}

/// A value only the decoder makes (`U`, `L`), obtained the only way there is:
/// decoding `{v: value_wire}`.
fn decoded(letter: u8, payload: &[u8]) -> FieldValue {
    let mut wire = ((3 + payload.len()) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&[1, b'v', letter]);
    wire.extend_from_slice(payload);
    let table = decode_table(&Bytes::from(wire)).expect("decodes");
    table.get("v").cloned().expect("the entry v")
}

fn leaf_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<bool>().prop_map(FieldValue::Boolean),
        any::<i8>().prop_map(FieldValue::ShortShortInt),
        any::<u8>().prop_map(FieldValue::ShortShortUint),
        any::<i16>().prop_map(FieldValue::ShortInt),
        any::<u16>().prop_map(FieldValue::ShortUint),
        any::<i32>().prop_map(FieldValue::LongInt),
        any::<u32>().prop_map(FieldValue::LongUint),
        any::<i64>().prop_map(FieldValue::LongLongInt),
        // Every class of float: NaN (any payload), infinities, subnormals, zeros.
        proptest::num::f32::ANY.prop_map(FieldValue::Float),
        any::<u32>().prop_map(|bits| FieldValue::Float(f32::from_bits(bits))),
        proptest::num::f64::ANY.prop_map(FieldValue::Double),
        any::<u64>().prop_map(|bits| FieldValue::Double(f64::from_bits(bits))),
        (any::<u8>(), any::<i32>())
            .prop_map(|(scale, value)| FieldValue::Decimal(Decimal { scale, value })),
        longstr().prop_map(FieldValue::LongString),
        octets(64).prop_map(|b| FieldValue::ByteArray(Bytes::from(b))),
        any::<u64>().prop_map(FieldValue::Timestamp),
        Just(FieldValue::Void),
        any::<i16>().prop_map(|v| decoded(b'U', &v.to_be_bytes())),
        any::<i64>().prop_map(|v| decoded(b'L', &v.to_be_bytes())),
    ]
}

fn table_from(entries: Vec<(ShortString, FieldValue)>) -> FieldTable {
    let mut table = FieldTable::new();
    for (k, v) in entries {
        table.insert(k, v);
    }
    table
}

/// Any field value, tables and arrays nested up to 4 levels.
fn field_value() -> impl Strategy<Value = FieldValue> {
    leaf_value().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(FieldValue::Array),
            vec((shortstr(), inner), 0..6).prop_map(|e| FieldValue::Table(table_from(e))),
        ]
    })
}

fn field_table() -> impl Strategy<Value = FieldTable> {
    vec((shortstr(), field_value()), 0..8).prop_map(table_from)
}

prop_compose! {
    fn basic_properties()(
        (content_type, content_encoding, headers, delivery_mode, priority) in (
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
            proptest::option::of(field_table()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>()),
        ),
        (correlation_id, reply_to, expiration, message_id, timestamp) in (
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
            proptest::option::of(any::<u64>()),
        ),
        (kind, user_id, app_id, cluster_id) in (
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
            proptest::option::of(shortstr()),
        ),
    ) -> BasicProperties {
        BasicProperties {
            content_type, content_encoding, headers, delivery_mode, priority,
            correlation_id, reply_to, expiration, message_id, timestamp,
            r#type: kind, user_id, app_id, cluster_id,
        }
    }
}

prop_compose! {
    fn content_header()(
        weight in prop_oneof![Just(0u16), any::<u16>()],
        body_size in any::<u64>(),
        properties in basic_properties(),
    ) -> ContentHeader {
        ContentHeader { weight, ..ContentHeader::new(body_size, properties) }
    }
}

fn boxed<M: Into<Method> + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = M> + 'static,
) -> BoxedStrategy<Method> {
    s.prop_map(Into::into).boxed()
}

/// Methods with every kind of argument, and every method with two or more bits.
fn method() -> impl Strategy<Value = Method> {
    let b = any::<bool>;
    Union::new(vec![
        boxed(
            (
                any::<u8>(),
                any::<u8>(),
                field_table(),
                longstr(),
                longstr(),
            )
                .prop_map(
                    |(version_major, version_minor, server_properties, mechanisms, locales)| {
                        ConnectionStart {
                            version_major,
                            version_minor,
                            server_properties,
                            mechanisms,
                            locales,
                        }
                    },
                ),
        ),
        boxed((field_table(), shortstr(), longstr(), shortstr()).prop_map(
            |(client_properties, mechanism, response, locale)| ConnectionStartOk {
                client_properties,
                mechanism,
                response,
                locale,
            },
        )),
        boxed(longstr().prop_map(|challenge| ConnectionSecure { challenge })),
        boxed((any::<u16>(), any::<u32>(), any::<u16>()).prop_map(
            |(channel_max, frame_max, heartbeat)| ConnectionTune {
                channel_max,
                frame_max,
                heartbeat,
            },
        )),
        boxed((any::<u16>(), any::<u32>(), any::<u16>()).prop_map(
            |(channel_max, frame_max, heartbeat)| ConnectionTuneOk {
                channel_max,
                frame_max,
                heartbeat,
            },
        )),
        boxed(
            (shortstr(), shortstr(), b()).prop_map(|(virtual_host, capabilities, insist)| {
                ConnectionOpen {
                    virtual_host,
                    capabilities,
                    insist,
                }
            }),
        ),
        boxed(
            (any::<u16>(), shortstr(), any::<u16>(), any::<u16>()).prop_map(
                |(reply_code, reply_text, class_id, method_id)| ConnectionClose {
                    reply_code,
                    reply_text,
                    class_id,
                    method_id,
                },
            ),
        ),
        boxed(Just(ConnectionCloseOk {})),
        boxed(shortstr().prop_map(|reason| ConnectionBlocked { reason })),
        boxed(
            (longstr(), shortstr())
                .prop_map(|(new_secret, reason)| ConnectionUpdateSecret { new_secret, reason }),
        ),
        boxed(longstr().prop_map(|channel_id| ChannelOpenOk { channel_id })),
        boxed(b().prop_map(|active| ChannelFlow { active })),
        boxed(b().prop_map(|active| ChannelFlowOk { active })),
        boxed(
            (any::<u16>(), shortstr(), any::<u16>(), any::<u16>()).prop_map(
                |(reply_code, reply_text, class_id, method_id)| ChannelClose {
                    reply_code,
                    reply_text,
                    class_id,
                    method_id,
                },
            ),
        ),
        boxed((shortstr(), b(), b(), b(), b(), b()).prop_map(
            |(realm, exclusive, passive, active, write, read)| AccessRequest {
                realm,
                exclusive,
                passive,
                active,
                write,
                read,
            },
        )),
        boxed(any::<u16>().prop_map(|ticket| AccessRequestOk { ticket })),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                shortstr(),
                (b(), b(), b(), b(), b()),
                field_table(),
            )
                .prop_map(
                    |(
                        ticket,
                        exchange,
                        kind,
                        (passive, durable, auto_delete, internal, nowait),
                        arguments,
                    )| {
                        ExchangeDeclare {
                            ticket,
                            exchange,
                            r#type: kind,
                            passive,
                            durable,
                            auto_delete,
                            internal,
                            nowait,
                            arguments,
                        }
                    },
                ),
        ),
        boxed((any::<u16>(), shortstr(), b(), b()).prop_map(
            |(ticket, exchange, if_unused, nowait)| ExchangeDelete {
                ticket,
                exchange,
                if_unused,
                nowait,
            },
        )),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                shortstr(),
                shortstr(),
                b(),
                field_table(),
            )
                .prop_map(
                    |(ticket, destination, source, routing_key, nowait, arguments)| ExchangeBind {
                        ticket,
                        destination,
                        source,
                        routing_key,
                        nowait,
                        arguments,
                    },
                ),
        ),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                shortstr(),
                shortstr(),
                b(),
                field_table(),
            )
                .prop_map(
                    |(ticket, destination, source, routing_key, nowait, arguments)| {
                        ExchangeUnbind {
                            ticket,
                            destination,
                            source,
                            routing_key,
                            nowait,
                            arguments,
                        }
                    },
                ),
        ),
        boxed(Just(ExchangeUnbindOk {})),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                (b(), b(), b(), b(), b()),
                field_table(),
            )
                .prop_map(
                    |(
                        ticket,
                        queue,
                        (passive, durable, exclusive, auto_delete, nowait),
                        arguments,
                    )| {
                        QueueDeclare {
                            ticket,
                            queue,
                            passive,
                            durable,
                            exclusive,
                            auto_delete,
                            nowait,
                            arguments,
                        }
                    },
                ),
        ),
        boxed((shortstr(), any::<u32>(), any::<u32>()).prop_map(
            |(queue, message_count, consumer_count)| QueueDeclareOk {
                queue,
                message_count,
                consumer_count,
            },
        )),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                shortstr(),
                shortstr(),
                b(),
                field_table(),
            )
                .prop_map(
                    |(ticket, queue, exchange, routing_key, nowait, arguments)| QueueBind {
                        ticket,
                        queue,
                        exchange,
                        routing_key,
                        nowait,
                        arguments,
                    },
                ),
        ),
        boxed(
            (any::<u16>(), shortstr(), b()).prop_map(|(ticket, queue, nowait)| QueuePurge {
                ticket,
                queue,
                nowait,
            }),
        ),
        boxed((any::<u16>(), shortstr(), b(), b(), b()).prop_map(
            |(ticket, queue, if_unused, if_empty, nowait)| QueueDelete {
                ticket,
                queue,
                if_unused,
                if_empty,
                nowait,
            },
        )),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                shortstr(),
                shortstr(),
                field_table(),
            )
                .prop_map(|(ticket, queue, exchange, routing_key, arguments)| {
                    QueueUnbind {
                        ticket,
                        queue,
                        exchange,
                        routing_key,
                        arguments,
                    }
                }),
        ),
        boxed((any::<u32>(), any::<u16>(), b()).prop_map(
            |(prefetch_size, prefetch_count, global)| BasicQos {
                prefetch_size,
                prefetch_count,
                global,
            },
        )),
        boxed(
            (
                any::<u16>(),
                shortstr(),
                shortstr(),
                (b(), b(), b(), b()),
                field_table(),
            )
                .prop_map(
                    |(
                        ticket,
                        queue,
                        consumer_tag,
                        (no_local, no_ack, exclusive, nowait),
                        arguments,
                    )| {
                        BasicConsume {
                            ticket,
                            queue,
                            consumer_tag,
                            no_local,
                            no_ack,
                            exclusive,
                            nowait,
                            arguments,
                        }
                    },
                ),
        ),
        boxed(
            (shortstr(), b()).prop_map(|(consumer_tag, nowait)| BasicCancel {
                consumer_tag,
                nowait,
            }),
        ),
        boxed((any::<u16>(), shortstr(), shortstr(), b(), b()).prop_map(
            |(ticket, exchange, routing_key, mandatory, immediate)| BasicPublish {
                ticket,
                exchange,
                routing_key,
                mandatory,
                immediate,
            },
        )),
        boxed((any::<u16>(), shortstr(), shortstr(), shortstr()).prop_map(
            |(reply_code, reply_text, exchange, routing_key)| BasicReturn {
                reply_code,
                reply_text,
                exchange,
                routing_key,
            },
        )),
        boxed(
            (shortstr(), any::<u64>(), b(), shortstr(), shortstr()).prop_map(
                |(consumer_tag, delivery_tag, redelivered, exchange, routing_key)| BasicDeliver {
                    consumer_tag,
                    delivery_tag,
                    redelivered,
                    exchange,
                    routing_key,
                },
            ),
        ),
        boxed(
            (any::<u16>(), shortstr(), b()).prop_map(|(ticket, queue, no_ack)| BasicGet {
                ticket,
                queue,
                no_ack,
            }),
        ),
        boxed(
            (any::<u64>(), b(), shortstr(), shortstr(), any::<u32>()).prop_map(
                |(delivery_tag, redelivered, exchange, routing_key, message_count)| BasicGetOk {
                    delivery_tag,
                    redelivered,
                    exchange,
                    routing_key,
                    message_count,
                },
            ),
        ),
        boxed(
            (any::<u64>(), b()).prop_map(|(delivery_tag, multiple)| BasicAck {
                delivery_tag,
                multiple,
            }),
        ),
        boxed(
            (any::<u64>(), b()).prop_map(|(delivery_tag, requeue)| BasicReject {
                delivery_tag,
                requeue,
            }),
        ),
        boxed(b().prop_map(|requeue| BasicRecoverAsync { requeue })),
        boxed(b().prop_map(|requeue| BasicRecover { requeue })),
        boxed(
            (any::<u64>(), b(), b()).prop_map(|(delivery_tag, multiple, requeue)| BasicNack {
                delivery_tag,
                multiple,
                requeue,
            }),
        ),
        boxed(Just(TxCommit {})),
        boxed(b().prop_map(|nowait| ConfirmSelect { nowait })),
    ])
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        4 => (any::<u16>(), method()).prop_map(|(channel, method)| Frame::Method { channel, method }),
        2 => (1..=u16::MAX, content_header()).prop_map(|(channel, header)| Frame::header(channel, header)),
        2 => (1..=u16::MAX, octets(200)).prop_map(|(channel, body)| Frame::Body {
            channel,
            payload: Bytes::from(body),
        }),
        1 => Just(Frame::Heartbeat),
    ]
}

// ===== helpers =====

fn encode_frame(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame
        .encode(&mut out)
        .expect("generated frames are encodable");
    out.to_vec()
}

fn table_bytes(table: &FieldTable) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_table(table, &mut out).expect("generated tables are encodable");
    out.to_vec()
}

/// Structural equality, except where a NaN (never equal to itself) makes
/// `==` meaningless; byte identity is checked separately for those.
fn assert_equal_unless_nan<T: PartialEq + std::fmt::Debug>(decoded: &T, original: &T) {
    #[allow(clippy::eq_op)]
    let comparable = original == original;
    if comparable {
        assert_eq!(decoded, original);
    }
}

/// Decodes every complete frame in `buf`.
fn drain(buf: &mut BytesMut, out: &mut Vec<Frame>) {
    while let Some(frame) = Frame::decode(buf, 0).expect("valid stream") {
        out.push(frame);
    }
}

// ===== properties =====

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn field_value_round_trips_byte_for_byte(value in field_value()) {
        let table = FieldTable::new().with("v", value.clone());
        let wire = table_bytes(&table);
        let decoded = decode_table(&Bytes::from(wire.clone())).expect("decodes");
        prop_assert_eq!(table_bytes(&decoded), wire);
        assert_equal_unless_nan(&decoded.get("v").cloned(), &Some(value));
    }

    #[test]
    fn field_table_round_trips_byte_for_byte(table in field_table()) {
        let wire = table_bytes(&table);
        let decoded = decode_table(&Bytes::from(wire.clone())).expect("decodes");
        prop_assert_eq!(table_bytes(&decoded), wire);
        assert_equal_unless_nan(&decoded, &table);
        prop_assert_eq!(decoded.len(), table.len());
    }

    #[test]
    fn content_header_round_trips_byte_for_byte(channel in 1..=u16::MAX, header in content_header()) {
        let frame = Frame::header(channel, header);
        let wire = encode_frame(&frame);
        let mut buf = BytesMut::from(&wire[..]);
        let decoded = Frame::decode(&mut buf, 0).expect("decodes").expect("complete");
        prop_assert!(buf.is_empty());
        prop_assert_eq!(encode_frame(&decoded), wire);
        assert_equal_unless_nan(&decoded, &frame);
    }

    #[test]
    fn basic_properties_flags_name_exactly_the_present_properties(properties in basic_properties()) {
        let mut present = 0;
        properties.visit(|_, _| present += 1);
        prop_assert_eq!(properties.flags().count_ones(), present);
        prop_assert_eq!(properties.flags() & 0b11, 0);
    }

    #[test]
    fn method_round_trips_byte_for_byte(channel in any::<u16>(), method in method()) {
        let frame = Frame::Method { channel, method };
        let wire = encode_frame(&frame);
        let mut buf = BytesMut::from(&wire[..]);
        let decoded = Frame::decode(&mut buf, 0).expect("decodes").expect("complete");
        prop_assert!(buf.is_empty());
        prop_assert_eq!(encode_frame(&decoded), wire);
        assert_equal_unless_nan(&decoded, &frame);
    }

    #[test]
    fn frames_split_anywhere_decode_as_when_whole(
        frames in vec(frame(), 1..8),
        chunk_sizes in vec(1usize..=7, 1..32),
    ) {
        let wire: Vec<u8> = frames.iter().flat_map(encode_frame).collect();

        let mut whole = Vec::new();
        drain(&mut BytesMut::from(&wire[..]), &mut whole);
        prop_assert_eq!(whole.len(), frames.len());

        let mut pieces = Vec::new();
        let mut buf = BytesMut::new();
        let mut sizes = chunk_sizes.iter().cycle();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            drain(&mut buf, &mut pieces);
        }
        prop_assert!(buf.is_empty());

        // Same frames both ways, and the same as generated (bytes, for NaNs).
        let bytes_of = |fs: &[Frame]| fs.iter().flat_map(encode_frame).collect::<Vec<u8>>();
        prop_assert_eq!(bytes_of(&pieces), wire.clone());
        prop_assert_eq!(bytes_of(&whole), wire);
        assert_equal_unless_nan(&pieces, &frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(data in octets(600)) {
        fuzzing::decode_frames(&data);
    }

    #[test]
    fn arbitrary_payloads_in_well_formed_frames_never_panic(
        frame_type in prop_oneof![Just(1u8), Just(2), Just(3), Just(8)],
        channel in any::<u16>(),
        prefix in prop_oneof![
            Just(Vec::new()),
            (1u16..=100, 1u16..=130).prop_map(|(c, m)| [c.to_be_bytes(), m.to_be_bytes()].concat()),
            Just(vec![0, 60, 0, 0]),
        ],
        payload in octets(300),
    ) {
        let payload = [prefix, payload].concat();
        let mut wire = vec![0x80, 0x00, frame_type];
        wire.extend_from_slice(&channel.to_be_bytes());
        wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        wire.extend_from_slice(&payload);
        wire.push(FRAME_END);
        fuzzing::decode_frames(&wire);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_table_decoder(data in octets(300)) {
        fuzzing::decode_table(&data);
        // And with a length prefix that matches, so the entries get parsed.
        let mut framed = (data.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&data);
        fuzzing::decode_table(&framed);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        frames in vec(frame(), 1..4),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        frame_max in prop_oneof![Just(0u16), Just(0x8000), any::<u16>()],
    ) {
        let mut wire: Vec<u8> = frame_max.to_be_bytes().to_vec();
        wire.extend(frames.iter().flat_map(encode_frame));
        for (at, value) in flips {
            let i = at.index(wire.len());
            wire[i] = value;
        }
        fuzzing::decode_frames(&wire);
    }
}
