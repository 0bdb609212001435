//! Regression tests for issue 9 (no loss, no hang) against a real broker: publishes that cannot
//! be encoded are refused up front, mandatory returns reach their confirms, `next_return` ends
//! with its channel, a dropped consumer gives its unread deliveries back, a broker cancel names
//! its consumer, the RPC timeout is configurable, and an inbound message over the size limit is
//! refused without losing it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use amqp_client::wire::EncodeError;
use amqp_client::{
    BasicProperties, BasicPublishOptions, Channel, Connection, ConnectionConfig, Consumer, Error,
    FieldTable, QueueDeclareOptions, ReplyCode, Returned, DEFAULT_RPC_TIMEOUT,
};
use common::*;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a `next_return` loop may take to end once its channel has ended.
const ENDS_WITHIN: Duration = Duration::from_secs(5);

/// How long broker-side state that no event announces (a consumer count, a requeue) may take to
/// settle before the test fails.
const SETTLES_WITHIN: Duration = Duration::from_secs(10);

/// A short string one octet too long for the wire.
fn too_long(c: char) -> String {
    c.to_string().repeat(256)
}

/// Sets one short-string property of a [`BasicProperties`].
type SetProperty = fn(&mut BasicProperties, String);

// ===== 1. publishes that cannot be encoded are refused before they are queued =====

/// One publish the client must refuse: what is wrong with it, and where it goes.
struct BadPublish {
    what: String,
    exchange: String,
    routing_key: String,
    properties: BasicProperties,
}

