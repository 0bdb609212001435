//! The FaultProxy (`amqp_testkit::proxy`) against the real broker, with our client and with
//! Python's pika: each fault, the event log, and the `amqp-proxy` CLI.
//!
//! Every test starts its own proxy in front of the shared broker (connections are then numbered
//! from 1 in each), and awaits the proxy's events rather than sleeping.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use amqp_client::wire::{
    BasicAck, ChannelClose, ChannelCloseOk, ConnectionBlocked, ConnectionUnblocked, Frame, Method,
    QueueDeclareOk, PROTOCOL_HEADER,
};
use amqp_client::{
    ConnectionConfig, Error, FieldTable, FieldValue, Heartbeat, Recovery, ReplyCode,
};
use amqp_testkit::proxy::{self, Direction, Fate, FaultProxy, FrameEvent, Match, What};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use Direction::{ToBroker, ToClient};

/// Upper bound for an event the test caused to show up in the proxy's log.
const EVENT: Duration = Duration::from_secs(10);

/// A proxy in front of the shared broker (which must be up).
async fn start_proxy() -> FaultProxy {
    amqp_testkit::require_broker();
    FaultProxy::start_for_url(&amqp_testkit::amqp_url())
        .await
        .expect("start a FaultProxy")
}

/// The shared broker's connection settings, pointed at `proxy`. Without recovery: these tests
/// look at each fault as the connection meets it (recovery through the proxy: `recovery.rs`).
fn via(proxy: &FaultProxy) -> ConnectionConfig {
    ConnectionConfig::from_uri(&proxy.url_for(&amqp_testkit::amqp_url()))
        .expect("proxy URL")
        .with_recovery(Recovery::disabled())
}

/// The first event matching `predicate`, failing the test (with the log's tail) after [`EVENT`].
async fn event(
    proxy: &FaultProxy,
    what: &str,
    predicate: impl Fn(&FrameEvent) -> bool,
) -> FrameEvent {
    proxy
        .wait_for(predicate, EVENT)
        .await
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
}

fn is_closed(e: &FrameEvent, direction: Direction) -> bool {
    e.direction == Some(direction) && matches!(e.what, What::Closed { .. })
}

fn is_cut(e: &FrameEvent) -> bool {
    matches!(e.what, What::Cut { .. })
}

/// Waits until both directions of connection `conn` have ended.
async fn both_sides_closed(proxy: &FaultProxy, conn: u64) {
    for direction in Direction::BOTH {
        event(proxy, &format!("c{conn} closed {direction:?}"), |e| {
            e.conn == conn && is_closed(e, direction)
        })
        .await;
    }
}

/// The (direction, method name) of each method frame in `events`.
fn methods(events: &[FrameEvent]) -> Vec<(Direction, &'static str)> {
    events
        .iter()
        .filter_map(|e| Some((e.direction?, e.method_name()?)))
        .collect()
}

// ===== the event log =====

