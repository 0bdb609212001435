//! Channels: numbering, closing (ours and the broker's), flow, publisher
//! confirms, and the connection-level notices (blocked, close).

use amqp_wire::*;

use super::harness::*;
use crate::error::Error;
use crate::proto::{Event, Reply};

fn channel_close(code: u16, text: &str) -> ChannelClose {
    ChannelClose {
        reply_code: code,
        reply_text: text.into(),
        class_id: QueueDeclare::CLASS_ID,
        method_id: QueueDeclare::METHOD_ID,
    }
}

#[test]
fn channels_are_numbered_from_1_and_the_lowest_free_number_is_reused() {
    let mut h = Harness::opened();
    let one = h.open_channel();
    let two = h.open_channel();
    let three = h.open_channel();
    assert_eq!((one.id, two.id, three.id), (1, 2, 3));

    let w = h.waiter();
    h.core.close_channel(h.now(), two, w);
    assert_eq!(
        h.sent_methods(),
        vec![(
            2,
            ChannelClose {
                reply_code: 200,
                reply_text: "closed by the client".into(),
                class_id: 0,
                method_id: 0,
            }
            .into()
        )]
    );
    // Not free until close-ok.
    assert_eq!(h.open_channel().id, 4);
    h.receive_method(2, ChannelCloseOk::default());
    assert!(matches!(h.reply(w), Ok(Reply::Done)));
    assert!(matches!(
        h.events().as_slice(),
        [Event::ChannelClosed {
            channel: 2,
            error: Error::ChannelClosedByClient
        }]
    ));
    let again = h.open_channel();
    assert_eq!(again.id, 2);
    assert_ne!(again, two, "a new generation");

    // The old handle can't act on the new channel 2.
    let w = h.call(two, declare("q"));
    assert!(matches!(h.reply(w), Err(Error::ChannelClosedByClient)));
    assert!(h.sent_bytes().is_empty());
    // Nor settle a ticket of the new channel 2's publishes: its own
    // tickets were failed when it closed, so nothing is said.
    h.events();
    h.core.publish(
        h.now(),
        two,
        Box::new(crate::proto::Outgoing {
            method: publish_method().into(),
            properties: BasicProperties::default(),
            body: "stale".into(),
        }),
        Some(0),
    );
    assert!(h.core.poll_event().is_none(), "no Event::Confirmed");
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn channel_max_from_tune_is_respected() {
    let mut h = Harness::opened_with(config(), tune(2, 131_072, 0));
    assert_eq!(h.open_channel().id, 1);
    let two = h.open_channel();
    assert_eq!(two.id, 2);
    let w = h.waiter();
    h.core.open_channel(h.now(), w);
    assert!(matches!(h.reply(w), Err(Error::NoFreeChannel(2))));
    assert!(h.sent_bytes().is_empty(), "no channel.open 3");
    // Once a number is free again it is used.
    h.receive_method(2, channel_close(406, "PRECONDITION_FAILED"));
    h.sent_frames();
    assert_eq!(h.open_channel().id, 2);
}

#[test]
fn a_broker_channel_close_406_fails_that_channel_only() {
    let mut h = Harness::opened();
    let one = h.open_channel();
    let two = h.open_channel();
    let failing = h.call(one, declare("q1"));
    let working = h.call(two, declare("q2"));
    h.sent_frames();

    h.receive_method(
        1,
        channel_close(406, "PRECONDITION_FAILED - inequivalent arg 'durable'"),
    );
    assert_eq!(
        h.sent_methods(),
        vec![(1, ChannelCloseOk::default().into())]
    );
    match h.reply(failing) {
        Err(Error::ChannelClosed(reason)) => {
            assert_eq!(reason.reply_code, ReplyCode::PRECONDITION_FAILED);
            assert_eq!((reason.class_id, reason.method_id), (50, 10));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        h.events().as_slice(),
        [Event::ChannelClosed {
            channel: 1,
            error: Error::ChannelClosed(_)
        }]
    ));

    // Channel 2 goes on.
    h.receive_method(2, declare_ok("q2"));
    assert!(matches!(
        h.reply(working),
        Ok(Reply::Method(Method::QueueDeclareOk(ok))) if ok.queue == "q2"
    ));
    let w = h.publish(two, "still here");
    assert!(
        matches!(h.confirm(w), Ok(true)),
        "not in confirm mode: settled at once"
    );
    assert_eq!(h.sent_frames().len(), 3);

    // Channel 1's handle keeps failing with the broker's reason.
    let w = h.publish(one, "x");
    assert!(matches!(h.confirm(w), Err(Error::ChannelClosed(r)) if r.reply_code.0 == 406));
    assert!(h.sent_bytes().is_empty());
    assert!(!h.core.is_closed());
}

#[test]
fn a_broker_channel_close_while_we_close_it_ends_our_close() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let w = h.waiter();
    h.core.close_channel(h.now(), ch, w);
    h.sent_frames();
    // Deliveries in flight are dropped while closing.
    h.receive_content(1, deliver("c", 1), b"late", 100);
    assert!(h.events().is_empty());
    h.receive_method(1, channel_close(404, "NOT_FOUND"));
    assert_eq!(
        h.sent_methods(),
        vec![(1, ChannelCloseOk::default().into())]
    );
    assert!(matches!(h.reply(w), Ok(Reply::Done)));
    assert!(!h.core.is_closed());
}

