//! Tutorial 1, "Hello World!": the consumer. Prints every message of the queue `hello` until
//! Ctrl+C (or until `--count N` messages were received).
//!
//! ```text
//! cargo run -p demo --example receive
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::{BasicConsumeOptions, FieldTable, QueueDeclareOptions};
use demo::output::{say, Fail};

const HELP: &str = "\
receive: print the messages of a queue (RabbitMQ tutorial 1)

usage: receive [--queue NAME] [--count N]
  --queue NAME    the queue (default: hello)
  --count N       exit after N messages (default: run until Ctrl+C)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let queue = cli.take("queue", "hello");
    let count = cli.take_number("count")?;
    let connection = cli.connect("receive").await?;
    let channel = connection.open_channel().await?;

    // Declared here too: the consumer may start before any producer has created the queue.
    channel
        .queue_declare(&queue, QueueDeclareOptions::default(), FieldTable::new())
        .await?;
    // basic.consume (60/20) with no_ack: the broker forgets a message as soon as it is sent to us
    // (tutorial 2 adds acks).
    let options = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = channel
        .basic_consume(&queue, "", options, FieldTable::new())
        .await?;
    let mut ctrl_c = tutorial::CtrlC::listen()?;
    say(" [*] Waiting for messages. To exit press CTRL+C");

    let mut received = 0;
    while let Some(delivery) = ctrl_c.or_next(&mut consumer).await? {
        say(format!(" [x] Received '{}'", tutorial::text(&delivery)));
        received += 1;
        if tutorial::reached(received, count) {
            break;
        }
    }
    connection.close().await?;
    Ok(())
}