#[tokio::test]
async fn the_log_shows_the_handshake_in_order_and_nothing_after_close_ok() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let _ch = channel(&conn).await;
    step("connection.close", conn.close())
        .await
        .expect("connection.close");
    both_sides_closed(&proxy, 1).await;

    let events = proxy.events_of(1);
    assert!(
        matches!(events[0].what, What::Accepted { .. }),
        "{events:#?}"
    );
    assert!(
        matches!(&events[1].what, What::ProtocolHeader { header, fate: Fate::Forwarded } if header.0 == PROTOCOL_HEADER)
            && events[1].direction == Some(ToBroker),
        "{events:#?}"
    );
    assert_eq!(
        methods(&events),
        [
            (ToClient, "connection.start"),
            (ToBroker, "connection.start-ok"),
            (ToClient, "connection.tune"),
            (ToBroker, "connection.tune-ok"),
            (ToBroker, "connection.open"),
            (ToClient, "connection.open-ok"),
            (ToBroker, "channel.open"),
            (ToClient, "channel.open-ok"),
            (ToBroker, "connection.close"),
            (ToClient, "connection.close-ok"),
        ],
        "{events:#?}"
    );
    let close_ok = events
        .iter()
        .position(|e| e.method_name() == Some("connection.close-ok"))
        .expect("close-ok");
    let after: Vec<_> = events[close_ok + 1..]
        .iter()
        .filter(|e| e.frame().is_some())
        .collect();
    assert!(after.is_empty(), "frames after close-ok: {after:#?}");
    assert!(events
        .windows(2)
        .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at));

    // The log keeps the frame as sent; showing it masks the password.
    let start_ok = events
        .iter()
        .find(|e| e.method_name() == Some("connection.start-ok"))
        .expect("start-ok");
    let Some(Method::ConnectionStartOk(sent)) = start_ok.method() else {
        unreachable!()
    };
    assert!(!sent.response.as_bytes().ends_with(b"*****"));
    for shown in [
        start_ok.to_string(),
        start_ok.to_json(),
        format!("{start_ok:?}"),
    ] {
        assert!(
            shown.contains("guest\\u0000*****") || shown.contains(r"guest\0*****"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn the_log_shows_which_deliveries_the_client_acked() {
    const N: u64 = 100;
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "proxy-acks").await;
    let _cleanup = Cleanup::queues(&[&q]);
    for i in 1..=N {
        let _unconfirmed = step(
            "basic.publish",
            ch.basic_publish(
                "",
                &q,
                Default::default(),
                Default::default(),
                format!("m{i}"),
            ),
        )
        .await
        .expect("basic.publish");
    }
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    for i in 1..=N {
        let delivery = next_delivery(&mut consumer, &format!("delivery {i}")).await;
        assert_eq!(delivery.delivery_tag, i);
        step("basic.ack", delivery.ack()).await.expect("basic.ack");
    }
    event(&proxy, "an ack covering the last delivery", |e| {
        e.direction == Some(ToBroker)
            && matches!(e.method(), Some(Method::BasicAck(a)) if a.delivery_tag == N)
    })
    .await;

    // Whatever the client folded, its acks must cover 1..=N, in order, each tag once.
    let acks: Vec<BasicAck> = proxy
        .events()
        .iter()
        .filter(|e| e.direction == Some(ToBroker))
        .filter_map(|e| match e.method() {
            Some(Method::BasicAck(a)) => Some(a.clone()),
            _ => None,
        })
        .collect();
    let mut covered = 0;
    for ack in &acks {
        if ack.multiple {
            assert!(ack.delivery_tag > covered, "{acks:?}");
        } else {
            assert_eq!(ack.delivery_tag, covered + 1, "{acks:?}");
        }
        covered = ack.delivery_tag;
    }
    assert_eq!(covered, N, "{acks:?}");
    eprintln!(
        "{N} deliveries acked one by one went out as {} basic.ack frames ({} with multiple=true)",
        acks.len(),
        acks.iter().filter(|a| a.multiple).count()
    );
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.expect("close");
}

// ===== holding, dropping, corrupting, injecting frames =====

#[tokio::test]
async fn a_held_confirm_keeps_the_publish_pending_until_released() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "proxy-hold").await;
    let _cleanup = Cleanup::queues(&[&q]);

    let hold = proxy.hold(ToClient, Match::method::<BasicAck>());
    let confirm = step(
        "basic.publish",
        ch.basic_publish("", &q, Default::default(), Default::default(), "held"),
    )
    .await
    .expect("basic.publish");
    let wait = confirm.wait();
    tokio::pin!(wait);
    let held = event(&proxy, "the broker's ack, held", |e| {
        e.fate() == Some(Fate::Held)
    })
    .await;
    assert_eq!(held.method_name(), Some("basic.ack"), "{held}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut wait)
            .await
            .is_err(),
        "the confirm got through a hold"
    );
    hold.release();
    step("the released confirm", wait)
        .await
        .expect("the broker acked the publish");

    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.expect("close");
}

