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

use demo::output::Fail;

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
    // One binding per pattern. A message that matches several of our patterns still arrives
    // once: bindings decide which queues get a copy, and our queue gets at most one.
    tutorial::receive_routed_logs(&connection, &exchange, "topic", &binding_keys, count).await?;
    connection.close().await?;
    Ok(())
}