/// Every way a publish can hold a short string of 256 octets. All but the exchange and routing
/// key cases would be routed to `queue` if they reached the broker, so a refused one that went
/// out anyway would show in the queue.
fn bad_publishes(queue: &str) -> Vec<BadPublish> {
    let long = too_long('x');
    let to_queue = |what, properties| BadPublish {
        what,
        exchange: String::new(),
        routing_key: queue.to_owned(),
        properties,
    };
    let props = BasicProperties::default;
    let mut cases = vec![
        BadPublish {
            what: "a routing key of 256 octets".into(),
            exchange: String::new(),
            routing_key: long.clone(),
            properties: props(),
        },
        BadPublish {
            what: "an exchange name of 256 octets".into(),
            exchange: long.clone(),
            routing_key: queue.to_owned(),
            properties: props(),
        },
    ];
    let shortstr_properties: [(&str, SetProperty); 10] = [
        ("content_type", |p, v| p.content_type = Some(v.into())),
        ("content_encoding", |p, v| {
            p.content_encoding = Some(v.into())
        }),
        ("correlation_id", |p, v| p.correlation_id = Some(v.into())),
        ("reply_to", |p, v| p.reply_to = Some(v.into())),
        ("expiration", |p, v| p.expiration = Some(v.into())),
        ("message_id", |p, v| p.message_id = Some(v.into())),
        ("type", |p, v| p.r#type = Some(v.into())),
        ("user_id", |p, v| p.user_id = Some(v.into())),
        ("app_id", |p, v| p.app_id = Some(v.into())),
        ("cluster_id", |p, v| p.cluster_id = Some(v.into())),
    ];
    for (name, set) in shortstr_properties {
        let mut p = props();
        set(&mut p, long.clone());
        cases.push(to_queue(format!("property {name} of 256 octets"), p));
    }
    cases.push(to_queue(
        "a header whose key is 256 octets".into(),
        with_headers(FieldTable::new().with("ok", 1i32).with(long.clone(), 1i32)),
    ));
    cases.push(to_queue(
        "a nested header table whose key is 256 octets".into(),
        with_headers(FieldTable::new().with("outer", FieldTable::new().with(long.clone(), "v"))),
    ));
    cases
}

/// Publishes `body` to `queue` (waiting for the confirm in confirm mode) and takes it back with
/// basic.get: the channel works and the message arrived, alone.
async fn round_trip(ch: &Channel, queue: &str, body: &str, props: BasicProperties) -> GotBack {
    let confirm = step(
        &format!("publish {body:?}"),
        ch.basic_publish("", queue, Default::default(), props, body.to_owned()),
    )
    .await
    .unwrap_or_else(|e| panic!("a good publish {body:?} after a refusal failed: {e}"));
    step("the good publish's confirm", confirm.wait())
        .await
        .unwrap_or_else(|e| panic!("the good publish {body:?} was not confirmed: {e}"));
    // On one channel the broker routes a publish before it serves a later basic.get.
    let got = get(ch, queue, true)
        .await
        .unwrap_or_else(|| panic!("basic.get found no message after publishing {body:?}"));
    GotBack {
        body: String::from_utf8_lossy(&got.delivery.body).into_owned(),
        message_id: got
            .delivery
            .properties
            .message_id
            .as_ref()
            .map(|id| id.to_string()),
        left: got.message_count,
    }
}

#[derive(Debug, PartialEq)]
struct GotBack {
    body: String,
    message_id: Option<String>,
    left: u32,
}

/// The whole refusal scenario on `ch` (plain or confirm mode, per `mode`).
async fn refusals_leave_the_channel_working(conn: &Connection, ch: &Channel, mode: &str) {
    let q = fresh_queue(ch, "encode-refusal").await;
    let _cleanup = Cleanup::queues(&[&q]);

    // The boundary: 255 octets are fine and arrive intact.
    let max: String = "m".repeat(255);
    let props = BasicProperties {
        message_id: Some(max.as_str().into()),
        ..Default::default()
    };
    assert_eq!(
        round_trip(ch, &q, "boundary", props).await,
        GotBack {
            body: "boundary".into(),
            message_id: Some(max.clone()),
            left: 0
        },
        "{mode}: a 255-octet message_id"
    );

    for (i, bad) in bad_publishes(&q).into_iter().enumerate() {
        let body = format!("refused {i}");
        let result = step(
            &format!("{mode}: publish with {}", bad.what),
            ch.basic_publish(
                &bad.exchange,
                &bad.routing_key,
                Default::default(),
                bad.properties,
                body,
            ),
        )
        .await;
        match result {
            Err(Error::Encode(EncodeError::ShortStringTooLong(256))) => {}
            other => panic!(
                "{mode}: a publish with {} should fail with Encode(ShortStringTooLong(256)), \
                 got {other:?}",
                bad.what
            ),
        }
        assert!(
            ch.error().is_none(),
            "{mode}: the channel closed after refusing {}: {:?}",
            bad.what,
            ch.error()
        );
        let good = format!("good {i}");
        assert_eq!(
            round_trip(ch, &q, &good, Default::default()).await,
            GotBack {
                body: good.clone(),
                message_id: None,
                left: 0
            },
            "{mode}: the round trip after refusing {}",
            bad.what
        );
    }
    // Nothing of the refused ones arrived, late or otherwise: the queue is empty, and the
    // channel and connection are still open.
    assert_eq!(counts(ch, &q).await, (0, 0), "{mode}: the queue at the end");
    assert!(ch.error().is_none(), "{mode}: {:?}", ch.error());
    assert!(conn.is_open(), "{mode}: {:?}", conn.error());
    assert_eq!(delete(ch, &q).await, 0);
}

#[tokio::test]
async fn unencodable_publishes_are_refused_up_front_without_confirms() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    refusals_leave_the_channel_working(&conn, &ch, "plain").await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn unencodable_publishes_are_refused_up_front_in_confirm_mode() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    refusals_leave_the_channel_working(&conn, &ch, "confirm").await;
    step("connection.close", conn.close()).await.unwrap();
}

/// With one unconfirmed publish allowed, a refused publish that took a window slot (or a confirm
/// sequence number) would make the next good publish wait forever (or be confirmed as another).
#[tokio::test]
async fn unencodable_publishes_take_no_window_slot() {
    amqp_testkit::require_broker();
    let conn = connect_with(config().with_max_in_flight(1)).await;
    let ch = confirm_channel(&conn).await;
    refusals_leave_the_channel_working(&conn, &ch, "confirm, max_in_flight 1").await;
    assert_eq!(ch.unconfirmed(), 0);
    step("connection.close", conn.close()).await.unwrap();
}

// ===== 2. mandatory returns reach their confirms (and next_return) =====

/// Spawns a task that reads `ch`'s returns until `next_return` says the channel ended, sending
/// each on as it comes; the task's result is how many it saw.
fn watch_returns(ch: Channel) -> (mpsc::UnboundedReceiver<Returned>, JoinHandle<usize>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut seen = 0;
        while let Some(returned) = ch.next_return().await {
            seen += 1;
            // The test may have stopped listening; counting is enough then.
            let _ = tx.send(returned);
        }
        seen
    });
    (rx, task)
}

