//! `--compare`'s table: the summaries of the prefetch 0 and prefetch 1 runs side by side, and
//! the speed-up.

use std::fmt::Write as _;
use std::time::Duration;

use super::report::{Report, WorkerRow};
use crate::output::{say, Color, Style};

/// `--compare`'s table: the two runs' summaries side by side.
pub(super) fn print_side_by_side(blind: &Report, fair: &Report, style: Style) {
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
