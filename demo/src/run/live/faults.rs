//! What the faults of a run bring to the live view: `--kill-one`'s cut, the operator's
//! restarts, the connections' recovery events, acks that could not count and publishes in
//! doubt. Each is shown as one line and counted for the report.

use std::time::{Duration, Instant};

use amqp_client::ConnectionEvent;

use super::super::event::{Event, Who};
use super::super::options::Fault;
use super::Live;
use crate::output::{say, Color};
use crate::recovery::{painted, Watched};
use crate::task::{dots_in, task_number};

impl Live {
    /// `--kill-one`: the first time a worker starts a task that lasts at least two dots (or any
    /// task, if none does) while another worker is alive, cut its connection one dot later.
    pub(super) fn maybe_schedule_kill(&mut self, n: usize, body: &str) {
        let alive = self.seats.iter().filter(|s| s.alive).count();
        let dots = dots_in(body);
        if self.fault != Fault::KillOne || self.kill_scheduled || alive < 2 {
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

    /// `--kill-one`'s cut, if worker `n` still holds a task.
    pub(super) fn kill_now(&mut self, n: usize) {
        let style = self.style;
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

    /// A connection's recovery event: counted, and shown as one line, as the client words it.
    ///
    /// While a node is down each connection tries again and again (every 2 s at most): only
    /// the first attempt and its failure are shown; the others are counted, and the
    /// `recovered` line says how many attempts it took.
    pub(super) fn on_recovery(&mut self, who: Who, at: Instant, watched: &Watched) {
        let mut note = "";
        if let Watched::Event(event) = watched {
            let counts = &mut self.recovery;
            match event {
                ConnectionEvent::Disconnected { .. } => counts.disconnected += 1,
                ConnectionEvent::Recovered { .. } => counts.recovered += 1,
                ConnectionEvent::ConsumerRestored { .. } => counts.consumers_restored += 1,
                ConnectionEvent::AttemptFailed { attempt, .. } => {
                    counts.failed_attempts += 1;
                    if *attempt > 1 {
                        return;
                    }
                    note = "  (the next attempts are counted, not shown)";
                }
                ConnectionEvent::Recovering { attempt, .. } if *attempt > 1 => return,
                _ => {}
            }
        }
        let prefix = match who {
            Who::Worker(n) => self.prefix(at, n),
            Who::Publisher => self.other_prefix(at, "new_task"),
            Who::Control => self.other_prefix(at, "demo control"),
        };
        say(format!(
            "{prefix}{}{}",
            painted(self.style, watched),
            self.style.paint(Color::Dim, note)
        ));
    }

    /// Worker `n` did `body` but its ack could not count: the broker redelivers the task.
    pub(super) fn on_ack_lost(
        &mut self,
        n: usize,
        at: Instant,
        body: &str,
        took: Duration,
        stale: bool,
        reason: &str,
    ) {
        let prefix = self.prefix(at, n);
        let seat = self.seat(n);
        seat.current = None;
        seat.busy += took;
        if let Some(number) = task_number(body) {
            seat.lost.push(number);
            self.ledger.ack_lost(number, n, stale);
        }
        let line = if stale {
            format!(
                "task '{body}' was redelivered: its ack is stale (done after {} ms, but the \
                 connection was recovered since it came: nothing sent)",
                took.as_millis()
            )
        } else {
            format!(
                "the ack of '{body}' may be lost ({reason}); if it is, the broker redelivers it"
            )
        };
        say(format!("{prefix}{}", self.style.paint(Color::Yellow, line)));
    }

    /// The publish of `text` was in doubt; new_task publishes it again.
    pub(super) fn on_in_doubt(&mut self, at: Instant, text: &str, reason: &str) {
        if let Some(number) = task_number(text) {
            self.ledger.in_doubt(number);
        }
        say(format!(
            "{}{}",
            self.other_prefix(at, "new_task"),
            self.style.paint(
                Color::Yellow,
                format!(
                    "'{text}' is in doubt ({reason}): publishing it again (at-least-once: a \
                     worker may get it twice)"
                )
            )
        ));
    }

    /// The operator starts restarting the node `label`.
    pub(super) fn on_restarting(&mut self, at: Instant, label: &str) {
        self.recovery.restarts += 1;
        let holding: Vec<String> = self
            .seats
            .iter()
            .filter_map(|s| Some(format!("{} holds '{}'", s.name, s.current.as_ref()?.0)))
            .collect();
        let holding = if holding.is_empty() {
            "no worker holds a task".to_owned()
        } else {
            holding.join(", ")
        };
        say(format!(
            "{}{}",
            self.other_prefix(at, "operator"),
            self.style.paint(
                Color::Red,
                format!(
                    "{}: restarting {label} (rabbitmqctl stop: it closes every connection, then \
                     a start on the same folder); done {}/{}, {holding}",
                    self.fault.flag(),
                    self.done(),
                    self.tasks
                )
            )
        ));
    }

    /// The node `label` is back.
    pub(super) fn on_restarted(&mut self, at: Instant, label: &str, took: Duration) {
        self.restarts_left = self.restarts_left.saturating_sub(1);
        say(format!(
            "{}{}",
            self.other_prefix(at, "operator"),
            self.style.paint(
                Color::Green,
                format!(
                    "{label} is back after {:.1} s, with the durable queue and its persistent \
                     messages",
                    took.as_secs_f64()
                )
            )
        ));
    }
}
