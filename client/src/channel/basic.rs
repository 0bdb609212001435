//! The basic class (60): qos, consume, cancel, publish, get, the
//! acknowledgements, recover. (basic.return and basic.deliver come from the
//! broker: see [`Channel::next_return`] and [`crate::Consumer`].)

use std::sync::atomic::Ordering;
use std::sync::Arc;

use amqp_wire::*;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Channel, PublishConfirm};
use crate::consumer::{Consumer, GetOk};
use crate::driver::{Command, ConsumerGauge};
use crate::error::{Error, Result};
use crate::options::*;
use crate::proto::{Outgoing, Reply, Settle};

impl Channel {
    /// basic.qos (60/10): at most `prefetch_count` unacked deliveries (0 =
    /// no limit) per consumer, or per channel with `global`; waits for
    /// qos-ok (60/11).
    pub async fn basic_qos(&self, prefetch_count: u16, options: BasicQosOptions) -> Result<()> {
        let method = BasicQos {
            prefetch_size: options.prefetch_size,
            prefetch_count,
            global: options.global,
        };
        match self.call(method.into()).await? {
            Some(Method::BasicQosOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(BasicQos::NAME, other)),
        }
    }

    /// basic.consume (60/20): starts a consumer; deliveries come from
    /// [`Consumer::next`]. An empty `consumer_tag` lets the broker pick one
    /// (it comes with consume-ok, 60/21; with `nowait` a tag must be given).
    ///
    /// Deliveries wait in a queue per consumer. Once it holds
    /// [`crate::ConnectionConfig::with_consumer_buffer`] deliveries (4096
    /// by default) the client stops reading the socket until the consumer
    /// has taken half of them, so a broker sending faster than the consumer works
    /// (no prefetch, `no_ack`, or a broker ignoring basic.qos) cannot make
    /// the client's memory grow without limit; this holds back every
    /// channel of the connection, so keep the prefetch
    /// ([`Channel::basic_qos`]) at or below that bound.
    ///
    /// Dropping the [`Consumer`] cancels it (basic.cancel) and gives the
    /// deliveries it never handed out back to the queue (basic.reject with
    /// requeue), so none stays unacked and out of reach.
    pub async fn basic_consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: BasicConsumeOptions,
        arguments: FieldTable,
    ) -> Result<Consumer> {
        self.consume(queue, consumer_tag, options, arguments, false)
            .await
    }

    /// basic.consume, its deliveries' bodies `streamed` or not.
    pub(super) async fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: BasicConsumeOptions,
        arguments: FieldTable,
        streamed: bool,
    ) -> Result<Consumer> {
        if options.nowait && consumer_tag.is_empty() {
            return Err(Error::InvalidUse("a nowait consumer needs a consumer tag"));
        }
        let method = BasicConsume {
            ticket: 0,
            queue: queue.into(),
            consumer_tag: consumer_tag.into(),
            no_local: options.no_local,
            no_ack: options.no_ack,
            exclusive: options.exclusive,
            nowait: options.nowait,
            arguments,
        }
        .into();
        let (deliveries, rx) = mpsc::unbounded_channel();
        let gauge = Arc::new(ConsumerGauge::new(
            self.inner.connection.shared.consumer_buffer,
        ));
        let channel = self.inner.channel;
        let reply = self
            .inner
            .connection
            .request(|reply| Command::Consume {
                channel,
                method: Box::new(method),
                reply,
                deliveries,
                gauge: gauge.clone(),
                streamed,
            })
            .await?;
        let tag = match reply {
            Reply::Method(Method::BasicConsumeOk(ok)) => ok.consumer_tag,
            Reply::Done if options.nowait => consumer_tag.into(),
            other => return Err(Error::internal(format!("{other:?} for basic.consume"))),
        };
        Ok(Consumer::new(self.clone(), tag, rx, gauge))
    }

    /// basic.cancel (60/30): ends a consumer; its [`Consumer::next`] then
    /// returns `None` after the deliveries already received. Waits for
    /// cancel-ok (60/31) unless `nowait` (see [`BasicCancelOptions::nowait`]
    /// for what that costs).
    pub async fn basic_cancel(
        &self,
        consumer_tag: &str,
        options: BasicCancelOptions,
    ) -> Result<()> {
        let method = BasicCancel {
            consumer_tag: consumer_tag.into(),
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Some(Method::BasicCancelOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(BasicCancel::NAME, other)),
        }
    }

    /// basic.publish (60/40): sends a message, split into frames of at most
    /// frame_max - 8 octets. Returns once the frames are queued (it does not
    /// wait for the broker); in confirm mode the returned [`PublishConfirm`]
    /// waits for the broker's verdict. A value that cannot be encoded (an
    /// exchange, routing key or short-string property over 255 octets, a
    /// header table too deep) is refused here with [`Error::Encode`], in
    /// both modes, and nothing is sent. While the broker has flow off for
    /// the channel (channel.flow), this waits until it is back on.
    ///
    /// In confirm mode with `max_in_flight` set, this first waits for a
    /// slot: for the broker to confirm an earlier publish. With a
    /// blocked-publish timeout set, it fails with [`Error::Blocked`] rather
    /// than wait longer than that while the broker blocks the connection
    /// (connection.blocked); the message is then not sent. Every wait ends
    /// with the connection's error if the connection ends first.
    pub async fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        properties: BasicProperties,
        body: impl Into<Bytes>,
    ) -> Result<PublishConfirm> {
        let message = self
            .outgoing(exchange, routing_key, options, properties, body.into())
            .await?;
        let channel = self.inner.channel;
        self.send_publish(|ticket| Command::Publish {
            channel,
            message,
            ticket,
        })
        .await
    }

    /// Sends a publish command, with a ticket in confirm mode (after a
    /// window slot is taken).
    pub(super) async fn send_publish(
        &self,
        command: impl FnOnce(Option<u64>) -> Command,
    ) -> Result<PublishConfirm> {
        let route = &self.inner.route;
        let connection = &self.inner.connection;
        if !self.inner.confirms.load(Ordering::Acquire) {
            connection.send(command(None)).await?;
            return Ok(PublishConfirm::none());
        }
        self.take_window_slot().await?;
        // A queue slot first, then the ticket and the send under the book's
        // lock, with no await between: tickets enter the queue in order.
        let Ok(permit) = connection.commands.reserve().await else {
            // The driver never saw it, so nobody else will give the slot back.
            route.release(1);
            return Err(connection.gone());
        };
        let issued = route
            .book
            .issue(|ticket| permit.send(command(Some(ticket))));
        match issued {
            Ok(ticket) => Ok(PublishConfirm::pending(route.clone(), ticket)),
            Err(e) => {
                route.release(1);
                Err(e)
            }
        }
    }

    /// A publish's method and content, once it may be sent: flow on, the
    /// channel open, every short string encodable, the connection
    /// recovered and not blocked.
    pub(super) async fn outgoing(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        properties: BasicProperties,
        body: Bytes,
    ) -> Result<Box<Outgoing>> {
        if !*self.inner.route.flow.borrow() {
            let mut flow = self.inner.route.flow.subscribe();
            // The route's end turns flow on: this cannot outlive the channel.
            let _ = flow.wait_for(|active| *active).await;
        }
        if let Some(e) = self.inner.route.closed.get() {
            return Err(e.clone());
        }
        check_publish(exchange, routing_key, &properties)?;
        // Published while the connection recovers: sent once it has.
        self.inner.connection.shared.recovered().await?;
        self.inner.connection.wait_unblocked().await?;
        let method = BasicPublish {
            ticket: 0,
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory: options.mandatory,
            immediate: options.immediate,
        }
        .into();
        Ok(Box::new(Outgoing {
            method,
            properties,
            body,
        }))
    }

    /// basic.get (60/70): fetches one message (get-ok, 60/71), or `None`
    /// if the queue is empty (get-empty, 60/72).
    pub async fn basic_get(&self, queue: &str, options: BasicGetOptions) -> Result<Option<GetOk>> {
        let method = BasicGet {
            ticket: 0,
            queue: queue.into(),
            no_ack: options.no_ack,
        }
        .into();
        match self.request(method).await? {
            Reply::Got(None) => Ok(None),
            Reply::Got(Some(content)) => GetOk::from_content(content, self.clone())
                .map(Some)
                .ok_or_else(|| Error::internal("basic.get answered without get-ok".into())),
            other => Err(Error::internal(format!("{other:?} for basic.get"))),
        }
    }

    /// basic.ack (60/80): acknowledges a delivery, and with `multiple`
    /// every earlier one of the channel. `Ok` means the frame was handed to
    /// the connection while it was open; an ack racing the connection's
    /// end can be lost with it, like octets in a socket buffer, and the
    /// broker then redelivers the message.
    pub async fn basic_ack(&self, delivery_tag: u64, options: BasicAckOptions) -> Result<()> {
        let settle = Settle::Ack {
            multiple: options.multiple,
        };
        self.settle(delivery_tag, settle).await
    }

    /// basic.nack (60/120, a RabbitMQ extension): refuses deliveries (with
    /// `multiple`, every earlier one too), requeueing them with `requeue`,
    /// else dropping or dead-lettering them.
    pub async fn basic_nack(&self, delivery_tag: u64, options: BasicNackOptions) -> Result<()> {
        let settle = Settle::Nack {
            multiple: options.multiple,
            requeue: options.requeue,
        };
        self.settle(delivery_tag, settle).await
    }

    /// basic.reject (60/90): refuses one delivery, requeueing it with
    /// `requeue`, else dropping or dead-lettering it.
    pub async fn basic_reject(&self, delivery_tag: u64, options: BasicRejectOptions) -> Result<()> {
        let settle = Settle::Reject {
            requeue: options.requeue,
        };
        self.settle(delivery_tag, settle).await
    }

    /// basic.recover (60/110): asks the broker to redeliver every unacked
    /// message of the channel (RabbitMQ requeues them, and supports only
    /// `requeue`); waits for recover-ok (60/111).
    pub async fn basic_recover(&self, options: BasicRecoverOptions) -> Result<()> {
        let method = BasicRecover {
            requeue: options.requeue,
        };
        match self.call(method.into()).await? {
            Some(Method::BasicRecoverOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(BasicRecover::NAME, other)),
        }
    }

    /// basic.recover-async (60/100): basic.recover without recover-ok, so
    /// this returns once the method is queued. Deprecated in the spec, still
    /// honoured by RabbitMQ with `requeue` set.
    pub async fn basic_recover_async(&self, options: BasicRecoverOptions) -> Result<()> {
        let method = BasicRecoverAsync {
            requeue: options.requeue,
        };
        self.cast(method.into()).await
    }
}

/// Checks what basic.publish and its content header would fail to encode,
/// before anything is queued: a message the driver could not encode would
/// otherwise vanish without an error.
fn check_publish(exchange: &str, routing_key: &str, properties: &BasicProperties) -> Result<()> {
    for name in [exchange, routing_key] {
        if name.len() > 255 {
            return Err(EncodeError::ShortStringTooLong(name.len()).into());
        }
    }
    if properties.headers.is_some() {
        // A table can fail deep inside (a long key, nesting): encode it.
        // Rare enough in a publish's properties to cost nothing overall.
        return encode_content_header(0, 0, properties, &mut bytes::BytesMut::new())
            .map_err(Error::from);
    }
    let mut result = Ok(());
    properties.visit(|_, value| match value {
        ArgValue::ShortStr(s) if s.len() > 255 && result.is_ok() => {
            result = Err(EncodeError::ShortStringTooLong(s.len()));
        }
        _ => {}
    });
    result.map_err(Error::from)
}
