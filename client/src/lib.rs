//! # amqp-client: an AMQP 0-9-1 client for RabbitMQ, on tokio
//!
//! ```text
//!  your code ──> Connection / Channel / Consumer handles (cheap clones)
//!                      │ commands (mpsc)      ▲ replies, deliveries
//!                      ▼                      │
//!                driver task: owns the socket, timers; the only I/O
//!                      │ frames, commands, time        ▲ bytes to write, events
//!                      ▼                               │
//!                proto::Core: connection + channel state machines, no I/O
//!                      │                               ▲
//!                      ▼                               │
//!                amqp-wire: Frame::decode / encode (pure codec)
//! ```
//!
//! The handles only talk to the driver through queues, so when the
//! connection is lost the driver recovers it on a new socket behind the
//! same handles ([`Recovery`], on by default: channels, qos, confirm mode,
//! exchanges, queues, bindings and consumers are restored, stale delivery
//! tags are refused, every publish ends acked, nacked, returned or in
//! doubt; [`Connection::events`] tells the story). The driver runs over any
//! `AsyncRead + AsyncWrite`: [`Connection::connect_with`] opens streams
//! your way (and recovers), [`Connection::connect_stream`] takes one.
//!
//! ```no_run
//! use amqp_client::{BasicProperties, FieldTable, QueueDeclareOptions};
//!
//! # async fn demo() -> Result<(), amqp_client::Error> {
//! let connection = amqp_client::connect("amqp://guest:guest@localhost:5672/%2f").await?;
//! let channel = connection.open_channel().await?;
//! channel.queue_declare("hello", QueueDeclareOptions::durable(), FieldTable::new()).await?;
//! channel.confirm_select(Default::default()).await?;
//! let props = BasicProperties::default().persistent();
//! channel.basic_publish("", "hello", Default::default(), props, "Hello World!").await?.wait().await?;
//! let mut consumer = channel.basic_consume("hello", "", Default::default(), FieldTable::new()).await?;
//! if let Some(delivery) = consumer.next().await {
//!     let delivery = delivery?;
//!     println!("got {:?}", delivery.body);
//!     delivery.ack().await?;
//! }
//! connection.close().await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body_stream;
mod channel;
mod config;
mod confirm_book;
mod connection;
mod consumer;
mod driver;
mod error;
mod fast_hash;
mod lazy_broadcast;
mod options;
mod proto;
mod recovery;
mod tap;
#[cfg(feature = "tls")]
mod tls;
mod x_death;

pub use amqp_wire::{
    BasicProperties, Decimal, FieldTable, FieldValue, LongString, QueueDeclareOk, ReplyCode,
    ShortString,
};
pub use body_stream::{BodyStream, StreamedDelivery};
pub use channel::{Channel, PublishConfirm};
pub use config::{
    ConnectionConfig, Heartbeat, SaslMechanism, DEFAULT_CHANNEL_MAX, DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_PORT, DEFAULT_TLS_PORT,
};
pub use config::{DEFAULT_ACK_WARNING_FRACTION, DEFAULT_CLOSE_TIMEOUT, DEFAULT_CONSUMER_TIMEOUT};
pub use config::{DEFAULT_CONSUMER_BUFFER, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_RPC_TIMEOUT};
pub use connection::{connect, Connection};
pub use consumer::{AckTimeoutWarning, Consumer, Delivery, GetOk, Returned, StreamedConsumer};
pub use error::{CloseReason, Error, Result, TlsFailure};
pub use options::*;
pub use proto::Tuning;
pub use recovery::{
    ConnectionEvent, Endpoint, EndpointOrder, Recovery, DEFAULT_RECOVERY_INITIAL_DELAY,
    DEFAULT_RECOVERY_MAX_DELAY, DEFAULT_RECOVERY_WAIT, REPUBLISHED_HEADER,
};
pub use tap::{without_secrets, Direction, FrameTap, PrintTap, TapEvent, Tapped};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use x_death::{DeadLetterReason, XDeath, X_DEATH_HEADER};

/// The codec underneath, for frames, methods and field tables.
pub use amqp_wire as wire;

// The README's Rust examples are compiled as doc tests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
