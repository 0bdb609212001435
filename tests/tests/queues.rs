//! queue.declare with each flag and with arguments, server-named queues, the counts in
//! declare-ok, queue.purge and queue.delete.

mod common;

use std::time::Duration;

use amqp_client::{
    BasicGetOptions, BasicProperties, Channel, Connection, Error, FieldTable, QueueDeclareOptions,
    QueueDeleteOptions, ReplyCode,
};
use common::*;

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

/// Publishes `n` messages to `queue` through the default exchange and waits for their confirms
/// (the channel must be in confirm mode).
async fn publish_confirmed(ch: &Channel, queue: &str, n: usize) {
    let mut confirms = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("message {i}");
        confirms.push(
            ch.basic_publish("", queue, Default::default(), Default::default(), body)
                .await
                .expect("basic.publish"),
        );
    }
    for c in confirms {
        step("a publisher confirm", c.wait())
            .await
            .expect("confirmed");
    }
}

/// Waits until a passive queue.declare of `name` answers 404 NOT_FOUND: the broker deletes an
/// exclusive or auto-delete queue right after its owner goes, and no event announces it.
async fn until_gone(conn: &Connection, name: &str, what: &str) {
    eventually(Duration::from_secs(10), what, || async {
        let ch = channel(conn).await;
        let result = step(
            "passive declare",
            ch.queue_declare(name, passive(), FieldTable::new()),
        )
        .await;
        match result {
            Ok(_) => false,
            Err(e) if e.reply_code() == Some(ReplyCode::NOT_FOUND) => true,
            Err(e) => panic!("unexpected {e}"),
        }
    })
    .await;
}

