//! The one task that owns the socket: it reads and decodes frames, feeds
//! them and the users' commands to the protocol core, writes what the core
//! queues, keeps the heartbeat timer, and routes the core's events to the
//! handles waiting for them. All protocol decisions are the core's.
//!
//! ```text
//!  Connection / Channel / Consumer handles
//!        | Command (mpsc)            ^ replies (oneshot), deliveries (mpsc)
//!        v                           |
//!      driver  --- handle_*() --->  proto::Core  --- out / events / timeout --->  driver
//!        ^                                                                          |
//!        +-------------- read_buf / Frame::decode       write_vectored <-----------+
//!                                      socket
//! ```

use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use amqp_wire::{
    BasicCancel, BasicConsume, BasicQos, FieldTable, Frame, Method, ProtocolHeader, ShortString,
};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Notify, Semaphore};

use crate::body_stream::{body_stream, BodyStream, BodyTx};
use crate::confirm_book::ConfirmBook;
use crate::consumer::AckTimeoutWarning;
use crate::error::Error;
use crate::fast_hash::FastMap;
use crate::lazy_broadcast::LazyBroadcast;
use crate::proto::{
    abandoned_stream, ChannelRef, Content, Core, Event, OutQueue, Outgoing, Reply, Settle, Tuning,
};
use crate::recovery::replay::Replay;
use crate::recovery::topology::Topology;
use crate::recovery::{ConnectionEvent, Endpoint, Recovery};
use crate::tap::{Direction, FrameTap, TapEvent, Tapped};

mod restore;

pub(crate) use restore::{arrange, tcp_connector, Connector, Reconnect};

/// Stop taking commands while this much is waiting to be written: publishers
/// then wait in the command queue instead of filling memory.
const OUT_HIGH_WATER: usize = 1024 * 1024;

/// At most this many commands are taken per wakeup before writing, so that
/// frames from many publishes leave in one write.
const COMMAND_BATCH: usize = 256;

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// An idle connection's read buffer: the handshake's frames fit, and a
/// busy connection grows it by [`READ_CHUNK`] at its first full read.
const READ_START: usize = 4 * 1024;

/// How many ack-timeout warnings a slow reader may fall behind by.
const ACK_WARNINGS_BUFFER: usize = 1024;

/// How many recovery events a slow reader may fall behind by.
const EVENTS_BUFFER: usize = 1024;

/// How many returned messages (basic.return) a channel keeps for
/// [`crate::Channel::next_return`]. Past it the newest are dropped and
/// counted ([`crate::Channel::returns_dropped`]): in confirm mode each one
/// also reaches its publish's [`crate::PublishConfirm`], so a publisher that
/// never reads returns does not make the client hold them without limit.
pub(crate) const RETURN_QUEUE: usize = 1024;

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply, Error>>;

/// What the handles ask of the driver. Kept to a few words: every ack and
/// publish is moved into and out of the command queue, so rare large
/// payloads (methods, messages) are boxed.
pub(crate) enum Command {
    OpenChannel {
        reply: ReplyTx,
        route: Arc<ChannelRoute>,
        returns: mpsc::Sender<Box<Content>>,
    },
    Call {
        channel: ChannelRef,
        method: Box<Method>,
        reply: Option<ReplyTx>,
    },
    /// basic.ack, basic.nack or basic.reject (60/80, 60/120, 60/90): one
    /// per delivery, so not a boxed method.
    Settle {
        channel: ChannelRef,
        delivery_tag: u64,
        settle: Settle,
    },
    Consume {
        channel: ChannelRef,
        method: Box<Method>,
        reply: ReplyTx,
        deliveries: mpsc::UnboundedSender<ConsumerMsg>,
        gauge: Arc<ConsumerGauge>,
        /// Its deliveries' bodies are streamed (its tag is never empty).
        streamed: bool,
    },
    Publish {
        channel: ChannelRef,
        message: Box<Outgoing>,
        /// In confirm mode: its ticket in the channel's [`ConfirmBook`];
        /// it holds a window slot until settled.
        ticket: Option<u64>,
    },
    /// A publish whose body follows in `PublishChunk`s (see
    /// [`Core::publish_start`]); `reply` hears when the last is queued.
    PublishStart {
        channel: ChannelRef,
        message: Box<Outgoing>,
        body_size: u64,
        stream: u64,
        ticket: Option<u64>,
        reply: ReplyTx,
    },
    /// The next part of a streamed publish's body; `taken` hears once it
    /// is queued for the socket (the publisher's back-pressure).
    PublishChunk {
        channel: ChannelRef,
        stream: u64,
        chunk: bytes::Bytes,
        taken: ReplyTx,
    },
    CloseChannel {
        channel: ChannelRef,
        reply: ReplyTx,
    },
    ConnectionCall {
        method: Box<Method>,
        reply: ReplyTx,
    },
    Close {
        reply: ReplyTx,
    },
}

/// What a consumer's queue carries.
#[derive(Debug)]
pub(crate) enum ConsumerMsg {
    /// Boxed since the content header arrived: moved as a pointer.
    Delivery(Box<Content>),
    /// A streamed consumer's delivery: its body comes through the stream.
    Streamed(Box<Content>, BodyStream),
    /// The consumer ended: `None` after our own basic.cancel, else why.
    End(Option<Error>),
}

/// What a consumer's handle and the driver share: how many deliveries wait
/// in its queue. The driver stops reading the socket when it reaches the
/// bound and reads again once it has drained to half of it: a gap wide
/// enough that reading resumes for a whole batch, not one delivery at a time.
pub(crate) struct ConsumerGauge {
    queued: AtomicUsize,
    bound: usize,
}

