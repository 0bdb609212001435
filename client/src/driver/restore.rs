//! The driver's half of recovery (see [`crate::recovery`]): what happens
//! to the handles' state when the connection is lost, the reconnection
//! attempts, and the restoration, step by step, on the new connection.
//!
//! Restoration is written as plain sequential code: each step is a request
//! handed to the core ([`Driver::rpc`]) while the driver keeps the new
//! connection running (heartbeats, deliveries to restored consumers).
//! The application's commands wait in their queue until it is over, so
//! nothing it sends can reach a channel that is not restored yet.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use amqp_wire::{ConfirmSelect, Method, QueueDeclare, ReplyCode, ShortString, TxSelect};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot::{self, error::TryRecvError};

use super::{lock, now, ConsumerMsg, Core, Driver, Io, Waiter, Wake};
use crate::error::Error;
use crate::proto::{ChannelRef, Reply};
use crate::recovery::backoff::Backoff;
use crate::recovery::topology::{Entity, Topology};
use crate::recovery::{ConnectionEvent, Endpoint, EndpointOrder};

/// Opens a byte stream to an endpoint (TCP; TLS wraps it).
pub(crate) type Connector<S> =
    Arc<dyn Fn(Endpoint) -> Pin<Box<dyn Future<Output = Result<S, Error>> + Send>> + Send + Sync>;

/// TCP, with Nagle off: frames are written whole, and small ones (acks,
/// RPCs) must not wait for the previous one's ACK.
pub(crate) fn tcp_connector() -> Connector<TcpStream> {
    Arc::new(|endpoint: Endpoint| {
        Box::pin(async move {
            let address = (endpoint.host.as_str(), endpoint.port);
            let stream = TcpStream::connect(address).await.map_err(Error::io)?;
            stream.set_nodelay(true).map_err(Error::io)?;
            Ok(stream)
        })
    })
}

/// How long an exclusive queue refused with 405 RESOURCE_LOCKED is tried
/// again: the broker still holds it for the lost connection until it
/// notices that connection is dead.
const LOCKED_RETRY: Duration = Duration::from_millis(250);

/// Where and how to connect again.
pub(crate) struct Reconnect<S> {
    connector: Connector<S>,
    endpoints: Vec<Endpoint>,
    order: EndpointOrder,
    /// This round's endpoints not yet tried: a round tries each once.
    round: VecDeque<Endpoint>,
    backoff: Backoff,
}

impl<S> Reconnect<S> {
    pub(crate) fn new(
        connector: Connector<S>,
        endpoints: Vec<Endpoint>,
        order: EndpointOrder,
        backoff: Backoff,
    ) -> Self {
        Self {
            connector,
            endpoints,
            order,
            round: VecDeque::new(),
            backoff,
        }
    }

    fn next_endpoint(&mut self) -> Endpoint {
        if self.round.is_empty() {
            self.round = arrange(&self.endpoints, self.order, &mut self.backoff).into();
        }
        // The list is never empty: the config always has host:port.
        self.round
            .pop_front()
            .unwrap_or_else(|| Endpoint::new("localhost", crate::DEFAULT_PORT))
    }
}

/// The endpoints in the order to try them: as given, or shuffled so that
/// the connections of a cluster's clients spread over its nodes. A purely
/// random first choice spreads 30 connections over 3 nodes within 10 ± 2
/// only 41% of the time; so the first endpoint is taken in turn, process
/// wide (from a random start, so processes differ), and only the
/// fallbacks after it are shuffled (Fisher-Yates): one process's
/// connections are spread evenly, and a dead node's share is spread too.
pub(crate) fn arrange(
    endpoints: &[Endpoint],
    order: EndpointOrder,
    rng: &mut Backoff,
) -> Vec<Endpoint> {
    let mut list = endpoints.to_vec();
    if order == EndpointOrder::Shuffled && list.len() > 1 {
        static TURN: AtomicUsize = AtomicUsize::new(0);
        static START: OnceLock<usize> = OnceLock::new();
        let start = *START.get_or_init(|| rng.pick(usize::MAX));
        let first = start.wrapping_add(TURN.fetch_add(1, Ordering::Relaxed)) % list.len();
        list.swap(0, first);
        for i in (2..list.len()).rev() {
            list.swap(i, 1 + rng.pick(i));
        }
    }
    list
}

impl Driver {
    /// Whether the connection, ended with `error`, is to be recovered:
    /// recovery is on, the first handshake had finished (a failed first
    /// connect fails `Connection::connect`) and the loss is one it
    /// recovers from; once recovering, every failed attempt is for
    /// [`Driver::recover`] to judge.
    pub(super) fn recovers(&self, error: &Error) -> bool {
        self.recovery.enabled
            && self.opened.is_none()
            && self.commands_open
            && (self.shared.is_recovering() || error.is_recoverable())
    }

