//! Every method of the AMQP 0-9-1 spec (RabbitMQ's edition, with its extensions) is reachable
//! through the public API: a client-sent method can be sent, a server-sent one is received and
//! shown to the application (or handled for it, where the protocol says the client must).
//!
//! Two checks keep this true:
//! * [`SURFACE`] maps each `class.method` to who sends it and the public item that covers it;
//!   `the_surface_table_names_exactly_the_methods_of_the_spec` fails when the spec file gains a
//!   method the table does not name (or the table names one the spec does not have).
//! * `a_tour_of_the_api_puts_every_method_on_the_wire` calls the public API against the shared
//!   broker with a frame tap installed, and checks that every client-sent method was seen going
//!   out and every server-sent one coming in, except the few in [`NOT_ON_THE_TOUR`], which say
//!   why. Since the tour calls each API item, removing one also breaks the build.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use amqp_client::wire::Frame;
use amqp_client::{
    AccessRequestOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRecoverOptions, Direction, Error,
    ExchangeBindOptions, ExchangeDeleteOptions, ExchangeUnbindOptions, FieldTable,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions, ReplyCode,
    SaslMechanism, TapEvent, Tapped,
};
use common::*;

/// Who sends a method, by the spec's rules (RabbitMQ's extensions included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
    /// Either peer: the close handshakes, channel.flow, and basic.ack / nack / cancel (the
    /// server's in confirm mode and consumer cancel notification).
    Both,
}

/// One spec method and the public API item that sends it or shows it to the application.
struct Surface {
    method: &'static str,
    sender: Sender,
    api: &'static str,
}

const fn m(method: &'static str, sender: Sender, api: &'static str) -> Surface {
    Surface {
        method,
        sender,
        api,
    }
}

use Sender::{Both, Client, Server};

