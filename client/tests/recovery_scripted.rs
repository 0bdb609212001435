//! Recovery, driven deterministically: every connection the client opens
//! is an in-memory pipe to a scripted broker, and time is tokio's paused
//! clock (backoff sleeps pass at once, in order). What is checked here is
//! the protocol: the order of restoration frame by frame, delivery tag
//! numbering across connections, each publish's outcome, what calls in
//! flight get, when recovery gives up, and the backoff's bounds. The same
//! behaviour against a real RabbitMQ: `tests/tests/recovery*.rs`.

mod support;

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amqp_client::wire::*;
use amqp_client::{
    BasicConsumeOptions, Channel, Connection, ConnectionConfig, ConnectionEvent, Endpoint, Error,
    QueueDeclareOptions, Recovery,
};
use support::{config, deliver, pipe, tune, within, FakeBroker};
use tokio::io::DuplexStream;
use tokio::sync::{broadcast, mpsc};

/// A network of scripted brokers: each connection the client opens comes
/// out of `brokers`; while `refusing` is above 0 connections are refused
/// (and it counts down).
struct Network {
    brokers: mpsc::UnboundedReceiver<(Endpoint, FakeBroker)>,
    refusing: Arc<AtomicU32>,
}

type Connect =
    Box<dyn Fn(Endpoint) -> std::future::Ready<io::Result<DuplexStream>> + Send + Sync + 'static>;

fn network() -> (Connect, Network) {
    let (tx, brokers) = mpsc::unbounded_channel();
    let refusing = Arc::new(AtomicU32::new(0));
    let refuse = refusing.clone();
    let connect: Connect = Box::new(move |endpoint: Endpoint| {
        let refused = refuse
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return std::future::ready(Err(io::ErrorKind::ConnectionRefused.into()));
        }
        let (client, broker) = pipe(1 << 20);
        let _ = tx.send((endpoint, broker));
        std::future::ready(Ok(client))
    });
    (connect, Network { brokers, refusing })
}

impl Network {
    /// The broker of the client's next connection, handshake done.
    async fn next(&mut self) -> FakeBroker {
        let (_, mut broker) = within("a connection", self.brokers.recv())
            .await
            .expect("the client connects");
        broker.handshake(tune(2047, 131_072, 0)).await;
        broker
    }
}

async fn connect(config: ConnectionConfig) -> (Connection, FakeBroker, Network) {
    let (connect, mut network) = network();
    let (conn, broker) = tokio::join!(Connection::connect_with(config, connect), network.next());
    (conn.expect("connected"), broker, network)
}

/// Expects `channel`'s next method to satisfy `check`, answers `reply`.
async fn answer(
    broker: &mut FakeBroker,
    channel: u16,
    check: impl FnOnce(&Method) -> bool,
    reply: impl Into<Method>,
) {
    let (id, method) = broker.recv_method().await;
    assert_eq!(
        id, channel,
        "{method:?} on channel {id}, expected channel {channel}"
    );
    assert!(check(&method), "unexpected {method:?} on channel {id}");
    broker.send_method(channel, reply).await;
}

async fn open_channel(conn: &Connection, broker: &mut FakeBroker) -> Channel {
    support::open_channel(conn, broker).await
}

fn declare_ok(queue: &str) -> QueueDeclareOk {
    QueueDeclareOk {
        queue: queue.into(),
        message_count: 0,
        consumer_count: 0,
    }
}

/// The next event that is not a Recovering/AttemptFailed step.
async fn next_event(events: &mut broadcast::Receiver<ConnectionEvent>) -> ConnectionEvent {
    within("an event", events.recv()).await.expect("an event")
}

/// Events until (and with) Recovered or GaveUp.
async fn events_until_settled(
    events: &mut broadcast::Receiver<ConnectionEvent>,
) -> Vec<ConnectionEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(events).await;
        let done = matches!(
            event,
            ConnectionEvent::Recovered { .. } | ConnectionEvent::GaveUp { .. }
        );
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn names(events: &[ConnectionEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            ConnectionEvent::Disconnected { .. } => "disconnected",
            ConnectionEvent::Recovering { .. } => "recovering",
            ConnectionEvent::AttemptFailed { .. } => "attempt failed",
            ConnectionEvent::Recovered { .. } => "recovered",
            ConnectionEvent::GaveUp { .. } => "gave up",
            ConnectionEvent::QueueRenamed { .. } => "queue renamed",
            ConnectionEvent::TopologyFailed { .. } => "topology failed",
            ConnectionEvent::ConsumerRestored { .. } => "consumer restored",
            ConnectionEvent::ConsumerFailed { .. } => "consumer failed",
            ConnectionEvent::Republished { .. } => "republished",
            _ => "other",
        })
        .collect()
}

