//! Faults: an operator closing the connection (the kit's `close_connection`), the broker
//! closing one channel, and (what a broker cannot do, on a `FaultProxy`) the network failing in
//! the middle of a publish.
//!
//! A broker killed and restarted (persistence) and a broker blocking publishers on a memory
//! alarm are in `testkit_brokers.rs`, on the private node that file's tests share; the broker's
//! delivery-acknowledgement timeout is in `unique_features.rs`; cuts, blackholes and
//! corrupted frames (what a broker cannot do) are in `proxy.rs` and `no_loss_no_hang.rs`, on a
//! `FaultProxy`.

mod common;

use amqp_client::wire::Frame;
use amqp_client::{
    BasicGetOptions, ConnectionConfig, Error, FieldTable, QueueDeclareOptions, Recovery, ReplyCode,
};
use amqp_testkit::proxy::{Direction, Fate, FaultProxy, Match};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_connection_by_the_operator_is_a_320_on_pending_and_later_calls() {
    amqp_testkit::require_broker();
    let connection_name = amqp_testkit::unique_name("amqp-testkit-forced");
    // Without recovery, which would reconnect (recovery.rs tests that).
    let config = config().with_recovery(Recovery::disabled());
    let conn = connect_with(config.with_connection_name(connection_name.clone())).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "forced").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let pending = tokio::spawn(async move {
        let item = consumer.next().await;
        (item, consumer)
    });

    let reason = amqp_testkit::unique_name("amqp-testkit forced close");
    blocking(|| amqp_testkit::close_connection(&connection_name, &reason))
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
    let _cleanup = Cleanup::queues(&[&q]);

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

#[tokio::test]
async fn a_publish_cut_between_its_header_and_its_body_fails_with_io_and_is_never_routed() {
    amqp_testkit::require_broker();
    let url = amqp_testkit::amqp_url();
    let proxy = FaultProxy::start_for_url(&url).await.expect("a proxy");
    let config = ConnectionConfig::from_uri(&proxy.url_for(&url)).unwrap();
    let conn = connect_with(config.with_recovery(Recovery::disabled())).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "cut-mid-publish").await;
    let _cleanup = Cleanup::queues(&[&q]);

    // The proxy cuts instead of forwarding the body: the broker got basic.publish and the header.
    let body = Match::frame(|f| matches!(f, Frame::Body { .. }));
    proxy.close_on(Direction::ToBroker, body);
    let result = publish(&ch, "", &q, Default::default(), Default::default(), "half").await;
    assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    let events = proxy.events();
    let cut = events.iter().position(|e| e.fate() == Some(Fate::Cut));
    let cut = cut.expect("the body was cut, not forwarded");
    assert!(matches!(events[cut].frame(), Some(Frame::Body { .. })));
    let sent = |name| {
        events[..cut]
            .iter()
            .any(|e| e.is_method(Direction::ToBroker, name))
    };
    assert!(sent("basic.publish"), "{events:#?}");

    // The broker drops the half-received message with the connection: nothing was routed.
    let direct = connect().await;
    assert_eq!(
        delete(&channel(&direct).await, &q).await,
        0,
        "nothing routed"
    );
    step("connection.close", direct.close()).await.unwrap();
}