#[test]
fn a_reply_nobody_asked_for_closes_the_connection_with_505() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let other = h.call(ch, declare("q"));
    h.sent_frames();
    // queue.purge-ok while queue.declare-ok is awaited.
    h.receive_method(1, QueuePurgeOk { message_count: 3 });
    assert_eq!(h.sent_connection_close(), 505);
    assert_eq!(h.reply(other).err().as_ref().and_then(code), Some(505));
    let events = h.events();
    assert_eq!(code(closed_error(&events)), Some(505));
}

#[test]
fn a_reply_on_a_channel_with_nothing_pending_closes_with_505() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(1, ChannelOpenOk::default());
    assert_eq!(h.sent_connection_close(), 505);
}

#[test]
fn a_frame_for_a_channel_that_is_not_open_closes_with_504() {
    let mut h = Harness::opened();
    h.receive_method(7, declare_ok("q"));
    assert_eq!(h.sent_connection_close(), 504);
    let events = h.events();
    assert_eq!(code(closed_error(&events)), Some(504));
}

#[test]
fn an_unexpected_method_on_channel_0_closes_with_505() {
    let mut h = Harness::opened();
    h.receive_method(0, start());
    assert_eq!(h.sent_connection_close(), 505);
}

#[test]
fn broker_flow_off_holds_publishes_until_flow_on() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    h.receive_method(1, ChannelFlow { active: false });
    assert_eq!(
        h.sent_methods(),
        vec![(1, ChannelFlowOk { active: false }.into())]
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::Flow {
            channel: 1,
            active: false
        }]
    ));
    let first = h.publish(ch, "one");
    let second = h.publish(ch, "two");
    assert!(h.sent_bytes().is_empty(), "held while flow is off");
    assert!(h.try_confirm(first).is_none());

    h.receive_method(1, ChannelFlow { active: true });
    let sent = h.sent_frames();
    assert_eq!(sent[0], Frame::method(1, ChannelFlowOk { active: true }));
    let bodies: Vec<&[u8]> = sent
        .iter()
        .filter_map(|f| match f {
            Frame::Body { payload, .. } => Some(&payload[..]),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, [&b"one"[..], &b"two"[..]], "in order");
    assert_eq!(sent.len(), 1 + 2 * 3);
    assert!(matches!(h.confirm(first), Ok(true)));
    assert!(matches!(h.confirm(second), Ok(true)));
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::Flow {
            channel: 1,
            active: true
        }
    )));
}

#[test]
fn publishes_held_by_flow_fail_when_the_channel_closes() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    h.receive_method(1, ChannelFlow { active: false });
    h.sent_frames();
    let held = h.publish(ch, "one");
    h.receive_method(1, channel_close(406, "PRECONDITION_FAILED"));
    assert!(matches!(h.confirm(held), Err(Error::ChannelClosed(_))));
    assert_eq!(
        h.sent_methods(),
        vec![(1, ChannelCloseOk::default().into())]
    );
}

fn confirming_channel(h: &mut Harness) -> crate::proto::ChannelRef {
    let ch = h.open_channel();
    let w = h.call(ch, ConfirmSelect { nowait: false });
    assert_eq!(
        h.sent_methods(),
        vec![(1, ConfirmSelect { nowait: false }.into())]
    );
    h.receive_method(1, ConfirmSelectOk::default());
    assert!(matches!(
        h.reply(w),
        Ok(Reply::Method(Method::ConfirmSelectOk(_)))
    ));
    ch
}

