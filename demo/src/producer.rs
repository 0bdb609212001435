//! The publisher of the tutorial, shared by the `new_task` binary and the demo's publisher:
//! connect as `new_task`, declare the durable queue, turn on publisher confirms, publish every
//! task as a persistent message, then wait for the confirms. Once a task is confirmed, it is on
//! the broker's disk.

use amqp_client::{BasicProperties, Channel, ConfirmSelectOptions, Connection};

use crate::broker::{self, Tracer};
use crate::output::Fail;

/// A publisher's connection, with a channel in confirm mode on the durable queue.
#[derive(Debug)]
pub struct Producer {
    connection: Connection,
    channel: Channel,
    queue: String,
}

impl Producer {
    /// Connects to `url` as `new_task` (with `tracer`'s `--trace`), declares the durable queue
    /// `queue` and selects confirm mode.
    pub async fn connect(url: &str, queue: &str, tracer: Option<Tracer>) -> Result<Self, Fail> {
        let (connection, channel) = broker::open_work_queue(url, "new_task", tracer, queue).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
            queue: queue.to_owned(),
        })
    }

    /// Publishes `tasks` as persistent messages, then waits for their confirms in order, calling
    /// `on_confirmed` with each task as its confirm comes. All are published before the first
    /// wait: the broker confirms in batches.
    pub async fn publish(
        &self,
        tasks: &[String],
        mut on_confirmed: impl FnMut(&str),
    ) -> Result<(), Fail> {
        let (channel, queue) = (&self.channel, self.queue.as_str());
        let mut confirms = Vec::with_capacity(tasks.len());
        for task in tasks {
            let properties = BasicProperties::default().persistent();
            let confirm = channel
                .basic_publish("", queue, Default::default(), properties, task.clone())
                .await?;
            confirms.push(confirm);
        }
        for (task, confirm) in tasks.iter().zip(confirms) {
            confirm
                .wait()
                .await
                .map_err(|e| Fail::from(e).context(format!("'{task}' was not confirmed")))?;
            on_confirmed(task);
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(self) -> Result<(), Fail> {
        self.connection.close().await?;
        Ok(())
    }
}
