//! Issue 9's defects, each driven through the whole client (handles, driver,
//! core) against a scripted broker: what a real broker will not do on
//! request (never answer, send more than asked, forge sizes, hang up at a
//! chosen moment). The same behaviours against the real broker are in
//! `tests/tests/no_loss_no_hang.rs`.

mod support;

use std::time::Duration;

use amqp_client::wire::*;
use amqp_client::{BasicPublishOptions, Error, Heartbeat};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Item 1: a publish that cannot be encoded used to return Ok and vanish.
#[tokio::test(start_paused = true)]
async fn an_unencodable_publish_is_refused_by_basic_publish_in_both_modes() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let plain = open_channel(&conn, &mut broker).await;
    let confirming = confirm_channel(&conn, &mut broker).await;
    let long = "k".repeat(256);
    for ch in [&plain, &confirming] {
        let refused = [
            ch.basic_publish("", &long, Default::default(), Default::default(), "x")
                .await
                .err(),
            ch.basic_publish(&long, "q", Default::default(), Default::default(), "x")
                .await
                .err(),
            ch.basic_publish(
                "",
                "q",
                Default::default(),
                BasicProperties {
                    message_id: Some(long.as_str().into()),
                    ..Default::default()
                },
                "x",
            )
            .await
            .err(),
            ch.basic_publish(
                "",
                "q",
                Default::default(),
                BasicProperties {
                    headers: Some(FieldTable::new().with(long.as_str(), 1i32)),
                    ..Default::default()
                },
                "x",
            )
            .await
            .err(),
        ];
        for error in refused {
            assert!(
                matches!(
                    error,
                    Some(Error::Encode(EncodeError::ShortStringTooLong(256)))
                ),
                "{error:?}"
            );
        }
        // Nothing of them was sent: the next frame is the good publish.
        let confirm = ch
            .basic_publish("", "q", Default::default(), Default::default(), "good")
            .await
            .expect("a good publish");
        drop(confirm);
        assert!(matches!(
            within("publish", broker.recv_method()).await,
            (id, Method::BasicPublish(p)) if id == ch.id() && p.routing_key == "q"
        ));
        broker.recv_frame().await; // header
        broker.recv_frame().await; // body
    }
}

/// Item 2: the driver told consumers of the connection's end before it
/// marked the channels closed, so an ack made in between returned Ok and
/// was never sent (2-161 of 300 rounds). Runs on several threads, so the
/// consumer's task races the driver's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_after_the_connections_end_was_reported_is_an_error() {
    for round in 0..300 {
        let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
        let ch = open_channel(&conn, &mut broker).await;
        let mut consumer = consume(&ch, &mut broker, "c", "c").await;
        broker.send_content(1, deliver("c", 1), b"x", 100).await;
        let delivery = within("delivery", consumer.next())
            .await
            .expect("a delivery")
            .expect("not an error");
        broker.hang_up();
        let end = within("the end", consumer.next()).await;
        assert!(
            matches!(end, Some(Err(Error::Io(_)))),
            "round {round}: {end:?}"
        );
        let acked = delivery.ack().await;
        assert!(
            acked.is_err(),
            "round {round}: an ack after the end looked done"
        );
    }
}

/// Item 3: `next_return` never returned `None`.
#[tokio::test(start_paused = true)]
async fn next_return_ends_when_its_channel_ends() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    // Closed by us.
    let ch = open_channel(&conn, &mut broker).await;
    let (closed, ()) = tokio::join!(ch.close(), async {
        assert!(matches!(
            broker.recv_method().await,
            (1, Method::ChannelClose(_))
        ));
        broker.send_method(1, ChannelCloseOk::default()).await;
    });
    closed.expect("channel.close");
    assert!(within("next_return", ch.next_return()).await.is_none());
    // Closed by the broker, with a return still waiting: it comes first.
    let ch = open_channel(&conn, &mut broker).await;
    let back = BasicReturn {
        reply_code: 312,
        reply_text: "NO_ROUTE".into(),
        exchange: "".into(),
        routing_key: "nowhere".into(),
    };
    broker.send_content(1, back, b"r", 100).await;
    broker
        .send_method(
            1,
            ChannelClose {
                reply_code: 404,
                reply_text: "NOT_FOUND".into(),
                class_id: 50,
                method_id: 10,
            },
        )
        .await;
    let first = within("the return", ch.next_return()).await;
    assert!(
        matches!(first, Some(ref r) if &r.body[..] == b"r"),
        "{first:?}"
    );
    assert!(within("next_return", ch.next_return()).await.is_none());
    assert!(matches!(
        broker.recv_method().await,
        (1, Method::ChannelCloseOk(_))
    ));
    // With the connection.
    let ch = open_channel(&conn, &mut broker).await;
    let waiting = tokio::spawn({
        let ch = ch.clone();
        async move { ch.next_return().await.is_none() }
    });
    let (closed, _) = tokio::join!(conn.close(), async {
        assert!(matches!(
            broker.recv_method().await,
            (0, Method::ConnectionClose(_))
        ));
        broker.send_method(0, ConnectionCloseOk::default()).await;
    });
    closed.expect("connection.close");
    assert!(within("next_return", waiting).await.expect("no panic"));
}

