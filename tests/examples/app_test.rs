//! Testing an application with amqp-testkit: a broker, a `FaultProxy` in front of it, the
//! application run through the proxy, assertions on the frames it exchanged, then a cut it recovers from.
//!
//! The "application" is two functions: [`place_order`] publishes an order with publisher
//! confirms and [`take_order`] consumes one. [`main`] is the test; in a real application it is a
//! `#[tokio::test]` in `tests/`.
//!
//! Run it with `cargo run -p amqp-testkit --example app_test` (it uses the broker at `AMQP_URL`
//! or 127.0.0.1:5672, or else starts a private node: RabbitMQ must be installed).

use std::time::Duration;

use amqp_client::{Channel, Connection, ConnectionConfig, ConnectionEvent, Error, FieldTable};
use amqp_testkit::proxy::{Direction, FaultProxy, FrameEvent, What};
use amqp_testkit::{unique_name, Broker, Cleanup};

// ===== the application =====

/// Connects to the broker at `url` and opens a channel in confirm mode.
async fn connect(url: &str) -> Result<(Connection, Channel), Error> {
    let conn = Connection::connect(ConnectionConfig::from_uri(url)?).await?;
    let ch = conn.open_channel().await?;
    ch.confirm_select(Default::default()).await?;
    Ok((conn, ch))
}

/// Publishes `order` to `queue` (declaring it) and waits until the broker has confirmed it.
async fn place_order(ch: &Channel, queue: &str, order: &str) -> Result<(), Error> {
    ch.queue_declare(queue, Default::default(), FieldTable::new())
        .await?;
    let confirm = ch
        .basic_publish(
            "",
            queue,
            Default::default(),
            Default::default(),
            order.to_owned(),
        )
        .await?;
    confirm.wait().await
}

/// Takes the next order from `queue` and acknowledges it.
async fn take_order(ch: &Channel, queue: &str) -> Result<String, Error> {
    let mut consumer = ch
        .basic_consume(queue, "", Default::default(), FieldTable::new())
        .await?;
    let delivery = consumer.next().await.expect("the consumer is open")?;
    delivery.ack().await?;
    Ok(String::from_utf8_lossy(&delivery.body).into_owned())
}

// ===== its test =====

#[tokio::main]
async fn main() {
    // The shared broker if one answers, else a private node (removed when `broker` drops).
    let broker = tokio::task::spawn_blocking(Broker::from_env)
        .await
        .unwrap()
        .expect("a RabbitMQ broker");
    let proxy = FaultProxy::start_for_url(broker.url()).await.unwrap();
    let mut cleanup = Cleanup::at(broker.url()); // deletes the queue if an assertion fails
    let queue = cleanup.queue(unique_name("orders"));

    // The application, through the proxy.
    let (conn, ch) = connect(&proxy.url_for(broker.url())).await.unwrap();
    place_order(&ch, &queue, "order #1: 2 apples")
        .await
        .unwrap();
    assert_eq!(take_order(&ch, &queue).await.unwrap(), "order #1: 2 apples");

    // What went over the wire: the publish, the broker's confirm of it, the app's ack of the
    // delivery (a basic.ack has no reply: wait for the proxy to see it rather than sleep).
    let to_broker = |name| move |e: &FrameEvent| e.is_method(Direction::ToBroker, name);
    let to_client = |name| move |e: &FrameEvent| e.is_method(Direction::ToClient, name);
    let limit = Duration::from_secs(5);
    let publish = proxy
        .wait_for(to_broker("basic.publish"), limit)
        .await
        .unwrap();
    let confirm = proxy.wait_for(to_client("basic.ack"), limit).await.unwrap();
    let acked = proxy.wait_for(to_broker("basic.ack"), limit).await.unwrap();
    assert!(publish.seq < confirm.seq && confirm.seq < acked.seq);
    println!("{publish}\n{confirm}\n{acked}");

    // The network fails. The client recovers through the proxy (a new connection behind the
    // same `Connection` and channel), and says so in its events; the next order goes through.
    let mut recovery = conn.events();
    proxy.cut();
    loop {
        let event = tokio::time::timeout(limit, recovery.recv())
            .await
            .expect("recovered in time")
            .unwrap();
        println!("the app saw: {event}");
        if matches!(event, ConnectionEvent::Recovered { .. }) {
            break;
        }
    }
    place_order(&ch, &queue, "order #2").await.unwrap();
    assert_eq!(take_order(&ch, &queue).await.unwrap(), "order #2");
    let events = proxy.events();
    let cut = events
        .iter()
        .position(|e| matches!(e.what, What::Cut { .. }))
        .expect("the cut is logged");
    let reconnected = events[cut..]
        .iter()
        .find(|e| e.is_method(Direction::ToBroker, "connection.start-ok"))
        .expect("a new connection after the cut");
    println!("{}\n{reconnected}", events[cut]);
    conn.close().await.unwrap();

    // Clean up through a connection of our own.
    let (conn, ch) = connect(broker.url()).await.unwrap();
    ch.queue_delete(&queue, Default::default()).await.unwrap();
    conn.close().await.unwrap();
}
