//! Polling: [`wait_until`].

use std::thread;
use std::time::{Duration, Instant};

/// Calls `f` every 50 ms until it returns `true`; panics, naming `what`, if that does not happen
/// within `timeout`.
///
/// `f` is always called at least once, and once more after the deadline has passed, e.g.
/// `wait_until(Duration::from_secs(10), "the connection to show up in list_connections", || ...)`.
pub fn wait_until(timeout: Duration, what: &str, f: impl FnMut() -> bool) {
    if !poll_until(timeout, f) {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}

/// [`wait_until`] without the panic: whether `f` returned `true` within `timeout`.
pub(crate) fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            // One last look: the deadline may have passed while `f` or the sleep ran.
            return f();
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_returns_once_true() {
        let mut calls = 0;
        wait_until(Duration::from_secs(5), "three calls", || {
            calls += 1;
            calls == 3
        });
        assert_eq!(calls, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 120ms waiting for the impossible")]
    fn wait_until_panics_on_timeout() {
        wait_until(Duration::from_millis(120), "the impossible", || false);
    }
}