/// A consumer on channel 1 of queue "q", tag "c".
async fn consumer_on(ch: &Channel, broker: &mut FakeBroker) -> amqp_client::Consumer {
    let (consumer, ()) = tokio::join!(
        ch.basic_consume("q", "c", BasicConsumeOptions::default(), FieldTable::new()),
        answer(
            broker,
            ch.id(),
            |m| matches!(m, Method::BasicConsume(c) if c.queue == "q" && c.consumer_tag == "c"),
            BasicConsumeOk {
                consumer_tag: "c".into()
            }
        )
    );
    consumer.expect("basic.consume")
}

/// The broker's side of restoring channel 1 with consumer "c" on "q".
async fn restore_one_consumer(broker: &mut FakeBroker) {
    broker.accept_channel().await;
    broker.accept_channel().await; // the scratch channel
    answer(
        broker,
        2,
        |m| matches!(m, Method::QueueDeclare(d) if d.passive && d.queue == "q"),
        declare_ok("q"),
    )
    .await;
    answer(
        broker,
        1,
        |m| matches!(m, Method::BasicConsume(c) if c.consumer_tag == "c"),
        BasicConsumeOk {
            consumer_tag: "c".into(),
        },
    )
    .await;
    answer(
        broker,
        2,
        |m| matches!(m, Method::ChannelClose(_)),
        ChannelCloseOk {},
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn restoration_goes_channels_then_exchanges_queues_bindings_then_consumers() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let mut events = conn.events();
    let ch1 = support::confirm_channel(&conn, &mut b1).await;
    let (qos, ()) = tokio::join!(
        ch1.basic_qos(10, Default::default()),
        answer(
            &mut b1,
            1,
            |m| matches!(m, Method::BasicQos(q) if q.prefetch_count == 10),
            BasicQosOk {}
        )
    );
    qos.unwrap();
    let ch2 = open_channel(&conn, &mut b1).await;
    let (declared, ()) = tokio::join!(
        ch2.exchange_declare("x", "direct", Default::default(), FieldTable::new()),
        answer(
            &mut b1,
            2,
            |m| matches!(m, Method::ExchangeDeclare(_)),
            ExchangeDeclareOk {}
        )
    );
    declared.unwrap();
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let (declared, ()) = tokio::join!(
        ch2.queue_declare("", options, FieldTable::new()),
        answer(
            &mut b1,
            2,
            |m| matches!(m, Method::QueueDeclare(d) if d.queue.is_empty()),
            declare_ok("amq.gen-1")
        )
    );
    assert_eq!(declared.unwrap().unwrap().queue, "amq.gen-1");
    let (bound, ()) = tokio::join!(
        ch2.queue_bind("amq.gen-1", "x", "k", Default::default(), FieldTable::new()),
        answer(
            &mut b1,
            2,
            |m| matches!(m, Method::QueueBind(_)),
            QueueBindOk {}
        )
    );
    bound.unwrap();
    let (consumer, ()) = tokio::join!(
        ch1.basic_consume("amq.gen-1", "", Default::default(), FieldTable::new()),
        answer(
            &mut b1,
            1,
            |m| matches!(m, Method::BasicConsume(_)),
            BasicConsumeOk {
                consumer_tag: "amq.ctag-1".into()
            }
        )
    );
    let mut consumer = consumer.unwrap();

    b1.hang_up();
    let mut b2 = network.next().await;
    // Channels in number order, each with its qos and confirm mode.
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::ChannelOpen(_)),
        ChannelOpenOk::default(),
    )
    .await;
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::BasicQos(q) if q.prefetch_count == 10),
        BasicQosOk {},
    )
    .await;
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::ConfirmSelect(c) if !c.nowait),
        ConfirmSelectOk {},
    )
    .await;
    answer(
        &mut b2,
        2,
        |m| matches!(m, Method::ChannelOpen(_)),
        ChannelOpenOk::default(),
    )
    .await;
    // Topology on a channel of its own: exchange, queue (server-named:
    // declared with no name, never the old amq.gen- one), binding (with
    // the queue's new name).
    answer(
        &mut b2,
        3,
        |m| matches!(m, Method::ChannelOpen(_)),
        ChannelOpenOk::default(),
    )
    .await;
    answer(
        &mut b2,
        3,
        |m| matches!(m, Method::ExchangeDeclare(e) if e.exchange == "x"),
        ExchangeDeclareOk {},
    )
    .await;
    answer(
        &mut b2,
        3,
        |m| matches!(m, Method::QueueDeclare(d) if d.queue.is_empty() && d.exclusive),
        declare_ok("amq.gen-2"),
    )
    .await;
    answer(
        &mut b2,
        3,
        |m| matches!(m, Method::QueueBind(b) if b.queue == "amq.gen-2" && b.exchange == "x" && b.routing_key == "k"),
        QueueBindOk {},
    )
    .await;
    // Consumers last, on their own channels, same tag, the queue's new name.
    answer(
        &mut b2,
        3,
        |m| matches!(m, Method::QueueDeclare(d) if d.passive && d.queue == "amq.gen-2"),
        declare_ok("amq.gen-2"),
    )
    .await;
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::BasicConsume(c) if c.queue == "amq.gen-2" && c.consumer_tag == "amq.ctag-1"),
        BasicConsumeOk { consumer_tag: "amq.ctag-1".into() },
    )
    .await;
    answer(
        &mut b2,
        3,
        |m| matches!(m, Method::ChannelClose(_)),
        ChannelCloseOk {},
    )
    .await;

    let seen = events_until_settled(&mut events).await;
    assert_eq!(
        names(&seen),
        [
            "disconnected",
            "recovering",
            "queue renamed",
            "consumer restored",
            "recovered"
        ]
    );
    match &seen[2] {
        ConnectionEvent::QueueRenamed { old, new } => {
            assert_eq!((old.as_str(), new.as_str()), ("amq.gen-1", "amq.gen-2"))
        }
        other => panic!("{other:?}"),
    }
    // The same Consumer value yields what the new connection delivers.
    b2.send_content(1, deliver("amq.ctag-1", 1), b"after", 1000)
        .await;
    let delivery = within("a delivery", consumer.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&delivery.body[..], b"after");
    assert!(conn.is_open() && !conn.is_recovering());
    drop(ch2);
}

