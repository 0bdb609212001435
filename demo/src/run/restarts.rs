//! The operator's part of `--restart-broker` and `--cluster`: restart the broker's nodes one at
//! a time, each once the workers have acked its share of the tasks, so that every restart finds
//! work in hand (a task being worked on, tasks in the queue, a publisher publishing). A restart
//! ends every connection to that node; the clients recover on their own, which is what the run
//! shows.

use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::event::Event;
use crate::operator::Operator;

/// After how many acked tasks each node (in order) is restarted: one node a third of the way;
/// `n` nodes at 1/(n+2), 2/(n+2), ... of the way, early, because each restart takes a while
/// (8-20 s) and the next one waits for it; never before the first ack.
pub(super) fn thresholds(tasks: u32, nodes: usize) -> Vec<u32> {
    let nodes = u32::try_from(nodes).unwrap_or(u32::MAX);
    let parts = if nodes == 1 {
        3
    } else {
        nodes.saturating_add(2)
    };
    (1..=nodes)
        .map(|k| (tasks.saturating_mul(k) / parts).max(1))
        .collect()
}

/// Restarts every node of `operator` in turn, node `i` once `done` (the number of tasks acked)
/// reaches `thresholds[i]` and the previous restart is over, reporting each step to the live
/// view. Stops at the first failure.
pub(super) fn start(
    operator: Operator,
    thresholds: Vec<u32>,
    mut done: watch::Receiver<u32>,
    events: mpsc::UnboundedSender<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        for (node, threshold) in thresholds.into_iter().enumerate() {
            // The sender gone means the run is over.
            if done.wait_for(|&d| d >= threshold).await.is_err() {
                return;
            }
            let label = operator.label(node).to_owned();
            let _ = events.send(Event::Restarting {
                at: Instant::now(),
                label: label.clone(),
            });
            match operator.restart(node).await {
                Ok(took) => {
                    let _ = events.send(Event::Restarted {
                        at: Instant::now(),
                        label,
                        took,
                    });
                }
                Err(fail) => {
                    let _ = events.send(Event::RestartFailed(fail));
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_spread_over_the_run() {
        assert_eq!(thresholds(12, 1), vec![4]);
        assert_eq!(thresholds(30, 3), vec![6, 12, 18]);
        assert_eq!(thresholds(2, 3), vec![1, 1, 1]);
    }
}
