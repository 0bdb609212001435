//! Messages: bodies split to frame_max when sending, reassembled per
//! channel when receiving, with frames of several channels interleaved.

use amqp_wire::*;
use bytes::Bytes;

use super::harness::*;
use crate::proto::{Event, Reply};

/// The payload sizes of the body frames in `frames`, checking that every
/// frame fits `frame_max` and that the bodies add up to `body`.
fn body_frame_sizes(frames: &[Frame], channel: u16, body: &[u8], frame_max: usize) -> Vec<usize> {
    let mut joined = Vec::new();
    let sizes = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Body {
                channel: c,
                payload,
            } => {
                assert_eq!(*c, channel);
                assert!(payload.len() + 8 <= frame_max, "{} octets", payload.len());
                joined.extend_from_slice(payload);
                Some(payload.len())
            }
            _ => None,
        })
        .collect();
    assert!(joined == body, "the body frames join into the body");
    sizes
}

fn body(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn a_10000_octet_body_goes_out_in_frames_of_frame_max_minus_8() {
    let mut h = Harness::opened_with(config().with_frame_max(4096), tune(0, 4096, 0));
    let ch = h.open_channel();
    let data = body(10_000);
    let w = h.publish(ch, data.clone());
    assert!(matches!(h.confirm(w), Ok(true)));
    let bytes = h.sent_bytes();
    // Every frame fits frame_max: decoding with the limit succeeds.
    let frames = decode_all(&bytes, 4096);
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[0], Frame::method(1, publish_method()));
    assert_eq!(frames[1], header(1, 10_000));
    assert_eq!(
        body_frame_sizes(&frames, 1, &data, 4096),
        [4088, 4088, 1824]
    );
}

#[test]
fn a_large_body_sent_without_copying_is_split_the_same_way() {
    // Bodies of 16 KiB and more are queued as slices of the caller's
    // buffer; the framing must not change.
    let mut h = Harness::opened_with(config().with_frame_max(4096), tune(0, 4096, 0));
    let ch = h.open_channel();
    let data = body(20_000);
    h.publish(ch, data.clone());
    let frames = decode_all(&h.sent_bytes(), 4096);
    assert_eq!(frames[1], header(1, 20_000));
    assert_eq!(
        body_frame_sizes(&frames, 1, &data, 4096),
        [4088, 4088, 4088, 4088, 3648]
    );
}

#[test]
fn a_body_of_exactly_frame_max_minus_8_is_one_frame_and_an_empty_body_none() {
    let mut h = Harness::opened_with(config().with_frame_max(4096), tune(0, 4096, 0));
    let ch = h.open_channel();
    let data = body(4088);
    h.publish(ch, data.clone());
    let frames = decode_all(&h.sent_bytes(), 4096);
    assert_eq!(body_frame_sizes(&frames, 1, &data, 4096), [4088]);
    h.publish(ch, Bytes::new());
    let frames = decode_all(&h.sent_bytes(), 4096);
    assert_eq!(
        frames,
        vec![Frame::method(1, publish_method()), header(1, 0)]
    );
}

#[test]
fn content_interleaved_across_channels_is_reassembled_per_channel() {
    let mut h = Harness::opened();
    h.open_channel();
    h.open_channel();
    let one = body(700);
    let two = body(300);
    h.receive_method(1, deliver("c1", 1));
    h.receive_method(2, deliver("c2", 1));
    h.receive(header(2, two.len()));
    h.receive(header(1, one.len()));
    h.receive(body_frame(1, &one[..250]));
    h.receive(body_frame(2, &two[..100]));
    h.receive(body_frame(1, &one[250..500]));
    h.receive(body_frame(2, &two[100..]));
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::Delivery { channel: 2, content }] if content.body == two),
        "{events:?}"
    );
    h.receive(body_frame(1, &one[500..]));
    match h.events().as_slice() {
        [Event::Delivery {
            channel: 1,
            content,
        }] => {
            assert_eq!(content.body, one);
            assert!(matches!(&content.method, Method::BasicDeliver(d) if d.consumer_tag == "c1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn an_empty_body_is_delivered_at_its_header() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(1, deliver("c", 1));
    assert!(h.events().is_empty());
    h.receive(header(1, 0));
    assert!(matches!(
        h.events().as_slice(),
        [Event::Delivery { channel: 1, content }] if content.body.is_empty()
    ));
}

#[test]
fn a_basic_return_is_reported_with_its_content() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_content(
        1,
        BasicReturn {
            reply_code: 312,
            reply_text: "NO_ROUTE".into(),
            exchange: "".into(),
            routing_key: "nowhere".into(),
        },
        b"unroutable",
        4,
    );
    match h.events().as_slice() {
        [Event::Returned {
            channel: 1,
            content,
        }] => {
            assert_eq!(&content.body[..], b"unroutable");
            assert!(matches!(&content.method, Method::BasicReturn(r) if r.reply_code == 312));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn basic_get_answers_with_the_message_or_empty() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let w = h.call(
        ch,
        BasicGet {
            queue: "q".into(),
            ..Default::default()
        },
    );
    h.sent_frames();
    h.receive_content(
        1,
        BasicGetOk {
            delivery_tag: 7,
            message_count: 2,
            ..Default::default()
        },
        b"hello",
        3,
    );
    assert!(matches!(
        h.reply(w),
        Ok(Reply::Got(Some(content))) if &content.body[..] == b"hello"
    ));
    let w = h.call(ch, BasicGet::default());
    h.receive_method(1, BasicGetEmpty::default());
    assert!(matches!(h.reply(w), Ok(Reply::Got(None))));
}

#[test]
fn a_method_in_the_middle_of_content_closes_with_505() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(1, deliver("c", 1));
    h.receive(header(1, 10));
    h.receive(body_frame(1, b"12345"));
    h.receive_method(1, deliver("c", 2));
    assert_eq!(h.sent_connection_close(), 505);
    let events = h.events();
    assert_eq!(code(closed_error(&events)), Some(505));
    assert!(!events.iter().any(|e| matches!(e, Event::Delivery { .. })));
}

#[test]
fn body_frames_beyond_the_announced_size_close_with_505() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(1, deliver("c", 1));
    h.receive(header(1, 4));
    h.receive(body_frame(1, b"12345"));
    assert_eq!(h.sent_connection_close(), 505);
}

#[test]
fn a_body_without_a_header_or_a_header_without_a_method_close_with_505() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(1, deliver("c", 1));
    h.receive(body_frame(1, b"x"));
    assert_eq!(h.sent_connection_close(), 505);

    let mut h = Harness::opened();
    h.open_channel();
    h.receive(header(1, 1));
    assert_eq!(h.sent_connection_close(), 505);
}
