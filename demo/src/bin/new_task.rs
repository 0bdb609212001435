//! `new_task`: the tutorial's publisher. Publishes the words of its command line as one task to
//! the durable queue `task_queue`, as a persistent message, and waits for the broker's publisher
//! confirm: once ` [x] Sent` is printed, the task is on the broker's disk.
//!
//! A lost connection is recovered by the client; each step is printed as one ` [*] new_task:`
//! line. A task whose confirm was lost with the connection is in doubt: it is published again
//! (at-least-once), and said so.
//!
//! ```text
//! cargo run -p demo --bin new_task -- First message.
//! cargo run -p demo --bin new_task -- --count 5
//! ```

use std::process::ExitCode;

use demo::args::{unknown, Args, Common, Own, COMMON_HELP};
use demo::broker::{self, Tracer};
use demo::output::{self, say, Color, Fail, Style};
use demo::producer::{Producer, Published};
use demo::queue::WorkQueue;
use demo::recovery::{painted, watch_events};
use demo::task::task_texts;

const HELP: &str = "\
new_task: publish a task to the work queue (RabbitMQ tutorial 2, on amqp-client)

usage: new_task [OPTIONS] [WORDS...]
       new_task [OPTIONS] --count N

The words are the task (default: \"Hello World!\"); a worker works one unit per '.' in it.
Each task is a persistent message (delivery_mode 2) on the durable queue, and new_task waits
for the broker's publisher confirm before it prints ' [x] Sent'. A lost connection is
recovered (one line per step); a task whose confirm was lost with it is published again.

options:
  --count N      send N numbered tasks instead: 'Task 1 .', 'Task 2 ..', ...";

struct Options {
    common: Common,
    words: Vec<String>,
    count: Option<u32>,
}

/// `None` for `--help`.
fn parse(mut args: Args) -> Result<Option<Options>, Fail> {
    let mut options = Options {
        common: Common::default(),
        words: Vec::new(),
        count: None,
    };
    while let Some(arg) = options.common.next_own(&mut args)? {
        match arg {
            Own::Help => return Ok(None),
            Own::Word(word) => options.words.push(word),
            Own::Opt { name, value } if name == "count" => {
                let count: u32 = args.number(&name, value)?;
                if count == 0 {
                    return Err(Fail::usage("--count needs at least 1"));
                }
                options.count = Some(count);
            }
            Own::Opt { name, .. } => return Err(unknown(&name)),
        }
    }
    if options.count.is_some() && !options.words.is_empty() {
        return Err(Fail::usage(
            "give either words or --count, not both (see --help)",
        ));
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
    let url = broker::resolve_url(options.common.url.as_deref());
    let tracer = options.common.trace.then(|| Tracer::new(None, style));
    let queue = WorkQueue::classic(options.common.queue.clone());
    let producer = Producer::connect(&[url], &queue, tracer).await?;
    // Recovery is the client's; telling the user about it is ours.
    let _events = watch_events(producer.connection(), move |event| {
        say(format!(" [*] new_task: {}", painted(style, &event)));
    });
    let messages: Vec<String> = match options.count {
        Some(count) => task_texts(1..=count),
        None if options.words.is_empty() => vec!["Hello World!".to_owned()],
        None => vec![options.words.join(" ")],
    };
    producer
        .publish(&messages, None, |published| match published {
            Published::Confirmed(message) => say(format!(" [x] Sent '{message}'")),
            Published::InDoubt { task, reason } => say(style.paint(
                Color::Yellow,
                format!(
                    " [!] '{task}' is in doubt ({reason}): publishing it again \
                     (at-least-once: a worker may get it twice)"
                ),
            )),
        })
        .await?;
    producer.close().await
}