/// A consumer whose handle was dropped before it ended, with the tags of
/// the deliveries it never handed out: the driver cancels it and gives
/// those back.
pub(crate) struct DroppedConsumer {
    pub(crate) channel: ChannelRef,
    pub(crate) consumer_tag: ShortString,
    pub(crate) unread: Vec<u64>,
}

impl ConsumerGauge {
    pub(crate) fn new(bound: usize) -> Self {
        Self {
            queued: AtomicUsize::new(0),
            bound,
        }
    }

    /// The handle took a delivery from its queue; true when that brings
    /// the queue down to where the driver may read again.
    pub(crate) fn taken(&self) -> bool {
        self.queued.fetch_sub(1, Ordering::AcqRel) == self.resume_at() + 1
    }

    /// One more waits in the queue.
    pub(crate) fn added(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// The queue reached the bound: stop reading.
    pub(crate) fn is_full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= self.bound
    }

    /// Still above the level at which reading resumes.
    pub(crate) fn is_draining(&self) -> bool {
        self.queued.load(Ordering::Acquire) > self.resume_at()
    }

    fn resume_at(&self) -> usize {
        self.bound / 2
    }
}

/// A consumer as the driver knows it.
pub(crate) struct ConsumerEntry {
    pub(crate) channel: ChannelRef,
    no_ack: bool,
    pub(crate) tx: mpsc::UnboundedSender<ConsumerMsg>,
    gauge: Arc<ConsumerGauge>,
    /// Its handle was dropped and basic.cancel sent: until cancel-ok,
    /// deliveries still on their way are given back (basic.reject requeue).
    pub(crate) cancelling: bool,
    /// Its basic.consume, with the tag it got and `nowait` cleared: what
    /// recovery sends again.
    pub(crate) consume: BasicConsume,
    /// Its bodies are streamed (told to the core again on recovery).
    pub(crate) streamed: bool,
}

/// A channel as the driver knows it: the route shared with the handles and
/// the sending end of its returns queue, dropped when the channel ends so
/// that [`crate::Channel::next_return`] then ends too.
pub(crate) struct ChannelEntry {
    pub(crate) route: Arc<ChannelRoute>,
    returns: mpsc::Sender<Box<Content>>,
    /// Its number and generation, once open.
    pub(crate) channel: Option<ChannelRef>,
    /// For recovery: its basic.qos, per-consumer (`[0]`) and global (`[1]`).
    pub(crate) qos: [Option<BasicQos>; 2],
    /// For recovery: confirm.select was accepted.
    pub(crate) confirm: bool,
    /// For recovery: tx.select was accepted.
    pub(crate) tx: bool,
    /// The last confirm ticket handed to the core: the publishes up to it
    /// left (or were failed by the core), those after it wait in the queue.
    pub(crate) sent_ticket: Option<u64>,
    /// With re-publishing on: copies of the unsettled confirm-mode publishes.
    pub(crate) replay: Replay,
}

impl ChannelEntry {
    fn new(route: Arc<ChannelRoute>, returns: mpsc::Sender<Box<Content>>) -> Self {
        Self {
            route,
            returns,
            channel: None,
            qos: [None, None],
            confirm: false,
            tx: false,
            sent_ticket: None,
            replay: Replay::default(),
        }
    }
}

/// Per-channel state the handles share with the driver.
pub(crate) struct ChannelRoute {
    pub(crate) flow: watch::Sender<bool>,
    /// Returned messages dropped because the returns queue was full.
    pub(crate) returns_dropped: AtomicU64,
    pub(crate) closed: OnceLock<Error>,
    /// One permit per publish that may still go out unconfirmed
    /// (`max_in_flight`); closed when the channel ends.
    pub(crate) window: Option<Semaphore>,
    /// Publishes sent in confirm mode and not yet settled.
    pub(crate) unconfirmed: AtomicUsize,
    /// The tickets of confirm-mode publishes and how they were settled.
    pub(crate) book: ConfirmBook,
    /// The connection's state, for confirms waiting out a blocked broker.
    pub(crate) shared: Arc<Shared>,
    /// Delivery tags up to this one are from a connection since lost: an
    /// ack of one is refused ([`Error::StaleDeliveryTag`]), never sent.
    pub(crate) stale_up_to: AtomicU64,
    /// A transaction was under way when the connection was lost (why):
    /// the next tx.commit must fail.
    lost_transaction: Mutex<Option<Error>>,
}

impl ChannelRoute {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            flow: watch::Sender::new(true),
            returns_dropped: AtomicU64::new(0),
            closed: OnceLock::new(),
            window: shared.max_in_flight.map(Semaphore::new),
            unconfirmed: AtomicUsize::new(0),
            book: ConfirmBook::default(),
            shared,
            stale_up_to: AtomicU64::new(0),
            lost_transaction: Mutex::new(None),
        }
    }

    /// Why the transaction under way was lost, once (see `tx_commit`).
    pub(crate) fn take_lost_transaction(&self) -> Option<Error> {
        lock(&self.lost_transaction).take()
    }

    pub(crate) fn transaction_lost(&self, cause: Error) {
        *lock(&self.lost_transaction) = Some(cause);
    }

    /// `n` confirm-mode publishes are settled (acked, nacked, or failed
    /// with their channel or connection): their window slots are free.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.unconfirmed.fetch_sub(n, Ordering::AcqRel);
        if let Some(window) = &self.window {
            window.add_permits(n);
        }
    }

    /// The channel ended: wake everyone waiting on it.
    pub(crate) fn end(&self, error: Error) {
        let _ = self.closed.set(error.clone());
        // Unsettled publishes fail with the channel's error.
        self.release(self.book.end(error));
        // Publishers waiting for flow or for a window slot see the error.
        self.flow.send_replace(true);
        if let Some(window) = &self.window {
            window.close();
        }
    }
}

