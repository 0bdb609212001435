//! Connection recovery (issue 12) against a real broker: one private node shared by every test
//! of this binary, and a `FaultProxy` where the network must fail.
//!
//! What is proved, one test each:
//!
//! 1. an operator's `close_connection` (320): the same `Channel` publishes again, the same
//!    `Consumer` yields again (same tag), qos and confirm mode are back on the broker's side,
//!    and the events go Disconnected → Recovering → Recovered;
//! 2. `kill -9` and restart of the node under a publisher with confirms and a consumer: every
//!    publish has exactly one outcome, no confirmed message is lost, the consumer resumes;
//! 3. a cut network (RST) and a dead one (blackhole, found by 2 s heartbeats): recovery through
//!    the proxy again, consumers resume;
//! 4. a 30 s outage (nothing listens): calls and publishes made during it wait and succeed after;
//! 5. a server-named exclusive queue bound to an exchange: `QueueRenamed`, and the binding and
//!    the consumer follow the new name;
//! 6. 10,000 randomised acks, nacks and rejects of stale delivery tags across two recoveries:
//!    each one `StaleDeliveryTag`, nothing sent, the channel never closed by the broker;
//! 7. republish: in-doubt publishes go out again with the header, and nothing is lost;
//! 8. recovery time, `close_connection` to the first delivery, median of 20 rounds (printed);
//! 9. `Recovery::disabled()`: the old behaviour (the consumer ends with the 320);
//! 10. `Connection::close()` after and during a recovery: no recovery;
//!
//! and the first connect over an endpoint list (every endpoint tried, each failure named).
//!
//! The node is started once (about 6-10 s, in a `static`; the kit removes it when the process
//! ends). Tests that only close connections or go through a proxy share it (read lock); tests
//! that kill it or measure time have it alone (write lock). Every wait is for an event (a
//! `ConnectionEvent`, a delivery, a proxy event) with a bound, never a bare sleep; the few fixed
//! windows are where the test asserts that something does *not* happen.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use amqp_client::wire::{BasicAck, BasicPublish, Frame};
use amqp_client::{
    BasicAckOptions, BasicNackOptions, BasicProperties, BasicRejectOptions, Channel, Connection,
    ConnectionConfig, ConnectionEvent, Consumer, Delivery, Endpoint, EndpointOrder, Error,
    ExchangeDeclareOptions, FieldTable, FieldValue, Heartbeat, QueueDeclareOptions, Recovery,
    ReplyCode, TapEvent, Tapped, REPUBLISHED_HEADER,
};
use amqp_testkit::proxy::{Direction, Fate, FaultProxy, Match, ProxyOptions, What};
use amqp_testkit::{unique_name, PrivateNode};
use common::*;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{watch, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::task::JoinHandle;

/// How long a recovery may take once the broker can be reached again (first attempt within
/// 100 ms, then a handshake and the restoration: well under a second here; generous for CI).
const RECOVERS_WITHIN: Duration = Duration::from_secs(30);

/// How long the loss of a connection may take to be noticed (a 320 or an RST: at once; missed
/// 2 s heartbeats: 4-6 s).
const NOTICED_WITHIN: Duration = Duration::from_secs(15);

/// The bound on the delay between two attempts in the tests with outages, so an outage costs
/// at most about a second more than it lasts.
const MAX_DELAY: Duration = Duration::from_secs(1);

// ===== the shared node =====

static NODE: OnceLock<RwLock<PrivateNode>> = OnceLock::new();

fn start_node() -> RwLock<PrivateNode> {
    let started = Instant::now();
    let node = PrivateNode::builder()
        .start()
        .unwrap_or_else(|e| panic!("a private node for the recovery tests: {e}"));
    println!("private node started in {:?}", started.elapsed());
    RwLock::new(node)
}

/// The node, running (restarted if a failed test left it down), held exclusively: for tests
/// that kill it or measure time.
async fn node_alone() -> RwLockWriteGuard<'static, PrivateNode> {
    let lock = blocking(|| NODE.get_or_init(start_node));
    let mut node = lock.write().await;
    if !node.is_running() {
        blocking(|| node.restart()).unwrap_or_else(|e| panic!("restarting the node: {e}"));
    }
    node
}

/// The node, running, shared with the other tests that leave it running.
async fn node() -> RwLockReadGuard<'static, PrivateNode> {
    node_alone().await.downgrade()
}

/// The node's endpoint, as `Connection::endpoint` names it.
fn endpoint_of(node: &PrivateNode) -> Endpoint {
    Endpoint::new("127.0.0.1", node.port())
}

/// The proxy's endpoint, as `Connection::endpoint` names it.
fn endpoint_at(addr: SocketAddr) -> Endpoint {
    Endpoint::new(addr.ip().to_string(), addr.port())
}

/// Settings for a test connection named `name` (so the broker's tools can find it), with
/// recovery's defaults.
fn config(url: &str, name: &str) -> ConnectionConfig {
    ConnectionConfig::from_uri(url)
        .expect("the URL parses")
        .with_connection_name(name)
}

/// [`config`] with delays between attempts bounded by [`MAX_DELAY`]; `wait` for calls made
/// while recovering.
fn outage_config(url: &str, name: &str, wait: Duration) -> ConnectionConfig {
    config(url, name).with_recovery(
        Recovery::enabled()
            .with_max_delay(MAX_DELAY)
            .with_wait_timeout(wait),
    )
}

/// A port where nothing listens (it was free a moment ago).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

// ===== recording what happens =====

/// One event and when the test saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// Its place in the log.
    index: usize,
    /// When the recording task received it.
    at: Instant,
    event: ConnectionEvent,
}

/// Every `ConnectionEvent` of one connection from its creation on, in order, with the time each
/// was received: a task reads `Connection::events()` so none is missed while the test is busy.
struct EventLog {
    seen: Arc<StdMutex<Vec<(Instant, ConnectionEvent)>>>,
    lagged: Arc<AtomicU64>,
    count: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl EventLog {
    fn of(conn: &Connection) -> Self {
        let mut events = conn.events();
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let lagged = Arc::new(AtomicU64::new(0));
        let (tx, count) = watch::channel(0);
        let task = tokio::spawn({
            let seen = seen.clone();
            let lagged = lagged.clone();
            async move {
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            let n = {
                                let mut seen = seen.lock().unwrap();
                                seen.push((Instant::now(), event));
                                seen.len()
                            };
                            tx.send_replace(n);
                        }
                        Err(RecvError::Lagged(n)) => {
                            lagged.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            }
        });
        Self {
            seen,
            lagged,
            count,
            task,
        }
    }

    /// How many events so far.
    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn events(&self) -> Vec<ConnectionEvent> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The log, one event a line, for failure messages.
    fn dump(&self) -> String {
        let seen = self.seen.lock().unwrap();
        let Some((first, _)) = seen.first() else {
            return "  (no events)".into();
        };
        let mut out = String::new();
        for (i, (at, e)) in seen.iter().enumerate() {
            out.push_str(&format!(
                "  #{i} +{:.3}s {e}\n",
                at.duration_since(*first).as_secs_f64()
            ));
        }
        let lagged = self.lagged.load(Ordering::Relaxed);
        if lagged > 0 {
            out.push_str(&format!("  ({lagged} events lost: the receiver lagged)\n"));
        }
        out
    }

    fn find(&self, from: usize, pred: &impl Fn(&ConnectionEvent) -> bool) -> Option<Seen> {
        let seen = self.seen.lock().unwrap();
        (from..seen.len())
            .find(|&i| pred(&seen[i].1))
            .map(|i| Seen {
                index: i,
                at: seen[i].0,
                event: seen[i].1.clone(),
            })
    }

    /// The first event at `from` or later for which `pred` holds, waiting up to `limit` for it;
    /// panics with the whole log otherwise.
    async fn wait_for(
        &self,
        from: usize,
        limit: Duration,
        what: &str,
        pred: impl Fn(&ConnectionEvent) -> bool,
    ) -> Seen {
        let deadline = tokio::time::Instant::now() + limit;
        let mut count = self.count.clone();
        loop {
            count.borrow_and_update();
            if let Some(seen) = self.find(from, &pred) {
                return seen;
            }
            match tokio::time::timeout_at(deadline, count.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    if let Some(seen) = self.find(from, &pred) {
                        return seen;
                    }
                    panic!(
                        "the event stream ended before {what} (from event #{from}):\n{}",
                        self.dump()
                    );
                }
                Err(_) => panic!(
                    "no {what} within {limit:?} (from event #{from}); the events:\n{}",
                    self.dump()
                ),
            }
        }
    }