#[tokio::test]
async fn a_dropped_delivery_never_arrives_and_is_requeued_when_its_channel_closes() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "proxy-drop").await;
    let _cleanup = Cleanup::queues(&[&q]);
    for body in ["m1", "m2", "m3"] {
        publish_plain(&ch, "", &q, body).await;
    }

    let second = Match::frame(
        |f| matches!(f, Frame::Method { method: Method::BasicDeliver(d), .. } if d.delivery_tag == 2),
    );
    proxy.drop_next(ToClient, second, 1);
    let consumer_ch = channel(&conn).await;
    let mut consumer = consume(&consumer_ch, &q, FieldTable::new()).await;
    let first = next_delivery(&mut consumer, "m1").await;
    assert_eq!((first.delivery_tag, &first.body[..]), (1, &b"m1"[..]));
    step("basic.ack", first.ack()).await.expect("basic.ack");
    let third = next_delivery(&mut consumer, "m3").await;
    assert_eq!((third.delivery_tag, &third.body[..]), (3, &b"m3"[..]));
    // m3 stays unacked: our client would send its ack as `multiple=true` (it folds acks, and no
    // delivery 2 is pending), which acks the lost m2 too. A broker never skips a tag on a
    // channel; only a proxy that drops a delivery can make that gap.
    // The whole message went: method, content header and body.
    let dropped: Vec<_> = proxy
        .events()
        .into_iter()
        .filter(|e| e.fate() == Some(Fate::Dropped))
        .collect();
    assert_eq!(dropped.len(), 3, "{dropped:#?}");
    assert!(matches!(dropped[0].method(), Some(Method::BasicDeliver(d)) if d.delivery_tag == 2));
    assert!(matches!(dropped[1].frame(), Some(Frame::Header { .. })));
    assert!(
        matches!(dropped[2].frame(), Some(Frame::Body { payload, .. }) if &payload[..] == b"m2")
    );

    // Never acked, so the broker requeues it when the channel closes.
    step("channel.close", consumer_ch.close())
        .await
        .expect("channel.close");
    let mut requeued = Vec::new();
    while let Some(got) = get(&ch, &q, true).await {
        assert!(got.delivery.redelivered);
        requeued.push(String::from_utf8_lossy(&got.delivery.body).into_owned());
    }
    assert_eq!(requeued, ["m2", "m3"]);
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.expect("close");
}

#[tokio::test]
async fn a_corrupted_frame_end_makes_our_client_close_silently_with_501() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("proxy-corrupt");
    let _cleanup = Cleanup::queues(&[&q]);

    proxy.corrupt_next(ToClient, Match::method::<QueueDeclareOk>());
    let declared = step(
        "queue.declare",
        ch.queue_declare(&q, Default::default(), FieldTable::new()),
    )
    .await;
    match declared {
        Err(Error::ProtocolViolation { reply_code, .. })
            if reply_code == ReplyCode::FRAME_ERROR => {}
        other => panic!("expected a 501 protocol violation, got {other:?}"),
    }
    let corrupted = event(&proxy, "the corrupted frame", |e| {
        e.fate() == Some(Fate::Corrupted)
    })
    .await;
    assert_eq!(corrupted.method_name(), Some("queue.declare-ok"));
    // Spec 4.2.3: the client closes the socket without sending anything more.
    event(&proxy, "the client's EOF", |e| is_closed(e, ToBroker)).await;
    let sent_after: Vec<_> = proxy
        .events()
        .into_iter()
        .filter(|e| e.seq > corrupted.seq && e.direction == Some(ToBroker) && e.frame().is_some())
        .collect();
    assert!(
        sent_after.is_empty(),
        "sent after a bad frame-end: {sent_after:#?}"
    );
    assert!(matches!(
        conn.error(),
        Some(Error::ProtocolViolation { reply_code, .. }) if reply_code == ReplyCode::FRAME_ERROR
    ));

    // The broker did declare the queue.
    let direct = connect().await;
    let direct_ch = channel(&direct).await;
    delete(&direct_ch, &q).await;
    step("connection.close", direct.close())
        .await
        .expect("close");
}

