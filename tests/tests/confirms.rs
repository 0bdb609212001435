//! Publisher confirms: many in flight at once, nacks, and their absence without confirm mode.

mod common;

use std::time::{Duration, Instant};

use amqp_client::{BasicProperties, Error, FieldTable, QueueDeclareOptions};
use common::*;

#[tokio::test]
async fn confirms_arrive_for_10_000_pipelined_publishes() {
    const N: usize = 10_000;
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("confirms");
    let _cleanup = Cleanup::queues(&[&q]);
    declare(&ch, &q, QueueDeclareOptions::durable(), FieldTable::new()).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();

    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let confirms = within(limit, "10,000 publishes", async {
        let mut confirms = Vec::with_capacity(N);
        for i in 0..N {
            let props = BasicProperties::default().persistent();
            let body = format!("confirmed message {i}");
            confirms.push(
                ch.basic_publish("", &q, Default::default(), props, body)
                    .await
                    .expect("basic.publish"),
            );
        }
        confirms
    })
    .await;
    let published = started.elapsed();
    within(limit, "10,000 confirms", async {
        for (i, c) in confirms.into_iter().enumerate() {
            c.wait()
                .await
                .unwrap_or_else(|e| panic!("publish {i} not confirmed: {e}"));
        }
    })
    .await;
    let confirmed = started.elapsed();
    println!(
        "{N} persistent publishes: all sent in {published:.2?}, all confirmed in {confirmed:.2?}: \
         {:.0} msgs/s",
        rate(N as f64, confirmed)
    );
    // Every one of them is in the queue.
    assert_eq!(counts(&ch, &q).await, (N as u32, 0));
    assert_eq!(delete(&ch, &q).await, N as u32);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn a_refused_publish_is_nacked() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = amqp_testkit::unique_name("nack");
    let _cleanup = Cleanup::queues(&[&q]);
    // A full queue that refuses new messages (instead of dropping old ones) nacks them.
    let args = FieldTable::new()
        .with("x-max-length", 2i32)
        .with("x-overflow", "reject-publish");
    declare(&ch, &q, Default::default(), args).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let mut confirms = Vec::new();
    for i in 0..5 {
        confirms.push(
            step(
                "publish",
                ch.basic_publish(
                    "",
                    &q,
                    Default::default(),
                    Default::default(),
                    format!("{i}"),
                ),
            )
            .await
            .unwrap(),
        );
    }
    let mut outcomes = Vec::new();
    for c in confirms {
        outcomes.push(match step("a confirm", c.wait()).await {
            Ok(()) => "ack",
            Err(Error::Nacked) => "nack",
            Err(e) => panic!("{e}"),
        });
    }
    assert_eq!(outcomes, ["ack", "ack", "nack", "nack", "nack"]);
    assert_eq!(counts(&ch, &q).await, (2, 0));
    // The channel goes on after nacks: make room and publish again.
    assert_eq!(
        step("purge", ch.queue_purge(&q, Default::default()))
            .await
            .unwrap(),
        Some(2)
    );
    step(
        "publish",
        ch.basic_publish("", &q, Default::default(), Default::default(), "again"),
    )
    .await
    .unwrap()
    .wait()
    .await
    .expect("acked once there is room");
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn confirms_on_two_channels_are_independent() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let a = channel(&conn).await;
    let b = channel(&conn).await;
    let q = fresh_queue(&a, "two-channels").await;
    let _cleanup = Cleanup::queues(&[&q]);
    step("confirm.select", a.confirm_select(Default::default()))
        .await
        .unwrap();
    step("confirm.select", b.confirm_select(Default::default()))
        .await
        .unwrap();
    // Each channel numbers its publishes from 1: interleave them.
    let mut confirms = Vec::new();
    for i in 0..200 {
        let ch = if i % 3 == 0 { &b } else { &a };
        confirms.push(
            ch.basic_publish("", &q, Default::default(), Default::default(), "x")
                .await
                .unwrap(),
        );
    }
    step("200 confirms", async {
        for c in confirms {
            c.wait().await.unwrap();
        }
    })
    .await;
    assert_eq!(counts(&a, &q).await, (200, 0));
    delete(&a, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn without_confirm_mode_wait_returns_at_once() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "no-confirms").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let c = ch
        .basic_publish("", &q, Default::default(), Default::default(), "x")
        .await
        .unwrap();
    step("wait without confirm mode", c.wait()).await.unwrap();
    // Nothing says when the message reached the queue; a consumer gets it all the same.
    let mut consumer = consume(&ch, &q, FieldTable::new()).await;
    let d = next_delivery(&mut consumer, "the delivery").await;
    assert_eq!(&d.body[..], b"x");
    step("basic.ack", d.ack()).await.unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
