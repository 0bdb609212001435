//! Tutorial 7, "Publisher Confirms": three ways to know that the broker has taken every
//! message, timed. In confirm mode (confirm.select, class 85 method 10) the broker acks
//! (basic.ack, 60/80) or nacks (basic.nack, 60/120) each publish; the strategies differ in
//! how long the publisher waits for those answers.
//!
//! 1. Individually: publish, wait for its confirm, publish the next. Simple and slow: one
//!    round trip per message.
//! 2. In batches: publish a batch, then wait for all its confirms. Much faster; but after a
//!    nack one cannot tell which message of the batch failed without re-sending it all.
//! 3. Asynchronously: publish without waiting, keep every message not yet confirmed in a map
//!    keyed by its sequence number, and remove entries as confirms arrive. As fast as batches,
//!    and a nack names the very message to re-publish.
//!
//! ```text
//! cargo run -p demo --example publisher_confirms
//! cargo run -p demo --example publisher_confirms -- --count 50000
//! ```

mod tutorial;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use amqp_client::{
    Channel, ConfirmSelectOptions, Connection, FieldTable, PublishConfirm, QueueDeclareOptions,
};
use demo::output::{say, Fail};
use tokio::task::JoinSet;

const HELP: &str = "\
publisher_confirms: publish with confirms in three ways and time them (RabbitMQ tutorial 7)

usage: publisher_confirms [--count N] [--batch N]
  --count N       messages per strategy (default: 5000)
  --batch N       batch size of the second strategy (default: 100)";

/// How long a confirm may take before the example gives up.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    tutorial::finish(run().await)
}

async fn run() -> Result<(), Fail> {
    let Some(mut cli) = tutorial::Cli::parse(HELP)? else {
        return Ok(());
    };
    let count: u64 = cli.take_number("count")?.unwrap_or(5_000);
    let batch: usize = cli.take_number("batch")?.unwrap_or(100);
    if count == 0 || batch == 0 {
        return Err(Fail::usage("--count and --batch need at least 1"));
    }
    let connection = cli.connect("publisher_confirms").await?;

    let started = Instant::now();
    publish_messages_individually(&connection, count).await?;
    say(format!(
        "Published {} messages individually in {} ms",
        thousands(count),
        thousands(elapsed_ms(started))
    ));

    let started = Instant::now();
    publish_messages_in_batch(&connection, count, batch).await?;
    say(format!(
        "Published {} messages in batch in {} ms",
        thousands(count),
        thousands(elapsed_ms(started))
    ));

    let started = Instant::now();
    handle_publish_confirms_asynchronously(&connection, count).await?;
    say(format!(
        "Published {} messages and handled confirms asynchronously in {} ms",
        thousands(count),
        thousands(elapsed_ms(started))
    ));

    say(format!(
        "All {} messages were confirmed by the broker",
        thousands(3 * count)
    ));
    connection.close().await?;
    Ok(())
}

/// A channel in confirm mode, and a queue for the messages: named by the broker, exclusive
/// to this connection, so it goes away with it.
async fn confirm_channel(connection: &Connection) -> Result<(Channel, String), Fail> {
    let channel = connection.open_channel().await?;
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("", options, FieldTable::new())
        .await?
        .ok_or_else(|| Fail::no_reply("queue.declare"))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok((channel, queue.queue.to_string()))
}

/// Publishes message `body` to `queue` through the default exchange.
async fn publish(channel: &Channel, queue: &str, body: String) -> Result<PublishConfirm, Fail> {
    let confirm = channel
        .basic_publish("", queue, Default::default(), Default::default(), body)
        .await?;
    Ok(confirm)
}

/// Waits for one confirm: Ok on basic.ack, an error on basic.nack or after [`CONFIRM_TIMEOUT`].
async fn confirmed(confirm: PublishConfirm, what: impl std::fmt::Display) -> Result<(), Fail> {
    match tokio::time::timeout(CONFIRM_TIMEOUT, confirm.wait()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Fail::from(e).context(format!("{what} was not confirmed"))),
        Err(_) => Err(Fail::new(format!(
            "{what} was not confirmed within {CONFIRM_TIMEOUT:?}"
        ))),
    }
}

/// Strategy 1: wait for each message's confirm before publishing the next.
async fn publish_messages_individually(connection: &Connection, count: u64) -> Result<(), Fail> {
    let (channel, queue) = confirm_channel(connection).await?;
    for i in 0..count {
        let confirm = publish(&channel, &queue, i.to_string()).await?;
        confirmed(confirm, format_args!("message {i}")).await?;
    }
    channel.close().await?;
    Ok(())
}

/// Strategy 2: publish `batch` messages, then wait for all their confirms.
async fn publish_messages_in_batch(
    connection: &Connection,
    count: u64,
    batch: usize,
) -> Result<(), Fail> {
    let (channel, queue) = confirm_channel(connection).await?;
    let mut outstanding = Vec::with_capacity(batch);
    for i in 0..count {
        outstanding.push(publish(&channel, &queue, i.to_string()).await?);
        if outstanding.len() == batch || i + 1 == count {
            // A nack here only says that some message of the batch failed.
            for confirm in outstanding.drain(..) {
                confirmed(confirm, "a message of the batch").await?;
            }
        }
    }
    channel.close().await?;
    Ok(())
}

/// Strategy 3: publish without waiting; confirms are handled as they arrive, each removing its
/// message from the map of outstanding ones.
async fn handle_publish_confirms_asynchronously(
    connection: &Connection,
    count: u64,
) -> Result<(), Fail> {
    let (channel, queue) = confirm_channel(connection).await?;
    // Sequence number (the delivery tag the broker's confirm refers to: 1, 2, ...) → message,
    // for every message not yet confirmed.
    let mut outstanding = BTreeMap::new();
    let mut confirms = JoinSet::new();
    for sequence in 1..=count {
        let body = sequence.to_string();
        let confirm = publish(&channel, &queue, body.clone()).await?;
        outstanding.insert(sequence, body);
        confirms.spawn(async move { (sequence, confirm.wait().await) });
        // Handle the confirms already in, without stopping to wait for any.
        while let Some(done) = confirms.try_join_next() {
            on_confirm(done, &mut outstanding)?;
        }
    }
    let rest = async {
        while let Some(done) = confirms.join_next().await {
            on_confirm(done, &mut outstanding)?;
        }
        Ok::<_, Fail>(())
    };
    tokio::time::timeout(CONFIRM_TIMEOUT, rest)
        .await
        .map_err(|_| Fail::new("not every message was confirmed in time"))??;
    if !outstanding.is_empty() {
        return Err(Fail::new(format!(
            "{} messages were never confirmed",
            outstanding.len()
        )));
    }
    channel.close().await?;
    Ok(())
}

/// One confirm came in: the message is done, or (nacked) it is the one to publish again. The
/// example stops instead.
fn on_confirm(
    done: Result<(u64, amqp_client::Result<()>), tokio::task::JoinError>,
    outstanding: &mut BTreeMap<u64, String>,
) -> Result<(), Fail> {
    let (sequence, result) = done.map_err(|e| Fail::new(format!("confirm task failed: {e}")))?;
    match result {
        Ok(()) => {
            outstanding.remove(&sequence);
            Ok(())
        }
        Err(e) => {
            let body = outstanding.get(&sequence).map_or("?", String::as_str);
            Err(Fail::from(e).context(format!("message {sequence} ('{body}') was not confirmed")))
        }
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `5000` as `5,000`, as the tutorial prints its counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
