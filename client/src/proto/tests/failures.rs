//! Malformed frames and broken sockets: the client closes with the code
//! amqp-wire names, and every pending and later call fails with the error.

use amqp_wire::*;

use super::harness::*;
use crate::error::Error;
use crate::proto::{ChannelRef, Event};

/// An open connection with one channel and a queue.declare pending on it.
fn with_pending_call() -> (Harness, ChannelRef, u32) {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let w = h.call(ch, declare("q"));
    h.sent_frames();
    (h, ch, w)
}

/// The reply code amqp-wire names for the decode error in `bytes`.
fn wire_code(bytes: &[u8]) -> u16 {
    let mut buf = bytes::BytesMut::from(bytes);
    match Frame::decode(&mut buf, 131_072) {
        Err(e) => e.reply_code().0,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

/// Feeds `bad` to a connection with a call pending, and checks that the
/// client closes with the code amqp-wire names for it, which must be `expected`.
fn assert_decode_violation(bad: &[u8], expected: u16) {
    assert_eq!(wire_code(bad), expected);
    let (mut h, ch, w) = with_pending_call();
    h.receive_bytes(bad);
    assert_violation(&mut h, ch, w, expected);
}

/// After a protocol violation with `expected`: the close sent, the pending
/// call's error, the Closed event, and a later call's error all agree.
fn assert_violation(h: &mut Harness, ch: ChannelRef, pending: u32, expected: u16) {
    assert_eq!(h.sent_connection_close(), expected);
    assert_failed_with(h, ch, pending, expected);
}

/// The pending call's error, the Closed event and a later call's error all
/// carry `expected`, and nothing more is sent or read.
fn assert_failed_with(h: &mut Harness, ch: ChannelRef, pending: u32, expected: u16) {
    let error = h.reply(pending).expect_err("the pending call fails");
    assert!(
        matches!(&error, Error::ProtocolViolation { reply_code, .. } if reply_code.0 == expected),
        "{error:?}"
    );
    let events = h.events();
    assert_eq!(code(closed_error(&events)), Some(expected));
    assert!(h.core.is_closed());
    let later = h.publish(ch, "x");
    assert_eq!(
        h.confirm(later).err().as_ref().and_then(code),
        Some(expected)
    );
    let later = h.waiter();
    h.core.open_channel(h.now(), later);
    assert_eq!(h.reply(later).err().as_ref().and_then(code), Some(expected));
    assert!(h.sent_bytes().is_empty(), "nothing after the close");
    // Nothing more is read either.
    h.receive_method(ch.id, declare_ok("q"));
    assert!(h.events().is_empty());
}

/// Spec 4.2.3: on a bad frame-end the peer closes "without sending any
/// more data"; the framing is lost, so an unknown frame type is treated
/// alike. The 501 is reported locally only.
fn assert_closed_silently(bad: &[u8]) {
    assert_eq!(wire_code(bad), 501);
    let (mut h, ch, w) = with_pending_call();
    h.receive_bytes(bad);
    assert!(h.sent_bytes().is_empty(), "no connection.close");
    assert_failed_with(&mut h, ch, w, 501);
}

#[test]
fn closes_without_a_word_on_bad_frame_end() {
    let mut bytes = encode(&[Frame::method(1, declare_ok("q"))]);
    *bytes.last_mut().unwrap() = 0xCD;
    assert_closed_silently(&bytes);
}

#[test]
fn closes_without_a_word_on_unknown_frame_type() {
    assert_closed_silently(&[9, 0, 1, 0, 0, 0, 0, 0xCE]);
}

#[test]
fn closes_with_501_on_a_heartbeat_with_a_channel() {
    assert_decode_violation(&[8, 0, 1, 0, 0, 0, 0, 0xCE], 501);
}

#[test]
fn closes_with_501_on_a_frame_over_frame_max() {
    // A header announcing 131072 payload octets: refused before the payload.
    assert_decode_violation(&[3, 0, 1, 0, 2, 0, 0], 501);
}

#[test]
fn closes_with_502_on_truncated_method_arguments() {
    // queue.declare-ok whose queue name claims 9 octets but has 1.
    assert_decode_violation(&[1, 0, 1, 0, 0, 0, 6, 0, 50, 0, 11, 9, b'q', 0xCE], 502);
}

#[test]
fn closes_with_502_on_trailing_method_octets() {
    let mut frame = encode(&[Frame::method(1, declare_ok("q"))]);
    // One more payload octet than queue.declare-ok has.
    let end = frame.len() - 1;
    frame.insert(end, 0);
    frame[6] += 1;
    assert_decode_violation(&frame, 502);
}

#[test]
fn closes_with_540_on_an_unknown_method() {
    assert_decode_violation(&[1, 0, 1, 0, 0, 0, 4, 0, 50, 0, 99, 0xCE], 540);
}

#[test]
fn closes_with_505_on_content_on_channel_0() {
    assert_decode_violation(&[3, 0, 0, 0, 0, 0, 1, b'x', 0xCE], 505);
}

#[test]
fn a_malformed_frame_after_good_ones_in_the_same_read_still_lets_the_good_ones_through() {
    let (mut h, ch, w) = with_pending_call();
    let mut bytes = encode(&[Frame::method(1, declare_ok("q"))]);
    bytes.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0xCE]);
    h.receive_bytes(&bytes);
    assert!(h.reply(w).is_ok(), "the good frame was handled first");
    let later = h.call(ch, declare("q2"));
    assert!(h.sent_bytes().is_empty(), "framing lost: nothing sent");
    assert_eq!(h.reply(later).err().as_ref().and_then(code), Some(501));
}

