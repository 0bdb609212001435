//! The demo's command line: its options, their defaults and checks, and `--help`.

use std::time::Duration;

use crate::args::{no_value, unknown, Args, Common};
use crate::output::Fail;
use crate::task::demo_lengths;

/// `demo --help`.
pub const HELP: &str = "\
demo: the RabbitMQ work-queue tutorial (tutorial 2) in one command, on amqp-client

usage: demo [OPTIONS]

Starts N workers, each on its own connection, publishes M tasks of uneven length (every N-th
task is long), shows live which worker does which task, then prints a summary: tasks and busy
time per worker, wall time against the sum of task times, redeliveries, and a check that every
task was acked exactly once and the queue is empty.

With --restart-broker or --cluster every connection recovers by itself: each recovery event is a
line (of the reconnection attempts, the first is shown and the others counted), and a task done
twice passes the check only when a lost connection explains it (a stale ack, an in-doubt
publish), said on a 'note' line.

options:
  --workers N         how many workers (default: 3)
  --tasks M           how many tasks (default: 12)
  --dots LIST         the task lengths in dots instead, e.g. 20,1,1,1 (sets M)
  --dot-ms MS         how long one '.' of work takes, in milliseconds (default: 200)
  --prefetch K        unacked tasks a worker may hold (default: 1 = fair dispatch;
                      0 = no limit: blind round-robin)
  --compare           run with --prefetch 0, then 1, and show the summaries side by side
  --kill-one          cut one worker's TCP connection mid-task: its task is redelivered
  --restart-broker    run on a private RabbitMQ node and restart it mid-run: every connection
                      recovers, and a task whose ack was lost is redelivered and done again
  --cluster           run on a private 3-node cluster with a quorum queue and restart each node
                      in turn; connections know all three nodes and move between them
                      (default: 30 tasks, 1 dot = 500 ms)
  --publish-every MS  publish one task every MS milliseconds, each confirmed before the next
                      (default: all at once; 500 with --restart-broker, 1000 with --cluster,
                      so that publishing goes on through the restarts)
  --no-private-broker when no broker answers, fail instead of starting a private RabbitMQ node
                      (also: DEMO_NO_PRIVATE_BROKER=1)";

/// What a run does to its workers or its broker in the middle of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Nothing: the tutorial as it is.
    #[default]
    None,
    /// `--kill-one`: one worker's TCP connection is cut mid-task, as when its process crashes
    /// (so its connection does not recover).
    KillOne,
    /// `--restart-broker`: the private broker is restarted mid-run; every connection recovers.
    RestartBroker,
    /// `--cluster`: a private cluster and a quorum queue; each node is restarted in turn.
    Cluster,
}

impl Fault {
    /// Its flag.
    pub fn flag(self) -> &'static str {
        match self {
            Self::None => "",
            Self::KillOne => "--kill-one",
            Self::RestartBroker => "--restart-broker",
            Self::Cluster => "--cluster",
        }
    }

    /// Whether the broker is restarted during the run.
    pub fn restarts_broker(self) -> bool {
        matches!(self, Self::RestartBroker | Self::Cluster)
    }
}

/// How many nodes `--cluster` starts.
pub const CLUSTER_NODES: usize = 3;

/// `--cluster`'s default number of tasks: enough, published one a second, to go on through
/// the restarts of all three nodes (each takes 8-20 s).
const CLUSTER_TASKS: u32 = 30;

/// `--cluster`'s default dot: longer tasks, so that a restart finds workers in the middle of
/// one.
const CLUSTER_DOT: Duration = Duration::from_millis(500);

/// The demo's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// `--url`, `--queue` (a per-run suffix is added), `--trace`.
    pub common: Common,
    /// `--workers`.
    pub workers: u32,
    /// `--tasks`.
    pub tasks: u32,
    /// `--dots`: explicit task lengths.
    pub dots: Option<Vec<u32>>,
    /// `--dot-ms`.
    pub dot: Duration,
    /// `--prefetch`.
    pub prefetch: u16,
    /// `--compare`.
    pub compare: bool,
    /// `--kill-one`, `--restart-broker`, `--cluster`.
    pub fault: Fault,
    /// `--publish-every`: publish one task at a time, this far apart.
    pub publish_every: Option<Duration>,
    /// `--no-private-broker`.
    pub no_private_broker: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            common: Common::default(),
            workers: 3,
            tasks: 12,
            dots: None,
            dot: Duration::from_millis(200),
            prefetch: 1,
            compare: false,
            fault: Fault::None,
            publish_every: None,
            no_private_broker: false,
        }
    }
}

