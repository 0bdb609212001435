//! `new_task` and `worker` against the real broker: Ctrl+C once (graceful) and twice (at once),
//! and interop with the tutorial's Python scripts (pika) on the same queue, both ways.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use amqp_testkit::close_connection;
use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// `worker --queue QUEUE --name NAME --dot-ms DOT_MS`, running.
fn worker(queue: &str, name: &str, dot_ms: u32) -> Running {
    let mut cmd = bin(WORKER);
    cmd.args([
        "--queue",
        queue,
        "--name",
        name,
        "--dot-ms",
        &dot_ms.to_string(),
    ]);
    let mut worker = Running::spawn(name, cmd);
    worker.wait_for(
        &format!(" [*] {name} waiting for messages in '{queue}'"),
        WAIT,
    );
    worker
}

/// `new_task --queue QUEUE ARGS...`, to the end.
fn new_task(queue: &str, args: &[&str]) -> Finished {
    let mut cmd = bin(NEW_TASK);
    cmd.args(["--queue", queue]).args(args);
    let out = run(cmd, WAIT);
    out.expect_code(0);
    out
}

#[test]
fn new_task_publishes_words_or_numbered_tasks_and_says_sent() {
    require_broker();
    let queue = QueueGuard::new("demo-new-task");
    let out = new_task(&queue.0, &["First", "message."]);
    assert_eq!(out.stdout, " [x] Sent 'First message.'\n", "{out}");
    let out = new_task(&queue.0, &["--count", "3"]);
    assert_eq!(
        out.stdout, " [x] Sent 'Task 1 .'\n [x] Sent 'Task 2 ..'\n [x] Sent 'Task 3 ...'\n",
        "{out}"
    );
    assert_eq!(queue_state(&queue.0), (4, 0));
}

#[test]
fn ctrl_c_once_finishes_and_acks_the_current_task_then_closes_cleanly() {
    require_broker();
    let queue = QueueGuard::new("demo-graceful");
    let mut w = worker(&queue.0, "graceful", 100);
    // The first task takes 1 s; the second must stay in the queue: after Ctrl+C the worker takes
    // no new task.
    new_task(&queue.0, &["slow", "task.........."]);
    w.wait_for(" [x] graceful received 'slow task..........'", WAIT);
    new_task(&queue.0, &["next", "task."]);
    w.interrupt();
    w.wait_for(" [*] Ctrl+C: taking no new tasks", WAIT);
    w.wait_for(" [*] graceful: consumer cancelled (basic.cancel)", WAIT);
    w.wait_for(" [x] Done", WAIT);
    w.wait_for(" [*] graceful stopped cleanly", WAIT);
    let status = w.wait_exit(WAIT);
    assert!(status.success(), "{status}; {}", w.output());
    assert_eq!(w.count("received"), 1, "{}", w.output());
    // Acked, so not requeued: only the task it never took is left.
    assert_eq!(messages_once_idle(&queue.0), 1, "{}", w.output());
    let mut next = worker(&queue.0, "next", 10);
    let line = next.wait_for(" [x] next received", WAIT);
    assert_eq!(line, " [x] next received 'next task.'", "not redelivered");
}

#[test]
fn ctrl_c_twice_quits_at_once_and_the_broker_redelivers_the_task() {
    require_broker();
    let queue = QueueGuard::new("demo-twice");
    let mut w = worker(&queue.0, "impatient", 1000);
    new_task(&queue.0, &["a", "long", "task.........."]);
    w.wait_for(" [x] impatient received 'a long task..........'", WAIT);
    w.interrupt();
    w.wait_for(" [*] Ctrl+C: taking no new tasks", WAIT);
    w.interrupt();
    let status = w.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(130), "{}", w.output());
    assert_eq!(w.count(" [x] Done"), 0, "{}", w.output());
    let mut other = worker(&queue.0, "other", 10);
    other.wait_for(
        " [x] other received 'a long task..........' (redelivered)",
        WAIT,
    );
    other.wait_for(" [x] Done", WAIT);
}

#[test]
fn a_worker_whose_connection_is_closed_mid_task_recovers_and_gets_the_task_again() {
    require_broker();
    let queue = QueueGuard::new("demo-recover");
    // The worker's name is its connection's name, by which the broker's operator closes it.
    let name = unique_name("recovering");
    // 5 s of work: rabbitmqctl takes a second or two to close the connection.
    let mut w = worker(&queue.0, &name, 500);
    new_task(&queue.0, &["a", "task.........."]);
    w.wait_for(&format!(" [x] {name} received 'a task..........'"), WAIT);
    close_connection(&name, "demo test: forced close").expect("rabbitmqctl close_connection");
    // The worker finishes the task meanwhile; its ack is then stale, and the broker,
    // which put the task back when the connection closed, delivers it again.
    w.wait_for(
        &format!(" [!] {name}: task 'a task..........' was redelivered: its ack is stale"),
        WAIT,
    );
    w.wait_for(
        &format!(" [x] {name} received 'a task..........' (redelivered)"),
        WAIT,
    );
    w.pump(Duration::from_millis(6000));
    let out = w.output();
    assert_eq!(
        w.count(&format!(
            " [*] {name}: disconnected: connection closed by the broker: 320"
        )),
        1,
        "{out}"
    );
    assert_eq!(
        w.count(&format!(" [*] {name}: recovered: connected to")),
        1,
        "{out}"
    );
    assert_eq!(w.count(" [x] Done"), 2, "done twice, acked once; {out}");
    w.interrupt();
    w.wait_for(&format!(" [*] {name} stopped cleanly"), WAIT);
    assert!(w.wait_exit(WAIT).success(), "{}", w.output());
    assert_eq!(messages_once_idle(&queue.0), 0, "{}", w.output());
}

