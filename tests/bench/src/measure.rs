//! What a child process measures of itself: CPU time (all threads) and
//! peak RSS, read from /proc, so no libc (and no unsafe) is needed:
//! `/proc/self/task/*/schedstat` gives each thread's time on CPU in
//! nanoseconds, for the timed section; `/proc/self/stat` gives the whole
//! process's user+sys (exited threads included, as getrusage would) in
//! clock ticks, at exit; `/proc/self/status` VmHWM the peak RSS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Per-thread CPU time, in ns, of every live thread of this process.
fn thread_cpu_ns() -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let path = entry.path().join("schedstat");
        if let Some(ns) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
        {
            out.insert(tid, ns);
        }
    }
    out
}

/// user+sys of the whole process (exited threads included), from
/// `/proc/self/stat` fields 14 and 15, in clock ticks of 1/100 s (USER_HZ
/// is 100 on Linux whatever the kernel's HZ; `getconf CLK_TCK` says so).
pub(crate) fn process_cpu() -> Duration {
    const CLK_TCK: u64 = 100;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces; fields restart after ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is fields[n - 3].
    let ticks = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let total = ticks(14).unwrap_or(0) + ticks(15).unwrap_or(0);
    Duration::from_millis(total * 1000 / CLK_TCK)
}

/// Peak resident set size (VmHWM) in KiB.
pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A stopwatch for the timed section: wall time and the CPU time of all
/// threads. A thread that exits inside the section loses the part it spent
/// there (only idle helper threads ever do); one started inside counts whole.
///
/// The kernel brings a thread's schedstat up to date when it is switched
/// out (or at a tick), so the calling thread sleeps briefly before each
/// reading: otherwise its own figure could lag by up to a tick.
pub(crate) struct Section {
    wall: Instant,
    cpu: HashMap<u32, u64>,
}

fn settle() {
    std::thread::sleep(Duration::from_micros(100));
}

impl Section {
    pub(crate) fn start() -> Self {
        settle();
        let cpu = thread_cpu_ns();
        Self {
            wall: Instant::now(),
            cpu,
        }
    }

    /// (wall time, CPU time) since start.
    pub(crate) fn stop(&self) -> (Duration, Duration) {
        let wall = self.wall.elapsed();
        settle();
        let now = thread_cpu_ns();
        let ns: u64 = now
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(self.cpu.get(tid).copied().unwrap_or(0)))
            .sum();
        (wall, Duration::from_nanos(ns))
    }
}

/// Latency samples, in µs.
#[derive(Debug, Default)]
pub(crate) struct Latencies(Vec<f64>);

impl Latencies {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e6);
    }

    /// The p-th percentile (nearest rank), p in 0..=100.
    pub(crate) fn percentile(&mut self, p: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        for us in 1..=100 {
            l.push(Duration::from_micros(us));
        }
        assert_eq!(l.percentile(50.0), Some(50.0));
        assert_eq!(l.percentile(99.0), Some(99.0));
        assert_eq!(l.percentile(100.0), Some(100.0));
    }

    #[test]
    fn proc_readings_are_there() {
        let s = Section::start();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let (_, cpu) = s.stop();
        assert!(cpu > Duration::ZERO);
        assert!(peak_rss_kib() > 0);
    }
}