    /// Asserts that no event at `from` or later for which `pred` holds comes within `window`
    /// (nor came before).
    async fn expect_none_within(
        &self,
        from: usize,
        window: Duration,
        what: &str,
        pred: impl Fn(&ConnectionEvent) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + window;
        let mut count = self.count.clone();
        loop {
            count.borrow_and_update();
            if let Some(seen) = self.find(from, &pred) {
                panic!(
                    "unexpected {what}: event #{} {}; the events:\n{}",
                    seen.index,
                    seen.event,
                    self.dump()
                );
            }
            match tokio::time::timeout_at(deadline, count.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    if let Some(seen) = self.find(from, &pred) {
                        panic!(
                            "unexpected {what}: {}; events:\n{}",
                            seen.event,
                            self.dump()
                        );
                    }
                    return;
                }
            }
        }
    }

    /// Waits for the connection to be lost (from `from` on), then recovered; returns both.
    async fn lost_and_recovered(&self, from: usize, limit: Duration) -> (Seen, Seen) {
        let lost = self
            .wait_for(from, NOTICED_WITHIN, "Disconnected", is_disconnected)
            .await;
        let recovered = self
            .wait_for(lost.index + 1, limit, "Recovered", is_recovered)
            .await;
        (lost, recovered)
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_disconnected(e: &ConnectionEvent) -> bool {
    matches!(e, ConnectionEvent::Disconnected { .. })
}

fn is_recovering(e: &ConnectionEvent) -> bool {
    matches!(e, ConnectionEvent::Recovering { .. })
}

fn is_recovered(e: &ConnectionEvent) -> bool {
    matches!(e, ConnectionEvent::Recovered { .. })
}

fn is_attempt_failed(e: &ConnectionEvent) -> bool {
    matches!(e, ConnectionEvent::AttemptFailed { .. })
}

/// The error of a `Disconnected` event.
#[track_caller]
fn disconnect_error(seen: &Seen) -> &Error {
    match &seen.event {
        ConnectionEvent::Disconnected { error } => error,
        other => panic!("expected Disconnected, got {other}"),
    }
}

/// The fields of a `Recovered` event: (endpoint, took, attempts).
#[track_caller]
fn recovered_fields(seen: &Seen) -> (Endpoint, Duration, u32) {
    match &seen.event {
        ConnectionEvent::Recovered {
            endpoint,
            took,
            attempts,
        } => (endpoint.clone(), *took, *attempts),
        other => panic!("expected Recovered, got {other}"),
    }
}

/// One delivery as a recording consumer saw it.
#[derive(Debug, Clone)]
struct Got {
    body: String,
    at: Instant,
    consumer_tag: String,
    redelivered: bool,
}

/// A task that takes every delivery of a consumer, records it and acks it (a stale tag from
/// before a recovery is fine: the broker redelivers that message; any other ack error is kept).
struct Recorder {
    got: Arc<StdMutex<Vec<Got>>>,
    count: watch::Receiver<usize>,
    ack_errors: Arc<StdMutex<Vec<Error>>>,
    /// The consumer's end: `None` if cancelled by us, the error otherwise.
    task: JoinHandle<Option<Error>>,
}

impl Recorder {
    fn start(mut consumer: Consumer) -> Self {
        let got = Arc::new(StdMutex::new(Vec::new()));
        let ack_errors = Arc::new(StdMutex::new(Vec::new()));
        let (tx, count) = watch::channel(0);
        let task = tokio::spawn({
            let got = got.clone();
            let ack_errors = ack_errors.clone();
            async move {
                loop {
                    match consumer.next().await {
                        Some(Ok(d)) => {
                            let n = {
                                let mut got = got.lock().unwrap();
                                got.push(Got {
                                    body: String::from_utf8_lossy(&d.body).into_owned(),
                                    at: Instant::now(),
                                    consumer_tag: d
                                        .consumer_tag
                                        .as_str()
                                        .unwrap_or_default()
                                        .to_owned(),
                                    redelivered: d.redelivered,
                                });
                                got.len()
                            };
                            tx.send_replace(n);
                            match d.ack().await {
                                Ok(()) | Err(Error::StaleDeliveryTag { .. }) => {}
                                Err(e) => ack_errors.lock().unwrap().push(e),
                            }
                        }
                        Some(Err(e)) => return Some(e),
                        None => return None,
                    }
                }
            }
        });
        Self {
            got,
            count,
            ack_errors,
            task,
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// The first delivery at `from` or later whose body is `body`, waiting up to `limit`.
    async fn wait_for_body(&self, from: usize, body: &str, limit: Duration) -> Got {
        self.wait_until(limit, &format!("the delivery of {body:?}"), |got| {
            got[from.min(got.len())..]
                .iter()
                .find(|g| g.body == body)
                .cloned()
        })
        .await
    }

    /// Waits until at least `n` deliveries were recorded.
    async fn wait_for_count(&self, n: usize, limit: Duration) {
        self.wait_until(limit, &format!("{n} deliveries"), |got| {
            (got.len() >= n).then_some(())
        })
        .await
    }

    async fn wait_until<T>(
        &self,
        limit: Duration,
        what: &str,
        check: impl Fn(&[Got]) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + limit;
        let mut count = self.count.clone();
        loop {
            count.borrow_and_update();
            if let Some(found) = check(&self.got.lock().unwrap()) {
                return found;
            }
            let changed = tokio::time::timeout_at(deadline, count.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                if let Some(found) = check(&self.got.lock().unwrap()) {
                    return found;
                }
                let bodies: Vec<String> = self.got().into_iter().map(|g| g.body).collect();
                let end = if self.task.is_finished() {
                    "; the consumer has ended"
                } else {
                    ""
                };
                panic!(
                    "no {what} within {limit:?}{end}; {} deliveries so far: {:?}",
                    bodies.len(),
                    tail(&bodies, 20)
                );
            }
        }
    }

    /// Cancels the consumer (through `ch`) and returns how it ended: `None` unless it ended
    /// with an error before.
    async fn stop(self, ch: &Channel, tag: &str) -> Option<Error> {
        if !self.task.is_finished() {
            let _ = step("basic.cancel", ch.basic_cancel(tag, Default::default())).await;
        }
        step("the consumer's end", self.task)
            .await
            .expect("the recording task")
    }
}

/// The last `n` items, for failure messages.
fn tail<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    items[items.len().saturating_sub(n)..].to_vec()
}

/// `(channel number, confirm mode, prefetch_count)` of every channel the broker has for the
/// connection named `name`, sorted.
fn broker_channels(node: &PrivateNode, name: &str) -> Vec<(u16, bool, u16)> {
    let quoted = format!("\"{name}\"");
    let mut pid = None;
    amqp_testkit::wait_until(
        Duration::from_secs(15),
        &format!("the broker to list the connection {name:?}"),
        || {
            let out = node
                .ctl(&[
                    "-q",
                    "list_connections",
                    "--no-table-headers",
                    "pid",
                    "client_properties",
                ])
                .unwrap_or_default();
            pid = out
                .lines()
                .find(|l| l.contains(&quoted))
                .and_then(|l| l.split('\t').next())
                .map(str::to_owned);
            pid.is_some()
        },
    );
    let pid = pid.unwrap();
    let out = node
        .ctl(&[
            "-q",
            "list_channels",
            "--no-table-headers",
            "connection",
            "number",
            "confirm",
            "prefetch_count",
        ])
        .expect("rabbitmqctl list_channels");
    let mut channels: Vec<(u16, bool, u16)> = out
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').map(str::trim).collect();
            (f.len() == 4 && f[0] == pid).then(|| {
                (
                    f[1].parse().expect("a channel number"),
                    f[2] == "true",
                    f[3].parse().expect("a prefetch count"),
                )
            })
        })
        .collect();
    channels.sort_unstable();
    channels
}

/// Whether the broker lists a connection named `name`.
fn broker_lists(node: &PrivateNode, name: &str) -> bool {
    node.ctl(&[
        "-q",
        "list_connections",
        "--no-table-headers",
        "client_properties",
    ])
    .expect("rabbitmqctl list_connections")
    .contains(&format!("\"{name}\""))
}

/// Deletes `queue` over a connection of its own (the test's may be gone).
async fn delete_queue(url: &str, queue: &str) {
    let conn = connect_with(ConnectionConfig::from_uri(url).unwrap()).await;
    let ch = channel(&conn).await;
    delete(&ch, queue).await;
    let _ = step("connection.close", conn.close()).await;
}