/// Connection state the handles read.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) error: OnceLock<Error>,
    pub(crate) blocked: watch::Sender<Option<String>>,
    /// What the current connection's handshake gave (updated on recovery).
    pub(crate) opened: Mutex<Option<(Tuning, FieldTable)>>,
    /// Recovery's events ([`crate::Connection::events`]).
    pub(crate) events: LazyBroadcast<ConnectionEvent>,
    /// True while the connection is lost and being recovered: calls wait
    /// (at most `recovery_wait`) instead of queueing behind the recovery.
    pub(crate) recovering: watch::Sender<bool>,
    /// `recovering`, read without a lock on every publish.
    recovering_now: std::sync::atomic::AtomicBool,
    /// The config's recovery wait timeout.
    pub(crate) recovery_wait: Duration,
    /// The endpoint of the current (or last) connection.
    pub(crate) endpoint: Mutex<Option<Endpoint>>,
    /// Set by `Connection::close` while recovering: stop recovering.
    pub(crate) close_asked: std::sync::atomic::AtomicBool,
    /// Wakes a recovery in progress for `close_asked`.
    pub(crate) close_requested: Notify,
    pub(crate) closed: watch::Sender<bool>,
    pub(crate) ack_warnings: LazyBroadcast<AckTimeoutWarning>,
    /// The config's `max_in_flight`, for each channel opened.
    pub(crate) max_in_flight: Option<usize>,
    /// The config's `blocked_publish_timeout`.
    pub(crate) blocked_publish_timeout: Option<Duration>,
    /// The config's `consumer_buffer`.
    pub(crate) consumer_buffer: usize,
    /// Wakes the driver when a consumer's queue falls under its bound or a
    /// consumer handle is dropped.
    pub(crate) wake_driver: Notify,
    /// Consumers whose handles were dropped, for the driver to cancel.
    dropped_consumers: Mutex<Vec<DroppedConsumer>>,
    /// Streamed publishes stopped before the end of their body (source
    /// failed, or the publishing future dropped): the connection must go.
    abandoned_streams: Mutex<Vec<(ChannelRef, u64)>>,
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

impl Shared {
    pub(crate) fn new(config: &crate::config::ConnectionConfig) -> Self {
        Self {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            error: OnceLock::new(),
            blocked: watch::Sender::new(None),
            opened: Mutex::new(None),
            events: LazyBroadcast::new(EVENTS_BUFFER),
            recovering: watch::Sender::new(false),
            recovering_now: std::sync::atomic::AtomicBool::new(false),
            recovery_wait: config.recovery.wait_timeout,
            endpoint: Mutex::new(None),
            close_asked: std::sync::atomic::AtomicBool::new(false),
            close_requested: Notify::new(),
            closed: watch::Sender::new(false),
            ack_warnings: LazyBroadcast::new(ACK_WARNINGS_BUFFER),
            max_in_flight: config.max_in_flight,
            blocked_publish_timeout: config.blocked_publish_timeout,
            consumer_buffer: config.consumer_buffer.max(1),
            wake_driver: Notify::new(),
            dropped_consumers: Mutex::new(Vec::new()),
            abandoned_streams: Mutex::new(Vec::new()),
        }
    }

    /// Streamed publish `stream` on `channel` stopped before its end.
    pub(crate) fn stream_abandoned(&self, channel: ChannelRef, stream: u64) {
        lock(&self.abandoned_streams).push((channel, stream));
        self.wake_driver.notify_one();
    }

    /// A consumer's handle was dropped before the consumer ended.
    pub(crate) fn consumer_dropped(&self, dropped: DroppedConsumer) {
        self.dropped_consumers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(dropped);
        self.wake_driver.notify_one();
    }

    /// Waits while the connection recovers, at most the recovery wait
    /// timeout; the connection's error if it ends first.
    pub(crate) async fn recovered(&self) -> Result<(), Error> {
        if !self.is_recovering() {
            return Ok(());
        }
        let mut recovering = self.recovering.subscribe();
        let wait = self.recovery_wait;
        tokio::select! {
            done = tokio::time::timeout(wait, recovering.wait_for(|r| !*r)) => {
                if done.is_err() {
                    return Err(Error::RecoveryTimeout(wait));
                }
            }
            e = self.ended() => return Err(e),
        }
        match self.error.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn is_recovering(&self) -> bool {
        self.recovering_now.load(Ordering::Acquire)
    }

    /// Starts (true) or ends a recovery; returns whether one was under way.
    pub(crate) fn set_recovering(&self, recovering: bool) -> bool {
        self.recovering_now.store(recovering, Ordering::Release);
        self.recovering.send_replace(recovering)
    }

    pub(crate) fn emit(&self, event: ConnectionEvent) {
        self.events.send(|| event);
    }

    /// Waits until the connection has ended, and says why. Every wait in the
    /// handles races this, so none outlives the connection.
    pub(crate) async fn ended(&self) -> Error {
        let mut closed = self.closed.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail while we wait.
        let _ = closed.wait_for(|c| *c).await;
        self.error.get().cloned().unwrap_or(Error::ClientClosed)
    }
}

/// A basic.consume's waiter: the consumer's queue is registered under the
/// tag the reply names.
pub(crate) struct ConsumeWaiter {
    reply: ReplyTx,
    channel: ChannelRef,
    consume: BasicConsume,
    deliveries: mpsc::UnboundedSender<ConsumerMsg>,
    gauge: Arc<ConsumerGauge>,
    streamed: bool,
}

/// A call whose success changes what recovery restores (a declare, a
/// binding, basic.qos, confirm.select): recorded when the broker accepts it.
pub(crate) struct RecordWaiter {
    reply: ReplyTx,
    channel: u16,
    method: Method,
}

/// Who waits for a reply, and what to do with it.
pub(crate) enum Waiter {
    Reply(ReplyTx),
    /// Boxed, like `Consume`.
    OpenChannel(Box<(ReplyTx, ChannelEntry)>),
    /// Boxed: it is rare, and the box keeps every waiter at two words.
    Consume(Box<ConsumeWaiter>),
    /// Boxed, like `Consume`.
    Record(Box<RecordWaiter>),
    /// Nobody: the close started because every handle was dropped.
    Nobody,
}

/// One socket: its halves and what was read of it but not yet decoded.
pub(crate) struct Io<S> {
    reader: tokio::io::ReadHalf<S>,
    writer: tokio::io::WriteHalf<S>,
    rx: BytesMut,
}

impl<S: AsyncRead + AsyncWrite> Io<S> {
    pub(crate) fn new(stream: S) -> Self {
        let (reader, writer) = tokio::io::split(stream);
        Self {
            reader,
            writer,
            rx: BytesMut::with_capacity(READ_START),
        }
    }
}

/// The driver's wake-up by the handles (a consumer dropped, or a full
/// consumer queue drained). One waiter, registered once and renewed only
/// when it fires: a new `Notified` per turn would take the Notify's lock on
/// every read and write.
pub(crate) struct Wake<'a> {
    shared: &'a Shared,
    notified: std::pin::Pin<Box<tokio::sync::futures::Notified<'a>>>,
}

