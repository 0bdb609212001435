//! The core's other timers: the warning before the broker's
//! delivery-acknowledgement timeout, and the bound on waiting for
//! connection.close-ok. Time moves only when a test moves it.

use std::time::Duration;

use amqp_wire::*;

use super::harness::*;
use crate::error::Error;
use crate::proto::{ChannelRef, Event, Reply};

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Open, with consumer_timeout 10 s and warnings at half of it: 5 s.
fn opened_with_ack_warnings() -> Harness {
    Harness::opened_with(
        config()
            .with_consumer_timeout(secs(10))
            .with_ack_warning_fraction(0.5),
        tune(2047, 131_072, 0),
    )
}

/// Starts a consumer tagged `tag` (the broker's choice when `tag` is
/// empty: "amq.ctag-1") and answers it.
fn consume(h: &mut Harness, ch: ChannelRef, tag: &str, no_ack: bool) -> String {
    let w = h.call(
        ch,
        BasicConsume {
            queue: "q".into(),
            consumer_tag: tag.into(),
            no_ack,
            ..Default::default()
        },
    );
    h.sent_frames();
    let tag = if tag.is_empty() { "amq.ctag-1" } else { tag };
    h.receive_method(
        ch.id,
        BasicConsumeOk {
            consumer_tag: tag.into(),
        },
    );
    assert!(matches!(h.reply(w), Ok(Reply::Method(_))));
    tag.to_owned()
}

fn deliver_to(h: &mut Harness, ch: ChannelRef, tag: &str, delivery_tag: u64) {
    h.receive_content(ch.id, deliver(tag, delivery_tag), b"task", 100);
}

/// The (channel, delivery_tag, held_for) of each ack-timeout warning
/// raised; other events are dropped.
fn warnings(h: &mut Harness) -> Vec<(u16, u64, Duration)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::AckTimeoutWarning {
                channel,
                delivery_tag,
                held_for,
                ..
            } => Some((channel, delivery_tag, held_for)),
            _ => None,
        })
        .collect()
}

/// Sends a reply-less method (ack, nack, reject, recover-async) as a handle would.
fn cast(h: &mut Harness, ch: ChannelRef, method: impl Into<Method>) {
    h.core.call(h.now(), ch, method.into(), None);
    h.sent_frames();
}

#[test]
fn a_delivery_held_past_the_fraction_is_reported_once_with_its_age() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    assert_eq!(h.core.poll_timeout(), None, "nothing held, no timer");
    deliver_to(&mut h, ch, &tag, 1);
    let first_arrived = h.now();
    assert_eq!(h.core.poll_timeout(), Some(first_arrived + secs(5)));
    h.advance(secs(2));
    deliver_to(&mut h, ch, &tag, 2);
    h.events();

    h.advance(secs(3) - MS);
    assert_eq!(warnings(&mut h), [], "too early");
    h.advance(MS);
    assert_eq!(warnings(&mut h), [(ch.id, 1, secs(5))]);
    assert_eq!(h.core.poll_timeout(), Some(first_arrived + secs(7)));
    h.advance(secs(2));
    assert_eq!(warnings(&mut h), [(ch.id, 2, secs(5))]);
    assert_eq!(h.core.poll_timeout(), None, "each is reported once");
    h.advance(secs(60));
    assert_eq!(warnings(&mut h), []);
    assert!(h.sent_bytes().is_empty(), "a warning sends nothing");
}

#[test]
fn the_warning_names_the_consumer_the_broker_chose() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "", false);
    deliver_to(&mut h, ch, &tag, 7);
    h.events();
    h.advance(secs(5));
    match h.events().as_slice() {
        [Event::AckTimeoutWarning {
            channel,
            delivery_tag: 7,
            consumer_tag,
            held_for,
        }] => {
            assert_eq!((*channel, *held_for), (ch.id, secs(5)));
            assert_eq!(consumer_tag.as_str(), Some("amq.ctag-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn acks_nacks_and_rejects_forget_deliveries_including_multiple() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    for delivery_tag in 1..=6 {
        deliver_to(&mut h, ch, &tag, delivery_tag);
    }
    h.events();
    cast(
        &mut h,
        ch,
        BasicAck {
            delivery_tag: 2,
            multiple: true,
        },
    );
    cast(
        &mut h,
        ch,
        BasicReject {
            delivery_tag: 4,
            requeue: true,
        },
    );
    cast(
        &mut h,
        ch,
        BasicNack {
            delivery_tag: 6,
            multiple: false,
            requeue: false,
        },
    );
    h.advance(secs(5));
    assert_eq!(
        warnings(&mut h),
        [(ch.id, 3, secs(5)), (ch.id, 5, secs(5))],
        "only the deliveries still unacked"
    );
}

#[test]
fn an_ack_of_tag_0_with_multiple_forgets_every_delivery() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    for delivery_tag in 1..=3 {
        deliver_to(&mut h, ch, &tag, delivery_tag);
    }
    cast(
        &mut h,
        ch,
        BasicNack {
            delivery_tag: 0,
            multiple: true,
            requeue: true,
        },
    );
    assert_eq!(h.core.poll_timeout(), None);
    h.advance(secs(60));
    assert_eq!(warnings(&mut h), []);
}

#[test]
fn an_acked_delivery_is_not_reported_even_after_a_warning_for_an_older_one() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    deliver_to(&mut h, ch, &tag, 1);
    h.advance(secs(1));
    deliver_to(&mut h, ch, &tag, 2);
    h.advance(secs(4));
    assert_eq!(warnings(&mut h), [(ch.id, 1, secs(5))]);
    cast(
        &mut h,
        ch,
        BasicAck {
            delivery_tag: 2,
            multiple: false,
        },
    );
    assert_eq!(h.core.poll_timeout(), None);
    h.advance(secs(60));
    assert_eq!(warnings(&mut h), []);
}

