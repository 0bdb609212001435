//! The live view of a run: the heading, a line per event as the workers and the publisher report
//! them, a progress line per ack, and what it saw, for the report. It also carries out
//! `--kill-one`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::event::Event;
use super::report::{dispatch_name, WorkerRow};
use super::Plan;
use crate::broker::Killer;
use crate::output::{count, say, Color, Fail, Style};
use crate::task::{dots_bar, dots_in, task_number};
use crate::worker::{WorkerEnd, WorkerEvent};

/// Prints the run's heading: `── demo: 3 workers, 12 tasks (dots: 5 1 1 ...), ... ──`.
pub(super) fn print_heading(plan: &Plan, queue: &str, style: Style) {
    let lengths = &plan.lengths;
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
            count(plan.workers, "worker"),
            count(lengths.len() as u64, "task"),
            plan.dot.as_millis(),
            plan.prefetch,
            dispatch_name(plan.prefetch),
        ),
    ));
}

/// How watching the run until every task is acked ended.
pub(super) enum Outcome {
    /// Every task was acked (or no one is left to report anything).
    Finished,
    /// The time ran out first (said on a ` [!] gave up waiting` line).
    TimedOut,
    /// A worker could not start, the publisher failed, or every worker is gone.
    Failed(Fail),
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

impl Seat {
    fn new(name: String) -> Self {
        Self {
            name,
            connection_id: 0,
            killer: None,
            ready: false,
            alive: true,
            killed: false,
            current: None,
            acked: Vec::new(),
            busy: Duration::ZERO,
        }
    }
}

/// The live view's state.
pub(super) struct Live {
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
    inbox: mpsc::UnboundedReceiver<Event>,
    started: Option<Instant>,
    last_ack: Option<Instant>,
}

impl Live {
    /// The view of `plan`'s run, its clock started at `origin`, one seat per worker.
    pub(super) fn new(plan: &Plan, origin: Instant, style: Style) -> Self {
        let (events, inbox) = mpsc::unbounded_channel();
        Self {
            style,
            origin,
            dot: plan.dot,
            seats: plan.worker_names().map(Seat::new).collect(),
            acks: BTreeMap::new(),
            tasks: plan.tasks(),
            redelivered: 0,
            kill_one: plan.kill_one,
            kill_scheduled: false,
            max_dots: plan.max_dots(),
            events,
            inbox,
            started: None,
            last_ack: None,
        }
    }

    /// Where the run's tasks send their [`Event`]s.
    pub(super) fn events(&self) -> mpsc::UnboundedSender<Event> {
        self.events.clone()
    }

    /// Shows events until every worker consumes, at most `limit`.
    pub(super) async fn until_ready(&mut self, limit: Duration) -> Result<(), Fail> {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.seats.iter().all(|s| s.ready) {
            let event = match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) | Err(_) => {
                    return Err(Fail::new(format!(
                        "the workers did not start within {} s",
                        limit.as_secs()
                    )))
                }
            };
            self.handle(event)?;
        }
        Ok(())
    }

    /// Starts the wall clock: the tasks are about to be published.
    pub(super) fn start_clock(&mut self) {
        self.started = Some(Instant::now());
    }

    /// Shows events until every task is acked, at most `limit`.
    pub(super) async fn until_done(&mut self, limit: Duration) -> Outcome {
        let deadline = tokio::time::Instant::now() + limit;
        while self.done() < self.tasks {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(event)) => {
                    if let Err(fail) = self.handle(event) {
                        return Outcome::Failed(fail);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    say(self.style.paint(
                        Color::Red,
                        format!(
                            " [!] gave up waiting: {} of {} tasks done",
                            self.done(),
                            self.tasks
                        ),
                    ));
                    return Outcome::TimedOut;
                }
            }
            if self.seats.iter().all(|s| !s.alive) && self.done() < self.tasks {
                return Outcome::Failed(Fail::new("every worker is gone; tasks are left undone"));
            }
        }
        Outcome::Finished
    }

    /// Shows the events already sent (once the run's tasks have ended).
    pub(super) fn drain(&mut self) {
        while let Ok(event) = self.inbox.try_recv() {
            let _ = self.handle(event);
        }
    }

    /// From the start of the clock to the last ack so far.
    pub(super) fn wall(&self) -> Duration {
        match (self.started, self.last_ack) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        }
    }

    /// One row per worker for the report.
    pub(super) fn worker_rows(&self) -> Vec<WorkerRow> {
        self.seats
            .iter()
            .map(|s| WorkerRow {
                name: s.name.clone(),
                tasks: s.acked.clone(),
                busy: s.busy,
                killed: s.killed,
            })
            .collect()
    }

    /// How many tasks were acked a number of times that `pred` accepts.
    pub(super) fn tasks_acked(&self, pred: fn(u32) -> bool) -> u32 {
        u32::try_from(self.acks.values().filter(|&&c| pred(c)).count()).unwrap_or(u32::MAX)
    }

    /// How many deliveries had redelivered = true.
    pub(super) fn redelivered(&self) -> u32 {
        self.redelivered
    }

    /// How many distinct tasks were acked.
    fn done(&self) -> u32 {
        u32::try_from(self.acks.len()).unwrap_or(u32::MAX)
    }

    /// `+1.234s`: the time of an event since the run began.
    fn clock(&self, at: Instant) -> String {
        self.style.paint(
            Color::Dim,
            format!(
                "+{:.3}s",
                at.saturating_duration_since(self.origin).as_secs_f64()
            ),
        )
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
        format!("{}  {}{pad}  ", self.clock(at), self.style.worker(n, name))
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
                    self.clock(at),
                    count(tasks as u64, "task"),
                ));
            }
            Event::Confirmed { at, text } => {
                say(format!(
                    "{}  {}  [x] Sent '{text}' {}",
                    self.clock(at),
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
