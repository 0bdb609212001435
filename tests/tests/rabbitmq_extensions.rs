//! RabbitMQ's extensions to AMQP 0-9-1, reached through queue arguments and message
//! properties, each shown working against the real broker: dead-letter exchanges with per-queue
//! and per-message TTL (and the `x-death` header), max-length with both overflow behaviours,
//! quorum queues, streams (read from `first`, an offset and a timestamp), priority queues and
//! direct reply-to. Each also shows what the broker refuses coming back typed, with its code and
//! text: as a channel error after which the connection goes on, except for the two stream
//! refusals that RabbitMQ 3.10 makes connection errors (540 NOT_IMPLEMENTED).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqp_client::{
    BasicConsumeOptions, BasicGetOptions, BasicProperties, Channel, Connection, DeadLetterReason,
    Delivery, Error, ExchangeDeclareOptions, FieldTable, FieldValue, QueueDeclareOptions,
    ReplyCode, XDeath,
};
use common::*;

/// RabbitMQ's pseudo-queue for direct reply-to: consumed (no-ack) by the requester, named in
/// `reply_to`, never declared.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

// ===== helpers =====

/// Publishes one message and waits for its confirm (the channel must be in confirm mode).
async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    properties: BasicProperties,
    body: &str,
) {
    publish(
        ch,
        exchange,
        routing_key,
        Default::default(),
        properties,
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("publish of {body:?} not confirmed: {e}"));
}

/// The body as text (every body in these tests is).
fn body(delivery: &Delivery) -> &str {
    std::str::from_utf8(&delivery.body).expect("a UTF-8 body")
}

/// One application header of a delivery.
fn header<'a>(delivery: &'a Delivery, key: &str) -> Option<&'a FieldValue> {
    delivery.properties.headers.as_ref()?.get(key)
}

/// The delivery's `x-death` entries, most recent first.
fn x_death(delivery: &Delivery) -> Vec<XDeath> {
    delivery
        .properties
        .headers
        .as_ref()
        .map(XDeath::from_headers)
        .unwrap_or_default()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// Options and arguments for a durable queue: quorum queues and streams must be durable.
fn durable_with(arguments: FieldTable) -> (QueueDeclareOptions, FieldTable) {
    (QueueDeclareOptions::durable(), arguments)
}

/// Runs `call` on a fresh channel of `conn`, expects the broker to close that channel with
/// `code`, and checks that the connection is still open; returns the broker's text.
async fn refused<T, F, Fut>(conn: &Connection, what: &str, code: ReplyCode, call: F) -> String
where
    T: std::fmt::Debug,
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let ch = channel(conn).await;
    let result = step(what, call(ch.clone())).await;
    let text = match &result {
        Err(Error::ChannelClosed(reason)) if reason.reply_code == code => reason.reply_text.clone(),
        other => panic!("{what}: expected the channel to be closed with {code}, got {other:?}"),
    };
    assert!(
        matches!(ch.error(), Some(Error::ChannelClosed(r)) if r.reply_code == code),
        "{what}: the channel should know why it closed: {:?}",
        ch.error()
    );
    assert!(
        conn.is_open(),
        "{what}: a channel error must not close the connection"
    );
    text
}

/// Runs `call` on a channel of a connection of its own, and expects the broker to close that
/// whole connection with `code` (a hard error); returns the broker's text.
async fn refused_hard<T, F, Fut>(what: &str, code: ReplyCode, call: F) -> String
where
    T: std::fmt::Debug,
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let conn = connect().await;
    let ch = channel(&conn).await;
    let result = step(what, call(ch)).await;
    let text = match &result {
        Err(Error::ConnectionClosed(reason)) if reason.reply_code == code => {
            reason.reply_text.clone()
        }
        other => panic!("{what}: expected the connection to be closed with {code}, got {other:?}"),
    };
    assert!(!conn.is_open(), "{what}: the connection should be closed");
    text
}

// ===== dead-letter exchanges, TTL =====