impl<'a> Wake<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            notified: Box::pin(shared.wake_driver.notified()),
        }
    }

    fn renew(&mut self) {
        self.notified.set(self.shared.wake_driver.notified());
    }
}

struct Tap {
    tap: Arc<dyn FrameTap>,
    started: Instant,
    /// Sent bytes not yet shown (the mirror of the out queue).
    sent: BytesMut,
    header_shown: bool,
}

pub(crate) struct Driver {
    core: Core<Waiter>,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    opened: Option<oneshot::Sender<Result<(), Error>>>,
    channels: FastMap<u16, ChannelEntry>,
    consumers: FastMap<(u16, ShortString), ConsumerEntry>,
    /// Consumers whose queue reached its bound: while any is, the socket
    /// is not read.
    full: Vec<(u16, ShortString)>,
    /// The body being streamed to a consumer, per channel.
    pub(crate) streams: FastMap<u16, BodyTx>,
    /// False once the socket can no longer be read (EOF, error, bad frame).
    reading: bool,
    /// False once every handle is gone.
    pub(crate) commands_open: bool,
    tap: Option<Tap>,
    /// What recovery restores: exchanges, queues, bindings.
    pub(crate) topology: Topology,
    /// How a lost connection is recovered (`enabled` false: it is not).
    pub(crate) recovery: Recovery,
    /// Why the connection was lost, while it is being recovered.
    pub(crate) lost: Option<Error>,
    /// The config's connection timeout, for each reconnection attempt.
    pub(crate) connection_timeout: Duration,
    /// When the connection was lost, while it is being recovered.
    lost_at: Option<Instant>,
    /// A TLS client certificate is shown (see `refused_certificate`).
    client_certificate: bool,
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (each update is one assignment).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    pub(crate) fn new(
        config: crate::config::ConnectionConfig,
        commands: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
        opened: oneshot::Sender<Result<(), Error>>,
    ) -> Self {
        let tap = config.tap.clone().map(|tap| Tap {
            tap,
            started: now(),
            sent: BytesMut::new(),
            header_shown: false,
        });
        #[cfg(feature = "tls")]
        let client_certificate = config
            .tls
            .as_ref()
            .is_some_and(crate::TlsConfig::has_client_certificate);
        #[cfg(not(feature = "tls"))]
        let client_certificate = false;
        let recovery = config.recovery.clone();
        let connection_timeout = config.connection_timeout;
        Self {
            core: Core::new(config, now()),
            topology: Topology::default(),
            recovery,
            lost: None,
            connection_timeout,
            lost_at: None,
            client_certificate,
            commands,
            shared,
            opened: Some(opened),
            channels: FastMap::default(),
            consumers: FastMap::default(),
            full: Vec::new(),
            streams: FastMap::default(),
            reading: true,
            commands_open: true,
            tap,
        }
    }