#[tokio::test]
async fn passive_declare_of_a_missing_queue_is_a_404_and_the_connection_goes_on() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let missing = amqp_testkit::unique_name("missing");
    let result = step(
        "passive declare",
        ch.queue_declare(&missing, passive(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");
    let reason = match ch.error() {
        Some(Error::ChannelClosed(r)) => r,
        other => panic!("the channel should know why it closed: {other:?}"),
    };
    // The reason names the method that failed: queue.declare is 50/10.
    assert_eq!((reason.class_id, reason.method_id), (50, 10), "{reason}");

    // Later calls on that channel get the same error; the connection and new channels go on.
    let again = step(
        "basic.qos on the closed channel",
        ch.basic_qos(1, Default::default()),
    )
    .await;
    expect_channel_closed(again, ReplyCode::NOT_FOUND);
    assert!(conn.is_open());
    let ch2 = channel(&conn).await;
    assert_eq!(
        ch2.id(),
        ch.id(),
        "the closed channel's number is free again"
    );
    let q = fresh_queue(&ch2, "after-404").await;
    assert_eq!(counts(&ch2, &q).await, (0, 0));
    delete(&ch2, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn declare_ok_returns_the_name_and_counts_and_purge_and_delete_count() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let name = amqp_testkit::unique_name("counts");
    let _cleanup = Cleanup::queues(&[&name]);
    let ok = declare(&ch, &name, Default::default(), FieldTable::new()).await;
    assert_eq!(ok.queue.as_str(), Some(name.as_str()));
    assert_eq!((ok.message_count, ok.consumer_count), (0, 0));

    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_confirmed(&ch, &name, 3).await;
    // Redeclaring with the same flags is fine and reports the counts, as passive does.
    let ok = declare(&ch, &name, Default::default(), FieldTable::new()).await;
    assert_eq!((ok.message_count, ok.consumer_count), (3, 0));

    // A consumer with prefetch 1 holds one message unacked: 2 ready, 1 consumer.
    let cch = channel(&conn).await;
    step("basic.qos", cch.basic_qos(1, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&cch, &name, FieldTable::new()).await;
    let held = next_delivery(&mut consumer, "the first delivery").await;
    assert_eq!(&held.body[..], b"message 0");
    assert_eq!(counts(&ch, &name).await, (2, 1));

    // Purge removes the ready messages only.
    assert_eq!(
        step("queue.purge", ch.queue_purge(&name, Default::default()))
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(counts(&ch, &name).await, (0, 1));
    assert_eq!(
        step(
            "second queue.purge",
            ch.queue_purge(&name, Default::default())
        )
        .await
        .unwrap(),
        Some(0)
    );

    // Cancel the consumer, then give the held message back; on the same channel, so the
    // broker has requeued it before it deletes the queue.
    step("basic.cancel", consumer.cancel()).await.unwrap();
    assert!(step("the consumer's end", consumer.next()).await.is_none());
    held.nack(true).await.unwrap();
    publish_confirmed(&ch, &name, 2).await;
    // if_empty / if_unused refuse to delete a queue that has messages / consumers.
    let refused = step(
        "queue.delete if_empty",
        cch.queue_delete(
            &name,
            QueueDeleteOptions {
                if_empty: true,
                ..Default::default()
            },
        ),
    )
    .await;
    expect_channel_closed(refused, ReplyCode::PRECONDITION_FAILED);
    assert_eq!(counts(&ch, &name).await, (3, 0));
    assert_eq!(delete(&ch, &name).await, 3);
    let gone = step(
        "passive declare",
        ch.queue_declare(&name, passive(), FieldTable::new()),
    )
    .await;
    expect_channel_closed(gone, ReplyCode::NOT_FOUND);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn queue_delete_if_unused_refuses_while_a_consumer_is_there() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "if-unused").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let consumer = consume(&ch, &q, FieldTable::new()).await;
    let ch2 = channel(&conn).await;
    let if_unused = QueueDeleteOptions {
        if_unused: true,
        ..Default::default()
    };
    let refused = step("queue.delete if_unused", ch2.queue_delete(&q, if_unused)).await;
    expect_channel_closed(refused, ReplyCode::PRECONDITION_FAILED);
    step("basic.cancel", consumer.cancel()).await.unwrap();
    let ch3 = channel(&conn).await;
    assert_eq!(
        step("queue.delete if_unused", ch3.queue_delete(&q, if_unused))
            .await
            .unwrap(),
        Some(0)
    );
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn an_empty_name_gets_a_server_named_queue() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let ok = declare(&ch, "", exclusive, FieldTable::new()).await;
    let name = ok.queue.as_str().expect("a UTF-8 name").to_owned();
    assert!(name.starts_with("amq.gen-"), "{name}");
    assert_eq!((ok.message_count, ok.consumer_count), (0, 0));
    let other = declare(&ch, "", exclusive, FieldTable::new()).await;
    assert_ne!(other.queue, ok.queue);
    // It is a queue like any other.
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_confirmed(&ch, &name, 1).await;
    assert_eq!(counts(&ch, &name).await, (1, 0));
    assert_eq!(delete(&ch, &name).await, 1);
    let other = other.queue.as_str().unwrap().to_owned();
    assert_eq!(delete(&ch, &other).await, 0);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_flag_is_sent_and_checked_on_redeclare() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let name = amqp_testkit::unique_name("durable");
    let _cleanup = Cleanup::queues(&[&name]);
    declare(
        &ch,
        &name,
        QueueDeclareOptions::durable(),
        FieldTable::new(),
    )
    .await;
    // Same flags: fine. Different: 406, naming the flag.
    declare(
        &ch,
        &name,
        QueueDeclareOptions::durable(),
        FieldTable::new(),
    )
    .await;
    let result = step(
        "redeclare non-durable",
        ch.queue_declare(&name, Default::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("durable"), "{text}");
    // The broker agrees it is durable.
    let listed = blocking(|| amqp_testkit::rabbitmqctl(&["-q", "list_queues", "name", "durable"]))
        .expect("rabbitmqctl list_queues");
    let line = listed
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .unwrap_or_else(|| panic!("{name} not listed: {listed}"));
    assert!(line.contains("true"), "{line}");
    let ch = channel(&conn).await;
    delete(&ch, &name).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn exclusive_queue_belongs_to_its_connection_and_goes_with_it() {
    amqp_testkit::require_broker();
    let owner = connect().await;
    let other = connect().await;
    let och = channel(&owner).await;
    let name = amqp_testkit::unique_name("exclusive");
    let _cleanup = Cleanup::queues(&[&name]);
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    declare(&och, &name, exclusive, FieldTable::new()).await;

    // Another connection may neither use it nor declare it.
    let ch = channel(&other).await;
    let result = step(
        "passive declare from another connection",
        ch.queue_declare(&name, passive(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::RESOURCE_LOCKED);
    assert!(text.contains("exclusive"), "{text}");
    let ch = channel(&other).await;
    let result = step(
        "basic.consume from another connection",
        ch.basic_consume(&name, "", Default::default(), FieldTable::new()),
    )
    .await;
    expect_channel_closed(result, ReplyCode::RESOURCE_LOCKED);

    // The owner can; when it closes, the queue is deleted (right after, not announced).
    assert_eq!(counts(&och, &name).await, (0, 0));
    step("owner's connection.close", owner.close())
        .await
        .unwrap();
    until_gone(
        &other,
        &name,
        "the exclusive queue to go with its connection",
    )
    .await;
    step("connection.close", other.close()).await.unwrap();
}

#[tokio::test]
async fn auto_delete_queue_goes_when_its_last_consumer_does() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let name = amqp_testkit::unique_name("auto-delete");
    let _cleanup = Cleanup::queues(&[&name]);
    let auto_delete = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    declare(&ch, &name, auto_delete, FieldTable::new()).await;
    // Different flags on redeclare: 406 naming auto_delete, so the flag did reach the broker.
    let ch2 = channel(&conn).await;
    let result = step(
        "redeclare without auto_delete",
        ch2.queue_declare(&name, Default::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("auto_delete"), "{text}");

    // Without ever having had a consumer it stays; after its only consumer leaves, it goes.
    assert_eq!(counts(&ch, &name).await, (0, 0));
    let c1 = consume(&ch, &name, FieldTable::new()).await;
    let c2 = consume(&ch, &name, FieldTable::new()).await;
    assert_ne!(c1.tag(), c2.tag());
    assert_eq!(counts(&ch, &name).await, (0, 2));
    step("basic.cancel", c1.cancel()).await.unwrap();
    assert_eq!(counts(&ch, &name).await, (0, 1), "one consumer left");
    step("basic.cancel", c2.cancel()).await.unwrap();
    until_gone(
        &conn,
        &name,
        "the auto-delete queue to go with its last consumer",
    )
    .await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn nowait_declare_returns_at_once_and_its_errors_close_the_channel_later() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let name = amqp_testkit::unique_name("nowait");
    let _cleanup = Cleanup::queues(&[&name]);
    let nowait = QueueDeclareOptions {
        nowait: true,
        ..Default::default()
    };
    let ok = step(
        "nowait queue.declare",
        ch.queue_declare(&name, nowait, FieldTable::new()),
    )
    .await
    .expect("nowait queue.declare");
    // No declare-ok comes, so there is no name or counts to return.
    assert!(ok.is_none(), "{ok:?}");
    // The broker handles a channel's methods in order: the queue exists for the next one.
    assert_eq!(counts(&ch, &name).await, (0, 0));

    // A nowait declare that the broker refuses: the call succeeds, the channel closes, and the
    // next call on it says why.
    let durable_nowait = QueueDeclareOptions {
        durable: true,
        nowait: true,
        ..Default::default()
    };
    let ok = step(
        "nowait redeclare with other flags",
        ch.queue_declare(&name, durable_nowait, FieldTable::new()),
    )
    .await
    .expect("nowait returns before the broker answers");
    assert!(ok.is_none(), "{ok:?}");
    let result = step("basic.qos after it", ch.basic_qos(1, Default::default())).await;
    expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);

    let ch = channel(&conn).await;
    assert_eq!(delete(&ch, &name).await, 0);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn declare_arguments_reach_the_broker() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();

    // x-max-length 2: the oldest messages are dropped beyond two.
    let capped = amqp_testkit::unique_name("max-length");
    // x-message-ttl 0: a message no consumer takes at once expires at once.
    let ttl0 = amqp_testkit::unique_name("ttl-0");
    let _cleanup = Cleanup::queues(&[&capped, &ttl0]);
    let args = FieldTable::new()
        .with("x-max-length", 2i32)
        .with("x-message-ttl", 600_000i32);
    declare(&ch, &capped, Default::default(), args.clone()).await;
    publish_confirmed(&ch, &capped, 5).await;
    assert_eq!(counts(&ch, &capped).await, (2, 0));
    let first = step(
        "basic.get",
        ch.basic_get(&capped, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("a message");
    assert_eq!(&first.delivery.body[..], b"message 3", "the oldest went");
    assert_eq!(first.message_count, 1);

    // Redeclaring with the same table is fine, with another TTL it is a 406 naming it.
    declare(&ch, &capped, Default::default(), args).await;
    let result = step(
        "redeclare with another TTL",
        ch.queue_declare(
            &capped,
            Default::default(),
            FieldTable::new()
                .with("x-max-length", 2i32)
                .with("x-message-ttl", 1_000i32),
        ),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("x-message-ttl"), "{text}");

    let ch = channel(&conn).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    declare(
        &ch,
        &ttl0,
        Default::default(),
        FieldTable::new().with("x-message-ttl", 0i32),
    )
    .await;
    publish_confirmed(&ch, &ttl0, 3).await;
    assert_eq!(counts(&ch, &ttl0).await, (0, 0), "all expired on arrival");
    // ...but a message with a waiting consumer is delivered.
    let mut consumer = consume_no_ack(&ch, &ttl0).await;
    let props = BasicProperties {
        message_id: Some("m-1".into()),
        ..Default::default()
    };
    step(
        "publish",
        ch.basic_publish("", &ttl0, Default::default(), props, "now"),
    )
    .await
    .unwrap()
    .wait()
    .await
    .unwrap();
    let d = next_delivery(&mut consumer, "the delivery").await;
    assert_eq!(&d.body[..], b"now");

    delete(&ch, &capped).await;
    delete(&ch, &ttl0).await;
    step("connection.close", conn.close()).await.unwrap();
}
