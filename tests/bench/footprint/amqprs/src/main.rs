//! Minimal producer with amqprs: connect, declare, publish one persistent message, close.

use amqprs::channel::{BasicPublishArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::BasicProperties;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), amqprs::error::Error> {
    // amqprs takes host, port and credentials, not a URI (without its `urispec` feature).
    let args = OpenConnectionArguments::new("127.0.0.1", 5672, "guest", "guest");
    let connection = Connection::open(&args).await?;
    let channel = connection.open_channel(None).await?;
    let queue = "amqp-bench-footprint-amqprs";
    channel
        .queue_declare(QueueDeclareArguments::durable_client_named(queue))
        .await?;
    let props = BasicProperties::default().with_persistence(true).finish();
    channel
        .basic_publish(
            props,
            b"hello".to_vec(),
            BasicPublishArguments::new("", queue),
        )
        .await?;
    channel.close().await?;
    connection.close().await
}