#[tokio::test]
async fn mandatory_confirms_tell_returned_from_routed_publishes() {
    const N: usize = 50;
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "mandatory-mix").await;
    let _cleanup = Cleanup::queues(&[&q]);
    // A prefix no queue has: each unroutable publish gets a key of its own, so a return matched
    // to the wrong publish shows.
    let nowhere = amqp_testkit::unique_name("nowhere");
    let (mut returns, watcher) = watch_returns(ch.clone());

    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let key = |i: usize| {
        if i % 2 == 0 {
            q.clone()
        } else {
            format!("{nowhere}-{i}")
        }
    };
    let body = |i: usize| format!("mandatory {i:02}");
    // All published before any confirm is awaited, so each return must find its own publish
    // among many in flight.
    let mut confirms = Vec::with_capacity(N);
    for i in 0..N {
        let props = BasicProperties {
            message_id: Some(format!("id-{i}").into()),
            ..Default::default()
        };
        confirms.push(
            step(
                "basic.publish",
                ch.basic_publish("", &key(i), mandatory, props, body(i)),
            )
            .await
            .unwrap_or_else(|e| panic!("publish {i}: {e}")),
        );
    }
    for (i, confirm) in confirms.into_iter().enumerate() {
        let outcome = step(&format!("confirm {i}"), confirm.wait()).await;
        if i % 2 == 0 {
            assert!(
                outcome.is_ok(),
                "publish {i} was routed to {q}, yet its confirm says {outcome:?}"
            );
            continue;
        }
        match outcome {
            Err(Error::Returned(r)) => {
                assert_eq!(r.reply_code, ReplyCode::NO_ROUTE, "publish {i}: {r:?}");
                assert_eq!(r.exchange.as_str(), Some(""), "publish {i}");
                assert_eq!(r.routing_key.as_str(), Some(key(i).as_str()), "publish {i}");
                assert_eq!(&r.body[..], body(i).as_bytes(), "publish {i}");
                assert_eq!(
                    r.properties.message_id.as_ref().map(|id| id.to_string()),
                    Some(format!("id-{i}")),
                    "publish {i}"
                );
            }
            other => panic!("publish {i} routed nowhere: expected Err(Returned), got {other:?}"),
        }
    }
    // next_return saw each of them too, in order.
    for i in (1..N).step_by(2) {
        let r = step(&format!("return of publish {i}"), returns.recv())
            .await
            .unwrap_or_else(|| panic!("next_return ended before the return of publish {i}"));
        assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
        assert_eq!(r.routing_key.as_str(), Some(key(i).as_str()));
        assert_eq!(&r.body[..], body(i).as_bytes());
    }
    assert!(returns.try_recv().is_err(), "a return too many");
    assert_eq!(ch.returns_dropped(), 0);
    // The routed half is in the queue, in order, and nothing else.
    let expected: Vec<String> = (0..N).step_by(2).map(body).collect();
    assert_eq!(drain_bodies(&ch, &q).await, expected);
    assert_eq!(delete(&ch, &q).await, 0);
    step("connection.close", conn.close()).await.unwrap();
    let seen = within(ENDS_WITHIN, "next_return to end after the close", watcher)
        .await
        .expect("the return watcher panicked");
    assert_eq!(seen, N / 2);
}

// ===== 3. next_return ends with its channel =====

/// Opens a channel whose returns are watched, and makes sure the watcher is running and waiting
/// in `next_return` (it has already handed on one return) before the caller ends the channel.
async fn watched_channel(conn: &Connection) -> (Channel, JoinHandle<usize>) {
    let ch = confirm_channel(conn).await;
    let (mut returns, watcher) = watch_returns(ch.clone());
    let nowhere = amqp_testkit::unique_name("nowhere");
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let outcome = publish(&ch, "", &nowhere, mandatory, Default::default(), "lost").await;
    assert!(
        matches!(&outcome, Err(Error::Returned(r)) if r.reply_code == ReplyCode::NO_ROUTE),
        "{outcome:?}"
    );
    let r = step("the watcher's first return", returns.recv())
        .await
        .expect("next_return ended early");
    assert_eq!(&r.body[..], b"lost");
    (ch, watcher)
}