#[tokio::test(start_paused = true)]
async fn delivery_tags_go_on_across_connections_and_old_ones_are_refused_unsent() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let ch = open_channel(&conn, &mut b1).await;
    let mut consumer = consumer_on(&ch, &mut b1).await;
    for tag in 1..=3 {
        b1.send_content(1, deliver("c", tag), b"old", 1000).await;
    }
    let mut old = Vec::new();
    for _ in 0..3 {
        old.push(within("old", consumer.next()).await.unwrap().unwrap());
    }
    assert_eq!(
        old.iter().map(|d| d.delivery_tag).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    b1.hang_up();
    let mut b2 = network.next().await;
    restore_one_consumer(&mut b2).await;
    // The new connection numbers from 1 again; the client goes on from 4.
    b2.send_content(1, deliver("c", 1), b"new", 1000).await;
    let new = within("new", consumer.next()).await.unwrap().unwrap();
    assert_eq!(new.delivery_tag, 4);

    // Every old tag is refused, single or multiple, ack, nack or reject,
    // and nothing reaches the broker.
    for d in &old {
        assert!(
            matches!(d.ack().await, Err(Error::StaleDeliveryTag { delivery_tag }) if delivery_tag == d.delivery_tag)
        );
    }
    let multiple = amqp_client::BasicAckOptions { multiple: true };
    assert!(matches!(
        ch.basic_ack(3, multiple).await,
        Err(Error::StaleDeliveryTag { .. })
    ));
    assert!(matches!(
        old[0].nack(true).await,
        Err(Error::StaleDeliveryTag { .. })
    ));
    assert!(matches!(
        old[1].reject(false).await,
        Err(Error::StaleDeliveryTag { .. })
    ));
    assert!(ch.error().is_none(), "a stale tag costs no channel");

    // A new tag goes out as the broker's own number.
    new.ack().await.unwrap();
    match b2.recv_method().await {
        (1, Method::BasicAck(a)) => assert_eq!((a.delivery_tag, a.multiple), (1, false)),
        other => panic!("{other:?}"),
    }
    // basic.get shares the numbering: raw 2 is the client's 5.
    let (got, ()) = tokio::join!(ch.basic_get("q", Default::default()), async {
        match b2.recv_method().await {
            (1, Method::BasicGet(_)) => {}
            other => panic!("{other:?}"),
        }
        let ok = BasicGetOk {
            delivery_tag: 2,
            redelivered: false,
            exchange: "".into(),
            routing_key: "q".into(),
            message_count: 0,
        };
        b2.send_content(1, ok, b"got", 1000).await;
    });
    let got = got.unwrap().unwrap();
    assert_eq!(got.delivery.delivery_tag, 5);
    // multiple from a new tag covers only the new connection's deliveries.
    ch.basic_ack(5, multiple).await.unwrap();
    match b2.recv_method().await {
        (1, Method::BasicAck(a)) => assert_eq!((a.delivery_tag, a.multiple), (2, true)),
        other => panic!("{other:?}"),
    }
}

