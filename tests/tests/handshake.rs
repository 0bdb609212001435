//! Connecting: the handshake's outcome, refused logins and vhosts, unreachable brokers, the
//! connection timeout, channel numbering and the frame tap.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqp_client::wire::Frame;
use amqp_client::{
    BasicProperties, Connection, Direction, Error, FieldTable, FieldValue, ReplyCode, TapEvent,
    Tapped,
};
use common::*;

#[tokio::test]
async fn handshake_negotiates_limits_and_reports_the_server() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let tuning = conn.tuning();
    // RabbitMQ's defaults, and ours (channel_max 2047, frame_max 128 KiB): the lower of each.
    assert_eq!(tuning.channel_max, 2047, "{tuning:?}");
    assert_eq!(tuning.frame_max, 131_072, "{tuning:?}");
    assert!(tuning.heartbeat > 0, "{tuning:?}");
    let props = conn.server_properties();
    assert_eq!(
        props.get("product").and_then(FieldValue::as_str),
        Some("RabbitMQ"),
        "{props:?}"
    );
    let caps = props
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .expect("server capabilities");
    for cap in [
        "publisher_confirms",
        "consumer_cancel_notify",
        "connection.blocked",
    ] {
        assert_eq!(caps.get(cap), Some(&FieldValue::Boolean(true)), "{cap}");
    }
    assert!(conn.is_open());
    assert!(conn.blocked().is_none());
    step("connection.close", conn.close()).await.unwrap();
    assert!(!conn.is_open());
    assert!(matches!(conn.error(), Some(Error::ClientClosed)));
    // Closing twice is fine; using a closed connection is not.
    step("second close", conn.close()).await.unwrap();
    assert!(matches!(
        step("channel.open", conn.open_channel()).await,
        Err(Error::ClientClosed)
    ));
}

#[tokio::test]
async fn wrong_password_is_a_typed_403_access_refused() {
    amqp_testkit::require_broker();
    let config = config().with_credentials("guest", "not-the-password");
    let result = step("connect", Connection::connect(config)).await;
    let text = expect_connection_closed(result, ReplyCode::ACCESS_REFUSED);
    // E.g. "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. ..."
    assert!(
        text.contains("ACCESS_REFUSED") && text.contains("Login was refused"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_vhost_is_a_typed_530_not_allowed() {
    amqp_testkit::require_broker();
    let vhost = amqp_testkit::unique_name("no-such-vhost");
    let result = step(
        "connect",
        Connection::connect(config().with_vhost(vhost.clone())),
    )
    .await;
    let text = expect_connection_closed(result, ReplyCode::NOT_ALLOWED);
    assert!(text.contains(&vhost), "{text}");
    let err = Connection::connect(config().with_vhost(vhost))
        .await
        .unwrap_err();
    assert_eq!(err.reply_code(), Some(ReplyCode::NOT_ALLOWED));
    assert!(err.close_reason().is_some());
}

#[tokio::test]
async fn nothing_listening_is_an_io_error_at_once() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port();
    let started = Instant::now();
    let result = within(
        Duration::from_secs(5),
        "connecting to a closed port",
        amqp_client::connect(&format!("amqp://guest:guest@127.0.0.1:{port}/%2f")),
    )
    .await;
    let elapsed = started.elapsed();
    match result {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}")
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[tokio::test]
async fn connection_timeout_is_honoured_when_the_peer_never_answers() {
    // A listener that accepts and then says nothing: the handshake never starts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted_tx, accepted_rx) = tokio::sync::oneshot::channel();
    let mute = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let _ = accepted_tx.send(());
        // Hold the socket open, silent, until the test ends.
        std::future::pending::<()>().await;
        drop(socket);
    });
    let timeout = Duration::from_millis(500);
    let config = config()
        .with_address("127.0.0.1", port)
        .with_connection_timeout(timeout);
    let started = Instant::now();
    let result = within(
        Duration::from_secs(5),
        "connect",
        Connection::connect(config),
    )
    .await;
    let elapsed = started.elapsed();
    match result {
        Err(Error::ConnectTimeout(t)) => assert_eq!(t, timeout),
        other => panic!("expected ConnectTimeout, got {other:?}"),
    }
    assert!(elapsed >= timeout, "gave up early, after {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_millis(500),
        "took {elapsed:?}"
    );
    // The listener did accept: the time went into the silent handshake, not the TCP connect.
    step("the accept", accepted_rx).await.unwrap();
    mute.abort();

    // The same limit from the URI, in milliseconds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let result = within(
        Duration::from_secs(5),
        "connect",
        amqp_client::connect(&format!(
            "amqp://guest:guest@127.0.0.1:{port}/%2f?connection_timeout=300"
        )),
    )
    .await;
    assert!(
        matches!(result, Err(Error::ConnectTimeout(t)) if t == Duration::from_millis(300)),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(800));
    drop(listener);
}

