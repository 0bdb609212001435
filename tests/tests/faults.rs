//! Faults: an operator closing the connection, the broker closing one channel, a broker killed
//! and restarted (persistence), and a broker blocking publishers on a memory alarm.
//!
//! The last two use a private broker node ([`amqp_testkit::PrivateNode`]): the shared broker is
//! never stopped or reconfigured.

mod common;

use std::time::Duration;

use amqp_client::{
    BasicGetOptions, BasicProperties, Connection, ConnectionConfig, Error, FieldTable, FieldValue,
    QueueDeclareOptions, ReplyCode,
};
use amqp_testkit::PrivateNode;
use common::*;

/// The Erlang pid of our connection's process (`<rabbit@host.1652.1234.0>`), which is what
/// `rabbitmqctl close_connection` takes in RabbitMQ 3.10 (its `name`, `127.0.0.1:PORT ->
/// 127.0.0.1:5672`, fails with `invalid_pid_syntax`). Found by the `connection_name` we gave it:
/// 3.10 has no `user_provided_name` column ("Info key(s) user_provided_name are not
/// supported"), but the name is in the client properties.
fn connection_pid_of(connection_name: &str) -> String {
    let mut found = None;
    amqp_testkit::wait_until(
        Duration::from_secs(15),
        &format!("connection {connection_name:?} in rabbitmqctl list_connections"),
        || {
            let out = amqp_testkit::rabbitmqctl(&[
                "-q",
                "list_connections",
                "--no-table-headers",
                "pid",
                "client_properties",
            ])
            .unwrap_or_default();
            found = out
                .lines()
                .find(|l| l.contains(&format!("\"{connection_name}\"")))
                .and_then(|l| l.split('\t').next())
                .map(str::to_owned);
            found.is_some()
        },
    );
    found.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_connection_by_the_operator_is_a_320_on_pending_and_later_calls() {
    amqp_testkit::require_broker();
    let connection_name = amqp_testkit::unique_name("amqp-testkit-forced");
    let conn = connect_with(config().with_connection_name(connection_name.clone())).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "forced").await;
    let _cleanup = QueueCleanup::new(&[&q]);
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let pending = tokio::spawn(async move {
        let item = consumer.next().await;
        (item, consumer)
    });

    let pid = blocking(|| connection_pid_of(&connection_name));
    let reason = amqp_testkit::unique_name("amqp-testkit forced close");
    blocking(|| amqp_testkit::rabbitmqctl(&["close_connection", &pid, &reason]))
        .expect("rabbitmqctl close_connection");

    // The pending next() ends with the broker's reason.
    let (item, mut consumer) = step("the consumer's end", pending).await.unwrap();
    let text = expect_connection_closed(
        item.expect("an error, not None"),
        ReplyCode::CONNECTION_FORCED,
    );
    assert!(text.contains(&reason), "{text}");
    assert!(consumer.next().await.is_none(), "the consumer stays ended");

    // Later calls get the same error, at once.
    let closed = step("closed()", conn.closed()).await;
    assert_eq!(
        closed.reply_code(),
        Some(ReplyCode::CONNECTION_FORCED),
        "{closed}"
    );
    assert!(!conn.is_open());
    assert_eq!(
        conn.error().and_then(|e| e.reply_code()),
        Some(ReplyCode::CONNECTION_FORCED)
    );
    expect_connection_closed(
        step("basic.qos", ch.basic_qos(1, Default::default())).await,
        ReplyCode::CONNECTION_FORCED,
    );
    expect_connection_closed(
        step(
            "basic.publish",
            ch.basic_publish("", &q, Default::default(), Default::default(), "x"),
        )
        .await,
        ReplyCode::CONNECTION_FORCED,
    );
    expect_connection_closed(
        step("channel.open", conn.open_channel()).await,
        ReplyCode::CONNECTION_FORCED,
    );

    // The queue outlived the connection; clean it up from a new one.
    let conn = connect().await;
    let ch = channel(&conn).await;
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn a_channel_closed_by_the_broker_fails_alone() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let good = channel(&conn).await;
    let q = fresh_queue(&good, "channel-error").await;
    let _cleanup = QueueCleanup::new(&[&q]);

    // 406: redeclaring the queue with other flags, on a channel that has a consumer waiting.
    let bad = channel(&conn).await;
    let other = fresh_queue(&bad, "channel-error-consumed").await;
    let mut consumer = consume(&bad, &other, FieldTable::new()).await;
    let result = step(
        "redeclare durable",
        bad.queue_declare(&q, QueueDeclareOptions::durable(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("durable"), "{text}");
    // Its consumer ends with the same reason; its later calls fail with it too.
    let end = step("the consumer's end", consumer.next()).await;
    expect_channel_closed(
        end.expect("an error, not None"),
        ReplyCode::PRECONDITION_FAILED,
    );
    expect_channel_closed(
        step(
            "publish",
            bad.basic_publish("", &q, Default::default(), Default::default(), "x"),
        )
        .await,
        ReplyCode::PRECONDITION_FAILED,
    );
    assert_eq!(
        bad.error().and_then(|e| e.reply_code()),
        Some(ReplyCode::PRECONDITION_FAILED)
    );

    // 404: consuming from a queue that does not exist.
    let missing = amqp_testkit::unique_name("missing");
    let ch404 = channel(&conn).await;
    let result = step(
        "basic.consume of a missing queue",
        ch404.basic_consume(&missing, "", Default::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::NOT_FOUND);
    assert!(text.contains(&missing), "{text}");

    // The connection and the other channel go on.
    assert!(conn.is_open());
    assert!(good.error().is_none());
    step("confirm.select", good.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_plain(&good, "", &q, "fine").await;
    let got = step(
        "basic.get",
        good.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("the message");
    assert_eq!(&got.delivery.body[..], b"fine");
    delete(&good, &q).await;
    delete(&good, &other).await;
    step("connection.close", conn.close()).await.unwrap();
}

/// The connection settings for a private node.
fn node_config(node: &PrivateNode) -> ConnectionConfig {
    ConnectionConfig::from_uri(&node.url()).expect("the node's URL parses")
}

/// What a persistent message carries, to check after the restart.
fn persistent_properties() -> BasicProperties {
    BasicProperties {
        content_type: Some("text/plain".into()),
        headers: Some(FieldTable::new().with("survives", true).with("n", 7i32)),
        message_id: Some("persistent-1".into()),
        timestamp: Some(1_700_000_000),
        ..BasicProperties::default().persistent()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_messages_in_durable_queues_survive_a_broker_kill() {
    let mut node = blocking(PrivateNode::start);
    let conn = connect_with(node_config(&node)).await;
    let ch = channel(&conn).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let durable = amqp_testkit::unique_name("durable");
    let transient = amqp_testkit::unique_name("transient");
    declare(
        &ch,
        &durable,
        QueueDeclareOptions::durable(),
        FieldTable::new(),
    )
    .await;
    declare(&ch, &transient, Default::default(), FieldTable::new()).await;
    let publish = |queue: &str, props: BasicProperties, body: &'static str| {
        let ch = ch.clone();
        let queue = queue.to_owned();
        async move {
            step(
                "publish",
                ch.basic_publish("", &queue, Default::default(), props, body),
            )
            .await
            .unwrap()
            .wait()
            .await
            .expect("confirmed: on disk if persistent")
        }
    };
    // Into the durable queue: a persistent message, then a transient one.
    publish(&durable, persistent_properties(), "I persist").await;
    publish(&durable, BasicProperties::default(), "I am transient").await;
    // Into the non-durable queue: a transient message.
    publish(&transient, BasicProperties::default(), "gone with my queue").await;
    assert_eq!(counts(&ch, &durable).await, (2, 0));
    assert_eq!(counts(&ch, &transient).await, (1, 0));
    let mut consumer = consume(&ch, &transient, FieldTable::new()).await;
    let d = next_delivery(&mut consumer, "the delivery").await;
    assert_eq!(&d.body[..], b"gone with my queue");
    // Left unacked: it would be redelivered after a restart if it survived.

    blocking(|| node.kill9());
    // The client notices at once: the socket is gone, with no connection.close.
    let error = step("the connection's end", conn.closed()).await;
    assert!(matches!(error, Error::Io(_)), "{error:?}");
    let end = step("the consumer's end", consumer.next()).await;
    assert!(matches!(end, Some(Err(Error::Io(_)))), "{end:?}");

    blocking(|| node.restart());
    let conn = connect_with(node_config(&node)).await;
    let ch = channel(&conn).await;
    assert_eq!(
        counts(&ch, &durable).await,
        (1, 0),
        "only the persistent message survives"
    );
    let got = step("basic.get", ch.basic_get(&durable, Default::default()))
        .await
        .unwrap()
        .expect("the persistent message");
    assert_eq!(&got.delivery.body[..], b"I persist");
    assert_eq!(got.delivery.properties, persistent_properties());
    assert_eq!(
        got.delivery
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("survives")),
        Some(&FieldValue::Boolean(true))
    );
    step("basic.ack", got.delivery.ack()).await.unwrap();
    // The non-durable queue, and its message, are gone.
    let result = step(
        "passive declare",
        ch.queue_declare(
            &transient,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await;
    expect_channel_closed(result, ReplyCode::NOT_FOUND);
    step("connection.close", conn.close()).await.unwrap();
    blocking(move || drop(node));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_blocks_the_connection_until_it_clears() {
    let node = blocking(PrivateNode::start);
    let conn: Connection = connect_with(node_config(&node)).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "blocked").await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let mut blocked = conn.watch_blocked();
    assert!(conn.blocked().is_none());

    blocking(|| node.ctl(&["set_vm_memory_high_watermark", "0.0000001"]))
        .expect("raise a memory alarm");
    // RabbitMQ blocks a connection at its first publish once the alarm has reached it
    // (state `blocking`), so wait for that before publishing.
    blocking(|| {
        amqp_testkit::wait_until(
            Duration::from_secs(30),
            "the connection to be in state blocking",
            || {
                node.ctl(&["-q", "list_connections", "--no-table-headers", "state"])
                    .is_ok_and(|out| out.lines().any(|l| l.trim() == "blocking"))
            },
        )
    });
    let confirm = step(
        "publish",
        ch.basic_publish("", &q, Default::default(), Default::default(), "held"),
    )
    .await
    .unwrap();
    within(
        Duration::from_secs(30),
        "connection.blocked",
        blocked.wait_for(|b| b.is_some()),
    )
    .await
    .expect("the connection is still there");
    let reason = conn.blocked().expect("blocked");
    println!("connection.blocked: {reason:?}");
    assert!(reason.contains("memory"), "{reason}");
    assert!(conn.is_open(), "blocked is not closed");

    blocking(|| node.ctl(&["set_vm_memory_high_watermark", "0.4"])).expect("clear the alarm");
    within(
        Duration::from_secs(30),
        "connection.unblocked",
        blocked.wait_for(|b| b.is_none()),
    )
    .await
    .expect("the connection is still there");
    assert!(conn.blocked().is_none());
    // What was published while blocked goes through.
    within(
        Duration::from_secs(30),
        "the held publish's confirm",
        confirm.wait(),
    )
    .await
    .unwrap();
    let got = step(
        "basic.get",
        ch.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("the held message");
    assert_eq!(&got.delivery.body[..], b"held");
    step("connection.close", conn.close()).await.unwrap();
    blocking(move || drop(node));
}