/// Reads one publish (method, header, body) off the wire.
async fn recv_publish(broker: &mut FakeBroker) -> Bytes {
    match broker.recv_method().await {
        (_, Method::BasicPublish(_)) => {}
        other => panic!("expected basic.publish, got {other:?}"),
    }
    let _header = broker.recv_frame().await;
    match broker.recv_frame().await {
        Frame::Body { payload, .. } => payload,
        other => panic!("expected a body frame, got {other}"),
    }
}

/// Publishes p1, p2, p3 in confirm mode; the broker takes all three and
/// acks p1 only.
async fn publish_three_and_ack_the_first(
    ch: &Channel,
    broker: &mut FakeBroker,
) -> Vec<amqp_client::PublishConfirm> {
    let mut confirms = Vec::new();
    for body in ["p1", "p2", "p3"] {
        confirms.push(
            ch.basic_publish("", "q", Default::default(), Default::default(), body)
                .await
                .unwrap(),
        );
    }
    for _ in 0..3 {
        recv_publish(broker).await;
    }
    let ack = BasicAck {
        delivery_tag: 1,
        multiple: false,
    };
    broker.send_method(1, ack).await;
    confirms
}

#[tokio::test(start_paused = true)]
async fn each_publish_ends_acked_or_in_doubt_and_publishes_during_recovery_wait_for_it() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let ch = support::confirm_channel(&conn, &mut b1).await;
    let confirms = publish_three_and_ack_the_first(&ch, &mut b1).await;
    let mut confirms = confirms.into_iter();
    within("p1", confirms.next().unwrap().wait()).await.unwrap();
    b1.hang_up();
    for c in confirms {
        let outcome = within("in doubt", c.wait()).await;
        assert!(
            matches!(outcome, Err(Error::PublishInDoubt { .. })),
            "{outcome:?}"
        );
    }
    // Published while recovering: waits, then goes out on the new connection.
    let later = tokio::spawn({
        let ch = ch.clone();
        async move {
            ch.basic_publish("", "q", Default::default(), Default::default(), "p4")
                .await?
                .wait()
                .await
        }
    });
    let mut b2 = network.next().await;
    b2.accept_channel().await;
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::ConfirmSelect(_)),
        ConfirmSelectOk {},
    )
    .await;
    assert_eq!(&recv_publish(&mut b2).await[..], b"p4");
    // The new connection's confirms count from 1.
    b2.send_method(
        1,
        BasicAck {
            delivery_tag: 1,
            multiple: false,
        },
    )
    .await;
    within("p4", later).await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_when_the_connection_dies_fails_with_connection_lost_and_is_not_resent() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let ch = open_channel(&conn, &mut b1).await;
    let (declared, ()) = tokio::join!(
        ch.queue_declare("q", Default::default(), FieldTable::new()),
        async {
            match b1.recv_method().await {
                (1, Method::QueueDeclare(_)) => {}
                other => panic!("{other:?}"),
            }
            std::mem::replace(&mut b1, pipe(16).1).hang_up();
        }
    );
    assert!(
        matches!(&declared, Err(Error::ConnectionLost { cause }) if matches!(**cause, Error::Io(_))),
        "{declared:?}"
    );
    let mut b2 = network.next().await;
    b2.accept_channel().await;
    // Only the channel comes back: the declare was never accepted, so it
    // is not recorded, and it is not sent again.
    let (closed, ()) = tokio::join!(ch.close(), async {
        answer(
            &mut b2,
            1,
            |m| matches!(m, Method::ChannelClose(_)),
            ChannelCloseOk {},
        )
        .await;
    });
    closed.unwrap();
}