    /// An open connection ended without the application asking, and is
    /// not recovered (recovery off, or an end it does not recover from):
    /// the events say so as they would after a failed recovery.
    pub(super) fn not_recovered(&self, error: &Error) {
        let asked = matches!(error, Error::ClientClosed | Error::CloseTimeout(_));
        if self.opened.is_some() || asked || self.shared.is_recovering() {
            return;
        }
        self.shared.emit(ConnectionEvent::Disconnected {
            error: error.clone(),
        });
        self.shared.emit(ConnectionEvent::GaveUp {
            attempts: 0,
            error: error.clone(),
        });
    }

    /// Whether a call's success changes what recovery restores.
    pub(super) fn records(&self, method: &Method) -> bool {
        self.recovery.enabled
            && (Topology::records(method)
                || matches!(
                    method,
                    Method::BasicQos(_) | Method::ConfirmSelect(_) | Method::TxSelect(_)
                ))
    }

    /// The broker accepted `method` on `channel`: remember it.
    pub(super) fn record(&mut self, channel: u16, method: &Method, answer: Option<&Method>) {
        match method {
            Method::BasicQos(qos) => {
                if let Some(entry) = self.channels.get_mut(&channel) {
                    entry.qos[usize::from(qos.global)] = Some(qos.clone());
                }
            }
            Method::ConfirmSelect(_) => {
                if let Some(entry) = self.channels.get_mut(&channel) {
                    entry.confirm = true;
                }
            }
            Method::TxSelect(_) => {
                if let Some(entry) = self.channels.get_mut(&channel) {
                    entry.tx = true;
                }
            }
            _ => self.topology.record(method, answer),
        }
    }

    /// A consumer of `queue` ended by the application's cancel: with the
    /// last one, an auto-delete queue is gone.
    pub(super) fn consumer_gone(&mut self, queue: &ShortString) {
        if !self.consumers.values().any(|c| c.consume.queue == *queue) {
            self.topology.last_consumer_cancelled(queue);
        }
    }

    /// The connection was lost and will be recovered. What left and was
    /// not confirmed is in doubt; the tags handed out so far are stale;
    /// consumers, channels and their routes stay for the new connection.
    pub(super) fn on_lost(&mut self, error: &Error) {
        if !self.shared.set_recovering(true) {
            self.lost_at = Some(Instant::now());
            self.shared.emit(ConnectionEvent::Disconnected {
                error: error.clone(),
            });
        }
        self.shared.blocked.send_replace(None);
        self.full.clear();
        let lost = Error::ConnectionLost {
            cause: Box::new(error.clone()),
        };
        for (_, stream) in self.streams.drain() {
            stream.fail(lost.clone());
        }
        let in_doubt = Error::PublishInDoubt {
            cause: Box::new(error.clone()),
        };
        for (id, entry) in &mut self.channels {
            let route = &entry.route;
            route
                .stale_up_to
                .store(self.core.last_tag(*id), Ordering::Release);
            route.flow.send_replace(true);
            if entry.tx {
                route.transaction_lost(error.clone());
            }
            let Some(ticket) = entry.sent_ticket.take() else {
                continue;
            };
            if self.recovery.republish.is_none() {
                route.release(route.book.settle(ticket, true, Err(in_doubt.clone())));
                continue;
            }
            // Those kept are published again after the recovery.
            for t in route.book.unsettled_up_to(ticket) {
                if !entry.replay.holds(t) {
                    route.release(route.book.settle(t, false, Err(in_doubt.clone())));
                }
            }
        }
        // A consumer whose handle was dropped is not restored.
        self.consumers.retain(|_, c| !c.cancelling);
    }

