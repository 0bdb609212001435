//! The demo: the whole work-queue tutorial in one command.
//!
//! One run: a control connection declares a fresh durable queue; N workers connect (each on its
//! own connection) and start consuming; a publisher (`new_task`) sends M tasks of uneven length
//! with publisher confirms; the live view prints a line per event and a progress line; when every
//! task is acked the workers stop gracefully, the control connection checks that the queue is
//! empty and deletes it, and a summary is printed.
//!
//! With `--restart-broker` or `--cluster` the broker is a private node (or cluster) of the
//! demo's, restarted during the run: every connection recovers by itself, the live view shows
//! each recovery event, and the check still wants every task acked and nothing left over (a task
//! done twice must be explained by a lost ack or an in-doubt publish).
//!
//! This module runs the demo (one run, or two with `--compare`) step by step; the steps are its
//! submodules:
//!
//! * [`options`]: the command line and `--help`;
//! * `control`: the run's queue, fresh before and checked after, and the clean-up;
//! * `spawn`: the workers and the publisher, each a tokio task on its own connection;
//! * `restarts`: the operator restarting the broker's nodes (`--restart-broker`, `--cluster`);
//! * `event`: what those tasks tell the live view;
//! * `live`: the live view, a line per event, until every task is acked;
//! * `ledger`: what happened to each task, for the check;
//! * [`report`]: the summary of a run; `compare`: `--compare`'s side-by-side table.

mod compare;
mod control;
mod event;
mod ledger;
mod live;
pub mod options;
pub mod report;
mod restarts;
mod spawn;

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::broker::Tracer;
use crate::operator::Operator;
use crate::output::{Fail, Style};
use crate::queue::WorkQueue;
use compare::print_side_by_side;
use control::Control;
use live::{Live, Outcome};
use options::Fault;
use spawn::Crew;

pub use control::delete_queues;
pub use options::{DemoOptions, HELP};
pub use report::{Report, WorkerRow};

/// How much longer a run may take per restart of a node: the restart itself (about 8 s) and the
/// recoveries after it, with room for a slow machine.
const PER_RESTART: Duration = Duration::from_secs(60);

/// Runs the demo on the broker at `urls` (one, or one per node of a cluster): one run, or two
/// with `--compare`. `operator` is the private broker's, which `--restart-broker` and
/// `--cluster` restart.
pub async fn run_demo(
    options: &DemoOptions,
    urls: &[String],
    operator: Option<&Operator>,
    queues: &[String],
    style: Style,
) -> Result<(), Fail> {
    let mut reports = Vec::new();
    let prefetches: &[u16] = if options.compare {
        &[0, 1]
    } else {
        &[options.prefetch]
    };
    for (&prefetch, queue) in prefetches.iter().zip(queues) {
        let report = match run_once(options, urls, operator, prefetch, queue, style).await {
            Ok(report) => report,
            Err(fail) => {
                delete_queues(urls, queues).await;
                return Err(fail);
            }
        };
        report.print(style);
        reports.push(report);
    }
    if let [blind, fair] = reports.as_slice() {
        print_side_by_side(blind, fair, style);
    }
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| format!("prefetch {}: {}", r.prefetch, r.problems().join(", ")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(format!("check failed: {}", failed.join("; "))))
    }
}

/// The queue names a demo run uses: `QUEUE-<pid>`, with `-prefetch0` and `-prefetch1` for the two
/// runs of `--compare`.
pub fn queue_names(options: &DemoOptions) -> Vec<String> {
    let base = format!("{}-{}", options.common.queue, std::process::id());
    if options.compare {
        vec![format!("{base}-prefetch0"), format!("{base}-prefetch1")]
    } else {
        vec![base]
    }
}

/// What one run does: the tasks, how long a dot of work takes, the workers and their prefetch.
struct Plan {
    /// The length of each task, in dots.
    lengths: Vec<u32>,
    /// How long one dot takes.
    dot: Duration,
    /// The workers' prefetch.
    prefetch: u16,
    /// How many workers.
    workers: u32,
    /// `--kill-one`, `--restart-broker`, `--cluster`.
    fault: Fault,
    /// `--publish-every`.
    pace: Option<Duration>,
    /// After how many acked tasks each node is restarted (empty: none is).
    restarts: Vec<u32>,
}

impl Plan {
    fn new(options: &DemoOptions, prefetch: u16, nodes: usize) -> Self {
        let lengths = options.lengths();
        let tasks = u32::try_from(lengths.len()).unwrap_or(u32::MAX);
        let restarts = if options.fault.restarts_broker() {
            restarts::thresholds(tasks, nodes)
        } else {
            Vec::new()
        };
        Self {
            lengths,
            dot: options.dot,
            prefetch,
            workers: options.workers,
            fault: options.fault,
            pace: options.publish_every,
            restarts,
        }
    }

