//! The worker of the tutorial, shared by the `worker` binary and the demo's workers: declare the
//! durable queue, set the prefetch, consume with manual acks, work one dot unit per `.`, ack.
//!
//! Stopping is graceful: when `stop` turns true the worker sends basic.cancel (no new tasks),
//! finishes and acks the task in hand, hands back anything that was already on its way
//! (basic.reject with requeue) and returns; the caller then closes the connection.
//!
//! A lost connection is recovered by amqp-client behind the same consumer: the worker finishes
//! the task in hand meanwhile, and its ack then fails with `StaleDeliveryTag` (the delivery tag
//! belonged to the lost connection, so nothing is sent, and the broker redelivers the task).
//! That costs the task being done twice, not the worker: it reports it and takes the next task.
//! Only when the connection ends for good (recovery disabled, or given up) does the worker
//! drop the task in hand at once: its ack could not reach the broker anyway.

use std::time::{Duration, Instant};

use amqp_client::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, Channel, Connection, Delivery, Error,
    FieldTable,
};
use tokio::sync::{broadcast, watch};

use crate::queue::WorkQueue;
use crate::recovery::AbortOnDrop;
use crate::task::work_time;

/// What a worker needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Its name, also its consumer tag.
    pub name: String,
    /// The durable queue it consumes from.
    pub queue: WorkQueue,
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
    /// The work is done but the ack cannot count: the connection was lost and recovered since
    /// the task arrived. The broker redelivers the task (to this worker or another), which is
    /// then done again; the worker goes on with the next one.
    AckLost {
        /// The task's text.
        body: String,
        /// How long the work took.
        took: Duration,
        /// True: the delivery tag is from before the recovery, so nothing was sent
        /// (`Error::StaleDeliveryTag`). False: the ack was on its way when the connection was
        /// lost, and the broker may or may not have had it.
        stale: bool,
        /// The client's error.
        reason: String,
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
    /// The connection ended for good mid-task; the task was dropped unacked.
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
    /// Its connection ended under it for good (recovery off, or given up).
    ConnectionLost(Error),
}

/// Runs a worker on `connection` until `stop` turns true (or its sender is dropped), or the
/// connection ends for good. Every step is reported to `on_event`.
///
/// Errors are those of the set-up (queue.declare, basic.qos, basic.consume) and of a broker that
/// closes the channel; a connection that ends is [`WorkerEnd::ConnectionLost`]. A connection
/// that is lost and recovered is no error: see the module's documentation.
pub async fn run_worker(
    connection: &Connection,
    config: &WorkerConfig,
    mut stop: watch::Receiver<bool>,
    mut on_event: impl FnMut(WorkerEvent),
) -> Result<WorkerEnd, Error> {
    let channel = connection.open_channel().await?;
    config.queue.declare(&channel).await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            &config.queue.name,
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
                    // Lost on the way: the caller's connection.close ends the channel anyway.
                    Ok(()) | Err(Error::ConnectionLost { .. }) => Ok(WorkerEnd::Stopped),
                    Err(e) => lost(e),
                };
            }
            Some(Err(e)) => return lost(e),
            Some(Ok(delivery)) => delivery,
        };
        let body = String::from_utf8_lossy(&delivery.body).into_owned();
        if stopping {
            // It was on its way when we cancelled: not ours to do any more. A stale tag needs
            // no reject: the broker has already put the task back.
            match delivery.reject(true).await {
                Ok(()) | Err(Error::StaleDeliveryTag { .. } | Error::ConnectionLost { .. }) => {}
                Err(e) => return lost(e),
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
        match ack(&delivery).await {
            Ok(None) => on_event(WorkerEvent::Acked { body, took }),
            Ok(Some((stale, reason))) => on_event(WorkerEvent::AckLost {
                body,
                took,
                stale,
                reason,
            }),
            Err(e) => return lost(e),
        }
    }
}

/// Acks `delivery`. `Ok(None)`: sent. `Ok(Some((stale, why)))`: the ack cannot count because the
/// connection was lost since the delivery came (see [`WorkerEvent::AckLost`]); the worker goes
/// on. `Err`: the connection or channel is gone.
async fn ack(delivery: &Delivery) -> Result<Option<(bool, String)>, Error> {
    match delivery.ack().await {
        Ok(()) => Ok(None),
        Err(e @ Error::StaleDeliveryTag { .. }) => Ok(Some((true, e.to_string()))),
        Err(e @ Error::ConnectionLost { .. }) => Ok(Some((false, e.to_string()))),
        Err(e) => Err(e),
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

/// Resolves once `stop` is true or its sender is gone.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// basic.cancel; `Some(end)` if the connection is gone.
///
/// A cancel that was on its way when the connection was lost is sent once more: recovery may
/// have restored the consumer it was meant to end (the second call waits for the recovery).
async fn cancel(channel: &Channel, tag: &str) -> Result<Option<WorkerEnd>, Error> {
    let mut result = channel
        .basic_cancel(tag, BasicCancelOptions::default())
        .await;
    if let Err(Error::ConnectionLost { .. }) = result {
        result = channel
            .basic_cancel(tag, BasicCancelOptions::default())
            .await;
    }
    match result {
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
        | Error::ClientClosed
        | Error::ConnectionLost { .. }
        | Error::RecoveryTimeout(_)
        | Error::Connect { .. } => Ok(WorkerEnd::ConnectionLost(e)),
        other => Err(other),
    }
}