#[tokio::test(start_paused = true)]
async fn refused_credentials_on_reconnection_stop_recovery_and_end_every_handle() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let mut events = conn.events();
    let ch = open_channel(&conn, &mut b1).await;
    let mut consumer = consumer_on(&ch, &mut b1).await;
    b1.hang_up();
    let (_, mut b2) = within("reconnect", network.brokers.recv()).await.unwrap();
    b2.read_protocol_header().await;
    b2.send_method(0, support::start()).await;
    let _start_ok = b2.recv_method().await;
    let refusal = ConnectionClose {
        reply_code: 403,
        reply_text: "ACCESS_REFUSED - login refused".into(),
        class_id: 0,
        method_id: 0,
    };
    b2.send_method(0, refusal).await;
    let seen = events_until_settled(&mut events).await;
    assert_eq!(
        names(&seen),
        ["disconnected", "recovering", "attempt failed", "gave up"]
    );
    let ended = within("consumer end", consumer.next()).await;
    assert!(
        matches!(ended, Some(Err(ref e)) if e.reply_code() == Some(ReplyCode::ACCESS_REFUSED)),
        "{ended:?}"
    );
    assert_eq!(
        conn.closed().await.reply_code(),
        Some(ReplyCode::ACCESS_REFUSED)
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_back_off_within_their_bounds_and_stop_at_the_limit() {
    let recovery = Recovery::enabled()
        .with_initial_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_millis(1000))
        .with_max_attempts(Some(6));
    let (conn, b1, network) = connect(config().with_recovery(recovery)).await;
    let mut events = conn.events();
    network.refusing.store(u32::MAX, Ordering::Release);
    let started = tokio::time::Instant::now();
    b1.hang_up();
    let seen = events_until_settled(&mut events).await;
    let delays: Vec<Duration> = seen
        .iter()
        .filter_map(|e| match e {
            ConnectionEvent::Recovering { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 6);
    for (n, delay) in delays.iter().enumerate() {
        let ceiling = Duration::from_millis(100 << n).min(Duration::from_millis(1000));
        assert!(*delay <= ceiling, "attempt {n}: {delay:?} over {ceiling:?}");
    }
    assert!(
        started.elapsed() >= delays.iter().sum(),
        "each attempt waited its delay"
    );
    assert!(matches!(
        seen.last(),
        Some(ConnectionEvent::GaveUp { attempts: 6, .. })
    ));
    assert!(matches!(
        conn.closed().await,
        Error::ConnectionLost { .. } | Error::Io(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn close_during_recovery_stops_it_and_ends_with_client_closed() {
    let (conn, mut b1, network) = connect(config()).await;
    let ch = open_channel(&conn, &mut b1).await;
    network.refusing.store(u32::MAX, Ordering::Release);
    let mut events = conn.events();
    b1.hang_up();
    while !matches!(
        next_event(&mut events).await,
        ConnectionEvent::AttemptFailed { .. }
    ) {}
    assert!(conn.is_recovering());
    within("close", conn.close()).await.unwrap();
    assert!(matches!(conn.error(), Some(Error::ClientClosed)));
    assert!(matches!(
        ch.queue_declare("q", Default::default(), FieldTable::new())
            .await,
        Err(Error::ClientClosed)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_call_made_while_recovering_waits_at_most_the_wait_timeout() {
    let recovery = Recovery::enabled().with_wait_timeout(Duration::from_secs(5));
    let (conn, mut b1, network) = connect(config().with_recovery(recovery)).await;
    let ch = open_channel(&conn, &mut b1).await;
    network.refusing.store(u32::MAX, Ordering::Release);
    let mut events = conn.events();
    b1.hang_up();
    while !matches!(
        next_event(&mut events).await,
        ConnectionEvent::Disconnected { .. }
    ) {}
    let started = tokio::time::Instant::now();
    let declared = ch
        .queue_declare("q", Default::default(), FieldTable::new())
        .await;
    assert!(
        matches!(declared, Err(Error::RecoveryTimeout(d)) if d == Duration::from_secs(5)),
        "{declared:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn an_exclusive_queue_still_locked_by_the_lost_connection_is_declared_again_until_freed() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let mut events = conn.events();
    let ch = open_channel(&conn, &mut b1).await;
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let (declared, ()) = tokio::join!(
        ch.queue_declare("mine", options, FieldTable::new()),
        answer(
            &mut b1,
            1,
            |m| matches!(m, Method::QueueDeclare(_)),
            declare_ok("mine")
        )
    );
    declared.unwrap();
    b1.hang_up();
    let mut b2 = network.next().await;
    b2.accept_channel().await;
    for _ in 0..3 {
        b2.accept_channel().await;
        let locked = ChannelClose {
            reply_code: 405,
            reply_text: "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'mine'"
                .into(),
            class_id: 50,
            method_id: 10,
        };
        answer(
            &mut b2,
            2,
            |m| matches!(m, Method::QueueDeclare(d) if d.queue == "mine"),
            locked,
        )
        .await;
        match b2.recv_method().await {
            (2, Method::ChannelCloseOk(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    b2.accept_channel().await;
    answer(
        &mut b2,
        2,
        |m| matches!(m, Method::QueueDeclare(d) if d.queue == "mine"),
        declare_ok("mine"),
    )
    .await;
    answer(
        &mut b2,
        2,
        |m| matches!(m, Method::ChannelClose(_)),
        ChannelCloseOk {},
    )
    .await;
    let seen = events_until_settled(&mut events).await;
    assert_eq!(
        names(&seen),
        ["disconnected", "recovering", "recovered"],
        "no failure reported"
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_connect_tries_each_endpoint_once_and_names_each_failure() {
    let (connect, network) = network();
    network.refusing.store(3, Ordering::Release);
    let config = config().with_endpoints([
        Endpoint::new("a", 1),
        Endpoint::new("b", 2),
        Endpoint::new("c", 3),
    ]);
    let failed = Connection::connect_with(config, connect).await;
    let Err(Error::Connect { attempts }) = failed else {
        panic!("{failed:?}")
    };
    let mut hosts: Vec<&str> = attempts.iter().map(|(e, _)| e.host.as_str()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["a", "b", "c"]);
    assert!(attempts.iter().all(|(_, e)| matches!(e, Error::Io(_))));
    let text = Error::Connect { attempts }.to_string();
    assert!(text.contains("a:1") && text.contains("c:3"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn with_recovery_disabled_a_lost_connection_ends_every_handle() {
    let (conn, mut b1, _network) = connect(config().with_recovery(Recovery::disabled())).await;
    let mut events = conn.events();
    let ch = open_channel(&conn, &mut b1).await;
    let mut consumer = consumer_on(&ch, &mut b1).await;
    b1.hang_up();
    assert!(matches!(
        within("end", consumer.next()).await,
        Some(Err(Error::Io(_)))
    ));
    assert!(matches!(conn.closed().await, Error::Io(_)));
    let seen = events_until_settled(&mut events).await;
    assert_eq!(names(&seen), ["disconnected", "gave up"]);
}

use bytes::Bytes;

#[tokio::test(start_paused = true)]
async fn with_republish_on_publishes_in_doubt_go_out_again_marked_and_are_confirmed() {
    let recovery = Recovery::enabled().with_republish(1 << 20);
    let (conn, mut b1, mut network) = connect(config().with_recovery(recovery)).await;
    let mut events = conn.events();
    let ch = support::confirm_channel(&conn, &mut b1).await;
    let confirms = publish_three_and_ack_the_first(&ch, &mut b1).await;
    b1.hang_up();
    let mut b2 = network.next().await;
    b2.accept_channel().await;
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::ConfirmSelect(_)),
        ConfirmSelectOk {},
    )
    .await;
    // p2 and p3, not p1 (acked before the loss), marked as possible duplicates.
    for expected in ["p2", "p3"] {
        match b2.recv_method().await {
            (1, Method::BasicPublish(_)) => {}
            other => panic!("{other:?}"),
        }
        let Frame::Header { header, .. } = b2.recv_frame().await else {
            panic!("a content header")
        };
        let headers = header.properties.headers.expect("headers");
        assert_eq!(
            headers.get(amqp_client::REPUBLISHED_HEADER),
            Some(&FieldValue::Boolean(true))
        );
        match b2.recv_frame().await {
            Frame::Body { payload, .. } => assert_eq!(&payload[..], expected.as_bytes()),
            other => panic!("{other}"),
        }
    }
    b2.send_method(
        1,
        BasicAck {
            delivery_tag: 2,
            multiple: true,
        },
    )
    .await;
    for c in confirms {
        within("confirm", c.wait()).await.unwrap();
    }
    let seen = events_until_settled(&mut events).await;
    assert!(names(&seen).contains(&"republished"), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn a_first_handshake_that_fails_fails_connect_instead_of_recovering() {
    let (connect, mut network) = network();
    let (conn, ()) = tokio::join!(Connection::connect_with(config(), connect), async {
        let (_, mut broker) = network.brokers.recv().await.unwrap();
        broker.read_protocol_header().await;
        broker.hang_up();
    });
    assert!(matches!(conn, Err(Error::Io(_))), "{conn:?}");
    assert!(network.brokers.try_recv().is_err(), "no second connection");
}

#[tokio::test(start_paused = true)]
async fn a_recovery_nobody_is_left_for_stops() {
    let (conn, b1, network) = connect(config()).await;
    network.refusing.store(u32::MAX, Ordering::Release);
    let mut events = conn.events();
    b1.hang_up();
    while !matches!(
        next_event(&mut events).await,
        ConnectionEvent::AttemptFailed { .. }
    ) {}
    drop(conn);
    // At most the attempt under way finishes; then no more connections are tried.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let left = network.refusing.load(Ordering::Acquire);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(network.refusing.load(Ordering::Acquire), left);
    let rest: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert!(
        matches!(
            rest.last(),
            None | Some(ConnectionEvent::AttemptFailed { .. } | ConnectionEvent::Recovering { .. })
        ),
        "{rest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_transaction_cut_by_a_recovery_cannot_commit_half_of_itself() {
    let (conn, mut b1, mut network) = connect(config()).await;
    let ch = open_channel(&conn, &mut b1).await;
    let (selected, ()) = tokio::join!(
        ch.tx_select(),
        answer(
            &mut b1,
            1,
            |m| matches!(m, Method::TxSelect(_)),
            TxSelectOk {}
        )
    );
    selected.unwrap();
    let _not_in_confirm_mode = ch
        .basic_publish("", "q", Default::default(), Default::default(), "m1")
        .await
        .unwrap();
    recv_publish(&mut b1).await;
    b1.hang_up();
    let mut b2 = network.next().await;
    b2.accept_channel().await;
    answer(
        &mut b2,
        1,
        |m| matches!(m, Method::TxSelect(_)),
        TxSelectOk {},
    )
    .await;
    let _not_in_confirm_mode = ch
        .basic_publish("", "q", Default::default(), Default::default(), "m2")
        .await
        .unwrap();
    recv_publish(&mut b2).await;
    // m1 was lost with the connection: committing m2 alone would be half
    // a transaction. It is rolled back instead, and the commit fails.
    let (committed, ()) = tokio::join!(
        ch.tx_commit(),
        answer(
            &mut b2,
            1,
            |m| matches!(m, Method::TxRollback(_)),
            TxRollbackOk {}
        )
    );
    assert!(
        matches!(committed, Err(Error::ConnectionLost { .. })),
        "{committed:?}"
    );
    // The next transaction commits as usual.
    let (committed, ()) = tokio::join!(
        ch.tx_commit(),
        answer(
            &mut b2,
            1,
            |m| matches!(m, Method::TxCommit(_)),
            TxCommitOk {}
        )
    );
    committed.unwrap();
}

#[tokio::test(start_paused = true)]
async fn one_process_spreads_its_connections_evenly_over_the_endpoints() {
    let (connect, mut network) = network();
    let connect = Arc::new(connect);
    let config = config().with_endpoints([
        Endpoint::new("a", 1),
        Endpoint::new("b", 2),
        Endpoint::new("c", 3),
    ]);
    let mut counts = std::collections::BTreeMap::new();
    let mut held = Vec::new();
    for _ in 0..30 {
        let connect = connect.clone();
        let (conn, host) = tokio::join!(
            Connection::connect_with(config.clone(), move |e| connect(e)),
            async {
                let (endpoint, mut broker) = network.brokers.recv().await.unwrap();
                broker.handshake(tune(2047, 131_072, 0)).await;
                held.push(broker);
                endpoint.host
            }
        );
        assert_eq!(conn.unwrap().endpoint().unwrap().host, host);
        *counts.entry(host).or_insert(0) += 1;
    }
    // 10 each; the turn is process-wide, and another test of this binary
    // running at the same time may take one turn in the middle.
    assert!(counts.values().all(|n| (9..=11).contains(n)), "{counts:?}");
}
