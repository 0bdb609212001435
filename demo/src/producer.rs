//! The publisher of the tutorial, shared by the `new_task` binary and the demo's publisher:
//! connect as `new_task`, declare the durable queue, turn on publisher confirms, publish every
//! task as a persistent message, then wait for the confirms. Once a task is confirmed, it is on
//! the broker's disk.
//!
//! Publishing is at-least-once across a lost connection: a publish whose confirm was lost with
//! the connection (`Error::PublishInDoubt`) may or may not have reached the broker, so it is
//! published again (after the client's recovery) and reported as [`Published::InDoubt`]. The
//! cost is that a worker may get that task twice; the other choice, not publishing it again,
//! may lose it.

use std::time::Duration;

use amqp_client::{BasicProperties, Channel, ConfirmSelectOptions, Connection, Error};

use crate::broker::{self, Tracer};
use crate::output::Fail;
use crate::queue::WorkQueue;

/// How many times one task is published again after its confirm was lost: a connection lost
/// that often in a row is not coming back soon, and the recovery's own wait covers the rest.
const MAX_REPUBLISH: u32 = 5;

/// What became of one task's publish, as [`Producer::publish`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published<'a> {
    /// The broker confirmed it (basic.ack): it is on the broker's disk.
    Confirmed(&'a str),
    /// Its confirm was lost with the connection: it is published again.
    InDoubt {
        /// The task.
        task: &'a str,
        /// The client's error.
        reason: &'a str,
    },
}

/// A publisher's connection, with a channel in confirm mode on the durable queue.
#[derive(Debug)]
pub struct Producer {
    connection: Connection,
    channel: Channel,
    queue: String,
}

impl Producer {
    /// Connects to `urls` (one broker, or the nodes of a cluster) as `new_task` (with `tracer`'s
    /// `--trace`), declares the durable queue `queue` and selects confirm mode.
    pub async fn connect(
        urls: &[String],
        queue: &WorkQueue,
        tracer: Option<Tracer>,
    ) -> Result<Self, Fail> {
        let config = broker::config_for(urls, "new_task", tracer)?;
        Self::connect_with(config, queue).await
    }

    /// [`Producer::connect`] with a configuration of the caller's (recovery settings, ...).
    pub async fn connect_with(
        config: amqp_client::ConnectionConfig,
        queue: &WorkQueue,
    ) -> Result<Self, Fail> {
        let (connection, channel) = broker::open_work_queue(config, queue).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
            queue: queue.name.clone(),
        })
    }

    /// The connection (for its recovery events).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Publishes `tasks` as persistent messages and waits for their confirms in order, calling
    /// `on_event` as each is confirmed or found in doubt (and published again).
    ///
    /// Without `pace`, all are published before the first wait (the broker confirms in
    /// batches); with it, one at a time, `pace` apart, each confirmed before the next, like an
    /// application that publishes as work comes in.
    pub async fn publish(
        &self,
        tasks: &[String],
        pace: Option<Duration>,
        mut on_event: impl FnMut(Published<'_>),
    ) -> Result<(), Fail> {
        if let Some(pace) = pace {
            for (i, task) in tasks.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(pace).await;
                }
                let outcome = self.publish_one(task).await;
                self.settle(task, outcome, &mut on_event).await?;
            }
            return Ok(());
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(self.publish_one(task).await);
        }
        for (task, outcome) in tasks.iter().zip(outcomes) {
            self.settle(task, outcome, &mut on_event).await?;
        }
        Ok(())
    }

    /// Publishes `task`; `Ok` once the broker has it (or, outside confirm mode, once sent).
    /// The `Err` of `basic_publish` and of the confirm's wait alike.
    async fn publish_one(&self, task: &str) -> Result<amqp_client::PublishConfirm, Error> {
        let properties = BasicProperties::default().persistent();
        self.channel
            .basic_publish(
                "",
                &self.queue,
                Default::default(),
                properties,
                task.to_owned(),
            )
            .await
    }

    /// Waits for `task`'s confirm; publishes it again while it ends in doubt.
    async fn settle(
        &self,
        task: &str,
        mut outcome: Result<amqp_client::PublishConfirm, Error>,
        on_event: &mut impl FnMut(Published<'_>),
    ) -> Result<(), Fail> {
        let mut republished = 0;
        loop {
            let result = match outcome {
                Ok(confirm) => confirm.wait().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    on_event(Published::Confirmed(task));
                    return Ok(());
                }
                Err(e) if in_doubt(&e) && republished < MAX_REPUBLISH => {
                    republished += 1;
                    let reason = e.to_string();
                    on_event(Published::InDoubt {
                        task,
                        reason: &reason,
                    });
                    // Made while the connection recovers, this waits for the recovery.
                    outcome = self.publish_one(task).await;
                }
                Err(e) => {
                    return Err(Fail::from(e).context(format!("'{task}' was not confirmed")));
                }
            }
        }
    }

    /// Closes the connection.
    pub async fn close(self) -> Result<(), Fail> {
        self.connection.close().await?;
        Ok(())
    }
}

/// Whether the broker may or may not have the message: its confirm was lost with the
/// connection, or the publish itself was on its way when the connection was lost.
fn in_doubt(e: &Error) -> bool {
    matches!(
        e,
        Error::PublishInDoubt { .. } | Error::ConnectionLost { .. }
    )
}
