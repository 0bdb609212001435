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
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use amqp_wire::{FieldTable, Frame, Method, ProtocolHeader, ShortString};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};

use crate::confirm_book::ConfirmBook;
use crate::consumer::AckTimeoutWarning;
use crate::error::Error;
use crate::fast_hash::FastMap;
use crate::proto::{ChannelRef, Content, Core, Event, OutQueue, Outgoing, Reply, Settle, Tuning};
use crate::tap::{Direction, FrameTap, TapEvent, Tapped};

/// Stop taking commands while this much is waiting to be written: publishers
/// then wait in the command queue instead of filling memory.
const OUT_HIGH_WATER: usize = 1024 * 1024;

/// At most this many commands are taken per wakeup before writing, so that
/// frames from many publishes leave in one write.
const COMMAND_BATCH: usize = 256;

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// How many ack-timeout warnings a slow reader may fall behind by.
const ACK_WARNINGS_BUFFER: usize = 1024;

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply, Error>>;

/// What the handles ask of the driver. Kept to a few words: every ack and
/// publish is moved into and out of the command queue, so rare large
/// payloads (methods, messages) are boxed.
pub(crate) enum Command {
    OpenChannel {
        reply: ReplyTx,
        route: Arc<ChannelRoute>,
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
        /// The tag asked for; the one used if nowait (no consume-ok).
        tag: ShortString,
        deliveries: mpsc::UnboundedSender<ConsumerMsg>,
    },
    Publish {
        channel: ChannelRef,
        message: Box<Outgoing>,
        /// In confirm mode: its ticket in the channel's [`ConfirmBook`];
        /// it holds a window slot until settled.
        ticket: Option<u64>,
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
    /// The consumer ended: `None` after our own basic.cancel, else why.
    End(Option<Error>),
}

/// Per-channel state the handles share with the driver.
pub(crate) struct ChannelRoute {
    pub(crate) flow: watch::Sender<bool>,
    pub(crate) returns: mpsc::UnboundedSender<Box<Content>>,
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
}

impl ChannelRoute {
    pub(crate) fn new(returns: mpsc::UnboundedSender<Box<Content>>, shared: Arc<Shared>) -> Self {
        Self {
            flow: watch::Sender::new(true),
            returns,
            closed: OnceLock::new(),
            window: shared.max_in_flight.map(Semaphore::new),
            unconfirmed: AtomicUsize::new(0),
            book: ConfirmBook::default(),
            shared,
        }
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
    fn end(&self, error: Error) {
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
    pub(crate) opened: OnceLock<(Tuning, FieldTable)>,
    pub(crate) closed: watch::Sender<bool>,
    pub(crate) ack_warnings: broadcast::Sender<AckTimeoutWarning>,
    /// The config's `max_in_flight`, for each channel opened.
    pub(crate) max_in_flight: Option<usize>,
    /// The config's `blocked_publish_timeout`.
    pub(crate) blocked_publish_timeout: Option<Duration>,
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

impl Shared {
    pub(crate) fn new(config: &crate::config::ConnectionConfig) -> Self {
        Self {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            error: OnceLock::new(),
            blocked: watch::Sender::new(None),
            opened: OnceLock::new(),
            closed: watch::Sender::new(false),
            ack_warnings: broadcast::Sender::new(ACK_WARNINGS_BUFFER),
            max_in_flight: config.max_in_flight,
            blocked_publish_timeout: config.blocked_publish_timeout,
        }
    }
}

/// A basic.consume's waiter: the consumer's queue is registered under the
/// tag the reply names.
pub(crate) struct ConsumeWaiter {
    reply: ReplyTx,
    channel: u16,
    tag: ShortString,
    deliveries: mpsc::UnboundedSender<ConsumerMsg>,
}

/// Who waits for a reply, and what to do with it.
pub(crate) enum Waiter {
    Reply(ReplyTx),
    OpenChannel {
        reply: ReplyTx,
        route: Arc<ChannelRoute>,
    },
    /// Boxed: it is rare, and the box keeps every waiter at two words.
    Consume(Box<ConsumeWaiter>),
    /// Nobody: the close started because every handle was dropped.
    Nobody,
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
    channels: FastMap<u16, Arc<ChannelRoute>>,
    consumers: FastMap<(u16, ShortString), mpsc::UnboundedSender<ConsumerMsg>>,
    tap: Option<Tap>,
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
        Self {
            core: Core::new(config, now()),
            commands,
            shared,
            opened: Some(opened),
            channels: FastMap::default(),
            consumers: FastMap::default(),
            tap,
        }
    }

    /// Runs the connection until it is closed and everything queued is written.
    pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(mut self, stream: S) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut rx = BytesMut::with_capacity(READ_CHUNK);
        let mut reading = true;
        let mut commands_open = true;
        loop {
            self.route_events();
            self.tap_sent();
            let out_len = self.core.out().len();
            // Once closed, stop at once: after a heartbeat timeout the peer
            // may read nothing, so what is queued gets one bounded try.
            if self.core.is_closed() {
                if out_len > 0 {
                    // Best effort: tell the peer why we close, but never hang on it.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        flush_all(&mut writer, self.core.out()),
                    )
                    .await;
                }
                break;
            }
            let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
            let accept = commands_open && !self.core.is_closed() && out_len < OUT_HIGH_WATER;
            let out: &OutQueue = &*self.core.out();
            tokio::select! {
                read = reader.read_buf(&mut rx), if reading => {
                    match read {
                        Ok(0) => {
                            reading = false;
                            let e = if rx.is_empty() {
                                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the broker closed the TCP connection")
                            } else {
                                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the broker closed the TCP connection in the middle of a frame")
                            };
                            self.core.handle_io_error(Error::io(e));
                        }
                        Ok(_) => {
                            if !self.decode_frames(&mut rx) {
                                reading = false;
                            }
                        }
                        Err(e) => {
                            reading = false;
                            self.core.handle_io_error(Error::io(e));
                        }
                    }
                }
                written = write_some(&mut writer, out), if out_len > 0 => {
                    match written {
                        Ok(0) => {
                                    reading = false;
                            self.core.handle_io_error(Error::io(std::io::ErrorKind::WriteZero.into()));
                        }
                        Ok(n) => {
                                    self.core.out().advance(n);
                            if self.core.out().is_empty() {
                                if let Err(e) = writer.flush().await {
                                    self.core.handle_io_error(Error::io(e));
                                }
                            }
                        }
                        Err(e) => {
                                    reading = false;
                            self.core.handle_io_error(Error::io(e));
                        }
                    }
                }
                command = self.commands.recv(), if accept => {
                    match command {
                        Some(command) => {
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
                        None => {
                            // Every handle is gone: close politely.
                            commands_open = false;
                            self.core.close(now(), Waiter::Nobody);
                        }
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.core.handle_timeout(now());
                }
            }
        }
        self.route_events();
        let _ = writer.shutdown().await;
        let error = self.core.error().cloned().unwrap_or(Error::ClientClosed);
        let _ = self.shared.error.set(error);
        self.shared.closed.send_replace(true);
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
                    if rx.capacity() - rx.len() < 4096 {
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
                    self.core.handle_decode_error(now, &e);
                    return false;
                }
            }
        }
    }

