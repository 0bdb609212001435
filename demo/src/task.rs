//! Tasks as the tutorial writes them: a text whose dots say how long the work takes (one second
//! per `.` in the tutorial; one "dot unit" here, see `--dot-ms`).

use std::time::Duration;

/// The text of task number `n` with `dots` dots: `Task 3 ...`.
pub fn task_text(n: u32, dots: u32) -> String {
    format!("Task {n} {}", ".".repeat(dots as usize))
}

/// The texts of tasks 1, 2, ... with these lengths in dots: `Task 1 .....`, `Task 2 .`, ...
pub fn task_texts(lengths: impl IntoIterator<Item = u32>) -> Vec<String> {
    (1..)
        .zip(lengths)
        .map(|(n, dots)| task_text(n, dots))
        .collect()
}

/// How many dots `body` has: the units of work it asks for.
pub fn dots_in(body: &str) -> u32 {
    u32::try_from(body.matches('.').count()).unwrap_or(u32::MAX)
}

/// How long a worker works on `body`: one `dot` per `.`.
pub fn work_time(body: &str, dot: Duration) -> Duration {
    dot.saturating_mul(dots_in(body))
}

/// The number of a task written by [`task_text`] (`Task 7 ...` is 7); `None` for other texts.
pub fn task_number(body: &str) -> Option<u32> {
    body.strip_prefix("Task ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many dots a long task of the demo has.
pub const LONG_TASK_DOTS: u32 = 5;

/// The demo's uneven task lengths: every `workers`-th task (1, 1 + workers, ...) is long
/// ([`LONG_TASK_DOTS`] dots), the others take one dot.
///
/// Blind round-robin hands every `workers`-th task to the same worker, so with prefetch 0 one
/// worker gets all the long tasks while the others sit idle; with prefetch 1 the broker skips
/// the busy worker and the run finishes sooner.
pub fn demo_lengths(tasks: u32, workers: u32) -> Vec<u32> {
    let workers = workers.max(1);
    (0..tasks)
        .map(|i| if i % workers == 0 { LONG_TASK_DOTS } else { 1 })
        .collect()
}

/// Dots shown as a bar for the progress line, at most `max` of them: `.....`.
pub fn dots_bar(dots: u32, max: u32) -> String {
    if dots <= max {
        ".".repeat(dots as usize)
    } else {
        format!("{}+", ".".repeat(max as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_dots_and_numbers() {
        assert_eq!(task_text(1, 1), "Task 1 .");
        assert_eq!(task_text(12, 3), "Task 12 ...");
        assert_eq!(task_texts([5, 1]), vec!["Task 1 .....", "Task 2 ."]);
        assert_eq!(dots_in("First message."), 1);
        assert_eq!(dots_in("Hello World!"), 0);
        assert_eq!(
            work_time("a.b..", Duration::from_millis(200)),
            Duration::from_millis(600)
        );
        assert_eq!(task_number("Task 12 ..."), Some(12));
        assert_eq!(task_number("Task 3"), Some(3));
        assert_eq!(task_number("First message."), None);
        assert_eq!(dots_bar(3, 5), "...");
        assert_eq!(dots_bar(9, 5), ".....+");
    }

    #[test]
    fn every_nth_task_is_long() {
        assert_eq!(demo_lengths(7, 3), vec![5, 1, 1, 5, 1, 1, 5]);
        assert_eq!(demo_lengths(2, 1), vec![5, 5]);
        assert_eq!(demo_lengths(3, 0), vec![5, 5, 5]);
    }
}