impl DemoOptions {
    /// Parses the command line; `None` for `--help`.
    pub fn parse(mut args: Args) -> Result<Option<Self>, Fail> {
        let mut options = Self::default();
        let mut tasks_given = false;
        let mut dot_given = false;
        while let Some(arg) = options.common.next_own(&mut args)? {
            let Some((name, value)) = arg.into_option()? else {
                return Ok(None);
            };
            match name.as_str() {
                "workers" => options.workers = args.number(&name, value)?,
                "tasks" => {
                    options.tasks = args.number(&name, value)?;
                    tasks_given = true;
                }
                "dots" => {
                    let list = args.value(&name, value)?;
                    let dots = list
                        .split(',')
                        .map(|d| d.trim().parse::<u32>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| {
                            Fail::usage(format!(
                                "--dots needs whole numbers separated by commas, got {list:?}"
                            ))
                        })?;
                    options.dots = Some(dots);
                }
                "dot-ms" => {
                    options.dot = Duration::from_millis(args.number(&name, value)?);
                    dot_given = true;
                }
                "prefetch" => options.prefetch = args.number(&name, value)?,
                "publish-every" => {
                    let ms: u64 = args.number(&name, value)?;
                    options.publish_every = Some(Duration::from_millis(ms));
                }
                "compare" | "no-private-broker" => {
                    no_value(&name, &value)?;
                    match name.as_str() {
                        "compare" => options.compare = true,
                        _ => options.no_private_broker = true,
                    }
                }
                "kill-one" | "restart-broker" | "cluster" => {
                    no_value(&name, &value)?;
                    let fault = match name.as_str() {
                        "kill-one" => Fault::KillOne,
                        "restart-broker" => Fault::RestartBroker,
                        _ => Fault::Cluster,
                    };
                    if options.fault != Fault::None && options.fault != fault {
                        return Err(Fail::usage(format!(
                            "{} and --{name} cannot be used together (see --help)",
                            options.fault.flag()
                        )));
                    }
                    options.fault = fault;
                }
                _ => return Err(unknown(&name)),
            }
        }
        if let Some(dots) = &options.dots {
            let count = u32::try_from(dots.len()).unwrap_or(u32::MAX);
            if tasks_given && count != options.tasks {
                return Err(Fail::usage(format!(
                    "--tasks {} but --dots lists {count} tasks",
                    options.tasks
                )));
            }
            options.tasks = count;
        }
        if options.workers == 0 || options.workers > 100 {
            return Err(Fail::usage("--workers needs 1 to 100"));
        }
        if options.tasks == 0 || options.tasks > 10_000 {
            return Err(Fail::usage("--tasks needs 1 to 10000"));
        }
        if options.fault == Fault::KillOne && options.workers < 2 {
            return Err(Fail::usage(
                "--kill-one needs at least 2 workers: another one must take over the task",
            ));
        }
        if options.fault.restarts_broker() {
            options.check_private_only(tasks_given, dot_given)?;
        }
        Ok(Some(options))
    }

    /// `--restart-broker` and `--cluster` run on private nodes of their own, once: no `--url`,
    /// no `--no-private-broker`, no `--compare`. Sets their defaults.
    fn check_private_only(&mut self, tasks_given: bool, dot_given: bool) -> Result<(), Fail> {
        let flag = self.fault.flag();
        let conflict = if self.common.url.is_some() {
            Some("--url")
        } else if self.no_private_broker {
            Some("--no-private-broker")
        } else if self.compare {
            Some("--compare")
        } else {
            None
        };
        if let Some(other) = conflict {
            return Err(Fail::usage(format!(
                "{flag} runs on private RabbitMQ nodes of its own (it restarts them), once: \
                 it cannot be used with {other}"
            )));
        }
        let cluster = self.fault == Fault::Cluster;
        if cluster && !tasks_given && self.dots.is_none() {
            self.tasks = CLUSTER_TASKS;
        }
        if cluster && !dot_given {
            self.dot = CLUSTER_DOT;
        }
        if self.publish_every.is_none() {
            // Long enough that new_task is still publishing when the connections drop: a node
            // takes a second or two to stop after it is asked to.
            let ms = if cluster { 1000 } else { 500 };
            self.publish_every = Some(Duration::from_millis(ms));
        }
        Ok(())
    }

    /// The length of each task, in dots.
    pub fn lengths(&self) -> Vec<u32> {
        self.dots
            .clone()
            .unwrap_or_else(|| demo_lengths(self.tasks, self.workers))
    }
}
