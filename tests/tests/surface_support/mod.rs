//! Helpers shared by the `surface_*.rs` and `soft_errors.rs` tests (`mod surface_support;`),
//! on top of `common`: confirmed publishes, one-message gets, and a clean-up guard that also
//! removes exchanges when a test fails half-way.
#![allow(dead_code)]

use std::time::Duration;

use amqp_client::{
    BasicProperties, BasicPublishOptions, Channel, Connection, Error, ExchangeDeclareOptions,
    FieldTable, GetOk, QueueDeleteOptions, ReplyCode,
};

use crate::common::{channel, config, step};

/// Opens a channel in confirm mode, so a publish can be awaited until the broker routed it.
pub(crate) async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = channel(conn).await;
    step("confirm.select", ch.confirm_select())
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

/// basic.get, panicking on failure.
pub(crate) async fn get(ch: &Channel, queue: &str, no_ack: bool) -> Option<GetOk> {
    step(&format!("basic.get {queue}"), ch.basic_get(queue, no_ack))
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
    crate::common::expect_channel_closed(result, ReplyCode::NOT_FOUND);
}

/// Headers for a message: `FieldTable` entries as basic properties.
pub(crate) fn with_headers(headers: FieldTable) -> BasicProperties {
    BasicProperties {
        headers: Some(headers),
        ..Default::default()
    }
}

/// Deletes the queues and exchanges it was given, on a connection of its own, if the test
/// panics before deleting them itself, so that a failing test leaves nothing behind on the
/// shared broker. Queues and exchanges that are already gone are fine.
#[derive(Default)]
pub(crate) struct Cleanup {
    queues: Vec<String>,
    exchanges: Vec<String>,
}

impl Cleanup {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Names a queue to delete on failure; returns it, for chaining.
    pub(crate) fn queue(&mut self, name: String) -> String {
        self.queues.push(name.clone());
        name
    }

    /// Names an exchange to delete on failure; returns it, for chaining.
    pub(crate) fn exchange(&mut self, name: String) -> String {
        self.exchanges.push(name.clone());
        name
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let queues = std::mem::take(&mut self.queues);
        let exchanges = std::mem::take(&mut self.exchanges);
        // A thread of its own: the test's runtime may be the one that is unwinding, and a
        // runtime cannot be started from inside another.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let work = async {
                    let conn = Connection::connect(config()).await.ok()?;
                    for name in &queues {
                        let ch = conn.open_channel().await.ok()?;
                        let _ = ch.queue_delete(name, QueueDeleteOptions::default()).await;
                    }
                    for name in &exchanges {
                        let ch = conn.open_channel().await.ok()?;
                        let _ = ch.exchange_delete(name, false).await;
                    }
                    conn.close().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(20), work).await;
            });
        })
        .join();
    }
}
