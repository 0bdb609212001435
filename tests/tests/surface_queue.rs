//! queue.bind / queue.unbind with arguments (a headers exchange with `x-match` all and any, and
//! `nowait`), queue.purge (with and without `nowait`) and queue.delete (`if_unused`, `if_empty`)
//! with the counts they return, against the shared broker.

mod common;

use amqp_client::{
    Error, FieldTable, QueueBindOptions, QueueDeleteOptions, QueuePurgeOptions, ReplyCode,
};
use common::*;

/// The binding arguments of a headers exchange: match `a = 1` and `b = 2`, all or any of them.
fn x_match(mode: &str) -> FieldTable {
    FieldTable::new()
        .with("x-match", mode)
        .with("a", 1i32)
        .with("b", 2i32)
}

#[tokio::test]
async fn headers_bindings_match_all_or_any_and_unbind_needs_the_same_arguments() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let x = cleanup.exchange(amqp_testkit::unique_name("x-headers"));
    let all_q = cleanup.queue(fresh_queue(&ch, "q-all").await);
    let any_q = cleanup.queue(fresh_queue(&ch, "q-any").await);
    declare_plain_exchange(&ch, &x, "headers").await;
    step(
        "queue.bind all",
        ch.queue_bind(&all_q, &x, "", Default::default(), x_match("all")),
    )
    .await
    .unwrap();
    step(
        "queue.bind any",
        ch.queue_bind(&any_q, &x, "", Default::default(), x_match("any")),
    )
    .await
    .unwrap();

    // Mandatory: a message no binding matches comes back, and its confirm says so.
    let publish_with = |headers: FieldTable, body: &'static str| {
        let ch = ch.clone();
        let x = x.clone();
        async move {
            let mandatory = amqp_client::BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            };
            publish(&ch, &x, "", mandatory, with_headers(headers), body).await
        }
    };
    let send = |headers: FieldTable, body: &'static str| {
        let sent = publish_with(headers, body);
        async move {
            sent.await.unwrap_or_else(|e| panic!("publish {body}: {e}"));
        }
    };
    let send_returned = |headers: FieldTable, body: &'static str| {
        let sent = publish_with(headers, body);
        async move {
            match sent.await {
                Err(Error::Returned(r)) => assert_eq!(&r.body[..], body.as_bytes()),
                other => panic!("publish {body}: expected Returned, got {other:?}"),
            }
        }
    };
    send(FieldTable::new().with("a", 1i32), "only a").await;
    send(FieldTable::new().with("a", 1i32).with("b", 2i32), "a and b").await;
    send_returned(FieldTable::new().with("a", 2i32), "a, but 2").await;
    let returned = step("basic.return", ch.next_return())
        .await
        .expect("the channel is open");
    assert_eq!(returned.reply_code, ReplyCode::NO_ROUTE);
    assert_eq!(&returned.body[..], b"a, but 2");

    assert_eq!(drain_bodies(&ch, &all_q).await, ["a and b"]);
    assert_eq!(drain_bodies(&ch, &any_q).await, ["only a", "a and b"]);

    // Unbinding with other arguments removes nothing (RabbitMQ says ok all the same)...
    step(
        "queue.unbind with other arguments",
        ch.queue_unbind(&any_q, &x, "", x_match("all")),
    )
    .await
    .unwrap();
    send(FieldTable::new().with("b", 2i32), "only b").await;
    assert_eq!(drain_bodies(&ch, &any_q).await, ["only b"]);
    // ...the same arguments remove the binding.
    step(
        "queue.unbind",
        ch.queue_unbind(&any_q, &x, "", x_match("any")),
    )
    .await
    .unwrap();
    send_returned(FieldTable::new().with("b", 2i32), "b after unbind").await;
    let returned = step("basic.return", ch.next_return())
        .await
        .expect("the channel is open");
    assert_eq!(&returned.body[..], b"b after unbind");
    assert_eq!(counts(&ch, &any_q).await, (0, 0));
    assert_eq!(counts(&ch, &all_q).await, (0, 0));

    step(
        "exchange.delete",
        ch.exchange_delete(&x, Default::default()),
    )
    .await
    .unwrap();
    delete(&ch, &all_q).await;
    delete(&ch, &any_q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn queue_bind_nowait_takes_effect_before_the_next_method() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let x = cleanup.exchange(amqp_testkit::unique_name("x-bind-nowait"));
    let q = cleanup.queue(fresh_queue(&ch, "q-bind-nowait").await);
    declare_plain_exchange(&ch, &x, "topic").await;
    let nowait = QueueBindOptions { nowait: true };
    step(
        "queue.bind nowait",
        ch.queue_bind(&q, &x, "logs.*", nowait, FieldTable::new()),
    )
    .await
    .unwrap();
    publish_mandatory(&ch, &x, "logs.error", "matched").await;
    assert_eq!(drain_bodies(&ch, &q).await, ["matched"]);

    // A nowait bind to a missing exchange is refused later, by closing the channel.
    let missing = amqp_testkit::unique_name("x-missing");
    step(
        "queue.bind nowait to a missing exchange",
        ch.queue_bind(&q, &missing, "k", nowait, FieldTable::new()),
    )
    .await
    .expect("nowait: no answer awaited");
    let later = step("basic.qos after it", ch.basic_qos(1, Default::default())).await;
    let text = expect_channel_closed(later, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");

    let ch = channel(&conn).await;
    step(
        "exchange.delete",
        ch.exchange_delete(&x, Default::default()),
    )
    .await
    .unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn queue_purge_returns_the_count_and_nowait_purges_all_the_same() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-purge").await);
    for i in 0..3 {
        publish_plain(&ch, "", &q, &format!("m{i}")).await;
    }
    // One unacked message is not purged: purge takes only the ready ones.
    let held = get(&ch, &q, false).await.expect("a message");
    assert_eq!(held.message_count, 2);
    let purged = step(
        "queue.purge",
        ch.queue_purge(&q, QueuePurgeOptions::default()),
    )
    .await
    .unwrap();
    assert_eq!(purged, Some(2));

    for i in 0..4 {
        publish_plain(&ch, "", &q, &format!("n{i}")).await;
    }
    let nowait = QueuePurgeOptions { nowait: true };
    let purged = step("queue.purge nowait", ch.queue_purge(&q, nowait))
        .await
        .unwrap();
    assert_eq!(purged, None, "nowait: no purge-ok, so no count");
    assert_eq!(counts(&ch, &q).await, (0, 0));

    step("basic.reject", held.delivery.reject(true))
        .await
        .unwrap();
    assert_eq!(drain_bodies(&ch, &q).await, ["m0"]);
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn queue_delete_if_empty_is_refused_with_messages_and_counts_what_it_deletes() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-if-empty").await);
    for i in 0..5 {
        publish_plain(&ch, "", &q, &format!("m{i}")).await;
    }
    let if_empty = QueueDeleteOptions {
        if_empty: true,
        ..Default::default()
    };
    let result = step("queue.delete if_empty", ch.queue_delete(&q, if_empty)).await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("not empty"), "{text}");

    // if_unused with a consumer on another channel: refused too.
    let ch = channel(&conn).await;
    let consumer_ch = channel(&conn).await;
    let consumer = consume(&consumer_ch, &q, FieldTable::new()).await;
    let if_unused = QueueDeleteOptions {
        if_unused: true,
        ..Default::default()
    };
    let result = step("queue.delete if_unused", ch.queue_delete(&q, if_unused)).await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("in use"), "{text}");
    // Closing the consumer's channel requeues its 5 unacked deliveries.
    step("channel.close", consumer_ch.close()).await.unwrap();
    drop(consumer);

    let ch = channel(&conn).await;
    assert_eq!(counts(&ch, &q).await, (5, 0));
    let deleted = step("queue.delete if_unused", ch.queue_delete(&q, if_unused))
        .await
        .unwrap();
    assert_eq!(
        deleted,
        Some(5),
        "delete-ok counts the messages deleted with it"
    );

    // An empty queue goes with if_empty; a nowait delete returns no count and still deletes.
    let empty = cleanup.queue(fresh_queue(&ch, "q-empty").await);
    assert_eq!(
        step("queue.delete if_empty", ch.queue_delete(&empty, if_empty))
            .await
            .unwrap(),
        Some(0)
    );
    let doomed = cleanup.queue(fresh_queue(&ch, "q-nowait-delete").await);
    let nowait = QueueDeleteOptions {
        nowait: true,
        ..Default::default()
    };
    assert_eq!(
        step("queue.delete nowait", ch.queue_delete(&doomed, nowait))
            .await
            .unwrap(),
        None,
        "nowait: no delete-ok, so no count"
    );
    for gone in [&q, &empty, &doomed] {
        let probe = channel(&conn).await;
        let passive = amqp_client::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let result = step(
            "passive queue.declare",
            probe.queue_declare(gone, passive, FieldTable::new()),
        )
        .await;
        expect_channel_closed(result, ReplyCode::NOT_FOUND);
    }
    step("connection.close", conn.close()).await.unwrap();
}
