//! Scenario 7: the codec alone. Decode and encode of the same bytes with
//! amqp-wire (ours) and amq-protocol (lapin's codec, nom + cookie-factory):
//!
//! - `deliver`: basic.deliver + content header + 32 B body (3 frames),
//! - `header`: one content header with 10 application headers of mixed types,
//! - `start`: connection.start exactly as RabbitMQ 3.10.8 sent it (captured).
//!
//! Times are per case (so per 3 frames for `deliver`). Decoding ours starts
//! from a reused `BytesMut` read buffer (refilled by a memcpy each
//! iteration, as a socket read would); theirs parses a `&[u8]`. Encoding
//! appends to a cleared, reused buffer on both sides.
//!
//! `cargo bench -p amqp-bench --bench codec`

use std::hint::black_box;
use std::time::Duration;

use amq_protocol::frame::{gen_frame, parse_frame, AMQPFrame, WriteContext};
use amqp_wire::{
    encode_content, BasicDeliver, BasicProperties, ContentHeader, Decimal, FieldTable, FieldValue,
    Frame, Method, DEFAULT_FRAME_MAX,
};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion};

/// connection.start as RabbitMQ 3.10.8 sends it, frame header and end included.
const RABBITMQ_START: &[u8] = include_bytes!("rabbitmq-3.10-connection-start.bin");

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    frames: usize,
}

fn deliver_case() -> Case {
    let deliver: Method = BasicDeliver {
        consumer_tag: "amq.ctag-Xq3bGkTHuRzXUbQ7ePKh6A".into(),
        delivery_tag: 1234,
        redelivered: false,
        exchange: "".into(),
        routing_key: "amqp-bench".into(),
    }
    .into();
    let props = BasicProperties {
        delivery_mode: Some(1),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    encode_content(
        1,
        &deliver,
        &props,
        &[b'x'; 32],
        DEFAULT_FRAME_MAX,
        &mut buf,
    )
    .unwrap();
    Case {
        name: "deliver",
        bytes: buf.to_vec(),
        frames: 3,
    }
}

fn header_case() -> Case {
    // Keys in sorted order: amq-protocol keeps tables in a BTreeMap, so this
    // way both codecs re-encode the very bytes they decoded.
    let headers = FieldTable::new()
        .with("a-bool", FieldValue::Boolean(true))
        .with("b-int", FieldValue::LongInt(-42))
        .with("c-long", FieldValue::LongLongInt(1 << 40))
        .with("d-double", FieldValue::Double(2.5))
        .with("e-string", FieldValue::LongString("some text value".into()))
        .with("f-timestamp", FieldValue::Timestamp(1_700_000_000))
        .with(
            "g-decimal",
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 12345,
            }),
        )
        .with(
            "h-bytes",
            FieldValue::ByteArray(Bytes::from_static(b"\x00\x01\x02\x03")),
        )
        .with(
            "i-array",
            FieldValue::Array(vec![
                FieldValue::LongString("x".into()),
                FieldValue::LongInt(7),
            ]),
        )
        .with(
            "j-table",
            FieldValue::Table(FieldTable::new().with("k", FieldValue::LongString("v".into()))),
        );
    let props = BasicProperties {
        content_type: Some("application/json".into()),
        headers: Some(headers),
        delivery_mode: Some(2),
        message_id: Some("msg-0001".into()),
        timestamp: Some(1_700_000_000),
        ..Default::default()
    };
    let frame = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(32, props)),
    };
    let mut buf = BytesMut::new();
    frame.encode(&mut buf).unwrap();
    Case {
        name: "header",
        bytes: buf.to_vec(),
        frames: 1,
    }
}

fn start_case() -> Case {
    Case {
        name: "start",
        bytes: RABBITMQ_START.to_vec(),
        frames: 1,
    }
}

fn decode_ours(bytes: &[u8], frames: usize, buf: &mut BytesMut) -> Vec<Frame> {
    buf.clear();
    buf.extend_from_slice(bytes);
    (0..frames)
        .map(|_| Frame::decode(buf, DEFAULT_FRAME_MAX).unwrap().unwrap())
        .collect()
}

fn decode_theirs(bytes: &[u8], frames: usize) -> Vec<AMQPFrame> {
    let mut input = bytes;
    (0..frames)
        .map(|_| {
            let (rest, frame) = parse_frame(input).unwrap();
            input = rest;
            frame
        })
        .collect()
}

fn encode_ours(frames: &[Frame], buf: &mut BytesMut) {
    buf.clear();
    for f in frames {
        f.encode(buf).unwrap();
    }
}

fn encode_theirs(frames: &[AMQPFrame], buf: Vec<u8>) -> Vec<u8> {
    let mut buf = buf;
    buf.clear();
    for f in frames {
        buf = gen_frame(f)(WriteContext::from(buf))
            .unwrap()
            .into_inner()
            .0;
    }
    buf
}

fn codec(c: &mut Criterion) {
    for case in [deliver_case(), header_case(), start_case()] {
        let (bytes, n) = (&case.bytes[..], case.frames);
        let mut rbuf = BytesMut::with_capacity(4096);

        // Both decode the whole input, and re-encode it to the same length
        // (the same bytes, up to table key order).
        let ours = decode_ours(bytes, n, &mut rbuf);
        let theirs = decode_theirs(bytes, n);
        assert_eq!((ours.len(), theirs.len()), (n, n));
        let mut wbuf = BytesMut::with_capacity(4096);
        encode_ours(&ours, &mut wbuf);
        assert_eq!(&wbuf[..], bytes, "{}: ours re-encodes exactly", case.name);
        let theirs_bytes = encode_theirs(&theirs, Vec::new());
        assert_eq!(theirs_bytes.len(), bytes.len(), "{}: theirs", case.name);

        let mut g = c.benchmark_group(format!("decode/{}", case.name));
        g.bench_function("ours", |b| {
            b.iter(|| {
                rbuf.clear();
                rbuf.extend_from_slice(black_box(bytes));
                for _ in 0..n {
                    black_box(
                        Frame::decode(&mut rbuf, DEFAULT_FRAME_MAX)
                            .unwrap()
                            .unwrap(),
                    );
                }
            })
        });
        g.bench_function("amq-protocol", |b| {
            b.iter(|| {
                let mut input = black_box(bytes);
                for _ in 0..n {
                    let (rest, frame) = parse_frame(input).unwrap();
                    black_box(frame);
                    input = rest;
                }
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("encode/{}", case.name));
        g.bench_function("ours", |b| {
            b.iter(|| {
                encode_ours(black_box(&ours), &mut wbuf);
                black_box(wbuf.len())
            })
        });
        let mut vbuf = Vec::with_capacity(4096);
        g.bench_function("amq-protocol", |b| {
            b.iter(|| {
                vbuf = encode_theirs(black_box(&theirs), std::mem::take(&mut vbuf));
                black_box(vbuf.len())
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec
}
criterion_main!(benches);
