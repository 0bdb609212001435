//! Consumers and the messages they receive.

use amqp_wire::{BasicProperties, Method, ReplyCode, ShortString};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::body_stream::{BodyStream, StreamedDelivery};
use crate::channel::Channel;
use std::sync::Arc;

use crate::driver::{ConsumerGauge, ConsumerMsg, DroppedConsumer};
use crate::error::Result;
use crate::proto::Content;

/// A running consumer (basic.consume). Deliveries arrive in order from
/// [`Consumer::next`]; with the `stream` feature it is also a
/// `futures_core::Stream`.
///
/// Dropping it before it has ended cancels it: the driver sends
/// basic.cancel, then gives every delivery the consumer never handed out
/// (and any still on its way) back to the queue with basic.reject requeue,
/// so other consumers get them at once instead of when the channel closes.
/// Deliveries already handed out are the application's to settle.
pub struct Consumer {
    channel: Channel,
    tag: ShortString,
    rx: mpsc::UnboundedReceiver<ConsumerMsg>,
    gauge: Arc<ConsumerGauge>,
    done: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("channel", &self.channel.id())
            .field("tag", &self.tag)
            .finish()
    }
}

impl Consumer {
    pub(crate) fn new(
        channel: Channel,
        tag: ShortString,
        rx: mpsc::UnboundedReceiver<ConsumerMsg>,
        gauge: Arc<ConsumerGauge>,
    ) -> Self {
        Self {
            channel,
            tag,
            rx,
            gauge,
            done: false,
        }
    }

    /// The next delivery. `None` once the consumer was cancelled by us;
    /// `Some(Err(..))` once, when it ended otherwise: the broker cancelled
    /// it ([`crate::Error::ConsumerCancelled`], with its tag), or its channel
    /// or connection closed (with the broker's reason).
    pub async fn next(&mut self) -> Option<Result<Delivery>> {
        self.next_msg().await.map(|r| r.map(|(d, _)| d))
    }

    async fn next_msg(&mut self) -> Option<Result<(Delivery, Option<BodyStream>)>> {
        if self.done {
            return None;
        }
        let msg = self.rx.recv().await;
        self.on_msg(msg)
    }

    fn on_msg(
        &mut self,
        msg: Option<ConsumerMsg>,
    ) -> Option<Result<(Delivery, Option<BodyStream>)>> {
        match msg {
            Some(msg) => {
                let delivery = matches!(msg, ConsumerMsg::Delivery(_) | ConsumerMsg::Streamed(..));
                if delivery && self.gauge.taken() {
                    // Back under the bound: the driver may read again.
                    self.channel.connection().shared.wake_driver.notify_one();
                }
                let item = msg.into_delivery(&self.channel);
                if !matches!(item, Some(Ok(_))) {
                    self.done = true;
                }
                item
            }
            None => {
                self.done = true;
                self.channel.error().map(Err)
            }
        }
    }

    /// The consumer tag (the broker's choice if none was given).
    pub fn tag(&self) -> &str {
        self.tag.as_str().unwrap_or_default()
    }

