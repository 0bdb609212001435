//! The demo's own work on its queues, beside the workers and the publisher: a control connection
//! that makes a run's queue fresh before the run and, once every worker is gone, checks that
//! nothing is left in it and deletes it; and the clean-up after an interrupted demo.

use std::time::{Duration, Instant};

use amqp_client::{
    Channel, Connection, FieldTable, QueueDeclareOk, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};

use super::event::Who;
use super::spawn::Crew;
use crate::broker;
use crate::output::Fail;
use crate::recovery::AbortOnDrop;

/// A run's control connection, on the run's queue.
pub(super) struct Control {
    connection: Connection,
    channel: Channel,
    queue: String,
    _recovery: AbortOnDrop,
}

impl Control {
    /// Connects as `demo control` and makes the crew's queue a fresh durable queue: declared,
    /// purged.
    pub(super) async fn open(crew: &Crew<'_>) -> Result<Self, Fail> {
        let config = crew.config("demo control")?;
        let (connection, channel) = broker::open_work_queue(config, crew.queue).await?;
        let recovery = crew.watch(&connection, Who::Control);
        let queue = crew.queue.name.clone();
        channel
            .queue_purge(&queue, QueuePurgeOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
            queue,
            _recovery: recovery,
        })
    }

    /// The check, once every worker has stopped: with every worker gone, an unacked message
    /// would be back in the queue. Waits (at most 5 s) until the broker has seen the last
    /// consumer go, deletes the queue, closes, and returns how many messages were left in it.
    pub(super) async fn check_and_delete(self) -> Result<u32, Fail> {
        let check_deadline = Instant::now() + Duration::from_secs(5);
        let mut state = self.state().await?;
        while state.consumer_count > 0 && Instant::now() < check_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            state = self.state().await?;
        }
        let deleted = self
            .channel
            .queue_delete(&self.queue, QueueDeleteOptions::default())
            .await?
            .ok_or_else(|| Fail::no_reply("queue.delete"))?;
        self.connection.close().await?;
        Ok(state.message_count.max(deleted))
    }

    /// After a failed run: deletes the queue and closes, best effort.
    pub(super) async fn discard(self) {
        let _ = self
            .channel
            .queue_delete(&self.queue, QueueDeleteOptions::default())
            .await;
        let _ = self.connection.close().await;
    }

    /// The queue's counts (queue.declare passive).
    async fn state(&self) -> Result<QueueDeclareOk, Fail> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(&self.queue, passive, FieldTable::new())
            .await?
            .ok_or_else(|| Fail::no_reply("queue.declare"))
    }
}

/// Deletes `queues` (after an interrupted run), best effort.
pub async fn delete_queues(urls: &[String], queues: &[String]) {
    let cleanup = async {
        let config = broker::config_for(urls, "demo cleanup", None).ok()?;
        let connection = broker::connect(config).await.ok()?;
        let channel = connection.open_channel().await.ok()?;
        for queue in queues {
            let _ = channel
                .queue_delete(queue, QueueDeleteOptions::default())
                .await;
        }
        let _ = connection.close().await;
        Some(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), cleanup).await;
}
