//! The public channel handle: the AMQP methods a client sends, named as in
//! the spec (`queue_declare`, `basic_publish`, `basic_consume`, ...).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use amqp_wire::*;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::connection::{unexpected, Connection};
use crate::consumer::{Consumer, Delivery, GetOk, Returned};
use crate::driver::{ChannelRoute, Command, ConsumerGauge, ConsumerMsg};
use crate::error::{Error, Result};
use crate::options::*;
use crate::proto::{ChannelRef, Content, Outgoing, Reply, Settle};

/// A channel: a lightweight session multiplexed on a connection. Cheap to
/// clone; when the last clone (and every consumer and delivery of it) is
/// dropped, the channel is closed.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    channel: ChannelRef,
    route: Arc<ChannelRoute>,
    returns: Mutex<mpsc::Receiver<Box<Content>>>,
    confirms: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.route.closed.get().is_none() {
            let (reply, _) = oneshot::channel();
            // Best effort: a full or closed command queue means the
            // connection is busy or gone, and the channel goes with it.
            let _ = self.connection.commands.try_send(Command::CloseChannel {
                channel: self.channel,
                reply,
            });
        }
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.inner.channel.id)
            .field("closed", &self.inner.route.closed.get())
            .finish()
    }
}

/// Waits for the broker's confirm of one publish (see [`Channel::confirm_select`]).
///
/// Two words: the channel's record of confirms and this publish's place in
/// it, so a hundred thousand unconfirmed publishes cost little memory.
#[must_use = "a confirm means nothing until awaited; drop it if you don't need it"]
pub struct PublishConfirm {
    /// `None` outside confirm mode: nothing to wait for.
    pending: Option<(Arc<ChannelRoute>, u64)>,
}

impl std::fmt::Debug for PublishConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishConfirm")
            .field("ticket", &self.pending.as_ref().map(|(_, t)| t))
            .finish()
    }
}

impl PublishConfirm {
    /// The broker's verdict on the message, one of:
    /// - `Ok(())`: acked (basic.ack): routed and, for a persistent message
    ///   in a durable queue, on disk;
    /// - [`Error::Returned`]: a mandatory message no queue took, sent back
    ///   (basic.return, with the broker's reply code, text and the message)
    ///   before the broker acked it: it was not stored;
    /// - [`Error::Nacked`]: refused (basic.nack);
    /// - the channel's or connection's error if it ended first: the broker
    ///   may or may not have the message.
    ///
    /// Without confirm mode this returns Ok at once.
    ///
    /// What bounds the wait: the broker's confirm, or the end of the
    /// channel or connection (a dead broker or network is found by the
    /// heartbeat within two intervals). A live broker that never confirms is
    /// not bounded here: wrap the call in `tokio::time::timeout` for a
    /// bound of your own (dropping the confirm is fine, see below). With a
    /// blocked-publish timeout configured, this also fails with
    /// [`Error::Blocked`] once the broker has blocked the connection that
    /// long without a break: the message may still be taken later.
    ///
    /// Dropping a `PublishConfirm` (awaited or not) frees what it holds in
    /// the channel's book, whatever the broker answers; it does not free
    /// its `max_in_flight` slot, which the broker's confirm does.
    pub async fn wait(mut self) -> Result<()> {
        let Some((route, ticket)) = &self.pending else {
            return Ok(());
        };
        let settled = std::future::poll_fn(|cx| route.book.poll(*ticket, cx));
        let confirmed = if route.shared.blocked_publish_timeout.is_some() {
            tokio::select! {
                confirmed = settled => confirmed,
                e = route.shared.blocked_too_long() => return Err(e),
            }
        } else {
            settled.await
        };
        // Read: the book holds nothing more for it.
        self.pending = None;
        match confirmed? {
            true => Ok(()),
            false => Err(Error::Nacked),
        }
    }
}