#[tokio::test]
async fn injected_blocked_and_channel_close_reach_our_client() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = channel(&conn).await;

    let mut blocked = conn.watch_blocked();
    let block = Frame::method(
        0,
        ConnectionBlocked {
            reason: "test: injected".into(),
        },
    );
    assert!(proxy.inject(1, ToClient, &block));
    step("connection.blocked", blocked.wait_for(Option::is_some))
        .await
        .map(|_| ())
        .expect("watch_blocked");
    assert_eq!(conn.blocked().as_deref(), Some("test: injected"));
    assert_eq!(
        proxy.inject_all(ToClient, &Frame::method(0, ConnectionUnblocked {})),
        1
    );
    step("connection.unblocked", blocked.wait_for(Option::is_none))
        .await
        .map(|_| ())
        .expect("watch_blocked");

    // The broker never closed the channel: keep the client's close-ok from it.
    proxy.drop_next(
        ToBroker,
        Match::method::<ChannelCloseOk>().on_channel(ch.id()),
        1,
    );
    let close = ChannelClose {
        reply_code: 406,
        reply_text: "test: injected".into(),
        class_id: 60,
        method_id: 40,
    };
    assert!(proxy.inject(1, ToClient, &Frame::method(ch.id(), close)));
    let close_ok = event(&proxy, "the client's channel.close-ok", |e| {
        e.is_method(ToBroker, "channel.close-ok")
    })
    .await;
    assert_eq!(close_ok.fate(), Some(Fate::Dropped));
    match ch.error() {
        Some(Error::ChannelClosed(reason)) => {
            assert_eq!(reason.reply_code, ReplyCode::PRECONDITION_FAILED);
            assert_eq!(reason.reply_text, "test: injected");
        }
        other => panic!("expected the channel closed with 406, got {other:?}"),
    }
    let injected = proxy
        .events()
        .iter()
        .filter(|e| e.fate() == Some(Fate::Injected))
        .count();
    assert_eq!(injected, 3);
    step("connection.close", conn.close()).await.expect("close");
}

// ===== the network =====

#[tokio::test]
async fn a_blackholed_connection_is_found_dead_by_heartbeats_within_two_intervals() {
    const INTERVAL: Duration = Duration::from_secs(2);
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy).with_heartbeat(Heartbeat::Secs(2))).await;
    assert_eq!(conn.tuning().heartbeat, 2);

    let began = proxy.elapsed();
    proxy.blackhole(true);
    let started = Instant::now();
    let error = within(
        Duration::from_secs(15),
        "the heartbeat timeout",
        conn.closed(),
    )
    .await;
    let took = started.elapsed();
    assert!(matches!(error, Error::HeartbeatTimeout(_)), "{error:?}");
    assert!(
        took <= 2 * INTERVAL + Duration::from_millis(1500),
        "found dead after {took:?}"
    );
    eprintln!("blackhole found by heartbeats after {took:?}");
    // Nothing was read either way meanwhile (a read under way when it began may end in it).
    let late: Vec<_> = proxy
        .events()
        .into_iter()
        .filter(|e| e.at > began + Duration::from_millis(100))
        .collect();
    assert!(late.is_empty(), "{late:#?}");
    proxy.blackhole(false);
}

#[tokio::test]
async fn a_cut_connection_fails_promptly_with_an_io_error() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let _ch = channel(&conn).await;

    let started = Instant::now();
    proxy.cut();
    let error = within(
        Duration::from_secs(2),
        "the cut to be noticed",
        conn.closed(),
    )
    .await;
    assert!(matches!(error, Error::Io(_)), "{error:?}");
    eprintln!("cut noticed after {:?}: {error}", started.elapsed());
    let cut = event(&proxy, "the cut", is_cut).await;
    assert!(cut.to_string().contains("cut by the test"), "{cut}");
}

#[tokio::test]
async fn latency_adds_to_each_round_trip() {
    const DELAY: Duration = Duration::from_millis(100);
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = channel(&conn).await;
    let round_trip = || async {
        let started = Instant::now();
        step("basic.qos", ch.basic_qos(0, Default::default()))
            .await
            .expect("basic.qos");
        started.elapsed()
    };
    let before = round_trip().await;
    for direction in Direction::BOTH {
        proxy.set_latency(direction, DELAY);
    }
    let delayed = round_trip().await;
    assert!(delayed >= 2 * DELAY, "{delayed:?} with {DELAY:?} each way");
    for direction in Direction::BOTH {
        proxy.set_latency(direction, Duration::ZERO);
    }
    let after = round_trip().await;
    eprintln!(
        "basic.qos round trip: {before:?}, with {DELAY:?} each way {delayed:?}, lifted {after:?}"
    );
    step("connection.close", conn.close()).await.expect("close");
}

