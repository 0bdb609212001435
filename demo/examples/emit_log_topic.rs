//! Tutorial 5, "Topics": the log emitter. Publishes one log message to the topic exchange
//! `topic_logs` with a routing key of dot-separated words such as `kern.critical`
//! (`<facility>.<severity>`), which receivers match with patterns.
//!
//! ```text
//! cargo run -p demo --example emit_log_topic -- kern.critical "A critical kernel error"
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::FieldTable;
use demo::output::{say, Fail};

const HELP: &str = "\
emit_log_topic: publish a log message under a topic (RabbitMQ tutorial 5)

usage: emit_log_topic [--exchange NAME] [ROUTING_KEY [MESSAGE...]]
  ROUTING_KEY      dot-separated words, e.g. kern.critical (default: anonymous.info)
  MESSAGE          the log line (default: 'Hello World!')
  --exchange NAME  the topic exchange (default: topic_logs)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let exchange = cli.take("exchange", "topic_logs");
    let words = cli.words()?;
    let (routing_key, message) = match words.split_first() {
        Some((first, rest)) if !rest.is_empty() => (first.clone(), rest.join(" ")),
        Some((first, _)) => (first.clone(), "Hello World!".to_owned()),
        None => ("anonymous.info".to_owned(), "Hello World!".to_owned()),
    };
    let connection = cli.connect("emit_log_topic").await?;
    let channel = connection.open_channel().await?;

    channel
        .exchange_declare(&exchange, "topic", Default::default(), FieldTable::new())
        .await?;
    // A topic exchange matches the routing key word by word against each binding's pattern;
    // the key can carry several criteria at once (here facility and severity).
    let _unconfirmed = channel
        .basic_publish(
            &exchange,
            &routing_key,
            Default::default(),
            Default::default(),
            message.clone(),
        )
        .await?;
    say(format!(" [x] Sent {routing_key}:{message}"));
    connection.close().await?;
    Ok(())
}