/// The watcher must end, having seen exactly the one return.
async fn watcher_ends(watcher: JoinHandle<usize>, after: &str) {
    let seen = within(
        ENDS_WITHIN,
        &format!("next_return to return None after {after}"),
        watcher,
    )
    .await
    .expect("the return watcher panicked");
    assert_eq!(seen, 1, "returns seen before {after}");
}

#[tokio::test]
async fn next_return_ends_after_channel_close() {
    let conn = connect().await;
    let (ch, watcher) = watched_channel(&conn).await;
    step("channel.close", ch.close()).await.unwrap();
    // `ch` (and the watcher's clone) are still alive: only the close can end the loop.
    watcher_ends(watcher, "Channel::close").await;
    assert!(ch.next_return().await.is_none());
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn next_return_ends_after_connection_close() {
    let conn = connect().await;
    let (ch, watcher) = watched_channel(&conn).await;
    step("connection.close", conn.close()).await.unwrap();
    watcher_ends(watcher, "Connection::close").await;
    assert!(ch.next_return().await.is_none());
}

#[tokio::test]
async fn next_return_ends_after_the_broker_closes_the_channel() {
    let conn = connect().await;
    let (ch, watcher) = watched_channel(&conn).await;
    let missing = amqp_testkit::unique_name("missing");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let result = step(
        "passive queue.declare of a missing queue",
        ch.queue_declare(&missing, passive, FieldTable::new()),
    )
    .await;
    expect_channel_closed(result, ReplyCode::NOT_FOUND);
    watcher_ends(watcher, "the broker's channel.close (404)").await;
    assert!(ch.next_return().await.is_none());
    assert!(conn.is_open(), "{:?}", conn.error());
    step("connection.close", conn.close()).await.unwrap();
}

// ===== 4. a dropped consumer gives back its unread deliveries =====

/// Publishes `n` messages `{prefix}-00`, ... to `queue` on a confirm-mode channel.
async fn fill(ch: &Channel, queue: &str, prefix: &str, n: usize) -> Vec<String> {
    let bodies: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:02}")).collect();
    let mut confirms = Vec::with_capacity(n);
    for body in &bodies {
        confirms.push(
            step(
                "basic.publish",
                ch.basic_publish(
                    "",
                    queue,
                    Default::default(),
                    Default::default(),
                    body.clone(),
                ),
            )
            .await
            .expect("basic.publish"),
        );
    }
    for c in confirms {
        step("a confirm", c.wait()).await.expect("confirmed");
    }
    bodies
}