// ===== 1. close_connection =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_close_is_recovered_behind_the_same_channels_and_consumer() {
    let node = node().await;
    let name = unique_name("recovery-close");
    let conn = connect_with(config(&node.url(), &name)).await;
    let events = EventLog::of(&conn);
    let ch = confirm_channel(&conn).await;
    step("basic.qos 7", ch.basic_qos(7, Default::default()))
        .await
        .unwrap();
    // A second channel, plain, with its own prefetch: every channel comes back.
    let other = channel(&conn).await;
    step("basic.qos 3", other.basic_qos(3, Default::default()))
        .await
        .unwrap();
    let q = fresh_queue(&ch, "recovery-close").await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(q.clone());
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let tag = consumer.tag().to_owned();
    publish_plain(&ch, "", &q, "before").await;
    let d = next_delivery(&mut consumer, "the delivery before the close").await;
    assert_eq!(&d.body[..], b"before");
    step("ack", d.ack()).await.unwrap();
    let before = blocking(|| broker_channels(&node, &name));
    assert_eq!(
        before,
        vec![(ch.id(), true, 7), (other.id(), false, 3)],
        "the broker's view before"
    );

    let reason = unique_name("test-forced-close");
    blocking(|| node.close_connection(&name, &reason)).expect("rabbitmqctl close_connection");

    let (lost, recovered) = events.lost_and_recovered(0, RECOVERS_WITHIN).await;
    let error = disconnect_error(&lost);
    assert_eq!(
        error.reply_code(),
        Some(ReplyCode::CONNECTION_FORCED),
        "{error}"
    );
    assert!(error.to_string().contains(&reason), "{error}");
    let attempt = events
        .wait_for(lost.index + 1, STEP, "Recovering", is_recovering)
        .await;
    assert!(
        attempt.index < recovered.index,
        "Recovering after Recovered:\n{}",
        events.dump()
    );
    match &attempt.event {
        ConnectionEvent::Recovering {
            attempt,
            endpoint,
            delay,
        } => {
            assert_eq!(*attempt, 1, "{}", events.dump());
            assert_eq!(*endpoint, endpoint_of(&node));
            assert!(
                *delay <= amqp_client::DEFAULT_RECOVERY_INITIAL_DELAY,
                "the first attempt waits at most the initial delay: {delay:?}"
            );
        }
        _ => unreachable!(),
    }
    let (endpoint, took, attempts) = recovered_fields(&recovered);
    assert_eq!(endpoint, endpoint_of(&node));
    assert_eq!(attempts, 1, "the broker was up: {}", events.dump());
    println!("recovered from close_connection in {took:?}");
    events
        .wait_for(lost.index, STEP, "ConsumerRestored", |e| {
            matches!(e, ConnectionEvent::ConsumerRestored { channel, consumer_tag, queue }
                if *channel == ch.id() && *consumer_tag == tag && *queue == q)
        })
        .await;
    assert!(!conn.is_recovering());
    assert!(conn.is_open(), "{:?}", conn.error());
    assert_eq!(conn.endpoint(), Some(endpoint_of(&node)));
    // Nothing failed to be restored.
    let failures: Vec<String> = events
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                ConnectionEvent::TopologyFailed { .. } | ConnectionEvent::ConsumerFailed { .. }
            )
        })
        .map(ToString::to_string)
        .collect();
    assert!(failures.is_empty(), "{failures:?}");

    // The broker's view: the same channels, with their prefetch and confirm mode.
    assert_eq!(
        blocking(|| broker_channels(&node, &name)),
        before,
        "the broker's view after the recovery"
    );
    // The same Channel publishes (and its confirm comes), the same Consumer yields.
    publish_plain(&ch, "", &q, "after").await;
    let d = next_delivery(&mut consumer, "the delivery after the recovery").await;
    assert_eq!(&d.body[..], b"after");
    assert_eq!(d.consumer_tag.as_str(), Some(tag.as_str()));
    assert!(!d.redelivered);
    step("ack after the recovery", d.ack())
        .await
        .expect("a fresh delivery acks");
    // The other channel works too, and the queue has one consumer (ours, no zombie).
    publish_plain(&other, "", &q, "from the other channel").await;
    let d = next_delivery(&mut consumer, "the other channel's message").await;
    assert_eq!(&d.body[..], b"from the other channel");
    step("ack", d.ack()).await.unwrap();
    assert_eq!(counts(&ch, &q).await, (0, 1));
    assert!(ch.error().is_none(), "{:?}", ch.error());
    assert!(other.error().is_none(), "{:?}", other.error());

    assert_eq!(delete(&ch, &q).await, 0);
    step("connection.close", conn.close()).await.unwrap();
}

// ===== 2. kill -9 and restart =====

/// One publish's outcome.
#[derive(Debug)]
struct Outcome {
    index: u64,
    sent_at: Instant,
    result: Result<(), Error>,
}

/// Publishes `0`, `1`, `2`, ... (the body is the number) to `queue` on a confirm-mode channel,
/// one every `pace`, until stopped; each publish's outcome is collected.
struct Publisher {
    stop: Arc<AtomicBool>,
    confirmed: Arc<AtomicU64>,
    task: JoinHandle<Vec<Outcome>>,
}

/// How long one publish may take to have an outcome (it may wait for a node's restart).
const OUTCOME_WITHIN: Duration = Duration::from_secs(120);

impl Publisher {
    fn start(ch: Channel, queue: String, properties: BasicProperties, pace: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let confirmed = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let stop = stop.clone();
            let confirmed = confirmed.clone();
            async move {
                let mut outcomes = Vec::new();
                let mut pending = tokio::task::JoinSet::new();
                let mut index = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let sent_at = Instant::now();
                    let body = index.to_string();
                    let publish =
                        ch.basic_publish("", &queue, Default::default(), properties.clone(), body);
                    match tokio::time::timeout(OUTCOME_WITHIN, publish).await {
                        Ok(Ok(confirm)) => {
                            let confirmed = confirmed.clone();
                            pending.spawn(async move {
                                let result = match tokio::time::timeout(
                                    OUTCOME_WITHIN,
                                    confirm.wait(),
                                )
                                .await
                                {
                                    Ok(result) => result,
                                    Err(_) => panic!(
                                        "publish {index}: no outcome within {OUTCOME_WITHIN:?}"
                                    ),
                                };
                                if result.is_ok() {
                                    confirmed.fetch_add(1, Ordering::Release);
                                }
                                Outcome {
                                    index,
                                    sent_at,
                                    result,
                                }
                            });
                        }
                        Ok(Err(e)) => outcomes.push(Outcome {
                            index,
                            sent_at,
                            result: Err(e),
                        }),
                        Err(_) => panic!("basic_publish {index} hung for {OUTCOME_WITHIN:?}"),
                    }
                    index += 1;
                    while let Some(done) = pending.try_join_next() {
                        outcomes.push(done.expect("a confirm task"));
                    }
                    tokio::time::sleep(pace).await;
                }
                while let Some(done) = pending.join_next().await {
                    outcomes.push(done.expect("a confirm task"));
                }
                outcomes
            }
        });
        Self {
            stop,
            confirmed,
            task,
        }
    }

    fn confirmed(&self) -> u64 {
        self.confirmed.load(Ordering::Acquire)
    }

    /// Waits until `n` publishes in all were confirmed.
    async fn wait_confirmed(&self, n: u64, limit: Duration, what: &str) {
        eventually(limit, what, || async { self.confirmed() >= n }).await;
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Release);
        within(OUTCOME_WITHIN + STEP, "the publisher's outcomes", self.task)
            .await
            .expect("the publisher task")
    }
}

/// Counts outcomes by kind: (ok, in doubt, other errors as text).
fn tally(outcomes: &[Outcome]) -> (usize, usize, BTreeMap<String, usize>) {
    let mut ok = 0;
    let mut in_doubt = 0;
    let mut other = BTreeMap::new();
    for o in outcomes {
        match &o.result {
            Ok(()) => ok += 1,
            Err(Error::PublishInDoubt { .. }) => in_doubt += 1,
            Err(e) => *other.entry(e.to_string()).or_insert(0) += 1,
        }
    }
    (ok, in_doubt, other)
}

