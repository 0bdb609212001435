//! Soft errors (channel exceptions): the broker closes the channel with a reply code and text,
//! the call that caused it gets them as [`Error::ChannelClosed`], later calls on that channel get
//! the same, and the connection goes on: a new channel on it works.

mod common;

use amqp_client::{Channel, Connection, Error, FieldTable, QueueDeclareOptions, ReplyCode};
use common::*;

/// Asserts the channel knows it was closed with `code` by the method `class_id`/`method_id`.
#[track_caller]
fn assert_closed_by(ch: &Channel, code: ReplyCode, class_id: u16, method_id: u16) {
    match ch.error() {
        Some(Error::ChannelClosed(reason)) => {
            assert_eq!(reason.reply_code, code, "{reason}");
            assert_eq!(
                (reason.class_id, reason.method_id),
                (class_id, method_id),
                "{reason}"
            );
        }
        other => panic!("the channel should know why it closed: {other:?}"),
    }
}

/// The connection goes on: a later call on the closed channel gets the same error, and a new
/// channel declares a queue, round-trips a message through it and deletes it.
async fn assert_connection_goes_on(conn: &Connection, closed: &Channel, code: ReplyCode) {
    let again = step(
        "basic.qos on the closed channel",
        closed.basic_qos(1, Default::default()),
    )
    .await;
    expect_channel_closed(again, code);
    assert!(conn.is_open(), "a soft error leaves the connection open");
    let ch = confirm_channel(conn).await;
    let q = fresh_queue(&ch, "q-goes-on").await;
    publish_plain(&ch, "", &q, "still works").await;
    assert_eq!(take_body(&ch, &q).await.as_deref(), Some("still works"));
    delete(&ch, &q).await;
}

#[tokio::test]
async fn binding_to_a_missing_exchange_is_a_404() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-bind-missing").await);
    let missing = amqp_testkit::unique_name("x-missing");
    let result = step(
        "queue.bind to a missing exchange",
        ch.queue_bind(&q, &missing, "k", Default::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");
    assert_closed_by(&ch, ReplyCode::NOT_FOUND, 50, 20); // queue.bind
    assert_connection_goes_on(&conn, &ch, ReplyCode::NOT_FOUND).await;
    delete(&channel(&conn).await, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn redeclaring_a_queue_with_other_arguments_is_a_406() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(amqp_testkit::unique_name("q-redeclare"));
    let ttl = |ms: i32| FieldTable::new().with("x-message-ttl", ms);
    declare(&ch, &q, QueueDeclareOptions::default(), ttl(60_000)).await;
    declare(&ch, &q, QueueDeclareOptions::default(), ttl(60_000)).await;
    let result = step(
        "queue.declare with another x-message-ttl",
        ch.queue_declare(&q, QueueDeclareOptions::default(), ttl(30_000)),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("x-message-ttl"), "{text}");
    assert_closed_by(&ch, ReplyCode::PRECONDITION_FAILED, 50, 10); // queue.declare
    assert_connection_goes_on(&conn, &ch, ReplyCode::PRECONDITION_FAILED).await;
    delete(&channel(&conn).await, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn passive_declare_of_a_missing_queue_is_a_404() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let missing = amqp_testkit::unique_name("q-missing");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let result = step(
        "passive queue.declare",
        ch.queue_declare(&missing, passive, FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");
    assert_closed_by(&ch, ReplyCode::NOT_FOUND, 50, 10); // queue.declare
    assert_connection_goes_on(&conn, &ch, ReplyCode::NOT_FOUND).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn publishing_to_a_missing_exchange_is_a_404_on_the_next_call_or_the_confirm() {
    let conn = connect().await;
    let missing = amqp_testkit::unique_name("x-missing");

    // Without confirms, basic.publish has no answer: the 404 shows on the next call.
    let ch = channel(&conn).await;
    let confirm = step(
        "basic.publish to a missing exchange",
        ch.basic_publish(
            &missing,
            "k",
            Default::default(),
            Default::default(),
            "lost",
        ),
    )
    .await
    .expect("basic.publish only queues the message");
    step("the (absent) confirm", confirm.wait())
        .await
        .expect("no confirm mode: nothing to wait for");
    let next = step("basic.qos after it", ch.basic_qos(1, Default::default())).await;
    let text = expect_channel_closed(next, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");
    assert_closed_by(&ch, ReplyCode::NOT_FOUND, 60, 40); // basic.publish
    assert_connection_goes_on(&conn, &ch, ReplyCode::NOT_FOUND).await;

    // With confirms, the confirm itself fails with the 404.
    let ch = confirm_channel(&conn).await;
    let result = publish(
        &ch,
        &missing,
        "k",
        Default::default(),
        Default::default(),
        "lost too",
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");
    assert_closed_by(&ch, ReplyCode::NOT_FOUND, 60, 40);
    assert_connection_goes_on(&conn, &ch, ReplyCode::NOT_FOUND).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn one_connection_survives_every_soft_error_in_a_row() {
    let conn = connect().await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&channel(&conn).await, "q-in-a-row").await);
    let missing_x = amqp_testkit::unique_name("x-missing");
    let missing_q = amqp_testkit::unique_name("q-missing");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let durable = QueueDeclareOptions::durable();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    for round in 0..6 {
        let ch = channel(&conn).await;
        let (result, code) = match round {
            0 => (
                step(
                    "queue.bind",
                    ch.queue_bind(&q, &missing_x, "", Default::default(), FieldTable::new()),
                )
                .await,
                ReplyCode::NOT_FOUND,
            ),
            1 => (
                step(
                    "queue.declare durable",
                    ch.queue_declare(&q, durable, FieldTable::new()),
                )
                .await
                .map(drop),
                ReplyCode::PRECONDITION_FAILED,
            ),
            2 => (
                step(
                    "queue.declare exclusive",
                    ch.queue_declare(&q, exclusive, FieldTable::new()),
                )
                .await
                .map(drop),
                ReplyCode::RESOURCE_LOCKED,
            ),
            3 => (
                step(
                    "passive queue.declare",
                    ch.queue_declare(&missing_q, passive, FieldTable::new()),
                )
                .await
                .map(drop),
                ReplyCode::NOT_FOUND,
            ),
            4 => (
                step(
                    "exchange.bind from a missing exchange",
                    ch.exchange_bind(
                        "amq.direct",
                        &missing_x,
                        "",
                        Default::default(),
                        FieldTable::new(),
                    ),
                )
                .await,
                ReplyCode::NOT_FOUND,
            ),
            _ => {
                let _no_confirm_mode = step(
                    "basic.publish",
                    ch.basic_publish(&missing_x, "", Default::default(), Default::default(), "x"),
                )
                .await
                .expect("queued");
                (
                    step("basic.qos", ch.basic_qos(1, Default::default())).await,
                    ReplyCode::NOT_FOUND,
                )
            }
        };
        expect_channel_closed(result, code);
        assert!(conn.is_open(), "round {round}");
        assert_connection_goes_on(&conn, &ch, code).await;
    }
    delete(&channel(&conn).await, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