#[test]
fn an_ack_with_multiple_confirms_every_earlier_publish() {
    let mut h = Harness::opened();
    let ch = confirming_channel(&mut h);
    let waiters: Vec<u32> = (0..4).map(|i| h.publish(ch, format!("m{i}"))).collect();
    h.sent_frames();
    assert_eq!(h.unsettled(1), 4);
    assert!(waiters.iter().all(|w| h.try_confirm(*w).is_none()));

    h.receive_method(
        1,
        BasicAck {
            delivery_tag: 3,
            multiple: true,
        },
    );
    for w in &waiters[..3] {
        assert!(matches!(h.confirm(*w), Ok(true)));
    }
    assert!(h.try_confirm(waiters[3]).is_none());
    assert_eq!(h.unsettled(1), 1);

    h.receive_method(
        1,
        BasicAck {
            delivery_tag: 4,
            multiple: false,
        },
    );
    assert!(matches!(h.confirm(waiters[3]), Ok(true)));
    assert_eq!(h.unsettled(1), 0);
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn a_nack_refuses_exactly_the_publishes_it_names() {
    let mut h = Harness::opened();
    let ch = confirming_channel(&mut h);
    let waiters: Vec<u32> = (0..3).map(|_| h.publish(ch, "m")).collect();
    h.sent_frames();
    h.receive_method(
        1,
        BasicNack {
            delivery_tag: 2,
            multiple: false,
            requeue: false,
        },
    );
    assert!(matches!(h.confirm(waiters[1]), Ok(false)));
    assert!(h.try_confirm(waiters[0]).is_none());
    h.receive_method(
        1,
        BasicNack {
            delivery_tag: 3,
            multiple: true,
            requeue: false,
        },
    );
    assert!(matches!(h.confirm(waiters[0]), Ok(false)));
    assert!(matches!(h.confirm(waiters[2]), Ok(false)));
    assert_eq!(h.unsettled(1), 0);
}

#[test]
fn unconfirmed_publishes_fail_when_the_channel_closes() {
    let mut h = Harness::opened();
    let ch = confirming_channel(&mut h);
    let w = h.publish(ch, "m");
    h.sent_frames();
    h.receive_method(1, channel_close(404, "NOT_FOUND - no exchange"));
    assert!(matches!(h.confirm(w), Err(Error::ChannelClosed(r)) if r.reply_code.0 == 404));
}

#[test]
fn an_ack_on_a_channel_without_confirms_closes_with_505() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(
        1,
        BasicAck {
            delivery_tag: 1,
            multiple: false,
        },
    );
    assert_eq!(h.sent_connection_close(), 505);
}

#[test]
fn a_broker_basic_cancel_is_answered_and_reported() {
    let mut h = Harness::opened();
    h.open_channel();
    h.receive_method(
        1,
        BasicCancel {
            consumer_tag: "ctag-1".into(),
            nowait: false,
        },
    );
    assert_eq!(
        h.sent_methods(),
        vec![(
            1,
            BasicCancelOk {
                consumer_tag: "ctag-1".into()
            }
            .into()
        )]
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::ConsumerCancelled { channel: 1, consumer_tag }] if consumer_tag == "ctag-1"
    ));
    // With nowait, no answer.
    h.receive_method(
        1,
        BasicCancel {
            consumer_tag: "ctag-2".into(),
            nowait: true,
        },
    );
    assert!(h.sent_bytes().is_empty());
    assert_eq!(h.events().len(), 1);
}

#[test]
fn blocked_and_unblocked_are_reported() {
    let mut h = Harness::opened();
    h.receive_method(
        0,
        ConnectionBlocked {
            reason: "low on memory".into(),
        },
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::Blocked(Some(reason))] if reason == "low on memory"
    ));
    h.receive_method(0, ConnectionUnblocked::default());
    assert!(matches!(h.events().as_slice(), [Event::Blocked(None)]));
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn our_close_sends_200_and_ends_at_close_ok() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let pending = h.call(ch, declare("q"));
    h.sent_frames();
    let w = h.waiter();
    h.core.close(h.now(), w);
    match h.sent_methods().as_slice() {
        [(0, Method::ConnectionClose(close))] => assert_eq!(close.reply_code, 200),
        other => panic!("{other:?}"),
    }
    assert!(matches!(h.reply(pending), Err(Error::ClientClosed)));
    // Anything but close-ok is dropped now.
    h.receive_method(1, declare_ok("q"));
    assert!(h.sent_bytes().is_empty());
    assert!(h.try_reply(w).is_none());
    h.receive_method(0, ConnectionCloseOk::default());
    assert!(matches!(h.reply(w), Ok(Reply::Done)));
    assert!(h.core.is_closed());
    let events = h.events();
    assert!(matches!(closed_error(&events), Error::ClientClosed));
    // A second close is done at once.
    let again = h.waiter();
    h.core.close(h.now(), again);
    assert!(matches!(h.reply(again), Ok(Reply::Done)));
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn a_broker_connection_close_fails_everything_with_its_reason() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let pending = h.call(ch, declare("q"));
    h.sent_frames();
    h.receive_method(
        0,
        ConnectionClose {
            reply_code: 320,
            reply_text: "CONNECTION_FORCED - broker forced connection closure".into(),
            class_id: 0,
            method_id: 0,
        },
    );
    assert_eq!(
        h.sent_methods(),
        vec![(0, ConnectionCloseOk::default().into())]
    );
    assert!(matches!(
        h.reply(pending),
        Err(Error::ConnectionClosed(r)) if r.reply_code == ReplyCode::CONNECTION_FORCED
    ));
    let w = h.publish(ch, "x");
    assert!(matches!(h.confirm(w), Err(Error::ConnectionClosed(_))));
    assert!(h.core.is_closed());
}