/// Asserts that the outcomes are exactly one for each of `0..n`.
#[track_caller]
fn assert_one_outcome_each(outcomes: &[Outcome]) {
    let mut indexes: Vec<u64> = outcomes.iter().map(|o| o.index).collect();
    indexes.sort_unstable();
    let expected: Vec<u64> = (0..outcomes.len() as u64).collect();
    assert_eq!(indexes, expected, "one outcome per publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_node_loses_no_confirmed_message() {
    let mut node = node_alone().await;
    let url = node.url();
    let publisher_name = unique_name("recovery-kill-pub");
    let consumer_name = unique_name("recovery-kill-sub");
    let wait = Duration::from_secs(90);
    let pub_conn = connect_with(outage_config(&url, &publisher_name, wait)).await;
    let sub_conn = connect_with(outage_config(&url, &consumer_name, wait)).await;
    let pub_events = EventLog::of(&pub_conn);
    let sub_events = EventLog::of(&sub_conn);
    let pch = confirm_channel(&pub_conn).await;
    let mut cleanup = Cleanup::at(&url);
    let q = cleanup.queue(unique_name("recovery-kill"));
    declare(&pch, &q, QueueDeclareOptions::durable(), FieldTable::new()).await;
    let sch = channel(&sub_conn).await;
    step("basic.qos", sch.basic_qos(50, Default::default()))
        .await
        .unwrap();
    let consumer = consume(&sch, &q, FieldTable::new()).await;
    let tag = consumer.tag().to_owned();
    // The queue's definition on disk before the kill (see PrivateNode::flush_definitions).
    blocking(|| node.flush_definitions()).expect("flush the definitions");
    let recorder = Recorder::start(consumer);
    let publisher = Publisher::start(
        pch.clone(),
        q.clone(),
        BasicProperties::default().persistent(),
        Duration::from_millis(2),
    );
    publisher
        .wait_confirmed(300, Duration::from_secs(30), "300 confirms before the kill")
        .await;
    recorder.wait_for_count(100, STEP).await;

    let killed_at = Instant::now();
    blocking(|| node.kill9()).expect("kill -9 the node");
    blocking(|| node.restart()).expect("restart the node");
    let restarted_at = Instant::now();
    println!(
        "node killed and restarted in {:?}",
        restarted_at - killed_at
    );
    let (_, pub_recovered) = pub_events.lost_and_recovered(0, RECOVERS_WITHIN).await;
    let (_, sub_recovered) = sub_events.lost_and_recovered(0, RECOVERS_WITHIN).await;
    println!(
        "publisher: {}; consumer: {}",
        pub_recovered.event, sub_recovered.event
    );
    let confirmed_at_recovery = publisher.confirmed();
    publisher
        .wait_confirmed(
            confirmed_at_recovery + 300,
            Duration::from_secs(30),
            "300 more confirms after the recovery",
        )
        .await;
    let outcomes = publisher.stop().await;

    // Every publish has exactly one outcome; those made after the recovery are all acked.
    assert_one_outcome_each(&outcomes);
    let (ok, in_doubt, other) = tally(&outcomes);
    println!(
        "{} publishes: {ok} confirmed, {in_doubt} in doubt, other errors: {other:?}",
        outcomes.len()
    );
    let late_failures: Vec<String> = outcomes
        .iter()
        .filter(|o| o.sent_at > pub_recovered.at && o.result.is_err())
        .map(|o| format!("{}: {:?}", o.index, o.result))
        .collect();
    assert!(
        late_failures.is_empty(),
        "publishes made after the recovery failed: {late_failures:?}"
    );

    // Every confirmed message reaches the consumer (the same Consumer, after its recovery).
    let confirmed: BTreeSet<String> = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.index.to_string())
        .collect();
    recorder
        .wait_until(Duration::from_secs(60), "every confirmed message", |got| {
            let bodies: BTreeSet<&str> = got.iter().map(|g| g.body.as_str()).collect();
            confirmed
                .iter()
                .all(|c| bodies.contains(c.as_str()))
                .then_some(())
        })
        .await;
    let got = recorder.got();
    let sent_at: HashMap<String, Instant> = outcomes
        .iter()
        .map(|o| (o.index.to_string(), o.sent_at))
        .collect();
    let resumed = got
        .iter()
        .filter(|g| sent_at.get(&g.body).is_some_and(|at| *at > restarted_at))
        .count();
    assert!(
        resumed > 0,
        "the consumer got nothing published after the restart"
    );
    assert!(
        got.iter().all(|g| g.consumer_tag == tag),
        "the consumer tag changed"
    );
    let distinct: BTreeSet<&str> = got.iter().map(|g| g.body.as_str()).collect();
    println!(
        "consumer: {} deliveries, {} distinct, {} duplicates, {} flagged redelivered",
        got.len(),
        distinct.len(),
        got.len() - distinct.len(),
        got.iter().filter(|g| g.redelivered).count()
    );
    let ack_errors = recorder.ack_errors.lock().unwrap().clone();
    assert!(ack_errors.is_empty(), "acks failed: {ack_errors:?}");
    assert_eq!(recorder.stop(&sch, &tag).await.map(|e| e.to_string()), None);

    delete(&pch, &q).await;
    step("close", pub_conn.close()).await.unwrap();
    step("close", sub_conn.close()).await.unwrap();
}

// ===== 3. the network: cut and blackholed =====

/// A connection through `proxy` with a consumer on a fresh queue, one message through it
/// already, and the broker has seen the ack.
struct Proxied {
    conn: Connection,
    events: EventLog,
    ch: Channel,
    queue: String,
    consumer: Consumer,
    tag: String,
}

async fn proxied(proxy: &FaultProxy, config: ConnectionConfig) -> Proxied {
    let conn = connect_with(config).await;
    let events = EventLog::of(&conn);
    let ch = confirm_channel(&conn).await;
    let queue = fresh_queue(&ch, "recovery-proxied").await;
    let mut consumer = consume(&ch, &queue, FieldTable::new()).await;
    let tag = consumer.tag().to_owned();
    publish_plain(&ch, "", &queue, "before").await;
    let d = next_delivery(&mut consumer, "the delivery before the fault").await;
    assert_eq!(&d.body[..], b"before");
    step("ack", d.ack()).await.unwrap();
    // A round trip on the channel: the broker has the ack.
    assert_eq!(counts(&ch, &queue).await, (0, 1));
    assert_eq!(conn.endpoint(), Some(endpoint_at(proxy.addr())));
    Proxied {
        conn,
        events,
        ch,
        queue,
        consumer,
        tag,
    }
}

/// How many connections the proxy has accepted.
fn accepted(proxy: &FaultProxy) -> usize {
    proxy
        .events()
        .iter()
        .filter(|e| matches!(e.what, What::Accepted { .. }))
        .count()
}