    fn handle_command(&mut self, command: Command) {
        let now = now();
        match command {
            Command::OpenChannel { reply, route } => self
                .core
                .open_channel(now, Waiter::OpenChannel { reply, route }),
            Command::Call {
                channel,
                method,
                reply,
            } => self
                .core
                .call(now, channel, *method, reply.map(Waiter::Reply)),
            Command::Settle {
                channel,
                delivery_tag,
                settle,
            } => self.core.settle(now, channel, delivery_tag, settle),
            Command::Consume {
                channel,
                method,
                reply,
                tag,
                deliveries,
            } => {
                let waiter = Waiter::Consume(Box::new(ConsumeWaiter {
                    reply,
                    channel: channel.id,
                    tag,
                    deliveries,
                }));
                self.core.call(now, channel, *method, Some(waiter))
            }
            Command::Publish {
                channel,
                message,
                ticket,
            } => self.core.publish(now, channel, message, ticket),
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
                    let _ = self.shared.ack_warnings.send(AckTimeoutWarning {
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
                    let _ = self.shared.opened.set((tuning, server_properties));
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
                    if let Some(route) = self.channels.get(&channel) {
                        route.release(route.book.settle(ticket, multiple, result));
                    }
                }
                Event::Delivery { channel, content } => {
                    if let Method::BasicDeliver(deliver) = &content.method {
                        let key = (channel, deliver.consumer_tag.clone());
                        if let Some(consumer) = self.consumers.get(&key) {
                            // A consumer dropped without cancelling: its
                            // deliveries stay unacked until the channel
                            // closes, then the broker requeues them.
                            let _ = consumer.send(ConsumerMsg::Delivery(content));
                        }
                    }
                }
                Event::Returned { channel, content } => {
                    if let Some(route) = self.channels.get(&channel) {
                        let _ = route.returns.send(content);
                    }
                }
                Event::ConsumerCancelled {
                    channel,
                    consumer_tag,
                } => {
                    if let Some(consumer) = self.consumers.remove(&(channel, consumer_tag)) {
                        let _ = consumer.send(ConsumerMsg::End(Some(Error::ConsumerCancelled)));
                    }
                }
                Event::ConsumerEnded {
                    channel,
                    consumer_tag,
                } => {
                    if let Some(consumer) = self.consumers.remove(&(channel, consumer_tag)) {
                        let _ = consumer.send(ConsumerMsg::End(None));
                    }
                }
                Event::ChannelClosed { channel, error } => {
                    if let Some(route) = self.channels.remove(&channel) {
                        route.end(error.clone());
                    }
                    self.consumers.retain(|(ch, _), consumer| {
                        if *ch == channel {
                            let _ = consumer.send(ConsumerMsg::End(Some(error.clone())));
                        }
                        *ch != channel
                    });
                }
                Event::Flow { channel, active } => {
                    if let Some(route) = self.channels.get(&channel) {
                        route.flow.send_replace(active);
                    }
                }
                Event::Blocked(reason) => {
                    self.shared.blocked.send_replace(reason);
                }
                Event::Closed(error) => {
                    let _ = self.shared.error.set(error.clone());
                    if let Some(opened) = self.opened.take() {
                        let _ = opened.send(Err(error.clone()));
                    }
                    for (_, consumer) in self.consumers.drain() {
                        let _ = consumer.send(ConsumerMsg::End(Some(error.clone())));
                    }
                    for (_, route) in self.channels.drain() {
                        route.end(error.clone());
                    }
                }
            }
        }
    }

    fn reply(&mut self, waiter: Waiter, result: Result<Reply, Error>) {
        match waiter {
            Waiter::Reply(tx) => {
                let _ = tx.send(result);
            }
            Waiter::OpenChannel { reply, route } => {
                if let Ok(Reply::ChannelOpened(channel)) = &result {
                    self.channels.insert(channel.id, route);
                }
                let _ = reply.send(result);
            }
            Waiter::Consume(consume) => {
                let ConsumeWaiter {
                    reply,
                    channel,
                    tag,
                    deliveries,
                } = *consume;
                match &result {
                    Ok(Reply::Method(Method::BasicConsumeOk(ok))) => {
                        self.consumers
                            .insert((channel, ok.consumer_tag.clone()), deliveries);
                    }
                    Ok(Reply::Done) => {
                        self.consumers.insert((channel, tag), deliveries);
                    }
                    _ => {}
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
        for route in self.channels.values() {
            route.end(error.clone());
        }
    }
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
