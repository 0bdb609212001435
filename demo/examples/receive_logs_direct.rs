//! Tutorial 4, "Routing": a subscriber to some severities. Binds its temporary queue to the
//! direct exchange `direct_logs` once per severity named on the command line, and prints the
//! messages of those severities only, until Ctrl+C (or `--count N`).
//!
//! ```text
//! cargo run -p demo --example receive_logs_direct -- warning error
//! ```

mod tutorial;

use std::process::ExitCode;

use demo::output::Fail;

const HELP: &str = "\
receive_logs_direct: print the log messages of some severities (RabbitMQ tutorial 4)

usage: receive_logs_direct [--exchange NAME] [--count N] SEVERITY...
  SEVERITY         one or more of info, warning, error, ...
  --exchange NAME  the direct exchange (default: direct_logs)
  --count N        exit after N messages (default: run until Ctrl+C)";

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let exchange = cli.take("exchange", "direct_logs");
    let count = cli.take_number("count")?;
    let severities = cli.words()?;
    if severities.is_empty() {
        return Err(Fail::usage(
            "usage: receive_logs_direct [info] [warning] [error] (see --help)",
        ));
    }
    let connection = cli.connect("receive_logs_direct").await?;
    // One binding per severity: the direct exchange sends us a message when its routing key
    // equals one of these binding keys, and nothing else.
    tutorial::receive_routed_logs(&connection, &exchange, "direct", &severities, count).await?;
    connection.close().await?;
    Ok(())
}