#[test]
fn an_io_error_fails_every_pending_and_later_call() {
    let mut h = Harness::opened();
    let one = h.open_channel();
    let two = h.open_channel();
    let declare_waiter = h.call(one, declare("q"));
    let get_waiter = h.call(two, BasicGet::default());
    let opening = h.waiter();
    h.core.open_channel(h.now(), opening);
    h.sent_frames();
    // basic.get-ok arrived, its content not yet.
    h.receive_method(
        2,
        BasicGetOk {
            delivery_tag: 1,
            ..Default::default()
        },
    );
    h.receive(header(2, 100));

    h.core
        .handle_io_error(Error::io(std::io::ErrorKind::UnexpectedEof.into()));
    for w in [declare_waiter, get_waiter, opening] {
        assert!(matches!(h.reply(w), Err(Error::Io(_))), "waiter {w}");
    }
    let events = h.events();
    assert!(matches!(closed_error(&events), Error::Io(_)));
    assert!(h.core.is_closed());
    assert!(h.sent_bytes().is_empty());
    let later = h.publish(one, "x");
    assert!(matches!(h.confirm(later), Err(Error::Io(_))));
    let later = h.call(two, declare("q"));
    assert!(matches!(h.reply(later), Err(Error::Io(_))));
    // A second error changes nothing.
    h.core
        .handle_io_error(Error::io(std::io::ErrorKind::ConnectionReset.into()));
    assert!(h.events().is_empty());
    assert!(
        matches!(h.core.error(), Some(Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof)
    );
}

#[test]
fn an_io_error_while_closing_completes_our_close() {
    let mut h = Harness::opened();
    let w = h.waiter();
    h.core.close(h.now(), w);
    h.sent_frames();
    h.core
        .handle_io_error(Error::io(std::io::ErrorKind::UnexpectedEof.into()));
    assert!(matches!(h.reply(w), Ok(crate::proto::Reply::Done)));
    assert!(h.core.is_closed());
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, Event::Closed(Error::ClientClosed))));
}

#[test]
fn a_decode_error_while_closing_sends_no_second_close() {
    let mut h = Harness::opened();
    let w = h.waiter();
    h.core.close(h.now(), w);
    assert_eq!(h.sent_connection_close(), 200);
    h.receive_bytes(&[9, 0, 0, 0, 0, 0, 0, 0xCE]);
    assert!(
        h.sent_bytes().is_empty(),
        "connection.close was already sent"
    );
    assert!(h.core.is_closed());
    // Our close is over either way: its waiter hears, and does not hang.
    assert!(matches!(
        h.reply(w),
        Ok(crate::proto::Reply::Done) | Err(Error::ClientClosed)
    ));
}
