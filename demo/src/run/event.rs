//! What the concurrent parts of a run (the workers, the publisher, the connections' recovery
//! watchers, the `--restart-broker` / `--cluster` operator, a `--kill-one` timer) tell the live
//! view, over one channel.

use std::time::{Duration, Instant};

use amqp_client::Endpoint;

use crate::broker::Killer;
use crate::output::Fail;
use crate::recovery::Watched;
use crate::worker::{WorkerEnd, WorkerEvent};

/// Whose connection a recovery event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Who {
    /// Worker `n` (from 1).
    Worker(usize),
    /// `new_task`.
    Publisher,
    /// The demo's control connection.
    Control,
}

/// What the tasks of a run tell the live view.
pub(super) enum Event {
    /// A worker is connected.
    Connected {
        n: usize,
        connection_id: u64,
        /// With `--kill-one`: the handle that cuts its connection.
        killer: Option<Killer>,
        /// Where it is connected.
        endpoint: Option<Endpoint>,
    },
    /// A worker reported something.
    Worker {
        n: usize,
        at: Instant,
        event: WorkerEvent,
    },
    /// A worker's task ended.
    Ended {
        n: usize,
        result: Result<WorkerEnd, Fail>,
    },
    /// The publisher is connected and starts publishing.
    Publishing {
        at: Instant,
        tasks: usize,
        pace: Option<Duration>,
    },
    /// The broker confirmed the task `text`.
    Confirmed { at: Instant, text: String },
    /// The confirm of task `text` was lost with the connection: it is published again.
    InDoubt {
        at: Instant,
        text: String,
        reason: String,
    },
    /// Publishing failed.
    PublishFailed(Fail),
    /// Time to kill worker `n` (`--kill-one`).
    KillNow { n: usize },
    /// A connection's recovery event.
    Recovery {
        who: Who,
        at: Instant,
        watched: Watched,
    },
    /// The operator starts restarting a node.
    Restarting { at: Instant, label: String },
    /// The node is back.
    Restarted {
        at: Instant,
        label: String,
        took: Duration,
    },
    /// A restart failed: the run cannot go on as planned.
    RestartFailed(Fail),
}
