//! The scenarios with amqprs 2, used as its docs show: `Connection::open`
//! with `OpenConnectionArguments`, argument builders, `basic_publish` taking
//! the body as an owned `Vec<u8>`, publisher confirms through a
//! `ChannelCallback` (`publish_ack`; amqprs has no per-publish confirm
//! future), and `basic_consume_rx` for a pull consumer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicPublishArguments, BasicQosArguments, Channel,
    ConfirmSelectArguments, ConsumerMessage, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use async_trait::async_trait;
use tokio::sync::{mpsc, Notify};

use crate::measure::{Latencies, Section};
use crate::raw::ConfirmTracker;
use crate::scenario::{Job, Outcome, Scenario};
use crate::Res;

/// Publisher confirms, as amqprs delivers them: to a channel callback.
#[derive(Default)]
struct Confirms {
    tracker: Mutex<ConfirmTracker>,
    changed: Notify,
}

impl Confirms {
    /// Waits until `check` holds of the tracker.
    async fn wait(&self, check: impl Fn(&ConfirmTracker) -> bool) -> Res<()> {
        loop {
            {
                let t = self.tracker.lock().expect("confirm tracker");
                if t.nacked {
                    return Err("nacked".into());
                }
                if check(&t) {
                    return Ok(());
                }
            }
            // A notify_one before we wait leaves a permit: nothing is missed.
            self.changed.notified().await;
        }
    }
}

struct ConfirmCallback(Arc<Confirms>);

type Result<T> = std::result::Result<T, amqprs::error::Error>;

#[async_trait]
impl ChannelCallback for ConfirmCallback {
    async fn close(&mut self, _: &Channel, close: CloseChannel) -> Result<()> {
        eprintln!("amqprs: channel closed by the broker: {close}");
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<()> {
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        self.0
            .tracker
            .lock()
            .expect("confirm tracker")
            .ack(ack.delivery_tag(), ack.mutiple());
        self.0.changed.notify_one();
    }
    async fn publish_nack(&mut self, _: &Channel, _: Nack) {
        self.0.tracker.lock().expect("confirm tracker").nacked = true;
        self.0.changed.notify_one();
    }
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

fn props(persistent: bool) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(if persistent {
            amqprs::DELIVERY_MODE_PERSISTENT
        } else {
            amqprs::DELIVERY_MODE_TRANSIENT
        })
        .finish()
}

async fn message_count(ch: &Channel, queue: &str) -> Res<u64> {
    let args = QueueDeclareArguments::new(queue).passive(true).finish();
    let (_, count, _) = ch
        .queue_declare(args)
        .await?
        .ok_or("no declare-ok without nowait")?;
    Ok(count.into())
}

async fn wait_for_count(ch: &Channel, queue: &str, count: u64) -> Res<()> {
    while message_count(ch, queue).await? < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ConsumerMessage>) -> Res<ConsumerMessage> {
    Ok(rx.recv().await.ok_or("consumer ended")?)
}

pub(crate) async fn run(job: &Job) -> Res<Outcome> {
    let u = &job.uri;
    let args = OpenConnectionArguments::new(&u.host, u.port, &u.user, &u.password)
        .virtual_host(&u.vhost)
        .finish();
    let conn = Connection::open(&args).await?;
    let ch = conn.open_channel(None).await?;
    let q = job.queue.as_str();
    let n = job.count;
    let publish_args = BasicPublishArguments::new("", q);
    let persistent = job.scenario.persistent();
    let outcome = match job.scenario {
        Scenario::Publish | Scenario::LargePublish => {
            let props = props(false);
            let s = Section::start();
            for _ in 0..n {
                // The API takes the body as an owned Vec<u8>: one copy per publish.
                ch.basic_publish(props.clone(), job.body.to_vec(), publish_args.clone())
                    .await?;
            }
            wait_for_count(&ch, q, n).await?;
            stop(&s, None)
        }
        Scenario::Confirm | Scenario::ConfirmLatency => {
            let confirms = Arc::new(Confirms::default());
            ch.register_callback(ConfirmCallback(confirms.clone()))
                .await?;
            ch.confirm_select(ConfirmSelectArguments::default()).await?;
            let props = props(persistent);
            if job.scenario == Scenario::Confirm {
                let s = Section::start();
                for _ in 0..n {
                    ch.basic_publish(props.clone(), job.body.to_vec(), publish_args.clone())
                        .await?;
                }
                confirms.wait(|t| t.all_up_to(n)).await?;
                stop(&s, None)
            } else {
                let mut lat = Latencies::with_capacity(n as usize);
                let s = Section::start();
                for tag in 1..=n {
                    let t0 = Instant::now();
                    ch.basic_publish(props.clone(), job.body.to_vec(), publish_args.clone())
                        .await?;
                    confirms.wait(|t| t.is_confirmed(tag)).await?;
                    lat.push(t0.elapsed());
                }
                stop(&s, Some(lat))
            }
        }
        Scenario::ConsumeAck1
        | Scenario::ConsumeAck100
        | Scenario::ConsumeNoAck
        | Scenario::LargeConsume
        | Scenario::LargeConsume10 => {
            let (prefetch, ack) = job.scenario.consume_mode().expect("a consume scenario");
            if let Some(p) = prefetch {
                ch.basic_qos(BasicQosArguments::new(0, p, false)).await?;
            }
            let args = BasicConsumeArguments::new(q, "").manual_ack(ack).finish();
            let s = Section::start();
            let (_tag, mut rx) = ch.basic_consume_rx(args).await?;
            let mut got = 0u64;
            while got < n {
                let m = next(&mut rx).await?;
                if ack {
                    let tag = m.deliver.as_ref().ok_or("no deliver")?.delivery_tag();
                    ch.basic_ack(BasicAckArguments::new(tag, false)).await?;
                }
                got += 1;
            }
            stop(&s, None)
        }
        Scenario::RoundTrip => {
            let args = BasicConsumeArguments::new(q, "").manual_ack(false).finish();
            let (_tag, mut rx) = ch.basic_consume_rx(args).await?;
            let props = props(false);
            let mut lat = Latencies::with_capacity(n as usize);
            let s = Section::start();
            for _ in 0..n {
                let t0 = Instant::now();
                ch.basic_publish(props.clone(), job.body.to_vec(), publish_args.clone())
                    .await?;
                next(&mut rx).await?;
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
    };
    ch.close().await?;
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
