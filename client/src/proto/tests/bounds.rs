//! What bounds the client against a broker that stops answering, sends
//! too much, or sends it faster than the application takes it (issue 9):
//! the RPC timeout, the inbound message size limit, reading paused for a
//! full consumer; and a basic.return settling its publish's confirm.

use std::time::Duration;

use amqp_wire::*;

use super::harness::*;
use crate::config::Heartbeat;
use crate::error::Error;
use crate::proto::{Event, Reply};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const MS: Duration = Duration::from_millis(1);

fn channel_closes(events: &[Event<u32>]) -> Vec<(u16, Error)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChannelClosed { channel, error } => Some((*channel, error.clone())),
            _ => None,
        })
        .collect()
}

// ===== RPC timeout =====

#[test]
fn a_call_without_a_reply_fails_after_the_rpc_timeout_and_closes_only_its_channel() {
    let mut h = Harness::opened_with(
        config().with_rpc_timeout(Some(secs(30))),
        tune(2047, 131_072, 0),
    );
    let silent = h.open_channel();
    let other = h.open_channel();
    let w = h.call(silent, declare("q"));
    h.sent_frames();
    assert_eq!(h.core.poll_timeout(), Some(h.now() + secs(30)));
    h.advance(secs(30) - MS);
    assert!(h.try_reply(w).is_none(), "not before the timeout");
    h.advance(MS);
    let error = h.reply(w).expect_err("timed out");
    assert!(
        matches!(error, Error::RpcTimeout { method: "queue.declare", after } if after == secs(30)),
        "{error:?}"
    );
    // Its reply could no longer be matched: the channel is closed.
    match h.sent_methods().as_slice() {
        [(id, Method::ChannelClose(close))] => {
            assert_eq!(*id, silent.id);
            assert_eq!(close.reply_code, 200);
        }
        other => panic!("expected channel.close, sent {other:?}"),
    }
    let closes = channel_closes(&h.events());
    assert!(
        matches!(closes.as_slice(), [(id, Error::RpcTimeout { .. })] if *id == silent.id),
        "{closes:?}"
    );
    // A later call on it gets the same error; the late reply is dropped, not
    // taken for anything; close-ok frees the number.
    let later = h.call(silent, declare("q2"));
    assert!(matches!(h.reply(later), Err(Error::RpcTimeout { .. })));
    h.receive_method(silent.id, declare_ok("q"));
    assert!(!h.core.is_closed(), "a late reply is no violation");
    h.receive_method(silent.id, ChannelCloseOk::default());
    // The other channel and the connection go on.
    let w = h.call(other, declare("q3"));
    h.receive_method(other.id, declare_ok("q3"));
    assert!(matches!(
        h.reply(w),
        Ok(Reply::Method(Method::QueueDeclareOk(_)))
    ));
    h.sent_frames();
    assert_eq!(h.open_channel().id, silent.id, "the number is free again");
}

#[test]
fn a_channel_open_and_a_channel_close_are_bounded_too() {
    let mut h = Harness::opened_with(
        config().with_rpc_timeout(Some(secs(5))),
        tune(2047, 131_072, 0),
    );
    let opening = h.waiter();
    h.core.open_channel(h.now(), opening);
    h.sent_frames();
    h.advance(secs(5));
    assert!(matches!(
        h.reply(opening),
        Err(Error::RpcTimeout {
            method: "channel.open",
            ..
        })
    ));
    // Closed in turn: its number stays taken until close-ok.
    assert!(matches!(
        h.sent_methods().as_slice(),
        [(1, Method::ChannelClose(_))]
    ));
    let ch = h.open_channel();
    assert_eq!(ch.id, 2);
    let closing = h.waiter();
    h.core.close_channel(h.now(), ch, closing);
    h.sent_frames();
    h.advance(secs(5));
    assert!(matches!(
        h.reply(closing),
        Err(Error::RpcTimeout {
            method: "channel.close",
            ..
        })
    ));
    assert!(h.core.poll_timeout().is_none(), "nothing more to time");
}

#[test]
fn without_an_rpc_timeout_a_call_waits_as_long_as_it_takes() {
    let mut h = Harness::opened_with(config().with_rpc_timeout(None), tune(2047, 131_072, 0));
    let ch = h.open_channel();
    let w = h.call(ch, declare("q"));
    assert!(h.core.poll_timeout().is_none());
    h.advance(secs(3600));
    assert!(h.try_reply(w).is_none());
}

#[test]
fn a_connection_level_call_without_a_reply_closes_the_connection() {
    let mut h = Harness::opened_with(
        config().with_rpc_timeout(Some(secs(5))),
        tune(2047, 131_072, 0),
    );
    let ch = h.open_channel();
    let w = h.waiter();
    let update = ConnectionUpdateSecret {
        new_secret: "token".into(),
        reason: "refresh".into(),
    };
    h.core.call_connection(h.now(), update.into(), w);
    h.sent_frames();
    h.advance(secs(5));
    assert!(matches!(
        h.reply(w),
        Err(Error::RpcTimeout {
            method: "connection.update-secret",
            ..
        })
    ));
    assert_eq!(h.sent_connection_close(), 200);
    let later = h.call(ch, declare("q"));
    assert!(matches!(h.reply(later), Err(Error::RpcTimeout { .. })));
}

