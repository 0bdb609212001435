//! The seven RabbitMQ tutorials (`demo/examples/`) against the real broker: each example is run
//! as a process and its output checked line by line. Receivers are started first and the test
//! waits for their ` [*] Waiting` line, which they print only once their queue is bound and
//! consumed from, before anything is emitted.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use amqp_client::{BasicProperties, ExchangeDeleteOptions, FieldTable};
use common::*;

const WAIT: Duration = Duration::from_secs(30);
const WAITING_FOR_LOGS: &str = " [*] Waiting for logs. To exit press CTRL+C";

/// The folder of the compiled examples, built once per test process. `cargo test --test
/// examples` does not build examples, and `CARGO_BIN_EXE_*` names binaries only, so the
/// examples are built here with the cargo that runs the tests (a no-op when they are fresh).
fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // target/<profile>/deps/examples-<hash> → target/<profile>/examples
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test executable is in target/<profile>/deps");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "-p", "demo", "--examples"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build --examples");
        assert!(status.success(), "cargo build -p demo --examples: {status}");
        profile_dir.join("examples")
    })
}

/// A command for example `name` with the shared broker's URL (see `common::bin`).
fn example(name: &str, args: &[&str]) -> Command {
    let path = examples_dir().join(name);
    let mut cmd = bin(path.to_str().expect("a UTF-8 path"));
    cmd.args(args);
    cmd
}

/// Runs example `name` to the end; it must succeed.
fn run_ok(name: &str, args: &[&str]) -> Finished {
    let out = run(example(name, args), WAIT);
    out.expect_code(0);
    out
}

/// Starts example `name` and waits for its `ready` line.
fn start(name: &str, args: &[&str], ready: &str) -> Running {
    let mut running = Running::spawn(name, example(name, args));
    running.wait_for(ready, WAIT);
    running
}

/// Waits for `running` to exit successfully and returns every line it printed.
fn lines_at_exit(mut running: Running) -> Vec<String> {
    let status = running.wait_exit(WAIT);
    assert!(
        status.success(),
        "{}: {status}; {}",
        running.name,
        running.output()
    );
    std::mem::take(&mut running.seen)
}

/// Deletes exchange `.0` on the shared broker when dropped (also when the test fails).
struct ExchangeGuard(String);

impl ExchangeGuard {
    fn new(prefix: &str) -> Self {
        Self(unique_name(prefix))
    }
}

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        let exchange = self.0.clone();
        let _ = std::panic::catch_unwind(|| {
            block_on(async {
                if let Ok(connection) = amqp_client::connect(&amqp_url()).await {
                    if let Ok(channel) = connection.open_channel().await {
                        let _ = channel
                            .exchange_delete(&exchange, ExchangeDeleteOptions::default())
                            .await;
                    }
                    let _ = connection.close().await;
                }
            })
        });
    }
}

// ===== 1 "Hello World!" =====

#[test]
fn hello_world_is_sent_and_received() {
    require_broker();
    let queue = QueueGuard::new("tutorial-hello");
    let receiver = start(
        "receive",
        &["--queue", &queue.0, "--count", "1"],
        " [*] Waiting for messages. To exit press CTRL+C",
    );
    let sent = run_ok("send", &["--queue", &queue.0]);
    assert_eq!(sent.stdout, " [x] Sent 'Hello World!'\n", "{sent}");
    assert_eq!(
        lines_at_exit(receiver),
        [
            " [*] Waiting for messages. To exit press CTRL+C",
            " [x] Received 'Hello World!'"
        ]
    );
    assert_eq!(messages_once_idle(&queue.0), 0);
}

#[test]
fn a_receiver_without_count_stops_cleanly_on_ctrl_c() {
    require_broker();
    let queue = QueueGuard::new("tutorial-ctrl-c");
    let mut receiver = start(
        "receive",
        &["--queue", &queue.0],
        " [*] Waiting for messages",
    );
    receiver.interrupt();
    let status = receiver.wait_exit(WAIT);
    assert!(status.success(), "{status}; {}", receiver.output());
    // Its consumer is gone with its connection.
    assert_eq!(messages_once_idle(&queue.0), 0);
}

// ===== 3 Publish/Subscribe =====

