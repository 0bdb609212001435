//! Helpers shared by the integration test files (`mod common;` in each).
//!
//! Every test binary uses only some of them.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use amqp_client::{
    Channel, Connection, ConnectionConfig, Error, FieldTable, QueueDeclareOk, QueueDeclareOptions,
    ReplyCode,
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
    ConnectionConfig::from_uri(&amqp_tests::amqp_url()).expect("AMQP_URL parses")
}

/// Connects to the shared broker (after [`amqp_tests::require_broker`]).
pub(crate) async fn connect() -> Connection {
    amqp_tests::require_broker();
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
    let name = amqp_tests::unique_name(prefix);
    declare(ch, &name, QueueDeclareOptions::default(), FieldTable::new()).await;
    name
}

/// queue.declare, panicking on failure.
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

/// Deletes the named queues on the shared broker with `rabbitmqctl` if the test panics before it
/// could delete them itself, so that a failing test leaves nothing behind either.
pub(crate) struct QueueCleanup(pub(crate) Vec<String>);

impl QueueCleanup {
    pub(crate) fn new(names: &[&str]) -> Self {
        Self(names.iter().map(|n| n.to_string()).collect())
    }

    pub(crate) fn add(&mut self, name: &str) {
        self.0.push(name.to_owned());
    }
}

impl Drop for QueueCleanup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for name in &self.0 {
            // The queue may not exist (any more): nothing to do then.
            let _ = amqp_tests::rabbitmqctl(&["-q", "delete_queue", name]);
        }
    }
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
