//! Tutorial 4, "Routing": the log emitter. Publishes one log message to the direct exchange
//! `direct_logs` with its severity as the routing key, so only the receivers that subscribed to
//! that severity get it.
//!
//! ```text
//! cargo run -p demo --example emit_log_direct -- error "Run. Run. Or it will explode."
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::FieldTable;
use demo::output::{say, Fail};

const HELP: &str = "\
emit_log_direct: publish a log message with a severity (RabbitMQ tutorial 4)

usage: emit_log_direct [--exchange NAME] [SEVERITY [MESSAGE...]]
  SEVERITY         the routing key: info, warning, error, ... (default: info)
  MESSAGE          the log line (default: 'Hello World!')
  --exchange NAME  the direct exchange (default: direct_logs)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let exchange = cli.take("exchange", "direct_logs");
    let words = cli.words()?;
    let (severity, message) = match words.split_first() {
        Some((first, rest)) if !rest.is_empty() => (first.clone(), rest.join(" ")),
        Some((first, _)) => (first.clone(), "Hello World!".to_owned()),
        None => ("info".to_owned(), "Hello World!".to_owned()),
    };
    let connection = cli.connect("emit_log_direct").await?;
    let channel = connection.open_channel().await?;

    channel
        .exchange_declare(&exchange, "direct", Default::default(), FieldTable::new())
        .await?;
    // A direct exchange delivers to the queues whose binding key equals the routing key exactly:
    // the severity picks the subscribers.
    let _unconfirmed = channel
        .basic_publish(
            &exchange,
            &severity,
            Default::default(),
            Default::default(),
            message.clone(),
        )
        .await?;
    say(format!(" [x] Sent {severity}:{message}"));
    connection.close().await?;
    Ok(())
}