/// Item 4: a broker that keeps the connection alive but never answers left
/// every synchronous call pending forever.
#[tokio::test(start_paused = true)]
async fn a_call_the_broker_never_answers_fails_after_the_rpc_timeout() {
    let config = config().with_rpc_timeout(Some(secs(10)));
    let (conn, mut broker) = open(config, tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let started = tokio::time::Instant::now();
    let (declared, ()) = tokio::join!(
        ch.queue_declare("q", Default::default(), FieldTable::new()),
        async {
            assert!(matches!(
                broker.recv_method().await,
                (1, Method::QueueDeclare(_))
            ));
        }
    );
    assert_eq!(started.elapsed(), secs(10));
    assert!(
        matches!(
            declared,
            Err(Error::RpcTimeout {
                method: "queue.declare",
                ..
            })
        ),
        "{declared:?}"
    );
    // The channel is closed, so no late reply can answer a later call.
    assert!(matches!(
        broker.recv_method().await,
        (1, Method::ChannelClose(_))
    ));
    assert!(matches!(ch.error(), Some(Error::RpcTimeout { .. })));
    broker.send_method(1, ChannelCloseOk::default()).await;
    // The connection goes on.
    let other = open_channel(&conn, &mut broker).await;
    assert!(other.error().is_none());
}

/// Item 4b: a publish waiting out connection.blocked did not notice the
/// connection dying: it slept out the blocked timeout and said `Blocked`.
#[tokio::test(start_paused = true)]
async fn a_publish_waiting_out_a_block_ends_with_the_connections_error() {
    let config = config().with_blocked_publish_timeout(secs(600));
    let (conn, mut broker) = open(config, tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    broker
        .send_method(
            0,
            ConnectionBlocked {
                reason: "low on memory".into(),
            },
        )
        .await;
    let mut watch = conn.watch_blocked();
    within("blocked", watch.wait_for(Option::is_some))
        .await
        .expect("watch");
    let started = tokio::time::Instant::now();
    let mut publishing = tokio::spawn(async move {
        ch.basic_publish("", "q", Default::default(), Default::default(), "x")
            .await
    });
    assert!(
        still_pending(secs(1), &mut publishing).await,
        "the publish waits out the block"
    );
    broker.hang_up();
    let published = within("publish", &mut publishing).await.expect("no panic");
    assert!(matches!(published, Err(Error::Io(_))), "{published:?}");
    assert!(
        started.elapsed() < secs(2),
        "it did not sleep out the block"
    );
}

/// Item 6: a broker that ignores the prefetch grew the client's memory
/// without limit (387,000 deliveries, 665 MB). Now the driver stops reading
/// at the consumer's bound, while heartbeats go on both ways.
#[tokio::test(start_paused = true)]
async fn a_consumer_that_falls_behind_stops_the_reading_not_the_heartbeats() {
    let config = config()
        .with_heartbeat(Heartbeat::Secs(2))
        .with_consumer_buffer(4);
    let (conn, mut broker) = open_over_pipe(config, tune(0, 0, 2), 4096).await;
    let ch = open_channel(&conn, &mut broker).await;
    let mut consumer = consume(&ch, &mut broker, "c", "c").await;
    let (mut from_client, mut to_client) = tokio::io::split(broker.into_io());
    let total = 300u64;
    let body = vec![7u8; 1024];
    let mut flood = Vec::new();
    for tag in 1..=total {
        flood.extend(encode(&[
            Frame::method(1, deliver("c", tag)),
            header(1, body.len()),
            body_frame(1, &body),
        ]));
    }
    let mut sending = tokio::spawn(async move {
        to_client.write_all(&flood).await.expect("broker write");
        to_client
    });
    // The client reads what fits its buffer, then stops: the broker's
    // writes stall, for a minute, and the client stays up.
    assert!(
        still_pending(secs(60), &mut sending).await,
        "the client kept reading"
    );
    assert!(
        conn.is_open(),
        "a consumer falling behind is not a dead broker"
    );
    let mut heartbeats = vec![0u8; 4096];
    let n = from_client.read(&mut heartbeats).await.expect("read");
    assert!(n >= 8 * 10, "heartbeats kept going out: {n} octets");
    assert!(
        heartbeats[..n]
            .chunks(8)
            .all(|f| f == [8, 0, 0, 0, 0, 0, 0, 0xCE]),
        "only heartbeats"
    );
    // The consumer catches up: every delivery arrives, in order.
    for tag in 1..=total {
        let delivery = within("delivery", consumer.next())
            .await
            .expect("a delivery")
            .expect("not an error");
        assert_eq!(delivery.delivery_tag, tag);
    }
    within("the broker's writes", &mut sending)
        .await
        .expect("no panic");
    assert!(conn.is_open());
}

/// Item 7: a dropped consumer was not cancelled; its deliveries stayed
/// unacked and out of reach until the channel closed.
#[tokio::test(start_paused = true)]
async fn dropping_a_consumer_cancels_it_and_gives_back_what_it_never_handed_out() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let mut consumer = consume(&ch, &mut broker, "c", "c").await;
    for tag in 1..=3 {
        broker.send_content(1, deliver("c", tag), b"x", 100).await;
    }
    let first = within("delivery", consumer.next())
        .await
        .expect("a delivery")
        .expect("not an error");
    tokio::task::yield_now().await;
    drop(consumer);
    let cancel = within("basic.cancel", broker.recv_method()).await;
    assert!(
        matches!(&cancel, (1, Method::BasicCancel(c)) if c.consumer_tag == "c" && !c.nowait),
        "{cancel:?}"
    );
    // Another delivery was already on its way when the broker got the cancel.
    broker.send_content(1, deliver("c", 4), b"x", 100).await;
    let mut given_back = Vec::new();
    while given_back.len() < 3 {
        match within("basic.reject", broker.recv_method()).await {
            (1, Method::BasicReject(r)) if r.requeue => given_back.push(r.delivery_tag),
            other => panic!("expected basic.reject requeue, got {other:?}"),
        }
    }
    given_back.sort_unstable();
    assert_eq!(given_back, [2, 3, 4]);
    broker
        .send_method(
            1,
            BasicCancelOk {
                consumer_tag: "c".into(),
            },
        )
        .await;
    // What the application holds is still its own to settle.
    first.ack().await.expect("ack");
    assert!(matches!(
        within("basic.ack", broker.recv_method()).await,
        (1, Method::BasicAck(a)) if a.delivery_tag == 1
    ));
    assert!(ch.error().is_none(), "the channel stays open");
}

/// Item 11: a mandatory publish that came back unroutable resolved its
/// confirm as a plain Ok (the broker acks returned messages).
#[tokio::test(start_paused = true)]
async fn a_returned_mandatory_publish_resolves_its_confirm_as_returned() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = confirm_channel(&conn, &mut broker).await;
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let lost = ch
        .basic_publish("", "nowhere", mandatory, Default::default(), "lost")
        .await
        .expect("publish");
    let kept = ch
        .basic_publish("", "q", mandatory, Default::default(), "kept")
        .await
        .expect("publish");
    for _ in 0..6 {
        broker.recv_frame().await;
    }
    let back = BasicReturn {
        reply_code: 312,
        reply_text: "NO_ROUTE".into(),
        exchange: "".into(),
        routing_key: "nowhere".into(),
    };
    broker.send_content(1, back, b"lost", 100).await;
    broker
        .send_method(
            1,
            BasicAck {
                delivery_tag: 2,
                multiple: true,
            },
        )
        .await;
    match within("confirm", lost.wait()).await {
        Err(Error::Returned(r)) => {
            assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
            assert_eq!(r.routing_key, "nowhere");
            assert_eq!(&r.body[..], b"lost");
        }
        other => panic!("expected Returned, got {other:?}"),
    }
    within("confirm", kept.wait()).await.expect("acked");
    let returned = within("next_return", ch.next_return()).await;
    assert!(matches!(returned, Some(ref r) if &r.body[..] == b"lost"));
}