fn pika_script(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "tests", "pika", name]
        .iter()
        .collect();
    assert!(path.is_file(), "{} is missing", path.display());
    path.display().to_string()
}

/// Fails loudly (never skips) when pika is missing.
fn require_pika() {
    let ok = Command::new("python3")
        .args(["-c", "import pika"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "\n\n*** the interop test needs Python's pika: `pip install pika` \
         (or `python3 -m pip install --break-system-packages pika`; `bash .ci/run` does it)\n\n"
    );
}

fn python(script: &str, queue: &str) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-u")
        .arg(pika_script(script))
        .env("AMQP_URL", amqp_url())
        .env("TASK_QUEUE", queue)
        .env("DOT_SECONDS", "0.02");
    cmd
}

fn pika_worker(queue: &str) -> Running {
    let mut w = Running::spawn("pika worker.py", python("worker.py", queue));
    w.wait_for(" [*] Waiting for messages. To exit press CTRL+C", WAIT);
    w
}

fn pika_new_task(queue: &str, words: &[&str]) {
    let mut cmd = python("new_task.py", queue);
    cmd.args(words);
    let out = run(cmd, WAIT);
    out.expect_code(0);
    assert!(out.stdout.starts_with(" [x] Sent "), "{out}");
}

/// Waits until the broker holds no message of `queue`, unacked ones included. pika's worker prints
/// " [x] Done" before it acks (as the tutorial's does), and its blocking connection sends the ack
/// later: interrupting it as soon as "Done" shows can lose the last ack, and the task is then
/// (rightly) requeued.
fn wait_until_all_acked(queue: &str) {
    amqp_testkit::wait_until(WAIT, "every task to be acked", || {
        amqp_testkit::rabbitmqctl(&[
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages",
        ])
        .is_ok_and(|out| {
            out.lines().any(|line| {
                let mut fields = line.split_whitespace();
                fields.next() == Some(queue) && fields.next() == Some("0")
            })
        })
    });
}

#[test]
fn a_pika_worker_takes_tasks_from_our_new_task() {
    require_broker();
    require_pika();
    let queue = QueueGuard::new("demo-interop-to-pika");
    let mut pika = pika_worker(&queue.0);
    new_task(&queue.0, &["--count", "3"]);
    for task in ["Task 1 .", "Task 2 ..", "Task 3 ..."] {
        // Our new_task's messages are persistent (delivery_mode 2).
        pika.wait_for(
            &format!(" [x] Received {task} (delivery_mode=2, redelivered=False)"),
            WAIT,
        );
        pika.wait_for(" [x] Done", WAIT);
    }
    wait_until_all_acked(&queue.0);
    pika.interrupt();
    pika.wait_exit(WAIT);
    assert_eq!(messages_once_idle(&queue.0), 0, "{}", pika.output());
}

#[test]
fn our_worker_takes_tasks_from_pikas_new_task() {
    require_broker();
    require_pika();
    let queue = QueueGuard::new("demo-interop-from-pika");
    let mut ours = worker(&queue.0, "rusty", 20);
    pika_new_task(&queue.0, &["Hello", "from", "pika.."]);
    ours.wait_for(" [x] rusty received 'Hello from pika..'", WAIT);
    ours.wait_for(" [x] Done", WAIT);
    ours.interrupt();
    let status = ours.wait_exit(WAIT);
    assert!(status.success(), "{status}; {}", ours.output());
    assert_eq!(messages_once_idle(&queue.0), 0, "{}", ours.output());
}

#[test]
fn pika_and_our_workers_compete_on_the_same_queue() {
    require_broker();
    require_pika();
    let queue = QueueGuard::new("demo-interop-compete");
    let mut pika = pika_worker(&queue.0);
    let mut ours = worker(&queue.0, "rusty", 20);
    // Tasks from both publishers; each worker holds one at a time (prefetch 1), so both work.
    new_task(&queue.0, &["--count", "6"]);
    pika_new_task(&queue.0, &["From", "pika", "1.."]);
    pika_new_task(&queue.0, &["From", "pika", "2.."]);
    let deadline = std::time::Instant::now() + WAIT;
    while pika.count(" [x] Done") + ours.count(" [x] Done") < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "not all 8 tasks done;\npika:\n{}\nours:\n{}",
            pika.output(),
            ours.output()
        );
        pika.pump(Duration::from_millis(50));
        ours.pump(Duration::from_millis(50));
    }
    let (by_pika, by_ours) = (pika.count(" [x] Done"), ours.count(" [x] Done"));
    assert_eq!(by_pika + by_ours, 8);
    assert!(
        by_pika >= 1 && by_ours >= 1,
        "both should work: pika {by_pika}, ours {by_ours}"
    );
    wait_until_all_acked(&queue.0);
    pika.interrupt();
    ours.interrupt();
    pika.wait_exit(WAIT);
    assert!(ours.wait_exit(WAIT).success(), "{}", ours.output());
    assert_eq!(messages_once_idle(&queue.0), 0);
}
