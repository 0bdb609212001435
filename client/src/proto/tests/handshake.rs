//! connection.start / tune / open: what the client answers, and what it refuses.

use amqp_wire::*;

use super::harness::*;
use crate::config::{ConnectionConfig, Heartbeat, SaslMechanism};
use crate::error::Error;
use crate::proto::{Event, Reply, Tuning};

#[test]
fn the_protocol_header_is_the_first_and_only_thing_queued() {
    let mut core = crate::proto::Core::<u32>::new(config(), std::time::Instant::now());
    let mut slices = [std::io::IoSlice::new(&[]); 4];
    let n = core.out().io_slices(&mut slices);
    let sent: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
    assert_eq!(sent, b"AMQP\x00\x00\x09\x01");
    assert!(core.poll_event().is_none());
    assert_eq!(core.poll_timeout(), None, "no timer before tuning");
}

#[test]
fn start_is_answered_with_plain_credentials_and_client_properties() {
    let mut h = Harness::new(
        config()
            .with_credentials("alice", "s3cret")
            .with_connection_name("orders-service"),
    );
    h.receive_method(0, start());
    let sent = h.sent_methods();
    let [(0, Method::ConnectionStartOk(ok))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert_eq!(ok.mechanism, "PLAIN");
    assert_eq!(ok.response.as_bytes(), b"\0alice\0s3cret");
    assert_eq!(ok.locale, "en_US");
    let props = &ok.client_properties;
    let text = |key: &str| {
        props
            .get(key)
            .and_then(FieldValue::as_str)
            .map(str::to_owned)
    };
    assert_eq!(text("product").as_deref(), Some("amqp-client (Rust)"));
    assert_eq!(text("version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(
        text("platform").is_some_and(|p| p.contains("Rust")),
        "{props:?}"
    );
    assert_eq!(text("connection_name").as_deref(), Some("orders-service"));
    let capabilities = props
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .expect("a capabilities table");
    for capability in [
        "publisher_confirms",
        "consumer_cancel_notify",
        "basic.nack",
        "connection.blocked",
        "authentication_failure_close",
    ] {
        assert_eq!(
            capabilities.get(capability),
            Some(&FieldValue::Boolean(true)),
            "{capability}"
        );
    }
    assert!(h.events().is_empty());
}

#[test]
fn start_is_answered_with_amqplain_when_configured() {
    let mut h = Harness::new(
        config()
            .with_credentials("u", "p")
            .with_mechanism(SaslMechanism::AmqPlain),
    );
    h.receive_method(0, start());
    let sent = h.sent_methods();
    let [(0, Method::ConnectionStartOk(ok))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert_eq!(ok.mechanism, "AMQPLAIN");
    assert_eq!(
        ok.response.as_bytes(),
        b"\x05LOGINS\x00\x00\x00\x01u\x08PASSWORDS\x00\x00\x00\x01p"
    );
}

#[test]
fn tune_is_answered_with_tune_ok_then_open_and_open_ok_opens() {
    let mut h = Harness::new(config().with_vhost("prod"));
    h.receive_method(0, start());
    h.sent_frames();
    h.receive_method(0, tune(2047, 131_072, 60));
    assert_eq!(
        h.sent_methods(),
        vec![
            (
                0,
                ConnectionTuneOk {
                    channel_max: 2047,
                    frame_max: 131_072,
                    heartbeat: 0,
                }
                .into()
            ),
            (
                0,
                ConnectionOpen {
                    virtual_host: "prod".into(),
                    capabilities: "".into(),
                    insist: false,
                }
                .into()
            ),
        ]
    );
    assert!(h.events().is_empty(), "not open before open-ok");
    h.receive_method(0, ConnectionOpenOk::default());
    match h.events().as_slice() {
        [Event::Opened {
            tuning,
            server_properties,
        }] => {
            assert_eq!(
                *tuning,
                Tuning {
                    channel_max: 2047,
                    frame_max: 131_072,
                    heartbeat: 0
                }
            );
            assert_eq!(
                server_properties
                    .get("product")
                    .and_then(FieldValue::as_str),
                Some("RabbitMQ")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(h.sent_bytes().is_empty());
}

/// Runs start and tune; returns the tune-ok sent and the frame_max in force.
fn tune_ok_for(config: ConnectionConfig, server: ConnectionTune) -> (ConnectionTuneOk, u32) {
    let mut h = Harness::new(config);
    h.receive_method(0, start());
    h.sent_frames();
    h.receive_method(0, server);
    let sent = h.sent_methods();
    match sent.as_slice() {
        [(0, Method::ConnectionTuneOk(ok)), (0, Method::ConnectionOpen(_))] => {
            (ok.clone(), h.core.frame_max())
        }
        other => panic!("{other:?}"),
    }
}

fn tune_ok(channel_max: u16, frame_max: u32, heartbeat: u16) -> ConnectionTuneOk {
    ConnectionTuneOk {
        channel_max,
        frame_max,
        heartbeat,
    }
}

#[test]
fn tune_takes_the_lower_of_two_limits_whichever_side_is_lower() {
    let ours = ConnectionConfig::default()
        .with_channel_max(2047)
        .with_frame_max(131_072)
        .with_heartbeat(Heartbeat::Secs(30));
    // The server lower on every value.
    assert_eq!(
        tune_ok_for(ours.clone(), tune(100, 8192, 10)),
        (tune_ok(100, 8192, 10), 8192)
    );
    // The server higher on every value.
    assert_eq!(
        tune_ok_for(ours, tune(u16::MAX, 1 << 20, 600)),
        (tune_ok(2047, 131_072, 30), 131_072)
    );
}

#[test]
fn tune_zero_from_the_server_means_no_limit_and_we_keep_ours() {
    let ours = ConnectionConfig::default()
        .with_channel_max(64)
        .with_frame_max(65_536)
        .with_heartbeat(Heartbeat::Secs(15));
    assert_eq!(
        tune_ok_for(ours, tune(0, 0, 0)),
        (tune_ok(64, 65_536, 15), 65_536)
    );
}

#[test]
fn tune_zero_on_our_side_takes_the_servers_values() {
    let ours = ConnectionConfig::default()
        .with_channel_max(0)
        .with_frame_max(0)
        .with_heartbeat(Heartbeat::BrokerDefault);
    assert_eq!(
        tune_ok_for(ours.clone(), tune(2047, 131_072, 60)),
        (tune_ok(2047, 131_072, 60), 131_072)
    );
    // Zero on both sides: no limits, no heartbeats; frames of any size accepted.
    assert_eq!(tune_ok_for(ours, tune(0, 0, 0)), (tune_ok(0, 0, 0), 0));
}

#[test]
fn tune_with_heartbeats_disabled_answers_zero_whatever_the_server_wants() {
    let ours = ConnectionConfig::default().with_heartbeat(Heartbeat::Disabled);
    assert_eq!(tune_ok_for(ours, tune(0, 0, 60)).0.heartbeat, 0);
}

#[test]
fn tune_with_frame_max_below_4096_is_refused_and_nothing_is_sent() {
    let mut h = Harness::new(config());
    h.receive_method(0, start());
    h.sent_frames();
    h.receive_method(0, tune(0, 2048, 0));
    assert!(h.sent_bytes().is_empty());
    let events = h.events();
    assert!(
        matches!(closed_error(&events), Error::Negotiation(m) if m.contains("2048")),
        "{events:?}"
    );
    assert!(h.core.is_closed());
}

#[test]
fn a_login_refused_with_403_is_answered_with_close_ok_and_reported() {
    let mut h = Harness::new(config());
    h.receive_method(0, start());
    h.sent_frames();
    h.receive_method(
        0,
        ConnectionClose {
            reply_code: 403,
            reply_text: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"
                .into(),
            class_id: 0,
            method_id: 0,
        },
    );
    assert_eq!(
        h.sent_methods(),
        vec![(0, ConnectionCloseOk::default().into())]
    );
    let events = h.events();
    match closed_error(&events) {
        Error::ConnectionClosed(reason) => {
            assert_eq!(reason.reply_code, ReplyCode::ACCESS_REFUSED);
            assert!(reason.reply_text.starts_with("ACCESS_REFUSED"));
        }
        other => panic!("{other:?}"),
    }
    assert!(h.core.is_closed());
    // Frames after the end change nothing.
    h.receive_method(0, tune(0, 0, 0));
    assert!(h.sent_bytes().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn a_start_for_another_protocol_version_is_refused_without_a_reply() {
    for (major, minor) in [(0, 8), (0, 10), (1, 0), (8, 0)] {
        let mut h = Harness::new(config());
        h.receive_method(
            0,
            ConnectionStart {
                version_major: major,
                version_minor: minor,
                ..start()
            },
        );
        assert!(h.sent_bytes().is_empty(), "{major}-{minor}");
        let events = h.events();
        let error = closed_error(&events);
        assert!(
            matches!(error, Error::Negotiation(m) if m.contains(&format!("{major}-{minor}"))),
            "{error:?}"
        );
    }
}

#[test]
fn a_start_without_our_mechanism_is_refused_naming_what_was_offered() {
    let mut h = Harness::new(config());
    h.receive_method(
        0,
        ConnectionStart {
            mechanisms: "EXTERNAL RABBIT-CR-DEMO".into(),
            ..start()
        },
    );
    assert!(h.sent_bytes().is_empty());
    let events = h.events();
    let error = closed_error(&events);
    assert!(
        matches!(error, Error::Negotiation(m) if m.contains("EXTERNAL") && m.contains("PLAIN")),
        "{error:?}"
    );
}

#[test]
fn a_mechanism_is_matched_whole_not_as_a_substring() {
    let mut h = Harness::new(config());
    h.receive_method(
        0,
        ConnectionStart {
            mechanisms: "XPLAIN PLAINX".into(),
            ..start()
        },
    );
    let events = h.events();
    assert!(matches!(closed_error(&events), Error::Negotiation(_)));
}

#[test]
fn a_protocol_header_instead_of_start_is_a_refused_version_whatever_it_names() {
    for (header, version) in [
        (*b"AMQP\x00\x00\x09\x01", "0-9-1"),
        (*b"AMQP\x00\x01\x00\x00", "1-0-0"),
        (*b"AMQP\x03\x01\x00\x00", "1-0-0"),
        (*b"AMQP\x01\x01\x00\x09", "1-0-9"),
    ] {
        let mut h = Harness::new(config());
        // It may come in pieces.
        h.receive_bytes(&header[..5]);
        assert!(h.events().is_empty());
        h.receive_bytes(&header[5..]);
        assert!(h.sent_bytes().is_empty(), "no close for a refused version");
        let events = h.events();
        match closed_error(&events) {
            Error::VersionRefused { version: v } => assert_eq!(v, version),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn frames_before_tuning_are_limited_to_4096_octets() {
    // A connection.start over 4096 octets: refused with 501 from its 7-octet
    // header, before the payload is read.
    let mut big = start();
    let filler = "x".repeat(4200);
    big.server_properties.insert("padding", filler.as_str());
    let bytes = encode(&[Frame::method(0, big)]);
    assert!(bytes.len() > 4096);
    let mut h = Harness::new(config());
    h.receive_bytes(&bytes[..7]);
    assert_eq!(h.sent_connection_close(), 501);
    let events = h.events();
    let error = closed_error(&events);
    assert!(
        matches!(error, Error::ProtocolViolation { reply_code, .. } if reply_code.0 == 501),
        "{error:?}"
    );

    // Exactly 4096 octets is still fine.
    let mut h = Harness::new(config());
    let mut fits = start();
    fits.server_properties.insert("padding", "");
    let base = encode(&[Frame::method(0, fits.clone())]).len();
    fits.server_properties
        .insert("padding", "y".repeat(4096 - base).as_str());
    let bytes = encode(&[Frame::method(0, fits)]);
    assert_eq!(bytes.len(), 4096);
    h.receive_bytes(&bytes);
    assert!(matches!(
        h.sent_methods().as_slice(),
        [(0, Method::ConnectionStartOk(_))]
    ));
}

#[test]
fn frames_after_tuning_may_be_as_large_as_frame_max() {
    let mut h = Harness::opened_with(config(), tune(0, 8192, 0));
    assert_eq!(h.core.frame_max(), 8192);
    let ch = h.open_channel();
    let w = h.call(ch, declare("q"));
    h.sent_frames();
    let name = "q".repeat(255);
    let bytes = encode(&[Frame::method(ch.id, declare_ok(&name))]);
    assert!(bytes.len() < 8192);
    h.receive_bytes(&bytes);
    assert!(matches!(
        h.reply(w),
        Ok(Reply::Method(Method::QueueDeclareOk(_)))
    ));
    // A body frame of 8193 octets is not.
    let ch2 = h.open_channel();
    h.receive_method(ch2.id, deliver("c", 1));
    h.receive(header(ch2.id, 9000));
    h.receive_bytes(&encode(&[body_frame(ch2.id, &[0; 8186])]));
    assert_eq!(h.sent_connection_close(), 501);
}

#[test]
fn a_method_out_of_order_during_the_handshake_closes_with_505() {
    let mut h = Harness::new(config());
    h.receive_method(0, tune(0, 0, 0));
    assert_eq!(h.sent_connection_close(), 505);
    let events = h.events();
    assert_eq!(code(closed_error(&events)), Some(505));
}

#[test]
fn a_sasl_challenge_is_refused() {
    let mut h = Harness::new(config());
    h.receive_method(0, start());
    h.sent_frames();
    h.receive_method(
        0,
        ConnectionSecure {
            challenge: "more?".into(),
        },
    );
    let events = h.events();
    assert!(matches!(closed_error(&events), Error::Negotiation(_)));
}

#[test]
fn commands_before_the_connection_is_open_are_refused() {
    let mut h = Harness::new(config());
    let w = h.waiter();
    h.core.open_channel(h.now(), w);
    assert!(matches!(h.reply(w), Err(Error::InvalidUse(_))));
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn an_unknown_vhost_refused_with_530_at_open_is_reported() {
    let mut h = Harness::new(config().with_vhost("nope"));
    h.receive_method(0, start());
    h.receive_method(0, tune(0, 0, 0));
    h.sent_frames();
    h.receive_method(
        0,
        ConnectionClose {
            reply_code: 530,
            reply_text: "NOT_ALLOWED - vhost nope not found".into(),
            class_id: 10,
            method_id: 40,
        },
    );
    assert_eq!(
        h.sent_methods(),
        vec![(0, ConnectionCloseOk::default().into())]
    );
    let events = h.events();
    assert!(matches!(
        closed_error(&events),
        Error::ConnectionClosed(r) if r.reply_code == ReplyCode::NOT_ALLOWED && r.method_id == 40
    ));
}

#[test]
fn heartbeats_from_the_broker_during_the_handshake_are_ignored() {
    let mut h = Harness::new(config());
    h.receive(Frame::Heartbeat);
    h.receive_method(0, start());
    assert!(matches!(
        h.sent_methods().as_slice(),
        [(0, Method::ConnectionStartOk(_))]
    ));
    assert!(h.events().is_empty());
}
