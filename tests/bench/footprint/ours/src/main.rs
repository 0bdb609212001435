//! Minimal producer with amqp-client: connect, declare, publish one persistent message, close.

use amqp_client::{BasicProperties, FieldTable, QueueDeclareOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), amqp_client::Error> {
    let uri = std::env::var("AMQP_URI")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let connection = amqp_client::connect(&uri).await?;
    let channel = connection.open_channel().await?;
    let queue = "amqp-bench-footprint-ours";
    channel
        .queue_declare(queue, QueueDeclareOptions::durable(), FieldTable::new())
        .await?;
    let props = BasicProperties::default().persistent();
    // Not in confirm mode: the returned PublishConfirm has nothing to wait for.
    let _ = channel
        .basic_publish("", queue, Default::default(), props, "hello")
        .await?;
    connection.close().await
}
