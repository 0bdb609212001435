//! tx.select / tx.commit / tx.rollback, channel.flow sent by the client, connection.update-secret,
//! the AMQPLAIN login next to PLAIN, and the deprecated access.request, against the shared
//! broker, asserting what RabbitMQ 3.10 really does.

mod common;

use amqp_client::{
    AccessRequestOptions, BasicRecoverOptions, Connection, Error, FieldTable, ReplyCode,
    SaslMechanism,
};
use common::*;
use std::time::Duration;

#[tokio::test]
async fn a_rolled_back_publish_never_reaches_the_queue_and_a_committed_one_does() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-tx-publish").await);
    let tx = channel(&conn).await;
    step("tx.select", tx.tx_select()).await.unwrap();

    let publish = |body: &'static str| {
        let tx = tx.clone();
        let q = q.clone();
        async move {
            step(
                "basic.publish",
                tx.basic_publish("", &q, Default::default(), Default::default(), body),
            )
            .await
            .expect("basic.publish")
            .wait()
            .await
            .expect("no confirms in tx mode: at once");
        }
    };
    publish("rolled back").await;
    step("tx.rollback", tx.tx_rollback()).await.unwrap();
    assert_eq!(
        counts(&ch, &q).await,
        (0, 0),
        "a rolled-back publish is gone"
    );

    publish("committed").await;
    // The channel handles its methods in order, so a passive declare on the tx channel itself
    // comes after the publish: still not in the queue before the commit.
    assert_eq!(counts(&tx, &q).await, (0, 0), "not before the commit");
    step("tx.commit", tx.tx_commit()).await.unwrap();
    assert_eq!(counts(&ch, &q).await, (1, 0));
    assert_eq!(drain_bodies(&ch, &q).await, ["committed"]);
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn a_rolled_back_ack_is_redelivered_and_a_committed_one_is_not() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let q = cleanup.queue(fresh_queue(&ch, "q-tx-ack").await);
    for body in ["a", "b", "c"] {
        publish_plain(&ch, "", &q, body).await;
    }
    let tx = channel(&conn).await;
    step("tx.select", tx.tx_select()).await.unwrap();

    let a = get(&tx, &q, false).await.expect("a");
    step("basic.ack", a.delivery.ack()).await.unwrap();
    step("tx.rollback", tx.tx_rollback()).await.unwrap();
    let b = get(&tx, &q, false).await.expect("b");
    step("basic.ack", b.delivery.ack()).await.unwrap();
    step("tx.commit", tx.tx_commit()).await.unwrap();

    // a's ack was rolled back, so a is still unacked: recover hands it back.
    step(
        "basic.recover",
        tx.basic_recover(BasicRecoverOptions { requeue: true }),
    )
    .await
    .unwrap();
    let again = get(&tx, &q, false).await.expect("a again");
    assert_eq!(&again.delivery.body[..], b"a");
    assert!(again.delivery.redelivered);
    step("basic.ack", again.delivery.ack()).await.unwrap();
    step("tx.rollback", tx.tx_rollback()).await.unwrap();

    // Closing the channel requeues what is unacked: a (ack rolled back again), not b.
    step("channel.close", tx.close()).await.unwrap();
    // close-ok comes before the queue has taken back what the channel held (the requeue is a
    // message from the channel process to the queue process), and no event says when it has.
    eventually(
        Duration::from_secs(5),
        "a requeued after the close",
        || async { counts(&ch, &q).await == (2, 0) },
    )
    .await;
    assert_eq!(drain_bodies(&ch, &q).await, ["a", "c"]);
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn tx_commit_without_tx_select_is_a_406_channel_error() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let result = step("tx.commit", ch.tx_commit()).await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("not transactional"), "{text}");
    assert!(conn.is_open());
    let ch = channel(&conn).await;
    step("tx.select", ch.tx_select()).await.unwrap();
    step("tx.commit", ch.tx_commit()).await.unwrap();
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn channel_flow_active_is_accepted_and_inactive_is_refused_with_540() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    assert!(ch.flow_active(), "a new channel may publish");
    step("channel.flow active", ch.channel_flow(true))
        .await
        .unwrap();
    assert!(conn.is_open());

    // RabbitMQ 3.x never pauses deliveries on request: channel.flow active=false is a
    // NOT_IMPLEMENTED protocol error, which (540 being a hard error) ends the connection.
    let result = step("channel.flow inactive", ch.channel_flow(false)).await;
    let text = expect_connection_closed(result, ReplyCode::NOT_IMPLEMENTED);
    assert!(text.contains("active=false"), "{text}");
    match conn.error() {
        Some(Error::ConnectionClosed(reason)) => {
            // channel.flow is 20/20.
            assert_eq!((reason.class_id, reason.method_id), (20, 20), "{reason}");
        }
        other => panic!("the connection should know why it closed: {other:?}"),
    }
    assert!(!conn.is_open());
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "q-after-flow").await;
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn update_secret_with_the_same_password_keeps_the_connection_working() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    step(
        "connection.update-secret",
        conn.update_secret("guest", "test: same secret"),
    )
    .await
    .unwrap();
    assert!(conn.is_open());
    // RabbitMQ's internal user database does not check the new secret (only token backends,
    // such as OAuth 2, use it): a wrong one is taken as well.
    step(
        "connection.update-secret, wrong",
        conn.update_secret("not-the-password", "test: other secret"),
    )
    .await
    .unwrap();
    assert!(conn.is_open());
    // Channels opened before and after go on working.
    let q = fresh_queue(&ch, "q-after-update-secret").await;
    let ch2 = channel(&conn).await;
    assert_eq!(counts(&ch2, &q).await, (0, 0));
    delete(&ch2, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn amqplain_logs_in_like_plain_and_a_wrong_password_is_a_typed_403() {
    amqp_testkit::require_broker();
    for mechanism in [SaslMechanism::Plain, SaslMechanism::AmqPlain] {
        let conn = connect_with(config().with_mechanism(mechanism)).await;
        let ch = channel(&conn).await;
        let q = fresh_queue(&ch, &format!("q-{}", mechanism.name())).await;
        assert_eq!(counts(&ch, &q).await, (0, 0), "{mechanism:?}");
        delete(&ch, &q).await;
        step("connection.close", conn.close()).await.unwrap();

        let wrong = config()
            .with_mechanism(mechanism)
            .with_credentials("guest", "not-the-password");
        let result = step("connect", Connection::connect(wrong)).await;
        let text = expect_connection_closed(result, ReplyCode::ACCESS_REFUSED);
        // E.g. "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. ..."
        assert!(text.contains(mechanism.name()), "{mechanism:?}: {text}");
    }
}

#[tokio::test]
async fn access_request_is_granted_ticket_1_by_rabbitmq() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let options = AccessRequestOptions {
        active: true,
        read: true,
        write: true,
        ..Default::default()
    };
    let ticket = step("access.request", ch.access_request("/data", options))
        .await
        .unwrap();
    assert_eq!(ticket, 1);
    // The channel goes on as before.
    let q = fresh_queue(&ch, "q-after-access").await;
    step(
        "queue.bind",
        ch.queue_bind(&q, "amq.direct", &q, Default::default(), FieldTable::new()),
    )
    .await
    .unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
