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

options:
  --workers N         how many workers (default: 3)
  --tasks M           how many tasks (default: 12)
  --dots LIST         the task lengths in dots instead, e.g. 20,1,1,1 (sets M)
  --dot-ms MS         how long one '.' of work takes, in milliseconds (default: 200)
  --prefetch K        unacked tasks a worker may hold (default: 1 = fair dispatch;
                      0 = no limit: blind round-robin)
  --compare           run with --prefetch 0, then 1, and show the summaries side by side
  --kill-one          cut one worker's TCP connection mid-task: its task is redelivered
  --no-private-broker when no broker answers, fail instead of starting a private RabbitMQ node
                      (also: DEMO_NO_PRIVATE_BROKER=1)";

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
    /// `--kill-one`.
    pub kill_one: bool,
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
            kill_one: false,
            no_private_broker: false,
        }
    }
}

impl DemoOptions {
    /// Parses the command line; `None` for `--help`.
    pub fn parse(mut args: Args) -> Result<Option<Self>, Fail> {
        let mut options = Self::default();
        let mut tasks_given = false;
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
                "dot-ms" => options.dot = Duration::from_millis(args.number(&name, value)?),
                "prefetch" => options.prefetch = args.number(&name, value)?,
                "compare" | "kill-one" | "no-private-broker" => {
                    no_value(&name, &value)?;
                    match name.as_str() {
                        "compare" => options.compare = true,
                        "kill-one" => options.kill_one = true,
                        _ => options.no_private_broker = true,
                    }
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
        if options.kill_one && options.workers < 2 {
            return Err(Fail::usage(
                "--kill-one needs at least 2 workers: another one must take over the task",
            ));
        }
        Ok(Some(options))
    }

    /// The length of each task, in dots.
    pub fn lengths(&self) -> Vec<u32> {
        self.dots
            .clone()
            .unwrap_or_else(|| demo_lengths(self.tasks, self.workers))
    }
}