#[test]
fn the_update_secret_reply_is_matched_on_channel_0() {
    let mut h = Harness::opened();
    let w = h.waiter();
    h.core.call_connection(
        h.now(),
        ConnectionUpdateSecret {
            new_secret: "token".into(),
            reason: "refresh".into(),
        }
        .into(),
        w,
    );
    assert!(matches!(
        h.sent_methods().as_slice(),
        [(0, Method::ConnectionUpdateSecret(_))]
    ));
    h.receive_method(0, ConnectionUpdateSecretOk::default());
    assert!(matches!(
        h.reply(w),
        Ok(Reply::Method(Method::ConnectionUpdateSecretOk(_)))
    ));
}

#[test]
fn a_channel_open_refused_by_the_broker_fails_its_waiter_and_frees_the_number() {
    let mut h = Harness::opened();
    let w = h.waiter();
    h.core.open_channel(h.now(), w);
    h.sent_frames();
    h.receive_method(1, channel_close(403, "ACCESS_REFUSED"));
    assert_eq!(
        h.sent_methods(),
        vec![(1, ChannelCloseOk::default().into())]
    );
    assert!(matches!(h.reply(w), Err(Error::ChannelClosed(r)) if r.reply_code.0 == 403));
    assert_eq!(h.open_channel().id, 1);
}

#[test]
fn a_settle_sends_its_method_and_nothing_on_a_closed_channel() {
    use crate::proto::Settle;
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let now = h.now();
    h.core.settle(now, ch, 5, Settle::Ack { multiple: true });
    h.core.settle(
        now,
        ch,
        6,
        Settle::Nack {
            multiple: false,
            requeue: true,
        },
    );
    h.core.settle(now, ch, 7, Settle::Reject { requeue: false });
    assert_eq!(
        h.sent_methods(),
        vec![
            (
                1,
                BasicAck {
                    delivery_tag: 5,
                    multiple: true
                }
                .into()
            ),
            (
                1,
                BasicNack {
                    delivery_tag: 6,
                    multiple: false,
                    requeue: true
                }
                .into()
            ),
            (
                1,
                BasicReject {
                    delivery_tag: 7,
                    requeue: false
                }
                .into()
            ),
        ]
    );
    h.receive_method(1, channel_close(406, "PRECONDITION_FAILED"));
    h.sent_frames();
    h.core.settle(now, ch, 8, Settle::Ack { multiple: false });
    assert!(h.sent_bytes().is_empty(), "dropped: the handle reports it");
}

/// RabbitMQ sends basic.consume-ok and basic.cancel-ok from the queue's
/// process, so a reply to a later request on the channel may overtake them
/// (seen against the real broker: a queue.declare-ok before the cancel-ok
/// of a basic.cancel sent first). Found by issue 9's dropped-consumer test.
#[test]
fn consume_ok_and_cancel_ok_may_come_after_later_replies() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let cancel = h.call(
        ch,
        BasicCancel {
            consumer_tag: "c".into(),
            nowait: false,
        },
    );
    let consume = h.call(
        ch,
        BasicConsume {
            queue: "q".into(),
            consumer_tag: "d".into(),
            ..Default::default()
        },
    );
    let declared = h.call(ch, declare("q"));
    h.sent_frames();
    h.receive_method(ch.id, declare_ok("q"));
    assert!(matches!(
        h.reply(declared),
        Ok(Reply::Method(Method::QueueDeclareOk(_)))
    ));
    h.receive_method(
        ch.id,
        BasicConsumeOk {
            consumer_tag: "d".into(),
        },
    );
    h.receive_method(
        ch.id,
        BasicCancelOk {
            consumer_tag: "c".into(),
        },
    );
    assert!(matches!(
        h.reply(consume),
        Ok(Reply::Method(Method::BasicConsumeOk(_)))
    ));
    assert!(matches!(
        h.reply(cancel),
        Ok(Reply::Method(Method::BasicCancelOk(_)))
    ));
    // Any other reply still answers the oldest request, or is a violation.
    let w = h.call(ch, declare("q2"));
    h.sent_frames();
    h.receive_method(ch.id, BasicQosOk::default());
    assert_eq!(h.sent_connection_close(), 505);
    assert!(h.reply(w).is_err());
}
