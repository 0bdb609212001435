//! Tutorial 1, "Hello World!": the producer. Sends one message to the queue `hello` and exits.
//!
//! ```text
//! cargo run -p demo --example send
//! cargo run -p demo --example send -- --queue hello-2
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::{FieldTable, QueueDeclareOptions};
use demo::output::{say, Fail};

const HELP: &str = "\
send: send 'Hello World!' to a queue (RabbitMQ tutorial 1)

usage: send [--queue NAME]
  --queue NAME    the queue (default: hello)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let queue = cli.take("queue", "hello");
    let connection = cli.connect("send").await?;
    let channel = connection.open_channel().await?;

    // Declaring is idempotent: whichever of send and receive starts first creates the queue,
    // and a message sent to a queue that does not exist would be dropped.
    channel
        .queue_declare(&queue, QueueDeclareOptions::default(), FieldTable::new())
        .await?;
    // basic.publish (60/40) to the default exchange "", which routes a message to the queue
    // named by its routing key. Without publisher confirms (tutorial 7) there is no confirm to
    // wait for.
    let body = "Hello World!";
    let _unconfirmed = channel
        .basic_publish("", &queue, Default::default(), Default::default(), body)
        .await?;
    say(format!(" [x] Sent '{body}'"));

    // Closing sends everything still queued before connection.close, so the message is not lost.
    connection.close().await?;
    Ok(())
}
