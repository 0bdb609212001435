//! The `demo` binary against the real broker: round-robin, fair dispatch, `--compare`,
//! `--kill-one`, `--trace`, the no-broker message and the private-node fallback; and on private
//! nodes it restarts, `--restart-broker` and `--cluster`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the demo with `args` against the shared broker; it must succeed.
fn demo(args: &[&str]) -> (Finished, Vec<Summary>) {
    require_broker();
    let mut cmd = bin(DEMO);
    cmd.args(args);
    let finished = run(cmd, RUN_TIMEOUT);
    finished.expect_code(0);
    let runs = summaries(&finished.stdout);
    (finished, runs)
}

#[test]
fn prefetch_0_is_blind_round_robin_with_equal_counts() {
    let (out, runs) = demo(&[
        "--prefetch",
        "0",
        "--workers",
        "3",
        "--tasks",
        "12",
        "--dot-ms",
        "20",
    ]);
    assert_eq!(runs.len(), 1, "{out}");
    let run = &runs[0];
    run.assert_nothing_lost(12, &out.stdout);
    assert_eq!(run.workers.len(), 3, "{out}");
    for (name, worker) in &run.workers {
        assert_eq!(worker.tasks, 4, "{name} should get every 3rd task; {out}");
    }
    // Blind: every 3rd task is long, and one worker gets all of them.
    let long_worker = run
        .workers
        .values()
        .find(|w| w.got.contains(&1))
        .unwrap_or_else(|| panic!("nobody did task 1; {out}"));
    let mut got = long_worker.got.clone();
    got.sort_unstable();
    assert_eq!(got, vec![1, 4, 7, 10], "{out}");
    assert!(
        out.stdout
            .contains("prefetch 0 (no limit: blind round-robin)"),
        "{out}"
    );
}

#[test]
fn prefetch_1_is_fair_dispatch_the_worker_with_the_long_task_gets_fewer() {
    // Task 1 takes 1 s, the eleven others 50 ms each: while one worker is busy with task 1 the
    // broker gives everything else to the two others.
    let dots = "20,1,1,1,1,1,1,1,1,1,1,1";
    let three_workers = |prefetch| {
        demo(&[
            "--prefetch",
            prefetch,
            "--workers",
            "3",
            "--dots",
            dots,
            "--dot-ms",
            "50",
        ])
    };
    let (out, runs) = three_workers("1");
    let run = &runs[0];
    run.assert_nothing_lost(12, &out.stdout);
    let (long_name, long_worker) = run
        .workers
        .iter()
        .find(|(_, w)| w.got.contains(&1))
        .unwrap_or_else(|| panic!("nobody did task 1; {out}"));
    for (name, worker) in &run.workers {
        if name != long_name {
            assert!(
                long_worker.tasks < worker.tasks,
                "{long_name} (long task, {} tasks) should get fewer than {name} ({} tasks); {out}",
                long_worker.tasks,
                worker.tasks
            );
        }
    }
    // The same tasks with prefetch 0 are dealt out 4/4/4 whatever their length.
    let (out, runs) = three_workers("0");
    for (name, worker) in &runs[0].workers {
        assert_eq!(worker.tasks, 4, "{name}; {out}");
    }
}

#[test]
fn compare_prints_both_runs_and_fair_dispatch_finishes_sooner() {
    let (out, runs) = demo(&["--compare", "--dot-ms", "40"]);
    assert_eq!(runs.len(), 2, "{out}");
    runs[0].assert_nothing_lost(12, &out.stdout);
    runs[1].assert_nothing_lost(12, &out.stdout);
    let blind = runs[0].times["wall_ms"];
    let fair = runs[1].times["wall_ms"];
    // Blind: one worker does 4 long tasks (4 x 5 x 40 = 800 ms); fair spreads them.
    assert!(
        fair < blind,
        "fair {fair} ms should beat blind {blind} ms; {out}"
    );
    assert!(out.stdout.contains("compare wall_ms_prefetch0="), "{out}");
    assert!(out.stdout.contains("(blind round-robin)"), "{out}");
    assert!(out.stdout.contains("(fair dispatch)"), "{out}");
}