#[tokio::test]
async fn message_expired_by_the_queue_ttl_reaches_the_dead_letter_queue_with_x_death() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let dlx = amqp_testkit::unique_name("ext-dlx");
    let dlq = amqp_testkit::unique_name("ext-dlq");
    let source = amqp_testkit::unique_name("ext-ttl");
    let _cleanup = Cleanup::queues(&[&dlq, &source]);
    // Auto-delete: should the test fail before deleting it, it goes with its last binding when
    // the cleanup deletes the queue.
    let auto_delete = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    step(
        "exchange.declare",
        ch.exchange_declare(&dlx, "fanout", auto_delete, FieldTable::new()),
    )
    .await
    .unwrap();
    declare(&ch, &dlq, Default::default(), FieldTable::new()).await;
    bind(&ch, &dlq, &dlx, "").await;
    let args = FieldTable::new()
        .with("x-message-ttl", 50i32)
        .with("x-dead-letter-exchange", dlx.as_str());
    declare(&ch, &source, Default::default(), args).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let mut dead = consume(&ch, &dlq, FieldTable::new()).await;

    let before = now_secs();
    publish_confirmed(&ch, "", &source, Default::default(), "short-lived").await;
    let delivery = next_delivery(&mut dead, "the expired message in the dead-letter queue").await;
    assert_eq!(body(&delivery), "short-lived");
    assert_eq!(delivery.exchange, dlx.as_str(), "republished to the DLX");
    assert_eq!(
        delivery.routing_key,
        source.as_str(),
        "the original routing key"
    );
    let deaths = x_death(&delivery);
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    let death = &deaths[0];
    assert_eq!(death.queue, source);
    assert_eq!(death.reason, DeadLetterReason::Expired);
    assert_eq!(death.count, 1);
    assert_eq!(
        death.exchange, "",
        "it was published to the default exchange"
    );
    assert_eq!(death.routing_keys, [source.as_str()]);
    let time = death.time.expect("x-death carries the time of death");
    assert!(
        (before..=now_secs()).contains(&time),
        "{time} not in {before}.."
    );
    assert_eq!(
        death.original_expiration, None,
        "no per-message TTL was set"
    );
    assert_eq!(
        header(&delivery, "x-first-death-reason").and_then(FieldValue::as_str),
        Some("expired")
    );
    delivery.ack().await.unwrap();
    assert_eq!(
        counts(&ch, &source).await,
        (0, 0),
        "the source queue is empty"
    );

    step("basic.cancel", dead.cancel()).await.unwrap();
    delete(&ch, &source).await;
    delete(&ch, &dlq).await;
    step(
        "exchange.delete",
        ch.exchange_delete(&dlx, Default::default()),
    )
    .await
    .unwrap();
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn message_expired_by_its_expiration_property_is_dead_lettered_with_its_original_expiration()
{
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let dlq = amqp_testkit::unique_name("ext-dlq");
    let source = amqp_testkit::unique_name("ext-msg-ttl");
    let _cleanup = Cleanup::queues(&[&dlq, &source]);
    declare(&ch, &dlq, Default::default(), FieldTable::new()).await;
    // The default exchange as DLX, with a dead-letter routing key naming the queue: no
    // exchange to declare.
    let args = FieldTable::new()
        .with("x-dead-letter-exchange", "")
        .with("x-dead-letter-routing-key", dlq.as_str());
    declare(&ch, &source, Default::default(), args).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let mut dead = consume(&ch, &dlq, FieldTable::new()).await;

    // The broker only expires a message at the head of its queue: the expiring one goes first.
    let short = BasicProperties {
        expiration: Some("20".into()),
        ..Default::default()
    };
    publish_confirmed(&ch, "", &source, short, "expires").await;
    publish_confirmed(&ch, "", &source, Default::default(), "stays").await;
    let delivery = next_delivery(&mut dead, "the expired message in the dead-letter queue").await;
    assert_eq!(body(&delivery), "expires");
    assert_eq!(
        delivery.routing_key,
        dlq.as_str(),
        "the dead-letter routing key"
    );
    assert_eq!(
        delivery.properties.expiration, None,
        "the dead-lettered copy must not expire again"
    );
    let deaths = x_death(&delivery);
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert_eq!(deaths[0].reason, DeadLetterReason::Expired);
    assert_eq!(deaths[0].queue, source);
    assert_eq!(deaths[0].routing_keys, [source.as_str()]);
    assert_eq!(deaths[0].original_expiration.as_deref(), Some("20"));
    delivery.ack().await.unwrap();
    assert_eq!(
        counts(&ch, &source).await,
        (1, 0),
        "the message without TTL stays"
    );

    step("basic.cancel", dead.cancel()).await.unwrap();
    delete(&ch, &source).await;
    delete(&ch, &dlq).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn rejected_message_is_dead_lettered_and_a_second_death_adds_a_second_x_death_entry() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let first = amqp_testkit::unique_name("ext-reject-1");
    let second = amqp_testkit::unique_name("ext-reject-2");
    let last = amqp_testkit::unique_name("ext-reject-dlq");
    let _cleanup = Cleanup::queues(&[&first, &second, &last]);
    let dead_letter_to = |queue: &str| {
        FieldTable::new()
            .with("x-dead-letter-exchange", "")
            .with("x-dead-letter-routing-key", queue)
    };
    declare(&ch, &last, Default::default(), FieldTable::new()).await;
    declare(&ch, &second, Default::default(), dead_letter_to(&last)).await;
    declare(&ch, &first, Default::default(), dead_letter_to(&second)).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_confirmed(&ch, "", &first, Default::default(), "unwanted").await;

    // Rejected in `first`, then nacked in `second`: two deaths, most recent first.
    let mut c1 = consume(&ch, &first, FieldTable::new()).await;
    next_delivery(&mut c1, "the message in the first queue")
        .await
        .reject(false)
        .await
        .unwrap();
    let mut c2 = consume(&ch, &second, FieldTable::new()).await;
    let d2 = next_delivery(&mut c2, "the message in the second queue").await;
    assert_eq!(x_death(&d2).len(), 1);
    d2.nack(false).await.unwrap();
    let mut c3 = consume(&ch, &last, FieldTable::new()).await;
    let d3 = next_delivery(&mut c3, "the message in the last queue").await;
    assert_eq!(body(&d3), "unwanted");
    let deaths = x_death(&d3);
    let seen: Vec<_> = deaths
        .iter()
        .map(|d| (d.queue.as_str(), d.reason.clone(), d.count))
        .collect();
    assert_eq!(
        seen,
        [
            (second.as_str(), DeadLetterReason::Rejected, 1),
            (first.as_str(), DeadLetterReason::Rejected, 1)
        ]
    );
    assert_eq!(
        header(&d3, "x-first-death-queue").and_then(FieldValue::as_str),
        Some(first.as_str())
    );
    d3.ack().await.unwrap();

    for c in [&c1, &c2, &c3] {
        step("basic.cancel", c.cancel()).await.unwrap();
    }
    for q in [&first, &second, &last] {
        delete(&ch, q).await;
    }
    step("connection.close", conn.close()).await.unwrap();
}