    /// Runs the connection until it is closed and everything queued is
    /// written; with `reconnect`, a lost connection is recovered on a new
    /// socket (see [`crate::recovery`]) and the handles go on.
    pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        stream: S,
        mut reconnect: Option<Reconnect<S>>,
    ) {
        self.recovery.enabled &= reconnect.is_some();
        self.core.set_recovers(self.recovery.enabled);
        let shared = self.shared.clone();
        let mut wake = Wake::new(&shared);
        let mut io = Io::new(stream);
        loop {
            while self.turn(&mut io, &mut wake, true).await {}
            // Bounded: a dead peer may never take a TLS close_notify.
            let _ = tokio::time::timeout(Duration::from_secs(1), io.writer.shutdown()).await;
            let (Some(cause), Some(reconnect)) = (self.lost.take(), reconnect.as_mut()) else {
                break;
            };
            match self.recover(cause, reconnect, &mut wake).await {
                Some(recovered) => io = recovered,
                None => break,
            }
        }
        self.route_events();
        let error = self.core.error().cloned().unwrap_or(Error::ClientClosed);
        self.end_all(error);
    }

    /// One turn of the connection: waits for the first of the socket, a
    /// command (with `take_commands`), a timer or a consumer's wake-up, and
    /// hands it to the core. False once the core is closed (what it queued
    /// is then given one bounded try to be written).
    pub(crate) async fn turn<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
        wake: &mut Wake<'_>,
        take_commands: bool,
    ) -> bool {
        self.route_events();
        self.tap_sent();
        let out_len = self.core.out().len();
        // Once closed, stop at once: after a heartbeat timeout the peer
        // may read nothing, so what is queued gets one bounded try.
        if self.core.is_closed() {
            if out_len > 0 {
                // Best effort: tell the peer why we close, but never hang on it.
                let flush = flush_all(&mut io.writer, self.core.out());
                let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
            }
            return false;
        }
        self.refresh_full();
        // TCP backpressure: while a consumer's queue is full, the broker's
        // frames wait in the socket, not in our memory.
        let paused = !self.full.is_empty() || self.streams.values_mut().any(BodyTx::holds);
        if paused != self.core.reading_paused() {
            self.core.pause_reading(now(), paused);
        }
        let read_now = self.reading && !paused;
        let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
        let accept = take_commands && self.commands_open && out_len < OUT_HIGH_WATER;
        let out: &OutQueue = &*self.core.out();
        tokio::select! {
            () = wake.notified.as_mut() => {
                wake.renew();
                self.handle_wake()
            }
            read = io.reader.read_buf(&mut io.rx), if read_now => self.after_read(read, &mut io.rx),
            written = write_some(&mut io.writer, out), if out_len > 0 => {
                self.after_write(written, &mut io.writer).await
            }
            command = self.commands.recv(), if accept => self.take_commands(command),
            () = sleep_until(deadline), if deadline.is_some() => self.core.handle_timeout(now()),
        }
        true
    }

    /// Starts over on a new socket: the core's handshake, a fresh read.
    pub(crate) fn reconnect_core(&mut self) {
        self.core.reconnect(now());
        self.reading = true;
        self.full.clear();
        if let Some(tap) = &mut self.tap {
            tap.sent.clear();
            tap.header_shown = false;
        }
    }

    /// What a read of the socket gave: octets to decode, EOF or an error.
    fn after_read(&mut self, read: std::io::Result<usize>, rx: &mut BytesMut) {
        let error = match read {
            Ok(0) if rx.is_empty() => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the TCP connection",
            ),
            Ok(0) => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the TCP connection in the middle of a frame",
            ),
            Ok(_) => {
                self.reading = self.decode_frames(rx);
                return;
            }
            Err(e) => e,
        };
        self.reading = false;
        // First connect only: during a recovery, a node going down ends
        // connections there too, and that must not stop the recovery.
        let first = self.opened.is_some();
        let error = match self.client_certificate && first && self.core.awaiting_start() {
            true => refused_certificate(error),
            false => io_error(error),
        };
        self.core.handle_io_error(error);
    }

    /// What a write to the socket gave: `n` octets are out of the queue.
    /// A drained queue is flushed (TLS streams hold records until then).
    async fn after_write<W: AsyncWrite + Unpin>(
        &mut self,
        written: std::io::Result<usize>,
        writer: &mut W,
    ) {
        let error = match written {
            Ok(0) => std::io::ErrorKind::WriteZero.into(),
            Ok(n) => {
                self.core.out().advance(n);
                match self.core.out().is_empty() {
                    true => match writer.flush().await {
                        Ok(()) => return,
                        Err(e) => e,
                    },
                    false => return,
                }
            }
            Err(e) => e,
        };
        self.reading = false;
        self.core.handle_io_error(io_error(error));
    }

    /// Hands the core the command received and up to a batch of those
    /// queued behind it, so their frames leave in one write; `None` means
    /// every handle is gone, and the connection is closed politely.
    fn take_commands(&mut self, command: Option<Command>) {
        let Some(command) = command else {
            self.commands_open = false;
            self.core.close(now(), Waiter::Nobody);
            return;
        };
        self.handle_command(command);
        for _ in 1..COMMAND_BATCH {
            if self.core.out().len() >= OUT_HIGH_WATER {
                break;
            }
            match self.commands.try_recv() {
                Ok(command) => self.handle_command(command),
                Err(_) => break,
            }
        }
    }

    /// Decodes and handles every whole frame in `rx`; false after a
    /// decode error, when the stream can no longer be read.
    fn decode_frames(&mut self, rx: &mut BytesMut) -> bool {
        // One reading of the clock per read: the frames arrived together.
        let now = now();
        self.core.handle_octets_read(now);
        loop {
            match Frame::decode(rx, self.core.frame_max()) {
                Ok(Some(frame)) => {
                    if let Some(tap) = &self.tap {
                        tap.show(self.shared.id, Direction::Received, Tapped::Frame(&frame));
                    }
                    self.core.handle_frame(now, frame);
                    if self.core.is_closed() {
                        return false;
                    }
                }
                Ok(None) => {
                    if rx.is_empty() && rx.capacity() > 4 * READ_CHUNK {
                        // A burst of large frames is over: give the memory back.
                        *rx = BytesMut::with_capacity(READ_CHUNK);
                    } else if rx.capacity() - rx.len() < 4096 {
                        rx.reserve(READ_CHUNK);
                    }
                    return true;
                }
                Err(e) => {
                    if let (Some(tap), Ok(Some(header))) =
                        (&self.tap, ProtocolHeader::decode(&mut rx.clone()))
                    {
                        tap.show(
                            self.shared.id,
                            Direction::Received,
                            Tapped::ProtocolHeader(&header),
                        );
                    }
                    if !self.core.is_open() && is_tls_record(rx) {
                        // Our plain handshake met a TLS listener, which
                        // answers with a TLS alert record.
                        let error = Error::Tls {
                            failure: crate::TlsFailure::PlainClientOnTlsPort,
                            detail: format!(
                                "the broker answered with a TLS record ({:02x?})",
                                &rx[..3]
                            ),
                        };
                        self.core.handle_io_error(error);
                        return false;
                    }
                    self.core.handle_decode_error(now, &e);
                    return false;
                }
            }
        }
    }

    fn handle_command(&mut self, command: Command) {
        let now = now();
        match command {
            Command::OpenChannel {
                reply,
                route,
                returns,
            } => self.core.open_channel(
                now,
                Waiter::OpenChannel(Box::new((reply, ChannelEntry::new(route, returns)))),
            ),
            Command::Call {
                channel,
                method,
                reply,
            } => {
                let waiter = match reply {
                    Some(reply) if self.records(&method) => {
                        Some(Waiter::Record(Box::new(RecordWaiter {
                            reply,
                            channel: channel.id,
                            method: (*method).clone(),
                        })))
                    }
                    reply => reply.map(Waiter::Reply),
                };
                self.core.call(now, channel, *method, waiter)
            }
            Command::Settle {
                channel,
                delivery_tag,
                settle,
            } => self.core.settle(now, channel, delivery_tag, settle),
            Command::Consume {
                channel,
                method,
                reply,
                deliveries,
                gauge,
                streamed,
            } => {
                // The tag asked for is the one used if nowait (no consume-ok).
                let consume = match &*method {
                    Method::BasicConsume(c) => c.clone(),
                    _ => BasicConsume::default(),
                };
                if streamed {
                    self.core
                        .stream_bodies(channel.id, consume.consumer_tag.clone());
                }
                let waiter = Waiter::Consume(Box::new(ConsumeWaiter {
                    reply,
                    channel,
                    consume,
                    deliveries,
                    gauge,
                    streamed,
                }));
                self.core.call(now, channel, *method, Some(waiter))
            }
            Command::Publish {
                channel,
                message,
                ticket,
            } => {
                // Only confirm-mode publishes are looked up: what recovery
                // must know of them (see `on_lost`).
                if let Some(ticket) = ticket {
                    if let Some(entry) = self.channels.get_mut(&channel.id) {
                        entry.sent_ticket = Some(ticket);
                        if let (Some(budget), true) =
                            (self.recovery.republish, self.recovery.enabled)
                        {
                            entry.replay.keep(ticket, &message, budget);
                        }
                    }
                }
                self.core.publish(now, channel, message, ticket)
            }
            Command::PublishStart {
                channel,
                message,
                body_size,
                stream,
                ticket,
                reply,
            } => {
                if let Some(ticket) = ticket {
                    if let Some(entry) = self.channels.get_mut(&channel.id) {
                        // Not kept for re-publishing: its body is not held.
                        entry.sent_ticket = Some(ticket);
                    }
                }
                let start = crate::proto::StreamStart { body_size, stream };
                self.core
                    .publish_start(now, channel, message, start, ticket, Waiter::Reply(reply))
            }
            Command::PublishChunk {
                channel,
                stream,
                chunk,
                taken,
            } => {
                self.core.publish_chunk(now, channel, stream, chunk);
                let _ = taken.send(Ok(Reply::Done));
            }
            Command::CloseChannel { channel, reply } => {
                self.core.close_channel(now, channel, Waiter::Reply(reply))
            }
            Command::ConnectionCall { method, reply } => {
                self.core
                    .call_connection(now, *method, Waiter::Reply(reply))
            }
            Command::Close { reply } => self.core.close(now, Waiter::Reply(reply)),
        }
    }

    fn route_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                Event::AckTimeoutWarning {
                    channel,
                    delivery_tag,
                    consumer_tag,
                    held_for,
                } => {
                    // No receiver is no error: nobody asked for warnings.
                    self.shared.ack_warnings.send(|| AckTimeoutWarning {
                        connection_id: self.shared.id,
                        channel,
                        delivery_tag,
                        consumer_tag: consumer_tag.as_str().unwrap_or_default().to_owned(),
                        held_for,
                    });
                }
                Event::Opened {
                    tuning,
                    server_properties,
                } => {
                    *lock(&self.shared.opened) = Some((tuning, server_properties));
                    if let Some(opened) = self.opened.take() {
                        let _ = opened.send(Ok(()));
                    }
                }
                Event::Reply { waiter, result } => self.reply(waiter, result),
                Event::Confirmed {
                    channel,
                    ticket,
                    multiple,
                    result,
                } => {
                    if let Some(entry) = self.channels.get_mut(&channel) {
                        let route = &entry.route;
                        route.release(route.book.settle(ticket, multiple, result));
                        entry.replay.settled(ticket, multiple);
                    }
                }
                Event::Delivery { channel, content } => self.deliver(channel, content, None),
                Event::StreamStarted {
                    channel,
                    content,
                    body_size,
                } => {
                    let (tx, body) = body_stream(self.shared.clone(), body_size);
                    if body_size > 0 {
                        self.streams.insert(channel, tx);
                    }
                    self.deliver(channel, content, Some(body));
                }
                Event::BodyChunk { channel, chunk } => {
                    if let Some(stream) = self.streams.get_mut(&channel) {
                        stream.send(chunk);
                        if stream.remaining == 0 {
                            self.streams.remove(&channel);
                        }
                    }
                }
                Event::Returned { channel, content } => {
                    if let Some(entry) = self.channels.get(&channel) {
                        // Full (or nobody reads returns any more): dropped,
                        // and counted; see RETURN_QUEUE.
                        if entry.returns.try_send(content).is_err() {
                            entry.route.returns_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Event::ConsumerCancelled {
                    channel,
                    consumer_tag,
                } => {
                    let tag = consumer_tag.as_str().unwrap_or_default().to_owned();
                    if let Some(consumer) = self.consumers.remove(&(channel, consumer_tag)) {
                        let error = Error::ConsumerCancelled { consumer_tag: tag };
                        let _ = consumer.tx.send(ConsumerMsg::End(Some(error)));
                    }
                }
                Event::ConsumerEnded {
                    channel,
                    consumer_tag,
                } => {
                    if let Some(consumer) = self.consumers.remove(&(channel, consumer_tag)) {
                        let _ = consumer.tx.send(ConsumerMsg::End(None));
                        self.consumer_gone(&consumer.consume.queue);
                    }
                }
                Event::ChannelClosed { channel, error } => {
                    if let Some(entry) = self.channels.remove(&channel) {
                        entry.route.end(error.clone());
                    }
                    if let Some(stream) = self.streams.remove(&channel) {
                        stream.fail(error.clone());
                    }
                    self.consumers.retain(|(ch, _), consumer| {
                        if *ch == channel {
                            let _ = consumer.tx.send(ConsumerMsg::End(Some(error.clone())));
                        }
                        *ch != channel
                    });
                }
                Event::Flow { channel, active } => {
                    if let Some(entry) = self.channels.get(&channel) {
                        entry.route.flow.send_replace(active);
                    }
                }
                Event::Blocked(reason) => {
                    self.shared.blocked.send_replace(reason);
                }
                Event::Closed(error) => {
                    if self.recovers(&error) {
                        self.on_lost(&error);
                        self.lost = Some(error);
                    } else {
                        self.not_recovered(&error);
                        self.end_all(error);
                    }
                }
            }
        }
    }

    /// The connection is over for good: every handle hears `error`.
    pub(crate) fn end_all(&mut self, error: Error) {
        // First what every call checks, so that nothing done after a
        // handle hears of the end can look done: the error, the queue of
        // commands (a send now fails instead of queueing a frame that is
        // never written), the channels; only then the consumers and waiters.
        let _ = self.shared.error.set(error.clone());
        let error = self.shared.error.get().cloned().unwrap_or(error);
        self.commands.close();
        for (_, entry) in self.channels.drain() {
            entry.route.end(error.clone());
        }
        self.shared.blocked.send_replace(None);
        self.shared.set_recovering(false);
        self.shared.closed.send_replace(true);
        if let Some(opened) = self.opened.take() {
            let _ = opened.send(Err(error.clone()));
        }
        for (_, stream) in self.streams.drain() {
            stream.fail(error.clone());
        }
        for (_, consumer) in self.consumers.drain() {
            let _ = consumer.tx.send(ConsumerMsg::End(Some(error.clone())));
        }
    }

    /// Hands a basic.deliver to its consumer. One whose handle was dropped
    /// is cancelled, and what still arrives for it is given back to the
    /// broker (basic.reject with requeue) rather than held unacked.
    fn deliver(&mut self, channel: u16, content: Box<Content>, body: Option<BodyStream>) {
        let Method::BasicDeliver(deliver) = &content.method else {
            return;
        };
        let delivery_tag = deliver.delivery_tag;
        let key = (channel, deliver.consumer_tag.clone());
        // The core only delivers for consumers it was told of, and the
        // driver registers each one before it hears of its deliveries.
        let Some(consumer) = self.consumers.get(&key) else {
            return;
        };
        if !consumer.cancelling {
            consumer.gauge.added();
            let msg = match body {
                Some(body) => ConsumerMsg::Streamed(content, body),
                None => ConsumerMsg::Delivery(content),
            };
            if consumer.tx.send(msg).is_ok() {
                if consumer.gauge.is_full() && !self.full.contains(&key) {
                    self.full.push(key);
                }
                return;
            }
            // The handle is gone, and the driver not yet woken for it.
            consumer.gauge.queued.fetch_sub(1, Ordering::AcqRel);
            self.cancel_dropped(&key, Vec::new());
        }
        self.give_back(&key, delivery_tag);
    }

    /// basic.reject with requeue for a delivery nobody will see.
    fn give_back(&mut self, key: &(u16, ShortString), delivery_tag: u64) {
        if let Some(consumer) = self.consumers.get(key) {
            if !consumer.no_ack {
                let requeue = Settle::Reject { requeue: true };
                self.core
                    .settle(now(), consumer.channel, delivery_tag, requeue);
            }
        }
    }

    /// A consumer's handle was dropped: basic.cancel, then its deliveries
    /// that never reached the application go back to the queue, in that
    /// order, so the broker does not hand them to the same consumer again.
    fn cancel_dropped(&mut self, key: &(u16, ShortString), unread: Vec<u64>) {
        let Some(consumer) = self.consumers.get_mut(key) else {
            return;
        };
        if !consumer.cancelling {
            consumer.cancelling = true;
            let channel = consumer.channel;
            let cancel = BasicCancel {
                consumer_tag: key.1.clone(),
                nowait: false,
            };
            self.core.call(now(), channel, cancel.into(), None);
        }
        for delivery_tag in unread {
            self.give_back(key, delivery_tag);
        }
    }

    /// A consumer dropped its handle or took from a full queue.
    fn handle_wake(&mut self) {
        let dropped = std::mem::take(
            &mut *self
                .shared
                .dropped_consumers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let abandoned = std::mem::take(&mut *lock(&self.shared.abandoned_streams));
        for (channel, stream) in abandoned {
            self.core
                .abort_stream(channel, stream, abandoned_stream(channel.id));
        }
        for dropped in dropped {
            let key = (dropped.channel.id, dropped.consumer_tag);
            // Not a later consumer that reuses the tag on a reopened channel.
            if self
                .consumers
                .get(&key)
                .is_some_and(|c| c.channel == dropped.channel)
            {
                self.cancel_dropped(&key, dropped.unread);
            }
        }
    }

    /// Forgets the consumers that are no longer full (or gone).
    fn refresh_full(&mut self) {
        if !self.full.is_empty() {
            let consumers = &self.consumers;
            self.full.retain(|key| {
                consumers
                    .get(key)
                    .is_some_and(|c| !c.cancelling && c.gauge.is_draining())
            });
        }
    }

    fn reply(&mut self, waiter: Waiter, result: Result<Reply, Error>) {
        match waiter {
            Waiter::Reply(tx) => {
                let _ = tx.send(result);
            }
            Waiter::OpenChannel(open) => {
                let (reply, mut entry) = *open;
                if let Ok(Reply::ChannelOpened(channel)) = &result {
                    entry.channel = Some(*channel);
                    self.channels.insert(channel.id, entry);
                }
                let _ = reply.send(result);
            }
            Waiter::Consume(consume) => {
                let ConsumeWaiter {
                    reply,
                    channel,
                    mut consume,
                    deliveries,
                    gauge,
                    streamed,
                } = *consume;
                let tag = match &result {
                    Ok(Reply::Method(Method::BasicConsumeOk(ok))) => Some(ok.consumer_tag.clone()),
                    Ok(Reply::Done) => Some(consume.consumer_tag.clone()),
                    _ => None,
                };
                if let Some(tag) = tag {
                    consume.consumer_tag = tag.clone();
                    consume.nowait = false;
                    let consumer = ConsumerEntry {
                        channel,
                        no_ack: consume.no_ack,
                        tx: deliveries,
                        gauge,
                        cancelling: false,
                        consume,
                        streamed,
                    };
                    self.consumers.insert((channel.id, tag), consumer);
                }
                let _ = reply.send(result);
            }
            Waiter::Record(record) => {
                let RecordWaiter {
                    reply,
                    channel,
                    method,
                } = *record;
                match &result {
                    Ok(Reply::Method(answer)) => self.record(channel, &method, Some(answer)),
                    Ok(_) => self.record(channel, &method, None),
                    Err(_) => {}
                }
                let _ = reply.send(result);
            }
            Waiter::Nobody => {}
        }
    }

    /// Shows the tap what was queued for sending since the last call.
    fn tap_sent(&mut self) {
        let Some(tap) = &mut self.tap else {
            return;
        };
        if let Some(bytes) = self.core.out().take_mirror() {
            tap.sent.extend_from_slice(&bytes);
        }
        if !tap.header_shown {
            match ProtocolHeader::decode(&mut tap.sent) {
                Ok(Some(header)) => {
                    tap.header_shown = true;
                    tap.show(
                        self.shared.id,
                        Direction::Sent,
                        Tapped::ProtocolHeader(&header),
                    );
                }
                Ok(None) => return,
                Err(()) => tap.header_shown = true,
            }
        }
        while let Ok(Some(frame)) = Frame::decode(&mut tap.sent, 0) {
            tap.show(self.shared.id, Direction::Sent, Tapped::Frame(&frame));
        }
    }
}