/// After a recovery through the proxy: the same channel publishes, the same consumer gets it.
async fn resumes(p: &mut Proxied, body: &str, limit: Duration) {
    publish_plain(&p.ch, "", &p.queue, body).await;
    let d = match within(limit, "the delivery after the recovery", p.consumer.next()).await {
        Some(Ok(d)) => d,
        other => panic!("expected {body:?}, the consumer gave {other:?}"),
    };
    assert_eq!(String::from_utf8_lossy(&d.body), body);
    assert_eq!(d.consumer_tag.as_str(), Some(p.tag.as_str()));
    step("ack", d.ack()).await.expect("a fresh delivery acks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_network_is_recovered_through_the_proxy() {
    let node = node().await;
    let proxy = FaultProxy::start_for_url(&node.url()).await.unwrap();
    let name = unique_name("recovery-cut");
    let config = outage_config(&proxy.url_for(&node.url()), &name, STEP);
    let mut p = proxied(&proxy, config).await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(p.queue.clone());
    assert_eq!(accepted(&proxy), 1);

    proxy.cut();
    let (lost, recovered) = p.events.lost_and_recovered(0, RECOVERS_WITHIN).await;
    assert!(
        matches!(disconnect_error(&lost), Error::Io(_)),
        "{}",
        lost.event
    );
    let (endpoint, took, _) = recovered_fields(&recovered);
    println!("recovered from a cut in {took:?}");
    assert_eq!(endpoint, endpoint_at(proxy.addr()));
    assert_eq!(accepted(&proxy), 2, "one new connection through the proxy");
    resumes(&mut p, "after the cut", STEP).await;
    // One consumer on the queue: the old one went with the cut connection.
    eventually(STEP, "one consumer on the queue", || async {
        counts(&p.ch, &p.queue).await == (0, 1)
    })
    .await;

    delete(&p.ch, &p.queue).await;
    step("close", p.conn.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_network_is_found_by_heartbeats_and_recovered() {
    let node = node().await;
    let proxy = FaultProxy::start_for_url(&node.url()).await.unwrap();
    let name = unique_name("recovery-blackhole");
    let config = outage_config(&proxy.url_for(&node.url()), &name, Duration::from_secs(60))
        .with_heartbeat(Heartbeat::Secs(2))
        .with_connection_timeout(Duration::from_secs(3));
    let mut p = proxied(&proxy, config).await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(p.queue.clone());
    assert_eq!(p.conn.tuning().heartbeat, 2);

    proxy.blackhole(true);
    let blackholed_at = Instant::now();
    let lost = p
        .events
        .wait_for(0, NOTICED_WITHIN, "Disconnected", is_disconnected)
        .await;
    assert!(
        matches!(disconnect_error(&lost), Error::HeartbeatTimeout(_)),
        "{}",
        lost.event
    );
    println!(
        "the dead network was noticed after {:?}",
        lost.at - blackholed_at
    );
    // Attempts through the blackholed proxy fail (the handshake times out) and recovery goes
    // on: a call made now waits.
    let failed = p
        .events
        .wait_for(
            lost.index + 1,
            Duration::from_secs(20),
            "AttemptFailed",
            is_attempt_failed,
        )
        .await;
    println!("while blackholed: {}", failed.event);
    assert!(p.conn.is_recovering());
    let waiting = tokio::spawn({
        let ch = p.ch.clone();
        let queue = p.queue.clone();
        async move { publish_plain(&ch, "", &queue, "published while blackholed").await }
    });

    proxy.blackhole(false);
    let lifted_at = Instant::now();
    let recovered = p
        .events
        .wait_for(failed.index + 1, RECOVERS_WITHIN, "Recovered", is_recovered)
        .await;
    println!(
        "recovered {:?} after the blackhole was lifted: {}",
        recovered.at - lifted_at,
        recovered.event
    );
    within(Duration::from_secs(30), "the waiting publish", waiting)
        .await
        .expect("the publish made while blackholed");
    // The old consumer may linger on the broker until its own heartbeat timeout: the message
    // may go to it first and come back when the broker drops it.
    let d = match within(
        Duration::from_secs(30),
        "the message published while blackholed",
        p.consumer.next(),
    )
    .await
    {
        Some(Ok(d)) => d,
        other => panic!("the consumer gave {other:?}"),
    };
    assert_eq!(&d.body[..], b"published while blackholed");
    step("ack", d.ack()).await.unwrap();
    resumes(&mut p, "after the blackhole", Duration::from_secs(30)).await;

    delete(&p.ch, &p.queue).await;
    step("close", p.conn.close()).await.unwrap();
}

// ===== 4. a 30-second outage =====

/// How long the outage lasts.
const OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_and_calls_during_a_30_s_outage_wait_and_succeed() {
    let node = node().await;
    let proxy = FaultProxy::start_for_url(&node.url()).await.unwrap();
    let addr = proxy.addr();
    let upstream = proxy.upstream();
    let name = unique_name("recovery-outage");
    let wait = OUTAGE + Duration::from_secs(60);
    let conn = connect_with(outage_config(&proxy.url_for(&node.url()), &name, wait)).await;
    let events = EventLog::of(&conn);
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "recovery-outage").await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(q.clone());
    for i in 0..10 {
        publish_plain(&ch, "", &q, &format!("before-{i}")).await;
    }

    // The outage: the proxy goes (connections cut, nothing listens on its port).
    drop(proxy);
    let lost = events
        .wait_for(0, NOTICED_WITHIN, "Disconnected", is_disconnected)
        .await;
    let outage_began = Instant::now();
    // Calls made during the outage, at its start and half-way: five publishes each, and a
    // passive declare. Each reports when it finished.
    let mut during = Vec::new();
    for (wave, offset) in [(0, Duration::ZERO), (1, OUTAGE / 2)] {
        for i in 0..5 {
            let ch = ch.clone();
            let q = q.clone();
            let start = tokio::time::Instant::from_std(outage_began + offset);
            during.push(tokio::spawn(async move {
                tokio::time::sleep_until(start).await;
                let body = format!("during-{wave}-{i}");
                let result = async {
                    ch.basic_publish("", &q, Default::default(), Default::default(), body)
                        .await?
                        .wait()
                        .await
                }
                .await;
                (format!("publish during-{wave}-{i}"), Instant::now(), result)
            }));
        }
    }
    let declare_during = tokio::spawn({
        let ch = ch.clone();
        let q = q.clone();
        let start = tokio::time::Instant::from_std(outage_began + OUTAGE / 4);
        async move {
            tokio::time::sleep_until(start).await;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let result = ch.queue_declare(&q, passive, FieldTable::new()).await;
            (Instant::now(), result)
        }
    });
    // Attempts fail (refused) and go on.
    let mut from = lost.index + 1;
    for _ in 0..5 {
        from = events
            .wait_for(from, NOTICED_WITHIN, "AttemptFailed", is_attempt_failed)
            .await
            .index
            + 1;
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(outage_began + OUTAGE)).await;
    assert!(conn.is_recovering(), "{}", events.dump());
    let finished: Vec<bool> = during.iter().map(JoinHandle::is_finished).collect();
    assert!(
        finished.iter().all(|f| !f) && !declare_during.is_finished(),
        "calls made during the outage must wait for the recovery: finished {finished:?}"
    );

    // The network is back: a proxy on the same port.
    let options = ProxyOptions {
        listen: addr,
        ..Default::default()
    };
    let proxy = FaultProxy::start_with(upstream, options)
        .await
        .expect("a proxy on the same port again");
    let back_at = Instant::now();
    let recovered = events
        .wait_for(from, RECOVERS_WITHIN, "Recovered", is_recovered)
        .await;
    let (_, took, attempts) = recovered_fields(&recovered);
    println!(
        "outage of {:?}: recovered {:?} after the network came back ({took:?} since the loss, \
         {attempts} attempts)",
        back_at - outage_began,
        recovered.at - back_at
    );
    assert!(attempts >= 5, "{}", events.dump());
    for task in during {
        let (what, done_at, result) = step("a call made during the outage", task)
            .await
            .expect("the task");
        result.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            done_at >= back_at,
            "{what} finished before the network was back"
        );
    }
    let (done_at, result) = step("the passive declare", declare_during)
        .await
        .expect("the task");
    result.expect("the passive declare made during the outage");
    assert!(done_at >= back_at);
    assert_eq!(accepted(&proxy), 1, "one connection through the new proxy");

    // Nothing confirmed is lost: exactly these twenty messages.
    let mut bodies = drain_bodies(&ch, &q).await;
    bodies.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("before-{i}")).collect();
    for wave in 0..2 {
        expected.extend((0..5).map(|i| format!("during-{wave}-{i}")));
    }
    expected.sort();
    assert_eq!(bodies, expected);

    delete(&ch, &q).await;
    step("close", conn.close()).await.unwrap();
}

// ===== 5. a server-named queue =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_named_queue_is_renamed_and_its_binding_and_consumer_follow() {
    let node = node().await;
    let name = unique_name("recovery-renamed");
    let conn = connect_with(config(&node.url(), &name)).await;
    let events = EventLog::of(&conn);
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::at(&node.url());
    let exchange = cleanup.exchange(unique_name("recovery-renamed-x"));
    declare_exchange(
        &ch,
        &exchange,
        "direct",
        ExchangeDeclareOptions::default(),
        FieldTable::new(),
    )
    .await;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let old = declare(&ch, "", exclusive, FieldTable::new()).await.queue;
    let old = old.as_str().expect("a queue name").to_owned();
    assert!(old.starts_with("amq.gen-"), "{old}");
    bind(&ch, &old, &exchange, "rk").await;
    let mut consumer = consume(&ch, &old, FieldTable::new()).await;
    let tag = consumer.tag().to_owned();
    publish_plain(&ch, &exchange, "rk", "before").await;
    let d = next_delivery(&mut consumer, "the delivery before").await;
    step("ack", d.ack()).await.unwrap();

    blocking(|| node.close_connection(&name, "test: rename"))
        .expect("rabbitmqctl close_connection");
    let (lost, _) = events.lost_and_recovered(0, RECOVERS_WITHIN).await;
    let renamed = events
        .wait_for(lost.index, STEP, "QueueRenamed", |e| {
            matches!(e, ConnectionEvent::QueueRenamed { .. })
        })
        .await;
    let new = match &renamed.event {
        ConnectionEvent::QueueRenamed { old: was, new } => {
            assert_eq!(*was, old);
            new.clone()
        }
        _ => unreachable!(),
    };
    assert_ne!(new, old);
    assert!(new.starts_with("amq.gen-"), "{new}");
    events
        .wait_for(lost.index, STEP, "ConsumerRestored on the new name", |e| {
            matches!(e, ConnectionEvent::ConsumerRestored { consumer_tag, queue, .. }
                if *consumer_tag == tag && *queue == new)
        })
        .await;

    // Through the exchange, the binding of the new name, to the same consumer.
    publish_mandatory(&ch, &exchange, "rk", "after").await;
    let d = next_delivery(&mut consumer, "the delivery through the new name").await;
    assert_eq!(&d.body[..], b"after");
    assert_eq!(d.consumer_tag.as_str(), Some(tag.as_str()));
    step("ack", d.ack()).await.unwrap();
    assert_eq!(counts(&ch, &new).await, (0, 1));
    // The old queue went with the old connection.
    let probe = channel(&conn).await;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    expect_channel_closed(
        step(
            "passive declare of the old name",
            probe.queue_declare(&old, passive, FieldTable::new()),
        )
        .await,
        ReplyCode::NOT_FOUND,
    );

    step(
        "exchange.delete",
        ch.exchange_delete(&exchange, Default::default()),
    )
    .await
    .unwrap();
    step("close", conn.close()).await.unwrap();
}

