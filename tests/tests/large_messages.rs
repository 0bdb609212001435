//! A 64 MiB message round-trips byte-exact, in 4 KiB frames and in the broker's default frames.

mod common;

use std::time::{Duration, Instant};

use amqp_client::{BasicGetOptions, BasicProperties, Connection, FieldTable};
use bytes::Bytes;
use common::*;

const SIZE: usize = 64 * 1024 * 1024;

/// Sends a 64 MiB pseudo-random body through a fresh queue and checks it comes back exactly.
async fn round_trip(conn: Connection, seed: u64) {
    let frame_max = conn.tuning().frame_max;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "large").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let body = Bytes::from(pseudo_random_body(SIZE, seed));
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let props = BasicProperties {
        content_type: Some("application/octet-stream".into()),
        message_id: Some(format!("seed-{seed}").into()),
        ..Default::default()
    };
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let confirm = within(
        limit,
        "publishing 64 MiB",
        ch.basic_publish("", &q, Default::default(), props.clone(), body.clone()),
    )
    .await
    .unwrap();
    let d = within(limit, "the 64 MiB delivery", consumer.next())
        .await
        .expect("a delivery")
        .unwrap();
    let elapsed = started.elapsed();
    within(limit, "the confirm", confirm.wait()).await.unwrap();
    assert_eq!(d.body.len(), SIZE);
    if let Some(i) = first_difference(&d.body, &body) {
        panic!(
            "the body differs from offset {i} on (frame_max {frame_max}): got {:02x?}, sent {:02x?}",
            &d.body[i..SIZE.min(i + 16)],
            &body[i..SIZE.min(i + 16)]
        );
    }
    assert_eq!(d.properties, props);
    step("basic.ack", d.ack()).await.unwrap();
    println!(
        "64 MiB round trip with frame_max {frame_max}: {:.2?}, {:.1} MB/s",
        elapsed,
        rate(SIZE as f64 / 1e6, elapsed)
    );
    drop(body);
    assert_eq!(delete(&ch, &q).await, 0);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn a_64_mib_message_round_trips_with_frame_max_4096() {
    amqp_testkit::require_broker();
    let conn = connect_with(config().with_frame_max(4096)).await;
    assert_eq!(conn.tuning().frame_max, 4096);
    round_trip(conn, 0x5eed_4096).await;
}

#[tokio::test]
async fn a_64_mib_message_round_trips_with_the_brokers_frame_max() {
    amqp_testkit::require_broker();
    // frame_max 0 asks for the broker's limit (RabbitMQ: 128 KiB).
    let conn = connect_with(config().with_frame_max(0)).await;
    assert_eq!(conn.tuning().frame_max, 131_072);
    round_trip(conn, 0xdefa_0017).await;
}

#[tokio::test]
async fn a_frame_max_from_the_uri_is_used() {
    amqp_testkit::require_broker();
    let (host, port) = amqp_testkit::parse_host_port(&amqp_testkit::amqp_url());
    let conn = step(
        "connect",
        amqp_client::connect(&format!(
            "amqp://guest:guest@{host}:{port}/%2f?frame_max=4096"
        )),
    )
    .await
    .unwrap();
    assert_eq!(conn.tuning().frame_max, 4096);
    // A body of a few frames, with lengths around the frame boundary (4096 - 8 per frame).
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "frames").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let sizes = [
        0,
        1,
        4087,
        4088,
        4089,
        8176,
        8177,
        16 * 1024 - 1,
        16 * 1024,
        100_000,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        let body = pseudo_random_body(size, i as u64);
        step(
            "publish",
            ch.basic_publish("", &q, Default::default(), Default::default(), body),
        )
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    }
    for (i, &size) in sizes.iter().enumerate() {
        let got = step(
            "basic.get",
            ch.basic_get(&q, BasicGetOptions { no_ack: true }),
        )
        .await
        .unwrap()
        .expect("a message");
        let body = pseudo_random_body(size, i as u64);
        assert_eq!(
            first_difference(&got.delivery.body, &body),
            None,
            "size {size}"
        );
    }
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
