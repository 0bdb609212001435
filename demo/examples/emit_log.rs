//! Tutorial 3, "Publish/Subscribe": the log emitter. Publishes one log message to the fanout
//! exchange `logs`, which copies it to every queue bound to it: every running `receive_logs`
//! gets it.
//!
//! ```text
//! cargo run -p demo --example emit_log -- "info: Hello World!"
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::FieldTable;
use demo::output::{say, Fail};

const HELP: &str = "\
emit_log: publish a log message to every subscriber (RabbitMQ tutorial 3)

usage: emit_log [--exchange NAME] [MESSAGE...]
  MESSAGE          the log line (default: 'info: Hello World!')
  --exchange NAME  the fanout exchange (default: logs)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let exchange = cli.take("exchange", "logs");
    let message = match cli.words()?.join(" ") {
        words if words.is_empty() => "info: Hello World!".to_owned(),
        words => words,
    };
    let connection = cli.connect("emit_log").await?;
    let channel = connection.open_channel().await?;

    // exchange.declare (40/10). The producer only knows the exchange, never the queues: who
    // receives is decided by the bindings the receivers make.
    channel
        .exchange_declare(&exchange, "fanout", Default::default(), FieldTable::new())
        .await?;
    // A fanout exchange ignores the routing key: it copies the message to every bound queue.
    // With no receiver running, no queue is bound and the message is dropped, as a log line
    // nobody reads should be.
    let _unconfirmed = channel
        .basic_publish(
            &exchange,
            "",
            Default::default(),
            Default::default(),
            message.clone(),
        )
        .await?;
    say(format!(" [x] Sent {message}"));
    connection.close().await?;
    Ok(())
}
