//! Tutorial 5, "Topics": a subscriber by pattern. Binds its temporary queue to the topic
//! exchange `topic_logs` with each binding key named on the command line, where `*` stands
//! for exactly one word and `#` for zero or more words, and prints what matches until Ctrl+C
//! (or `--count N`).
//!
//! ```text
//! cargo run -p demo --example receive_logs_topic -- "kern.*" "*.critical"
//! cargo run -p demo --example receive_logs_topic -- "#"
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::{BasicConsumeOptions, FieldTable, QueueDeclareOptions};
use demo::output::{say, Fail};

const HELP: &str = "\
receive_logs_topic: print the log messages whose topic matches (RabbitMQ tutorial 5)

usage: receive_logs_topic [--exchange NAME] [--count N] BINDING_KEY...
  BINDING_KEY      a pattern of dot-separated words: '*' matches one word, '#' zero or more
                   (e.g. 'kern.*', '*.critical', 'kern.#', '#')
  --exchange NAME  the topic exchange (default: topic_logs)
  --count N        exit after N messages (default: run until Ctrl+C)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let exchange = cli.take("exchange", "topic_logs");
    let count = cli.take_number("count")?;
    let binding_keys = cli.words()?;
    if binding_keys.is_empty() {
        return Err(Fail::usage(
            "usage: receive_logs_topic [binding_key]... (see --help)",
        ));
    }
    let connection = cli.connect("receive_logs_topic").await?;
    let channel = connection.open_channel().await?;

    channel
        .exchange_declare(&exchange, "topic", Default::default(), FieldTable::new())
        .await?;
    // A queue of our own, named by the broker and deleted with this connection.
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("", options, FieldTable::new())
        .await?;
    let queue = queue.queue.to_string();
    // A message that matches several of our patterns still arrives once: bindings decide which
    // queues get a copy, and our queue gets at most one.
    for binding_key in &binding_keys {
        channel
            .queue_bind(&queue, &exchange, binding_key, FieldTable::new())
            .await?;
    }

    let options = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = channel
        .basic_consume(&queue, "", options, FieldTable::new())
        .await?;
    let mut ctrl_c = tutorial::CtrlC::listen()?;
    say(" [*] Waiting for logs. To exit press CTRL+C");

    let mut received = 0;
    while let Some(delivery) = ctrl_c.or_next(&mut consumer).await? {
        say(format!(
            " [x] {}:{}",
            delivery.routing_key,
            tutorial::text(&delivery)
        ));
        received += 1;
        if tutorial::reached(received, count) {
            break;
        }
    }
    connection.close().await?;
    Ok(())
}
