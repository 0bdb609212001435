//! The worker of the tutorial, shared by the `worker` binary and the demo's workers: declare the
//! durable queue, set the prefetch, consume with manual acks, work one dot unit per `.`, ack.
//!
//! Stopping is graceful: when `stop` turns true the worker sends basic.cancel (no new tasks),
//! finishes and acks the task in hand, hands back anything that was already on its way
//! (basic.reject with requeue) and returns; the caller then closes the connection. When the
//! connection dies mid-task, the worker drops the task at once: its ack could not reach the
//! broker anyway, and the broker redelivers it to another worker.

use std::time::{Duration, Instant};

use amqp_client::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, Channel, Connection, Error,
    FieldTable, QueueDeclareOptions,
};
use tokio::sync::{broadcast, watch};

use crate::task::work_time;

/// What a worker needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Its name, also its consumer tag.
    pub name: String,
    /// The durable queue it consumes from.
    pub queue: String,
    /// basic.qos prefetch_count: how many unacked tasks it may hold (0 = no limit).
    pub prefetch: u16,
    /// How long one `.` of a task takes.
    pub dot: Duration,
}

/// What a worker reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// The consumer is registered (basic.consume-ok): tasks may come.
    Ready,
    /// A task arrived and work on it starts.
    Received {
        /// The task's text.
        body: String,
        /// Whether the broker delivered it before, to a worker that did not ack it.
        redelivered: bool,
        /// How long the work will take.
        work: Duration,
    },
    /// The work is done; the ack is sent next.
    Done {
        /// The task's text.
        body: String,
        /// How long the work took.
        took: Duration,
    },
    /// The ack was sent.
    Acked {
        /// The task's text.
        body: String,
        /// How long the work took.
        took: Duration,
    },
    /// Stopping: basic.cancel was sent, no new tasks will come.
    Cancelled {
        /// Whether a task is still being worked on (it is finished and acked first).
        busy: bool,
    },
    /// A task that arrived after basic.cancel was handed back (basic.reject, requeue).
    HandedBack {
        /// The task's text.
        body: String,
    },
    /// The connection died mid-task; the task was dropped unacked.
    Abandoned {
        /// The task's text.
        body: String,
        /// How long it had been worked on.
        after: Duration,
        /// Why the connection ended.
        reason: String,
    },
}

/// How a worker ended.
#[derive(Debug, Clone)]
pub enum WorkerEnd {
    /// Stopped on request, everything it took is acked (the connection is still open).
    Stopped,
    /// Its connection (or channel) ended under it.
    ConnectionLost(Error),
}

/// Runs a worker on `connection` until `stop` turns true (or its sender is dropped), or the
/// connection ends. Every step is reported to `on_event`.
///
/// Errors are those of the set-up (queue.declare, basic.qos, basic.consume) and of a broker that
/// closes the channel; a connection that ends is [`WorkerEnd::ConnectionLost`].
pub async fn run_worker(
    connection: &Connection,
    config: &WorkerConfig,
    mut stop: watch::Receiver<bool>,
    mut on_event: impl FnMut(WorkerEvent),
) -> Result<WorkerEnd, Error> {
    let channel = connection.open_channel().await?;
    channel
        .queue_declare(
            &config.queue,
            QueueDeclareOptions::durable(),
            FieldTable::new(),
        )
        .await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            &config.queue,
            &config.name,
            BasicConsumeOptions::default(),
            FieldTable::new(),
        )
        .await?;
    on_event(WorkerEvent::Ready);
    let _ack_warnings = log_ack_timeout_warnings(connection, &channel, &config.name);
    let tag = consumer.tag().to_owned();
    let mut stopping = false;
    loop {
        let next = tokio::select! {
            next = consumer.next() => next,
            () = stop_requested(&mut stop), if !stopping => {
                stopping = true;
                if let Some(end) = cancel(&channel, &tag).await? {
                    return Ok(end);
                }
                on_event(WorkerEvent::Cancelled { busy: false });
                continue;
            }
        };
        let delivery = match next {
            // Cancelled by us, and everything already on its way has come out: close the
            // channel politely (channel.close, close-ok) before the caller closes the connection.
            None => {
                drop(consumer);
                return match channel.close().await {
                    Ok(()) => Ok(WorkerEnd::Stopped),
                    Err(e) => lost(e),
                };
            }
            Some(Err(e)) => return lost(e),
            Some(Ok(delivery)) => delivery,
        };
        let body = String::from_utf8_lossy(&delivery.body).into_owned();
        if stopping {
            // It was on its way when we cancelled: not ours to do any more.
            if let Err(e) = delivery.reject(true).await {
                return lost(e);
            }
            on_event(WorkerEvent::HandedBack { body });
            continue;
        }
        let work = work_time(&body, config.dot);
        on_event(WorkerEvent::Received {
            body: body.clone(),
            redelivered: delivery.redelivered,
            work,
        });
        let started = Instant::now();
        let working = tokio::time::sleep(work);
        tokio::pin!(working);
        loop {
            tokio::select! {
                () = &mut working => break,
                e = connection.closed() => {
                    on_event(WorkerEvent::Abandoned {
                        body,
                        after: started.elapsed(),
                        reason: e.to_string(),
                    });
                    return Ok(WorkerEnd::ConnectionLost(e));
                }
                () = stop_requested(&mut stop), if !stopping => {
                    stopping = true;
                    if let Some(end) = cancel(&channel, &tag).await? {
                        on_event(WorkerEvent::Abandoned {
                            body,
                            after: started.elapsed(),
                            reason: connection.error().map(|e| e.to_string()).unwrap_or_default(),
                        });
                        return Ok(end);
                    }
                    on_event(WorkerEvent::Cancelled { busy: true });
                }
            }
        }
        let took = started.elapsed();
        on_event(WorkerEvent::Done {
            body: body.clone(),
            took,
        });
        if let Err(e) = delivery.ack().await {
            return lost(e);
        }
        on_event(WorkerEvent::Acked { body, took });
    }
}

/// Prints a warning line (to stderr, beside the worker's output) whenever a task of this
/// worker's channel has been held unacked for most of the broker's `consumer_timeout`: a task
/// that takes that long is about to be taken away (channel.close 406) and redelivered. Stops
/// when the returned guard is dropped.
fn log_ack_timeout_warnings(connection: &Connection, channel: &Channel, name: &str) -> AbortOnDrop {
    let mut warnings = connection.ack_timeout_warnings();
    let (channel, name) = (channel.id(), name.to_owned());
    AbortOnDrop(tokio::spawn(async move {
        loop {
            match warnings.recv().await {
                Ok(warning) if warning.channel == channel => {
                    eprintln!(" [!] {name}: {warning}");
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves once `stop` is true or its sender is gone.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// basic.cancel; `Some(end)` if the connection is gone.
async fn cancel(channel: &Channel, tag: &str) -> Result<Option<WorkerEnd>, Error> {
    match channel
        .basic_cancel(tag, BasicCancelOptions::default())
        .await
    {
        Ok(()) => Ok(None),
        Err(e) => lost(e).map(Some),
    }
}

/// A failure of the connection is [`WorkerEnd::ConnectionLost`]; one of the channel or the
/// consumer (the broker closed the channel, cancelled the consumer) is an error.
fn lost(e: Error) -> Result<WorkerEnd, Error> {
    match e {
        Error::Io(_)
        | Error::ConnectionClosed(_)
        | Error::ProtocolViolation { .. }
        | Error::HeartbeatTimeout(_)
        | Error::ClientClosed => Ok(WorkerEnd::ConnectionLost(e)),
        other => Err(other),
    }
}
