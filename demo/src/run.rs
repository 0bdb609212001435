//! The demo: the whole work-queue tutorial in one command.
//!
//! One run: a control connection declares a fresh durable queue; N workers connect (each on its
//! own connection) and start consuming; a publisher (`new_task`) sends M tasks of uneven length
//! with publisher confirms; the live view prints a line per event and a progress line; when every
//! task is acked the workers stop gracefully, the control connection checks that the queue is
//! empty and deletes it, and a summary is printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use amqp_client::{BasicProperties, FieldTable, QueueDeclareOptions, QueueDeleteOptions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::args::{no_value, unexpected, unknown, Args, Common, Own};
use crate::broker::{self, Killer, Tracer};
use crate::output::{count, say, Color, Fail, Style};
use crate::task::{demo_lengths, dots_bar, dots_in, task_number, task_text};
use crate::worker::{run_worker, WorkerConfig, WorkerEnd, WorkerEvent};

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
            let (name, value) = match arg {
                Own::Help => return Ok(None),
                Own::Word(word) => return Err(unexpected(&word)),
                Own::Opt { name, value } => (name, value),
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

/// Runs the demo with the resolved broker URL: one run, or two with `--compare`.
pub async fn run_demo(
    options: &DemoOptions,
    url: &str,
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
        let report = match run_once(options, url, prefetch, queue, style).await {
            Ok(report) => report,
            Err(fail) => {
                delete_queues(url, queues).await;
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

/// Deletes `queues` (after an interrupted run), best effort.
pub async fn delete_queues(url: &str, queues: &[String]) {
    let cleanup = async {
        let config = broker::config_for(url, "demo cleanup", None).ok()?;
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

/// What one run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The prefetch the workers used.
    pub prefetch: u16,
    /// How long one dot took.
    pub dot: Duration,
    /// One row per worker.
    pub workers: Vec<WorkerRow>,
    /// From the first publish to the last ack.
    pub wall: Duration,
    /// The sum of all task times (dots x dot).
    pub work: Duration,
    /// The longest task.
    pub longest: Duration,
    /// How many tasks were published.
    pub tasks: u32,
    /// How many of them were acked exactly once.
    pub acked_once: u32,
    /// How many were acked more than once.
    pub acked_twice: u32,
    /// How many deliveries had redelivered = true.
    pub redelivered: u32,
    /// Messages left in the queue at the end (after every worker had closed).
    pub left_in_queue: u32,
    /// Whether the run gave up waiting for the tasks.
    pub timed_out: bool,
}

/// One worker's share of a run.
#[derive(Debug, Clone)]
pub struct WorkerRow {
    /// `worker-N`.
    pub name: String,
    /// The tasks it acked, by number.
    pub tasks: Vec<u32>,
    /// The time it spent working (including work lost to a killed connection).
    pub busy: Duration,
    /// Whether `--kill-one` cut its connection.
    pub killed: bool,
}

impl Report {
    /// Whether every task was acked exactly once and nothing is left in the queue.
    pub fn ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// What is wrong, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.acked_once != self.tasks {
            problems.push(format!(
                "{} of {} tasks acked exactly once",
                self.acked_once, self.tasks
            ));
        }
        if self.acked_twice > 0 {
            problems.push(format!("{} tasks acked twice", self.acked_twice));
        }
        if self.left_in_queue > 0 {
            problems.push(format!("{} messages left in the queue", self.left_in_queue));
        }
        if self.timed_out {
            problems.push("timed out".into());
        }
        problems
    }

    /// The best possible wall time with this many workers: the work spread evenly, but never
    /// less than the longest task.
    pub fn ideal(&self) -> Duration {
        let workers = u32::try_from(self.workers.len()).unwrap_or(1).max(1);
        (self.work / workers).max(self.longest)
    }

    /// Prints the summary: a heading, one `summary worker-N ...` line per worker, the times, and
    /// the `check ...` line. Every line holds `key=value` pairs for scripts and tests.
    pub fn print(&self, style: Style) {
        let width = self.workers.iter().map(|w| w.name.len()).max().unwrap_or(8);
        say(style.paint(
            Color::Bold,
            format!(
                "── summary: prefetch {} ({}), {}, {}, dot {} ms ──",
                self.prefetch,
                dispatch_name(self.prefetch),
                count(self.workers.len() as u64, "worker"),
                count(self.tasks, "task"),
                self.dot.as_millis()
            ),
        ));
        for (i, row) in self.workers.iter().enumerate() {
            let got = if row.tasks.is_empty() {
                "-".to_owned()
            } else {
                row.tasks
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let killed = if row.killed {
                style.paint(Color::Red, "  killed=true")
            } else {
                String::new()
            };
            let pad = " ".repeat(width - row.name.len());
            say(format!(
                "summary {}{pad}  tasks={:<3} busy_ms={:<6} got={got}{killed}",
                style.worker(i + 1, &row.name),
                row.tasks.len(),
                row.busy.as_millis(),
            ));
        }
        say(format!(
            "summary wall_ms={} work_ms={} ideal_ms={}  {}",
            self.wall.as_millis(),
            self.work.as_millis(),
            self.ideal().as_millis(),
            style.paint(
                Color::Dim,
                format!(
                    "(wall time {:.2} s for {:.2} s of work on {}; at best {:.2} s)",
                    self.wall.as_secs_f64(),
                    self.work.as_secs_f64(),
                    count(self.workers.len() as u64, "worker"),
                    self.ideal().as_secs_f64()
                )
            )
        ));
        let verdict = if self.ok() {
            style.paint(
                Color::Green,
                "OK: every task acked exactly once, nothing left in the queue",
            )
        } else {
            style.paint(
                Color::Red,
                format!("FAILED: {}", self.problems().join(", ")),
            )
        };
        say(format!(
            "check acked_once={}/{} acked_twice={} redelivered={} queue_empty={}  {verdict}",
            self.acked_once,
            self.tasks,
            self.acked_twice,
            self.redelivered,
            self.left_in_queue == 0
        ));
    }
}

fn dispatch_name(prefetch: u16) -> &'static str {
    match prefetch {
        0 => "no limit: blind round-robin",
        1 => "fair dispatch",
        _ => "at most that many unacked tasks per worker",
    }
}

/// `--compare`'s table: the two runs' summaries side by side.
fn print_side_by_side(blind: &Report, fair: &Report, style: Style) {
    let cell = |row: Option<&WorkerRow>| match row {
        Some(row) => format!(
            "{:>2} tasks  busy {:>5.2} s{}",
            row.tasks.len(),
            row.busy.as_secs_f64(),
            if row.killed { " (killed)" } else { "" }
        ),
        None => "-".to_owned(),
    };
    let mut table = String::new();
    let line = |table: &mut String, label: &str, a: String, b: String| {
        let _ = writeln!(table, "  {label:<18} {a:<28} {b}");
    };
    line(&mut table, "", "prefetch 0".into(), "prefetch 1".into());
    line(
        &mut table,
        "",
        "(blind round-robin)".into(),
        "(fair dispatch)".into(),
    );
    let workers = blind.workers.len().max(fair.workers.len());
    for i in 0..workers {
        let name = blind
            .workers
            .get(i)
            .or_else(|| fair.workers.get(i))
            .map(|w| w.name.clone())
            .unwrap_or_default();
        line(
            &mut table,
            &name,
            cell(blind.workers.get(i)),
            cell(fair.workers.get(i)),
        );
    }
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    line(&mut table, "wall time", secs(blind.wall), secs(fair.wall));
    line(
        &mut table,
        "sum of task times",
        secs(blind.work),
        secs(fair.work),
    );
    line(
        &mut table,
        "redelivered",
        blind.redelivered.to_string(),
        fair.redelivered.to_string(),
    );
    let verdict = |r: &Report| {
        if r.ok() {
            "OK".to_owned()
        } else {
            "FAILED".to_owned()
        }
    };
    line(&mut table, "check", verdict(blind), verdict(fair));
    say(style.paint(
        Color::Bold,
        "── compare: the same tasks with prefetch 0 and prefetch 1 ──",
    ));
    say(table.trim_end());
    let speedup = blind.wall.as_secs_f64() / fair.wall.as_secs_f64().max(1e-3);
    say(format!(
        "compare wall_ms_prefetch0={} wall_ms_prefetch1={} speedup={speedup:.2}  {}",
        blind.wall.as_millis(),
        fair.wall.as_millis(),
        style.paint(
            Color::Dim,
            if speedup > 1.0 {
                "(prefetch 1 skips the busy worker, so the run finishes sooner)"
            } else {
                "(no gain this time: the tasks were too even to matter)"
            }
        )
    ));
}

/// What the tasks of a run tell the live view.
enum Event {
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
    /// The broker confirmed task `n`.
    Confirmed { at: Instant, text: String },
    /// Publishing failed.
    PublishFailed(Fail),
    /// Time to kill worker `n` (`--kill-one`).
    KillNow { n: usize },
}

/// A worker as the live view sees it.
struct Seat {
    name: String,
    connection_id: u64,
    killer: Option<Killer>,
    ready: bool,
    alive: bool,
    killed: bool,
    current: Option<(String, Instant)>,
    acked: Vec<u32>,
    busy: Duration,
}

/// One run of the demo with `prefetch`, on the fresh queue `queue`.
async fn run_once(
    options: &DemoOptions,
    url: &str,
    prefetch: u16,
    queue: &str,
    style: Style,
) -> Result<Report, Fail> {
    let origin = Instant::now();
    let tracer = options
        .common
        .trace
        .then(|| Tracer::new(Some(origin), style));
    let lengths = options.lengths();
    let dot = options.dot;
    let work: Duration = lengths.iter().map(|&d| dot.saturating_mul(d)).sum();
    let longest = dot.saturating_mul(lengths.iter().copied().max().unwrap_or(0));
    let shown_lengths = if lengths.len() <= 16 {
        lengths
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        format!(
            "{} ...",
            lengths[..16]
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    say(style.paint(
        Color::Bold,
        format!(
            "── demo: {}, {} (dots: {shown_lengths}), 1 dot = {} ms, prefetch {} ({}), queue '{queue}' ──",
            count(options.workers, "worker"),
            count(lengths.len() as u64, "task"),
            dot.as_millis(),
            prefetch,
            dispatch_name(prefetch),
        ),
    ));

    // The control connection: a fresh durable queue now, the check at the end.
    let control = broker::connect(broker::config_for(url, "demo control", tracer)?).await?;
    let channel = control.open_channel().await?;
    channel
        .queue_declare(queue, QueueDeclareOptions::durable(), FieldTable::new())
        .await?;
    channel.queue_purge(queue).await?;

    let (events, mut inbox) = mpsc::unbounded_channel::<Event>();
    let (stop, stop_rx) = watch::channel(false);
    let mut handles: Vec<JoinHandle<()>> = Vec::new();
    let mut seats: Vec<Seat> = Vec::new();
    for n in 1..=options.workers as usize {
        let name = format!("worker-{n}");
        seats.push(Seat {
            name: name.clone(),
            connection_id: 0,
            killer: None,
            ready: false,
            alive: true,
            killed: false,
            current: None,
            acked: Vec::new(),
            busy: Duration::ZERO,
        });
        let config = WorkerConfig {
            name: name.clone(),
            queue: queue.to_owned(),
            prefetch,
            dot,
        };
        let connection_config = broker::config_for(url, &name, tracer)?;
        let events = events.clone();
        let stop_rx = stop_rx.clone();
        handles.push(tokio::spawn(async move {
            let result = async {
                let (connection, killer) = broker::connect_killable(connection_config).await?;
                let _ = events.send(Event::Connected {
                    n,
                    connection_id: connection.id(),
                    killer,
                });
                let end = run_worker(&connection, &config, stop_rx, |event| {
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
        }));
    }

    let mut live = Live {
        style,
        origin,
        dot,
        seats,
        acks: BTreeMap::new(),
        tasks: u32::try_from(lengths.len()).unwrap_or(u32::MAX),
        redelivered: 0,
        kill_one: options.kill_one,
        kill_scheduled: false,
        max_dots: lengths.iter().copied().max().unwrap_or(0),
        events: events.clone(),
        started: None,
        last_ack: None,
    };

    // Wait until every worker consumes, so that the broker sees them all from the first task.
    let ready_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !live.seats.iter().all(|s| s.ready) {
        let event = match tokio::time::timeout_at(ready_deadline, inbox.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) | Err(_) => {
                let _ = stop.send(true);
                return Err(Fail::new("the workers did not start within 30 s"));
            }
        };
        if let Err(fail) = live.handle(event) {
            let _ = stop.send(true);
            return Err(fail);
        }
    }

    // The publisher: new_task on its own connection, persistent messages, publisher confirms.
    live.started = Some(Instant::now());
    let publisher = {
        let config = broker::config_for(url, "new_task", tracer)?;
        let events = events.clone();
        let queue = queue.to_owned();
        let lengths = lengths.clone();
        tokio::spawn(async move {
            let result: Result<(), Fail> = async {
                let connection = broker::connect(config).await?;
                let channel = connection.open_channel().await?;
                channel
                    .queue_declare(&queue, QueueDeclareOptions::durable(), FieldTable::new())
                    .await?;
                channel.confirm_select().await?;
                let _ = events.send(Event::Publishing {
                    at: Instant::now(),
                    tasks: lengths.len(),
                });
                let mut confirms = Vec::new();
                for (i, &dots) in lengths.iter().enumerate() {
                    let text = task_text(u32::try_from(i + 1).unwrap_or(u32::MAX), dots);
                    let properties = BasicProperties::default().persistent();
                    let confirm = channel
                        .basic_publish("", &queue, Default::default(), properties, text.clone())
                        .await?;
                    confirms.push((text, confirm));
                }
                for (text, confirm) in confirms {
                    confirm.wait().await?;
                    let _ = events.send(Event::Confirmed {
                        at: Instant::now(),
                        text,
                    });
                }
                connection.close().await?;
                Ok(())
            }
            .await;
            if let Err(fail) = result {
                let _ = events.send(Event::PublishFailed(fail));
            }
        })
    };
    drop(events);

    // The live view, until every task is acked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30) + work.saturating_mul(3);
    let mut timed_out = false;
    let mut failure = None;
    while live.done() < live.tasks {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(event)) => {
                if let Err(fail) = live.handle(event) {
                    failure = Some(fail);
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                say(style.paint(
                    Color::Red,
                    format!(
                        " [!] gave up waiting: {} of {} tasks done",
                        live.done(),
                        live.tasks
                    ),
                ));
                break;
            }
        }
        if live.seats.iter().all(|s| !s.alive) && live.done() < live.tasks {
            failure = Some(Fail::new("every worker is gone; tasks are left undone"));
            break;
        }
    }
    let wall = match (live.started, live.last_ack) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    };

    // Stop the workers gracefully: basic.cancel, finish (nothing is left), close.
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), publisher).await;
    for handle in handles {
        let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
    }
    while let Ok(event) = inbox.try_recv() {
        let _ = live.handle(event);
    }
    if let Some(fail) = failure {
        let _ = channel
            .queue_delete(queue, QueueDeleteOptions::default())
            .await;
        let _ = control.close().await;
        return Err(fail);
    }

    // The check: with every worker gone, an unacked message would be back in the queue.
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let check_deadline = Instant::now() + Duration::from_secs(5);
    let mut state = channel
        .queue_declare(queue, passive, FieldTable::new())
        .await?;
    while state.consumer_count > 0 && Instant::now() < check_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = channel
            .queue_declare(queue, passive, FieldTable::new())
            .await?;
    }
    let deleted = channel
        .queue_delete(queue, QueueDeleteOptions::default())
        .await?;
    control.close().await?;

    let counts = |pred: fn(u32) -> bool| {
        u32::try_from(live.acks.values().filter(|&&c| pred(c)).count()).unwrap_or(u32::MAX)
    };
    Ok(Report {
        prefetch,
        dot,
        workers: live
            .seats
            .iter()
            .map(|s| WorkerRow {
                name: s.name.clone(),
                tasks: s.acked.clone(),
                busy: s.busy,
                killed: s.killed,
            })
            .collect(),
        wall,
        work,
        longest,
        tasks: live.tasks,
        acked_once: counts(|c| c == 1),
        acked_twice: counts(|c| c > 1),
        redelivered: live.redelivered,
        left_in_queue: state.message_count.max(deleted),
        timed_out,
    })
}

/// The live view's state.
struct Live {
    style: Style,
    origin: Instant,
    dot: Duration,
    seats: Vec<Seat>,
    /// Acks per task number.
    acks: BTreeMap<u32, u32>,
    tasks: u32,
    redelivered: u32,
    kill_one: bool,
    kill_scheduled: bool,
    max_dots: u32,
    events: mpsc::UnboundedSender<Event>,
    started: Option<Instant>,
    last_ack: Option<Instant>,
}

impl Live {
    /// How many distinct tasks were acked.
    fn done(&self) -> u32 {
        u32::try_from(self.acks.len()).unwrap_or(u32::MAX)
    }

    /// `+1.234s  worker-2  ` in front of an event line.
    fn prefix(&self, at: Instant, n: usize) -> String {
        let width = self.seats.iter().map(|s| s.name.len()).max().unwrap_or(8);
        let name = self
            .seats
            .get(n - 1)
            .map(|s| s.name.as_str())
            .unwrap_or("?");
        let pad = " ".repeat(width.saturating_sub(name.len()));
        format!(
            "{}  {}{pad}  ",
            self.style.paint(
                Color::Dim,
                format!(
                    "+{:.3}s",
                    at.saturating_duration_since(self.origin).as_secs_f64()
                )
            ),
            self.style.worker(n, name)
        )
    }

    fn seat(&mut self, n: usize) -> &mut Seat {
        // `n` comes from the loop that made the seats: 1..=workers.
        &mut self.seats[n - 1]
    }

    fn handle(&mut self, event: Event) -> Result<(), Fail> {
        let style = self.style;
        match event {
            Event::Connected {
                n,
                connection_id,
                killer,
            } => {
                let seat = self.seat(n);
                seat.connection_id = connection_id;
                seat.killer = Some(killer);
            }
            Event::Worker { n, at, event } => self.on_worker(n, at, event),
            Event::Ended { n, result } => {
                let seat = self.seat(n);
                let was_ready = seat.ready;
                seat.alive = false;
                match result {
                    Ok(WorkerEnd::Stopped) => {}
                    Ok(WorkerEnd::ConnectionLost(e)) => {
                        let killed = seat.killed;
                        if !killed {
                            say(format!(
                                "{}{}",
                                self.prefix(Instant::now(), n),
                                style.paint(Color::Red, format!("lost its connection: {e}"))
                            ));
                        }
                    }
                    Err(fail) => {
                        let name = self.seat(n).name.clone();
                        if !was_ready {
                            return Err(fail.context(format!("{name} could not start")));
                        }
                        say(format!(
                            "{}{}",
                            self.prefix(Instant::now(), n),
                            style.paint(Color::Red, format!("failed: {fail}"))
                        ));
                    }
                }
            }
            Event::Publishing { at, tasks } => {
                say(format!(
                    "{}  new_task  publishing {} (persistent messages, with publisher confirms)",
                    style.paint(
                        Color::Dim,
                        format!(
                            "+{:.3}s",
                            at.saturating_duration_since(self.origin).as_secs_f64()
                        )
                    ),
                    count(tasks as u64, "task"),
                ));
            }
            Event::Confirmed { at, text } => {
                say(format!(
                    "{}  {}  [x] Sent '{text}' {}",
                    style.paint(
                        Color::Dim,
                        format!(
                            "+{:.3}s",
                            at.saturating_duration_since(self.origin).as_secs_f64()
                        )
                    ),
                    "new_task",
                    style.paint(Color::Dim, "(persistent, confirmed)")
                ));
            }
            Event::PublishFailed(fail) => return Err(fail.context("new_task")),
            Event::KillNow { n } => {
                let seat = self.seat(n);
                match (&seat.current, &seat.killer, seat.alive) {
                    (Some((body, _)), Some(killer), true) => {
                        let body = body.clone();
                        killer.kill();
                        seat.killed = true;
                        say(format!(
                            "{}{}",
                            self.prefix(Instant::now(), n),
                            style.paint(
                                Color::Red,
                                format!(
                                    "--kill-one: cutting its TCP connection mid-task ('{body}'), no AMQP close"
                                )
                            )
                        ));
                    }
                    // It finished that task already: try again with the next one.
                    _ => self.kill_scheduled = false,
                }
            }
        }
        Ok(())
    }

    fn on_worker(&mut self, n: usize, at: Instant, event: WorkerEvent) {
        let style = self.style;
        let prefix = self.prefix(at, n);
        match event {
            WorkerEvent::Ready => {
                let seat = self.seat(n);
                seat.ready = true;
                let connection = seat.connection_id;
                say(format!(
                    "{prefix}ready (connection c{connection}, consuming with manual acks)"
                ));
            }
            WorkerEvent::Received {
                body,
                redelivered,
                work,
            } => {
                self.seat(n).current = Some((body.clone(), at));
                let again = if redelivered {
                    self.redelivered += 1;
                    style.paint(
                        Color::Yellow,
                        "  redelivered=true (a worker died holding it)",
                    )
                } else {
                    String::new()
                };
                say(format!(
                    "{prefix}received '{body}'{again}  {}",
                    style.paint(Color::Dim, format!("{} ms of work", work.as_millis()))
                ));
                self.maybe_schedule_kill(n, &body);
            }
            WorkerEvent::Done { .. } => {}
            WorkerEvent::Acked { body, took } => {
                self.last_ack = Some(at);
                let seat = self.seat(n);
                seat.current = None;
                seat.busy += took;
                if let Some(number) = task_number(&body) {
                    seat.acked.push(number);
                    *self.acks.entry(number).or_insert(0) += 1;
                }
                say(format!(
                    "{prefix}{} '{body}' after {} ms, acked",
                    style.paint(Color::Green, "done"),
                    took.as_millis()
                ));
                self.print_progress();
            }
            WorkerEvent::Cancelled { .. } => {}
            WorkerEvent::HandedBack { body } => say(format!(
                "{prefix}handed '{body}' back (basic.reject, requeue)"
            )),
            WorkerEvent::Abandoned {
                body,
                after,
                reason,
            } => {
                let seat = self.seat(n);
                seat.current = None;
                seat.busy += after;
                seat.alive = false;
                say(format!(
                    "{prefix}{}",
                    style.paint(
                        Color::Red,
                        format!(
                            "connection lost after {} ms on '{body}' (the client saw: {reason}): not acked, the broker will redeliver it",
                            after.as_millis()
                        )
                    )
                ));
            }
        }
    }

    /// `--kill-one`: the first time a worker starts a task that lasts at least two dots (or any
    /// task, if none does) while another worker is alive, cut its connection one dot later.
    fn maybe_schedule_kill(&mut self, n: usize, body: &str) {
        let alive = self.seats.iter().filter(|s| s.alive).count();
        let dots = dots_in(body);
        if !self.kill_one || self.kill_scheduled || alive < 2 {
            return;
        }
        if dots < 2 && self.max_dots >= 2 {
            return;
        }
        self.kill_scheduled = true;
        let delay = if dots >= 2 { self.dot } else { self.dot / 2 };
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::KillNow { n });
        });
    }

    /// `progress done 7/12 | worker-1 Task 8 ..... | worker-2 idle | ...`
    fn print_progress(&self) {
        let mut line = format!("progress done {}/{}", self.done(), self.tasks);
        for (i, seat) in self.seats.iter().enumerate() {
            let doing = match (&seat.current, seat.alive, seat.killed) {
                (_, false, true) => "killed".to_owned(),
                (_, false, false) => "stopped".to_owned(),
                (Some((body, _)), ..) => match task_number(body) {
                    Some(number) => format!("#{number} {}", dots_bar(dots_in(body), 8)),
                    None => body.clone(),
                },
                (None, ..) => "idle".to_owned(),
            };
            let _ = write!(line, " | {} {doing}", self.style.worker(i + 1, &seat.name));
        }
        say(self.style.paint(Color::Dim, line));
    }
}