#[test]
fn deliveries_to_a_no_ack_consumer_are_not_timed() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let auto = consume(&mut h, ch, "", true);
    let manual = consume(&mut h, ch, "manual", false);
    deliver_to(&mut h, ch, &auto, 1);
    assert_eq!(h.core.poll_timeout(), None);
    deliver_to(&mut h, ch, &manual, 2);
    h.advance(secs(60));
    assert_eq!(warnings(&mut h), [(ch.id, 2, secs(5))]);
}

#[test]
fn a_message_fetched_with_manual_ack_is_timed_and_one_fetched_with_no_ack_is_not() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    for (no_ack, delivery_tag) in [(true, 1), (false, 2)] {
        let w = h.call(
            ch,
            BasicGet {
                queue: "q".into(),
                no_ack,
                ..Default::default()
            },
        );
        h.sent_frames();
        let get_ok = BasicGetOk {
            delivery_tag,
            redelivered: false,
            exchange: "".into(),
            routing_key: "q".into(),
            message_count: 0,
        };
        h.receive_content(ch.id, get_ok, b"task", 100);
        assert!(matches!(h.reply(w), Ok(Reply::Got(Some(_)))));
    }
    let w = h.call(ch, BasicGet::default());
    h.sent_frames();
    h.receive_method(ch.id, BasicGetEmpty::default());
    assert!(matches!(h.reply(w), Ok(Reply::Got(None))));
    h.advance(secs(60));
    assert_eq!(warnings(&mut h), [(ch.id, 2, secs(5))]);
}

#[test]
fn basic_recover_forgets_the_deliveries_it_redelivers() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    deliver_to(&mut h, ch, &tag, 1);
    h.advance(secs(2));
    let w = h.call(ch, BasicRecover { requeue: true });
    h.sent_frames();
    h.receive_method(ch.id, BasicRecoverOk::default());
    assert!(matches!(h.reply(w), Ok(Reply::Method(_))));
    // The redelivery comes under a new tag and is timed from its arrival.
    let mut redelivery = deliver(&tag, 2);
    redelivery.redelivered = true;
    h.receive_content(ch.id, redelivery, b"task", 100);
    let redelivered_at = h.now();
    assert_eq!(h.core.poll_timeout(), Some(redelivered_at + secs(5)));
    h.advance(secs(5));
    assert_eq!(warnings(&mut h), [(ch.id, 2, secs(5))]);
}

#[test]
fn a_closed_channel_forgets_its_deliveries() {
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let other = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    let other_tag = consume(&mut h, other, "other", false);
    deliver_to(&mut h, ch, &tag, 1);
    deliver_to(&mut h, other, &other_tag, 1);
    h.receive_method(
        ch.id,
        ChannelClose {
            reply_code: 406,
            reply_text: "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out"
                .into(),
            class_id: 0,
            method_id: 0,
        },
    );
    assert_eq!(
        h.sent_methods(),
        [(ch.id, ChannelCloseOk::default().into())]
    );
    let closed: Vec<bool> = h
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::ChannelClosed { channel, error } if *channel == ch.id => {
                Some(error.is_delivery_ack_timeout())
            }
            _ => None,
        })
        .collect();
    assert_eq!(closed, [true], "the 406 is the typed ack-timeout error");
    h.advance(secs(60));
    assert_eq!(warnings(&mut h), [(other.id, 1, secs(5))]);
}

#[test]
fn without_a_consumer_timeout_nothing_is_timed() {
    let mut h = Harness::opened_with(config().without_consumer_timeout(), tune(2047, 131_072, 0));
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    deliver_to(&mut h, ch, &tag, 1);
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn the_default_warns_at_80_percent_of_30_minutes() {
    let mut h = Harness::opened();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "worker", false);
    deliver_to(&mut h, ch, &tag, 1);
    assert_eq!(h.core.poll_timeout(), Some(h.now() + secs(24 * 60)));
}

