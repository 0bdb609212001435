//! Helpers shared by the integration test files (`mod common;` in each).
//!
//! Every test binary uses only some of them. Beyond connecting and queues: confirmed publishes,
//! one-message gets, and running Python's pika. The clean-up guard is the kit's
//! [`Cleanup`](amqp_testkit::Cleanup), re-exported here.
#![allow(dead_code)]

#[allow(unused_imports)] // not every test binary uses it
pub(crate) use amqp_testkit::Cleanup;

use std::future::Future;
use std::time::{Duration, Instant};

use amqp_client::{
    BasicConsumeOptions, BasicGetOptions, BasicProperties, BasicPublishOptions, Channel,
    Connection, ConnectionConfig, Consumer, Delivery, Error, ExchangeDeclareOptions, FieldTable,
    GetOk, QueueDeclareOk, QueueDeclareOptions, ReplyCode,
};

/// Upper bound for one broker round trip in these tests: generous, because CI machines are
/// small and shared, but a bug still fails in seconds instead of hanging.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// Awaits `fut`, panicking with `what` if it takes longer than `limit`.
pub(crate) async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// [`within`] [`STEP`], for one ordinary broker round trip.
pub(crate) async fn step<F: Future>(what: &str, fut: F) -> F::Output {
    within(STEP, what, fut).await
}

/// The shared broker's connection settings.
pub(crate) fn config() -> ConnectionConfig {
    ConnectionConfig::from_uri(&amqp_testkit::amqp_url()).expect("AMQP_URL parses")
}

/// Connects to the shared broker (after [`amqp_testkit::require_broker`]).
pub(crate) async fn connect() -> Connection {
    amqp_testkit::require_broker();
    connect_with(config()).await
}

