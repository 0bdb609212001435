//! The concurrent parts of a run: one tokio task per worker and one for the publisher, each on
//! its own connection and reporting to the live view with [`Event`]s; and stopping them.

use std::time::{Duration, Instant};

use amqp_client::ConnectionConfig;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::event::Event;
use super::Plan;
use crate::broker::{self, Tracer};
use crate::output::Fail;
use crate::producer::Producer;
use crate::task::task_texts;
use crate::worker::{run_worker, WorkerConfig, WorkerEnd};

/// Where the tasks connect and how they report.
pub(super) struct Crew<'a> {
    /// The broker.
    pub(super) url: &'a str,
    /// The run's queue.
    pub(super) queue: &'a str,
    /// `--trace`.
    pub(super) tracer: Option<Tracer>,
    /// The live view's inbox.
    pub(super) events: mpsc::UnboundedSender<Event>,
}

impl Crew<'_> {
    /// Starts `plan`'s workers, `worker-1` to `worker-N`, each on its own (killable) connection.
    /// They stop gracefully once `stop` turns true.
    pub(super) fn start_workers(
        &self,
        plan: &Plan,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>, Fail> {
        plan.worker_names()
            .enumerate()
            .map(|(i, name)| {
                let connection_config = broker::config_for(self.url, &name, self.tracer)?;
                let config = WorkerConfig {
                    name,
                    queue: self.queue.to_owned(),
                    prefetch: plan.prefetch,
                    dot: plan.dot,
                };
                Ok(self.start_worker(i + 1, config, connection_config, stop.clone()))
            })
            .collect()
    }

    /// Worker `n`: connects, runs until stopped, closes.
    fn start_worker(
        &self,
        n: usize,
        config: WorkerConfig,
        connection_config: ConnectionConfig,
        stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = async {
                let (connection, killer) = broker::connect_killable(connection_config).await?;
                let _ = events.send(Event::Connected {
                    n,
                    connection_id: connection.id(),
                    killer,
                });
                let end = run_worker(&connection, &config, stop, |event| {
                    let _ = events.send(Event::Worker {
                        n,
                        at: Instant::now(),
                        event,
                    });
                })
                .await?;
                if let WorkerEnd::Stopped = end {
                    connection.close().await?;
                }
                Ok(end)
            }
            .await;
            let _ = events.send(Event::Ended { n, result });
        })
    }

    /// Starts the publisher: `new_task` on its own connection publishes `plan`'s tasks.
    pub(super) fn start_publisher(&self, plan: &Plan) -> JoinHandle<()> {
        let (url, queue, tracer) = (self.url.to_owned(), self.queue.to_owned(), self.tracer);
        let events = self.events.clone();
        let tasks = task_texts(plan.lengths.iter().copied());
        tokio::spawn(async move {
            let result = async {
                let producer = Producer::connect(&url, &queue, tracer).await?;
                let _ = events.send(Event::Publishing {
                    at: Instant::now(),
                    tasks: tasks.len(),
                });
                producer
                    .publish(&tasks, |text| {
                        let _ = events.send(Event::Confirmed {
                            at: Instant::now(),
                            text: text.to_owned(),
                        });
                    })
                    .await?;
                producer.close().await
            }
            .await;
            if let Err(fail) = result {
                let _ = events.send(Event::PublishFailed(fail));
            }
        })
    }
}

/// Stops the workers gracefully (basic.cancel, finish what they hold, close) and waits, at most
/// 10 s each, for them and the publisher to end.
pub(super) async fn stop_all(
    stop: watch::Sender<bool>,
    publisher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
) {
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), publisher).await;
    for handle in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
    }
}