impl Drop for PublishConfirm {
    fn drop(&mut self) {
        if let Some((route, ticket)) = &self.pending {
            route.book.forget(*ticket);
        }
    }
}

impl Channel {
    pub(crate) fn new(
        connection: Connection,
        channel: ChannelRef,
        route: Arc<ChannelRoute>,
        returns: mpsc::Receiver<Box<Content>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                connection,
                channel,
                route,
                returns: Mutex::new(returns),
                confirms: AtomicBool::new(false),
            }),
        }
    }

    /// The channel number.
    pub fn id(&self) -> u16 {
        self.inner.channel.id
    }

    /// The connection this channel is on.
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// Why the channel closed, once it has.
    pub fn error(&self) -> Option<Error> {
        self.inner.route.closed.get().cloned()
    }

    /// Sends a synchronous method and waits for its reply method.
    async fn call(&self, method: Method) -> Result<Method> {
        let channel = self.inner.channel;
        match self
            .inner
            .connection
            .request(|reply| Command::Call {
                channel,
                method: Box::new(method),
                reply: Some(reply),
            })
            .await?
        {
            Reply::Method(m) => Ok(m),
            Reply::Done => Ok(Method::ChannelCloseOk(ChannelCloseOk {})),
            other => Err(unexpected(other)),
        }
    }

    /// Sends a method that has no reply (acks, rejects, ...).
    async fn cast(&self, method: Method) -> Result<()> {
        // The driver drops a reply-less method for a closed channel without a
        // word: say so here, or an ack that was never sent would look done.
        if let Some(e) = self.inner.route.closed.get() {
            return Err(e.clone());
        }
        self.inner
            .connection
            .send(Command::Call {
                channel: self.inner.channel,
                method: Box::new(method),
                reply: None,
            })
            .await
    }

    /// basic.ack, basic.nack or basic.reject: like `cast`, with no boxed
    /// method, as there is one per delivery.
    async fn settle(&self, delivery_tag: u64, settle: Settle) -> Result<()> {
        if let Some(e) = self.inner.route.closed.get() {
            return Err(e.clone());
        }
        self.inner
            .connection
            .send(Command::Settle {
                channel: self.inner.channel,
                delivery_tag,
                settle,
            })
            .await
    }

    // ===== queue =====

    /// queue.declare: creates the queue (an empty name asks the broker for
    /// one) or checks it; returns its name and counts.
    pub async fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
        arguments: FieldTable,
    ) -> Result<QueueDeclareOk> {
        let method = QueueDeclare {
            ticket: 0,
            queue: queue.into(),
            passive: options.passive,
            durable: options.durable,
            exclusive: options.exclusive,
            auto_delete: options.auto_delete,
            nowait: options.nowait,
            arguments,
        };
        match self.call(method.into()).await? {
            Method::QueueDeclareOk(ok) => Ok(ok),
            _ if options.nowait => Ok(QueueDeclareOk {
                queue: queue.into(),
                ..Default::default()
            }),
            other => Err(unexpected(Reply::Method(other))),
        }
    }

    /// queue.delete; returns how many messages were deleted with it.
    pub async fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32> {
        let method = QueueDelete {
            ticket: 0,
            queue: queue.into(),
            if_unused: options.if_unused,
            if_empty: options.if_empty,
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            _ => Ok(0),
        }
    }

    /// queue.purge; returns how many messages were purged.
    pub async fn queue_purge(&self, queue: &str) -> Result<u32> {
        self.queue_purge_with(queue, QueuePurgeOptions::default())
            .await
    }

    /// queue.bind: routes messages from `exchange` with `routing_key` to `queue`.
    pub async fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let options = QueueBindOptions::default();
        self.queue_bind_with(queue, exchange, routing_key, options, arguments)
            .await
    }

    /// queue.unbind: removes a binding.
    pub async fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = QueueUnbind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            arguments,
        };
        self.call(method.into()).await.map(drop)
    }

    // ===== exchange =====

    /// exchange.declare with a type such as `direct`, `fanout`, `topic`, `headers`.
    pub async fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = ExchangeDeclare {
            ticket: 0,
            exchange: exchange.into(),
            r#type: kind.into(),
            passive: options.passive,
            durable: options.durable,
            auto_delete: options.auto_delete,
            internal: options.internal,
            nowait: options.nowait,
            arguments,
        };
        self.call(method.into()).await.map(drop)
    }

    /// exchange.delete.
    pub async fn exchange_delete(&self, exchange: &str, if_unused: bool) -> Result<()> {
        let options = ExchangeDeleteOptions {
            if_unused,
            ..ExchangeDeleteOptions::default()
        };
        self.exchange_delete_with(exchange, options).await
    }

    /// exchange.bind: routes from `source` to the `destination` exchange.
    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let options = ExchangeBindOptions::default();
        self.exchange_bind_with(destination, source, routing_key, options, arguments)
            .await
    }

    /// exchange.unbind.
    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let options = ExchangeBindOptions::default();
        self.exchange_unbind_with(destination, source, routing_key, options, arguments)
            .await
    }

    // ===== basic =====

    /// basic.qos: at most `prefetch_count` unacked deliveries (0 = no limit)
    /// per consumer, or per channel with `global`.
    pub async fn basic_qos(&self, prefetch_count: u16, global: bool) -> Result<()> {
        self.basic_qos_with_size(0, prefetch_count, global).await
    }

    /// confirm.select: from now on the broker acks or nacks every publish,
    /// and [`PublishConfirm::wait`] tells which. With
    /// [`crate::ConnectionConfig::with_max_in_flight`], at most that many
    /// publishes are unconfirmed at once ([`Channel::unconfirmed`]).
    pub async fn confirm_select(&self) -> Result<()> {
        self.inner.confirms.store(true, Ordering::Release);
        self.call(ConfirmSelect { nowait: false }.into())
            .await
            .map(drop)
    }

    /// basic.publish: sends a message, split into frames of at most
    /// frame_max - 8 octets. Returns once the frames are queued (it does not
    /// wait for the broker); in confirm mode the returned [`PublishConfirm`]
    /// waits for the broker's ack. A value that cannot be encoded (an
    /// exchange, routing key or short-string property over 255 octets, a
    /// header table too deep) is refused here with [`Error::Encode`], in
    /// both modes, and nothing is sent. While the broker has flow off for the
    /// channel (channel.flow), this waits until it is back on.
    ///
    /// In confirm mode with `max_in_flight` set, this first waits for a
    /// slot: for the broker to confirm an earlier publish. With a
    /// blocked-publish timeout set, it fails with [`Error::Blocked`] rather
    /// than wait longer than that while the broker blocks the connection
    /// (connection.blocked); the message is then not sent.
    pub async fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        properties: BasicProperties,
        body: impl Into<Bytes>,
    ) -> Result<PublishConfirm> {
        if !*self.inner.route.flow.borrow() {
            let mut flow = self.inner.route.flow.subscribe();
            let _ = flow.wait_for(|active| *active).await;
        }
        if let Some(e) = self.inner.route.closed.get() {
            return Err(e.clone());
        }
        check_publish(exchange, routing_key, &properties)?;
        self.inner.connection.wait_unblocked().await?;
        let method = BasicPublish {
            ticket: 0,
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory: options.mandatory,
            immediate: options.immediate,
        }
        .into();
        let message = Box::new(Outgoing {
            method,
            properties,
            body: body.into(),
        });
        let channel = self.inner.channel;
        let route = &self.inner.route;
        let connection = &self.inner.connection;
        if !self.inner.confirms.load(Ordering::Acquire) {
            connection
                .send(Command::Publish {
                    channel,
                    message,
                    ticket: None,
                })
                .await?;
            return Ok(PublishConfirm { pending: None });
        }
        self.take_window_slot().await?;
        // A queue slot first, then the ticket and the send under the book's
        // lock, with no await between: tickets enter the queue in order.
        let Ok(permit) = connection.commands.reserve().await else {
            // The driver never saw it, so nobody else will give the slot back.
            route.release(1);
            return Err(connection.gone());
        };
        let issued = route.book.issue(|ticket| {
            permit.send(Command::Publish {
                channel,
                message,
                ticket: Some(ticket),
            })
        });
        match issued {
            Ok(ticket) => Ok(PublishConfirm {
                pending: Some((route.clone(), ticket)),
            }),
            Err(e) => {
                route.release(1);
                Err(e)
            }
        }
    }

    /// basic.consume: starts a consumer; deliveries come from
    /// [`Consumer::next`]. An empty `consumer_tag` lets the broker pick one.
    ///
    /// Deliveries wait in a queue per consumer. Once it holds
    /// [`crate::ConnectionConfig::with_consumer_buffer`] deliveries (4096
    /// by default) the client stops reading the socket until the consumer
    /// takes some, so a broker sending faster than the consumer works
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
            })
            .await?;
        let tag = match reply {
            Reply::Method(Method::BasicConsumeOk(ok)) => ok.consumer_tag,
            Reply::Done => consumer_tag.into(),
            other => return Err(unexpected(other)),
        };
        Ok(Consumer::new(self.clone(), tag, rx, gauge))
    }

    /// basic.cancel: ends a consumer; its [`Consumer::next`] then returns
    /// `None` after the deliveries already received.
    pub async fn basic_cancel(&self, consumer_tag: &str) -> Result<()> {
        self.basic_cancel_with(consumer_tag, BasicCancelOptions::default())
            .await
    }

    /// basic.ack: acknowledges a delivery (and all before it with `multiple`).
    pub async fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<()> {
        self.settle(delivery_tag, Settle::Ack { multiple }).await
    }

    /// basic.nack: refuses deliveries, requeueing or dropping (dead-lettering) them.
    pub async fn basic_nack(&self, delivery_tag: u64, multiple: bool, requeue: bool) -> Result<()> {
        self.settle(delivery_tag, Settle::Nack { multiple, requeue })
            .await
    }

    /// basic.reject: refuses one delivery.
    pub async fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<()> {
        self.settle(delivery_tag, Settle::Reject { requeue }).await
    }

    /// basic.get: fetches one message, or `None` if the queue is empty.
    pub async fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<GetOk>> {
        let method = BasicGet {
            ticket: 0,
            queue: queue.into(),
            no_ack,
        }
        .into();
        let channel = self.inner.channel;
        match self
            .inner
            .connection
            .request(|reply| Command::Call {
                channel,
                method: Box::new(method),
                reply: Some(reply),
            })
            .await?
        {
            Reply::Got(None) => Ok(None),
            Reply::Got(Some(content)) => Ok(GetOk::from_content(content, self.clone())),
            other => Err(unexpected(other)),
        }
    }

    /// basic.recover: asks the broker to redeliver every unacked message.
    pub async fn basic_recover(&self, requeue: bool) -> Result<()> {
        self.call(BasicRecover { requeue }.into()).await.map(drop)
    }

    /// The next message the broker returned (basic.return: a mandatory
    /// publish no queue took), waiting for one; `None` once the channel has
    /// ended and every return before that was taken. The channel keeps at
    /// most 1024 unread returns; later ones are dropped and counted
    /// ([`Channel::returns_dropped`]). In confirm mode each return also
    /// reaches its publish's [`PublishConfirm`] as [`Error::Returned`].
    pub async fn next_return(&self) -> Option<Returned> {
        let content = self.inner.returns.lock().await.recv().await?;
        Returned::from_content(content)
    }

    /// How many returned messages were dropped because 1024 were already
    /// waiting for [`Channel::next_return`].
    pub fn returns_dropped(&self) -> u64 {
        self.inner.route.returns_dropped.load(Ordering::Relaxed)
    }

    // ===== tx, channel =====

    /// tx.select: transactions on this channel.
    pub async fn tx_select(&self) -> Result<()> {
        self.call(TxSelect {}.into()).await.map(drop)
    }

    /// tx.commit.
    pub async fn tx_commit(&self) -> Result<()> {
        self.call(TxCommit {}.into()).await.map(drop)
    }

    /// tx.rollback.
    pub async fn tx_rollback(&self) -> Result<()> {
        self.call(TxRollback {}.into()).await.map(drop)
    }

    /// channel.flow: asks the broker to pause (false) or resume deliveries.
    pub async fn channel_flow(&self, active: bool) -> Result<()> {
        self.call(ChannelFlow { active }.into()).await.map(drop)
    }

    /// channel.close: closes the channel and waits for close-ok.
    pub async fn close(&self) -> Result<()> {
        let channel = self.inner.channel;
        self.inner
            .connection
            .request(|reply| Command::CloseChannel { channel, reply })
            .await?;
        // The driver records why the channel closed just after it answers;
        // record it now, so calls made as soon as this returns see it.
        let _ = self.inner.route.closed.set(Error::ChannelClosedByClient);
        Ok(())
    }

    pub(crate) fn consumer_ended(&self) -> Option<Error> {
        self.inner.route.closed.get().cloned()
    }

    // ===== the rest of the spec's surface: nowait forms, prefetch_size,
    // recover-async, access.request, flow as the broker set it =====

    /// queue.bind (50/20) with its `nowait` flag. With `nowait` this returns
    /// once the method is queued; a refusal (404 for a missing exchange)
    /// then closes the channel and shows on the next call.
    pub async fn queue_bind_with(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        options: QueueBindOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = QueueBind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            nowait: options.nowait,
            arguments,
        };
        self.call(method.into()).await.map(drop)
    }

    /// queue.purge (50/30) with its `nowait` flag; returns how many messages
    /// were purged, or 0 with `nowait` (no purge-ok tells).
    pub async fn queue_purge_with(&self, queue: &str, options: QueuePurgeOptions) -> Result<u32> {
        let method = QueuePurge {
            ticket: 0,
            queue: queue.into(),
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            _ if options.nowait => Ok(0),
            other => Err(unexpected(Reply::Method(other))),
        }
    }

    /// exchange.delete (40/20) with its flags. RabbitMQ refuses `if_unused`
    /// with 406 PRECONDITION_FAILED while anything is bound to the exchange
    /// as a source.
    pub async fn exchange_delete_with(
        &self,
        exchange: &str,
        options: ExchangeDeleteOptions,
    ) -> Result<()> {
        let method = ExchangeDelete {
            ticket: 0,
            exchange: exchange.into(),
            if_unused: options.if_unused,
            nowait: options.nowait,
        };
        self.call(method.into()).await.map(drop)
    }

    /// exchange.bind (40/30, a RabbitMQ extension) with its `nowait` flag:
    /// routes from `source` to the `destination` exchange.
    pub async fn exchange_bind_with(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        options: ExchangeBindOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = ExchangeBind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: options.nowait,
            arguments,
        };
        self.call(method.into()).await.map(drop)
    }

    /// exchange.unbind (40/40, a RabbitMQ extension; its unbind-ok is 40/51)
    /// with its `nowait` flag.
    pub async fn exchange_unbind_with(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        options: ExchangeBindOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = ExchangeUnbind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: options.nowait,
            arguments,
        };
        self.call(method.into()).await.map(drop)
    }

    /// basic.cancel (60/30) with its `nowait` flag. Without it this is
    /// [`Channel::basic_cancel`]. With it, the consumer's
    /// [`Consumer::next`] returns `None` at once after what it already
    /// received (see [`BasicCancelOptions::nowait`] for what that costs).
    pub async fn basic_cancel_with(
        &self,
        consumer_tag: &str,
        options: BasicCancelOptions,
    ) -> Result<()> {
        let method = BasicCancel {
            consumer_tag: consumer_tag.into(),
            nowait: options.nowait,
        };
        self.call(method.into()).await.map(drop)
    }

    /// basic.qos (60/10) with all three arguments. RabbitMQ implements no
    /// byte limit: it answers a `prefetch_size` other than 0 by closing the
    /// connection with 540 NOT_IMPLEMENTED.
    pub async fn basic_qos_with_size(
        &self,
        prefetch_size: u32,
        prefetch_count: u16,
        global: bool,
    ) -> Result<()> {
        let method = BasicQos {
            prefetch_size,
            prefetch_count,
            global,
        };
        self.call(method.into()).await.map(drop)
    }

    /// basic.recover-async (60/100): basic.recover without recover-ok, so
    /// this returns once the method is queued. Deprecated in the spec, still
    /// honoured by RabbitMQ with `requeue` set.
    pub async fn basic_recover_async(&self, requeue: bool) -> Result<()> {
        self.cast(BasicRecoverAsync { requeue }.into()).await
    }

    /// access.request (30/10): asks for an access ticket; returns the ticket
    /// from access.request-ok (30/11). Deprecated: RabbitMQ grants every
    /// request and ignores tickets, which this client always sends as 0.
    pub async fn access_request(&self, realm: &str, options: AccessRequestOptions) -> Result<u16> {
        let method = AccessRequest {
            realm: realm.into(),
            exclusive: options.exclusive,
            passive: options.passive,
            active: options.active,
            write: options.write,
            read: options.read,
        };
        match self.call(method.into()).await? {
            Method::AccessRequestOk(ok) => Ok(ok.ticket),
            other => Err(unexpected(Reply::Method(other))),
        }
    }

    /// Whether the broker lets this channel publish: false after it sent
    /// channel.flow (20/20) with `active` false, until it sends one with
    /// `active` true. [`Channel::basic_publish`] waits while it is false.
    pub fn flow_active(&self) -> bool {
        *self.inner.route.flow.borrow()
    }

    /// Publishes sent in confirm mode that the broker has not yet acked or
    /// nacked (basic.ack / basic.nack, 60/80 and 60/120). Never above
    /// [`Channel::max_in_flight`].
    pub fn unconfirmed(&self) -> usize {
        self.inner.route.unconfirmed.load(Ordering::Acquire)
    }

    /// The bound on [`Channel::unconfirmed`], from
    /// [`crate::ConnectionConfig::with_max_in_flight`] (`None`: no bound).
    pub fn max_in_flight(&self) -> Option<usize> {
        self.inner.connection.shared.max_in_flight
    }

    /// Takes one slot of the unconfirmed window (waiting for a confirm if
    /// it is full) and counts the publish as unconfirmed. The driver gives
    /// the slot back when the publish is settled.
    async fn take_window_slot(&self) -> Result<()> {
        let route = &self.inner.route;
        if let Some(window) = &route.window {
            let connection = &self.inner.connection;
            let acquired = if connection.shared.blocked_publish_timeout.is_some() {
                tokio::select! {
                    permit = window.acquire() => permit,
                    e = connection.blocked_too_long() => return Err(e),
                }
            } else {
                window.acquire().await
            };
            match acquired {
                // The slot is handed back by `add_permits` when the
                // confirm comes, not when this guard drops.
                Ok(permit) => permit.forget(),
                Err(_) => {
                    return Err(route
                        .closed
                        .get()
                        .cloned()
                        .unwrap_or_else(|| connection.gone()))
                }
            }
        }
        route.unconfirmed.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

impl ConsumerMsg {
    pub(crate) fn into_delivery(self, channel: &Channel) -> Option<Result<Delivery>> {
        match self {
            Self::Delivery(content) => Delivery::from_content(content, channel.clone()).map(Ok),
            Self::End(None) => None,
            Self::End(Some(e)) => Some(Err(e)),
        }
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