#[tokio::test]
async fn a_bandwidth_limit_slows_a_large_publish() {
    const RATE: u64 = 2 << 20;
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "proxy-bandwidth").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let body = pseudo_random_body(1 << 20, 11);

    proxy.set_bandwidth(ToBroker, Some(RATE));
    let started = Instant::now();
    let confirm = step(
        "basic.publish",
        ch.basic_publish("", &q, Default::default(), Default::default(), body.clone()),
    )
    .await
    .expect("basic.publish");
    within(Duration::from_secs(20), "the confirm", confirm.wait())
        .await
        .expect("confirm");
    let took = started.elapsed();
    // 1 MiB at 2 MiB/s is 0.5 s; the first 64 KiB go at once.
    assert!(
        took >= Duration::from_millis(400),
        "1 MiB at 2 MiB/s took {took:?}"
    );
    eprintln!("1 MiB publish at 2 MiB/s took {took:?}");
    proxy.set_bandwidth(ToBroker, None);

    let got = get(&ch, &q, true).await.expect("the message");
    assert_eq!(first_difference(&got.delivery.body, &body), None);
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.expect("close");
}

#[tokio::test]
async fn close_after_cuts_once_the_connection_carried_n_frames() {
    let proxy = start_proxy().await;
    // The handshake is 6 frames; the 7th is our channel.open, forwarded before the cut.
    proxy.close_after(7);
    let conn = connect_with(via(&proxy)).await;
    let opened = step("channel.open", conn.open_channel()).await;
    assert!(matches!(opened, Err(Error::Io(_))), "{opened:?}");
    let cut = event(&proxy, "the cut", is_cut).await;
    let events = proxy.events_of(1);
    let before: Vec<_> = events.iter().filter(|e| e.seq < cut.seq).collect();
    assert_eq!(
        before.iter().filter(|e| e.frame().is_some()).count(),
        7,
        "{events:#?}"
    );
    assert!(before.last().unwrap().is_method(ToBroker, "channel.open"));
    assert!(cut.to_string().contains("close_after(7)"), "{cut}");
}

#[tokio::test]
async fn close_on_cuts_instead_of_forwarding_the_frame() {
    let proxy = start_proxy().await;
    let conn = connect_with(via(&proxy)).await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("proxy-close-on");
    let _cleanup = Cleanup::queues(&[&q]);

    proxy.close_on(ToClient, Match::method::<QueueDeclareOk>());
    let declared = step(
        "queue.declare",
        ch.queue_declare(&q, Default::default(), FieldTable::new()),
    )
    .await;
    assert!(matches!(declared, Err(Error::Io(_))), "{declared:?}");
    let never = event(&proxy, "the declare-ok not forwarded", |e| {
        e.fate() == Some(Fate::Cut)
    })
    .await;
    assert_eq!(never.method_name(), Some("queue.declare-ok"));

    // The broker declared it; the client never heard.
    let direct = connect().await;
    let direct_ch = channel(&direct).await;
    assert_eq!(counts(&direct_ch, &q).await, (0, 0));
    delete(&direct_ch, &q).await;
    step("connection.close", direct.close())
        .await
        .expect("close");
}

// ===== octets the proxy cannot decode, against a scripted broker =====

