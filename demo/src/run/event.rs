//! What the concurrent parts of a run (the workers, the publisher, a `--kill-one` timer) tell
//! the live view, over one channel.

use std::time::Instant;

use crate::broker::Killer;
use crate::output::Fail;
use crate::worker::{WorkerEnd, WorkerEvent};

/// What the tasks of a run tell the live view.
pub(super) enum Event {
    /// A worker is connected.
    Connected {
        n: usize,
        connection_id: u64,
        killer: Killer,
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
    Publishing { at: Instant, tasks: usize },
    /// The broker confirmed the task `text`.
    Confirmed { at: Instant, text: String },
    /// Publishing failed.
    PublishFailed(Fail),
    /// Time to kill worker `n` (`--kill-one`).
    KillNow { n: usize },
}