/// Polls a passive queue.declare on `ch` until the queue's (ready, consumers) are `want`; fails
/// after [`SETTLES_WITHIN`], saying what it saw last. For broker state no event announces.
async fn counts_become(ch: &Channel, queue: &str, want: (u32, u32), what: &str) {
    let deadline = tokio::time::Instant::now() + SETTLES_WITHIN;
    loop {
        let now = counts(ch, queue).await;
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: (ready, consumers) should become {want:?} within {SETTLES_WITHIN:?}, \
             last seen {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A consumer on the only channel's last clone could close the channel when dropped, which
/// gives everything back anyway: here channel A stays open throughout, so only the drop itself
/// can give the unread deliveries to the consumer on channel B before A closes.
#[tokio::test]
async fn dropped_consumer_is_cancelled_and_its_unread_deliveries_requeued() {
    const N: usize = 20;
    const PREFETCH: u16 = 10;
    let conn = connect().await;
    let setup = confirm_channel(&conn).await;
    let q = fresh_queue(&setup, "drop-consumer").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let bodies = fill(&setup, &q, "m", N).await;

    let a = channel(&conn).await;
    step("basic.qos", a.basic_qos(PREFETCH, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&a, &q, FieldTable::new()).await;
    for expected in &bodies[..2] {
        let d = next_delivery(&mut consumer, "one of the first two deliveries").await;
        assert_eq!(String::from_utf8_lossy(&d.body), *expected);
        assert!(!d.redelivered);
        step("basic.ack", d.ack()).await.unwrap();
    }
    // The broker refills the prefetch after the two acks: 10 unacked on A, the last 8 ready.
    let ready = (N - 2 - usize::from(PREFETCH)) as u32;
    counts_become(
        &setup,
        &q,
        (ready, 1),
        "the broker to fill A's prefetch again",
    )
    .await;
    drop(consumer);

    // The cancel went out: the broker no longer counts the consumer, and the 10 deliveries
    // A never handed out are ready again, while A is open.
    counts_become(
        &setup,
        &q,
        ((N - 2) as u32, 0),
        "the dropped consumer's cancel and requeue",
    )
    .await;
    assert!(a.error().is_none(), "channel A closed: {:?}", a.error());

    // Another channel's consumer gets all 18, each once, without A closing.
    let b = channel(&conn).await;
    let mut second = consume(&b, &q, FieldTable::new()).await;
    let mut got: BTreeMap<String, bool> = BTreeMap::new();
    for n in 0..N - 2 {
        let d = next_delivery(
            &mut second,
            &format!("delivery {n} of {} on channel B, A still open", N - 2),
        )
        .await;
        let body = String::from_utf8_lossy(&d.body).into_owned();
        if let Some(before) = got.insert(body.clone(), d.redelivered) {
            panic!(
                "{body} delivered twice to B (redelivered {before}, then {})",
                d.redelivered
            );
        }
        step("basic.ack", d.ack()).await.unwrap();
    }
    // Everything already on its way to B comes out before the cancel ends it: nothing more.
    step("basic.cancel on B", second.cancel()).await.unwrap();
    let extra = step("B's consumer to end", second.next()).await;
    assert!(extra.is_none(), "B got more than 18: {extra:?}");

    // m-02..m-11 went to A unread and came back flagged; m-12..m-19 never left the queue.
    let expected: BTreeMap<String, bool> = bodies[2..]
        .iter()
        .enumerate()
        .map(|(i, body)| (body.clone(), i < usize::from(PREFETCH)))
        .collect();
    assert_eq!(got, expected, "(body, redelivered) of what B received");

    // A is still open and usable.
    assert!(a.error().is_none(), "channel A closed: {:?}", a.error());
    assert_eq!(counts(&a, &q).await, (0, 0));
    assert_eq!(delete(&a, &q).await, 0);
    step("channel.close A", a.close()).await.unwrap();
    step("connection.close", conn.close()).await.unwrap();
}

/// A no_ack delivery has nothing to reject: giving it back would be basic.reject of an unknown
/// delivery tag, which RabbitMQ answers by closing the channel with 406.
#[tokio::test]
async fn dropped_no_ack_consumer_leaves_its_channel_open() {
    const N: usize = 200;
    let conn = connect().await;
    let setup = confirm_channel(&conn).await;
    let q = fresh_queue(&setup, "drop-no-ack").await;
    let _cleanup = Cleanup::queues(&[&q]);
    fill(&setup, &q, "n", N).await;

    let a = channel(&conn).await;
    let mut consumer: Consumer = consume_no_ack(&a, &q).await;
    for _ in 0..2 {
        next_delivery(&mut consumer, "a no_ack delivery").await;
    }
    // All 200 have left the queue: 198 are unread in the client (or on their way) at the drop.
    counts_become(&a, &q, (0, 1), "the broker to send every message").await;
    drop(consumer);
    // Polled on A itself. The client sends whatever it gives back together with its
    // basic.cancel, so a declare that sees the consumer gone went out after any such reject,
    // and the broker's 406 for it would have failed that declare or the next one.
    counts_become(&a, &q, (0, 0), "the dropped no_ack consumer's cancel").await;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let after = step(
        "queue.declare on A after the drop",
        a.queue_declare(&q, passive, FieldTable::new()),
    )
    .await;
    assert!(
        after.is_ok(),
        "channel A should stay open after dropping a no_ack consumer, got {after:?}"
    );
    declare(&a, &q, Default::default(), FieldTable::new()).await;
    assert!(a.error().is_none(), "channel A closed: {:?}", a.error());
    delete(&a, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== 5. the broker's cancel names the consumer =====

#[tokio::test]
async fn broker_cancel_names_the_cancelled_consumer() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "cancel-tag").await;
    let _cleanup = Cleanup::queues(&[&q]);
    // One tag of our choice, one of the broker's, and a consumer of another queue that must
    // not be told anything.
    let chosen = amqp_testkit::unique_name("ctag");
    let mut named = step(
        "basic.consume with a tag",
        ch.basic_consume(&q, &chosen, Default::default(), FieldTable::new()),
    )
    .await
    .unwrap();
    let mut unnamed = consume(&ch, &q, FieldTable::new()).await;
    assert_eq!(named.tag(), chosen);
    let broker_tag = unnamed.tag().to_owned();
    assert!(!broker_tag.is_empty() && broker_tag != chosen);
    let other_q = fresh_queue(&ch, "cancel-tag-other").await;
    let _cleanup_other = Cleanup::queues(&[&other_q]);
    let mut bystander = consume(&ch, &other_q, FieldTable::new()).await;

    let other_conn = connect().await;
    let other = channel(&other_conn).await;
    delete(&other, &q).await;

    for (consumer, tag) in [(&mut named, &chosen), (&mut unnamed, &broker_tag)] {
        match step("the broker's basic.cancel", consumer.next()).await {
            Some(Err(Error::ConsumerCancelled { consumer_tag })) => {
                assert_eq!(&consumer_tag, tag, "the tag in ConsumerCancelled");
            }
            other => panic!("consumer {tag}: expected ConsumerCancelled, got {other:?}"),
        }
        assert!(consumer.next().await.is_none(), "{tag} after its end");
    }
    // The channel and the other consumer go on.
    assert!(ch.error().is_none(), "{:?}", ch.error());
    publish_plain(
        &confirm_channel(&other_conn).await,
        "",
        &other_q,
        "still here",
    )
    .await;
    let d = next_delivery(&mut bystander, "the bystander's delivery").await;
    assert_eq!(&d.body[..], b"still here");
    step("basic.ack", d.ack()).await.unwrap();
    drop(bystander);
    delete(&ch, &other_q).await;
    step("connection.close", other_conn.close()).await.unwrap();
    step("connection.close", conn.close()).await.unwrap();
}

// ===== 6. the RPC timeout =====

#[test]
fn rpc_timeout_defaults_to_60_s() {
    assert_eq!(DEFAULT_RPC_TIMEOUT, Duration::from_secs(60));
    assert_eq!(
        ConnectionConfig::default().rpc_timeout,
        Some(DEFAULT_RPC_TIMEOUT)
    );
    assert_eq!(
        ConnectionConfig::from_uri("amqp://guest:guest@127.0.0.1:5672/%2f")
            .unwrap()
            .rpc_timeout,
        Some(DEFAULT_RPC_TIMEOUT)
    );
    let short = ConnectionConfig::default().with_rpc_timeout(Some(Duration::from_secs(5)));
    assert_eq!(short.rpc_timeout, Some(Duration::from_secs(5)));
    assert_eq!(short.with_rpc_timeout(None).rpc_timeout, None);
}

/// Every kind of synchronous call, on a connection with `timeout`.
async fn ordinary_calls_succeed(timeout: Option<Duration>) {
    amqp_testkit::require_broker();
    let conn = connect_with(config().with_rpc_timeout(timeout)).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "rpc-timeout").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("basic.qos", ch.basic_qos(5, Default::default()))
        .await
        .unwrap();
    publish_plain(&ch, "", &q, "one").await;
    publish_plain(&ch, "", &q, "two").await;
    let got = get(&ch, &q, false).await.expect("a message");
    step("basic.ack", got.delivery.ack()).await.unwrap();
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let d = next_delivery(&mut consumer, "the second message").await;
    assert_eq!(&d.body[..], b"two");
    step("basic.ack", d.ack()).await.unwrap();
    step("basic.cancel", consumer.cancel()).await.unwrap();
    assert_eq!(
        step("queue.purge", ch.queue_purge(&q, Default::default()))
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(delete(&ch, &q).await, 0);
    assert!(ch.error().is_none(), "{:?}", ch.error());
    step("channel.close", ch.close()).await.unwrap();
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn ordinary_calls_succeed_with_a_5_s_rpc_timeout() {
    ordinary_calls_succeed(Some(Duration::from_secs(5))).await;
}

#[tokio::test]
async fn ordinary_calls_succeed_without_an_rpc_timeout() {
    ordinary_calls_succeed(None).await;
}

/// An answered call leaves no timer behind: a channel idle for longer than the RPC timeout
/// after its calls were answered is still open.
#[tokio::test]
async fn an_answered_call_leaves_no_rpc_timer_running() {
    const TIMEOUT: Duration = Duration::from_millis(1000);
    amqp_testkit::require_broker();
    let conn = connect_with(config().with_rpc_timeout(Some(TIMEOUT))).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "rpc-idle").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("basic.qos", ch.basic_qos(1, Default::default()))
        .await
        .unwrap();
    // Not synchronisation: the idle time is what is tested, nothing can announce "no timeout".
    tokio::time::sleep(TIMEOUT * 2).await;
    assert!(
        ch.error().is_none(),
        "idle channel closed: {:?}",
        ch.error()
    );
    assert!(conn.is_open(), "{:?}", conn.error());
    assert_eq!(counts(&ch, &q).await, (0, 0));
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== 7. the inbound size limit =====

const BIG: usize = 5000;
const LIMIT: u64 = 1000;

#[track_caller]
fn assert_too_large<T: std::fmt::Debug>(result: &Result<T, Error>, what: &str) {
    assert!(
        matches!(
            result,
            Err(Error::MessageTooLarge {
                body_size,
                limit: LIMIT,
            }) if *body_size == BIG as u64
        ),
        "{what}: expected Err(MessageTooLarge {{ body_size: {BIG}, limit: {LIMIT} }}), got {result:?}"
    );
}

/// Waits until the refused message is ready in `queue` again, then checks it with basic.get on
/// the unlimited channel `normal`: redelivered, every octet intact. It is left in the queue.
async fn still_there(normal: &Channel, queue: &str, body: &[u8], after: &str) {
    counts_become(normal, queue, (1, 0), &format!("the requeue after {after}")).await;
    let got = get(normal, queue, false)
        .await
        .unwrap_or_else(|| panic!("the message is gone after {after}"));
    assert!(got.delivery.redelivered, "redelivered after {after}");
    assert_eq!(got.delivery.body.len(), BIG, "its length after {after}");
    assert_eq!(
        first_difference(&got.delivery.body, body),
        None,
        "its body after {after}"
    );
    step("basic.reject requeue", got.delivery.reject(true))
        .await
        .unwrap();
    counts_become(normal, queue, (1, 0), &format!("the reject after {after}")).await;
}

#[tokio::test]
async fn an_inbound_message_over_the_limit_is_refused_and_kept() {
    let normal_conn = connect().await;
    let normal = confirm_channel(&normal_conn).await;
    let q = fresh_queue(&normal, "too-large").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let body = pseudo_random_body(BIG, 9);
    let confirm = step(
        "publishing 5,000 octets",
        normal.basic_publish("", &q, Default::default(), Default::default(), body.clone()),
    )
    .await
    .unwrap();
    step("its confirm", confirm.wait()).await.unwrap();

    let limited = connect_with(config().with_max_message_size(LIMIT)).await;

    // A consumer.
    let ch = channel(&limited).await;
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let first = step("the consumer's first item", consumer.next())
        .await
        .expect("the consumer ended without an error");
    assert_too_large(&first.map(|d| d.body.len()), "Consumer::next");
    assert_too_large(
        &ch.error().map_or(Ok(()), Err),
        "the consumer channel's error()",
    );
    let end = step("the consumer's end", consumer.next()).await;
    assert!(
        end.is_none(),
        "the consumer went on after the error: {end:?}"
    );
    assert!(
        limited.is_open(),
        "the connection closed: {:?}",
        limited.error()
    );
    let other = channel(&limited).await;
    declare(&other, &q, Default::default(), FieldTable::new()).await;
    still_there(&normal, &q, &body, "Consumer::next's refusal").await;

    // basic.get.
    let get_ch = channel(&limited).await;
    let got = step(
        "basic.get of 5,000 octets",
        get_ch.basic_get(&q, Default::default()),
    )
    .await;
    assert_too_large(&got.map(|g| g.map(|g| g.delivery.body.len())), "basic_get");
    assert_too_large(
        &get_ch.error().map_or(Ok(()), Err),
        "the get channel's error()",
    );
    assert!(
        limited.is_open(),
        "the connection closed: {:?}",
        limited.error()
    );
    let other = channel(&limited).await;
    declare(&other, &q, Default::default(), FieldTable::new()).await;
    still_there(&normal, &q, &body, "basic_get's refusal").await;

    assert_eq!(delete(&normal, &q).await, 1);
    step("connection.close", limited.close()).await.unwrap();
    step("connection.close", normal_conn.close()).await.unwrap();
}
