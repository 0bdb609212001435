//! The real driver over scripted peers: `tokio_test::io::Builder` where
//! every byte is fixed in advance, and an in-process fake broker (over
//! `tokio::io::duplex`) for longer conversations. Time is paused where it
//! matters, so heartbeat tests take no real time and never flake.

mod support;

use std::io;
use std::time::Duration;

use amqp_client::wire::*;
use amqp_client::{
    Connection, ConnectionConfig, Error, FieldTable, Heartbeat, QueueDeclareOptions, Tuning,
};
use support::*;
use tokio::time::Instant;
use tokio_test::io::Builder;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn violation_code(e: &Error) -> Option<u16> {
    match e {
        Error::ProtocolViolation { reply_code, .. } => Some(reply_code.0),
        _ => None,
    }
}

// ===== the handshake, byte by byte =====

/// The start-ok the client sends for `config`, with its fields checked.
/// It names the platform and crate version, so the byte-exact test below
/// takes its bytes from here (re-encoding is exact) rather than hard-coding them.
async fn checked_start_ok(config: ConnectionConfig) -> Vec<u8> {
    let (client, mut broker) = pipe(1 << 16);
    let connect = Connection::connect_stream(client, config);
    let capture = async {
        assert_eq!(broker.read_protocol_header().await, PROTOCOL_HEADER);
        broker.send_method(0, start()).await;
        broker.recv_method().await
    };
    let (_, (channel, method)) = within("start-ok", async {
        tokio::select! {
            r = connect => panic!("connect ended early: {r:?}"),
            got = capture => ((), got),
        }
    })
    .await;
    assert_eq!(channel, 0);
    let Method::ConnectionStartOk(ok) = &method else {
        panic!("expected start-ok, got {method:?}");
    };
    assert_eq!(ok.mechanism, "PLAIN");
    assert_eq!(ok.response.as_bytes(), b"\0guest\0guest");
    assert_eq!(ok.locale, "en_US");
    let props = &ok.client_properties;
    let text = |key: &str| props.get(key).and_then(FieldValue::as_str);
    assert_eq!(text("product"), Some("amqp-client (Rust)"));
    assert_eq!(text("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(text("platform").is_some_and(|p| !p.is_empty()));
    assert!(props
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .is_some());
    encode(&[Frame::method(0, method)])
}

#[tokio::test]
async fn the_whole_negotiation_is_byte_exact() {
    let config = config().with_heartbeat(Heartbeat::Secs(10));
    let start_ok = checked_start_ok(config.clone()).await;
    let mock = Builder::new()
        // Protocol header: "AMQP" 0 0-9-1.
        .write(b"AMQP\x00\x00\x09\x01")
        .read(&encode(&[Frame::method(0, start())]))
        .write(&start_ok)
        // connection.tune: channel_max 2047, frame_max 131072, heartbeat 60.
        .read(&[
            1, 0, 0, 0, 0, 0, 12, 0, 10, 0, 30, 0x07, 0xff, 0, 2, 0, 0, 0, 60, 0xce,
        ])
        // connection.tune-ok: 2047, 131072, heartbeat 10 (ours is lower).
        .write(&[
            1, 0, 0, 0, 0, 0, 12, 0, 10, 0, 31, 0x07, 0xff, 0, 2, 0, 0, 0, 10, 0xce,
        ])
        // connection.open: vhost "/", capabilities "", insist false.
        .write(&[1, 0, 0, 0, 0, 0, 8, 0, 10, 0, 40, 1, b'/', 0, 0, 0xce])
        // connection.open-ok.
        .read(&[1, 0, 0, 0, 0, 0, 5, 0, 10, 0, 41, 0, 0xce])
        // connection.close 200 "closed by the client" 0 0.
        .write(&[1, 0, 0, 0, 0, 0, 31, 0, 10, 0, 50, 0, 200, 20])
        .write(b"closed by the client")
        .write(&[0, 0, 0, 0, 0xce])
        // connection.close-ok.
        .read(&[1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xce])
        .build();
    let conn = within("connect", Connection::connect_stream(mock, config))
        .await
        .expect("connect");
    assert_eq!(
        conn.tuning(),
        Tuning {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 10
        }
    );
    assert_eq!(
        conn.server_properties()
            .get("product")
            .and_then(FieldValue::as_str),
        Some("RabbitMQ")
    );
    within("close", conn.close()).await.expect("close");
    assert!(matches!(
        within("closed", conn.closed()).await,
        Error::ClientClosed
    ));
}

#[tokio::test]
async fn a_broker_answering_with_its_own_protocol_header_refuses_our_version() {
    for (header, version) in [
        (*b"AMQP\x00\x01\x00\x00", "1-0-0"),
        (*b"AMQP\x00\x00\x08\x00", "0-8-0"),
        (*b"AMQP\x00\x00\x09\x01", "0-9-1"),
    ] {
        let mock = Builder::new().write(&PROTOCOL_HEADER).read(&header).build();
        match within("connect", Connection::connect_stream(mock, config())).await {
            Err(Error::VersionRefused { version: v }) => {
                assert_eq!(v, version);
                let message = Error::VersionRefused { version: v }.to_string();
                assert!(message.contains(version), "{message}");
            }
            other => panic!("{version}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn eof_in_the_middle_of_connection_start_fails_connect_with_an_io_error() {
    let start = encode(&[Frame::method(0, start())]);
    let mock = Builder::new()
        .write(&PROTOCOL_HEADER)
        .read(&start[..20])
        .build();
    match within("connect", Connection::connect_stream(mock, config())).await {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(e.to_string().contains("middle of a frame"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_reset_during_the_handshake_fails_connect_with_that_io_error() {
    let mock = Builder::new()
        .write(&PROTOCOL_HEADER)
        .read_error(io::ErrorKind::ConnectionReset.into())
        .build();
    match within("connect", Connection::connect_stream(mock, config())).await {
        Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_broker_that_never_answers_the_header_times_out_the_connect() {
    let (client, mut broker) = pipe(1 << 16);
    let config = config().with_connection_timeout(secs(5));
    let started = Instant::now();
    let (result, header) = tokio::join!(
        Connection::connect_stream(client, config),
        broker.read_protocol_header()
    );
    assert_eq!(header, PROTOCOL_HEADER);
    assert!(matches!(result, Err(Error::ConnectTimeout(d)) if d == secs(5)));
    assert_eq!(started.elapsed(), secs(5));
    // The driver was stopped with the handshake: the socket closes.
    assert!(within("EOF", broker.until_eof()).await.is_empty());
}

// ===== refusals during the handshake =====

#[tokio::test]
async fn a_login_refused_with_403_fails_connect_with_the_brokers_reason() {
    let (client, mut broker) = pipe(1 << 16);
    let broker_side = async {
        broker.read_protocol_header().await;
        broker.send_method(0, start()).await;
        assert!(matches!(
            broker.recv_method().await,
            (0, Method::ConnectionStartOk(_))
        ));
        broker
            .send_method(
                0,
                ConnectionClose {
                    reply_code: 403,
                    reply_text:
                        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"
                            .into(),
                    class_id: 0,
                    method_id: 0,
                },
            )
            .await;
        let close_ok = broker.recv_method().await;
        assert_eq!(close_ok, (0, ConnectionCloseOk::default().into()));
        assert!(broker.until_eof().await.is_empty());
    };
    let (result, ()) = within("connect", async {
        tokio::join!(
            Connection::connect_stream(client, config().with_credentials("guest", "wrong")),
            broker_side
        )
    })
    .await;
    match result {
        Err(Error::ConnectionClosed(reason)) => {
            assert_eq!(reason.reply_code, ReplyCode::ACCESS_REFUSED);
            assert!(reason.reply_text.contains("Login was refused"));
        }
        other => panic!("{other:?}"),
    }
}

/// Runs a connect against a broker that sends `start`, and returns the
/// result and everything the client sent after its protocol header.
async fn connect_against_start(start: Vec<u8>) -> (Result<Connection, Error>, Vec<Frame>) {
    let (client, mut broker) = pipe(1 << 16);
    let broker_side = async {
        broker.read_protocol_header().await;
        broker.send_raw(&start).await;
        broker.until_eof().await
    };
    within("connect", async {
        tokio::join!(Connection::connect_stream(client, config()), broker_side)
    })
    .await
}

#[tokio::test]
async fn a_broker_that_is_not_0_9_is_refused_with_a_clear_error() {
    let (result, sent) = connect_against_start(encode(&[Frame::method(
        0,
        ConnectionStart {
            version_major: 8,
            version_minor: 0,
            ..start()
        },
    )]))
    .await;
    assert!(
        sent.is_empty(),
        "nothing after refusing a version: {sent:?}"
    );
    match result {
        Err(e @ Error::Negotiation(_)) => assert!(e.to_string().contains("8-0"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_broker_without_a_mechanism_we_have_is_refused_with_a_clear_error() {
    let (result, sent) = connect_against_start(encode(&[Frame::method(
        0,
        ConnectionStart {
            mechanisms: "EXTERNAL".into(),
            ..start()
        },
    )]))
    .await;
    assert!(sent.is_empty(), "{sent:?}");
    match result {
        Err(e @ Error::Negotiation(_)) => {
            let message = e.to_string();
            assert!(
                message.contains("EXTERNAL") && message.contains("PLAIN"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_connection_start_over_4096_octets_is_refused_with_501() {
    let mut big = start();
    big.server_properties
        .insert("padding", "x".repeat(5000).as_str());
    let (client, mut broker) = pipe(1 << 16);
    let broker_side = async {
        broker.read_protocol_header().await;
        broker.send(Frame::method(0, big)).await;
        broker.expect_close_then_eof().await
    };
    let (result, code) = within("connect", async {
        tokio::join!(Connection::connect_stream(client, config()), broker_side)
    })
    .await;
    assert_eq!(code, 501);
    assert_eq!(result.err().as_ref().and_then(violation_code), Some(501));
}

#[tokio::test]
async fn tuning_follows_tune_ok_whichever_side_is_lower_and_zero_means_no_limit() {
    let ours = config()
        .with_channel_max(100)
        .with_frame_max(65_536)
        .with_heartbeat(Heartbeat::Secs(30));
    let cases = [
        // (server's tune, the tuning expected)
        ((10, 8192, 5), (10, 8192, 5)),
        ((2047, 131_072, 60), (100, 65_536, 30)),
        ((0, 0, 0), (100, 65_536, 30)),
    ];
    for ((cm, fm, hb), (channel_max, frame_max, heartbeat)) in cases {
        let (conn, _broker) = open(ours.clone(), tune(cm, fm, hb)).await;
        assert_eq!(
            conn.tuning(),
            Tuning {
                channel_max,
                frame_max,
                heartbeat
            },
            "server ({cm}, {fm}, {hb})"
        );
    }
    // Zero on our side takes the server's values.
    let theirs = config().with_channel_max(0).with_frame_max(0);
    let (conn, _broker) = open(theirs, tune(2047, 131_072, 0)).await;
    assert_eq!(
        (conn.tuning().channel_max, conn.tuning().frame_max),
        (2047, 131_072)
    );
}

// ===== heartbeats =====

#[tokio::test(start_paused = true)]
async fn a_silent_broker_is_detected_within_two_intervals() {
    let (conn, mut broker) =
        open(config().with_heartbeat(Heartbeat::Secs(10)), tune(0, 0, 10)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let last_heard = Instant::now();
    // The broker takes what the client sends and says nothing more.
    let silent = tokio::spawn(async move { broker.until_eof().await });
    let (declared, error) = within("heartbeat timeout", async {
        tokio::join!(
            ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new()),
            conn.closed()
        )
    })
    .await;
    let waited = last_heard.elapsed();
    assert!(
        waited >= secs(20) && waited <= secs(20) + Duration::from_millis(100),
        "{waited:?}"
    );
    assert!(
        matches!(error, Error::HeartbeatTimeout(d) if d == secs(20)),
        "{error:?}"
    );
    assert!(
        matches!(declared, Err(Error::HeartbeatTimeout(_))),
        "{declared:?}"
    );
    // Later calls fail the same way, at once.
    assert!(matches!(
        conn.open_channel().await,
        Err(Error::HeartbeatTimeout(_))
    ));
    assert!(matches!(
        ch.basic_publish("", "q", Default::default(), Default::default(), "x")
            .await,
        Err(Error::HeartbeatTimeout(_))
    ));
    assert!(!conn.is_open());
    // The client kept sending heartbeats while it waited, then hung up.
    let sent = within("EOF", silent).await.expect("broker task");
    let heartbeats = sent.iter().filter(|f| **f == Frame::Heartbeat).count();
    assert_eq!(heartbeats, 3, "{sent:?}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_broker_that_also_stops_reading_is_still_detected() {
    // A tiny pipe the broker never reads from: the client's writes stall
    // with bytes still queued when the heartbeat timeout comes.
    let (client, mut broker) = pipe(4096);
    let config = config().with_heartbeat(Heartbeat::Secs(10));
    let (conn, _) = within("handshake", async {
        tokio::join!(
            Connection::connect_stream(client, config),
            broker.handshake(tune(0, 0, 10))
        )
    })
    .await;
    let conn = conn.expect("connect");
    let ch = open_channel(&conn, &mut broker).await;
    let last_heard = Instant::now();
    let _ = ch
        .basic_publish(
            "",
            "q",
            Default::default(),
            Default::default(),
            body(256 * 1024),
        )
        .await
        .expect("publish is queued");
    let error = within("heartbeat timeout", conn.closed()).await;
    assert!(matches!(error, Error::HeartbeatTimeout(_)), "{error:?}");
    let waited = last_heard.elapsed();
    assert!(waited <= secs(20) + secs(2), "{waited:?}");
    drop(broker);
}

// ===== broken sockets =====

#[tokio::test(start_paused = true)]
async fn eof_mid_frame_fails_pending_and_later_operations_with_an_io_error() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let mut consumer = consume(&ch, &mut broker, "c1", "c1").await;
    let started = Instant::now();
    let (declared, ()) = within("declare", async {
        tokio::join!(
            ch.queue_declare("q2", QueueDeclareOptions::default(), FieldTable::new()),
            async {
                assert!(matches!(
                    broker.recv_method().await,
                    (1, Method::QueueDeclare(_))
                ));
                let reply = encode(&[Frame::method(1, QueueDeclareOk::default())]);
                broker.send_raw(&reply[..reply.len() - 3]).await;
                broker.hang_up();
            }
        )
    })
    .await;
    let is_eof =
        |e: &Error| matches!(e, Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof);
    assert!(declared.as_ref().is_err_and(is_eof), "{declared:?}");
    assert!(matches!(consumer.next().await, Some(Err(ref e)) if is_eof(e)));
    assert!(consumer.next().await.is_none());
    assert!(is_eof(&within("closed", conn.closed()).await));
    assert!(conn.open_channel().await.is_err_and(|e| is_eof(&e)));
    assert!(ch
        .queue_declare("q3", QueueDeclareOptions::default(), FieldTable::new())
        .await
        .is_err_and(|e| is_eof(&e)));
    assert!(ch
        .basic_publish("", "q", Default::default(), Default::default(), "x")
        .await
        .is_err_and(|e| is_eof(&e)));
    assert!(conn.close().await.is_err_and(|e| is_eof(&e)));
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "nothing waited on a timer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_reset_fails_pending_and_later_operations_with_an_io_error() {
    let (client, mut broker) = pipe(1 << 16);
    let (client, breaker) = breakable(client);
    let (conn, _) = tokio::join!(
        Connection::connect_stream(client, config()),
        broker.handshake(tune(0, 0, 0))
    );
    let conn = conn.expect("connect");
    let ch = confirm_channel(&conn, &mut broker).await;
    let confirm = {
        ch.basic_publish(
            "",
            "q",
            Default::default(),
            Default::default(),
            "unconfirmed",
        )
        .await
        .expect("publish")
    };
    let started = Instant::now();
    let (declared, ()) = tokio::join!(
        ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new()),
        async {
            // The publish, then the declare.
            assert!(matches!(
                broker.recv_method().await,
                (1, Method::BasicPublish(_))
            ));
            broker.recv_frame().await;
            broker.recv_frame().await;
            assert!(matches!(
                broker.recv_method().await,
                (1, Method::QueueDeclare(_))
            ));
            breaker.reset();
        }
    );
    let is_reset =
        |e: &Error| matches!(e, Error::Io(io) if io.kind() == io::ErrorKind::ConnectionReset);
    assert!(declared.as_ref().is_err_and(is_reset), "{declared:?}");
    assert!(within("confirm", confirm.wait())
        .await
        .is_err_and(|e| is_reset(&e)));
    assert!(is_reset(&within("closed", conn.closed()).await));
    assert!(conn.open_channel().await.is_err_and(|e| is_reset(&e)));
    assert_eq!(started.elapsed(), Duration::ZERO);
}

// ===== malformed frames =====

/// Opens a connection and a channel, sends `bad` from the broker while a
/// queue.declare is pending, and checks the close the client answers with
/// (`None`: none, the socket is just closed) and the error every operation
/// then gets.
async fn assert_closed_with(bad: Vec<u8>, close_sent: Option<u16>, expected: u16) {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let (declared, code) = within("declare", async {
        tokio::join!(
            ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new()),
            async {
                assert!(matches!(
                    broker.recv_method().await,
                    (1, Method::QueueDeclare(_))
                ));
                broker.send_raw(&bad).await;
                match close_sent {
                    Some(_) => Some(broker.expect_close_then_eof().await),
                    None => {
                        let sent = broker.until_eof().await;
                        assert!(sent.is_empty(), "nothing before EOF: {sent:?}");
                        None
                    }
                }
            }
        )
    })
    .await;
    assert_eq!(
        code, close_sent,
        "the reply code of the client's connection.close"
    );
    assert_eq!(
        declared.err().as_ref().and_then(violation_code),
        Some(expected)
    );
    let error = within("closed", conn.closed()).await;
    assert_eq!(violation_code(&error), Some(expected), "{error:?}");
    assert_eq!(
        conn.open_channel()
            .await
            .err()
            .as_ref()
            .and_then(violation_code),
        Some(expected)
    );
    assert_eq!(
        ch.basic_publish("", "q", Default::default(), Default::default(), "x")
            .await
            .err()
            .as_ref()
            .and_then(violation_code),
        Some(expected)
    );
}

#[tokio::test(start_paused = true)]
async fn closes_the_socket_without_a_word_on_bad_frame_end() {
    // Spec 4.2.3: no more data after a bad frame-end; the 501 is ours to report.
    let mut bad = encode(&[Frame::method(1, QueueDeclareOk::default())]);
    *bad.last_mut().unwrap() = 0x00;
    assert_closed_with(bad, None, 501).await;
}

/// Inside a well-framed frame, the violation is told (connection.close
/// 502) and the driver writes it out before it drops the socket. Which
/// malformed frame gets which code is the core's (proto/tests/failures.rs).
#[tokio::test(start_paused = true)]
async fn a_violation_is_told_with_connection_close_before_the_socket_is_dropped() {
    // queue.declare-ok whose queue name claims 200 octets, in a 6-octet payload.
    let bad = vec![1, 0, 1, 0, 0, 0, 6, 0, 50, 0, 11, 200, b'q', 0xce];
    assert_closed_with(bad, Some(502), 502).await;
}

// ===== channels =====

#[tokio::test(start_paused = true)]
async fn confirms_settle_with_multiple_acks_and_a_nack_is_an_error() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = confirm_channel(&conn, &mut broker).await;
    let mut confirms = Vec::new();
    for i in 0..3 {
        let confirm = ch
            .basic_publish(
                "",
                "q",
                Default::default(),
                Default::default(),
                format!("m{i}"),
            )
            .await
            .expect("publish");
        confirms.push(Box::pin(confirm.wait()));
    }
    for _ in 0..9 {
        broker.recv_frame().await;
    }
    assert!(still_pending(secs(1), &mut confirms[0]).await, "no ack yet");

    broker
        .send_method(
            1,
            BasicAck {
                delivery_tag: 2,
                multiple: true,
            },
        )
        .await;
    let mut confirms = confirms.into_iter();
    within("confirm 1", confirms.next().unwrap())
        .await
        .expect("acked");
    within("confirm 2", confirms.next().unwrap())
        .await
        .expect("acked");
    let mut third = confirms.next().unwrap();
    assert!(
        still_pending(secs(1), &mut third).await,
        "3 is not covered by ack 2"
    );
    broker
        .send_method(
            1,
            BasicNack {
                delivery_tag: 3,
                multiple: false,
                requeue: false,
            },
        )
        .await;
    assert!(matches!(
        within("confirm 3", third).await,
        Err(Error::Nacked)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_broker_basic_cancel_ends_the_consumer_with_consumer_cancelled() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let mut consumer = consume(&ch, &mut broker, "", "amq.ctag-1").await;
    assert_eq!(consumer.tag(), "amq.ctag-1");
    broker
        .send_content(1, deliver("amq.ctag-1", 1), b"before", 100)
        .await;
    broker
        .send_method(
            1,
            BasicCancel {
                consumer_tag: "amq.ctag-1".into(),
                nowait: false,
            },
        )
        .await;
    let first = within("delivery", consumer.next()).await;
    assert!(matches!(first, Some(Ok(ref d)) if &d.body[..] == b"before"));
    assert!(matches!(
        within("end", consumer.next()).await,
        Some(Err(Error::ConsumerCancelled { ref consumer_tag })) if consumer_tag == "amq.ctag-1"
    ));
    assert!(consumer.next().await.is_none());
    assert_eq!(
        broker.recv_method().await,
        (
            1,
            BasicCancelOk {
                consumer_tag: "amq.ctag-1".into()
            }
            .into()
        )
    );
    assert!(ch.error().is_none(), "the channel stays open");
}

// ===== the connection =====

#[tokio::test(start_paused = true)]
async fn a_broker_connection_close_fails_pending_operations_with_its_reason() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let ch = open_channel(&conn, &mut broker).await;
    let (declared, ()) = within("declare", async {
        tokio::join!(
            ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new()),
            async {
                broker.recv_method().await;
                broker
                    .send_method(
                        0,
                        ConnectionClose {
                            reply_code: 320,
                            reply_text: "CONNECTION_FORCED - broker forced connection closure"
                                .into(),
                            class_id: 0,
                            method_id: 0,
                        },
                    )
                    .await;
                assert_eq!(
                    broker.recv_method().await,
                    (0, ConnectionCloseOk::default().into())
                );
                assert!(broker.until_eof().await.is_empty());
            }
        )
    })
    .await;
    let is_forced = |e: &Error| e.reply_code() == Some(ReplyCode::CONNECTION_FORCED);
    assert!(matches!(&declared, Err(e @ Error::ConnectionClosed(_)) if is_forced(e)));
    assert!(is_forced(&within("closed", conn.closed()).await));
    assert!(conn.open_channel().await.is_err_and(|e| is_forced(&e)));
}

#[tokio::test(start_paused = true)]
async fn our_close_waits_for_close_ok_and_later_calls_fail_with_client_closed() {
    let (conn, mut broker) = open(config(), tune(0, 0, 0)).await;
    let (closed, ()) = within("close", async {
        tokio::join!(conn.close(), async {
            match broker.recv_method().await {
                (0, Method::ConnectionClose(c)) => assert_eq!(c.reply_code, 200),
                other => panic!("{other:?}"),
            }
            broker.send_method(0, ConnectionCloseOk::default()).await;
            assert!(broker.until_eof().await.is_empty());
        })
    })
    .await;
    closed.expect("close");
    assert!(matches!(
        conn.open_channel().await,
        Err(Error::ClientClosed)
    ));
    assert!(matches!(conn.closed().await, Error::ClientClosed));
}

// ===== bounded waits and windows =====

#[tokio::test(start_paused = true)]
async fn close_gives_up_after_the_close_timeout_when_close_ok_never_comes() {
    let (conn, mut broker) = open(config().with_close_timeout(secs(5)), tune(0, 0, 0)).await;
    let started = Instant::now();
    let (closed, frames) = within("close", async {
        tokio::join!(conn.close(), async {
            match broker.recv_method().await {
                (0, Method::ConnectionClose(c)) => assert_eq!(c.reply_code, 200),
                other => panic!("{other:?}"),
            }
            // Never answer: the client must hang up on its own.
            broker.until_eof().await
        })
    })
    .await;
    assert!(
        matches!(closed, Err(Error::CloseTimeout(d)) if d == secs(5)),
        "{closed:?}"
    );
    assert_eq!(started.elapsed(), secs(5), "exactly the close timeout");
    assert!(
        frames.is_empty(),
        "nothing after connection.close: {frames:?}"
    );
    assert!(matches!(
        within("closed", conn.closed()).await,
        Error::CloseTimeout(_)
    ));
}

/// A channel in confirm mode on a connection configured with `config`.
async fn confirmed_connection(
    config: ConnectionConfig,
) -> (Connection, amqp_client::Channel, FakeBroker) {
    let (conn, mut broker) = open(config, tune(0, 0, 0)).await;
    let ch = confirm_channel(&conn, &mut broker).await;
    (conn, ch, broker)
}

async fn publish(
    ch: &amqp_client::Channel,
    body: &str,
) -> Result<amqp_client::PublishConfirm, Error> {
    ch.basic_publish(
        "",
        "q",
        Default::default(),
        Default::default(),
        body.to_owned(),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn max_in_flight_makes_a_publish_wait_for_a_confirm_and_drops_do_not_free_slots() {
    let (_conn, ch, mut broker) = confirmed_connection(config().with_max_in_flight(2)).await;
    assert_eq!(ch.max_in_flight(), Some(2));
    // Dropped unawaited: the slots stay taken until the broker confirms.
    drop(publish(&ch, "m1").await.expect("publish 1"));
    drop(publish(&ch, "m2").await.expect("publish 2"));
    assert_eq!(ch.unconfirmed(), 2);
    let mut third = Box::pin(publish(&ch, "m3"));
    assert!(
        still_pending(secs(1), &mut third).await,
        "the window is full"
    );
    for _ in 0..6 {
        broker.recv_frame().await;
    }
    broker
        .send_method(
            1,
            BasicAck {
                delivery_tag: 1,
                multiple: false,
            },
        )
        .await;
    let confirm = within("publish 3", third).await.expect("publish 3");
    assert_eq!(ch.unconfirmed(), 2, "1 settled, 3 taken");
    // The broker confirms only what it has read.
    for _ in 0..3 {
        broker.recv_frame().await;
    }
    // A nack frees its slot as an ack does.
    broker
        .send_method(
            1,
            BasicNack {
                delivery_tag: 3,
                multiple: true,
                requeue: false,
            },
        )
        .await;
    assert!(matches!(
        within("confirm 3", confirm.wait()).await,
        Err(Error::Nacked)
    ));
    assert_eq!(ch.unconfirmed(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_publish_waiting_for_a_window_slot_fails_when_the_channel_closes() {
    let (_conn, ch, mut broker) = confirmed_connection(config().with_max_in_flight(1)).await;
    let first = publish(&ch, "m1").await.expect("publish 1");
    let mut second = Box::pin(publish(&ch, "m2"));
    assert!(still_pending(secs(1), &mut second).await);
    for _ in 0..3 {
        broker.recv_frame().await;
    }
    broker
        .send_method(
            1,
            ChannelClose {
                reply_code: 404,
                reply_text: "NOT_FOUND - no exchange".into(),
                class_id: 60,
                method_id: 40,
            },
        )
        .await;
    let is_404 =
        |r: &Result<_, Error>| matches!(r, Err(e) if e.reply_code() == Some(ReplyCode::NOT_FOUND));
    assert!(is_404(&within("waiting publish", second).await.map(drop)));
    assert!(is_404(&within("confirm 1", first.wait()).await));
    assert_eq!(ch.unconfirmed(), 0, "the closed channel holds nothing");
}

#[tokio::test(start_paused = true)]
async fn a_publish_while_blocked_fails_after_the_blocked_publish_timeout() {
    let (conn, ch, mut broker) =
        confirmed_connection(config().with_blocked_publish_timeout(secs(3))).await;
    let confirm = publish(&ch, "before")
        .await
        .expect("publish before the block");
    for _ in 0..3 {
        broker.recv_frame().await;
    }
    let mut watch = conn.watch_blocked();
    broker
        .send_method(
            0,
            ConnectionBlocked {
                reason: "low on memory".into(),
            },
        )
        .await;
    within("blocked", watch.changed()).await.expect("watch");
    // Both waits can run on a multi-threaded runtime's tasks.
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&publish(&ch, "unpolled"));
    let started = Instant::now();
    match within("publish while blocked", publish(&ch, "during")).await {
        Err(Error::Blocked { reason, waited }) => {
            assert_eq!((reason.as_str(), waited), ("low on memory", secs(3)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), secs(3));
    // The confirm of a message sent before the block is bounded too.
    let wait = confirm.wait();
    assert_send(&wait);
    assert!(matches!(
        within("confirm while blocked", wait).await,
        Err(Error::Blocked { .. })
    ));
    broker.send_method(0, ConnectionUnblocked::default()).await;
    within("unblocked", watch.changed()).await.expect("watch");
    let after = publish(&ch, "after")
        .await
        .expect("publish after the block");
    assert_eq!(broker.recv_method().await.0, 1, "basic.publish went out");
    broker.recv_frame().await;
    broker.recv_frame().await;
    broker
        .send_method(
            1,
            BasicAck {
                delivery_tag: 3,
                multiple: true,
            },
        )
        .await;
    within("confirm after", after.wait()).await.expect("acked");
    assert!(conn.is_open());
}

#[tokio::test(start_paused = true)]
async fn a_delivery_held_too_long_raises_one_ack_timeout_warning() {
    let config = config()
        .with_consumer_timeout(secs(10))
        .with_ack_warning_fraction(0.5);
    let (conn, mut broker) = open(config, tune(0, 0, 0)).await;
    let mut warnings = conn.ack_timeout_warnings();
    let ch = open_channel(&conn, &mut broker).await;
    let mut consumer = consume(&ch, &mut broker, "worker", "worker").await;
    broker
        .send_content(1, deliver("worker", 1), b"task", 100)
        .await;
    let delivery = within("delivery", consumer.next())
        .await
        .expect("a delivery")
        .expect("ok");
    let arrived = Instant::now();
    let warning = within("warning", warnings.recv()).await.expect("a warning");
    assert_eq!(arrived.elapsed(), secs(5));
    assert_eq!(
        (
            warning.channel,
            warning.delivery_tag,
            warning.consumer_tag.as_str(),
            warning.held_for
        ),
        (1, 1, "worker", secs(5))
    );
    assert_eq!(warning.connection_id, conn.id());
    delivery.ack().await.expect("ack");
    assert!(matches!(
        broker.recv_method().await,
        (1, Method::BasicAck(_))
    ));
    let mut next = Box::pin(warnings.recv());
    assert!(
        still_pending(secs(60), &mut next).await,
        "one warning per delivery"
    );
}
