//! The scenarios with lapin 4, used as its README and examples show:
//! `basic_publish(..).await?` (which resolves once the frames are written)
//! returning a `PublisherConfirm` to await, `wait_for_confirms` for a batch,
//! the `Consumer` as a `Stream`, and `delivery.ack(..)`.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};

use crate::measure::{Latencies, Section};
use crate::scenario::{Job, Outcome, Scenario};
use crate::Res;

fn props(persistent: bool) -> BasicProperties {
    BasicProperties::default().with_delivery_mode(if persistent { 2 } else { 1 })
}

async fn message_count(ch: &Channel, queue: &str) -> Res<u64> {
    let opts = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare(queue.into(), opts, FieldTable::default())
        .await?;
    Ok(q.message_count().into())
}

async fn wait_for_count(ch: &Channel, queue: &str, count: u64) -> Res<()> {
    while message_count(ch, queue).await? < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// `StreamExt::next` without a futures-util dependency.
async fn next(consumer: &mut Consumer) -> Res<lapin::message::Delivery> {
    let item = std::future::poll_fn(|cx| Pin::new(&mut *consumer).poll_next(cx)).await;
    Ok(item.ok_or("consumer ended")??)
}

pub(crate) async fn run(job: &Job) -> Res<Outcome> {
    let conn = Connection::connect(&job.uri.uri, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let q = job.queue.as_str();
    let n = job.count;
    let body = &job.body[..];
    let persistent = job.scenario.persistent();
    let outcome = match job.scenario {
        Scenario::Publish | Scenario::LargePublish => {
            let s = Section::start();
            for _ in 0..n {
                // Not in confirm mode: the PublisherConfirm is "not requested".
                drop(
                    ch.basic_publish(
                        "".into(),
                        q.into(),
                        BasicPublishOptions::default(),
                        body,
                        props(false),
                    )
                    .await?,
                );
            }
            wait_for_count(&ch, q, n).await?;
            stop(&s, None)
        }
        Scenario::Confirm => {
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            let s = Section::start();
            for _ in 0..n {
                // Dropped: `wait_for_confirms` below waits for all of them
                // (lapin's publisher_confirms example does the same).
                drop(
                    ch.basic_publish(
                        "".into(),
                        q.into(),
                        BasicPublishOptions::default(),
                        body,
                        props(true),
                    )
                    .await?,
                );
            }
            let returned = ch.wait_for_confirms().await?;
            if !returned.is_empty() {
                return Err(format!("{} messages returned", returned.len()).into());
            }
            stop(&s, None)
        }
        Scenario::ConfirmLatency => {
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            let mut lat = Latencies::with_capacity(n as usize);
            let s = Section::start();
            for _ in 0..n {
                let t0 = Instant::now();
                let confirmation = ch
                    .basic_publish(
                        "".into(),
                        q.into(),
                        BasicPublishOptions::default(),
                        body,
                        props(persistent),
                    )
                    .await?
                    .await?;
                if !confirmation.is_ack() {
                    return Err("nacked".into());
                }
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
        Scenario::ConsumeAck1
        | Scenario::ConsumeAck100
        | Scenario::ConsumeNoAck
        | Scenario::LargeConsume
        | Scenario::LargeConsume10 => {
            let (prefetch, ack) = job.scenario.consume_mode().expect("a consume scenario");
            if let Some(p) = prefetch {
                ch.basic_qos(p, BasicQosOptions::default()).await?;
            }
            let opts = BasicConsumeOptions {
                no_ack: !ack,
                ..Default::default()
            };
            let s = Section::start();
            let mut consumer = ch
                .basic_consume(q.into(), "".into(), opts, FieldTable::default())
                .await?;
            let mut got = 0u64;
            while got < n {
                let d = next(&mut consumer).await?;
                if ack {
                    d.ack(BasicAckOptions::default()).await?;
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
            let mut consumer = ch
                .basic_consume(q.into(), "".into(), opts, FieldTable::default())
                .await?;
            let mut lat = Latencies::with_capacity(n as usize);
            let s = Section::start();
            for _ in 0..n {
                let t0 = Instant::now();
                drop(
                    ch.basic_publish(
                        "".into(),
                        q.into(),
                        BasicPublishOptions::default(),
                        body,
                        props(false),
                    )
                    .await?,
                );
                next(&mut consumer).await?;
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
    };
    conn.close(200, "OK".into()).await?;
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
