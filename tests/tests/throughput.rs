//! Publish and consume rates for many small messages. Measured and printed (run with
//! `--nocapture`), never asserted: CI machines are small and shared. What is asserted is that
//! every message arrives, once, in order.

mod common;

use std::time::{Duration, Instant};

use amqp_client::{BasicAckOptions, FieldTable};
use common::*;

const N: usize = 50_000;
const BODY: usize = 64;

#[tokio::test]
async fn publish_and_consume_rates_for_50_000_small_messages() {
    amqp_testkit::require_broker();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "throughput").await;
    let _cleanup = Cleanup::queues(&[&q]);
    let limit = Duration::from_secs(60);

    // Publish without confirms (the raw rate), then one confirmed publish behind them: the
    // broker confirms in order, so when it is confirmed all are in the queue.
    let started = Instant::now();
    within(limit, "50,000 publishes", async {
        for i in 0..N {
            let mut body = vec![b'.'; BODY];
            body[..8].copy_from_slice(&(i as u64).to_be_bytes());
            // Nothing to wait for without confirm mode.
            let _unconfirmed = ch
                .basic_publish("", &q, Default::default(), Default::default(), body)
                .await
                .expect("basic.publish");
        }
    })
    .await;
    let sent = started.elapsed();
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let marker = ch
        .basic_publish("", &q, Default::default(), Default::default(), "end")
        .await
        .unwrap();
    within(limit, "the marker's confirm", marker.wait())
        .await
        .unwrap();
    let stored = started.elapsed();
    println!(
        "publish: {N} x {BODY} B handed to the client in {sent:.2?} ({:.0} msgs/s), \
         in the queue after {stored:.2?} ({:.0} msgs/s)",
        rate(N as f64, sent),
        rate(N as f64, stored)
    );
    assert_eq!(counts(&ch, &q).await, (N as u32 + 1, 0));

    // Consume with manual acks and a prefetch window.
    let cch = channel(&conn).await;
    step("basic.qos", cch.basic_qos(1000, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&cch, &q, FieldTable::new()).await;
    let started = Instant::now();
    within(limit, "50,000 deliveries", async {
        for i in 0..N {
            let d = consumer.next().await.expect("a delivery").unwrap();
            assert_eq!(d.body[..8], (i as u64).to_be_bytes(), "message {i}");
            assert!(!d.redelivered);
            // Ack every 100th with multiple, as fast consumers do.
            if i % 100 == 99 {
                cch.basic_ack(d.delivery_tag, BasicAckOptions { multiple: true })
                    .await
                    .unwrap();
            }
        }
        let end = consumer.next().await.expect("the marker").unwrap();
        assert_eq!(&end.body[..], b"end");
        cch.basic_ack(end.delivery_tag, BasicAckOptions { multiple: true })
            .await
            .unwrap();
    })
    .await;
    let consumed = started.elapsed();
    println!(
        "consume: {N} deliveries (prefetch 1000, acked in batches of 100) in {consumed:.2?}: \
         {:.0} msgs/s",
        rate(N as f64, consumed)
    );
    step("basic.cancel", consumer.cancel()).await.unwrap();
    // The acks took: nothing is left or redelivered after the consumer's channel closes.
    step("channel.close", cch.close()).await.unwrap();
    assert_eq!(counts(&ch, &q).await, (0, 0));
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