    /// The channel it consumes on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// basic.cancel (60/30) of this consumer: the broker sends no more;
    /// deliveries already on their way still come out of `next`, then it
    /// returns `None`.
    pub async fn cancel(&self) -> Result<()> {
        let tag = self.tag.as_str().unwrap_or_default();
        self.channel.basic_cancel(tag, Default::default()).await
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // What is still queued never reached the application: its tags go
        // to the driver, which gives those deliveries back after the cancel.
        self.rx.close();
        let mut unread = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            if let ConsumerMsg::Delivery(content) | ConsumerMsg::Streamed(content, _) = msg {
                if let Method::BasicDeliver(deliver) = &content.method {
                    unread.push(deliver.delivery_tag);
                }
            }
        }
        let dropped = DroppedConsumer {
            channel: self.channel.channel_ref(),
            consumer_tag: self.tag.clone(),
            unread,
        };
        self.channel.connection().shared.consumer_dropped(dropped);
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for Consumer {
    type Item = Result<Delivery>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            std::task::Poll::Ready(msg) => {
                std::task::Poll::Ready(self.on_msg(msg).map(|r| r.map(|(d, _)| d)))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// A consumer whose deliveries' bodies are streams
/// ([`crate::Channel::basic_consume_streamed`]): each comes out of
/// [`StreamedConsumer::next`] as soon as its content header arrives, and
/// its body follows chunk by chunk through [`StreamedDelivery::body`],
/// however large. Dropping it cancels it, as for [`Consumer`].
#[derive(Debug)]
pub struct StreamedConsumer {
    inner: Consumer,
}

impl StreamedConsumer {
    pub(crate) fn new(inner: Consumer) -> Self {
        Self { inner }
    }

    /// The next delivery, with its body to take before asking for the
    /// one after (see [`StreamedDelivery`]); ends as [`Consumer::next`].
    pub async fn next(&mut self) -> Option<Result<StreamedDelivery>> {
        let (delivery, body) = match self.inner.next_msg().await? {
            Ok(item) => item,
            Err(e) => return Some(Err(e)),
        };
        match body {
            Some(body) => Some(Ok(StreamedDelivery { delivery, body })),
            // The driver streams every delivery of a streamed consumer.
            None => Some(Err(crate::Error::internal(
                "a streamed consumer got an assembled delivery".into(),
            ))),
        }
    }

    /// The consumer tag.
    pub fn tag(&self) -> &str {
        self.inner.tag()
    }

    /// The channel it consumes on.
    pub fn channel(&self) -> &Channel {
        self.inner.channel()
    }

    /// basic.cancel (60/30) of this consumer (see [`Consumer::cancel`]).
    pub async fn cancel(&self) -> Result<()> {
        self.inner.cancel().await
    }
}

/// A message delivered to a consumer (basic.deliver) or fetched
/// (basic.get-ok), with its properties and body.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The channel-scoped number to ack, nack or reject it by.
    pub delivery_tag: u64,
    /// True if it was delivered before and not acked.
    pub redelivered: bool,
    /// The exchange it was published to ("" for the default exchange).
    pub exchange: ShortString,
    /// The routing key it was published with.
    pub routing_key: ShortString,
    /// The consumer it was delivered to (empty for basic.get).
    pub consumer_tag: ShortString,
    /// Its properties.
    pub properties: BasicProperties,
    /// Its body.
    pub body: Bytes,
    channel: Channel,
}

impl Delivery {
    pub(crate) fn from_content(content: Box<Content>, channel: Channel) -> Option<Self> {
        // Built field by field straight from the box: each move of a whole
        // `Content` or `Delivery` is a memcpy of ~500 octets.
        let Content {
            method,
            properties,
            body,
        } = *content;
        match method {
            Method::BasicDeliver(d) => Some(Self {
                delivery_tag: d.delivery_tag,
                redelivered: d.redelivered,
                exchange: d.exchange,
                routing_key: d.routing_key,
                consumer_tag: d.consumer_tag,
                properties,
                body,
                channel,
            }),
            Method::BasicGetOk(g) => Some(Self {
                delivery_tag: g.delivery_tag,
                redelivered: g.redelivered,
                exchange: g.exchange,
                routing_key: g.routing_key,
                consumer_tag: ShortString::default(),
                properties,
                body,
                channel,
            }),
            _ => None,
        }
    }

    /// basic.ack (60/80) of this delivery alone (see [`Channel::basic_ack`]).
    pub async fn ack(&self) -> Result<()> {
        let options = crate::BasicAckOptions::default();
        self.channel.basic_ack(self.delivery_tag, options).await
    }

    /// basic.nack (60/120) of this delivery alone; `requeue` puts it back in
    /// the queue.
    pub async fn nack(&self, requeue: bool) -> Result<()> {
        let options = crate::BasicNackOptions {
            multiple: false,
            requeue,
        };
        self.channel.basic_nack(self.delivery_tag, options).await
    }

    /// basic.reject (60/90) of this delivery; `requeue` puts it back in the
    /// queue.
    pub async fn reject(&self, requeue: bool) -> Result<()> {
        let options = crate::BasicRejectOptions { requeue };
        self.channel.basic_reject(self.delivery_tag, options).await
    }

    /// The channel it came on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// basic.get's answer when the queue had a message.
#[derive(Debug, Clone)]
pub struct GetOk {
    /// The message.
    pub delivery: Delivery,
    /// Messages still ready in the queue.
    pub message_count: u32,
}

impl GetOk {
    pub(crate) fn from_content(content: Box<Content>, channel: Channel) -> Option<Self> {
        let message_count = match &content.method {
            Method::BasicGetOk(g) => g.message_count,
            _ => return None,
        };
        Some(Self {
            delivery: Delivery::from_content(content, channel)?,
            message_count,
        })
    }
}

/// A mandatory message that no queue took, sent back by the broker
/// (basic.return).
#[derive(Debug, Clone)]
pub struct Returned {
    /// Why, e.g. 312 NO_ROUTE.
    pub reply_code: ReplyCode,
    /// The broker's text.
    pub reply_text: String,
    /// The exchange it was published to.
    pub exchange: ShortString,
    /// The routing key it was published with.
    pub routing_key: ShortString,
    /// Its properties.
    pub properties: BasicProperties,
    /// Its body.
    pub body: Bytes,
}

impl Returned {
    pub(crate) fn from_content(content: Box<Content>) -> Option<Self> {
        let content = *content;
        match content.method {
            Method::BasicReturn(r) => Some(Self {
                reply_code: ReplyCode(r.reply_code),
                reply_text: r.reply_text.to_string(),
                exchange: r.exchange,
                routing_key: r.routing_key,
                properties: content.properties,
                body: content.body,
            }),
            _ => None,
        }
    }
}

/// A delivery has been held unacked for the configured share of the
/// broker's `consumer_timeout` (see
/// [`crate::ConnectionConfig::with_consumer_timeout`] and
/// [`crate::ConnectionConfig::with_ack_warning_fraction`]). Ack, nack or
/// reject it soon: at `consumer_timeout` RabbitMQ closes its channel with
/// 406 PRECONDITION_FAILED ([`crate::Error::is_delivery_ack_timeout`]) and
/// requeues every unacked delivery of that channel.
///
/// Sent once per delivery, by [`crate::Connection::ack_timeout_warnings`].
/// Only deliveries that need an ack are timed: those to consumers without
/// `no_ack` (from the moment their basic.deliver arrived) and messages
/// fetched by basic.get without `no_ack` (their `consumer_tag` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckTimeoutWarning {
    /// The connection's [`crate::Connection::id`].
    pub connection_id: u64,
    /// The channel the delivery came on.
    pub channel: u16,
    /// The delivery's tag on that channel.
    pub delivery_tag: u64,
    /// The consumer it was delivered to.
    pub consumer_tag: String,
    /// How long it had been held when the warning was raised.
    pub held_for: std::time::Duration,
}

impl std::fmt::Display for AckTimeoutWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "delivery {} on channel {} (consumer {:?}) unacked for {:.1}s: ack it before the broker's consumer_timeout closes the channel",
            self.delivery_tag,
            self.channel,
            self.consumer_tag,
            self.held_for.as_secs_f64()
        )
    }
}