// ===== 6. stale delivery tags =====

/// xorshift64*: reproducible from its seed (printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// A delivery from before a recovery, and where it came from.
#[derive(Clone)]
struct Stale {
    delivery: Delivery,
    from: &'static str,
}

/// The ways to settle a delivery.
const SETTLE_FORMS: [&str; 6] = [
    "Delivery::ack",
    "Delivery::nack",
    "Delivery::reject",
    "Channel::basic_ack",
    "Channel::basic_nack",
    "Channel::basic_reject",
];

/// `calls` randomised settlements of deliveries from `pool` on `ch`: each must fail with
/// `StaleDeliveryTag` naming its tag. Returns the count per form.
async fn stale_barrage(ch: &Channel, pool: &[Stale], calls: usize, rng: &mut Rng) -> Vec<usize> {
    let mut per_form = vec![0; SETTLE_FORMS.len()];
    for call in 0..calls {
        let stale = &pool[rng.below(pool.len())];
        let d = &stale.delivery;
        let tag = d.delivery_tag;
        let form = rng.below(SETTLE_FORMS.len());
        let (multiple, requeue) = (rng.coin(), rng.coin());
        let result = match form {
            0 => d.ack().await,
            1 => d.nack(requeue).await,
            2 => d.reject(requeue).await,
            3 => ch.basic_ack(tag, BasicAckOptions { multiple }).await,
            4 => {
                ch.basic_nack(tag, BasicNackOptions { multiple, requeue })
                    .await
            }
            _ => ch.basic_reject(tag, BasicRejectOptions { requeue }).await,
        };
        match result {
            Err(Error::StaleDeliveryTag { delivery_tag }) if delivery_tag == tag => {}
            other => panic!(
                "call {call}: {} of stale tag {tag} (from {}, multiple {multiple}, requeue \
                 {requeue}) gave {other:?}, not StaleDeliveryTag",
                SETTLE_FORMS[form], stale.from
            ),
        }
        per_form[form] += 1;
    }
    per_form
}

/// Frames the tap counted: acks, nacks and rejects sent; channel.close received.
#[derive(Default)]
struct SettleFrames {
    settles_sent: AtomicU64,
    channel_closes_received: AtomicU64,
}

/// Takes `n` deliveries from the consumer, each within [`STEP`].
async fn take(consumer: &mut Consumer, n: usize, what: &str) -> Vec<Delivery> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(next_delivery(consumer, &format!("{what} #{i}")).await);
    }
    out
}

/// `n` messages fetched with basic.get, to be acked.
async fn get_n(ch: &Channel, q: &str, n: usize) -> Vec<Delivery> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(ch, q, false).await.expect("a message to get").delivery);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_stale_settlements_fail_alone_and_send_nothing() {
    const MESSAGES: usize = 40;
    const PREFETCH: usize = 30;
    const GETS: usize = 5;
    const CALLS_PER_RECOVERY: usize = 5_000;
    let node = node().await;
    let seed = std::env::var("RECOVERY_STALE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("stale tags: seed {seed} (RECOVERY_STALE_SEED={seed} to repeat)");
    let mut rng = Rng(seed);

    let frames = Arc::new(SettleFrames::default());
    let tap = {
        let frames = frames.clone();
        move |e: &TapEvent<'_>| {
            if let Tapped::Frame(Frame::Method { method, .. }) = e.frame {
                match (e.direction, method.name()) {
                    (amqp_client::Direction::Sent, "basic.ack" | "basic.nack" | "basic.reject") => {
                        frames.settles_sent.fetch_add(1, Ordering::AcqRel);
                    }
                    (amqp_client::Direction::Received, "channel.close") => {
                        frames
                            .channel_closes_received
                            .fetch_add(1, Ordering::AcqRel);
                    }
                    _ => {}
                }
            }
        }
    };
    let name = unique_name("recovery-stale");
    let conn = connect_with(config(&node.url(), &name).with_tap(Arc::new(tap))).await;
    let events = EventLog::of(&conn);
    let pch = confirm_channel(&conn).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&pch, "recovery-stale").await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(q.clone());
    for i in 0..MESSAGES {
        publish_plain(&pch, "", &q, &format!("m{i}")).await;
    }
    step(
        "basic.qos",
        ch.basic_qos(PREFETCH as u16, Default::default()),
    )
    .await
    .unwrap();

    // Epoch 0: five gets and a full prefetch to the consumer, none settled.
    let mut pool: Vec<Stale> = Vec::new();
    let mut epoch: Vec<Stale> = get_n(&ch, &q, GETS)
        .await
        .into_iter()
        .map(|delivery| Stale {
            delivery,
            from: "basic.get before recovery 1",
        })
        .collect();
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    epoch.extend(
        take(&mut consumer, PREFETCH, "epoch 0")
            .await
            .into_iter()
            .map(|delivery| Stale {
                delivery,
                from: "basic.consume before recovery 1",
            }),
    );
    let mut from = 0;
    let mut sent_before = 0;
    for round in 1..=2 {
        let old_tags: BTreeSet<u64> = pool
            .iter()
            .chain(&epoch)
            .map(|s| s.delivery.delivery_tag)
            .collect();
        pool.append(&mut epoch);

        blocking(|| node.close_connection(&name, "test: stale tags"))
            .expect("rabbitmqctl close_connection");
        let (_, recovered) = events.lost_and_recovered(from, RECOVERS_WITHIN).await;
        from = recovered.index + 1;

        // The new epoch's deliveries: the consumer's (all redelivered) and some gets. None of
        // their tags may be one handed out before.
        let fresh = take(&mut consumer, PREFETCH, &format!("epoch {round}")).await;
        assert!(
            fresh.iter().all(|d| d.redelivered),
            "epoch {round}: the consumer's deliveries are the requeued ones"
        );
        let gets = get_n(&ch, &q, GETS).await;
        for d in fresh.iter().chain(&gets) {
            assert!(
                !old_tags.contains(&d.delivery_tag),
                "epoch {round}: tag {} was handed out before the recovery too",
                d.delivery_tag
            );
        }
        let label_consume: &'static str = if round == 1 {
            "basic.consume before recovery 2"
        } else {
            "basic.consume after recovery 2"
        };
        let label_get: &'static str = if round == 1 {
            "basic.get before recovery 2"
        } else {
            "basic.get after recovery 2"
        };
        epoch = fresh
            .into_iter()
            .map(|delivery| Stale {
                delivery,
                from: label_consume,
            })
            .chain(gets.into_iter().map(|delivery| Stale {
                delivery,
                from: label_get,
            }))
            .collect();

        // The barrage: nothing is sent, and the channel goes on.
        let sent = frames.settles_sent.load(Ordering::Acquire);
        assert_eq!(sent, sent_before, "no settlement was sent so far");
        let per_form = stale_barrage(&ch, &pool, CALLS_PER_RECOVERY, &mut rng).await;
        println!(
            "after recovery {round}: {CALLS_PER_RECOVERY} stale settlements of {} deliveries: {:?}",
            pool.len(),
            SETTLE_FORMS.iter().zip(&per_form).collect::<Vec<_>>()
        );
        assert!(ch.error().is_none(), "{:?}", ch.error());
        // A round trip on the channel: anything queued before it has been written (and shown
        // to the tap), and had a settlement reached the broker, its 406 would have come first.
        assert_eq!(
            counts(&ch, &q).await.1,
            1,
            "one consumer, on a working channel"
        );
        assert!(ch.error().is_none(), "{:?}", ch.error());
        assert_eq!(
            frames.settles_sent.load(Ordering::Acquire),
            sent,
            "a stale settlement was sent"
        );
        sent_before = sent;
    }

    // Fresh deliveries still ack: all of the last epoch's.
    for (i, s) in epoch.iter().enumerate() {
        let result = if i % 2 == 0 {
            s.delivery.ack().await
        } else {
            ch.basic_ack(s.delivery.delivery_tag, BasicAckOptions::default())
                .await
        };
        result.unwrap_or_else(|e| panic!("ack of fresh tag {}: {e}", s.delivery.delivery_tag));
    }
    // A round trip: the acks are written before its request.
    assert_eq!(counts(&ch, &q).await.1, 1);
    assert_eq!(
        frames.settles_sent.load(Ordering::Acquire),
        sent_before + epoch.len() as u64,
        "one basic.ack per fresh delivery"
    );
    assert_eq!(frames.channel_closes_received.load(Ordering::Acquire), 0);
    // They took: once the channel closes, only the never-taken messages are left.
    step("channel.close", ch.close()).await.unwrap();
    assert_eq!(
        counts(&pch, &q).await,
        ((MESSAGES - PREFETCH - GETS) as u32, 0)
    );
    assert_eq!(frames.channel_closes_received.load(Ordering::Acquire), 0);
    drop(consumer);

    delete(&pch, &q).await;
    step("close", conn.close()).await.unwrap();
}

