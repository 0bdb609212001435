//! The concurrent parts of a run: one tokio task per worker and one for the publisher, each on
//! its own connection and reporting to the live view with [`Event`]s, with the recovery events
//! of its connection; and stopping them.

use std::time::{Duration, Instant};

use amqp_client::{Connection, ConnectionConfig, Recovery};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::event::{Event, Who};
use super::options::Fault;
use super::Plan;
use crate::broker::{self, Tracer};
use crate::output::Fail;
use crate::producer::{Producer, Published};
use crate::queue::WorkQueue;
use crate::recovery::{demo_recovery, watch_events, AbortOnDrop};
use crate::task::task_texts;
use crate::worker::{run_worker, WorkerConfig, WorkerEnd};

/// Where the tasks connect and how they report.
pub(super) struct Crew<'a> {
    /// The broker: one URL, or one per node of a cluster.
    pub(super) urls: &'a [String],
    /// The run's queue.
    pub(super) queue: &'a WorkQueue,
    /// `--trace`.
    pub(super) tracer: Option<Tracer>,
    /// The live view's inbox.
    pub(super) events: mpsc::UnboundedSender<Event>,
}

impl Crew<'_> {
    /// The configuration of the connection called `name`: the demo's recovery settings.
    pub(super) fn config(&self, name: &str) -> Result<ConnectionConfig, Fail> {
        Ok(broker::config_for(self.urls, name, self.tracer)?.with_recovery(demo_recovery()))
    }

    /// Forwards `connection`'s recovery events to the live view, as `who`'s, until dropped.
    pub(super) fn watch(&self, connection: &Connection, who: Who) -> AbortOnDrop {
        watch_events(connection, forward(self.events.clone(), who))
    }

    /// Starts `plan`'s workers, `worker-1` to `worker-N`, each on its own connection. They
    /// stop gracefully once `stop` turns true.
    pub(super) fn start_workers(
        &self,
        plan: &Plan,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>, Fail> {
        plan.worker_names()
            .enumerate()
            .map(|(i, name)| {
                let mut connection_config = self.config(&name)?;
                if plan.fault == Fault::KillOne {
                    // `--kill-one` plays a worker whose process crashed: nothing is left to
                    // recover its connection.
                    connection_config = connection_config.with_recovery(Recovery::disabled());
                }
                let config = WorkerConfig {
                    name,
                    queue: self.queue.clone(),
                    prefetch: plan.prefetch,
                    dot: plan.dot,
                };
                Ok(self.start_worker(i + 1, config, connection_config, plan.fault, stop.clone()))
            })
            .collect()
    }

    /// Worker `n`: connects (killable with `--kill-one`), runs until stopped, closes.
    fn start_worker(
        &self,
        n: usize,
        config: WorkerConfig,
        connection_config: ConnectionConfig,
        fault: Fault,
        stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let events = self.events.clone();
        let forward_to = forward(events.clone(), Who::Worker(n));
        tokio::spawn(async move {
            let result = async {
                let (connection, killer) = if fault == Fault::KillOne {
                    let (connection, killer) = broker::connect_killable(connection_config).await?;
                    (connection, Some(killer))
                } else {
                    (broker::connect(connection_config).await?, None)
                };
                let _recovery = watch_events(&connection, forward_to);
                let _ = events.send(Event::Connected {
                    n,
                    connection_id: connection.id(),
                    killer,
                    endpoint: connection.endpoint(),
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

    /// Starts the publisher: `new_task` on its own connection publishes `plan`'s tasks (all at
    /// once, or one at a time with `--publish-every`).
    pub(super) fn start_publisher(&self, plan: &Plan) -> Result<JoinHandle<()>, Fail> {
        let config = self.config("new_task")?;
        let queue = self.queue.clone();
        let events = self.events.clone();
        let forward_to = forward(events.clone(), Who::Publisher);
        let tasks = task_texts(plan.lengths.iter().copied());
        let pace = plan.pace;
        Ok(tokio::spawn(async move {
            let result = async {
                let producer = Producer::connect_with(config, &queue).await?;
                let _recovery = watch_events(producer.connection(), forward_to);
                let _ = events.send(Event::Publishing {
                    at: Instant::now(),
                    tasks: tasks.len(),
                    pace,
                });
                producer
                    .publish(&tasks, pace, |published| {
                        let at = Instant::now();
                        let _ = events.send(match published {
                            Published::Confirmed(text) => Event::Confirmed {
                                at,
                                text: text.to_owned(),
                            },
                            Published::InDoubt { task, reason } => Event::InDoubt {
                                at,
                                text: task.to_owned(),
                                reason: reason.to_owned(),
                            },
                        });
                    })
                    .await?;
                producer.close().await
            }
            .await;
            if let Err(fail) = result {
                let _ = events.send(Event::PublishFailed(fail));
            }
        }))
    }
}

/// A recovery watcher's callback that sends each event to the live view as `who`'s.
fn forward(
    events: mpsc::UnboundedSender<Event>,
    who: Who,
) -> impl FnMut(crate::recovery::Watched) + Send + 'static {
    move |watched| {
        let _ = events.send(Event::Recovery {
            who,
            at: Instant::now(),
            watched,
        });
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