/// The whole spec, method by method, in the spec's order.
const SURFACE: &[Surface] = &[
    // ===== connection (10) =====
    m("connection.start", Server, "Connection::connect (handled: checks version and mechanisms); Connection::server_properties"),
    m("connection.start-ok", Client, "Connection::connect with ConnectionConfig::mechanism (PLAIN or AMQPLAIN)"),
    m("connection.secure", Server, "Connection::connect fails with Error::Negotiation (PLAIN and AMQPLAIN take no challenge)"),
    m("connection.secure-ok", Client, "never needed: no supported mechanism answers a challenge"),
    m("connection.tune", Server, "Connection::connect (handled); Connection::tuning"),
    m("connection.tune-ok", Client, "Connection::connect with ConnectionConfig::{channel_max, frame_max, heartbeat}"),
    m("connection.open", Client, "Connection::connect with ConnectionConfig::vhost"),
    m("connection.open-ok", Server, "Connection::connect returns Ok"),
    m("connection.close", Both, "Connection::close; the broker's: Error::ConnectionClosed(CloseReason), Connection::error / closed"),
    m("connection.close-ok", Both, "Connection::close returns; the client answers the broker's close itself"),
    m("connection.blocked", Server, "Connection::blocked / watch_blocked"),
    m("connection.unblocked", Server, "Connection::blocked / watch_blocked back to None"),
    m("connection.update-secret", Client, "Connection::update_secret"),
    m("connection.update-secret-ok", Server, "Connection::update_secret returns Ok"),
    // ===== channel (20) =====
    m("channel.open", Client, "Connection::open_channel"),
    m("channel.open-ok", Server, "Connection::open_channel returns the Channel"),
    m("channel.flow", Both, "Channel::channel_flow; the broker's: Channel::flow_active, basic_publish waits"),
    m("channel.flow-ok", Both, "Channel::channel_flow returns; the client answers the broker's flow itself"),
    m("channel.close", Both, "Channel::close (and drop); the broker's: Error::ChannelClosed(CloseReason), Channel::error"),
    m("channel.close-ok", Both, "Channel::close returns; the client answers the broker's close itself"),
    // ===== access (30), deprecated =====
    m("access.request", Client, "Channel::access_request"),
    m("access.request-ok", Server, "Channel::access_request returns the ticket"),
    // ===== exchange (40) =====
    m("exchange.declare", Client, "Channel::exchange_declare with ExchangeDeclareOptions"),
    m("exchange.declare-ok", Server, "Channel::exchange_declare returns Ok"),
    m("exchange.delete", Client, "Channel::exchange_delete with ExchangeDeleteOptions"),
    m("exchange.delete-ok", Server, "Channel::exchange_delete returns Ok (at once with nowait)"),
    m("exchange.bind", Client, "Channel::exchange_bind with ExchangeBindOptions"),
    m("exchange.bind-ok", Server, "Channel::exchange_bind returns Ok"),
    m("exchange.unbind", Client, "Channel::exchange_unbind with ExchangeUnbindOptions"),
    m("exchange.unbind-ok", Server, "Channel::exchange_unbind returns Ok (method id 51)"),
    // ===== queue (50) =====
    m("queue.declare", Client, "Channel::queue_declare with QueueDeclareOptions"),
    m("queue.declare-ok", Server, "Channel::queue_declare returns Some(QueueDeclareOk) (name, counts); None with nowait"),
    m("queue.bind", Client, "Channel::queue_bind with QueueBindOptions"),
    m("queue.bind-ok", Server, "Channel::queue_bind returns Ok"),
    m("queue.purge", Client, "Channel::queue_purge with QueuePurgeOptions"),
    m("queue.purge-ok", Server, "Channel::queue_purge returns Some(message count); None with nowait"),
    m("queue.delete", Client, "Channel::queue_delete with QueueDeleteOptions"),
    m("queue.delete-ok", Server, "Channel::queue_delete returns Some(message count); None with nowait"),
    m("queue.unbind", Client, "Channel::queue_unbind"),
    m("queue.unbind-ok", Server, "Channel::queue_unbind returns Ok"),
    // ===== basic (60) =====
    m("basic.qos", Client, "Channel::basic_qos with BasicQosOptions (prefetch_size, global)"),
    m("basic.qos-ok", Server, "Channel::basic_qos returns Ok"),
    m("basic.consume", Client, "Channel::basic_consume with BasicConsumeOptions"),
    m("basic.consume-ok", Server, "Channel::basic_consume returns the Consumer (Consumer::tag)"),
    m("basic.cancel", Both, "Channel::basic_cancel with BasicCancelOptions, Consumer::cancel; the broker's: Consumer::next gives Err(Error::ConsumerCancelled { consumer_tag })"),
    m("basic.cancel-ok", Both, "Channel::basic_cancel returns, Consumer::next then None; the client answers the broker's cancel itself"),
    m("basic.publish", Client, "Channel::basic_publish with BasicPublishOptions"),
    m("basic.return", Server, "Channel::next_return gives Returned"),
    m("basic.deliver", Server, "Consumer::next gives Delivery"),
    m("basic.get", Client, "Channel::basic_get with BasicGetOptions"),
    m("basic.get-ok", Server, "Channel::basic_get returns Some(GetOk)"),
    m("basic.get-empty", Server, "Channel::basic_get returns None"),
    m("basic.ack", Both, "Channel::basic_ack with BasicAckOptions, Delivery::ack; the broker's (confirms): PublishConfirm::wait returns Ok"),
    m("basic.reject", Client, "Channel::basic_reject with BasicRejectOptions, Delivery::reject"),
    m("basic.recover-async", Client, "Channel::basic_recover_async with BasicRecoverOptions"),
    m("basic.recover", Client, "Channel::basic_recover with BasicRecoverOptions"),
    m("basic.recover-ok", Server, "Channel::basic_recover returns Ok"),
    m("basic.nack", Both, "Channel::basic_nack with BasicNackOptions, Delivery::nack; the broker's (confirms): PublishConfirm::wait gives Err(Error::Nacked)"),
    // ===== tx (90) =====
    m("tx.select", Client, "Channel::tx_select"),
    m("tx.select-ok", Server, "Channel::tx_select returns Ok"),
    m("tx.commit", Client, "Channel::tx_commit"),
    m("tx.commit-ok", Server, "Channel::tx_commit returns Ok"),
    m("tx.rollback", Client, "Channel::tx_rollback"),
    m("tx.rollback-ok", Server, "Channel::tx_rollback returns Ok"),
    // ===== confirm (85) =====
    m("confirm.select", Client, "Channel::confirm_select with ConfirmSelectOptions"),
    m("confirm.select-ok", Server, "Channel::confirm_select returns Ok"),
];