// ===== inbound message size =====

#[test]
fn a_message_over_the_inbound_limit_is_refused_from_its_header_with_311() {
    let mut h = Harness::opened_with(config().with_max_message_size(1000), tune(2047, 131_072, 0));
    let ch = h.open_channel();
    let other = h.open_channel();
    h.receive_method(ch.id, deliver("ctag", 1));
    // A forged 200 MB body_size: refused before anything is sized from it.
    h.receive(header(ch.id, 200_000_000));
    let closes = channel_closes(&h.events());
    assert!(
        matches!(closes.as_slice(), [(id, Error::MessageTooLarge { body_size: 200_000_000, limit: 1000 })] if *id == ch.id),
        "{closes:?}"
    );
    match h.sent_methods().as_slice() {
        [(id, Method::ChannelClose(close))] => {
            assert_eq!(*id, ch.id);
            assert_eq!(close.reply_code, 311, "CONTENT_TOO_LARGE");
            assert_eq!(
                (close.class_id, close.method_id),
                (60, 60),
                "caused by basic.deliver"
            );
        }
        other => panic!("expected channel.close 311, sent {other:?}"),
    }
    // The body frames that follow are dropped with the closing channel.
    h.receive(body_frame(ch.id, &[0; 100]));
    h.receive(body_frame(ch.id, &[0; 100]));
    assert!(h.events().is_empty());
    assert!(!h.core.is_closed());
    // A message at the limit passes, on another channel.
    h.receive_content(other.id, deliver("ctag2", 1), &[7; 1000], 300);
    let delivered: Vec<usize> = h
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Delivery { content, .. } => Some(content.body.len()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [1000]);
}

#[test]
fn a_basic_get_over_the_inbound_limit_fails_its_caller() {
    let mut h = Harness::opened_with(config().with_max_message_size(10), tune(2047, 131_072, 0));
    let ch = h.open_channel();
    let w = h.call(ch, BasicGet::default());
    h.sent_frames();
    h.receive_method(
        ch.id,
        BasicGetOk {
            delivery_tag: 1,
            ..Default::default()
        },
    );
    h.receive(header(ch.id, 11));
    assert!(matches!(
        h.reply(w),
        Err(Error::MessageTooLarge {
            body_size: 11,
            limit: 10
        })
    ));
}

// ===== reading paused =====

#[test]
fn while_reading_is_paused_the_brokers_silence_is_not_death_and_heartbeats_go_on() {
    let mut h = Harness::opened_with(
        config().with_heartbeat(Heartbeat::Secs(10)),
        tune(2047, 131_072, 10),
    );
    h.core.pause_reading(h.now(), true);
    h.advance(secs(60));
    assert!(
        !h.core.is_closed(),
        "a consumer catching up is not a dead broker"
    );
    let heartbeats = h
        .sent_frames()
        .into_iter()
        .filter(|f| *f == Frame::Heartbeat)
        .count();
    assert!(heartbeats >= 10, "heartbeats still go out: {heartbeats}");
    // Reading again: the broker has two intervals from now.
    h.core.pause_reading(h.now(), false);
    h.advance(secs(20) - MS);
    assert!(!h.core.is_closed());
    h.advance(MS);
    assert!(matches!(
        closed_error(&h.events()),
        Error::HeartbeatTimeout(_)
    ));
}

// ===== basic.return in confirm mode =====

fn mandatory(routing_key: &str) -> BasicPublish {
    BasicPublish {
        routing_key: routing_key.into(),
        mandatory: true,
        ..Default::default()
    }
}

fn returned(routing_key: &str) -> BasicReturn {
    BasicReturn {
        reply_code: 312,
        reply_text: "NO_ROUTE".into(),
        exchange: "".into(),
        routing_key: routing_key.into(),
    }
}

#[test]
fn a_return_settles_its_own_publish_as_returned_and_the_ack_after_it_the_rest() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let w = h.call(ch, ConfirmSelect { nowait: false });
    h.receive_method(ch.id, ConfirmSelectOk::default());
    h.reply(w).expect("select-ok");
    let routed = h.publish_with(ch, mandatory("q"), "a");
    let lost = h.publish_with(ch, mandatory("nowhere"), "b");
    let plain = h.publish(ch, "c");
    let lost_too = h.publish_with(ch, mandatory("nowhere"), "d");
    h.sent_frames();
    // RabbitMQ returns an unroutable message before it confirms it.
    h.receive_content(ch.id, returned("nowhere"), b"b", 100);
    match h.confirm(lost) {
        Err(Error::Returned(r)) => {
            assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
            assert_eq!(&r.body[..], b"b");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        h.try_confirm(routed).is_none(),
        "the earlier publish is unsettled"
    );
    h.receive_content(ch.id, returned("nowhere"), b"d", 100);
    assert!(matches!(h.confirm(lost_too), Err(Error::Returned(ref r)) if &r.body[..] == b"d"));
    h.receive_method(
        ch.id,
        BasicAck {
            delivery_tag: 4,
            multiple: true,
        },
    );
    assert!(matches!(h.confirm(routed), Ok(true)));
    assert!(matches!(h.confirm(plain), Ok(true)));
    // The returns also reach the channel's return queue.
    let returns = h
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Returned { .. }))
        .count();
    assert_eq!(returns, 2);
}