/// Connects with `config`, panicking on failure.
pub(crate) async fn connect_with(config: ConnectionConfig) -> Connection {
    let shown = config.to_string();
    step(
        &format!("connecting to {shown}"),
        Connection::connect(config),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot connect to {shown}: {e}"))
}

/// Opens a channel, panicking on failure.
pub(crate) async fn channel(conn: &Connection) -> Channel {
    step("channel.open", conn.open_channel())
        .await
        .expect("channel.open")
}

/// Declares a fresh, uniquely named, non-durable queue `prefix-...`.
pub(crate) async fn fresh_queue(ch: &Channel, prefix: &str) -> String {
    let name = amqp_testkit::unique_name(prefix);
    declare(ch, &name, QueueDeclareOptions::default(), FieldTable::new()).await;
    name
}

/// queue.declare (without `nowait`), panicking on failure or if no declare-ok comes.
pub(crate) async fn declare(
    ch: &Channel,
    name: &str,
    options: QueueDeclareOptions,
    arguments: FieldTable,
) -> QueueDeclareOk {
    step(
        &format!("queue.declare {name}"),
        ch.queue_declare(name, options, arguments),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.declare {name:?}: {e}"))
    .unwrap_or_else(|| panic!("queue.declare {name:?}: no declare-ok"))
}

/// A passive queue.declare: the queue's (ready messages, consumers).
pub(crate) async fn counts(ch: &Channel, name: &str) -> (u32, u32) {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let ok = declare(ch, name, passive, FieldTable::new()).await;
    (ok.message_count, ok.consumer_count)
}

/// Deletes a queue, panicking on failure; returns how many messages went with it.
pub(crate) async fn delete(ch: &Channel, name: &str) -> u32 {
    step(
        &format!("queue.delete {name}"),
        ch.queue_delete(name, Default::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.delete {name:?}: {e}"))
    .unwrap_or_else(|| panic!("queue.delete {name:?}: no delete-ok"))
}

/// Starts a consumer with manual acks and a broker-chosen tag, panicking on failure.
pub(crate) async fn consume(ch: &Channel, queue: &str, arguments: FieldTable) -> Consumer {
    step(
        &format!("basic.consume {queue}"),
        ch.basic_consume(queue, "", Default::default(), arguments),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.consume {queue:?}: {e}"))
}

/// [`consume`] with `no_ack`: deliveries count as acked once sent.
pub(crate) async fn consume_no_ack(ch: &Channel, queue: &str) -> Consumer {
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    step(
        &format!("basic.consume no_ack {queue}"),
        ch.basic_consume(queue, "", no_ack, FieldTable::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.consume no_ack {queue:?}: {e}"))
}

/// The consumer's next delivery, failing the test on its end, an error, or after [`STEP`].
pub(crate) async fn next_delivery(consumer: &mut Consumer, what: &str) -> Delivery {
    match step(what, consumer.next()).await {
        Some(Ok(delivery)) => delivery,
        other => panic!("expected {what}, the consumer gave {other:?}"),
    }
}

/// Asserts that `result` failed with the broker closing the channel with `code`; returns the
/// reason's text.
#[track_caller]
pub(crate) fn expect_channel_closed<T: std::fmt::Debug>(
    result: Result<T, Error>,
    code: ReplyCode,
) -> String {
    match result {
        Err(Error::ChannelClosed(reason)) if reason.reply_code == code => reason.reply_text,
        other => panic!("expected the channel to be closed with {code}, got {other:?}"),
    }
}

/// Asserts that `result` failed with the broker closing the connection with `code`; returns the
/// reason's text.
#[track_caller]
pub(crate) fn expect_connection_closed<T: std::fmt::Debug>(
    result: Result<T, Error>,
    code: ReplyCode,
) -> String {
    match result {
        Err(Error::ConnectionClosed(reason)) if reason.reply_code == code => reason.reply_text,
        other => panic!("expected the connection to be closed with {code}, got {other:?}"),
    }
}

/// Runs blocking code (rabbitmqctl, a private node's start or kill) from an async test without
/// stalling the connections' driver tasks. Needs the multi-threaded runtime:
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

/// A deterministic pseudo-random body of `len` octets (xorshift64*), so a corrupted, reordered
/// or truncated frame cannot go unnoticed the way it could in a body of one repeated octet.
pub(crate) fn pseudo_random_body(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut body = Vec::with_capacity(len + 8);
    while body.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        body.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    body.truncate(len);
    body
}

/// Where two byte strings first differ, if they do (by length otherwise), for assertion messages
/// that do not print megabytes.
pub(crate) fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

/// Messages (or octets) per second over `elapsed`.
pub(crate) fn rate(n: f64, elapsed: Duration) -> f64 {
    n / elapsed.as_secs_f64().max(1e-9)
}

/// Polls `f` (an async check against the broker) every 20 ms until it returns true; panics with
/// `what` after `limit`. Only for broker state that no event announces (e.g. an exclusive queue
/// being deleted after its connection closed).
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ===== publishing, getting and exchanges on a confirm-mode channel =====

/// Opens a channel in confirm mode, so a publish can be awaited until the broker routed it.
pub(crate) async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = channel(conn).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .expect("confirm.select");
    ch
}

/// basic.publish on a confirm-mode channel, waiting for the broker's ack: once this returns, the
/// message is in every queue it was routed to (and a mandatory message that no queue took has
/// been returned, since basic.return comes before the ack).
pub(crate) async fn publish(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    options: BasicPublishOptions,
    properties: BasicProperties,
    body: &str,
) -> Result<(), Error> {
    let confirm = step(
        "basic.publish",
        ch.basic_publish(exchange, routing_key, options, properties, body.to_owned()),
    )
    .await?;
    step("the publisher confirm", confirm.wait()).await
}

/// [`publish`] with no flags and no properties, panicking on failure.
pub(crate) async fn publish_plain(ch: &Channel, exchange: &str, routing_key: &str, body: &str) {
    publish(
        ch,
        exchange,
        routing_key,
        Default::default(),
        Default::default(),
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("publish {body:?} to {exchange:?}/{routing_key:?}: {e}"));
}

/// [`publish`] with `mandatory` set, panicking on failure.
pub(crate) async fn publish_mandatory(ch: &Channel, exchange: &str, routing_key: &str, body: &str) {
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    publish(
        ch,
        exchange,
        routing_key,
        mandatory,
        Default::default(),
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("publish {body:?} to {exchange:?}/{routing_key:?}: {e}"));
}

/// [`publish`] with `mandatory` set of a message no queue takes: panics unless its confirm says
/// the broker returned it (basic.return, 312 NO_ROUTE, comes before the ack). The return also
/// waits in [`Channel::next_return`].
pub(crate) async fn publish_returned(ch: &Channel, exchange: &str, routing_key: &str, body: &str) {
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    match publish(
        ch,
        exchange,
        routing_key,
        mandatory,
        Default::default(),
        body,
    )
    .await
    {
        Err(Error::Returned(r)) => {
            assert_eq!(r.reply_code, ReplyCode::NO_ROUTE, "{body:?}");
            assert_eq!(&r.body[..], body.as_bytes());
        }
        other => panic!(
            "publish {body:?} to {exchange:?}/{routing_key:?}: expected Returned, got {other:?}"
        ),
    }
}

/// basic.get, panicking on failure.
pub(crate) async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<GetOk> {
    step(
        &format!("basic.get {queue}"),
        ch.basic_get(queue, BasicGetOptions { no_ack }),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.get {queue:?}: {e}"))
}

/// The body of the next message in `queue` (taken with no_ack), or `None` if it is empty.
pub(crate) async fn take_body(ch: &Channel, queue: &str) -> Option<String> {
    get(ch, queue, true)
        .await
        .map(|ok| String::from_utf8_lossy(&ok.delivery.body).into_owned())
}

/// Every message in `queue`, taken with no_ack, in order.
pub(crate) async fn drain_bodies(ch: &Channel, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    while let Some(body) = take_body(ch, queue).await {
        bodies.push(body);
    }
    bodies
}

/// exchange.declare, panicking on failure.
pub(crate) async fn declare_exchange(
    ch: &Channel,
    name: &str,
    kind: &str,
    options: ExchangeDeclareOptions,
    arguments: FieldTable,
) {
    step(
        &format!("exchange.declare {name}"),
        ch.exchange_declare(name, kind, options, arguments),
    )
    .await
    .unwrap_or_else(|e| panic!("exchange.declare {name:?} ({kind}): {e}"));
}

/// [`declare_exchange`] with no flags and no arguments.
pub(crate) async fn declare_plain_exchange(ch: &Channel, name: &str, kind: &str) {
    declare_exchange(ch, name, kind, Default::default(), FieldTable::new()).await;
}

/// queue.bind with no arguments, panicking on failure.
pub(crate) async fn bind(ch: &Channel, queue: &str, exchange: &str, routing_key: &str) {
    step(
        "queue.bind",
        ch.queue_bind(
            queue,
            exchange,
            routing_key,
            Default::default(),
            FieldTable::new(),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.bind {queue:?} to {exchange:?}/{routing_key:?}: {e}"));
}

/// queue.unbind with no arguments, panicking on failure.
pub(crate) async fn unbind(ch: &Channel, queue: &str, exchange: &str, routing_key: &str) {
    step(
        "queue.unbind",
        ch.queue_unbind(queue, exchange, routing_key, FieldTable::new()),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.unbind {queue:?} from {exchange:?}/{routing_key:?}: {e}"));
}

/// A passive exchange.declare: Ok if it exists, the broker's error (404 closes the channel)
/// otherwise.
pub(crate) async fn exchange_exists(ch: &Channel, name: &str) -> Result<(), Error> {
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    step(
        &format!("passive exchange.declare {name}"),
        ch.exchange_declare(name, "direct", passive, FieldTable::new()),
    )
    .await
}

/// Asserts that the exchange does not exist, using (and closing) a fresh channel of `conn`.
pub(crate) async fn assert_no_exchange(conn: &Connection, name: &str) {
    let probe = channel(conn).await;
    let result = exchange_exists(&probe, name).await;
    expect_channel_closed(result, ReplyCode::NOT_FOUND);
}

/// Headers for a message: `FieldTable` entries as basic properties.
pub(crate) fn with_headers(headers: FieldTable) -> BasicProperties {
    BasicProperties {
        headers: Some(headers),
        ..Default::default()
    }
}

// ===== Python's pika, for interoperability =====

/// Fails loudly (never skips) when pika is missing.
pub(crate) fn require_pika() {
    let mut check = std::process::Command::new("python3");
    check.args(["-c", "import pika"]);
    if let Err(e) = amqp_testkit::run_command(&mut check, Duration::from_secs(30)) {
        panic!(
            "\n\n*** this test needs Python's pika: `pip install pika` (or `python3 -m pip \
             install --break-system-packages pika`; `bash .ci/run` does it): {e}\n\n"
        );
    }
}

/// `python3 ARGS...` (with `env` added to its environment) through the kit's process runner, at
/// most `limit`: its standard output; panics with its exit status and output if it fails.
pub(crate) async fn python3(args: &[&str], env: &[(&str, &str)], limit: Duration) -> String {
    let mut cmd = std::process::Command::new("python3");
    cmd.args(args).envs(env.iter().copied());
    tokio::task::spawn_blocking(move || amqp_testkit::run_command(&mut cmd, limit))
        .await
        .expect("the python3 runner")
        .unwrap_or_else(|e| panic!("{e}"))
}
