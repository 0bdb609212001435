//! What happened to each task of a run, by task number: who received it (and whether
//! redelivered), who acked it, whose ack was lost, whether its publish was in doubt. The check
//! and the notes of the summary come from here: a task done twice is fine when a lost connection
//! explains it, and a failure when nothing does.

use std::collections::BTreeMap;

/// One task's story.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TaskLog {
    /// Each delivery: the worker (numbered from 1) and the redelivered flag.
    deliveries: Vec<(usize, bool)>,
    /// The workers whose ack was sent.
    acks: Vec<usize>,
    /// The workers whose ack could not count: (worker, stale). Stale: nothing was sent.
    lost_acks: Vec<(usize, bool)>,
    /// How many times its publish was in doubt and it was published again.
    in_doubt: u32,
}

/// Every task's story.
#[derive(Debug, Clone, Default)]
pub(super) struct Ledger {
    tasks: BTreeMap<u32, TaskLog>,
}

impl Ledger {
    pub(super) fn received(&mut self, task: u32, worker: usize, redelivered: bool) {
        self.log(task).deliveries.push((worker, redelivered));
    }

    pub(super) fn acked(&mut self, task: u32, worker: usize) {
        self.log(task).acks.push(worker);
    }

    pub(super) fn ack_lost(&mut self, task: u32, worker: usize, stale: bool) {
        self.log(task).lost_acks.push((worker, stale));
    }

    pub(super) fn in_doubt(&mut self, task: u32) {
        self.log(task).in_doubt += 1;
    }

    /// How many distinct tasks were acked.
    pub(super) fn done(&self) -> u32 {
        count(self.tasks.values().filter(|t| !t.acks.is_empty()))
    }

    /// How many tasks were acked a number of times that `pred` accepts.
    pub(super) fn tasks_acked(&self, pred: fn(usize) -> bool) -> u32 {
        count(self.tasks.values().filter(|t| pred(t.acks.len())))
    }

    /// How many acks could not count because the connection was recovered since the delivery.
    pub(super) fn stale_acks(&self) -> u32 {
        count(
            self.tasks
                .values()
                .flat_map(|t| &t.lost_acks)
                .filter(|(_, stale)| *stale),
        )
    }

    /// How many publishes were in doubt (and published again).
    pub(super) fn in_doubt_count(&self) -> u32 {
        self.tasks.values().map(|t| t.in_doubt).sum()
    }

    /// How many tasks were acked more than once with no lost connection to explain it.
    pub(super) fn unexplained_twice(&self) -> u32 {
        count(
            self.tasks
                .values()
                .filter(|t| t.acks.len() > 1 && explain(t).is_none()),
        )
    }

    /// One note per task that was done more than once, saying why (`name` names worker `n`):
    /// `task 4 done twice: worker-2's ack was stale ...`.
    pub(super) fn notes(&self, name: impl Fn(usize) -> String) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.deliveries.len() > 1 || t.acks.len() > 1)
            .map(|(number, t)| {
                let times = match t.deliveries.len().max(t.acks.len()) {
                    2 => "twice".to_owned(),
                    n => format!("{n} times"),
                };
                let who: Vec<String> = t
                    .deliveries
                    .iter()
                    .enumerate()
                    .map(|(i, &(w, _))| {
                        let again = i > 0 && t.deliveries[..i].iter().any(|&(v, _)| v == w);
                        if again {
                            format!("{} again", name(w))
                        } else {
                            name(w)
                        }
                    })
                    .collect();
                let why = explain(t).map_or_else(
                    || "nothing explains it".to_owned(),
                    |why| why.describe(&name),
                );
                format!(
                    "task {number} done {times} (by {}): {why}",
                    who.join(", then ")
                )
            })
            .collect()
    }

    fn log(&mut self, task: u32) -> &mut TaskLog {
        self.tasks.entry(task).or_default()
    }
}

/// Why a task was done more than once.
enum Why {
    /// A worker's ack could not count (stale, or lost on the way), and the broker redelivered.
    AckLost { worker: usize, stale: bool },
    /// Its ack was sent but the broker redelivered it: the ack was lost with the connection.
    AckSentButLost,
    /// Its publish was in doubt, so it was published again: two copies.
    PublishedTwice,
}

impl Why {
    fn describe(&self, name: &impl Fn(usize) -> String) -> String {
        match self {
            Self::AckLost {
                worker,
                stale: true,
            } => format!(
                "{}'s ack was stale (its delivery tag was from the connection the restart \
                 ended, so nothing was sent) and the broker redelivered the task",
                name(*worker)
            ),
            Self::AckLost { worker, .. } => format!(
                "{}'s ack was on its way when the connection was lost, and the broker \
                 redelivered the task",
                name(*worker)
            ),
            Self::AckSentButLost => "an ack was lost with the connection in the restart, and the \
                                     broker redelivered the task"
                .to_owned(),
            Self::PublishedTwice => "its publish was in doubt (the confirm was lost with the \
                                     connection), so new_task published it again"
                .to_owned(),
        }
    }
}

/// What explains a task done more than once, if anything does.
fn explain(t: &TaskLog) -> Option<Why> {
    let redelivered = t.deliveries.iter().any(|&(_, again)| again);
    if let Some(&(worker, stale)) = t.lost_acks.first() {
        return Some(Why::AckLost { worker, stale });
    }
    if t.in_doubt > 0 {
        return Some(Why::PublishedTwice);
    }
    redelivered.then_some(Why::AckSentButLost)
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: usize) -> String {
        format!("worker-{n}")
    }

    #[test]
    fn a_stale_ack_explains_a_task_done_twice_and_acked_once() {
        let mut ledger = Ledger::default();
        ledger.received(4, 2, false);
        ledger.ack_lost(4, 2, true);
        ledger.received(4, 1, true);
        ledger.acked(4, 1);
        assert_eq!((ledger.done(), ledger.tasks_acked(|c| c == 1)), (1, 1));
        assert_eq!(ledger.stale_acks(), 1);
        assert_eq!(ledger.unexplained_twice(), 0);
        let notes = ledger.notes(name);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].starts_with(
                "task 4 done twice (by worker-2, then worker-1): worker-2's ack was stale"
            ),
            "{notes:?}"
        );
    }

    #[test]
    fn two_acks_need_a_lost_connection_to_explain_them() {
        let mut ledger = Ledger::default();
        ledger.received(1, 1, false);
        ledger.acked(1, 1);
        ledger.received(1, 2, false);
        ledger.acked(1, 2);
        assert_eq!(ledger.unexplained_twice(), 1);
        assert!(ledger.notes(name)[0].ends_with("nothing explains it"));
        ledger.in_doubt(1);
        assert_eq!(ledger.unexplained_twice(), 0);
        let mut ledger = Ledger::default();
        ledger.received(2, 1, false);
        ledger.acked(2, 1);
        ledger.received(2, 1, true);
        ledger.acked(2, 1);
        assert_eq!(ledger.unexplained_twice(), 0);
        assert_eq!(ledger.tasks_acked(|c| c > 1), 1);
    }
}