#[test]
fn fanout_copies_each_log_to_every_receiver_and_drops_it_when_none_listens() {
    require_broker();
    let exchange = ExchangeGuard::new("tutorial-logs");
    let x = exchange.0.as_str();
    // No receiver yet: no queue is bound, so the exchange drops this one.
    let out = run_ok("emit_log", &["--exchange", x, "info: nobody hears this"]);
    assert_eq!(out.stdout, " [x] Sent info: nobody hears this\n", "{out}");

    let args = ["--exchange", x, "--count", "1"];
    let first = start("receive_logs", &args, WAITING_FOR_LOGS);
    let second = start("receive_logs", &args, WAITING_FOR_LOGS);
    let out = run_ok("emit_log", &["--exchange", x]);
    assert_eq!(out.stdout, " [x] Sent info: Hello World!\n", "{out}");
    for receiver in [first, second] {
        assert_eq!(
            lines_at_exit(receiver),
            [WAITING_FOR_LOGS, " [x] info: Hello World!"]
        );
    }
}

// ===== 4 Routing =====

#[test]
fn direct_exchange_delivers_only_the_subscribed_severities() {
    require_broker();
    let exchange = ExchangeGuard::new("tutorial-direct-logs");
    let x = exchange.0.as_str();
    let problems = start(
        "receive_logs_direct",
        &["--exchange", x, "--count", "2", "warning", "error"],
        WAITING_FOR_LOGS,
    );
    let info = start(
        "receive_logs_direct",
        &["--exchange", x, "--count", "2", "info"],
        WAITING_FOR_LOGS,
    );
    // Each receiver exits after two messages; the ones it must not get are sent before the ones
    // it must, so a wrongly routed message would be among the two it printed.
    for (severity, message) in [
        ("debug", "d1"),
        ("warning", "w1"),
        ("info", "i1"),
        ("error", "e1"),
        ("info", "i2"),
    ] {
        let out = run_ok("emit_log_direct", &["--exchange", x, severity, message]);
        assert_eq!(out.stdout, format!(" [x] Sent {severity}:{message}\n"));
    }
    assert_eq!(
        lines_at_exit(problems),
        [WAITING_FOR_LOGS, " [x] warning:w1", " [x] error:e1"]
    );
    assert_eq!(
        lines_at_exit(info),
        [WAITING_FOR_LOGS, " [x] info:i1", " [x] info:i2"]
    );
}

#[test]
fn receive_logs_direct_without_severities_is_a_usage_error() {
    let out = run(example("receive_logs_direct", &[]), WAIT);
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(
        out.stderr,
        "error: usage: receive_logs_direct [info] [warning] [error] (see --help)\n"
    );
    let out = run(example("receive_logs_direct", &["--severity", "x"]), WAIT);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: unknown option --severity (see --help)\n"
    );
}

// ===== 5 Topics =====

#[test]
fn topic_patterns_match_one_word_with_star_and_any_words_with_hash() {
    require_broker();
    let exchange = ExchangeGuard::new("tutorial-topic-logs");
    let x = exchange.0.as_str();
    let critical = start(
        "receive_logs_topic",
        &["--exchange", x, "--count", "2", "*.critical"],
        WAITING_FOR_LOGS,
    );
    let kern = start(
        "receive_logs_topic",
        &["--exchange", x, "--count", "3", "kern.#"],
        WAITING_FOR_LOGS,
    );
    for key in [
        "anonymous.info",     // neither
        "kern.disk.critical", // kern.# only: `*` is exactly one word
        "cron.critical",      // *.critical only
        "kern",               // kern.# only: `#` is zero words too
        "kern.critical",      // both
    ] {
        let out = run_ok("emit_log_topic", &["--exchange", x, key, "m"]);
        assert_eq!(out.stdout, format!(" [x] Sent {key}:m\n"));
    }
    assert_eq!(
        lines_at_exit(critical),
        [
            WAITING_FOR_LOGS,
            " [x] cron.critical:m",
            " [x] kern.critical:m"
        ]
    );
    assert_eq!(
        lines_at_exit(kern),
        [
            WAITING_FOR_LOGS,
            " [x] kern.disk.critical:m",
            " [x] kern:m",
            " [x] kern.critical:m"
        ]
    );
}

// ===== 6 RPC =====

#[test]
fn rpc_client_gets_fib_from_rpc_server() {
    require_broker();
    let queue = QueueGuard::new("tutorial-rpc");
    let server = start(
        "rpc_server",
        &["--queue", &queue.0, "--count", "2"],
        " [x] Awaiting RPC requests",
    );
    let out = run_ok(
        "rpc_client",
        &["--queue", &queue.0, "--timeout", "10", "10", "1"],
    );
    assert_eq!(
        out.stdout, " [x] Requesting fib(10)\n [.] Got 55\n [x] Requesting fib(1)\n [.] Got 1\n",
        "{out}"
    );
    assert_eq!(
        lines_at_exit(server),
        [" [x] Awaiting RPC requests", " [.] fib(10)", " [.] fib(1)"]
    );
    assert_eq!(messages_once_idle(&queue.0), 0);
}

