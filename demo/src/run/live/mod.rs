//! The live view of a run: the heading, a line per event as the workers, the publisher, the
//! connections' recovery and the operator report them, a progress line per ack, and what it saw,
//! for the report. It also carries out `--kill-one`.
//!
//! `heading` prints the heading; `faults` handles what a fault brings (a killed worker, a
//! restarted node, recovery events, in-doubt publishes).

mod faults;
mod heading;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use amqp_client::Endpoint;
use tokio::sync::{mpsc, watch};

use super::event::Event;
use super::ledger::Ledger;
use super::options::Fault;
use super::report::{RecoveryCounts, WorkerRow};
use super::Plan;
use crate::broker::Killer;
use crate::output::{count, say, Color, Fail, Style};
use crate::task::{dots_bar, dots_in, task_number};
use crate::worker::{WorkerEnd, WorkerEvent};

pub(super) use heading::print_heading;

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
    endpoint: Option<Endpoint>,
    killer: Option<Killer>,
    ready: bool,
    alive: bool,
    killed: bool,
    current: Option<(String, Instant)>,
    acked: Vec<u32>,
    /// Tasks it did whose ack could not count.
    lost: Vec<u32>,
    busy: Duration,
}

impl Seat {
    fn new(name: String) -> Self {
        Self {
            name,
            connection_id: 0,
            endpoint: None,
            killer: None,
            ready: false,
            alive: true,
            killed: false,
            current: None,
            acked: Vec::new(),
            lost: Vec::new(),
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
    /// What happened to each task.
    ledger: Ledger,
    tasks: u32,
    redelivered: u32,
    fault: Fault,
    kill_scheduled: bool,
    /// Restarts not over yet: the run is not done before they are.
    restarts_left: usize,
    /// What recovery did, counted.
    recovery: RecoveryCounts,
    /// How many tasks are done, for the operator (who restarts nodes as they get done).
    progress: watch::Sender<u32>,
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
            ledger: Ledger::default(),
            tasks: plan.tasks(),
            redelivered: 0,
            fault: plan.fault,
            kill_scheduled: false,
            restarts_left: plan.restarts.len(),
            recovery: RecoveryCounts::default(),
            progress: watch::Sender::new(0),
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

    /// How many tasks are done, as it changes.
    pub(super) fn progress(&self) -> watch::Receiver<u32> {
        self.progress.subscribe()
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

    /// Shows events until every task is acked and every restart is over, at most `limit`.
    pub(super) async fn until_done(&mut self, limit: Duration) -> Outcome {
        let deadline = tokio::time::Instant::now() + limit;
        while self.done() < self.tasks || self.restarts_left > 0 {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(event)) => {
                    if let Err(fail) = self.handle(event) {
                        return Outcome::Failed(fail);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    let restarts = if self.restarts_left > 0 {
                        format!(
                            ", {} left to restart",
                            count(self.restarts_left as u64, "node")
                        )
                    } else {
                        String::new()
                    };
                    say(self.style.paint(
                        Color::Red,
                        format!(
                            " [!] gave up waiting: {} of {} tasks done{restarts}",
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
                lost_acks: s.lost.clone(),
                busy: s.busy,
                killed: s.killed,
            })
            .collect()
    }

    /// What happened to each task.
    pub(super) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// What recovery did during the run.
    pub(super) fn recovery_counts(&self) -> RecoveryCounts {
        RecoveryCounts {
            stale_acks: self.ledger.stale_acks(),
            in_doubt: self.ledger.in_doubt_count(),
            ..self.recovery
        }
    }

    /// Worker `n`'s name (from 1).
    pub(super) fn worker_name(&self, n: usize) -> String {
        self.seats
            .get(n.wrapping_sub(1))
            .map_or_else(|| format!("worker-{n}"), |s| s.name.clone())
    }

    /// How many deliveries had redelivered = true.
    pub(super) fn redelivered(&self) -> u32 {
        self.redelivered
    }

    /// How many distinct tasks were acked.
    fn done(&self) -> u32 {
        self.ledger.done()
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

    /// `+1.234s  new_task  ` in front of a line that is not a worker's.
    fn other_prefix(&self, at: Instant, name: &str) -> String {
        format!("{}  {name}  ", self.clock(at))
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
                endpoint,
            } => {
                let seat = self.seat(n);
                seat.connection_id = connection_id;
                seat.killer = killer;
                seat.endpoint = endpoint;
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
            Event::Publishing { at, tasks, pace } => {
                let pace =
                    pace.map_or_else(String::new, |p| format!(", one every {} ms", p.as_millis()));
                say(format!(
                    "{}  new_task  publishing {}{pace} (persistent messages, with publisher confirms)",
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
            Event::KillNow { n } => self.kill_now(n),
            Event::InDoubt { at, text, reason } => self.on_in_doubt(at, &text, &reason),
            Event::Recovery { who, at, watched } => self.on_recovery(who, at, &watched),
            Event::Restarting { at, label } => self.on_restarting(at, &label),
            Event::Restarted { at, label, took } => self.on_restarted(at, &label, took),
            Event::RestartFailed(fail) => {
                self.restarts_left = 0;
                return Err(fail);
            }
        }
        Ok(())
    }

    fn on_worker(&mut self, n: usize, at: Instant, event: WorkerEvent) {
        let style = self.style;
        let prefix = self.prefix(at, n);
        match event {
            WorkerEvent::Ready => {
                let cluster = self.fault == Fault::Cluster;
                let seat = self.seat(n);
                seat.ready = true;
                let connection = seat.connection_id;
                // On a cluster, which node it is on matters: that node's restart moves it.
                let on = match (&seat.endpoint, cluster) {
                    (Some(endpoint), true) => format!(" to {endpoint}"),
                    _ => String::new(),
                };
                say(format!(
                    "{prefix}ready (connection c{connection}{on}, consuming with manual acks)"
                ));
            }
            WorkerEvent::Received {
                body,
                redelivered,
                work,
            } => {
                self.seat(n).current = Some((body.clone(), at));
                if let Some(number) = task_number(&body) {
                    self.ledger.received(number, n, redelivered);
                }
                let again = if redelivered {
                    self.redelivered += 1;
                    let why = if self.fault.restarts_broker() {
                        "delivered before a restart, and not acked then"
                    } else {
                        "a worker died holding it"
                    };
                    style.paint(Color::Yellow, format!("  redelivered=true ({why})"))
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
                    self.ledger.acked(number, n);
                }
                say(format!(
                    "{prefix}{} '{body}' after {} ms, acked",
                    style.paint(Color::Green, "done"),
                    took.as_millis()
                ));
                self.progress.send_replace(self.done());
                self.print_progress();
            }
            WorkerEvent::AckLost {
                body,
                took,
                stale,
                reason,
            } => self.on_ack_lost(n, at, &body, took, stale, &reason),
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