#[test]
fn kill_one_redelivers_the_task_and_loses_nothing() {
    require_broker();
    let mut cmd = bin(DEMO);
    cmd.args([
        "--kill-one",
        "--workers",
        "3",
        "--tasks",
        "12",
        "--dot-ms",
        "50",
    ]);
    let mut demo = Running::spawn("demo --kill-one", cmd);
    // Lines come through the pipe as they happen: the kill is seen while the demo still runs.
    let kill = demo.wait_for(
        "--kill-one: cutting its TCP connection mid-task",
        RUN_TIMEOUT,
    );
    assert!(
        demo.is_running(),
        "the demo should still be running at: {kill}"
    );
    let status = demo.wait_exit(RUN_TIMEOUT);
    let out = demo.output();
    assert!(status.success(), "{status}; {out}");
    let runs = summaries(&out);
    assert_eq!(runs.len(), 1, "{out}");
    let run = &runs[0];
    run.assert_nothing_lost(12, &out);
    assert_eq!(run.redelivered(), 1, "{out}");
    let killed: Vec<_> = run.workers.iter().filter(|(_, w)| w.killed).collect();
    assert_eq!(killed.len(), 1, "{out}");
    assert!(
        killed[0].1.got.is_empty(),
        "the killed worker acked nothing; {out}"
    );
    // The task the killed worker held came back, flagged, to another worker.
    let task = kill
        .split('\'')
        .nth(1)
        .unwrap_or_else(|| panic!("no task in {kill:?}"));
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("received '{task}'")) && l.contains("redelivered=true")),
        "'{task}' should be redelivered; {out}"
    );
    assert_eq!(demo.count("connection lost after"), 1, "{out}");
}

#[test]
fn trace_shows_every_frame_of_one_task() {
    let (out, runs) = demo(&[
        "--trace",
        "--workers",
        "1",
        "--tasks",
        "1",
        "--dot-ms",
        "10",
    ]);
    runs[0].assert_nothing_lost(1, &out.stdout);
    let has = |needle: &str| {
        assert!(
            out.stdout.lines().any(|l| l.contains(needle)),
            "no trace line with {needle:?}; {out}"
        );
    };
    has("[c1 demo control +");
    has("] -> protocol-header AMQP 0-9-1");
    has("new_task +");
    has("-> ch=1 confirm.select nowait=false");
    has("-> ch=1 basic.publish exchange=\"\" routing_key=\"task_queue-");
    has("-> ch=1 content-header class=60 body_size=12 delivery_mode=2");
    has("-> ch=1 content-body size=12 \"Task 1 .....\"");
    has("<- ch=1 basic.ack delivery_tag=1 multiple=false");
    has("<- ch=1 basic.qos-ok");
    has("<- ch=1 basic.deliver consumer_tag=\"worker-1\" delivery_tag=1 redelivered=false");
    has("-> ch=1 basic.ack delivery_tag=1 multiple=false");
    has("-> ch=1 basic.cancel consumer_tag=\"worker-1\"");
    has("<- ch=0 connection.close-ok");
    // The password never shows, not even in connection.start-ok's SASL response.
    has("response=\"\\0guest\\0*****\"");
    assert!(!out.stdout.contains("\\0guest\\0guest"), "{out}");
}

