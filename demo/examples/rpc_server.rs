//! Tutorial 6, "RPC": the server. Takes requests `n` from the queue `rpc_queue`, computes
//! fib(n) and publishes the answer to the queue named by the request's `reply_to`, with the
//! request's `correlation_id`, so that the client can tell which request it answers.
//!
//! ```text
//! cargo run -p demo --example rpc_server
//! ```

mod tutorial;

use std::process::ExitCode;

use amqp_client::{BasicProperties, BasicQosOptions, FieldTable};
use demo::output::{say, Fail};

const HELP: &str = "\
rpc_server: answer fib(n) requests (RabbitMQ tutorial 6)

usage: rpc_server [--queue NAME] [--count N]
  --queue NAME    the request queue (default: rpc_queue)
  --count N       exit after N requests (default: run until Ctrl+C)";

/// The largest n served: the tutorial's recursive fib takes seconds beyond it.
const MAX_N: u32 = 40;

/// The tutorial's deliberately slow, recursive Fibonacci: a stand-in for real work.
fn fib(n: u32) -> u64 {
    match n {
        0 => 0,
        1 => 1,
        n => fib(n - 1) + fib(n - 2),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let queue = cli.take("queue", "rpc_queue");
    let count = cli.take_number("count")?;
    let connection = cli.connect("rpc_server").await?;
    let channel = connection.open_channel().await?;

    channel
        .queue_declare(&queue, Default::default(), FieldTable::new())
        .await?;
    // basic.qos (60/10) prefetch 1, one unacked request at a time: with several servers on the
    // queue, a busy one gets no new request while another is idle.
    channel.basic_qos(1, BasicQosOptions::default()).await?;
    // Manual acks (no `no_ack`): a request is acked only once answered, so if this server dies
    // halfway the broker gives the request to another server.
    let mut requests = channel
        .basic_consume(&queue, "", Default::default(), FieldTable::new())
        .await?;
    let mut ctrl_c = tutorial::CtrlC::listen()?;
    say(" [x] Awaiting RPC requests");

    let mut served = 0;
    while let Some(request) = ctrl_c.or_next(&mut requests).await? {
        let text = tutorial::text(&request);
        let n = text.trim().parse::<u32>().ok().filter(|n| *n <= MAX_N);
        let (Some(n), Some(reply_to)) = (n, request.properties.reply_to.clone()) else {
            // A request we cannot answer is dropped, not requeued: it would come straight back.
            say(format!(
                " [!] dropped '{text}': not a number from 0 to {MAX_N} with a reply_to"
            ));
            request.reject(false).await?;
            continue;
        };
        say(format!(" [.] fib({n})"));
        let response = fib(n).to_string();
        // The reply goes through the default exchange straight to the client's reply queue
        // (with direct reply-to, a pseudo-queue `amq.rabbitmq.reply-to.*`), and carries the
        // request's correlation_id back unchanged.
        let properties = BasicProperties {
            correlation_id: request.properties.correlation_id.clone(),
            ..Default::default()
        };
        let reply_to = reply_to.to_string();
        let _unconfirmed = channel
            .basic_publish("", &reply_to, Default::default(), properties, response)
            .await?;
        request.ack().await?;
        served += 1;
        if tutorial::reached(served, count) {
            break;
        }
    }
    connection.close().await?;
    Ok(())
}