#[tokio::test]
async fn undecodable_octets_are_logged_and_forwarded_byte_for_byte() {
    let broker = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = FaultProxy::start(broker.local_addr().unwrap())
        .await
        .expect("start");
    let mut up = PROTOCOL_HEADER.to_vec();
    up.extend([8, 0, 0, 0, 0, 0, 0, 0xCE]); // heartbeat
    up.extend([1, 0, 1, 0, 0, 0, 4, 0, 99, 0, 99, 0xCE]); // method 99/99: unknown
    up.extend([8, 0, 0, 0, 0, 0, 0, 0x00]); // bad frame-end
    let mut down = vec![8, 0, 0, 0, 0, 0, 0, 0xCE];
    down.extend([0x42; 20]); // frame type 0x42: the rest goes raw

    let mut client = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    let (mut server, _) = step("accept", broker.accept()).await.expect("accept");
    client.write_all(&up).await.expect("write");
    let mut got = vec![0; up.len()];
    step("upstream octets", server.read_exact(&mut got))
        .await
        .expect("read");
    assert_eq!(got, up);
    server.write_all(&down).await.expect("write");
    let mut got = vec![0; down.len()];
    step("downstream octets", client.read_exact(&mut got))
        .await
        .expect("read");
    assert_eq!(got, down);

    drop(client);
    event(&proxy, "the client's EOF", |e| is_closed(e, ToBroker)).await;
    let shown: Vec<String> = proxy
        .events_of(1)
        .iter()
        .filter(|e| e.direction.is_some())
        .map(|e| e.to_string().split_once("] ").unwrap().1.to_owned())
        .collect();
    assert_eq!(shown[0], "-> protocol-header AMQP 0-9-1");
    assert_eq!(shown[1], "-> ch=0 heartbeat");
    assert!(
        shown[2].starts_with("-> undecodable, 12 octets: ") && shown[2].contains("99"),
        "{shown:#?}"
    );
    assert!(
        shown[3].starts_with("-> undecodable, 8 octets: ") && shown[3].contains("frame end"),
        "{shown:#?}"
    );
    assert!(shown.iter().any(|s| s == "<- ch=0 heartbeat"), "{shown:#?}");
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("<- undecodable, 20 octets: unknown frame type 66")),
        "{shown:#?}"
    );
}

#[tokio::test]
async fn held_frames_hold_back_what_follows_and_injected_frames_reach_the_broker() {
    let broker = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = FaultProxy::start(broker.local_addr().unwrap())
        .await
        .expect("start");
    let mut client = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    let (mut server, _) = step("accept", broker.accept()).await.expect("accept");
    client.write_all(&PROTOCOL_HEADER).await.expect("write");
    let mut header = [0; 8];
    step("the protocol header", server.read_exact(&mut header))
        .await
        .expect("read");

    let hold = proxy.hold(ToClient, Match::heartbeat());
    let mut script = bytes::BytesMut::new();
    Frame::Heartbeat.encode(&mut script).unwrap();
    let blocked = ConnectionBlocked {
        reason: "behind the held heartbeat".into(),
    };
    Frame::method(0, blocked).encode(&mut script).unwrap();
    server.write_all(&script).await.expect("write");
    event(&proxy, "the held heartbeat", |e| {
        e.fate() == Some(Fate::Held)
    })
    .await;
    event(&proxy, "the frame behind it", |e| {
        e.method_name() == Some("connection.blocked")
    })
    .await;
    let mut got = vec![0; script.len()];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), client.read(&mut got))
            .await
            .is_err(),
        "octets got past a hold"
    );
    hold.release();
    step("the released frames", client.read_exact(&mut got))
        .await
        .expect("read");
    assert_eq!(got, script);

    assert!(proxy.inject(1, ToBroker, &Frame::Heartbeat));
    let mut heartbeat = [0; 8];
    step("the injected heartbeat", server.read_exact(&mut heartbeat))
        .await
        .expect("read");
    assert_eq!(heartbeat, [8, 0, 0, 0, 0, 0, 0, 0xCE]);
    assert!(
        !proxy.inject(2, ToBroker, &Frame::Heartbeat),
        "no connection 2"
    );
}

#[tokio::test]
async fn blackhole_after_stops_a_connection_after_n_frames() {
    let proxy = start_proxy().await;
    // The handshake is 6 frames, channel.open and open-ok the 7th and 8th.
    proxy.blackhole_after(8);
    let conn = connect_with(via(&proxy).with_heartbeat(Heartbeat::Secs(1))).await;
    let _ch = channel(&conn).await;
    let error = within(
        Duration::from_secs(10),
        "the heartbeat timeout",
        conn.closed(),
    )
    .await;
    assert!(matches!(error, Error::HeartbeatTimeout(_)), "{error:?}");
    let frames = proxy
        .events_of(1)
        .iter()
        .filter(|e| e.frame().is_some())
        .count();
    // A heartbeat read as the blackhole began may be logged (and then held).
    assert!((8..=9).contains(&frames), "{:#?}", proxy.events_of(1));
}

// ===== pika through the proxy, and the CLI =====