#[test]
fn out_of_range_fractions_fall_back_to_the_default() {
    for fraction in [0.0, -1.0, 1.5, f32::NAN, f32::INFINITY] {
        let mut config = config().with_consumer_timeout(secs(100));
        // The public field may hold anything, bypassing the setter's check.
        config.ack_warning_fraction = fraction;
        assert_eq!(config.ack_warning_after(), Some(secs(80)), "{fraction}");
        let config = config.with_ack_warning_fraction(fraction);
        assert_eq!(config.ack_warning_after(), Some(secs(80)), "{fraction}");
    }
}

// ===== the close timeout =====

#[test]
fn a_close_ok_that_never_comes_fails_the_close_after_the_close_timeout() {
    let mut h = Harness::opened_with(config().with_close_timeout(secs(3)), tune(2047, 131_072, 0));
    let w = h.waiter();
    h.core.close(h.now(), w);
    assert_eq!(h.sent_connection_close(), 200);
    assert_eq!(h.core.poll_timeout(), Some(h.now() + secs(3)));
    h.advance(secs(3) - MS);
    assert!(h.try_reply(w).is_none(), "still waiting");
    assert!(!h.core.is_closed());
    h.advance(MS);
    assert!(matches!(h.reply(w), Err(Error::CloseTimeout(d)) if d == secs(3)));
    assert!(h.core.is_closed(), "the driver drops the socket now");
    assert!(matches!(closed_error(&h.events()), Error::CloseTimeout(_)));
    assert!(h.sent_bytes().is_empty(), "nothing more is sent");
    assert_eq!(h.core.poll_timeout(), None);
}

#[test]
fn a_close_ok_in_time_cancels_the_close_timeout() {
    let mut h = Harness::opened();
    let w = h.waiter();
    h.core.close(h.now(), w);
    h.sent_frames();
    assert_eq!(
        h.core.poll_timeout(),
        Some(h.now() + crate::config::DEFAULT_CLOSE_TIMEOUT)
    );
    h.advance(secs(1));
    h.receive_method(0, ConnectionCloseOk::default());
    assert!(matches!(h.reply(w), Ok(Reply::Done)));
    assert_eq!(h.core.poll_timeout(), None);
    h.advance(secs(60));
    assert!(matches!(closed_error(&h.events()), Error::ClientClosed));
}

#[test]
fn acks_queued_together_in_delivery_order_leave_as_one_multiple_ack() {
    use crate::proto::Settle;
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "c", false);
    for delivery_tag in 1..=5 {
        deliver_to(&mut h, ch, &tag, delivery_tag);
    }
    let now = h.now();
    let ack = Settle::Ack { multiple: false };
    // 1, 2 and 3 in order fold into one frame. 5 cannot fold (4 is still
    // unacked and "all up to 5" would ack it), nor can 4 into 5's frame
    // (that would need a lower tag).
    for delivery_tag in [1, 2, 3, 5, 4] {
        h.core.settle(now, ch, delivery_tag, ack);
    }
    let acks = |delivery_tag, multiple| {
        (
            ch.id,
            Method::from(BasicAck {
                delivery_tag,
                multiple,
            }),
        )
    };
    assert_eq!(
        h.sent_methods(),
        vec![acks(3, true), acks(5, false), acks(4, false)]
    );
    // Once written, a frame is never changed: the next ack starts a new one.
    deliver_to(&mut h, ch, &tag, 6);
    h.core.settle(now, ch, 6, ack);
    assert_eq!(h.sent_methods(), vec![acks(6, false)]);
}

#[test]
fn a_nack_between_acks_and_a_frame_tap_stop_the_folding() {
    use crate::proto::Settle;
    let mut h = opened_with_ack_warnings();
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "c", false);
    for delivery_tag in 1..=3 {
        deliver_to(&mut h, ch, &tag, delivery_tag);
    }
    let now = h.now();
    h.core.settle(now, ch, 1, Settle::Ack { multiple: false });
    h.core.settle(
        now,
        ch,
        2,
        Settle::Nack {
            multiple: false,
            requeue: true,
        },
    );
    h.core.settle(now, ch, 3, Settle::Ack { multiple: false });
    let methods: Vec<_> = h
        .sent_methods()
        .into_iter()
        .map(|(_, m)| m.name())
        .collect();
    assert_eq!(methods, ["basic.ack", "basic.nack", "basic.ack"]);

    // With a frame tap on, the tap must see each ack as queued: no folding.
    let tap: std::sync::Arc<dyn crate::FrameTap> =
        std::sync::Arc::new(|_: &crate::TapEvent<'_>| {});
    let mut h = Harness::opened_with(
        config().with_consumer_timeout(secs(10)).with_tap(tap),
        tune(2047, 131_072, 0),
    );
    let ch = h.open_channel();
    let tag = consume(&mut h, ch, "c", false);
    for delivery_tag in 1..=2 {
        deliver_to(&mut h, ch, &tag, delivery_tag);
        let now = h.now();
        h.core
            .settle(now, ch, delivery_tag, Settle::Ack { multiple: false });
    }
    assert_eq!(h.sent_methods().len(), 2);
}