// ===== max-length =====

#[tokio::test]
async fn max_length_with_reject_publish_nacks_until_there_is_room_again() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("ext-maxlen-reject");
    let _cleanup = Cleanup::queues(&[&q]);
    let args = FieldTable::new()
        .with("x-max-length", 2i32)
        .with("x-overflow", "reject-publish");
    declare(&ch, &q, Default::default(), args).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_confirmed(&ch, "", &q, Default::default(), "one").await;
    publish_confirmed(&ch, "", &q, Default::default(), "two").await;
    let full = step(
        "publish to the full queue",
        ch.basic_publish("", &q, Default::default(), Default::default(), "three"),
    )
    .await
    .expect("basic.publish");
    assert!(
        matches!(step("its confirm", full.wait()).await, Err(Error::Nacked)),
        "a publish over x-max-length with reject-publish is nacked"
    );
    assert_eq!(counts(&ch, &q).await, (2, 0));
    assert!(ch.error().is_none(), "a nack does not close the channel");

    // Take one out: the next publish is accepted again.
    let got = step(
        "basic.get",
        ch.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("a message");
    assert_eq!(&got.delivery.body[..], b"one");
    publish_confirmed(&ch, "", &q, Default::default(), "four").await;
    assert_eq!(counts(&ch, &q).await, (2, 0));
    assert_eq!(delete(&ch, &q).await, 2);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn max_length_with_drop_head_dead_letters_the_oldest_with_reason_maxlen() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("ext-maxlen-drop");
    let dlq = amqp_testkit::unique_name("ext-maxlen-dlq");
    let _cleanup = Cleanup::queues(&[&q, &dlq]);
    declare(&ch, &dlq, Default::default(), FieldTable::new()).await;
    let args = FieldTable::new()
        .with("x-max-length", 1i32)
        .with("x-dead-letter-exchange", "")
        .with("x-dead-letter-routing-key", dlq.as_str());
    declare(&ch, &q, Default::default(), args).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_confirmed(&ch, "", &q, Default::default(), "oldest").await;
    publish_confirmed(&ch, "", &q, Default::default(), "newest").await;

    let mut dead = consume(&ch, &dlq, FieldTable::new()).await;
    let delivery = next_delivery(&mut dead, "the dropped message").await;
    assert_eq!(body(&delivery), "oldest");
    let deaths = x_death(&delivery);
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert_eq!(deaths[0].reason, DeadLetterReason::MaxLen);
    delivery.ack().await.unwrap();
    let kept = step(
        "basic.get",
        ch.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("a message");
    assert_eq!(&kept.delivery.body[..], b"newest");

    step("basic.cancel", dead.cancel()).await.unwrap();
    delete(&ch, &q).await;
    delete(&ch, &dlq).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== priority queues =====

#[tokio::test]
async fn priority_queue_delivers_higher_priorities_first_and_fifo_within_one() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("ext-priority");
    let _cleanup = Cleanup::queues(&[&q]);
    declare(
        &ch,
        &q,
        Default::default(),
        FieldTable::new().with("x-max-priority", 10u8),
    )
    .await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let published = [
        (1, "low"),
        (5, "mid-a"),
        (0, "lowest"),
        (9, "high"),
        (5, "mid-b"),
    ];
    for (priority, text) in published {
        let props = BasicProperties {
            priority: Some(priority),
            ..Default::default()
        };
        publish_confirmed(&ch, "", &q, props, text).await;
    }
    let mut order = Vec::new();
    while let Some(got) = step(
        "basic.get",
        ch.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    {
        let d = got.delivery;
        order.push((d.properties.priority, body(&d).to_owned()));
    }
    let expected: Vec<_> = [
        (9, "high"),
        (5, "mid-a"),
        (5, "mid-b"),
        (1, "low"),
        (0, "lowest"),
    ]
    .iter()
    .map(|(p, t)| (Some(*p), t.to_string()))
    .collect();
    assert_eq!(order, expected);
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== quorum queues =====

#[tokio::test]
async fn quorum_queue_counts_redeliveries_and_dead_letters_over_its_delivery_limit() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("ext-quorum");
    let dlq = amqp_testkit::unique_name("ext-quorum-dlq");
    let _cleanup = Cleanup::queues(&[&q, &dlq]);
    declare(&ch, &dlq, Default::default(), FieldTable::new()).await;
    let (options, args) = durable_with(
        FieldTable::new()
            .with("x-queue-type", "quorum")
            .with("x-delivery-limit", 1i32)
            .with("x-dead-letter-exchange", "")
            .with("x-dead-letter-routing-key", dlq.as_str()),
    );
    let ok = declare(&ch, &q, options, args).await;
    assert_eq!(ok.queue.as_str(), Some(q.as_str()));
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    publish_confirmed(
        &ch,
        "",
        &q,
        BasicProperties::default().persistent(),
        "poison",
    )
    .await;
    assert_eq!(counts(&ch, &q).await, (1, 0));

    step("basic.qos", ch.basic_qos(1, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let first = next_delivery(&mut consumer, "the first delivery").await;
    assert_eq!(body(&first), "poison");
    assert!(!first.redelivered);
    assert_eq!(header(&first, "x-delivery-count"), None);
    first.nack(true).await.unwrap();
    // A quorum queue counts returns in `x-delivery-count`...
    let again = next_delivery(&mut consumer, "the requeued message again").await;
    assert_eq!(body(&again), "poison");
    assert!(again.redelivered);
    assert_eq!(
        header(&again, "x-delivery-count").and_then(FieldValue::as_i64),
        Some(1)
    );
    // ...and one return more than `x-delivery-limit` dead-letters it instead of requeueing.
    again.nack(true).await.unwrap();
    let mut dead = consume(&ch, &dlq, FieldTable::new()).await;
    let delivery = next_delivery(&mut dead, "the message over its delivery limit").await;
    assert_eq!(body(&delivery), "poison");
    let deaths = x_death(&delivery);
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert_eq!(deaths[0].reason, DeadLetterReason::DeliveryLimit);
    assert_eq!(deaths[0].queue, q);
    delivery.ack().await.unwrap();

    step("basic.cancel", consumer.cancel()).await.unwrap();
    step("basic.cancel", dead.cancel()).await.unwrap();
    assert_eq!(delete(&ch, &q).await, 0);
    delete(&ch, &dlq).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn quorum_queue_refusals_are_406_channel_errors_and_the_connection_goes_on() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let q = amqp_testkit::unique_name("ext-quorum-406");
    let other = amqp_testkit::unique_name("ext-quorum-transient");
    // `other` is refused every time; should the broker accept it after all, it goes too.
    let _cleanup = Cleanup::queues(&[&q, &other]);
    let quorum = || FieldTable::new().with("x-queue-type", "quorum");
    let ch = channel(&conn).await;
    let (options, args) = durable_with(quorum());
    declare(&ch, &q, options, args).await;

    let text = refused(
        &conn,
        "redeclaring the quorum queue as classic",
        ReplyCode::PRECONDITION_FAILED,
        |ch| {
            let q = q.clone();
            async move {
                let (options, args) =
                    durable_with(FieldTable::new().with("x-queue-type", "classic"));
                ch.queue_declare(&q, options, args).await
            }
        },
    )
    .await;
    assert!(
        text.contains("inequivalent arg 'x-queue-type'") && text.contains("current is 'quorum'"),
        "{text}"
    );

    let text = refused(
        &conn,
        "a non-durable quorum queue",
        ReplyCode::PRECONDITION_FAILED,
        |ch| {
            let other = other.clone();
            async move { ch.queue_declare(&other, Default::default(), quorum()).await }
        },
    )
    .await;
    assert!(text.contains("non-durable"), "{text}");

    let text = refused(
        &conn,
        "an exclusive quorum queue",
        ReplyCode::PRECONDITION_FAILED,
        |ch| {
            let other = other.clone();
            async move {
                let options = QueueDeclareOptions {
                    durable: true,
                    exclusive: true,
                    ..Default::default()
                };
                ch.queue_declare(&other, options, quorum()).await
            }
        },
    )
    .await;
    assert!(text.contains("exclusive"), "{text}");

    // The first channel is untouched and the queue still a quorum queue.
    let (options, args) = durable_with(quorum());
    declare(&ch, &q, options, args).await;
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== streams =====

/// Publishes `bodies` to the stream `q`, one confirm each, so each lands in its own chunk.
async fn publish_all(ch: &Channel, q: &str, bodies: &[String]) {
    for b in bodies {
        publish_confirmed(ch, "", q, BasicProperties::default().persistent(), b).await;
    }
}

/// Reads `n` deliveries from the stream `q`, starting at `offset` (`x-stream-offset`), on a
/// fresh channel with a prefetch as streams require; returns (offset header, body) pairs.
async fn read_stream(
    conn: &Connection,
    q: &str,
    offset: impl Into<FieldValue>,
    n: usize,
) -> Vec<(i64, String)> {
    let ch = channel(conn).await;
    step("basic.qos", ch.basic_qos(100, Default::default()))
        .await
        .unwrap();
    let args = FieldTable::new().with("x-stream-offset", offset);
    let mut consumer = consume(&ch, q, args).await;
    let mut seen = Vec::new();
    for _ in 0..n {
        let d = next_delivery(&mut consumer, "a message from the stream").await;
        let offset = header(&d, "x-stream-offset")
            .and_then(FieldValue::as_i64)
            .expect("every stream delivery carries its x-stream-offset");
        seen.push((offset, body(&d).to_owned()));
        d.ack().await.unwrap();
    }
    step("basic.cancel", consumer.cancel()).await.unwrap();
    // Nothing more than `n`: the consumer ends with no further delivery.
    let rest = step("the consumer's end", consumer.next()).await;
    assert!(rest.is_none(), "more than {n} messages: {rest:?}");
    step("channel.close", ch.close()).await.unwrap();
    seen
}

#[tokio::test]
async fn stream_is_read_from_first_from_an_offset_and_from_a_timestamp() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("ext-stream");
    let _cleanup = Cleanup::queues(&[&q]);
    let (options, args) = durable_with(FieldTable::new().with("x-queue-type", "stream"));
    declare(&ch, &q, options, args).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let early: Vec<String> = (0..4).map(|i| format!("early-{i}")).collect();
    publish_all(&ch, &q, &early).await;

    // Timestamps are whole seconds: wait for the clock to pass into a new second, so the
    // later messages are stored in chunks stamped at or after `later_from` and the earlier
    // ones before it. No event announces a clock tick, so this one sleep is the wait.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let later_from = now.as_secs() + 1;
    tokio::time::sleep(Duration::from_secs(later_from) - now + Duration::from_millis(50)).await;
    assert!(now_secs() >= later_from);
    let later: Vec<String> = (0..2).map(|i| format!("later-{i}")).collect();
    publish_all(&ch, &q, &later).await;

    let all: Vec<(i64, String)> = early
        .iter()
        .chain(&later)
        .enumerate()
        .map(|(i, b)| (i as i64, b.clone()))
        .collect();
    assert_eq!(read_stream(&conn, &q, "first", all.len()).await, all);
    // Reading does not consume: the same messages again, from offset 2.
    assert_eq!(read_stream(&conn, &q, 2i64, all.len() - 2).await, all[2..]);
    assert_eq!(
        read_stream(&conn, &q, FieldValue::Timestamp(later_from), later.len()).await,
        all[early.len()..]
    );

    // "next": only what is published after the consumer attached (at consume-ok).
    let reader = channel(&conn).await;
    step("basic.qos", reader.basic_qos(10, Default::default()))
        .await
        .unwrap();
    let mut tail = consume(
        &reader,
        &q,
        FieldTable::new().with("x-stream-offset", "next"),
    )
    .await;
    publish_all(&ch, &q, &["after-attach".to_owned()]).await;
    let d = next_delivery(&mut tail, "the message published after attaching").await;
    assert_eq!(body(&d), "after-attach");
    assert_eq!(
        header(&d, "x-stream-offset").and_then(FieldValue::as_i64),
        Some(all.len() as i64)
    );
    d.ack().await.unwrap();
    step("basic.cancel", tail.cancel()).await.unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn stream_refusals_are_typed_errors_with_the_broker_code_and_text() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let q = amqp_testkit::unique_name("ext-stream-refusals");
    let other = amqp_testkit::unique_name("ext-stream-transient");
    let _cleanup = Cleanup::queues(&[&q, &other]);
    let stream = || FieldTable::new().with("x-queue-type", "stream");
    let ch = channel(&conn).await;
    let (options, args) = durable_with(stream());
    declare(&ch, &q, options, args).await;

    let text = refused(
        &conn,
        "consuming a stream without basic.qos",
        ReplyCode::PRECONDITION_FAILED,
        |ch| {
            let q = q.clone();
            async move {
                ch.basic_consume(&q, "", Default::default(), FieldTable::new())
                    .await
            }
        },
    )
    .await;
    assert!(text.contains("prefetch count is not set"), "{text}");

    let text = refused(
        &conn,
        "a non-durable stream",
        ReplyCode::PRECONDITION_FAILED,
        |ch| {
            let other = other.clone();
            async move { ch.queue_declare(&other, Default::default(), stream()).await }
        },
    )
    .await;
    assert!(text.contains("non-durable"), "{text}");

    // Two refusals RabbitMQ makes connection errors (540 NOT_IMPLEMENTED, hard), not channel
    // errors: each on a connection of its own, which closes while `conn` goes on.
    let text = refused_hard(
        "consuming a stream with no_ack",
        ReplyCode::NOT_IMPLEMENTED,
        |ch| {
            let q = q.clone();
            async move {
                ch.basic_qos(10, Default::default()).await?;
                let no_ack = BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                };
                ch.basic_consume(&q, "", no_ack, FieldTable::new()).await
            }
        },
    )
    .await;
    assert!(text.contains("automatic acknowledgement"), "{text}");
    let text = refused_hard(
        "basic.get from a stream",
        ReplyCode::NOT_IMPLEMENTED,
        |ch| {
            let q = q.clone();
            async move { ch.basic_get(&q, Default::default()).await }
        },
    )
    .await;
    assert!(text.contains("basic.get not supported"), "{text}");
    assert!(conn.is_open());

    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== direct reply-to =====

#[tokio::test]
async fn direct_reply_to_carries_a_reply_back_with_its_correlation_id() {
    amqp_testkit::require_broker();
    let requester = connect().await;
    let responder = connect().await;
    let rq = channel(&requester).await;
    let rs = channel(&responder).await;
    let service = amqp_testkit::unique_name("ext-rpc");
    let _cleanup = Cleanup::queues(&[&service]);
    declare(&rs, &service, Default::default(), FieldTable::new()).await;
    let mut requests = consume(&rs, &service, FieldTable::new()).await;

    // The requester consumes the pseudo-queue (no-ack, as RabbitMQ requires) before it
    // publishes a request naming it.
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut replies = step(
        "basic.consume amq.rabbitmq.reply-to",
        rq.basic_consume(DIRECT_REPLY_TO, "", no_ack, FieldTable::new()),
    )
    .await
    .expect("consume from amq.rabbitmq.reply-to");
    let request = BasicProperties {
        reply_to: Some(DIRECT_REPLY_TO.into()),
        correlation_id: Some("request-7".into()),
        ..Default::default()
    };
    // No confirm mode on this channel: the publish has nothing to wait for.
    drop(
        step(
            "the request",
            rq.basic_publish("", &service, Default::default(), request, "ping"),
        )
        .await
        .unwrap(),
    );

    let req = next_delivery(&mut requests, "the request at the responder").await;
    assert_eq!(body(&req), "ping");
    // The broker rewrites the pseudo-queue's name into one that routes to this requester.
    let reply_to = req.properties.reply_to.clone().expect("a reply_to");
    let reply_to = reply_to.to_string();
    assert!(
        reply_to.starts_with(&format!("{DIRECT_REPLY_TO}.")),
        "{reply_to}"
    );
    let reply = BasicProperties {
        correlation_id: req.properties.correlation_id.clone(),
        ..Default::default()
    };
    drop(
        step(
            "the reply",
            rs.basic_publish("", &reply_to, Default::default(), reply, "pong"),
        )
        .await
        .unwrap(),
    );
    req.ack().await.unwrap();

    let answer = next_delivery(&mut replies, "the reply at the requester").await;
    assert_eq!(body(&answer), "pong");
    assert_eq!(
        answer
            .properties
            .correlation_id
            .as_ref()
            .map(|c| c.to_string()),
        Some("request-7".to_owned())
    );
    assert_eq!(answer.routing_key, reply_to.as_str());

    step("basic.cancel", requests.cancel()).await.unwrap();
    delete(&rs, &service).await;
    step("requester close", requester.close()).await.unwrap();
    step("responder close", responder.close()).await.unwrap();
}

#[tokio::test]
async fn direct_reply_to_refusals_are_406_channel_errors_and_the_connection_goes_on() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let service = amqp_testkit::unique_name("ext-rpc-refused");
    let _cleanup = Cleanup::queues(&[&service]);
    let ch = channel(&conn).await;
    declare(&ch, &service, Default::default(), FieldTable::new()).await;

    let text = refused(
        &conn,
        "publishing with reply_to amq.rabbitmq.reply-to before consuming it",
        ReplyCode::PRECONDITION_FAILED,
        |ch| {
            let service = service.clone();
            async move {
                let props = BasicProperties {
                    reply_to: Some(DIRECT_REPLY_TO.into()),
                    ..Default::default()
                };
                drop(
                    ch.basic_publish("", &service, Default::default(), props, "ping")
                        .await?,
                );
                // basic.publish has no reply: a round trip makes the broker's close arrive.
                ch.basic_qos(1, Default::default()).await
            }
        },
    )
    .await;
    assert!(
        text.contains("fast reply consumer does not exist"),
        "{text}"
    );

    let text = refused(
        &conn,
        "consuming amq.rabbitmq.reply-to with acks",
        ReplyCode::PRECONDITION_FAILED,
        |ch| async move {
            ch.basic_consume(DIRECT_REPLY_TO, "", Default::default(), FieldTable::new())
                .await
        },
    )
    .await;
    assert!(text.contains("reply consumer cannot acknowledge"), "{text}");

    assert_eq!(
        counts(&ch, &service).await,
        (0, 0),
        "no request got through"
    );
    delete(&ch, &service).await;
    step("connection.close", conn.close()).await.unwrap();
}

// ===== invalid arguments =====

#[tokio::test]
async fn invalid_extension_arguments_are_406_channel_errors_and_the_connection_goes_on() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let q = amqp_testkit::unique_name("ext-bad-args");
    let _cleanup = Cleanup::queues(&[&q]);
    let cases = [
        ("x-message-ttl", FieldValue::from(-1i32)),
        ("x-overflow", FieldValue::from("drop-everything")),
        ("x-max-priority", FieldValue::from("high")),
        ("x-max-length", FieldValue::from("two")),
        ("x-queue-type", FieldValue::from("bogus")),
        ("x-dead-letter-exchange", FieldValue::from(7i32)),
    ];
    for (key, value) in cases {
        let what = format!("queue.declare with {key} = {value:?}");
        let text = refused(&conn, &what, ReplyCode::PRECONDITION_FAILED, |ch| {
            let (q, value) = (q.clone(), value.clone());
            async move {
                ch.queue_declare(&q, Default::default(), FieldTable::new().with(key, value))
                    .await
            }
        })
        .await;
        assert!(text.contains(key), "{what}: {text}");
    }
    // None of them created the queue.
    let ch = channel(&conn).await;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let gone = step(
        "passive declare",
        ch.queue_declare(&q, passive, FieldTable::new()),
    )
    .await;
    expect_channel_closed(gone, ReplyCode::NOT_FOUND);
    step("connection.close", conn.close()).await.unwrap();
}