/// Methods (and directions) the tour cannot put on the wire against the shared broker, and why.
/// Each is still handled, as [`SURFACE`] says.
const NOT_ON_THE_TOUR: &[(&str, Direction, &str)] = &[
    (
        "connection.secure",
        Direction::Received,
        "RabbitMQ sends no SASL challenge for PLAIN or AMQPLAIN",
    ),
    (
        "connection.secure-ok",
        Direction::Sent,
        "only an answer to connection.secure",
    ),
    (
        "connection.blocked",
        Direction::Received,
        "needs a resource alarm, which would block every client of the shared broker; \
         faults.rs raises one on a private node",
    ),
    (
        "connection.unblocked",
        Direction::Received,
        "as connection.blocked",
    ),
    (
        "channel.flow",
        Direction::Received,
        "RabbitMQ 3.x never sends channel.flow (it blocks connections instead)",
    ),
    (
        "channel.flow-ok",
        Direction::Sent,
        "only an answer to the broker's channel.flow",
    ),
    (
        "basic.cancel-ok",
        Direction::Sent,
        "RabbitMQ sends its basic.cancel with nowait set, so the client does not answer it",
    ),
];

fn spec_methods() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../amqp-wire/tests/data/amqp-rabbitmq-0.9.1.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec: serde_json::Value = serde_json::from_str(&text).expect("the spec file is JSON");
    let mut names = BTreeSet::new();
    for class in spec["classes"].as_array().expect("a classes list") {
        let class_name = class["name"].as_str().expect("a class name");
        for method in class["methods"].as_array().expect("a methods list") {
            let method_name = method["name"].as_str().expect("a method name");
            names.insert(format!("{class_name}.{method_name}"));
        }
    }
    names
}

#[test]
fn the_surface_table_names_exactly_the_methods_of_the_spec() {
    let spec = spec_methods();
    assert_eq!(spec.len(), 66, "RabbitMQ's 0-9-1 spec has 66 methods");
    let mut table = BTreeSet::new();
    for entry in SURFACE {
        assert!(
            table.insert(entry.method.to_owned()),
            "{} is in SURFACE twice",
            entry.method
        );
        assert!(!entry.api.is_empty(), "{} names no API", entry.method);
    }
    let missing: Vec<_> = spec.difference(&table).collect();
    let extra: Vec<_> = table.difference(&spec).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "spec methods missing from SURFACE: {missing:?}; SURFACE entries not in the spec: {extra:?}"
    );
    for (method, _, why) in NOT_ON_THE_TOUR {
        assert!(
            table.contains(*method),
            "{method} ({why}) is not a spec method"
        );
    }
}

/// What the tap saw: (direction, method name) pairs.
type Seen = Arc<Mutex<BTreeSet<(bool, &'static str)>>>;

fn recording_tap(seen: &Seen) -> Arc<dyn amqp_client::FrameTap> {
    let seen = seen.clone();
    Arc::new(move |event: &TapEvent<'_>| {
        if let Tapped::Frame(Frame::Method { method, .. }) = event.frame {
            let sent = event.direction == Direction::Sent;
            // A poisoned lock means another assertion already failed.
            if let Ok(mut seen) = seen.lock() {
                seen.insert((sent, method.name()));
            }
        }
    })
}

