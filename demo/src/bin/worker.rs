//! `worker`: the tutorial's worker. Consumes from the durable queue `task_queue` with prefetch 1
//! and manual acks, works one second per `.` in a task, then acks it.
//!
//! Ctrl+C once: no new tasks (basic.cancel), the current one is finished and acked, the
//! connection is closed cleanly. Ctrl+C twice: exit at once; the broker redelivers the unacked
//! task to another worker.
//!
//! A lost connection is recovered by the client (each step printed as one ` [*] NAME:` line)
//! behind the same consumer. The ack of the task that was in hand then is stale: nothing is
//! sent, the broker redelivers that task, and the worker says so and goes on.
//!
//! ```text
//! cargo run -p demo --bin worker
//! cargo run -p demo --bin worker -- --name worker-2 --dot-ms 100
//! ```

use std::process::ExitCode;
use std::time::Duration;

use demo::args::{unknown, Args, Common, COMMON_HELP};
use demo::broker::{self, Tracer};
use demo::output::{self, say, Color, Fail, Style};
use demo::queue::WorkQueue;
use demo::recovery::{painted, watch_events};
use demo::worker::{run_worker, WorkerConfig, WorkerEnd, WorkerEvent};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

const HELP: &str = "\
worker: do the tasks of the work queue (RabbitMQ tutorial 2, on amqp-client)

usage: worker [OPTIONS]

Takes one task at a time (prefetch 1), works one dot unit per '.' in it, then acks it.
Ctrl+C once: take no new tasks, finish and ack the current one, close cleanly.
Ctrl+C twice: quit at once; the broker redelivers the unacked task to another worker.
A lost connection is recovered (one line per step) and the worker goes on; the task it held
then is redelivered by the broker, because its ack is stale.

options:
  --name NAME    the worker's name in its output (default: worker-<pid>)
  --dot-ms MS    how long one '.' of work takes, in milliseconds (default: 1000)
  --prefetch K   how many unacked tasks it may hold (default: 1; 0 = no limit)";

struct Options {
    common: Common,
    name: Option<String>,
    dot_ms: u64,
    prefetch: u16,
}

/// `None` for `--help`.
fn parse(mut args: Args) -> Result<Option<Options>, Fail> {
    let mut options = Options {
        common: Common::default(),
        name: None,
        dot_ms: 1000,
        prefetch: 1,
    };
    while let Some(arg) = options.common.next_own(&mut args)? {
        let Some((name, value)) = arg.into_option()? else {
            return Ok(None);
        };
        match name.as_str() {
            "name" => options.name = Some(args.value(&name, value)?),
            "dot-ms" => options.dot_ms = args.number(&name, value)?,
            "prefetch" => options.prefetch = args.number(&name, value)?,
            _ => return Err(unknown(&name)),
        }
    }
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> ExitCode {
    output::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(options) = parse(Args::from_env())? else {
        say(format!("{HELP}\n{COMMON_HELP}"));
        return Ok(());
    };
    let style = Style::stdout();
    // Catch Ctrl+C before anything else, so that it never kills the worker mid-task.
    let mut interrupts = signal(SignalKind::interrupt())
        .map_err(|e| Fail::new(format!("cannot watch for Ctrl+C: {e}")))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        interrupts.recv().await;
        say(style.paint(
            Color::Yellow,
            " [*] Ctrl+C: taking no new tasks, finishing the current one (Ctrl+C again to quit at once)",
        ));
        let _ = stop_tx.send(true);
        interrupts.recv().await;
        say(style.paint(
            Color::Red,
            " [!] Ctrl+C again: quitting now; the broker redelivers the unacked task to another worker",
        ));
        std::process::exit(130);
    });

    let name = options
        .name
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let config = WorkerConfig {
        name: name.clone(),
        queue: WorkQueue::classic(options.common.queue.clone()),
        prefetch: options.prefetch,
        dot: Duration::from_millis(options.dot_ms),
    };
    let url = broker::resolve_url(options.common.url.as_deref());
    let tracer = options.common.trace.then(|| Tracer::new(None, style));
    let connection = broker::connect(broker::config_for(&[url], &name, tracer)?).await?;
    // Recovery is the client's; telling the user about it is ours.
    let _events = watch_events(&connection, {
        let name = name.clone();
        move |event| say(format!(" [*] {name}: {}", painted(style, &event)))
    });
    let queue = &config.queue.name;
    let end = run_worker(&connection, &config, stop_rx, |event| match event {
        WorkerEvent::Ready => say(format!(
            " [*] {name} waiting for messages in '{queue}'. To exit press CTRL+C"
        )),
        WorkerEvent::Received {
            body, redelivered, ..
        } => {
            let again = if redelivered {
                style.paint(Color::Yellow, " (redelivered)")
            } else {
                String::new()
            };
            say(format!(" [x] {name} received '{body}'{again}"));
        }
        WorkerEvent::Done { .. } => say(style.paint(Color::Green, " [x] Done")),
        WorkerEvent::Acked { .. } => {}
        WorkerEvent::AckLost {
            body,
            stale: true,
            ..
        } => say(style.paint(
            Color::Yellow,
            format!(" [!] {name}: task '{body}' was redelivered: its ack is stale (the connection was recovered since it came)"),
        )),
        WorkerEvent::AckLost { body, reason, .. } => say(style.paint(
            Color::Yellow,
            format!(" [!] {name}: the ack of task '{body}' may be lost ({reason}); if it is, the broker redelivers the task"),
        )),
        WorkerEvent::Cancelled { busy } => say(format!(
            " [*] {name}: consumer cancelled (basic.cancel){}",
            if busy { "; finishing the current task" } else { "" }
        )),
        WorkerEvent::HandedBack { body } => say(format!(
            " [*] handed '{body}' back to the queue (basic.reject, requeue)"
        )),
        WorkerEvent::Abandoned { body, reason, .. } => say(style.paint(
            Color::Red,
            format!(" [!] lost the connection for good mid-task ({reason}): '{body}' was not acked, the broker will redeliver it"),
        )),
    })
    .await?;
    match end {
        WorkerEnd::Stopped => {
            connection.close().await?;
            say(format!(" [*] {name} stopped cleanly"));
            Ok(())
        }
        WorkerEnd::ConnectionLost(e) => Err(Fail::new(format!(
            "{name} lost its connection to the broker: {e}"
        ))),
    }
}
