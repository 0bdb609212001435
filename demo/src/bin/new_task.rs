//! `new_task`: the tutorial's publisher. Publishes the words of its command line as one task to
//! the durable queue `task_queue`, as a persistent message, and waits for the broker's publisher
//! confirm: once ` [x] Sent` is printed, the task is on the broker's disk.
//!
//! ```text
//! cargo run -p demo --bin new_task -- First message.
//! cargo run -p demo --bin new_task -- --count 5
//! ```

use std::process::ExitCode;

use demo::args::{unknown, Args, Common, Own, COMMON_HELP};
use demo::broker::{self, Tracer};
use demo::output::{self, say, Fail, Style};
use demo::producer::Producer;
use demo::task::task_texts;

const HELP: &str = "\
new_task: publish a task to the work queue (RabbitMQ tutorial 2, on amqp-client)

usage: new_task [OPTIONS] [WORDS...]
       new_task [OPTIONS] --count N

The words are the task (default: \"Hello World!\"); a worker works one unit per '.' in it.
Each task is a persistent message (delivery_mode 2) on the durable queue, and new_task waits
for the broker's publisher confirm before it prints ' [x] Sent'.

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
    let url = broker::resolve_url(options.common.url.as_deref());
    let tracer = options
        .common
        .trace
        .then(|| Tracer::new(None, Style::stdout()));
    let producer = Producer::connect(&url, &options.common.queue, tracer).await?;
    let messages: Vec<String> = match options.count {
        Some(count) => task_texts(1..=count),
        None if options.words.is_empty() => vec!["Hello World!".to_owned()],
        None => vec![options.words.join(" ")],
    };
    producer
        .publish(&messages, |message| say(format!(" [x] Sent '{message}'")))
        .await?;
    producer.close().await
}