#[tokio::test]
async fn fifty_channels_get_ids_1_to_50_and_a_closed_id_is_reused() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let mut channels = Vec::new();
    for _ in 0..50 {
        channels.push(channel(&conn).await);
    }
    let ids: Vec<u16> = channels.iter().map(|c| c.id()).collect();
    assert_eq!(ids, (1..=50).collect::<Vec<u16>>());

    let closed = channels.remove(16);
    assert_eq!(closed.id(), 17);
    step("channel.close", closed.close()).await.unwrap();
    assert!(matches!(closed.error(), Some(Error::ChannelClosedByClient)));
    // A call on the closed handle fails and never reaches the channel that reuses its number.
    let stale = step(
        "basic.qos on a closed channel",
        closed.basic_qos(1, Default::default()),
    )
    .await;
    assert!(
        matches!(stale, Err(Error::ChannelClosedByClient)),
        "{stale:?}"
    );

    let reused = channel(&conn).await;
    assert_eq!(reused.id(), 17);
    let next = channel(&conn).await;
    assert_eq!(next.id(), 51);
    // The stale handle still cannot act on channel 17's new life.
    let stale = step(
        "basic.qos on the stale handle",
        closed.basic_qos(1, Default::default()),
    )
    .await;
    assert!(
        matches!(stale, Err(Error::ChannelClosedByClient)),
        "{stale:?}"
    );

    // Every channel works.
    for ch in channels.iter().chain([&reused, &next]) {
        step("basic.qos", ch.basic_qos(10, Default::default()))
            .await
            .unwrap_or_else(|e| panic!("channel {}: {e}", ch.id()));
    }
    for ch in channels.iter().chain([&reused, &next]) {
        step("channel.close", ch.close()).await.unwrap();
    }
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn channel_max_is_enforced_by_the_client() {
    amqp_testkit::require_broker();
    let conn = connect_with(config().with_channel_max(3)).await;
    assert_eq!(conn.tuning().channel_max, 3);
    let mut channels = Vec::new();
    for _ in 0..3 {
        channels.push(channel(&conn).await);
    }
    let result = step("a 4th channel", conn.open_channel()).await;
    assert!(matches!(result, Err(Error::NoFreeChannel(3))), "{result:?}");
    step("connection.close", conn.close()).await.unwrap();
}

/// What the tap saw, in a form that is easy to search.
#[derive(Debug, Clone)]
enum Seen {
    Header(Direction),
    Method(Direction, u16, String),
    Content(Direction, u16),
    Body(Direction, u16, Vec<u8>),
    Heartbeat,
}

#[tokio::test]
async fn the_frame_tap_sees_both_directions() {
    amqp_testkit::require_broker();
    let seen: Arc<Mutex<Vec<(u64, Seen)>>> = Arc::default();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let tap = {
        let seen = seen.clone();
        let lines = lines.clone();
        move |e: &TapEvent<'_>| {
            let item = match e.frame {
                Tapped::ProtocolHeader(_) => Seen::Header(e.direction),
                Tapped::Frame(Frame::Method { channel, method }) => {
                    Seen::Method(e.direction, *channel, method.name().to_owned())
                }
                Tapped::Frame(Frame::Header { channel, .. }) => {
                    Seen::Content(e.direction, *channel)
                }
                Tapped::Frame(Frame::Body { channel, payload }) => {
                    Seen::Body(e.direction, *channel, payload.to_vec())
                }
                Tapped::Frame(Frame::Heartbeat) => Seen::Heartbeat,
            };
            seen.lock().unwrap().push((e.connection_id, item));
            lines.lock().unwrap().push(e.to_string());
        }
    };
    let conn = connect_with(config().with_tap(Arc::new(tap))).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "tap").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let unconfirmed = ch
        .basic_publish(
            "",
            &q,
            Default::default(),
            BasicProperties::default(),
            "tapped body",
        )
        .await
        .unwrap();
    // Without confirm.select there is nothing to wait for.
    step("no confirm", unconfirmed.wait()).await.unwrap();
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let d = next_delivery(&mut consumer, "the delivery").await;
    d.ack().await.unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let id = conn.id();
    assert!(seen.iter().all(|(c, _)| *c == id), "another connection id");
    let items: Vec<Seen> = seen.into_iter().map(|(_, s)| s).collect();
    let pos = |pred: &dyn Fn(&Seen) -> bool, what: &str| {
        items
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("the tap never saw {what}; it saw {items:#?}"))
    };
    let method = |dir: Direction, name: &'static str| move |s: &Seen| matches!(s, Seen::Method(d, _, n) if *d == dir && n == name);
    use Direction::{Received, Sent};
    assert!(
        matches!(items.first(), Some(Seen::Header(Sent))),
        "{items:#?}"
    );
    let start = pos(
        &method(Received, "connection.start"),
        "connection.start received",
    );
    let start_ok = pos(&method(Sent, "connection.start-ok"), "start-ok sent");
    let open_ok = pos(&method(Received, "connection.open-ok"), "open-ok received");
    let publish = pos(&method(Sent, "basic.publish"), "basic.publish sent");
    let deliver = pos(&method(Received, "basic.deliver"), "basic.deliver received");
    let close_ok = pos(
        &method(Received, "connection.close-ok"),
        "close-ok received",
    );
    assert!(start < start_ok && start_ok < open_ok && open_ok < publish);
    assert!(publish < deliver && deliver < close_ok);
    // Channel 0 for the connection class, the channel's number for the rest; the content frames
    // follow their methods, with the body.
    let c = ch.id();
    assert!(matches!(&items[start], Seen::Method(_, 0, _)));
    assert!(matches!(&items[publish], Seen::Method(_, n, _) if *n == c));
    assert!(matches!(&items[deliver], Seen::Method(_, n, _) if *n == c));
    let body = b"tapped body".to_vec();
    assert!(
        matches!(&items[publish + 1], Seen::Content(Sent, n) if *n == c),
        "{:?}",
        &items[publish..]
    );
    assert!(matches!(&items[publish + 2], Seen::Body(Sent, n, b) if *n == c && *b == body));
    assert!(matches!(&items[deliver + 1], Seen::Content(Received, n) if *n == c));
    assert!(matches!(&items[deliver + 2], Seen::Body(Received, n, b) if *n == c && *b == body));
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("->") && l.contains("basic.publish")),
        "{lines:#?}"
    );
}
