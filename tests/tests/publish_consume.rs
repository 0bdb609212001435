//! Publishing and consuming: the round trip with every property, basic.get, acks and prefetch,
//! redelivery, mandatory returns, and the broker's own basic.cancel.

mod common;

use std::time::Duration;

use amqp_client::{
    BasicGetOptions, BasicProperties, BasicPublishOptions, Error, FieldTable, FieldValue, ReplyCode,
};
use common::*;

/// Every one of the 14 basic properties but user-id (checked against the login) and cluster-id
/// (must be empty), with a header table of several value types.
fn rich_properties() -> BasicProperties {
    let headers = FieldTable::new()
        .with("text", "héllo")
        .with("int", -42i32)
        .with("long", 1i64 << 40)
        .with("bool", true)
        .with("double", 2.5f64)
        .with("nested", FieldTable::new().with("k", "v"))
        .with(
            "array",
            vec![FieldValue::from(1i32), FieldValue::from("two")],
        )
        .with("void", FieldValue::Void);
    BasicProperties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("identity".into()),
        headers: Some(headers),
        delivery_mode: Some(1),
        priority: Some(3),
        correlation_id: Some("corr-1".into()),
        reply_to: Some("reply-queue".into()),
        expiration: Some("600000".into()),
        message_id: Some("msg-1".into()),
        timestamp: Some(1_700_000_000),
        r#type: Some("greeting".into()),
        app_id: Some("amqp-testkit".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn declare_publish_consume_ack_round_trip() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "round-trip").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let props = rich_properties();
    let confirm = step(
        "basic.publish",
        ch.basic_publish("", &q, Default::default(), props.clone(), "hello, world"),
    )
    .await
    .unwrap();
    step("the confirm", confirm.wait()).await.unwrap();
    assert_eq!(counts(&ch, &q).await, (1, 0));

    let tag = amqp_testkit::unique_name("ctag");
    let mut consumer = step(
        "basic.consume",
        ch.basic_consume(&q, &tag, Default::default(), FieldTable::new()),
    )
    .await
    .unwrap();
    assert_eq!(consumer.tag(), tag);
    let d = next_delivery(&mut consumer, "the delivery").await;
    assert_eq!(&d.body[..], b"hello, world");
    assert_eq!(d.properties, props);
    assert_eq!(d.exchange.as_str(), Some(""));
    assert_eq!(d.routing_key.as_str(), Some(q.as_str()));
    assert_eq!(d.consumer_tag.as_str(), Some(tag.as_str()));
    assert!(!d.redelivered);
    assert_eq!(d.delivery_tag, 1);
    assert_eq!(d.channel().id(), ch.id());
    step("basic.ack", d.ack()).await.unwrap();

    // Cancel, then close the channel: an unacked message would now go back to the queue.
    step("basic.cancel", consumer.cancel()).await.unwrap();
    assert!(step("end of consumer", consumer.next()).await.is_none());
    assert!(consumer.next().await.is_none(), "stays ended");
    step("channel.close", ch.close()).await.unwrap();
    let ch = channel(&conn).await;
    assert_eq!(counts(&ch, &q).await, (0, 0), "the ack took");
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn basic_get_reject_and_nack() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "get").await;
    let _cleanup = Cleanup::queues(&[&q]);
    assert!(
        step("basic.get on empty", ch.basic_get(&q, Default::default()))
            .await
            .unwrap()
            .is_none()
    );
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    for body in ["a", "b", "c"] {
        let props = BasicProperties::default().persistent();
        step(
            "publish",
            ch.basic_publish("", &q, Default::default(), props, body),
        )
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    }
    let a = step("basic.get", ch.basic_get(&q, Default::default()))
        .await
        .unwrap()
        .expect("a");
    assert_eq!(&a.delivery.body[..], b"a");
    assert_eq!(a.message_count, 2);
    assert!(a.delivery.properties.is_persistent());
    assert!(a.delivery.consumer_tag.is_empty());
    // Rejected with requeue: it goes back to the head of the queue, marked redelivered.
    step("basic.reject", a.delivery.reject(true)).await.unwrap();
    let again = step("basic.get", ch.basic_get(&q, Default::default()))
        .await
        .unwrap()
        .expect("a again");
    assert_eq!(&again.delivery.body[..], b"a");
    assert!(again.delivery.redelivered);
    // Nacked without requeue: dropped.
    step("basic.nack", again.delivery.nack(false))
        .await
        .unwrap();
    let b = step(
        "basic.get",
        ch.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("b");
    assert_eq!(&b.delivery.body[..], b"b");
    assert!(!b.delivery.redelivered);
    assert_eq!(b.message_count, 1);
    assert_eq!(counts(&ch, &q).await, (1, 0));
    assert_eq!(delete(&ch, &q).await, 1);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn prefetch_1_delivers_the_next_message_only_after_the_ack() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "prefetch").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    for body in ["first", "second"] {
        publish_plain(&ch, "", &q, body).await;
    }
    let cch = channel(&conn).await;
    step("basic.qos", cch.basic_qos(1, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&cch, &q, FieldTable::new()).await;
    let first = next_delivery(&mut consumer, "the first delivery").await;
    assert_eq!(&first.body[..], b"first");
    // An assertion of absence: with one unacked message, the second must not come.
    let early = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
    assert!(
        early.is_err(),
        "the second message came before the first was acked: {early:?}"
    );
    assert_eq!(counts(&ch, &q).await, (1, 1));
    step("basic.ack", first.ack()).await.unwrap();
    let second = next_delivery(&mut consumer, "the second delivery").await;
    assert_eq!(&second.body[..], b"second");
    assert_eq!(second.delivery_tag, 2);
    step("basic.ack", second.ack()).await.unwrap();
    step("basic.cancel", consumer.cancel()).await.unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn unacked_messages_of_a_closed_channel_are_redelivered() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "redeliver").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    for body in ["one", "two", "three"] {
        publish_plain(&ch, "", &q, body).await;
    }

    let first = channel(&conn).await;
    let mut c1 = consume(&first, &q, FieldTable::new()).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let d = next_delivery(&mut c1, "a delivery").await;
        assert!(!d.redelivered);
        got.push(d);
    }
    // Ack one; leave two unacked, then close the channel.
    step("basic.ack", got[1].ack()).await.unwrap();
    step("channel.close", first.close()).await.unwrap();
    // The consumer of a channel we closed ends with that reason.
    let end = step("the consumer's end", c1.next()).await;
    assert!(
        matches!(end, Some(Err(Error::ChannelClosedByClient)) | None),
        "{end:?}"
    );
    // Acking on the closed channel is refused, not sent.
    let late = step("late ack", got[0].ack()).await;
    assert!(
        matches!(late, Err(Error::ChannelClosedByClient)),
        "{late:?}"
    );

    let second = channel(&conn).await;
    let mut c2 = consume(&second, &q, FieldTable::new()).await;
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let d = next_delivery(&mut c2, "a redelivery").await;
        assert!(d.redelivered, "{d:?}");
        bodies.push(String::from_utf8(d.body.to_vec()).unwrap());
        step("basic.ack", d.ack()).await.unwrap();
    }
    assert_eq!(bodies, ["one", "three"]);
    step("basic.cancel", c2.cancel()).await.unwrap();
    assert_eq!(counts(&ch, &q).await, (0, 0));
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn a_mandatory_unroutable_publish_comes_back_with_312_no_route() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let nowhere = amqp_testkit::unique_name("no-such-queue");
    // Not mandatory: silently dropped (and still confirmed).
    publish_plain(&ch, "", &nowhere, "lost").await;
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let props = BasicProperties {
        message_id: Some("returned-1".into()),
        ..Default::default()
    };
    let confirm = step(
        "publish",
        ch.basic_publish("", &nowhere, mandatory, props.clone(), "come back"),
    )
    .await
    .unwrap();
    // The broker sends basic.return before the confirm of the same message,
    // and the confirm says so (issue 9, item 11).
    match step("the confirm", confirm.wait()).await {
        Err(Error::Returned(r)) => {
            assert_eq!(&r.body[..], b"come back");
            assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
        }
        other => panic!("expected Returned, got {other:?}"),
    }
    let returned = step("basic.return", ch.next_return())
        .await
        .expect("a returned message");
    // The first publish was not mandatory: this is the second.
    assert_eq!(&returned.body[..], b"come back");
    assert_eq!(returned.reply_code, ReplyCode::NO_ROUTE);
    assert_eq!(returned.reply_text, "NO_ROUTE");
    assert_eq!(returned.exchange.as_str(), Some(""));
    assert_eq!(returned.routing_key.as_str(), Some(nowhere.as_str()));
    assert_eq!(returned.properties, props);

    // A routable mandatory publish is not returned; the channel goes on.
    let q = fresh_queue(&ch, "routable").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step(
        "publish",
        ch.basic_publish("", &q, mandatory, Default::default(), "stays"),
    )
    .await
    .unwrap()
    .wait()
    .await
    .unwrap();
    assert_eq!(counts(&ch, &q).await, (1, 0));
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn the_brokers_basic_cancel_ends_the_consumer_with_consumer_cancelled() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "cancelled").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    // A second consumer on another queue of the same channel is not affected.
    let other = fresh_queue(&ch, "not-cancelled").await;
    let mut survivor = consume_no_ack(&ch, &other).await;

    // Delete the queue from another connection, while next() is pending.
    let pending = tokio::spawn(async move {
        let item = consumer.next().await;
        (item, consumer)
    });
    let deleter = connect().await;
    let dch = channel(&deleter).await;
    delete(&dch, &q).await;
    let (item, mut consumer) = step("the consumer's end", pending).await.unwrap();
    assert!(
        matches!(item, Some(Err(Error::ConsumerCancelled { ref consumer_tag })) if consumer_tag == consumer.tag()),
        "{item:?}"
    );
    assert!(consumer.next().await.is_none(), "ended for good");

    // The channel and its other consumer go on.
    assert!(ch.error().is_none());
    // Not in confirm mode: nothing to wait for.
    let _unconfirmed = step(
        "publish",
        ch.basic_publish(
            "",
            &other,
            Default::default(),
            Default::default(),
            "still here",
        ),
    )
    .await
    .unwrap();
    let d = next_delivery(&mut survivor, "the survivor's delivery").await;
    assert_eq!(&d.body[..], b"still here");
    delete(&ch, &other).await;
    step("connection.close", deleter.close()).await.unwrap();
    step("connection.close", conn.close()).await.unwrap();
}
