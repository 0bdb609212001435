//! The RabbitMQ work-queue tutorial ("Work Queues", tutorial 2) on `amqp-client`.
//!
//! Three binaries share this library:
//!
//! * `new_task` publishes tasks to the durable queue `task_queue` as persistent messages and
//!   waits for the broker's publisher confirms.
//! * `worker` consumes them with prefetch 1 and manual acks, working one dot unit per `.`.
//! * `demo` (the default) runs the whole tutorial in one command: N workers on their own
//!   connections, M tasks of uneven length, a live view, a summary and a check that nothing was
//!   lost; `--compare`, `--kill-one` and `--trace` show fair dispatch, redelivery and the frames
//!   on the wire; `--restart-broker` and `--cluster` show connection recovery.
//!
//! Modules: [`args`] (hand-written option parsing), [`broker`] (finding a broker, connecting,
//! the `--trace` tap), [`operator`] (private nodes and clusters the demo restarts),
//! [`output`] (lines, colour, one-line errors), [`queue`] (the work queue, classic or quorum),
//! [`recovery`] (watching a connection's recovery), [`task`] (task texts and lengths),
//! [`producer`] (publishing tasks with confirms, as `new_task` and the demo do), [`worker`] (the
//! worker loop, as `worker` and the demo run it) and [`run`] (the demo itself).

pub mod args;
pub mod broker;
pub mod operator;
pub mod output;
pub mod producer;
pub mod queue;
pub mod recovery;
pub mod run;
pub mod task;
pub mod worker;
