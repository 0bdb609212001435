//! The summary of one run: what it found ([`Report`]), whether that is right, and the
//! `summary ...`, `recovery ...`, `note ...` and `check ...` lines that show it.

use std::time::Duration;

use crate::output::{count, say, Color, Style};

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
    /// How many of those no lost connection explains (a bug if not 0).
    pub unexplained_twice: u32,
    /// How many were never acked.
    pub never_acked: u32,
    /// How many deliveries had redelivered = true.
    pub redelivered: u32,
    /// Messages left in the queue at the end (after every worker had closed).
    pub left_in_queue: u32,
    /// Whether the run gave up waiting for the tasks.
    pub timed_out: bool,
    /// What connection recovery did during the run.
    pub recovery: RecoveryCounts,
    /// One line per task done more than once, saying why.
    pub notes: Vec<String>,
}

/// What connection recovery did during a run, counted over every connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryCounts {
    /// Nodes restarted by the operator.
    pub restarts: u32,
    /// Connections lost (ConnectionEvent::Disconnected).
    pub disconnected: u32,
    /// Connections recovered (ConnectionEvent::Recovered).
    pub recovered: u32,
    /// Failed reconnection attempts.
    pub failed_attempts: u32,
    /// Consumers that consume again.
    pub consumers_restored: u32,
    /// Acks that could not count (stale delivery tags).
    pub stale_acks: u32,
    /// Publishes in doubt, published again.
    pub in_doubt: u32,
}

impl RecoveryCounts {
    /// Whether anything happened at all.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// One worker's share of a run.
#[derive(Debug, Clone)]
pub struct WorkerRow {
    /// `worker-N`.
    pub name: String,
    /// The tasks it acked, by number.
    pub tasks: Vec<u32>,
    /// The tasks it did whose ack could not count (the connection was lost meanwhile).
    pub lost_acks: Vec<u32>,
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

    /// What is wrong, if anything. A task acked twice is wrong unless a lost connection
    /// explains it (see the notes).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.never_acked > 0 {
            problems.push(format!(
                "{} of {} tasks never acked",
                self.never_acked, self.tasks
            ));
        }
        if self.unexplained_twice > 0 {
            problems.push(format!(
                "{} tasks acked twice with no lost connection to explain it",
                self.unexplained_twice
            ));
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
            let lost = if row.lost_acks.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = row.lost_acks.iter().map(u32::to_string).collect();
                style.paint(Color::Yellow, format!("  ack_lost={}", list.join(",")))
            };
            let pad = " ".repeat(width - row.name.len());
            say(format!(
                "summary {}{pad}  tasks={:<3} busy_ms={:<6} got={got}{killed}{lost}",
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
        self.print_recovery(style);
        for note in &self.notes {
            say(format!("note {note}"));
        }
        let verdict = if self.ok() && self.notes.is_empty() {
            style.paint(
                Color::Green,
                "OK: every task acked exactly once, nothing left in the queue",
            )
        } else if self.ok() {
            style.paint(
                Color::Green,
                format!(
                    "OK: every task acked, nothing left in the queue; {} done more than once, \
                     each for the reason noted above",
                    count(u64::try_from(self.notes.len()).unwrap_or(u64::MAX), "task")
                ),
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

impl Report {
    /// The `recovery ...` line, when anything was restarted or recovered.
    fn print_recovery(&self, style: Style) {
        let r = &self.recovery;
        if !r.any() {
            return;
        }
        let meaning = if r.disconnected == r.recovered {
            "every lost connection came back by itself"
        } else {
            "not every lost connection came back"
        };
        say(format!(
            "recovery restarts={} disconnected={} recovered={} failed_attempts={} \
             consumers_restored={} stale_acks={} in_doubt={}  {}",
            r.restarts,
            r.disconnected,
            r.recovered,
            r.failed_attempts,
            r.consumers_restored,
            r.stale_acks,
            r.in_doubt,
            style.paint(Color::Dim, format!("({meaning})"))
        ));
    }
}

pub(super) fn dispatch_name(prefetch: u16) -> &'static str {
    match prefetch {
        0 => "no limit: blind round-robin",
        1 => "fair dispatch",
        _ => "at most that many unacked tasks per worker",
    }
}
