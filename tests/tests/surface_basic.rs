//! The basic class beyond publish/consume/ack: basic.get (get-ok's message count, get-empty),
//! basic.recover and basic.recover-async, basic.reject, basic.nack with `multiple`, basic.cancel
//! with `nowait`, consumer priorities (`x-priority`), exclusive consumers, `global` qos and
//! qos's `prefetch_size`, against the shared broker.

mod common;

use amqp_client::{
    BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRecoverOptions, Channel, Consumer, Delivery, Error, FieldTable, ReplyCode,
};
use common::*;

fn body(delivery: &Delivery) -> String {
    String::from_utf8_lossy(&delivery.body).into_owned()
}

async fn consume(ch: &Channel, queue: &str, tag: &str, arguments: FieldTable) -> Consumer {
    step(
        "basic.consume",
        ch.basic_consume(queue, tag, BasicConsumeOptions::default(), arguments),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.consume on {queue}: {e}"))
}

#[tokio::test]
async fn basic_get_counts_down_the_queue_and_then_answers_get_empty() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-get").await);
    for body in ["m0", "m1", "m2"] {
        publish_plain(&ch, "", &q, body).await;
    }
    for (i, left) in [2, 1, 0].into_iter().enumerate() {
        let ok = get(&ch, &q, true).await.expect("get-ok");
        assert_eq!(ok.message_count, left, "get-ok's message-count");
        assert_eq!(&ok.delivery.body[..], format!("m{i}").as_bytes());
        assert_eq!(ok.delivery.routing_key.as_str(), Some(q.as_str()));
        assert_eq!(ok.delivery.exchange.as_str(), Some(""));
        assert!(!ok.delivery.redelivered);
    }
    assert!(get(&ch, &q, true).await.is_none(), "get-empty");
    assert!(get(&ch, &q, false).await.is_none(), "get-empty again");
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn basic_recover_and_recover_async_requeue_the_unacked_messages() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-recover").await);
    publish_plain(&ch, "", &q, "a").await;
    publish_plain(&ch, "", &q, "b").await;

    let a = get(&ch, &q, false).await.expect("a");
    let b = get(&ch, &q, false).await.expect("b");
    assert!(!a.delivery.redelivered && !b.delivery.redelivered);
    assert_eq!(counts(&ch, &q).await, (0, 0), "both unacked");
    step(
        "basic.recover",
        ch.basic_recover(BasicRecoverOptions { requeue: true }),
    )
    .await
    .unwrap();
    // The channel hands the requeue to the queue before it handles the next method.
    let a = get(&ch, &q, false).await.expect("a again");
    assert_eq!(body(&a.delivery), "a");
    assert!(a.delivery.redelivered);
    step("basic.ack", a.delivery.ack()).await.unwrap();

    // recover-async has no reply: it returns at once, and still comes before the get.
    step(
        "basic.recover-async",
        ch.basic_recover_async(BasicRecoverOptions { requeue: true }),
    )
    .await
    .unwrap();
    let b = get(&ch, &q, false).await.expect("b again");
    assert_eq!(body(&b.delivery), "b");
    assert!(b.delivery.redelivered);
    step("basic.ack", b.delivery.ack()).await.unwrap();
    assert!(get(&ch, &q, false).await.is_none());
    assert_eq!(counts(&ch, &q).await, (0, 0));
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn basic_nack_multiple_settles_every_delivery_up_to_the_tag_and_reject_just_one() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-nack").await);
    for body in ["m0", "m1", "m2", "m3"] {
        publish_plain(&ch, "", &q, body).await;
    }
    let cch = channel(&conn).await;
    step("basic.qos", cch.basic_qos(3, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&cch, &q, "", FieldTable::new()).await;
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(next_delivery(&mut consumer, "a delivery").await);
    }
    assert_eq!(
        first.iter().map(body).collect::<Vec<_>>(),
        ["m0", "m1", "m2"]
    );

    // nack m1 and everything before it, requeued: m0 and m1 go back to the queue.
    step(
        "basic.nack multiple",
        cch.basic_nack(
            first[1].delivery_tag,
            BasicNackOptions {
                multiple: true,
                requeue: true,
            },
        ),
    )
    .await
    .unwrap();
    let mut again = Vec::new();
    for _ in 0..2 {
        again.push(next_delivery(&mut consumer, "a delivery").await);
    }
    let mut bodies: Vec<_> = again.iter().map(|d| (body(d), d.redelivered)).collect();
    bodies.sort();
    // The two freed slots go to the requeued m0, m1 (at the head of the queue), not to m3.
    assert_eq!(
        bodies,
        [("m0".to_owned(), true), ("m1".to_owned(), true)],
        "requeued to the head"
    );

    // reject settles only its own tag: m2 dropped, m0 and m1 still unacked.
    step("basic.reject", first[2].reject(false)).await.unwrap();
    let m3 = next_delivery(&mut consumer, "a delivery").await;
    assert_eq!(body(&m3), "m3");
    // nack everything up to m3 without requeue: m0, m1 (and m3) are dropped.
    step(
        "basic.nack multiple, no requeue",
        cch.basic_nack(
            m3.delivery_tag,
            BasicNackOptions {
                multiple: true,
                requeue: false,
            },
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        counts(&ch, &q).await,
        (0, 1),
        "nothing ready, nothing requeued"
    );
    // Closing the channel would requeue anything still unacked: nothing is.
    step("channel.close", cch.close()).await.unwrap();
    drop(consumer);
    assert_eq!(counts(&ch, &q).await, (0, 0), "nothing was left unacked");
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn basic_cancel_nowait_ends_the_consumer_at_once() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-cancel-nowait").await);
    let cch = channel(&conn).await;
    let tag = amqp_testkit::unique_name("ctag");
    let mut consumer = consume(&cch, &q, &tag, FieldTable::new()).await;
    assert_eq!(consumer.tag(), tag);
    publish_plain(&ch, "", &q, "before").await;
    let before = next_delivery(&mut consumer, "a delivery").await;
    step("basic.ack", before.ack()).await.unwrap();

    let nowait = BasicCancelOptions { nowait: true };
    step("basic.cancel nowait", cch.basic_cancel(&tag, nowait))
        .await
        .unwrap();
    assert!(
        step("the consumer's end", consumer.next()).await.is_none(),
        "a cancelled consumer ends with None"
    );
    // Methods on a channel are handled in order: the cancel is done before this declare.
    assert_eq!(counts(&cch, &q).await, (0, 0), "no consumer left");
    publish_plain(&ch, "", &q, "after").await;
    assert_eq!(counts(&ch, &q).await, (1, 0), "nobody took it");
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn a_higher_priority_consumer_gets_the_messages_while_it_has_capacity() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-priority").await);
    let high_ch = channel(&conn).await;
    let low_ch = channel(&conn).await;
    step("basic.qos", high_ch.basic_qos(3, Default::default()))
        .await
        .unwrap();
    // The low one starts first and has no limit: without priorities it would get its share.
    let mut low = consume(&low_ch, &q, "", FieldTable::new()).await;
    let mut high = consume(
        &high_ch,
        &q,
        "",
        FieldTable::new().with("x-priority", 10i32),
    )
    .await;

    for i in 0..3 {
        publish_plain(&ch, "", &q, &format!("m{i}")).await;
    }
    let mut to_high = Vec::new();
    for _ in 0..3 {
        to_high.push(next_delivery(&mut high, "a delivery").await);
    }
    assert_eq!(
        to_high.iter().map(body).collect::<Vec<_>>(),
        ["m0", "m1", "m2"]
    );
    // The high one is full (prefetch 3): the next message goes to the low one...
    publish_plain(&ch, "", &q, "m3").await;
    let overflow = next_delivery(&mut low, "a delivery").await;
    assert_eq!(body(&overflow), "m3", "the low consumer's first message");
    // ...and once the high one acks, it is first in line again.
    step("basic.ack", to_high[2].ack()).await.unwrap();
    // basic.ack has no reply, and the queue sees it and another channel's publish in either
    // order. A basic.get on the acking channel goes to the queue after the ack, so once it
    // answers (empty: nothing is ready) the high consumer has room again.
    assert!(get(&high_ch, &q, false).await.is_none(), "nothing is ready");
    publish_plain(&ch, "", &q, "m4").await;
    assert_eq!(body(&next_delivery(&mut high, "a delivery").await), "m4");

    step("channel.close", high_ch.close()).await.unwrap();
    step("channel.close", low_ch.close()).await.unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn an_exclusive_consumer_refuses_others_with_403_as_a_channel_error() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-exclusive-consumer").await);
    let exclusive = BasicConsumeOptions {
        exclusive: true,
        ..Default::default()
    };
    let first_ch = channel(&conn).await;
    let first = step(
        "exclusive basic.consume",
        first_ch.basic_consume(&q, "", exclusive, FieldTable::new()),
    )
    .await
    .unwrap();

    let second_ch = channel(&conn).await;
    let result = step(
        "a second basic.consume",
        second_ch.basic_consume(&q, "", BasicConsumeOptions::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::ACCESS_REFUSED);
    assert!(text.contains("exclusive"), "{text}");
    match second_ch.error() {
        Some(Error::ChannelClosed(reason)) => {
            // basic.consume is 60/20.
            assert_eq!((reason.class_id, reason.method_id), (60, 20), "{reason}");
        }
        other => panic!("the channel should know why it closed: {other:?}"),
    }
    assert!(conn.is_open());
    assert_eq!(
        counts(&ch, &q).await,
        (0, 1),
        "the exclusive one is still there"
    );

    // The other way round: with any consumer there, an exclusive one is refused.
    step("basic.cancel", first.cancel()).await.unwrap();
    let _shared = consume(&first_ch, &q, "", FieldTable::new()).await;
    let third_ch = channel(&conn).await;
    let result = step(
        "exclusive basic.consume next to a consumer",
        third_ch.basic_consume(&q, "", exclusive, FieldTable::new()),
    )
    .await;
    expect_channel_closed(result, ReplyCode::ACCESS_REFUSED);
    assert!(conn.is_open());
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn global_qos_bounds_all_consumers_of_the_channel_together() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q1 = cleanup.queue(fresh_queue(&ch, "q-global-1").await);
    let q2 = cleanup.queue(fresh_queue(&ch, "q-global-2").await);
    for i in 0..3 {
        publish_plain(&ch, "", &q1, &format!("one-{i}")).await;
        publish_plain(&ch, "", &q2, &format!("two-{i}")).await;
    }
    let cch = channel(&conn).await;
    // Per consumer this would let 3 + 3 through; shared by the channel, only 2.
    step(
        "basic.qos global",
        cch.basic_qos(
            2,
            BasicQosOptions {
                global: true,
                ..Default::default()
            },
        ),
    )
    .await
    .unwrap();
    let mut c1 = consume(&cch, &q1, "", FieldTable::new()).await;
    let mut c2 = consume(&cch, &q2, "", FieldTable::new()).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        tokio::select! {
            d = next_delivery(&mut c1, "a delivery") => got.push(d),
            d = next_delivery(&mut c2, "a delivery") => got.push(d),
        }
    }
    let (ready1, _) = counts(&ch, &q1).await;
    let (ready2, _) = counts(&ch, &q2).await;
    assert_eq!(
        ready1 + ready2,
        4,
        "only 2 of the 6 may be unacked on the channel"
    );

    // Acking one frees exactly one slot.
    step("basic.ack", got[0].ack()).await.unwrap();
    tokio::select! {
        d = next_delivery(&mut c1, "a delivery") => got.push(d),
        d = next_delivery(&mut c2, "a delivery") => got.push(d),
    }
    let (ready1, _) = counts(&ch, &q1).await;
    let (ready2, _) = counts(&ch, &q2).await;
    assert_eq!(ready1 + ready2, 3);

    step("channel.close", cch.close()).await.unwrap();
    delete(&ch, &q1).await;
    delete(&ch, &q2).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn qos_prefetch_size_is_refused_by_rabbitmq_with_540_not_implemented() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    // prefetch_size 0 is "no byte limit", which RabbitMQ accepts.
    step(
        "basic.qos size 0",
        ch.basic_qos(
            5,
            BasicQosOptions {
                prefetch_size: 0,
                global: false,
            },
        ),
    )
    .await
    .unwrap();
    let result = step(
        "basic.qos size 4096",
        ch.basic_qos(
            5,
            BasicQosOptions {
                prefetch_size: 4096,
                global: false,
            },
        ),
    )
    .await;
    let text = expect_connection_closed(result, ReplyCode::NOT_IMPLEMENTED);
    assert!(text.contains("prefetch_size"), "{text}");
    assert!(
        !conn.is_open(),
        "540 is a hard error: the connection is gone"
    );
    match conn.error() {
        Some(Error::ConnectionClosed(reason)) => {
            assert_eq!(reason.reply_code, ReplyCode::NOT_IMPLEMENTED);
            // basic.qos is 60/10.
            assert_eq!((reason.class_id, reason.method_id), (60, 10), "{reason}");
        }
        other => panic!("the connection should know why it closed: {other:?}"),
    }
    // A new connection works.
    let conn = connect().await;
    let ch = channel(&conn).await;
    step("basic.qos", ch.basic_qos(1, Default::default()))
        .await
        .unwrap();
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn recover_without_requeue_is_refused_by_rabbitmq_with_540_not_implemented() {
    // basic.recover (60/110) answers at once; recover-async (60/100) has no reply, so the
    // refusal shows on the next call.
    for asynchronous in [false, true] {
        let conn = connect().await;
        let ch = channel(&conn).await;
        let result = if asynchronous {
            step(
                "basic.recover-async",
                ch.basic_recover_async(BasicRecoverOptions { requeue: false }),
            )
            .await
            .expect("no reply awaited");
            step("basic.qos after it", ch.basic_qos(1, Default::default())).await
        } else {
            step(
                "basic.recover",
                ch.basic_recover(BasicRecoverOptions { requeue: false }),
            )
            .await
        };
        let text = expect_connection_closed(result, ReplyCode::NOT_IMPLEMENTED);
        assert!(text.contains("requeue=false"), "{text}");
        let method_id = if asynchronous { 100 } else { 110 };
        match conn.error() {
            Some(Error::ConnectionClosed(reason)) => {
                assert_eq!(
                    (reason.class_id, reason.method_id),
                    (60, method_id),
                    "{reason}"
                );
            }
            other => panic!("the connection should know why it closed: {other:?}"),
        }
    }
}