#[test]
fn no_broker_is_one_clear_line_and_exit_status_1() {
    let expected = "error: no AMQP broker answers at amqp://guest@127.0.0.1:1/%2f";
    let cases: [(&str, &[&str], bool); 4] = [
        (DEMO, &["--no-private-broker"], false),
        (DEMO, &[], true),
        (NEW_TASK, &["hello"], false),
        (WORKER, &[], false),
    ];
    for (path, args, env_only) in cases {
        let mut cmd = bin(path);
        cmd.args(["--url", NO_BROKER_URL]).args(args);
        if !env_only {
            cmd.env_remove("DEMO_NO_PRIVATE_BROKER");
        }
        let out = run(cmd, Duration::from_secs(20));
        out.expect_code(1);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr; {out}");
        assert!(lines[0].starts_with(expected), "{out}");
        assert!(
            lines[0].contains("docker run -d -p 5672:5672 rabbitmq:3"),
            "{out}"
        );
        assert!(
            lines[0].contains("apt-get install rabbitmq-server"),
            "{out}"
        );
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("backtrace"),
            "{out}"
        );
        assert_eq!(out.stdout, "", "{out}");
    }
    // AMQP_URL is used when there is no --url.
    let mut cmd = bin(NEW_TASK);
    cmd.env("AMQP_URL", NO_BROKER_URL).arg("hello");
    let out = run(cmd, Duration::from_secs(20));
    out.expect_code(1);
    assert!(out.stderr.starts_with(expected), "{out}");
}

#[test]
fn bad_command_lines_are_one_line_and_exit_status_2() {
    for (path, args, needle) in [
        (
            DEMO,
            &["--workers", "many"][..],
            "--workers needs a whole number",
        ),
        (DEMO, &["--frobnicate"][..], "unknown option --frobnicate"),
        (
            DEMO,
            &["--kill-one", "--workers", "1"][..],
            "--kill-one needs at least 2 workers",
        ),
        (
            DEMO,
            &["--url", "http://localhost"][..],
            "invalid AMQP URI, scheme",
        ),
        (
            NEW_TASK,
            &["--count", "2", "words"][..],
            "either words or --count",
        ),
        (WORKER, &["--dot-ms"][..], "--dot-ms needs a value"),
        (
            DEMO,
            &["--kill-one", "--cluster"][..],
            "--kill-one and --cluster cannot be used together",
        ),
        (
            DEMO,
            &["--restart-broker", "--url", "amqp://localhost"][..],
            "it cannot be used with --url",
        ),
        (
            DEMO,
            &["--cluster", "--compare"][..],
            "it cannot be used with --compare",
        ),
    ] {
        let mut cmd = bin(path);
        cmd.args(args);
        let out = run(cmd, Duration::from_secs(20));
        out.expect_code(2);
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        assert!(out.stderr.contains(needle), "{out}");
    }
    for path in [DEMO, NEW_TASK, WORKER] {
        let mut cmd = bin(path);
        cmd.arg("--help");
        let out = run(cmd, Duration::from_secs(20));
        out.expect_code(0);
        assert!(out.stdout.contains("--queue NAME"), "{out}");
    }
}

#[test]
fn without_a_broker_the_demo_runs_on_a_private_node_and_removes_it() {
    assert!(
        demo::broker::rabbitmq_server().is_some(),
        "this test needs rabbitmq-server installed (apt-get install rabbitmq-server; \
         bash .ci/run does it)"
    );
    let mut cmd = bin(DEMO);
    cmd.env_remove("DEMO_NO_PRIVATE_BROKER").args([
        "--url",
        NO_BROKER_URL,
        "--workers",
        "2",
        "--tasks",
        "4",
        "--dot-ms",
        "20",
    ]);
    let out = run(cmd, Duration::from_secs(120));
    out.expect_code(0);
    assert!(
        out.stdout.contains(
            "no broker answers at amqp://guest@127.0.0.1:1/%2f (Connection refused (os error 111)); \
             starting a private throwaway RabbitMQ node"
        ),
        "{out}"
    );
    summaries(&out.stdout)[0].assert_nothing_lost(4, &out.stdout);
    let dir = out
        .stdout
        .split("(files in ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no node folder named; {out}"));
    assert!(
        out.stdout
            .contains("private RabbitMQ node stopped, removed"),
        "{out}"
    );
    assert!(!Path::new(dir).exists(), "{dir} should be gone; {out}");
}