#[tokio::test]
async fn a_tour_of_the_api_puts_every_method_on_the_wire() {
    amqp_testkit::require_broker();
    let seen: Seen = Arc::default();
    let tapped = || config().with_tap(recording_tap(&seen));
    let mut cleanup = Cleanup::new();

    // connection.start .. open-ok, with AMQPLAIN on a second connection.
    let conn = connect_with(tapped()).await;
    let amqplain = connect_with(tapped().with_mechanism(SaslMechanism::AmqPlain)).await;
    assert!(!conn.server_properties().is_empty());
    assert!(conn.tuning().frame_max >= amqp_client::wire::FRAME_MIN_SIZE);
    step("connection.close", amqplain.close()).await.unwrap();
    step(
        "connection.update-secret",
        conn.update_secret("guest", "tour"),
    )
    .await
    .unwrap();

    let ch = channel(&conn).await;
    step(
        "access.request",
        ch.access_request("/data", AccessRequestOptions::default()),
    )
    .await
    .unwrap();
    step("channel.flow", ch.channel_flow(true)).await.unwrap();
    assert!(ch.flow_active());

    // exchange.*
    let source = cleanup.exchange(amqp_testkit::unique_name("tour-source"));
    let destination = cleanup.exchange(amqp_testkit::unique_name("tour-destination"));
    declare_plain_exchange(&ch, &source, "direct").await;
    declare_plain_exchange(&ch, &destination, "fanout").await;
    step(
        "exchange.bind",
        ch.exchange_bind(
            &destination,
            &source,
            "k",
            ExchangeBindOptions::default(),
            FieldTable::new(),
        ),
    )
    .await
    .unwrap();
    step(
        "exchange.unbind",
        ch.exchange_unbind(
            &destination,
            &source,
            "k",
            ExchangeUnbindOptions::default(),
            FieldTable::new(),
        ),
    )
    .await
    .unwrap();

    // queue.*
    let q = cleanup.queue(amqp_testkit::unique_name("tour-q"));
    declare(&ch, &q, QueueDeclareOptions::default(), FieldTable::new()).await;
    step(
        "queue.bind",
        ch.queue_bind(
            &q,
            &destination,
            "",
            QueueBindOptions::default(),
            FieldTable::new(),
        ),
    )
    .await
    .unwrap();
    unbind(&ch, &q, &destination, "").await;
    step(
        "queue.purge",
        ch.queue_purge(&q, QueuePurgeOptions::default()),
    )
    .await
    .unwrap();
    step(
        "basic.qos",
        ch.basic_qos(
            10,
            BasicQosOptions {
                prefetch_size: 0,
                global: false,
            },
        ),
    )
    .await
    .unwrap();

    // basic.publish, confirms (ack and nack), return, get-ok, get-empty, reject, recover.
    let pch = confirm_channel(&conn).await;
    publish_plain(&pch, "", &q, "one").await;
    publish_plain(&pch, "", &q, "two").await;
    publish_returned(&pch, &source, "no-binding", "returned").await;
    step("basic.return", pch.next_return())
        .await
        .expect("returned");
    let full = cleanup.queue(amqp_testkit::unique_name("tour-full"));
    let reject_publish = FieldTable::new()
        .with("x-max-length", 0i32)
        .with("x-overflow", "reject-publish");
    declare(&pch, &full, QueueDeclareOptions::default(), reject_publish).await;
    let nacked = publish(
        &pch,
        "",
        &full,
        BasicPublishOptions::default(),
        Default::default(),
        "nacked",
    )
    .await;
    assert!(matches!(nacked, Err(Error::Nacked)), "{nacked:?}");

    let got = get(&ch, &q, false).await.expect("get-ok");
    step("basic.reject", got.delivery.reject(true))
        .await
        .unwrap();
    // Left unacked, for basic.recover to requeue.
    let _unacked = get(&ch, &q, false).await.expect("get-ok");
    step(
        "basic.recover",
        ch.basic_recover(BasicRecoverOptions { requeue: true }),
    )
    .await
    .unwrap();
    step(
        "basic.recover-async",
        ch.basic_recover_async(BasicRecoverOptions { requeue: true }),
    )
    .await
    .unwrap();

    // basic.consume, deliver, ack, nack, cancel (ours, with and without nowait).
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let first = next_delivery(&mut consumer, "basic.deliver").await;
    let second = next_delivery(&mut consumer, "basic.deliver").await;
    step("basic.ack", first.ack()).await.unwrap();
    step(
        "basic.nack",
        ch.basic_nack(
            second.delivery_tag,
            BasicNackOptions {
                multiple: false,
                requeue: false,
            },
        ),
    )
    .await
    .unwrap();
    step("basic.cancel", consumer.cancel()).await.unwrap();
    let tag = amqp_testkit::unique_name("tour-ctag");
    let mut quiet = step(
        "basic.consume",
        ch.basic_consume(&q, &tag, BasicConsumeOptions::default(), FieldTable::new()),
    )
    .await
    .unwrap();
    step(
        "basic.cancel nowait",
        ch.basic_cancel(&tag, BasicCancelOptions { nowait: true }),
    )
    .await
    .unwrap();
    assert!(step("end", quiet.next()).await.is_none());
    assert!(get(&ch, &q, true).await.is_none(), "get-empty");

    // The broker's basic.cancel: the queue goes while a consumer is on it.
    let doomed = cleanup.queue(amqp_testkit::unique_name("tour-doomed"));
    declare(
        &ch,
        &doomed,
        QueueDeclareOptions::default(),
        FieldTable::new(),
    )
    .await;
    let mut orphan = consume(&pch, &doomed, FieldTable::new()).await;
    delete(&ch, &doomed).await;
    assert!(matches!(
        step("the broker's basic.cancel", orphan.next()).await,
        Some(Err(Error::ConsumerCancelled { ref consumer_tag })) if consumer_tag == orphan.tag()
    ));

    // tx.*
    let tx = channel(&conn).await;
    step("tx.select", tx.tx_select()).await.unwrap();
    step("tx.commit", tx.tx_commit()).await.unwrap();
    step("tx.rollback", tx.tx_rollback()).await.unwrap();
    step("channel.close", tx.close()).await.unwrap();

    // The broker's channel.close (answered with close-ok by the client).
    let doomed_ch = channel(&conn).await;
    let missing = amqp_testkit::unique_name("tour-missing");
    let refused = step(
        "passive declare of a missing queue",
        doomed_ch.queue_declare(
            &missing,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await;
    expect_channel_closed(refused, ReplyCode::NOT_FOUND);

    // Clean up, then the broker's connection.close (answered with close-ok by the client).
    step(
        "queue.delete",
        ch.queue_delete(&q, QueueDeleteOptions::default()),
    )
    .await
    .unwrap();
    delete(&ch, &full).await;
    step(
        "exchange.delete",
        ch.exchange_delete(&destination, ExchangeDeleteOptions::default()),
    )
    .await
    .unwrap();
    step(
        "exchange.delete",
        ch.exchange_delete(&source, Default::default()),
    )
    .await
    .unwrap();
    step("connection.close", conn.close()).await.unwrap();
    let doomed_conn = connect_with(tapped()).await;
    let refused = step(
        "channel.flow inactive",
        channel(&doomed_conn).await.channel_flow(false),
    )
    .await;
    expect_connection_closed(refused, ReplyCode::NOT_IMPLEMENTED);

    let seen = seen.lock().expect("the tap never panics").clone();
    let mut not_seen = Vec::new();
    for entry in SURFACE {
        let directions: &[Direction] = match entry.sender {
            Client => &[Direction::Sent],
            Server => &[Direction::Received],
            Both => &[Direction::Sent, Direction::Received],
        };
        for &direction in directions {
            let exempt = NOT_ON_THE_TOUR
                .iter()
                .any(|(m, d, _)| *m == entry.method && *d == direction);
            let was_seen = seen.contains(&(direction == Direction::Sent, entry.method));
            assert!(
                !(exempt && was_seen),
                "{} {direction:?} is listed in NOT_ON_THE_TOUR but was seen: drop it from the list",
                entry.method
            );
            if !exempt && !was_seen {
                not_seen.push(format!("{} {}", direction.arrow(), entry.method));
            }
        }
    }
    assert!(
        not_seen.is_empty(),
        "methods the tour never put on the wire: {not_seen:?}"
    );
}