/// pika: connect to the URL in argv[1], declare queue argv[2], publish, get, delete, close.
const PIKA_SCRIPT: &str = r#"
import sys, time, pika
url, queue = sys.argv[1], sys.argv[2]
conn = pika.BlockingConnection(pika.URLParameters(url))
ch = conn.channel()
ch.queue_declare(queue=queue)
ch.basic_publish(exchange="", routing_key=queue, body=b"hello from pika")
for _ in range(250):
    method, properties, body = ch.basic_get(queue=queue, auto_ack=True)
    if method:
        break
    time.sleep(0.02)
ch.queue_delete(queue=queue)
conn.close()
print(body.decode())
"#;

/// Runs [`PIKA_SCRIPT`] against `url` with queue `queue`.
async fn run_pika(url: &str, queue: &str) {
    let stdout = python3(
        &["-c", PIKA_SCRIPT, url, queue],
        &[],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(stdout.trim(), "hello from pika");
}

#[tokio::test]
async fn pikas_frames_are_decoded_in_the_log() {
    require_pika();
    let proxy = start_proxy().await;
    let q = amqp_testkit::unique_name("proxy-pika");
    let _cleanup = Cleanup::queues(&[&q]);
    run_pika(&proxy.url_for(&amqp_testkit::amqp_url()), &q).await;
    both_sides_closed(&proxy, 1).await;

    let events = proxy.events_of(1);
    let undecodable: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.what, What::Undecodable { .. }))
        .collect();
    assert!(undecodable.is_empty(), "{undecodable:#?}");
    assert!(matches!(&events[1].what, What::ProtocolHeader { header, .. } if header.is_0_9_1()));
    let start_ok = events
        .iter()
        .find_map(|e| match e.method() {
            Some(Method::ConnectionStartOk(s)) => Some(s),
            _ => None,
        })
        .expect("pika's start-ok");
    match start_ok.client_properties.get("product") {
        Some(FieldValue::LongString(s)) => assert_eq!(s.as_bytes(), b"Pika Python Client Library"),
        other => panic!("pika's product: {other:?}"),
    }
    let sent = methods(&events);
    for expected in [
        (ToBroker, "connection.start-ok"),
        (ToBroker, "queue.declare"),
        (ToClient, "queue.declare-ok"),
        (ToBroker, "basic.publish"),
        (ToBroker, "basic.get"),
        (ToClient, "basic.get-ok"),
        (ToBroker, "queue.delete"),
        (ToBroker, "connection.close"),
        (ToClient, "connection.close-ok"),
    ] {
        assert!(sent.contains(&expected), "no {expected:?} in {sent:#?}");
    }
    let bodies: Vec<(Direction, &[u8])> = events
        .iter()
        .filter_map(|e| match e.frame()? {
            Frame::Body { payload, .. } => Some((e.direction?, &payload[..])),
            _ => None,
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (ToBroker, &b"hello from pika"[..]),
            (ToClient, &b"hello from pika"[..])
        ]
    );
}