#[test]
fn rpc_client_ignores_a_reply_with_another_correlation_id() {
    require_broker();
    let queue = QueueGuard::new("tutorial-rpc-fake");
    // The test plays the server: it answers the request twice, first with a stranger's
    // correlation id and a wrong answer, then correctly.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let fake_server = {
        let queue = queue.0.clone();
        std::thread::spawn(move || {
            block_on(async move {
                let connection = amqp_client::connect(&amqp_url()).await.expect("connect");
                let channel = connection.open_channel().await.expect("channel");
                channel
                    .queue_declare(&queue, Default::default(), FieldTable::new())
                    .await
                    .expect("declare");
                let mut requests = channel
                    .basic_consume(&queue, "", Default::default(), FieldTable::new())
                    .await
                    .expect("consume");
                ready_tx.send(()).expect("test still running");
                let request = tokio::time::timeout(WAIT, requests.next())
                    .await
                    .expect("a request within the deadline")
                    .expect("a delivery")
                    .expect("not an error");
                let reply_to = request.properties.reply_to.clone().expect("reply_to");
                let correlation_id = request.properties.correlation_id.clone();
                for (id, body) in [
                    (Some("not-yours".into()), "999"),
                    (correlation_id.clone(), "55"),
                ] {
                    let properties = BasicProperties {
                        correlation_id: id,
                        ..Default::default()
                    };
                    let _unconfirmed = channel
                        .basic_publish(
                            "",
                            &reply_to.to_string(),
                            Default::default(),
                            properties,
                            body,
                        )
                        .await
                        .expect("publish a reply");
                }
                request.ack().await.expect("ack");
                connection.close().await.expect("close");
                (request.body, reply_to, correlation_id)
            })
        })
    };
    ready_rx
        .recv_timeout(WAIT)
        .expect("the fake server is consuming");
    let out = run_ok(
        "rpc_client",
        &["--queue", &queue.0, "--timeout", "10", "10"],
    );
    assert_eq!(
        out.stdout, " [x] Requesting fib(10)\n [.] Got 55\n",
        "{out}"
    );
    let (body, reply_to, correlation_id) = fake_server.join().expect("the fake server");
    assert_eq!(&body[..], b"10");
    // Direct reply-to: the broker replaced the pseudo-queue's name with this channel's address.
    assert!(
        reply_to.to_string().starts_with("amq.rabbitmq.reply-to."),
        "{reply_to}"
    );
    assert!(correlation_id.is_some_and(|id| !id.is_empty()));
}

#[test]
fn rpc_client_without_a_server_fails_with_one_line_after_its_timeout() {
    require_broker();
    // Nothing consumes from (or even declares) this queue: the request is dropped.
    let queue = unique_name("tutorial-rpc-nobody");
    let out = run(
        example("rpc_client", &["--queue", &queue, "--timeout", "0.5", "10"]),
        WAIT,
    );
    out.expect_code(1);
    assert_eq!(out.stdout, " [x] Requesting fib(10)\n", "{out}");
    assert_eq!(
        out.stderr,
        format!(
            "error: no reply to fib(10) within 500ms: is rpc_server running on queue '{queue}'?\n"
        ),
        "{out}"
    );
    assert!(out.took >= Duration::from_millis(500), "{out}");
}

// ===== 7 Publisher confirms =====

#[test]
fn publisher_confirms_times_three_strategies_and_all_messages_are_confirmed() {
    require_broker();
    let out = run_ok("publisher_confirms", &["--count", "1000", "--batch", "50"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let prefixes = [
        "Published 1,000 messages individually in ",
        "Published 1,000 messages in batch in ",
        "Published 1,000 messages and handled confirms asynchronously in ",
    ];
    assert_eq!(lines.len(), 4, "{out}");
    for (line, prefix) in lines.iter().zip(prefixes) {
        let ms = line
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(" ms"))
            .unwrap_or_else(|| panic!("{line:?} should read {prefix:?}<N> ms; {out}"));
        assert!(
            ms.replace(',', "").parse::<u64>().is_ok(),
            "{line:?}: not a number of ms"
        );
    }
    assert_eq!(lines[3], "All 3,000 messages were confirmed by the broker");
}
