//! The scenarios with amqp-client, used as its docs show.

use std::time::{Duration, Instant};

use amqp_client::{BasicConsumeOptions, BasicProperties, Channel, FieldTable, QueueDeclareOptions};
use bytes::Bytes;

use crate::measure::{Latencies, Section};
use crate::scenario::{Job, Outcome, Scenario};
use crate::Res;

fn props(persistent: bool) -> BasicProperties {
    if persistent {
        BasicProperties::default().persistent()
    } else {
        BasicProperties {
            delivery_mode: Some(amqp_client::wire::DELIVERY_MODE_TRANSIENT),
            ..Default::default()
        }
    }
}

async fn message_count(ch: &Channel, queue: &str) -> Res<u64> {
    let opts = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let ok = ch
        .queue_declare(queue, opts, FieldTable::new())
        .await?
        .ok_or("no declare-ok without nowait")?;
    Ok(ok.message_count.into())
}

async fn wait_for_count(ch: &Channel, queue: &str, count: u64) -> Res<()> {
    while message_count(ch, queue).await? < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

pub(crate) async fn run(job: &Job) -> Res<Outcome> {
    let conn = amqp_client::connect(&job.uri.uri).await?;
    let ch = conn.open_channel().await?;
    let q = job.queue.as_str();
    let n = job.count;
    // The body as the API takes it: `impl Into<Bytes>`; a `Bytes` clone is a
    // reference count, not a copy.
    let body: Bytes = job.body.clone();
    let persistent = job.scenario.persistent();
    let outcome = match job.scenario {
        Scenario::Publish | Scenario::LargePublish => {
            let s = Section::start();
            for _ in 0..n {
                // Without confirm mode the PublishConfirm is ready at once.
                drop(
                    ch.basic_publish("", q, Default::default(), props(false), body.clone())
                        .await?,
                );
            }
            wait_for_count(&ch, q, n).await?;
            stop(&s, None)
        }
        Scenario::Confirm => {
            ch.confirm_select(Default::default()).await?;
            let s = Section::start();
            let mut confirms = Vec::with_capacity(n as usize);
            for _ in 0..n {
                confirms.push(
                    ch.basic_publish("", q, Default::default(), props(true), body.clone())
                        .await?,
                );
            }
            for c in confirms {
                c.wait().await?;
            }
            stop(&s, None)
        }
        Scenario::ConfirmLatency => {
            ch.confirm_select(Default::default()).await?;
            let mut lat = Latencies::with_capacity(n as usize);
            let s = Section::start();
            for _ in 0..n {
                let t0 = Instant::now();
                ch.basic_publish("", q, Default::default(), props(persistent), body.clone())
                    .await?
                    .wait()
                    .await?;
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
        Scenario::ConsumeAck1
        | Scenario::ConsumeAck100
        | Scenario::ConsumeNoAck
        | Scenario::LargeConsume
        | Scenario::LargeConsume10 => {
            // Cannot fire: this arm matches only the consume scenarios.
            let (prefetch, ack) = job.scenario.consume_mode().expect("a consume scenario");
            if let Some(p) = prefetch {
                ch.basic_qos(p, Default::default()).await?;
            }
            let opts = BasicConsumeOptions {
                no_ack: !ack,
                ..Default::default()
            };
            let s = Section::start();
            let mut consumer = ch.basic_consume(q, "", opts, FieldTable::new()).await?;
            let mut got = 0u64;
            while got < n {
                let d = consumer.next().await.ok_or("consumer ended")??;
                if ack {
                    d.ack().await?;
                }
                got += 1;
            }
            stop(&s, None)
        }
        Scenario::RoundTrip => {
            let opts = BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            };
            let mut consumer = ch.basic_consume(q, "", opts, FieldTable::new()).await?;
            let mut lat = Latencies::with_capacity(n as usize);
            let s = Section::start();
            for _ in 0..n {
                let t0 = Instant::now();
                drop(
                    ch.basic_publish("", q, Default::default(), props(false), body.clone())
                        .await?,
                );
                consumer.next().await.ok_or("consumer ended")??;
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
    };
    conn.close().await?;
    Ok(outcome)
}

fn stop(s: &Section, latencies: Option<Latencies>) -> Outcome {
    let (wall, cpu) = s.stop();
    Outcome {
        wall,
        cpu,
        latencies,
    }
}
