//! The heading of a run: what it does, in one line, and with `--restart-broker` or `--cluster`
//! a second line on what will be restarted when.

use super::super::options::Fault;
use super::super::report::dispatch_name;
use super::super::Plan;
use crate::operator::Operator;
use crate::output::{count, say, Color, Style};
use crate::queue::WorkQueue;

/// Prints the run's heading: `── demo: 3 workers, 12 tasks (dots: 5 1 1 ...), ... ──`.
pub(in crate::run) fn print_heading(
    plan: &Plan,
    queue: &WorkQueue,
    operator: Option<&Operator>,
    style: Style,
) {
    let lengths = &plan.lengths;
    let shown: Vec<String> = lengths.iter().take(16).map(u32::to_string).collect();
    let more = if lengths.len() > 16 { " ..." } else { "" };
    say(style.paint(
        Color::Bold,
        format!(
            "── demo: {}, {} (dots: {}{more}), 1 dot = {} ms, prefetch {} ({}), {} ──",
            count(plan.workers, "worker"),
            count(lengths.len() as u64, "task"),
            shown.join(" "),
            plan.dot.as_millis(),
            plan.prefetch,
            dispatch_name(plan.prefetch),
            queue.describe(),
        ),
    ));
    let Some(operator) = operator else {
        return;
    };
    let publishing = match plan.pace {
        Some(pace) => format!("new_task publishes a task every {} ms", pace.as_millis()),
        None => "new_task publishes every task at once".to_owned(),
    };
    let restarts = match (plan.fault, plan.restarts.as_slice()) {
        (Fault::Cluster, at) => {
            let each: Vec<String> = at
                .iter()
                .enumerate()
                .map(|(i, done)| format!("node {} at {done} done", i + 1))
                .collect();
            format!(
                "every connection knows all {} nodes; each node is restarted in turn ({})",
                operator.node_count(),
                each.join(", ")
            )
        }
        (_, [done, ..]) => format!(
            "the broker is restarted once {done} of {} tasks are done",
            plan.tasks()
        ),
        (_, []) => "nothing is restarted".to_owned(),
    };
    say(style.paint(
        Color::Bold,
        format!(
            "── {}: {publishing}; {restarts}; every connection recovers by itself ──",
            plan.fault.flag()
        ),
    ));
}
