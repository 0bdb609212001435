//! Helpers for the demo's integration tests: running the binaries (to completion, or in the
//! background reading their output line by line as it comes), reading the demo's summary, and
//! looking at a queue on the shared broker.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use amqp_client::{FieldTable, QueueDeclareOptions, QueueDeleteOptions};

pub use amqp_testkit::{amqp_url, require_broker, unique_name};

/// The `demo` binary.
pub const DEMO: &str = env!("CARGO_BIN_EXE_demo");
/// The `new_task` binary.
pub const NEW_TASK: &str = env!("CARGO_BIN_EXE_new_task");
/// The `worker` binary.
pub const WORKER: &str = env!("CARGO_BIN_EXE_worker");

/// A URL where no broker answers (port 1 on this machine).
pub const NO_BROKER_URL: &str = "amqp://guest:guest@127.0.0.1:1/%2f";

/// A command for one of the binaries, with `--url` set to the shared broker, no colour, and the
/// private-node fallback off (tests that want it remove the variable).
pub fn bin(path: &str) -> Command {
    let mut cmd = Command::new(path);
    cmd.env("NO_COLOR", "1")
        .env("DEMO_NO_PRIVATE_BROKER", "1")
        .env("AMQP_URL", amqp_url())
        .stdin(Stdio::null());
    cmd
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Finished {
    /// Panics with the output unless the process exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "unexpected exit status; {self}"
        );
        self
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {} after {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.status, self.took, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to the end (at most `timeout`; then it is killed and the test fails).
pub fn run(mut cmd: Command, timeout: Duration) -> Finished {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stdout so far:\n{}\nstderr:\n{}",
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// A process running in the background whose output lines (stdout and stderr, the latter
/// prefixed with `stderr: `) are read as they come. Killed on drop if still running.
pub struct Running {
    pub name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Running {
    pub fn spawn(name: &str, mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = tx.send(format!("stderr: {line}"));
                }
            });
        }
        Self {
            name: name.to_owned(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `timeout`) for a line containing `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{} printed no line containing {needle:?} within {timeout:?}; it printed:\n{}",
                    self.name,
                    self.output()
                ),
            }
        }
    }

    /// Reads the lines that come within `timeout` (without failing when none do).
    pub fn pump(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
    }

    /// How many lines seen so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(needle)).count()
    }

    /// Sends SIGINT, as Ctrl+C in a terminal does.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT {} failed", self.pid());
    }

    /// Waits (at most `timeout`) for the process to exit, reading the rest of its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                self.pump(Duration::from_millis(100));
                panic!(
                    "{} did not exit within {timeout:?}; it printed:\n{}",
                    self.name,
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.pump(Duration::from_secs(2));
        status
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything seen so far, one line each.
    pub fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One worker's `summary` line of a demo run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSummary {
    pub tasks: usize,
    pub busy_ms: u64,
    pub got: Vec<u32>,
    pub killed: bool,
}

/// One demo run's summary, read from its `summary` and `check` lines.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub workers: BTreeMap<String, WorkerSummary>,
    /// `wall_ms`, `work_ms`, `ideal_ms`.
    pub times: BTreeMap<String, u64>,
    /// The `key=value` pairs of the `check` line.
    pub check: BTreeMap<String, String>,
    /// The check line's words after the pairs: `OK: ...` or `FAILED: ...`.
    pub verdict: String,
}

fn pairs(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The summaries of the runs in a demo's output, in order (two with `--compare`).
pub fn summaries(stdout: &str) -> Vec<Summary> {
    let mut runs = Vec::new();
    let mut current = Summary::default();
    for line in stdout.lines() {
        // Only lines that start with the word: `--compare`'s table has an indented `check` row.
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        match line
            .starts_with(|c: char| !c.is_whitespace())
            .then(|| words.next())
            .flatten()
        {
            Some("summary") => {
                let first = words.next().unwrap_or_default();
                let kv = pairs(line);
                if first.contains('=') {
                    for key in ["wall_ms", "work_ms", "ideal_ms"] {
                        let value = kv[key].parse().expect("a number of ms");
                        current.times.insert(key.to_owned(), value);
                    }
                } else {
                    let got = match kv["got"].as_str() {
                        "-" => Vec::new(),
                        list => list
                            .split(',')
                            .map(|n| n.parse().expect("a task number"))
                            .collect(),
                    };
                    current.workers.insert(
                        first.to_owned(),
                        WorkerSummary {
                            tasks: kv["tasks"].parse().expect("a task count"),
                            busy_ms: kv["busy_ms"].parse().expect("busy_ms"),
                            got,
                            killed: kv.get("killed").is_some_and(|v| v == "true"),
                        },
                    );
                }
            }
            Some("check") => {
                current.check = pairs(line);
                current.verdict = line
                    .split("  ")
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim()
                    .to_owned();
                runs.push(std::mem::take(&mut current));
            }
            _ => {}
        }
    }
    runs
}

impl Summary {
    /// Panics unless the check line says every one of `tasks` tasks was acked exactly once and
    /// the queue is empty.
    pub fn assert_nothing_lost(&self, tasks: u32, output: &str) {
        assert_eq!(
            self.check.get("acked_once").map(String::as_str),
            Some(format!("{tasks}/{tasks}").as_str()),
            "{output}"
        );
        assert_eq!(
            self.check.get("acked_twice").map(String::as_str),
            Some("0"),
            "{output}"
        );
        assert_eq!(
            self.check.get("queue_empty").map(String::as_str),
            Some("true"),
            "{output}"
        );
    }

    /// The check line's `redelivered` count.
    pub fn redelivered(&self) -> u32 {
        self.check["redelivered"].parse().expect("a number")
    }

    /// Panics unless the check line says OK: every one of `tasks` tasks acked, nothing left in
    /// the queue, and every task acked twice explained (by a lost ack or an in-doubt publish).
    pub fn assert_ok(&self, tasks: u32, output: &str) {
        let once: u32 = self.check_number("acked_once/");
        let twice: u32 = self.check["acked_twice"].parse().expect("a number");
        assert_eq!(once + twice, tasks, "every task acked; {output}");
        assert_eq!(
            self.check.get("queue_empty").map(String::as_str),
            Some("true"),
            "{output}"
        );
        assert!(self.verdict.starts_with("OK"), "{output}");
    }

    /// The number before the `/` of `acked_once=11/12` (the key given with its `/`).
    fn check_number(&self, key: &str) -> u32 {
        let key = key.trim_end_matches('/');
        self.check[key]
            .split('/')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    }
}

/// The `recovery ...` line's `key=value` pairs (empty when there is none).
pub fn recovery_counts(stdout: &str) -> BTreeMap<String, u32> {
    stdout
        .lines()
        .find(|l| l.starts_with("recovery "))
        .map(|line| {
            pairs(line)
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `f` on a small tokio runtime (the tests themselves are plain `#[test]`s).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// The number of ready messages and of consumers of durable queue `queue` on the shared broker
/// (queue.declare passive).
pub fn queue_state(queue: &str) -> (u32, u32) {
    block_on(async {
        let connection = amqp_client::connect(&amqp_url()).await.expect("connect");
        let channel = connection.open_channel().await.expect("channel");
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let ok = channel
            .queue_declare(queue, options, FieldTable::new())
            .await
            .unwrap_or_else(|e| panic!("queue {queue} should exist: {e}"))
            .expect("queue.declare without nowait has a declare-ok");
        let _ = connection.close().await;
        (ok.message_count, ok.consumer_count)
    })
}

/// Waits (at most 5 s) until `queue` has no consumers, then returns its ready messages.
pub fn messages_once_idle(queue: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (messages, consumers) = queue_state(queue);
        if consumers == 0 || Instant::now() > deadline {
            assert_eq!(consumers, 0, "queue {queue} still has consumers");
            return messages;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Deletes `queue` on the shared broker when dropped (also when the test fails).
pub struct QueueGuard(pub String);

impl QueueGuard {
    pub fn new(prefix: &str) -> Self {
        Self(unique_name(prefix))
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        let queue = self.0.clone();
        let _ = std::panic::catch_unwind(|| {
            block_on(async {
                if let Ok(connection) = amqp_client::connect(&amqp_url()).await {
                    if let Ok(channel) = connection.open_channel().await {
                        let _ = channel
                            .queue_delete(&queue, QueueDeleteOptions::default())
                            .await;
                    }
                    let _ = connection.close().await;
                }
            })
        });
    }
}
