//! What the FaultProxy costs, with no fault set: the publish→deliver round trip (p50 and p99 of
//! 2,000, one connection) and unconfirmed publish throughput (20,000 × 64 B, until the broker
//! has them all), direct to the shared broker and through the proxy. It prints the numbers and
//! asserts nothing about them (timing ratios flake on shared machines); measure with
//!
//! ```text
//! cargo test --release -p amqp-testkit --test proxy_cost -- --nocapture
//! ```

mod common;

use std::time::{Duration, Instant};

use amqp_client::ConnectionConfig;
use amqp_testkit::proxy::FaultProxy;
use common::*;

const ROUND_TRIPS: usize = 2_000;
const WARM_UP: usize = 200;
const MESSAGES: u32 = 20_000;
const BODY: [u8; 64] = [b'x'; 64];

struct Cost {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

async fn measure(config: ConnectionConfig) -> Cost {
    let conn = connect_with(config).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "proxy-cost-rtt").await;
    let bulk = fresh_queue(&ch, "proxy-cost-bulk").await;
    let _cleanup = Cleanup::queues(&[&q, &bulk]);

    let mut consumer = consume_no_ack(&ch, &q).await;
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..WARM_UP + ROUND_TRIPS {
        let started = Instant::now();
        let _unconfirmed = ch
            .basic_publish("", &q, Default::default(), Default::default(), &BODY[..])
            .await
            .expect("basic.publish");
        next_delivery(&mut consumer, "the round trip's delivery").await;
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
    }
    samples.sort_unstable();

    let started = Instant::now();
    for _ in 0..MESSAGES {
        let _unconfirmed = ch
            .basic_publish("", &bulk, Default::default(), Default::default(), &BODY[..])
            .await
            .expect("basic.publish");
    }
    eventually(
        Duration::from_secs(60),
        "every message in the queue",
        || async { counts(&ch, &bulk).await.0 == MESSAGES },
    )
    .await;
    let per_second = rate(f64::from(MESSAGES), started.elapsed());

    delete(&ch, &q).await;
    delete(&ch, &bulk).await;
    step("connection.close", conn.close())
        .await
        .expect("connection.close");
    Cost {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        per_second,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_proxy_costs() {
    amqp_testkit::require_broker();
    let direct = measure(config()).await;
    let proxy = FaultProxy::start_for_url(&amqp_testkit::amqp_url())
        .await
        .expect("start a FaultProxy");
    let proxied =
        ConnectionConfig::from_uri(&proxy.url_for(&amqp_testkit::amqp_url())).expect("proxy URL");
    let through = measure(proxied).await;
    for (name, cost) in [("direct", &direct), ("through the proxy", &through)] {
        eprintln!(
            "{name:>18}: publish→deliver p50 {:>7.1} µs, p99 {:>7.1} µs; {:>7.0} msg/s unconfirmed (64 B)",
            cost.p50.as_secs_f64() * 1e6,
            cost.p99.as_secs_f64() * 1e6,
            cost.per_second
        );
    }
    // Every frame went through the log.
    assert!(proxy.events().len() >= 1_000);
}