    /// Reconnects (with backoff, endpoint after endpoint) and restores,
    /// until it works, the attempts run out, the broker refuses us for good
    /// (403, 530) or the application closes the connection. `None`: it
    /// gave up, and every handle has heard why.
    pub(super) async fn recover<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        cause: Error,
        reconnect: &mut Reconnect<S>,
        wake: &mut Wake<'_>,
    ) -> Option<Io<S>> {
        let started = self.lost_at.unwrap_or_else(Instant::now);
        let shared = self.shared.clone();
        let mut attempts = 0u32;
        let mut last = cause;
        loop {
            // Every handle dropped meanwhile: nobody is left to recover for.
            if self.commands.is_closed() {
                self.end_all(Error::ClientClosed);
                return None;
            }
            if self
                .recovery
                .max_attempts
                .is_some_and(|max| attempts >= max)
            {
                return self.give_up(attempts, last);
            }
            let endpoint = reconnect.next_endpoint();
            let delay = reconnect.backoff.delay(attempts);
            attempts += 1;
            self.shared.emit(ConnectionEvent::Recovering {
                attempt: attempts,
                endpoint: endpoint.clone(),
                delay,
            });
            let closed = shared.close_requested.notified();
            if shared.close_asked.load(Ordering::Acquire) {
                self.end_all(Error::ClientClosed);
                return None;
            }
            let outcome = tokio::select! {
                outcome = async {
                    tokio::time::sleep(delay).await;
                    self.attempt(&endpoint, reconnect, wake).await
                } => Some(outcome),
                () = closed => None,
            };
            match outcome {
                None => {
                    self.end_all(Error::ClientClosed);
                    return None;
                }
                Some(Ok(io)) => {
                    self.lost_at = None;
                    *lock(&self.shared.endpoint) = Some(endpoint.clone());
                    self.shared.set_recovering(false);
                    self.shared.emit(ConnectionEvent::Recovered {
                        endpoint,
                        took: started.elapsed(),
                        attempts,
                    });
                    return Some(io);
                }
                Some(Err(error)) => {
                    self.shared.emit(ConnectionEvent::AttemptFailed {
                        attempt: attempts,
                        endpoint,
                        error: error.clone(),
                    });
                    // What another attempt would meet again: a refused
                    // login or vhost, a TLS verification or configuration failure.
                    let refused = matches!(
                        error.reply_code(),
                        Some(ReplyCode::ACCESS_REFUSED | ReplyCode::NOT_ALLOWED)
                    ) || matches!(error, Error::Tls { .. } | Error::TlsConfig { .. });
                    if refused || !self.commands_open {
                        return self.give_up(attempts, error);
                    }
                    last = error;
                }
            }
        }
    }

    fn give_up<S>(&mut self, attempts: u32, error: Error) -> Option<Io<S>> {
        self.shared.emit(ConnectionEvent::GaveUp {
            attempts,
            error: error.clone(),
        });
        self.end_all(error);
        None
    }

    /// One attempt: connect, handshake (both within the connection
    /// timeout), restore.
    async fn attempt<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        endpoint: &Endpoint,
        reconnect: &Reconnect<S>,
        wake: &mut Wake<'_>,
    ) -> Result<Io<S>, Error> {
        let timeout = self.connection_timeout;
        let connect = (reconnect.connector)(endpoint.clone());
        let stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Error::ConnectTimeout(timeout))??;
        self.reconnect_core();
        let mut io = Io::new(stream);
        let handshake = async {
            while !self.core.is_open() {
                if !self.turn(&mut io, wake, false).await {
                    return false;
                }
            }
            true
        };
        match tokio::time::timeout(timeout, handshake).await {
            Ok(true) => {}
            Ok(false) => return Err(self.lost_error()),
            Err(_) => return Err(Error::ConnectTimeout(timeout)),
        }
        self.restore(&mut io, wake).await?;
        Ok(io)
    }

    /// Why the connection under an attempt was lost.
    fn lost_error(&mut self) -> Error {
        self.lost
            .take()
            .or_else(|| self.core.error().cloned())
            .unwrap_or(Error::ClientClosed)
    }

    /// Restores, in order: channels (with qos and confirm mode), then
    /// exchanges, queues and bindings, then consumers. A step the broker
    /// refuses is reported and skipped; `Err` only if the new connection
    /// is lost too.
    async fn restore<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
    ) -> Result<(), Error> {
        let mut ids: Vec<u16> = self.channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.restore_channel(id, io, wake).await?;
        }
        // Declares and checks go on a channel of their own: a refusal
        // closes it, not one of the application's.
        let mut scratch = None;
        self.restore_topology(&mut scratch, io, wake).await?;
        self.restore_consumers(&mut scratch, io, wake).await?;
        if let Some(channel) = scratch {
            self.rpc(io, wake, |core, w| core.close_channel(now(), channel, w))
                .await?
                .ok();
        }
        self.republish();
        Ok(())
    }

    /// Publishes again what was kept of the unsettled publishes (see
    /// [`crate::Recovery::with_republish`]), under their tickets: their
    /// confirms now come from the new connection.
    fn republish(&mut self) {
        let mut ids: Vec<u16> = self.channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(entry) = self.channels.get_mut(&id) else {
                continue;
            };
            let (Some(channel), copies) = (entry.channel, entry.replay.republish()) else {
                continue;
            };
            let Some(&(last, _)) = copies.last() else {
                continue;
            };
            entry.sent_ticket = Some(last);
            let count = copies.len();
            for (ticket, message) in copies {
                self.core.publish(now(), channel, message, Some(ticket));
            }
            self.shared
                .emit(ConnectionEvent::Republished { channel: id, count });
        }
    }

    async fn restore_channel<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        id: u16,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
    ) -> Result<(), Error> {
        let Some(channel) = self.channels.get(&id).and_then(|e| e.channel) else {
            return Ok(());
        };
        let opened = self
            .rpc(io, wake, |core, w| core.reopen_channel(now(), channel, w))
            .await?;
        if let Err(error) = opened {
            self.channel_failed(id, error);
            return Ok(());
        }
        let Some(entry) = self.channels.get(&id) else {
            return Ok(());
        };
        let mut methods: Vec<Method> = entry
            .qos
            .iter()
            .flatten()
            .cloned()
            .map(Method::from)
            .collect();
        if entry.confirm {
            methods.push(ConfirmSelect { nowait: false }.into());
        }
        if entry.tx {
            methods.push(TxSelect {}.into());
        }
        for method in methods {
            let entity = format!("{} on channel {id}", method.name());
            let answer = self
                .rpc(io, wake, |core, w| {
                    core.call(now(), channel, method, Some(w))
                })
                .await?;
            if let Err(error) = answer {
                self.shared
                    .emit(ConnectionEvent::TopologyFailed { entity, error });
            }
        }
        Ok(())
    }

    /// An application's channel could not be opened again: it ends, with
    /// its consumers.
    fn channel_failed(&mut self, id: u16, error: Error) {
        self.shared.emit(ConnectionEvent::TopologyFailed {
            entity: format!("channel.open {id}"),
            error: error.clone(),
        });
        if let Some(entry) = self.channels.remove(&id) {
            entry.route.end(error.clone());
        }
        self.consumers.retain(|(ch, _), consumer| {
            if *ch == id {
                let _ = consumer.tx.send(ConsumerMsg::End(Some(error.clone())));
            }
            *ch != id
        });
    }

    async fn restore_topology<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        scratch: &mut Option<ChannelRef>,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
    ) -> Result<(), Error> {
        let mut entities = self.topology.entities();
        for i in 0..entities.len() {
            let entity = entities[i].clone();
            let started = Instant::now();
            loop {
                let answer = match self.scratch_channel(scratch, io, wake).await? {
                    Ok(channel) => {
                        let method = entity.method();
                        self.rpc(io, wake, |core, w| {
                            core.call(now(), channel, method, Some(w))
                        })
                        .await?
                    }
                    Err(error) => Err(error),
                };
                match answer {
                    Ok(Reply::Method(Method::QueueDeclareOk(ok))) => {
                        if let Entity::Queue(q) = &entity {
                            if q.server_named && ok.queue != q.declare.queue {
                                self.rename_queue(&q.declare.queue, &ok.queue);
                                for later in &mut entities[i + 1..] {
                                    later.rename_queue(&q.declare.queue, &ok.queue);
                                }
                            }
                        }
                        break;
                    }
                    Ok(_) => break,
                    Err(error) => {
                        // A refusal closes the channel it came on.
                        *scratch = None;
                        let exclusive = matches!(&entity, Entity::Queue(q) if q.declare.exclusive);
                        if exclusive
                            && error.reply_code() == Some(ReplyCode::RESOURCE_LOCKED)
                            && started.elapsed() < self.lock_patience()
                        {
                            self.idle(io, wake, LOCKED_RETRY).await?;
                            continue;
                        }
                        self.shared.emit(ConnectionEvent::TopologyFailed {
                            entity: entity.describe(),
                            error,
                        });
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// How long the broker may take to notice the lost connection (and
    /// free its exclusive queues): two heartbeat intervals, or a minute
    /// without heartbeats.
    fn lock_patience(&self) -> Duration {
        match self.core.heartbeat_interval() {
            Some(interval) => (interval * 2).max(Duration::from_secs(5)),
            None => Duration::from_secs(60),
        }
    }

    /// A server-named queue came back as `new`: its bindings and consumers
    /// follow it.
    fn rename_queue(&mut self, old: &ShortString, new: &ShortString) {
        self.topology.rename_queue(old, new);
        for consumer in self.consumers.values_mut() {
            if consumer.consume.queue == *old {
                consumer.consume.queue = new.clone();
            }
        }
        self.shared.emit(ConnectionEvent::QueueRenamed {
            old: old.to_string(),
            new: new.to_string(),
        });
    }

    async fn restore_consumers<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        scratch: &mut Option<ChannelRef>,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
    ) -> Result<(), Error> {
        self.consumers.retain(|_, c| !c.cancelling);
        let mut keys: Vec<(u16, ShortString)> = self.consumers.keys().cloned().collect();
        keys.sort_unstable_by(|a, b| (a.0, a.1.as_bytes()).cmp(&(b.0, b.1.as_bytes())));
        for key in keys {
            let Some(consumer) = self.consumers.get(&key) else {
                continue; // its channel could not be restored
            };
            let (channel, consume) = (consumer.channel, consumer.consume.clone());
            let streamed = consumer.streamed;
            // A consume on a missing queue would close the consumer's
            // channel, ending the consumers beside it: ask first, on the
            // scratch channel.
            if !consume.queue.is_empty() {
                let check = QueueDeclare {
                    queue: consume.queue.clone(),
                    passive: true,
                    ..Default::default()
                };
                let answer = match self.scratch_channel(scratch, io, wake).await? {
                    Ok(ch) => {
                        self.rpc(io, wake, |core, w| {
                            core.call(now(), ch, check.into(), Some(w))
                        })
                        .await?
                    }
                    Err(error) => Err(error),
                };
                if let Err(error) = answer {
                    *scratch = None;
                    self.consumer_failed(&key, error);
                    continue;
                }
            }
            let queue = consume.queue.to_string();
            let answer = self
                .rpc(io, wake, |core, w| {
                    if streamed {
                        core.stream_bodies(channel.id, consume.consumer_tag.clone());
                    }
                    core.call(now(), channel, consume.into(), Some(w))
                })
                .await?;
            match answer {
                Ok(_) => self.shared.emit(ConnectionEvent::ConsumerRestored {
                    channel: key.0,
                    consumer_tag: key.1.to_string(),
                    queue,
                }),
                Err(error) => self.consumer_failed(&key, error),
            }
        }
        Ok(())
    }

    fn consumer_failed(&mut self, key: &(u16, ShortString), error: Error) {
        if let Some(consumer) = self.consumers.remove(key) {
            let _ = consumer.tx.send(ConsumerMsg::End(Some(error.clone())));
        }
        self.shared.emit(ConnectionEvent::ConsumerFailed {
            channel: key.0,
            consumer_tag: key.1.to_string(),
            error,
        });
    }

    /// The scratch channel, opened if need be. Outer `Err`: the connection
    /// was lost; inner: the channel could not be opened.
    async fn scratch_channel<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        scratch: &mut Option<ChannelRef>,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
    ) -> Result<Result<ChannelRef, Error>, Error> {
        if let Some(channel) = scratch {
            return Ok(Ok(*channel));
        }
        Ok(
            match self
                .rpc(io, wake, |core, w| core.open_channel(now(), w))
                .await?
            {
                Ok(Reply::ChannelOpened(channel)) => {
                    *scratch = Some(channel);
                    Ok(channel)
                }
                Ok(other) => Err(Error::internal(format!("{other:?} for channel.open"))),
                Err(error) => Err(error),
            },
        )
    }

    /// Hands the core a request and runs the connection until it is
    /// answered. Outer `Err`: the connection was lost meanwhile; inner: the
    /// broker's (or the core's) answer.
    async fn rpc<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
        send: impl FnOnce(&mut Core<Waiter>, Waiter),
    ) -> Result<Result<Reply, Error>, Error> {
        let (tx, mut rx) = oneshot::channel();
        send(&mut self.core, Waiter::Reply(tx));
        loop {
            self.route_events();
            if self.core.is_closed() {
                return Err(self.lost_error());
            }
            match rx.try_recv() {
                Ok(answer) => return Ok(answer),
                Err(TryRecvError::Closed) => {
                    return Ok(Err(Error::internal(
                        "a restore step lost its waiter".into(),
                    )))
                }
                Err(TryRecvError::Empty) => {}
            }
            if !self.turn(io, wake, false).await {
                return Err(self.lost_error());
            }
        }
    }

    /// Keeps the connection running for `period` (heartbeats, deliveries).
    async fn idle<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
        period: Duration,
    ) -> Result<(), Error> {
        let until = tokio::time::Instant::now() + period;
        loop {
            match tokio::time::timeout_at(until, self.turn(io, wake, false)).await {
                Err(_) => return Ok(()),
                Ok(true) => {}
                Ok(false) => return Err(self.lost_error()),
            }
        }
    }
}
