//! Tutorial 3, "Publish/Subscribe": a log subscriber. Binds its own temporary queue to the
//! fanout exchange `logs` and prints every log message until Ctrl+C (or `--count N`).
//!
//! ```text
//! cargo run -p demo --example receive_logs
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::{BasicConsumeOptions, FieldTable, QueueBindOptions, QueueDeclareOptions};
use demo::output::{say, Fail};

const HELP: &str = "\
receive_logs: print every log message (RabbitMQ tutorial 3)

usage: receive_logs [--exchange NAME] [--count N]
  --exchange NAME  the fanout exchange (default: logs)
  --count N        exit after N messages (default: run until Ctrl+C)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let exchange = cli.take("exchange", "logs");
    let count = cli.take_number("count")?;
    let connection = cli.connect("receive_logs").await?;
    let channel = connection.open_channel().await?;

    channel
        .exchange_declare(&exchange, "fanout", Default::default(), FieldTable::new())
        .await?;
    // Each subscriber wants every message, not a share of them, so each has a queue of its own:
    // an empty name lets the broker pick a fresh one (amq.gen-...), and `exclusive` deletes it
    // when this connection closes, so no stale queue keeps filling up with logs.
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("", options, FieldTable::new())
        .await?
        .ok_or_else(|| Fail::no_reply("queue.declare"))?;
    let queue = queue.queue.to_string();
    // The binding (queue.bind, 50/20) is what makes the exchange copy messages into our queue. A
    // fanout exchange ignores the binding's routing key, so it is empty.
    channel
        .queue_bind(
            &queue,
            &exchange,
            "",
            QueueBindOptions::default(),
            FieldTable::new(),
        )
        .await?;

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
        say(format!(" [x] {}", tutorial::text(&delivery)));
        received += 1;
        if tutorial::reached(received, count) {
            break;
        }
    }
    connection.close().await?;
    Ok(())
}