    /// How many tasks.
    fn tasks(&self) -> u32 {
        u32::try_from(self.lengths.len()).unwrap_or(u32::MAX)
    }

    /// The workers' names: `worker-1`, `worker-2`, ...
    fn worker_names(&self) -> impl Iterator<Item = String> {
        (1..=self.workers).map(|n| format!("worker-{n}"))
    }

    /// The length of the longest task, in dots.
    fn max_dots(&self) -> u32 {
        self.lengths.iter().copied().max().unwrap_or(0)
    }

    /// The sum of all task times.
    fn work(&self) -> Duration {
        self.lengths
            .iter()
            .map(|&d| self.dot.saturating_mul(d))
            .sum()
    }

    /// The longest task's time.
    fn longest(&self) -> Duration {
        self.dot.saturating_mul(self.max_dots())
    }

    /// How long the run may take from the first publish to the last ack.
    fn time_limit(&self) -> Duration {
        let publishing = self.pace.unwrap_or_default().saturating_mul(self.tasks());
        let restarts = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        Duration::from_secs(30)
            + self.work().saturating_mul(3)
            + publishing
            + PER_RESTART.saturating_mul(restarts)
    }
}

/// One run of the demo with `prefetch`, on the fresh queue `queue`.
async fn run_once(
    options: &DemoOptions,
    urls: &[String],
    operator: Option<&Operator>,
    prefetch: u16,
    queue: &str,
    style: Style,
) -> Result<Report, Fail> {
    let origin = Instant::now();
    let tracer = options
        .common
        .trace
        .then(|| Tracer::new(Some(origin), style));
    let operator = operator.filter(|_| options.fault.restarts_broker());
    let plan = Plan::new(options, prefetch, operator.map_or(1, Operator::node_count));
    let queue = if options.fault == Fault::Cluster {
        WorkQueue::quorum(queue)
    } else {
        WorkQueue::classic(queue)
    };
    live::print_heading(&plan, &queue, operator, style);
    let mut live = Live::new(&plan, origin, style);
    let crew = Crew {
        urls,
        queue: &queue,
        tracer,
        events: live.events(),
    };
    // The control connection: a fresh durable queue now, the check at the end.
    let control = Control::open(&crew).await?;
    let (stop, stop_rx) = watch::channel(false);
    let workers = crew.start_workers(&plan, &stop_rx)?;

    // Wait until every worker consumes, so that the broker sees them all from the first task.
    if let Err(fail) = live.until_ready(Duration::from_secs(30)).await {
        let _ = stop.send(true);
        return Err(fail);
    }
    // The publisher: new_task on its own connection, persistent messages, publisher confirms;
    // the operator, who restarts the nodes as the tasks get done; the live view until every
    // task is acked and every restart is over.
    live.start_clock();
    let publisher = crew.start_publisher(&plan)?;
    let restarter = operator.map(|operator| {
        restarts::start(
            operator.clone(),
            plan.restarts.clone(),
            live.progress(),
            live.events(),
        )
    });
    let outcome = live.until_done(plan.time_limit()).await;
    let wall = live.wall();
    if let Some(restarter) = restarter {
        // Over, unless the run failed or timed out mid-restart: a node left half-restarted is
        // removed with the others at the end.
        restarter.abort();
    }
    // Stop the workers gracefully: basic.cancel, finish (nothing is left), close.
    spawn::stop_all(stop, publisher, workers).await;
    live.drain();
    let timed_out = match outcome {
        Outcome::Finished => false,
        Outcome::TimedOut => true,
        Outcome::Failed(fail) => {
            control.discard().await;
            return Err(fail);
        }
    };
    let left_in_queue = control.check_and_delete().await?;
    Ok(make_report(&plan, &live, wall, left_in_queue, timed_out))
}

/// What a run found: the plan's numbers, the live view's counts, and the final check.
fn make_report(
    plan: &Plan,
    live: &Live,
    wall: Duration,
    left_in_queue: u32,
    timed_out: bool,
) -> Report {
    let ledger = live.ledger();
    Report {
        prefetch: plan.prefetch,
        dot: plan.dot,
        workers: live.worker_rows(),
        wall,
        work: plan.work(),
        longest: plan.longest(),
        tasks: plan.tasks(),
        acked_once: ledger.tasks_acked(|c| c == 1),
        acked_twice: ledger.tasks_acked(|c| c > 1),
        unexplained_twice: ledger.unexplained_twice(),
        never_acked: plan.tasks().saturating_sub(ledger.done()),
        redelivered: live.redelivered(),
        left_in_queue,
        timed_out,
        recovery: live.recovery_counts(),
        notes: ledger.notes(|n| live.worker_name(n)),
    }
}