/// The work queue over TLS: a private node with a TLS listener and a throwaway CA, the demo given
/// its `amqps://` URL (verified against that CA). The test build turns the client's `tls`
/// feature on (a dev-dependency); `cargo run -p demo --features tls` does for users.
#[test]
fn the_work_queue_runs_over_tls_and_loses_nothing() {
    let node = amqp_testkit::PrivateNode::builder()
        .tls()
        .start()
        .unwrap_or_else(|e| panic!("a private RabbitMQ node with TLS: {e}"));
    let port = node.tls_port().expect("a TLS port");
    let ca = node.tls().expect("its certificates").ca_cert_path();
    let url = format!(
        "amqps://guest:guest@localhost:{port}/%2f?cacertfile={}",
        ca.display()
    );
    let (out, runs) = demo(&[
        "--url",
        &url,
        "--workers",
        "2",
        "--tasks",
        "6",
        "--dot-ms",
        "20",
    ]);
    // Only TLS is spoken on that port: finishing at all means every connection was TLS.
    runs[0].assert_nothing_lost(6, &out.stdout);
}

/// Runs the demo with `args` on private nodes it restarts; it must succeed, and its check must
/// be OK. Returns the output and the `recovery` line's counts.
fn demo_with_restarts(args: &[&str], tasks: u32) -> (Finished, BTreeMap<String, u32>) {
    assert!(
        demo::broker::rabbitmq_server().is_some(),
        "this test needs rabbitmq-server installed (apt-get install rabbitmq-server; \
         bash .ci/run does it)"
    );
    let mut cmd = bin(DEMO);
    cmd.args(args);
    let out = run(cmd, Duration::from_secs(400));
    out.expect_code(0);
    let runs = summaries(&out.stdout);
    assert_eq!(runs.len(), 1, "{out}");
    runs[0].assert_ok(tasks, &out.stdout);
    let counts = recovery_counts(&out.stdout);
    assert_eq!(
        counts.get("disconnected"),
        counts.get("recovered"),
        "every lost connection came back; {out}"
    );
    // A worker whose ack was stale did the task again (or another worker did): redelivered.
    let stale = out.stdout.matches("its ack is stale").count();
    let again = out.stdout.matches("redelivered=true").count();
    assert!(
        again >= stale,
        "{stale} stale acks, {again} redeliveries; {out}"
    );
    assert!(
        out.stdout.contains("private RabbitMQ") && out.stdout.contains("stopped, removed"),
        "{out}"
    );
    (out, counts)
}

#[test]
fn restart_broker_every_connection_recovers_and_nothing_is_lost() {
    let (out, counts) = demo_with_restarts(&["--restart-broker", "--dot-ms", "100"], 12);
    assert_eq!(counts.get("restarts"), Some(&1), "{out}");
    // The workers and the control connection at least (new_task may be done by then).
    assert!(counts.get("recovered") >= Some(&4), "{out}");
    assert_eq!(counts.get("consumers_restored"), Some(&3), "{out}");
    assert!(
        out.stdout
            .contains("operator  --restart-broker: restarting the broker (127.0.0.1:"),
        "{out}"
    );
    assert!(out.stdout.contains("is back after"), "{out}");
}

#[test]
fn cluster_restarts_each_node_and_nothing_is_lost() {
    let args = ["--cluster", "--tasks", "12", "--dot-ms", "200"];
    let (out, counts) = demo_with_restarts(&args, 12);
    assert_eq!(counts.get("restarts"), Some(&3), "{out}");
    assert!(out.stdout.contains("quorum queue 'task_queue-"), "{out}");
    for node in 1..=3 {
        assert!(
            out.stdout
                .contains(&format!("--cluster: restarting node {node} (")),
            "{out}"
        );
    }
}