impl Tap {
    fn show(&self, connection_id: u64, direction: Direction, frame: Tapped<'_>) {
        self.tap.on_frame(&TapEvent {
            connection_id,
            direction,
            elapsed: self.started.elapsed(),
            frame,
        });
    }
}

impl Drop for Driver {
    /// Also when the task is aborted: no publish waits for a confirm that
    /// can no longer come.
    fn drop(&mut self) {
        let error = self
            .shared
            .error
            .get()
            .cloned()
            .unwrap_or(Error::ClientClosed);
        for entry in self.channels.values() {
            entry.route.end(error.clone());
        }
    }
}

/// A socket error as the client reports it: TLS alerts (a refused client
/// certificate, with TLS 1.3) are told apart from I/O.
fn io_error(e: std::io::Error) -> Error {
    #[cfg(feature = "tls")]
    return crate::tls::io_error(e);
    #[cfg(not(feature = "tls"))]
    Error::io(e)
}

/// The connection ended before connection.start, after a TLS handshake in
/// which we showed a certificate. With TLS 1.3 the broker refuses a
/// certificate after the handshake: its alert, or, when it closes before
/// reading our protocol header, only a reset (the kernel drops the alert
/// with the connection). Nothing else ends a connection there.
fn refused_certificate(e: std::io::Error) -> Error {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => Error::Tls {
            failure: crate::TlsFailure::ClientCertificateRefused,
            detail: format!(
                "the broker ended the connection right after the TLS handshake, before \
                 connection.start ({e}): with TLS 1.3 that is how it refuses a client certificate"
            ),
        },
        _ => io_error(e),
    }
}

/// A TLS record header: content type (alert 21, handshake 22), then
/// version 3.x.
fn is_tls_record(rx: &[u8]) -> bool {
    matches!(rx, [21 | 22, 3, 0..=4, ..])
}

async fn write_some<W: AsyncWrite + Unpin>(w: &mut W, out: &OutQueue) -> std::io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); 64];
    let n = out.io_slices(&mut slices);
    w.write_vectored(&slices[..n]).await
}

async fn flush_all<W: AsyncWrite + Unpin>(w: &mut W, out: &mut OutQueue) -> std::io::Result<()> {
    while !out.is_empty() {
        let n = write_some(w, out).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        out.advance(n);
    }
    w.flush().await
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_publish_bookkeeping_stays_small() {
        // An unconfirmed publish costs its `PublishConfirm` (the book and a
        // ticket) and nothing per publish in the core or the book while
        // confirms come in order; commands are moved through the queue.
        assert_eq!(size_of::<crate::PublishConfirm>(), 16);
        assert!(size_of::<Command>() <= 80, "{}", size_of::<Command>());
        assert!(size_of::<Waiter>() <= 24);
    }
}