// ===== 7. republish =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_republish_in_doubt_publishes_go_out_again_marked_and_nothing_is_lost() {
    const ACKS_LOST: usize = 20;
    const NEVER_ARRIVED: usize = 10;
    let node = node().await;
    let proxy = FaultProxy::start_for_url(&node.url()).await.unwrap();
    let name = unique_name("recovery-republish");
    let config = outage_config(&proxy.url_for(&node.url()), &name, STEP).with_recovery(
        Recovery::enabled()
            .with_max_delay(MAX_DELAY)
            .with_republish(1 << 20),
    );
    let conn = connect_with(config).await;
    let events = EventLog::of(&conn);
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "recovery-republish").await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(q.clone());
    let direct = connect_with(ConnectionConfig::from_uri(&node.url()).unwrap()).await;
    let dch = channel(&direct).await;
    let first = *proxy.connections().first().expect("the proxied connection");
    let props = |batch: &str, i: usize| BasicProperties {
        headers: Some(FieldTable::new().with("batch", batch).with("i", i as i32)),
        ..BasicProperties::default().persistent()
    };

    // Batch A reaches the broker, its confirms are held back by the proxy.
    let held_acks = proxy.hold(
        Direction::ToClient,
        Match::method::<BasicAck>().on_conn(first),
    );
    let mut confirms = Vec::new();
    for i in 0..ACKS_LOST {
        let confirm = step(
            "basic.publish",
            ch.basic_publish("", &q, Default::default(), props("a", i), format!("a-{i}")),
        )
        .await
        .unwrap();
        confirms.push((format!("a-{i}"), confirm));
    }
    eventually(STEP, "batch A in the queue", || async {
        counts(&dch, &q).await.0 == ACKS_LOST as u32
    })
    .await;
    // Batch B never reaches it: held on the way.
    let held_publishes = proxy.hold(
        Direction::ToBroker,
        Match::method::<BasicPublish>().on_conn(first),
    );
    for i in 0..NEVER_ARRIVED {
        let confirm = step(
            "basic.publish",
            ch.basic_publish("", &q, Default::default(), props("b", i), format!("b-{i}")),
        )
        .await
        .unwrap();
        confirms.push((format!("b-{i}"), confirm));
    }
    eventually(STEP, "batch B held by the proxy", || async {
        proxy
            .events_of(first)
            .iter()
            .filter(|e| {
                e.is_method(Direction::ToBroker, "basic.publish") && e.fate() == Some(Fate::Held)
            })
            .count()
            == NEVER_ARRIVED
    })
    .await;

    proxy.cut();
    let (lost, _) = events.lost_and_recovered(0, RECOVERS_WITHIN).await;
    // Every confirm resolves Ok: the copies were confirmed.
    for (body, confirm) in confirms {
        step(&format!("the confirm of {body}"), confirm.wait())
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    let republished: usize = events
        .events()
        .iter()
        .skip(lost.index)
        .filter_map(|e| match e {
            ConnectionEvent::Republished { channel, count } if *channel == ch.id() => Some(*count),
            _ => None,
        })
        .sum();
    assert_eq!(
        republished,
        ACKS_LOST + NEVER_ARRIVED,
        "Republished events:\n{}",
        events.dump()
    );
    drop(held_acks);
    drop(held_publishes);

    // In the queue: batch A twice (the original, and the marked copy), batch B once (marked);
    // the other headers kept.
    let mut copies: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    while let Some(got) = get(&dch, &q, true).await {
        let d = got.delivery;
        let body = String::from_utf8_lossy(&d.body).into_owned();
        let headers = d.properties.headers.clone().unwrap_or_default();
        let batch = &body[..1];
        assert_eq!(
            headers.get("batch"),
            Some(&FieldValue::from(batch)),
            "{body}: headers {headers:?}"
        );
        assert!(headers.get("i").is_some(), "{body}: headers {headers:?}");
        assert_eq!(d.properties.delivery_mode, Some(2), "{body}: persistent");
        let entry = copies.entry(body.clone()).or_default();
        match headers.get(REPUBLISHED_HEADER) {
            None => entry.0 += 1,
            Some(FieldValue::Boolean(true)) => entry.1 += 1,
            Some(other) => panic!("{body}: {REPUBLISHED_HEADER} = {other:?}"),
        }
    }
    let mut expected = BTreeMap::new();
    for i in 0..ACKS_LOST {
        expected.insert(format!("a-{i}"), (1, 1));
    }
    for i in 0..NEVER_ARRIVED {
        expected.insert(format!("b-{i}"), (0, 1));
    }
    assert_eq!(
        copies, expected,
        "(plain copies, marked copies) per message"
    );

    delete(&dch, &q).await;
    step("close", conn.close()).await.unwrap();
    step("close", direct.close()).await.unwrap();
}

// ===== 8. recovery time =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_time_from_close_connection_to_the_first_delivery() {
    const ROUNDS: usize = 20;
    // The bound asserted; the target is 250 ms (printed, not asserted: CI machines vary).
    const BOUND: Duration = Duration::from_secs(2);
    let node = node_alone().await;
    let url = node.url();
    let name = unique_name("recovery-time");
    let conn = connect_with(config(&url, &name)).await;
    let events = Arc::new(EventLog::of(&conn));
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "recovery-time").await;
    let mut cleanup = Cleanup::at(&url);
    cleanup.queue(q.clone());
    let consumer = consume(&ch, &q, FieldTable::new()).await;
    let tag = consumer.tag().to_owned();
    let recorder = Recorder::start(consumer);
    // The publisher is not the one being recovered.
    let pub_conn = connect_with(
        ConnectionConfig::from_uri(&url)
            .unwrap()
            .with_recovery(Recovery::disabled()),
    )
    .await;
    let pch = confirm_channel(&pub_conn).await;
    publish_plain(&pch, "", &q, "warm-up").await;
    recorder.wait_for_body(0, "warm-up", STEP).await;

    let mut to_delivery = Vec::with_capacity(ROUNDS);
    let mut reported = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let from = events.len();
        let seen = recorder.len();
        let body = format!("round-{round}");
        // Published the moment the loss is seen: it waits in the queue for the consumer.
        let publish_on_loss = tokio::spawn({
            let events = events.clone();
            let pch = pch.clone();
            let q = q.clone();
            let body = body.clone();
            async move {
                let lost = events
                    .wait_for(from, RECOVERS_WITHIN, "Disconnected", is_disconnected)
                    .await;
                publish_plain(&pch, "", &q, &body).await;
                lost
            }
        });
        blocking(|| node.close_connection(&name, "test: recovery time"))
            .expect("rabbitmqctl close_connection");
        let lost = step("the loss and the publish", publish_on_loss)
            .await
            .expect("the publishing task");
        assert_eq!(
            disconnect_error(&lost).reply_code(),
            Some(ReplyCode::CONNECTION_FORCED)
        );
        let recovered = events
            .wait_for(lost.index + 1, RECOVERS_WITHIN, "Recovered", is_recovered)
            .await;
        let got = recorder.wait_for_body(seen, &body, STEP).await;
        assert_eq!(got.consumer_tag, tag);
        to_delivery.push(got.at.saturating_duration_since(lost.at));
        reported.push(recovered_fields(&recovered).1);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        (v[ROUNDS / 2 - 1] + v[ROUNDS / 2]) / 2
    };
    let delivery_median = median(&mut to_delivery);
    let reported_median = median(&mut reported);
    println!(
        "recovery time over {ROUNDS} rounds, close_connection (320 received) to the first \
         delivery on the recovered consumer: median {delivery_median:?}, min {:?}, max {:?} \
         (target <= 250 ms); Recovered.took: median {reported_median:?}",
        to_delivery[0],
        to_delivery[ROUNDS - 1]
    );
    assert!(
        delivery_median < BOUND,
        "median recovery time {delivery_median:?} over {BOUND:?}: {to_delivery:?}"
    );
    let ack_errors = recorder.ack_errors.lock().unwrap().clone();
    assert!(ack_errors.is_empty(), "{ack_errors:?}");
    assert_eq!(recorder.stop(&ch, &tag).await.map(|e| e.to_string()), None);

    delete(&ch, &q).await;
    step("close", conn.close()).await.unwrap();
    step("close", pub_conn.close()).await.unwrap();
}

