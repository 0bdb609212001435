//! Tutorial 6, "RPC": the client. Sends a request `n` to the queue `rpc_queue` and waits (at
//! most `--timeout`) for the server's answer fib(n).
//!
//! Replies come back by RabbitMQ's direct reply-to: the client consumes from the pseudo-queue
//! `amq.rabbitmq.reply-to` and names it in `reply_to`, so no reply queue is ever declared. Each
//! request carries a fresh `correlation_id`, and a reply with any other id (a late answer to an
//! earlier request) is ignored.
//!
//! ```text
//! cargo run -p demo --example rpc_client            # fib(30)
//! cargo run -p demo --example rpc_client -- --timeout 2 10 20
//! ```

mod tutorial;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqp_client::{BasicConsumeOptions, BasicProperties, Channel, Consumer, FieldTable};
use demo::output::{say, Fail};

const HELP: &str = "\
rpc_client: ask the RPC server for fib(n) (RabbitMQ tutorial 6)

usage: rpc_client [--queue NAME] [--timeout SECONDS] [N...]
  N                 the numbers to ask fib of, one request each (default: 30)
  --queue NAME      the request queue (default: rpc_queue)
  --timeout SECONDS how long to wait for each reply (default: 5)";

/// RabbitMQ's direct reply-to pseudo-queue: replies published to the name the broker puts in
/// our `reply_to` go straight to our consumer on this channel.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The tutorial's `FibonacciRpcClient`: a channel consuming its replies, and the queue the
/// requests go to.
struct FibonacciRpcClient {
    channel: Channel,
    replies: Consumer,
    queue: String,
    timeout: Duration,
    sent: u64,
}

impl FibonacciRpcClient {
    async fn new(channel: Channel, queue: String, timeout: Duration) -> Result<Self, Fail> {
        // Direct reply-to needs the consumer first, in no-ack mode, on the very channel the
        // requests are then published on.
        let options = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let replies = channel
            .basic_consume(DIRECT_REPLY_TO, "", options, FieldTable::new())
            .await?;
        Ok(Self {
            channel,
            replies,
            queue,
            timeout,
            sent: 0,
        })
    }

    /// Sends `n` and waits for the reply with the same correlation id.
    async fn call(&mut self, n: u32) -> Result<String, Fail> {
        self.sent += 1;
        let correlation_id = new_correlation_id(self.sent);
        let properties = BasicProperties {
            reply_to: Some(DIRECT_REPLY_TO.into()),
            correlation_id: Some(correlation_id.as_str().into()),
            ..Default::default()
        };
        let _unconfirmed = self
            .channel
            .basic_publish(
                "",
                &self.queue,
                Default::default(),
                properties,
                n.to_string(),
            )
            .await?;
        let reply = async {
            while let Some(delivery) = self.replies.next().await {
                let delivery = delivery?;
                let ours = delivery.properties.correlation_id.as_ref();
                if ours.is_some_and(|id| *id == correlation_id.as_str()) {
                    return Ok(tutorial::text(&delivery));
                }
                // Not ours (a late answer to an earlier request, say): the id says so, and the
                // tutorial's client ignores it.
            }
            Err(Fail::new("the reply consumer ended"))
        };
        tokio::time::timeout(self.timeout, reply)
            .await
            .map_err(|_| {
                Fail::new(format!(
                    "no reply to fib({n}) within {:?}: is rpc_server running on queue '{}'?",
                    self.timeout, self.queue
                ))
            })?
    }
}

/// An id no other request of any client will carry: process id, time and a counter.
fn new_correlation_id(sequence: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos());
    format!("{:x}-{nanos:x}-{sequence}", std::process::id())
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
    let timeout = cli.take_seconds("timeout", Duration::from_secs(5))?;
    let numbers = match cli.words()?.as_slice() {
        [] => vec![30],
        words => words
            .iter()
            .map(|w| w.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Fail::usage("N must be whole numbers (see --help)"))?,
    };
    let connection = cli.connect("rpc_client").await?;
    let mut client =
        FibonacciRpcClient::new(connection.open_channel().await?, queue, timeout).await?;

    for n in numbers {
        say(format!(" [x] Requesting fib({n})"));
        let response = client.call(n).await?;
        say(format!(" [.] Got {response}"));
    }
    connection.close().await?;
    Ok(())
}