/// Starts the `amqp-proxy` binary in front of the shared broker, on a free port, with `args`.
async fn spawn_cli(args: &[&str]) -> tokio::process::Child {
    let (host, port) = amqp_testkit::parse_host_port(&amqp_testkit::amqp_url());
    tokio::process::Command::new(env!("CARGO_BIN_EXE_amqp-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("{host}:{port}"),
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run amqp-proxy")
}

/// Where the `amqp-proxy` process listens, from the banner on its standard error.
async fn cli_addr(cli: &mut tokio::process::Child) -> std::net::SocketAddr {
    let mut stderr = BufReader::new(cli.stderr.take().unwrap()).lines();
    let banner = step("amqp-proxy's banner", stderr.next_line())
        .await
        .expect("read stderr")
        .expect("a banner line");
    banner
        .strip_prefix("amqp-proxy: listening on ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
}

/// Runs the `amqp-proxy` binary in front of the shared broker, pika through it; its stdout
/// lines up to the one naming connection.close-ok.
async fn cli_lines_for_pika(json: bool) -> Vec<String> {
    require_pika();
    amqp_testkit::require_broker();
    let mut cli = spawn_cli(if json { &["--json"] } else { &[] }).await;
    let url = proxy::url_for_addr(&amqp_testkit::amqp_url(), cli_addr(&mut cli).await);
    let q = amqp_testkit::unique_name("proxy-cli");
    let _cleanup = Cleanup::queues(&[&q]);
    run_pika(&url, &q).await;

    let mut stdout = BufReader::new(cli.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    loop {
        let line = step("amqp-proxy's output", stdout.next_line())
            .await
            .expect("read stdout")
            .unwrap_or_else(|| panic!("amqp-proxy stopped; it printed {lines:#?}"));
        let done = line.contains("connection.close-ok");
        lines.push(line);
        if done {
            break;
        }
    }
    cli.kill().await.expect("kill amqp-proxy");
    lines
}

#[tokio::test]
async fn the_cli_prints_pikas_frames_line_by_line() {
    let lines = cli_lines_for_pika(false).await;
    let text = lines.join("\n");
    eprintln!("{text}");
    let line = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
    };
    assert!(
        lines[0].contains("] == accepted a connection from 127.0.0.1:"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("] -> protocol-header AMQP 0-9-1"),
        "{text}"
    );
    assert!(line("connection.start ")
        .contains("] <- ch=0 connection.start version_major=0 version_minor=9"));
    let start_ok = line("connection.start-ok");
    assert!(
        start_ok.contains("] -> ch=0 connection.start-ok"),
        "{start_ok}"
    );
    assert!(
        start_ok.contains(r#"product: "Pika Python Client Library""#),
        "{start_ok}"
    );
    assert!(
        start_ok.contains(r#"mechanism="PLAIN" response="\0guest\0*****""#),
        "{start_ok}"
    );
    assert!(line("basic.publish")
        .contains("-> ch=1 basic.publish exchange=\"\" routing_key=\"proxy-cli-"));
    assert!(line("content-body").contains(r#"-> ch=1 content-body size=15 "hello from pika""#));
    assert!(line("basic.get-ok").contains("<- ch=1 basic.get-ok"));
    assert!(lines
        .last()
        .unwrap()
        .contains("<- ch=0 connection.close-ok"));
    assert!(lines.iter().all(|l| has_stamp(l)), "{text}");
}

/// Whether `line` starts with `[cN +S.SSSs] `.
fn has_stamp(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("[c") else {
        return false;
    };
    let Some((conn, rest)) = rest.split_once(" +") else {
        return false;
    };
    let Some((secs, _)) = rest.split_once("s] ") else {
        return false;
    };
    conn.parse::<u64>().is_ok()
        && secs.split_once('.').is_some_and(|(s, ms)| {
            s.parse::<u64>().is_ok() && ms.len() == 3 && ms.parse::<u32>().is_ok()
        })
}

#[tokio::test]
async fn the_cli_cuts_after_n_frames() {
    amqp_testkit::require_broker();
    let mut cli = spawn_cli(&["--cut-after", "7"]).await;
    let url = proxy::url_for_addr(&amqp_testkit::amqp_url(), cli_addr(&mut cli).await);
    let config = ConnectionConfig::from_uri(&url).expect("URL");
    let conn = connect_with(config.with_recovery(Recovery::disabled())).await;
    let opened = step("channel.open", conn.open_channel()).await;
    assert!(matches!(opened, Err(Error::Io(_))), "{opened:?}");
    cli.kill().await.expect("kill amqp-proxy");
}

#[tokio::test]
async fn the_cli_prints_valid_json_lines() {
    let lines = cli_lines_for_pika(true).await;
    let objects: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(objects.iter().all(|o| o["conn"] == 1));
    assert_eq!(objects[0]["event"], "accepted");
    assert_eq!(objects[1]["frame"], "protocol_header");
    assert_eq!(objects[1]["direction"], "to_broker");
    let start_ok = objects
        .iter()
        .find(|o| o["method"] == "connection.start-ok")
        .expect("start-ok");
    assert_eq!(start_ok["direction"], "to_broker");
    assert_eq!(
        start_ok["args"]["client_properties"]["product"]["S"],
        "Pika Python Client Library"
    );
    assert_eq!(start_ok["args"]["response"], "\u{0}guest\u{0}*****");
    let body = objects
        .iter()
        .find(|o| o["frame"] == "body")
        .expect("a body frame");
    assert_eq!(body["hex"], "68656c6c6f2066726f6d2070696b61");
    assert_eq!(objects.last().unwrap()["method"], "connection.close-ok");
    assert_eq!(objects.last().unwrap()["direction"], "to_client");
}