// ===== 9. recovery disabled =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_recovery_an_operator_close_ends_the_consumer_with_the_320() {
    let node = node().await;
    let name = unique_name("recovery-disabled");
    let conn = connect_with(config(&node.url(), &name).with_recovery(Recovery::disabled())).await;
    let events = EventLog::of(&conn);
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "recovery-disabled").await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(q.clone());
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;

    blocking(|| node.close_connection(&name, "test: no recovery"))
        .expect("rabbitmqctl close_connection");
    let end = step("the consumer's end", consumer.next())
        .await
        .expect("an error, not None");
    expect_connection_closed(end, ReplyCode::CONNECTION_FORCED);
    assert!(step("next after the end", consumer.next()).await.is_none());
    let closed = step("closed()", conn.closed()).await;
    assert_eq!(closed.reply_code(), Some(ReplyCode::CONNECTION_FORCED));
    assert!(!conn.is_open());
    assert!(!conn.is_recovering());
    let gave_up = events
        .wait_for(0, STEP, "GaveUp", |e| {
            matches!(e, ConnectionEvent::GaveUp { .. })
        })
        .await;
    assert!(
        !events.events().iter().any(is_recovering),
        "no attempt without recovery:\n{}",
        events.dump()
    );
    println!("{}", gave_up.event);
    // Calls fail at once with the 320, they do not wait.
    expect_connection_closed(
        step("basic.qos", ch.basic_qos(1, Default::default())).await,
        ReplyCode::CONNECTION_FORCED,
    );
    delete_queue(&node.url(), &q).await;
}

// ===== 10. Connection::close =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_is_not_recovered() {
    let node = node().await;
    let name = unique_name("recovery-closed");
    let conn = connect_with(config(&node.url(), &name)).await;
    let events = EventLog::of(&conn);
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "recovery-closed").await;
    let mut cleanup = Cleanup::at(&node.url());
    cleanup.queue(q.clone());
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;

    step("connection.close", conn.close()).await.unwrap();
    match step("the consumer's end", consumer.next()).await {
        None | Some(Err(Error::ClientClosed)) => {}
        other => panic!("the consumer of a closed connection gave {other:?}"),
    }
    assert!(!conn.is_recovering());
    // No recovery starts: ten times the first attempt's longest delay.
    events
        .expect_none_within(0, Duration::from_secs(1), "recovery after close()", |e| {
            is_disconnected(e) || is_recovering(e) || is_recovered(e)
        })
        .await;
    assert!(
        !blocking(|| broker_lists(&node, &name)),
        "the connection is back"
    );
    // Calls fail at once, they do not wait for a recovery.
    match step(
        "publish after close",
        ch.basic_publish("", &q, Default::default(), Default::default(), "x"),
    )
    .await
    {
        Err(Error::ClientClosed) => {}
        other => panic!("a publish after close() gave {other:?}"),
    }
    delete_queue(&node.url(), &q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_during_a_recovery_ends_it() {
    let node = node().await;
    let proxy = FaultProxy::start_for_url(&node.url()).await.unwrap();
    let addr = proxy.addr();
    let upstream = proxy.upstream();
    let name = unique_name("recovery-close-during");
    let conn = connect_with(outage_config(
        &proxy.url_for(&node.url()),
        &name,
        Duration::from_secs(60),
    ))
    .await;
    let events = EventLog::of(&conn);
    let ch = confirm_channel(&conn).await;

    // The network goes and stays away: attempts are refused.
    drop(proxy);
    let lost = events
        .wait_for(0, NOTICED_WITHIN, "Disconnected", is_disconnected)
        .await;
    events
        .wait_for(
            lost.index + 1,
            NOTICED_WITHIN,
            "AttemptFailed",
            is_attempt_failed,
        )
        .await;
    assert!(conn.is_recovering());
    // A publish made now waits for the recovery...
    let waiting = tokio::spawn({
        let ch = ch.clone();
        async move {
            let unroutable = unique_name("nowhere");
            match ch
                .basic_publish("", &unroutable, Default::default(), Default::default(), "x")
                .await
            {
                Ok(confirm) => confirm.wait().await,
                Err(e) => Err(e),
            }
        }
    });

    // ...and the application closes the connection.
    let closed = step("close() during the recovery", conn.close()).await;
    println!("close() during the recovery: {closed:?}");
    assert!(!conn.is_recovering());
    assert!(!conn.is_open());
    match step("the waiting publish", waiting)
        .await
        .expect("the task")
    {
        Err(Error::ClientClosed) => {}
        other => panic!("a publish waiting for the recovery gave {other:?} after close()"),
    }
    // Nothing reconnects: a proxy back on the port sees no connection within three times the
    // longest delay between attempts, and no event comes meanwhile. (Events emitted just before
    // close() may reach the log just after it: counted from here, once the waiting publish has
    // ended.)
    let settled = events.len();
    let options = ProxyOptions {
        listen: addr,
        ..Default::default()
    };
    let proxy = FaultProxy::start_with(upstream, options)
        .await
        .expect("a proxy on the same port again");
    let window = 3 * MAX_DELAY;
    if let Ok(e) = proxy
        .wait_for(|e| matches!(e.what, What::Accepted { .. }), window)
        .await
    {
        panic!("the client connected again after close(): {e}");
    }
    events
        .expect_none_within(settled, Duration::ZERO, "an event after close()", |_| true)
        .await;
    assert!(
        !events.events().iter().any(is_recovered),
        "{}",
        events.dump()
    );
    match step(
        "publish after close",
        ch.basic_publish("", "x", Default::default(), Default::default(), "x"),
    )
    .await
    {
        Err(Error::ClientClosed) => {}
        other => panic!("a publish after close() gave {other:?}"),
    }
}

// ===== the first connect over an endpoint list =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_connect_tries_every_endpoint_and_names_each_failure() {
    let dead: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let uris: Vec<String> = dead
        .iter()
        .map(|p| format!("amqp://guest:guest@127.0.0.1:{p}/%2f"))
        .collect();
    let config = ConnectionConfig::from_uris(&uris).expect("the URIs parse");
    let endpoints: Vec<Endpoint> = dead
        .iter()
        .map(|p| Endpoint::new("127.0.0.1", *p))
        .collect();
    assert_eq!(config.endpoints(), endpoints);
    match step(
        "connecting to three dead endpoints",
        Connection::connect(config),
    )
    .await
    {
        Err(Error::Connect { attempts }) => {
            let mut tried: Vec<Endpoint> = attempts.iter().map(|(e, _)| e.clone()).collect();
            tried.sort_by_key(|e| e.port);
            let mut expected = endpoints.clone();
            expected.sort_by_key(|e| e.port);
            assert_eq!(tried, expected, "each endpoint once");
            for (endpoint, error) in &attempts {
                assert!(matches!(error, Error::Io(_)), "{endpoint}: {error}");
            }
        }
        Err(other) => panic!("expected Error::Connect, got {other}"),
        Ok(_) => panic!("connected to a dead endpoint"),
    }

    // A dead endpoint first, the node second, in that order: the node it is.
    let node = node().await;
    let config = ConnectionConfig::from_uris(&[uris[0].clone(), node.url()])
        .unwrap()
        .with_endpoint_order(EndpointOrder::InOrder);
    let conn = connect_with(config).await;
    assert_eq!(conn.endpoint(), Some(endpoint_of(&node)));
    step("close", conn.close()).await.unwrap();
}
