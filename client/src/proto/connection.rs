//! The connection's protocol state machine, free of I/O.
//!
//! ```text
//!  new() queues the protocol header
//!     |
//!  AwaitingStart --start/start-ok--> AwaitingTune --tune/tune-ok+open--> AwaitingOpenOk
//!                                                                           | open-ok
//!     Closed <--close-ok-- Closing <--close() (ours)------------------- Open
//!     Closed <--close (broker's) / decode error / EOF / heartbeat timeout--+
//! ```
//!
//! The driver calls `handle_frame` for each decoded frame, `handle_*` for
//! socket trouble and timers, and the command methods (`open_channel`,
//! `call`, `publish`, `close_channel`, `close`) for what users ask. After
//! each call it writes out what [`Core::out`] holds, routes the events from
//! [`Core::poll_event`], and sleeps until [`Core::poll_timeout`]. Time comes
//! in as an argument; nothing here reads a clock, spawns or locks, so tests
//! drive it frame by frame.
//!
//! `T` is whatever the caller uses to be told of a reply (a oneshot sender
//! in the driver, a number in tests): it comes back in [`Event::Reply`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use amqp_wire::*;
use bytes::Bytes;

use super::channel::{
    Body, ChannelState, Confirms, Content, HeldPublish, Incoming, Outgoing, Pending, Phase,
    Sending, Slot,
};
use super::negotiate::{self, Tuning};
use super::out::{OutQueue, ZERO_COPY_MIN};
use super::settle::Settle;
use crate::config::ConnectionConfig;
use crate::consumer::Returned;
use crate::error::{CloseReason, Error};
use crate::fast_hash::FastMap;

/// What a request's waiter receives.
pub(crate) enum Reply {
    /// The reply method of a synchronous request.
    Method(Method),
    /// channel.open-ok arrived for this channel.
    ChannelOpened(ChannelRef),
    /// basic.get's answer: a message, or `None` for get-empty.
    Got(Option<Box<Content>>),
    /// The request needs no reply and was queued, or a close completed.
    Done,
}

/// For the internal-error messages of a reply that does not fit its request
/// (a bug): the method's name, not its arguments, as the derived `Debug`
/// would bring every method's `Debug` into every binary for those.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Method(m) => write!(f, "Method({})", m.name()),
            Self::ChannelOpened(c) => write!(f, "ChannelOpened({})", c.id),
            Self::Got(Some(_)) => f.write_str("Got(message)"),
            Self::Got(None) => f.write_str("Got(empty)"),
            Self::Done => f.write_str("Done"),
        }
    }
}

/// A channel number plus the generation of its current use, so a handle to
/// a closed channel can never act on a later channel with the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ChannelRef {
    pub(crate) id: u16,
    pub(crate) generation: u64,
}

/// What happened, for the driver to pass on.
#[derive(Debug)]
pub(crate) enum Event<T> {
    /// The handshake finished.
    Opened {
        tuning: Tuning,
        server_properties: FieldTable,
    },
    /// A request finished.
    Reply {
        waiter: T,
        result: Result<Reply, Error>,
    },
    /// Publishes are settled: the one with `ticket`, or with `multiple`
    /// every one up to it. `Ok(true)` for basic.ack, `Ok(false)` for
    /// basic.nack, or why the publish could not be sent.
    Confirmed {
        channel: u16,
        ticket: u64,
        multiple: bool,
        result: Result<bool, Error>,
    },
    /// A basic.deliver with its content.
    Delivery { channel: u16, content: Box<Content> },
    /// A basic.deliver to a consumer whose bodies are streamed, with its
    /// properties and no body: `body_size` octets follow as
    /// [`Event::BodyChunk`]s.
    StreamStarted {
        channel: u16,
        content: Box<Content>,
        body_size: u64,
    },
    /// One body frame's payload of the delivery streamed on `channel`.
    BodyChunk { channel: u16, chunk: Bytes },
    /// A basic.return with its content.
    Returned { channel: u16, content: Box<Content> },
    /// The broker cancelled a consumer (e.g. its queue was deleted).
    ConsumerCancelled {
        channel: u16,
        consumer_tag: ShortString,
    },
    /// A consumer's basic.cancel-ok arrived (our cancel).
    ConsumerEnded {
        channel: u16,
        consumer_tag: ShortString,
    },
    /// The channel is closed and its number free; its consumers end.
    ChannelClosed { channel: u16, error: Error },
    /// The broker turned flow on or off for the channel.
    Flow { channel: u16, active: bool },
    /// connection.blocked (`Some(reason)`) or connection.unblocked (`None`).
    Blocked(Option<String>),
    /// A delivery has been held unacked for the configured share of the
    /// broker's consumer_timeout; reported once per delivery.
    AckTimeoutWarning {
        channel: u16,
        delivery_tag: u64,
        consumer_tag: ShortString,
        held_for: Duration,
    },
    /// The connection is over; every later call fails with this error.
    Closed(Error),
}

/// Where the connection is, with what only that stage needs (quinn-proto's
/// `state` module is the model): nothing here can be read in a stage it
/// means nothing in.
enum State<T> {
    /// Protocol header sent; connection.start awaited.
    AwaitingStart,
    /// start-ok sent; tune awaited. The broker's properties wait for
    /// `Event::Opened`.
    AwaitingTune {
        server_properties: FieldTable,
    },
    /// tune-ok and open sent; open-ok awaited.
    AwaitingOpenOk {
        server_properties: FieldTable,
    },
    Open,
    /// We sent connection.close (spec 4.2.4: only close / close-ok matter
    /// now) because of `reason`; `waiter` hears of close-ok, which is
    /// given up at `deadline`.
    Closing {
        reason: Error,
        waiter: Option<T>,
        deadline: Option<Instant>,
    },
    /// Over: every call gets `reason`.
    Closed {
        reason: Error,
    },
}

pub(crate) struct Core<T> {
    config: ConnectionConfig,
    state: State<T>,
    tuning: Tuning,
    /// Every channel number in use or used, one slot each.
    channels: FastMap<u16, Slot<T>>,
    next_generation: u64,
    /// Waiters for connection-level replies (update-secret-ok).
    conn_pending: VecDeque<Pending<T>>,
    /// How long a delivery may stay unacked before it is reported.
    ack_warning_after: Option<Duration>,
    out: OutQueue,
    events: VecDeque<Event<T>>,
    last_read: Instant,
    last_write: Instant,
    /// The driver has stopped reading (a consumer's queue is full): the
    /// broker's silence then says nothing about its health.
    reading_paused: bool,
    /// The driver recovers a lost connection: calls in flight then fail
    /// with [`Error::ConnectionLost`].
    recovers: bool,
}

impl<T> Core<T> {
    /// Starts a connection: queues the protocol header.
    pub(crate) fn new(config: ConnectionConfig, now: Instant) -> Self {
        let mut out = OutQueue::new(config.tap.is_some());
        out.push_bytes(Bytes::from_static(&PROTOCOL_HEADER));
        Self {
            ack_warning_after: config.ack_warning_after(),
            config,
            state: State::AwaitingStart,
            tuning: Tuning {
                channel_max: 0,
                frame_max: FRAME_MIN_SIZE,
                heartbeat: 0,
            },
            channels: FastMap::default(),
            next_generation: 0,
            conn_pending: VecDeque::new(),
            out,
            events: VecDeque::new(),
            last_read: now,
            last_write: now,
            reading_paused: false,
            recovers: false,
        }
    }

    /// The driver will recover this connection when it is lost.
    pub(crate) fn set_recovers(&mut self, recovers: bool) {
        self.recovers = recovers;
    }

    /// The largest frame to accept now: 4096 until tuning (spec 4.2.3:
    /// frames before tune-ok are at most FRAME_MIN_SIZE), then frame_max.
    pub(crate) fn frame_max(&self) -> u32 {
        self.tuning.frame_max
    }

    pub(crate) fn out(&mut self) -> &mut OutQueue {
        &mut self.out
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event<T>> {
        self.events.pop_front()
    }

    /// True once nothing more will be read or sent but what `out` holds.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed { .. })
    }

    /// The error every call gets once the connection is closing or closed.
    pub(crate) fn error(&self) -> Option<&Error> {
        match &self.state {
            State::Closing { reason, .. } | State::Closed { reason } => Some(reason),
            _ => None,
        }
    }

    /// The live channel numbered `id`.
    fn channel(&self, id: u16) -> Option<&ChannelState<T>> {
        match self.channels.get(&id) {
            Some(Slot::Live(ch)) => Some(ch),
            _ => None,
        }
    }

    fn live_channels(&self) -> impl Iterator<Item = (u16, &ChannelState<T>)> {
        self.channels.iter().filter_map(|(id, slot)| match slot {
            Slot::Live(ch) => Some((*id, ch)),
            Slot::Ended { .. } => None,
        })
    }

    fn live_channels_mut(&mut self) -> impl Iterator<Item = &mut ChannelState<T>> {
        self.channels.values_mut().filter_map(|slot| match slot {
            Slot::Live(ch) => Some(ch),
            Slot::Ended { .. } => None,
        })
    }

    // ===== timers =====

    fn heartbeat(&self) -> Option<Duration> {
        match (&self.state, self.tuning.heartbeat) {
            (State::Open | State::AwaitingOpenOk { .. } | State::Closing { .. }, secs)
                if secs > 0 =>
            {
                Some(Duration::from_secs(secs.into()))
            }
            _ => None,
        }
    }

    /// When the broker counts as dead for silence: two heartbeat intervals
    /// after the last octet read, unless we are the ones not reading.
    fn read_deadline(&self, interval: Duration) -> Option<Instant> {
        (!self.reading_paused).then(|| self.last_read + interval * 2)
    }

    pub(crate) fn reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// The driver stops (`true`) or resumes reading the socket, to hold a
    /// fast broker back while a consumer catches up. Heartbeats still go
    /// out; the read deadline restarts when reading does.
    pub(crate) fn pause_reading(&mut self, now: Instant, paused: bool) {
        if self.reading_paused && !paused {
            self.last_read = now;
        }
        self.reading_paused = paused;
    }

    /// When `handle_timeout` must next be called, if ever: the earliest of
    /// the heartbeat deadlines, the close timeout, the oldest request's RPC
    /// timeout and the next ack-timeout warning.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let heartbeat = self.heartbeat().map(|i| {
            let write = self.last_write + i / 2;
            self.read_deadline(i).map_or(write, |read| read.min(write))
        });
        let close = match self.state {
            State::Closing { deadline, .. } => deadline,
            _ => None,
        };
        let ack_warning = match (&self.state, self.ack_warning_after) {
            (State::Open, Some(after)) => self
                .live_channels()
                .filter_map(|(_, ch)| ch.unacked.next_warning(after))
                .min(),
            _ => None,
        };
        // Each FIFO's oldest request expires first: requests of one
        // channel share the timeout and are queued in order.
        let rpc = self
            .live_channels()
            .filter_map(|(_, ch)| ch.pending.front()?.deadline)
            .chain(self.conn_pending.front().and_then(|p| p.deadline))
            .min();
        [heartbeat, close, ack_warning, rpc]
            .into_iter()
            .flatten()
            .min()
    }

    /// When a request made now stops waiting for its reply.
    fn rpc_deadline(&self, now: Instant) -> Option<Instant> {
        now.checked_add(self.config.rpc_timeout?)
    }

    /// Sends a heartbeat when we have written nothing for half the interval;
    /// declares the connection dead when nothing was read for two; gives up
    /// on a close-ok that is overdue; reports deliveries held unacked too long.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(interval) = self.heartbeat() {
            if self.read_deadline(interval).is_some_and(|d| now >= d) {
                self.fail(Error::HeartbeatTimeout(interval * 2));
                return;
            }
            if now >= self.last_write + interval / 2 {
                self.send_frame(now, &Frame::Heartbeat);
            }
        }
        if let State::Closing {
            waiter, deadline, ..
        } = &mut self.state
        {
            if deadline.is_some_and(|d| now >= d) {
                let error = Error::CloseTimeout(self.config.close_timeout);
                if let Some(waiter) = waiter.take() {
                    self.reply(waiter, Err(error.clone()));
                }
                // The close we started gave up: that, not why we started
                // it, is how the connection ended.
                self.end(error);
                return;
            }
        }
        self.expire_requests(now);
        if let (State::Open, Some(after)) = (&self.state, self.ack_warning_after) {
            let mut ids: Vec<u16> = self.live_channels().map(|(id, _)| id).collect();
            ids.sort_unstable();
            for id in ids {
                let Some(ch) = live_mut(&mut self.channels, id) else {
                    continue;
                };
                for held in ch.unacked.take_due(now, after) {
                    self.events.push_back(Event::AckTimeoutWarning {
                        channel: id,
                        delivery_tag: held.delivery_tag,
                        consumer_tag: held.consumer_tag,
                        held_for: held.held_for,
                    });
                }
            }
        }
    }

    // ===== sending =====

    fn send_frame(&mut self, now: Instant, frame: &Frame) {
        // Frames we build ourselves only fail to encode for user values
        // (long short strings), which `send_method_checked` catches first.
        if self.out.write(|buf| frame.encode(buf)).is_ok() {
            self.last_write = now;
        }
    }

    fn send_method(&mut self, now: Instant, channel: u16, method: impl Into<Method>) {
        self.send_frame(now, &Frame::method(channel, method));
    }

    /// Encodes a user's method, reporting values that can't be encoded.
    fn send_method_checked(
        &mut self,
        now: Instant,
        channel: u16,
        method: &Method,
    ) -> Result<(), Error> {
        self.out.write(|buf| encode_method(channel, method, buf))?;
        self.last_write = now;
        Ok(())
    }

    // ===== closing =====

    /// The connection failed with `error`: it ends with it, unless our
    /// connection.close was already out, whose reason (the application's
    /// close, an RPC timeout) then stays the one every call gets.
    fn fail(&mut self, error: Error) {
        let reason = match &self.state {
            State::Closing { reason, .. } => reason.clone(),
            _ => error,
        };
        self.end(reason);
    }

    /// Ends the connection with `reason`: every waiter and later call gets it.
    fn end(&mut self, reason: Error) {
        let closing = std::mem::replace(
            &mut self.state,
            State::Closed {
                reason: reason.clone(),
            },
        );
        let close_waiter = match closing {
            State::Closing { waiter, .. } => waiter,
            _ => None,
        };
        let mut waiters = Vec::new();
        for slot in self.channels.values_mut() {
            if let Slot::Live(ch) = slot {
                waiters.extend(ch.drain_waiters());
                *slot = Slot::Ended {
                    generation: ch.generation,
                    error: reason.clone(),
                    last_tag: ch.last_tag,
                };
            }
        }
        waiters.extend(self.conn_pending.drain(..).filter_map(|p| p.waiter));
        // A call in flight is not sent again on the recovered connection:
        // its caller hears that the connection was lost under it.
        let told = match self.recovers && reason.is_recoverable() {
            true => Error::ConnectionLost {
                cause: Box::new(reason.clone()),
            },
            false => reason.clone(),
        };
        for waiter in waiters {
            self.reply(waiter, Err(told.clone()));
        }
        if let Some(waiter) = close_waiter {
            self.reply(waiter, Err(reason.clone()));
        }
        self.events.push_back(Event::Closed(reason));
    }

    /// Starts over on a new socket after the connection was lost (the
    /// driver recovers it): the protocol header is queued and the
    /// handshake runs again. Channel numbers keep their generation and last
    /// delivery tag, for [`Core::reopen_channel`].
    pub(crate) fn reconnect(&mut self, now: Instant) {
        let mut out = OutQueue::new(self.config.tap.is_some());
        out.push_bytes(Bytes::from_static(&PROTOCOL_HEADER));
        self.out = out;
        self.state = State::AwaitingStart;
        self.tuning = Tuning {
            channel_max: 0,
            frame_max: FRAME_MIN_SIZE,
            heartbeat: 0,
        };
        self.conn_pending.clear();
        self.last_read = now;
        self.last_write = now;
        self.reading_paused = false;
    }

    /// Opens channel `channel` again after a recovery, under the same
    /// number and generation, so the application's handle works on; its
    /// delivery tags go on from the last one of the lost connection.
    pub(crate) fn reopen_channel(&mut self, now: Instant, channel: ChannelRef, waiter: T) {
        if let Some(e) = self.refuse() {
            return self.reply(waiter, Err(e));
        }
        let last_tag = match self.channels.get(&channel.id) {
            Some(Slot::Ended {
                generation,
                last_tag,
                ..
            }) if *generation == channel.generation => *last_tag,
            _ => return self.reply(waiter, Err(Error::ChannelClosedByClient)),
        };
        let deadline = self.rpc_deadline(now);
        let mut ch = ChannelState::opening(channel.generation, waiter, deadline);
        ch.tag_offset = last_tag;
        ch.last_tag = last_tag;
        self.channels.insert(channel.id, Slot::Live(ch));
        self.send_method(now, channel.id, ChannelOpen::default());
    }

    /// The bodies of consumer `consumer_tag`'s deliveries on channel `id`
    /// are streamed ([`Event::StreamStarted`], [`Event::BodyChunk`]), not
    /// assembled: told before its basic.consume is sent, so that no
    /// delivery can come first.
    pub(crate) fn stream_bodies(&mut self, id: u16, consumer_tag: ShortString) {
        if let Some(ch) = live_mut(&mut self.channels, id) {
            ch.streamed.insert(consumer_tag);
        }
    }

    /// Channel `id`'s last delivery tag handed out (0 if none).
    pub(crate) fn last_tag(&self, id: u16) -> u64 {
        match self.channels.get(&id) {
            Some(Slot::Live(ch)) => ch.last_tag,
            Some(Slot::Ended { last_tag, .. }) => *last_tag,
            None => 0,
        }
    }

    /// The negotiated heartbeat interval, if any.
    pub(crate) fn heartbeat_interval(&self) -> Option<Duration> {
        (self.tuning.heartbeat > 0).then(|| Duration::from_secs(self.tuning.heartbeat.into()))
    }

    /// Whether nothing came from the broker yet (connection.start awaited).
    pub(crate) fn awaiting_start(&self) -> bool {
        matches!(self.state, State::AwaitingStart)
    }

    /// Whether the handshake has finished.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// The peer broke the protocol: tell it why with connection.close and
    /// stop. We do not wait for close-ok: after a framing error the stream
    /// can no longer be trusted.
    fn violation(&mut self, now: Instant, reply_code: ReplyCode, message: String) {
        match self.state {
            State::Closed { .. } => return,
            // Our connection.close is already out: never send a second one.
            State::Closing { .. } => {}
            _ => self.send_method(
                now,
                0,
                ConnectionClose {
                    reply_code: reply_code.0,
                    reply_text: truncate_shortstr(&message),
                    class_id: 0,
                    method_id: 0,
                },
            ),
        }
        self.fail(Error::ProtocolViolation {
            reply_code,
            message,
        });
    }

    /// A frame could not be decoded.
    pub(crate) fn handle_decode_error(&mut self, now: Instant, error: &DecodeError) {
        match error {
            // Not a violation: the broker is telling us it speaks another version.
            DecodeError::ProtocolHeader(_) => self.fail(Error::from_decode(error)),
            // Spec 4.2.3: a peer that reads a bad frame-end "MUST ... close
            // the connection without sending any more data on it". The
            // framing itself is lost (an unknown frame type is the same
            // case: we cannot tell where the frame ends), so nothing we send
            // could be read as we mean it either: we close the socket, and
            // report the 501 locally. Errors inside a well-framed frame
            // (bad arguments, wrong channel, ...) get connection.close.
            DecodeError::BadFrameEnd(_) | DecodeError::UnknownFrameType(_) => {
                if !self.is_closed() {
                    self.fail(Error::from_decode(error));
                }
            }
            _ => self.violation(now, error.reply_code(), error.to_string()),
        }
    }

    /// The socket failed or reached EOF.
    pub(crate) fn handle_io_error(&mut self, error: Error) {
        if let State::Closing { waiter, .. } = &mut self.state {
            // The broker dropped the socket instead of sending close-ok:
            // the close we asked for happened all the same.
            if let Some(waiter) = waiter.take() {
                self.reply(waiter, Ok(Reply::Done));
            }
        }
        if !self.is_closed() {
            self.fail(error);
        }
    }

    /// Starts a clean close (connection.close 200); `waiter` hears when
    /// close-ok arrives.
    pub(crate) fn close(&mut self, now: Instant, waiter: T) {
        match self.error() {
            None => self.start_close(now, Some(waiter), Error::ClientClosed),
            Some(Error::ClientClosed) => self.reply(waiter, Ok(Reply::Done)),
            Some(e) => {
                let e = e.clone();
                self.reply(waiter, Err(e));
            }
        }
    }

    /// Sends connection.close 200 and waits for close-ok (at most the close
    /// timeout); every request waiting and every later call gets `error`.
    fn start_close(&mut self, now: Instant, waiter: Option<T>, error: Error) {
        let reply_text = match &error {
            Error::ClientClosed => "closed by the client".into(),
            other => truncate_shortstr(&other.to_string()),
        };
        self.send_method(
            now,
            0,
            ConnectionClose {
                reply_code: ReplyCode::SUCCESS.0,
                reply_text,
                class_id: 0,
                method_id: 0,
            },
        );
        let waiters: Vec<T> = self
            .live_channels_mut()
            .flat_map(ChannelState::drain_waiters)
            .collect();
        for w in waiters {
            self.reply(w, Err(error.clone()));
        }
        self.state = State::Closing {
            reason: error,
            waiter,
            deadline: now.checked_add(self.config.close_timeout),
        };
    }

    fn reply(&mut self, waiter: T, result: Result<Reply, Error>) {
        self.events.push_back(Event::Reply { waiter, result });
    }

    // ===== commands =====

    /// Opens a channel on the lowest free number.
    pub(crate) fn open_channel(&mut self, now: Instant, waiter: T) {
        if let Some(e) = self.refuse() {
            return self.reply(waiter, Err(e));
        }
        let max = self.tuning.max_channel_id();
        let Some(id) = (1..=max).find(|id| self.channel(*id).is_none()) else {
            return self.reply(waiter, Err(Error::NoFreeChannel(max)));
        };
        self.next_generation += 1;
        let deadline = self.rpc_deadline(now);
        let channel = ChannelState::opening(self.next_generation, waiter, deadline);
        self.channels.insert(id, Slot::Live(channel));
        self.send_method(now, id, ChannelOpen::default());
    }

    /// Why a new request can't be taken now, if it can't.
    fn refuse(&self) -> Option<Error> {
        match &self.state {
            State::Open => None,
            State::Closing { reason, .. } | State::Closed { reason } => Some(reason.clone()),
            _ => Some(Error::InvalidUse("the connection is not open yet")),
        }
    }

    /// Checks that `channel` is this generation's and open.
    fn channel_error(&self, channel: ChannelRef) -> Option<Error> {
        if let Some(e) = self.refuse() {
            return Some(e);
        }
        match self.channels.get(&channel.id) {
            Some(Slot::Live(ch)) if ch.generation == channel.generation => match &ch.phase {
                Phase::Open => None,
                Phase::Closing { reason } => Some(reason.clone()),
                // A handle exists only once open-ok came.
                Phase::Opening => Some(Error::InvalidUse("the channel is not open yet")),
            },
            Some(Slot::Ended {
                generation, error, ..
            }) if *generation == channel.generation => Some(error.clone()),
            // A handle to an earlier use of the number, which ended.
            _ => Some(Error::ChannelClosedByClient),
        }
    }

    /// The generation of the channel number's current or last use.
    fn generation(&self, id: u16) -> Option<u64> {
        match self.channels.get(&id)? {
            Slot::Live(ch) => Some(ch.generation),
            Slot::Ended { generation, .. } => Some(*generation),
        }
    }

    /// Sends any method on a channel. A synchronous request's waiter hears
    /// of its reply; others' hear `Done` at once (or nothing, with `None`).
    pub(crate) fn call(
        &mut self,
        now: Instant,
        channel: ChannelRef,
        method: Method,
        waiter: Option<T>,
    ) {
        if let Some(e) = self.channel_error(channel) {
            if let Some(w) = waiter {
                self.reply(w, Err(e));
            }
            return;
        }
        if let Err(e) = self.send_method_checked(now, channel.id, &method) {
            if let Some(w) = waiter {
                self.reply(w, Err(e));
            }
            return;
        }
        let reply = method.expected_reply();
        let deadline = self.rpc_deadline(now);
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return; // checked live by channel_error above
        };
        match &method {
            Method::ConfirmSelect(_) => {
                ch.confirms.get_or_insert_with(Confirms::new);
            }
            Method::BasicConsume(c) => ch.unacked.consume_sent(&c.consumer_tag, c.no_ack, c.nowait),
            Method::BasicAck(a) => ch.unacked.settled(a.delivery_tag, a.multiple),
            Method::BasicNack(n) => ch.unacked.settled(n.delivery_tag, n.multiple),
            Method::BasicReject(r) => ch.unacked.settled(r.delivery_tag, false),
            Method::BasicRecover(_) | Method::BasicRecoverAsync(_) => ch.unacked.forget_all(),
            Method::BasicGet(g) => ch.unacked.get_sent(g.no_ack),
            _ => {}
        }
        // No cancel-ok will say the consumer is gone: it is, as of now.
        if let Method::BasicCancel(cancel) = &method {
            if cancel.nowait {
                self.events.push_back(Event::ConsumerEnded {
                    channel: channel.id,
                    consumer_tag: cancel.consumer_tag.clone(),
                });
            }
        }
        match (reply, waiter) {
            (Some(reply), waiter) => ch.pending.push_back(Pending {
                reply,
                waiter,
                method: method.name(),
                deadline,
            }),
            (None, Some(w)) => self.reply(w, Ok(Reply::Done)),
            (None, None) => {}
        }
    }

    /// basic.ack, basic.nack or basic.reject of `delivery_tag`: like
    /// [`Core::call`] with no waiter (dropped on a closed channel, which
    /// the handle reports itself), written without building a `Method`.
    pub(crate) fn settle(
        &mut self,
        now: Instant,
        channel: ChannelRef,
        delivery_tag: u64,
        settle: Settle,
    ) {
        if self.channel_error(channel).is_some() {
            return;
        }
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return;
        };
        // A tag from before a recovery means nothing to this connection
        // (the handle refuses those; this one raced the recovery).
        let Some(raw) = ch.raw_tag(delivery_tag) else {
            return;
        };
        // An ack of the oldest unacked delivery right after another ack
        // (nothing else queued since) folds into it: every delivery below
        // this one is settled, so "all up to here" says the same in one frame.
        let folds = matches!(settle, Settle::Ack { .. })
            && (settle.multiple() || ch.unacked.oldest() == Some(delivery_tag));
        ch.unacked.settled(delivery_tag, settle.multiple());
        if folds && self.out.fold_ack(channel.id, raw) {
            return;
        }
        self.out
            .write_infallible(|buf| settle.encode(channel.id, raw, buf));
        self.last_write = now;
    }

    /// Sends a connection-level request (connection.update-secret).
    pub(crate) fn call_connection(&mut self, now: Instant, method: Method, waiter: T) {
        if let Some(e) = self.refuse() {
            return self.reply(waiter, Err(e));
        }
        if let Err(e) = self.send_method_checked(now, 0, &method) {
            return self.reply(waiter, Err(e));
        }
        match method.expected_reply() {
            Some(reply) => self.conn_pending.push_back(Pending {
                reply,
                waiter: Some(waiter),
                method: method.name(),
                deadline: self.rpc_deadline(now),
            }),
            None => self.reply(waiter, Ok(Reply::Done)),
        }
    }

    /// Publishes a message: basic.publish, a content header, and the body
    /// in frames of at most frame_max - 8 octets. A publish with a
    /// `ticket` is settled by an [`Event::Confirmed`]: when the broker
    /// confirms it, at once when the channel is not in confirm mode after
    /// all, or with the error when it can't be sent. When the channel
    /// closes first, nothing is said: the driver fails what is unsettled.
    pub(crate) fn publish(
        &mut self,
        now: Instant,
        channel: ChannelRef,
        message: Box<Outgoing>,
        ticket: Option<u64>,
    ) {
        if let Some(e) = self.channel_error(channel) {
            // A handle to an earlier use of this channel number: its
            // tickets were failed when that use ended, and this number's
            // tickets now belong to another channel's book.
            if self.generation(channel.id) == Some(channel.generation) {
                self.settle_ticket(channel.id, ticket, Err(e));
            }
            return;
        }
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return; // checked live by channel_error above
        };
        if !ch.flow_active || ch.sending.is_some() {
            ch.held.push_back(HeldPublish { message, ticket });
            return;
        }
        let Outgoing {
            method,
            properties,
            body,
        } = &*message;
        if let Err(e) = self.write_content(now, channel.id, method, properties, body) {
            return self.settle_ticket(channel.id, ticket, Err(e));
        }
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return;
        };
        match &mut ch.confirms {
            Some(confirms) => confirms.sent(ticket, &message.method),
            // Not in confirm mode after all (a race with confirm.select):
            // the publish went out, there is nothing to wait for.
            None => self.settle_ticket(channel.id, ticket, Ok(true)),
        }
    }

    /// Starts a publish whose body follows in chunks
    /// ([`Core::publish_chunk`]): basic.publish and the content header
    /// (`body_size`) go out now; until the last chunk, the channel's other
    /// publishes wait. `waiter` hears `Done` when the last body frame is
    /// queued. Settled like [`Core::publish`].
    pub(crate) fn publish_start(
        &mut self,
        now: Instant,
        channel: ChannelRef,
        message: Box<Outgoing>,
        start: StreamStart,
        ticket: Option<u64>,
        waiter: T,
    ) {
        let StreamStart { body_size, stream } = start;
        if let Some(e) = self.channel_error(channel) {
            if self.generation(channel.id) == Some(channel.generation) {
                self.settle_ticket(channel.id, ticket, Err(e.clone()));
            }
            return self.reply(waiter, Err(e));
        }
        if live_mut(&mut self.channels, channel.id).is_some_and(|ch| ch.sending.is_some()) {
            // The stream before it was abandoned mid-body (its abort is on
            // its way): the channel can carry nothing more.
            let e = abandoned_stream(channel.id);
            self.handle_io_error(e.clone());
            return self.reply(waiter, Err(e));
        }
        let written = self.out.write(|buf| {
            encode_method(channel.id, &message.method, buf)?;
            encode_content_header(channel.id, body_size, &message.properties, buf)
        });
        if let Err(e) = written {
            let e = Error::from(e);
            self.settle_ticket(channel.id, ticket, Err(e.clone()));
            return self.reply(waiter, Err(e));
        }
        self.last_write = now;
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return; // checked live by channel_error above
        };
        match &mut ch.confirms {
            Some(confirms) => confirms.sent(ticket, &message.method),
            None => self.settle_ticket(channel.id, ticket, Ok(true)),
        }
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return;
        };
        ch.sending = Some(Sending {
            stream,
            remaining: body_size,
            waiter: Some(waiter),
        });
        if body_size == 0 {
            self.publish_chunk(now, channel, stream, Bytes::new());
        }
    }

    /// The next part of streamed publish `stream`'s body, sent as body
    /// frames of at most frame_max - 8 octets (without a copy). A chunk of
    /// a stream that is not the channel's current one (its connection was
    /// lost since) is dropped. The last one ends the stream: the waiter
    /// hears `Done` and the publishes held meanwhile go out.
    pub(crate) fn publish_chunk(
        &mut self,
        now: Instant,
        channel: ChannelRef,
        stream: u64,
        chunk: Bytes,
    ) {
        if self.channel_error(channel).is_some() {
            return;
        }
        let Some(ch) = live_mut(&mut self.channels, channel.id) else {
            return;
        };
        let Some(sending) = ch.sending.as_mut().filter(|s| s.stream == stream) else {
            return;
        };
        // The handle never sends more than body_size in all.
        let len = (chunk.len() as u64).min(sending.remaining);
        sending.remaining -= len;
        let done = sending.remaining == 0;
        let chunk = chunk.slice(..len as usize);
        let max = max_body_chunk(self.tuning.frame_max);
        let mut offset = 0;
        while offset < chunk.len() {
            let end = chunk.len().min(offset + max);
            // At most frame_max - 8 octets: fits in u32.
            let size = (end - offset) as u32;
            self.out
                .write_infallible(|buf| encode_body_frame_start(channel.id, size, buf));
            self.out.push_bytes(chunk.slice(offset..end));
            self.out
                .write_infallible(|buf| buf.extend_from_slice(&[FRAME_END]));
            offset = end;
        }
        self.last_write = now;
        if done {
            let waiter = live_mut(&mut self.channels, channel.id)
                .and_then(|ch| ch.sending.take())
                .and_then(|s| s.waiter);
            if let Some(w) = waiter {
                self.reply(w, Ok(Reply::Done));
            }
            self.release_held(now, channel.id);
        }
    }

    /// Streamed publish `stream`'s body source failed before its end. A
    /// message cannot be withdrawn once its header is out, nor can anything
    /// else be sent on the channel before its body: the connection is
    /// dropped (the broker discards the partial message), with `error`,
    /// and recovered when recovery is on.
    pub(crate) fn abort_stream(&mut self, channel: ChannelRef, stream: u64, error: Error) {
        let current = live_mut(&mut self.channels, channel.id)
            .and_then(|ch| ch.sending.as_ref())
            .is_some_and(|s| s.stream == stream);
        if current && self.channel_error(channel).is_none() {
            self.handle_io_error(error);
        }
    }

    fn settle_ticket(&mut self, channel: u16, ticket: Option<u64>, result: Result<bool, Error>) {
        if let Some(ticket) = ticket {
            self.events.push_back(Event::Confirmed {
                channel,
                ticket,
                multiple: false,
                result,
            });
        }
    }

    fn write_content(
        &mut self,
        now: Instant,
        channel: u16,
        method: &Method,
        properties: &BasicProperties,
        body: &Bytes,
    ) -> Result<(), Error> {
        let frame_max = self.tuning.frame_max;
        if body.len() < ZERO_COPY_MIN {
            self.out
                .write(|buf| encode_content(channel, method, properties, body, frame_max, buf))?;
        } else {
            // Large bodies are queued as slices of the caller's buffer,
            // between body-frame headers and frame-end octets: no copy.
            self.out.write(|buf| {
                encode_method(channel, method, buf)?;
                encode_content_header(channel, body.len() as u64, properties, buf)
            })?;
            let chunk = max_body_chunk(frame_max);
            let mut offset = 0;
            while offset < body.len() {
                let end = body.len().min(offset + chunk);
                // A chunk is at most frame_max - 8 octets: it fits in u32.
                let size = (end - offset) as u32;
                self.out
                    .write_infallible(|buf| encode_body_frame_start(channel, size, buf));
                self.out.push_bytes(body.slice(offset..end));
                self.out
                    .write_infallible(|buf| buf.extend_from_slice(&[FRAME_END]));
                offset = end;
            }
        }
        self.last_write = now;
        Ok(())
    }

    /// Closes a channel (channel.close 200); the waiter hears of close-ok.
    pub(crate) fn close_channel(&mut self, now: Instant, channel: ChannelRef, waiter: T) {
        if let Some(e) = self.channel_error(channel) {
            return self.reply(waiter, Err(e));
        }
        let close = ChannelClose {
            reply_code: ReplyCode::SUCCESS.0,
            reply_text: "closed by the client".into(),
            class_id: 0,
            method_id: 0,
        };
        self.start_channel_close(
            now,
            channel.id,
            close,
            Error::ChannelClosedByClient,
            Some(waiter),
        );
    }

    /// Sends `close` on channel `id` and awaits close-ok (within the RPC
    /// timeout; `waiter` hears of it): every request waiting on the channel
    /// and every later call gets `reason`. The number stays taken until
    /// close-ok, so no late frame of this use can reach the next one.
    fn start_channel_close(
        &mut self,
        now: Instant,
        id: u16,
        close: ChannelClose,
        reason: Error,
        waiter: Option<T>,
    ) {
        let deadline = self.rpc_deadline(now);
        let Some(ch) = live_mut(&mut self.channels, id) else {
            return;
        };
        if matches!(ch.phase, Phase::Closing { .. }) {
            // One close per channel: a second reason only fails what waits.
            let waiters = ch.drain_waiters();
            for w in waiters.into_iter().chain(waiter) {
                self.reply(w, Err(reason.clone()));
            }
            return;
        }
        ch.phase = Phase::Closing {
            reason: reason.clone(),
        };
        let waiters = ch.drain_waiters();
        ch.pending.push_back(Pending {
            reply: (ChannelCloseOk::CLASS_ID, ChannelCloseOk::METHOD_ID),
            waiter,
            method: ChannelClose::NAME,
            deadline,
        });
        for w in waiters {
            self.reply(w, Err(reason.clone()));
        }
        self.send_method(now, id, close);
    }

    /// Closes a channel because of `error`, found on our side (an RPC
    /// timeout, a message too large): channel.close with `reply_code`, and
    /// the handles hear of `error` now, not when close-ok comes.
    fn close_channel_on_error(
        &mut self,
        now: Instant,
        id: u16,
        reply_code: ReplyCode,
        cause: (u16, u16),
        error: Error,
    ) {
        let close = ChannelClose {
            reply_code: reply_code.0,
            reply_text: truncate_shortstr(&error.to_string()),
            class_id: cause.0,
            method_id: cause.1,
        };
        self.start_channel_close(now, id, close, error.clone(), None);
        self.events
            .push_back(Event::ChannelClosed { channel: id, error });
    }

    /// Fails the requests whose RPC timeout has passed: a channel's closes
    /// that channel (its later replies could be taken for the next
    /// request's), a connection-level one closes the connection.
    fn expire_requests(&mut self, now: Instant) {
        let Some(after) = self.config.rpc_timeout else {
            return;
        };
        let due = |p: Option<&Pending<T>>| p.and_then(|p| p.deadline).is_some_and(|d| now >= d);
        let mut ids: Vec<u16> = self
            .live_channels()
            .filter(|(_, ch)| due(ch.pending.front()))
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let Some(ch) = live_mut(&mut self.channels, id) else {
                continue;
            };
            let method = ch.pending.front().map_or("", |p| p.method);
            let error = Error::RpcTimeout { method, after };
            if matches!(ch.phase, Phase::Closing { .. }) {
                // Our channel.close got no close-ok: its waiter is told,
                // the number stays taken until close-ok comes.
                let waiters: Vec<T> = ch.pending.drain(..).filter_map(|p| p.waiter).collect();
                for w in waiters {
                    self.reply(w, Err(error.clone()));
                }
                self.events
                    .push_back(Event::ChannelClosed { channel: id, error });
            } else {
                self.close_channel_on_error(now, id, ReplyCode::SUCCESS, (0, 0), error);
            }
        }
        if due(self.conn_pending.front()) && matches!(self.state, State::Open) {
            let method = self.conn_pending.front().map_or("", |p| p.method);
            let error = Error::RpcTimeout { method, after };
            for w in self
                .conn_pending
                .drain(..)
                .filter_map(|p| p.waiter)
                .collect::<Vec<_>>()
            {
                self.reply(w, Err(error.clone()));
            }
            self.start_close(now, None, error);
        }
    }

    // ===== receiving =====

    /// Notes that octets arrived, whole frames or not: a peer that is busy
    /// sending one large frame over a slow link is alive, so the heartbeat's
    /// read deadline counts from the last octet, not the last whole frame.
    pub(crate) fn handle_octets_read(&mut self, now: Instant) {
        self.last_read = now;
    }

    /// Takes one frame from the broker.
    pub(crate) fn handle_frame(&mut self, now: Instant, frame: Frame) {
        self.last_read = now;
        match self.state {
            State::Closed { .. } => {}
            State::AwaitingStart | State::AwaitingTune { .. } | State::AwaitingOpenOk { .. } => {
                self.handle_handshake(now, frame)
            }
            State::Closing { .. } => self.handle_closing(now, frame),
            // Destructured once, here: each move of a whole `Frame` is a
            // memcpy of its largest variant.
            State::Open => match frame {
                Frame::Heartbeat => {}
                Frame::Method { channel: 0, method } => self.handle_connection_method(now, method),
                Frame::Method { channel, method } => {
                    if self.accept_channel_frame(now, channel, Some(&method)) {
                        self.handle_channel_method(now, channel, method);
                    }
                }
                Frame::Header { channel, header } => {
                    if self.accept_channel_frame(now, channel, None) {
                        self.handle_header(now, channel, header);
                    }
                }
                Frame::Body { channel, payload } => {
                    if self.accept_channel_frame(now, channel, None) {
                        self.handle_body(now, channel, payload);
                    }
                }
            },
        }
    }

    fn handle_handshake(&mut self, now: Instant, frame: Frame) {
        let method = match frame {
            Frame::Heartbeat => return,
            Frame::Method { channel: 0, method } => method,
            other => {
                // What the frame is and where, not its readable form: that
                // printer (`Frame`'s `Display`, for the tap and amqp-decode)
                // would otherwise be in every binary for this one message.
                let what = match &other {
                    Frame::Method { method, .. } => method.name(),
                    Frame::Header { .. } => "content header",
                    _ => "content body",
                };
                return self.violation(
                    now,
                    ReplyCode::UNEXPECTED_FRAME,
                    format!(
                        "unexpected {what} on channel {} during the handshake",
                        other.channel()
                    ),
                );
            }
        };
        match (&mut self.state, method) {
            (_, Method::ConnectionClose(close)) => {
                // E.g. 403 ACCESS_REFUSED for a bad login, 530 NOT_ALLOWED
                // for an unknown vhost.
                self.send_method(now, 0, ConnectionCloseOk {});
                self.fail(Error::ConnectionClosed(close_reason(&close)));
            }
            (State::AwaitingStart, Method::ConnectionStart(start)) => {
                if (start.version_major, start.version_minor) != (0, 9) {
                    return self.fail(Error::Negotiation(format!(
                        "the broker speaks AMQP {}-{}, not 0-9",
                        start.version_major, start.version_minor
                    )));
                }
                if let Err(e) = negotiate::check_mechanism(&start.mechanisms, self.config.mechanism)
                {
                    return self.fail(e);
                }
                let response = negotiate::sasl_response(
                    self.config.mechanism,
                    &self.config.username,
                    &self.config.password,
                );
                let start_ok = ConnectionStartOk {
                    client_properties: negotiate::client_properties(
                        self.config.connection_name.as_deref(),
                    ),
                    mechanism: self.config.mechanism.name().into(),
                    response,
                    locale: "en_US".into(),
                };
                if let Err(e) = self.send_method_checked(now, 0, &start_ok.into()) {
                    return self.fail(e);
                }
                self.state = State::AwaitingTune {
                    server_properties: start.server_properties,
                };
            }
            (State::AwaitingTune { server_properties }, Method::ConnectionTune(tune)) => {
                let server_properties = std::mem::take(server_properties);
                let tuning = match negotiate::tune(
                    (tune.channel_max, tune.frame_max, tune.heartbeat),
                    (
                        self.config.channel_max,
                        self.config.frame_max,
                        self.config.heartbeat,
                    ),
                ) {
                    Ok(t) => t,
                    Err(e) => return self.fail(e),
                };
                self.tuning = tuning;
                self.send_method(
                    now,
                    0,
                    ConnectionTuneOk {
                        channel_max: tuning.channel_max,
                        frame_max: tuning.frame_max,
                        heartbeat: tuning.heartbeat,
                    },
                );
                let open = ConnectionOpen {
                    virtual_host: self.config.vhost.as_str().into(),
                    ..Default::default()
                };
                if let Err(e) = self.send_method_checked(now, 0, &open.into()) {
                    return self.fail(e);
                }
                self.state = State::AwaitingOpenOk { server_properties };
            }
            (State::AwaitingTune { .. }, Method::ConnectionSecure(_)) => {
                self.fail(Error::Negotiation(format!(
                    "the broker sent a SASL challenge, which {} does not use",
                    self.config.mechanism.name()
                )))
            }
            (State::AwaitingOpenOk { server_properties }, Method::ConnectionOpenOk(_)) => {
                let server_properties = std::mem::take(server_properties);
                self.state = State::Open;
                self.events.push_back(Event::Opened {
                    tuning: self.tuning,
                    server_properties,
                });
            }
            (_, method) => self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!("unexpected {} during the handshake", method.name()),
            ),
        }
    }

    fn handle_closing(&mut self, now: Instant, frame: Frame) {
        match frame {
            Frame::Method {
                channel: 0,
                method: Method::ConnectionCloseOk(_),
            } => {
                // Our close is done; it ends the connection with its reason.
                self.close_answered();
                self.fail(Error::ClientClosed);
            }
            Frame::Method {
                channel: 0,
                method: Method::ConnectionClose(close),
            } => {
                // Both sides closed at once: answer, and we are done. The
                // broker's reason says more than ours.
                self.send_method(now, 0, ConnectionCloseOk {});
                self.close_answered();
                self.end(Error::ConnectionClosed(close_reason(&close)));
            }
            // Spec 4.2.4: after sending close, discard everything else.
            _ => {}
        }
    }

    /// Our connection.close was answered: its waiter is told it is done.
    fn close_answered(&mut self) {
        if let State::Closing { waiter, .. } = &mut self.state {
            if let Some(w) = waiter.take() {
                self.reply(w, Ok(Reply::Done));
            }
        }
    }

    fn handle_connection_method(&mut self, now: Instant, method: Method) {
        match method {
            Method::ConnectionClose(close) => {
                self.send_method(now, 0, ConnectionCloseOk {});
                self.fail(Error::ConnectionClosed(close_reason(&close)));
            }
            Method::ConnectionBlocked(b) => self
                .events
                .push_back(Event::Blocked(Some(b.reason.to_string()))),
            Method::ConnectionUnblocked(_) => self.events.push_back(Event::Blocked(None)),
            method => {
                let ids = (method.class_id(), method.method_id());
                match self.conn_pending.front() {
                    Some(p) if Method::answers(p.reply, ids) => {
                        if let Some(w) = self.conn_pending.pop_front().and_then(|p| p.waiter) {
                            self.reply(w, Ok(Reply::Method(method)));
                        }
                    }
                    _ => self.violation(
                        now,
                        ReplyCode::UNEXPECTED_FRAME,
                        format!("unexpected {} on channel 0", method.name()),
                    ),
                }
            }
        }
    }

    /// Whether a frame for channel `id` is to be handled: the channel is
    /// open. While our channel.close is out, everything but close / close-ok
    /// is dropped (spec); those two finish the close here. `method` is the
    /// frame's method, if it is a method frame.
    fn accept_channel_frame(&mut self, now: Instant, id: u16, method: Option<&Method>) -> bool {
        let Some(ch) = live_mut(&mut self.channels, id) else {
            self.violation(
                now,
                ReplyCode::CHANNEL_ERROR,
                format!("frame for channel {id}, which is not open"),
            );
            return false;
        };
        if !matches!(ch.phase, Phase::Closing { .. }) {
            return true;
        }
        let error = match method {
            Some(Method::ChannelCloseOk(_)) => Error::ChannelClosedByClient,
            Some(Method::ChannelClose(close)) => {
                let error = Error::ChannelClosed(channel_close_reason(close));
                self.send_method(now, id, ChannelCloseOk {});
                error
            }
            _ => return false,
        };
        // Our close is done either way: its waiter hears Done.
        let waiters: Vec<T> = live_mut(&mut self.channels, id)
            .map(|ch| ch.pending.drain(..).filter_map(|p| p.waiter).collect())
            .unwrap_or_default();
        for w in waiters {
            self.reply(w, Ok(Reply::Done));
        }
        self.free_channel(id, error);
        false
    }

    /// A content header: the properties go straight into the boxed content.
    fn handle_header(&mut self, now: Instant, id: u16, header: Box<ContentHeader>) {
        let incoming = live_mut(&mut self.channels, id).and_then(|ch| ch.incoming.take());
        let Some(Incoming::AwaitingHeader { method, waiter }) = incoming else {
            return self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!("content header on channel {id} without a method before it"),
            );
        };
        if let (Method::BasicDeliver(d), Some(ch)) = (&method, live_mut(&mut self.channels, id)) {
            if !ch.streamed.is_empty() && ch.streamed.contains(&d.consumer_tag) {
                // Nothing is sized from body_size: no limit applies.
                if header.body_size > 0 {
                    ch.incoming = Some(Incoming::Streaming {
                        remaining: header.body_size,
                    });
                }
                let content = Box::new(Content {
                    method,
                    properties: header.properties,
                    body: Bytes::new(),
                });
                self.events.push_back(Event::StreamStarted {
                    channel: id,
                    content,
                    body_size: header.body_size,
                });
                return;
            }
        }
        // Checked before anything is sized from it: body_size is the
        // broker's claim, up to 2^64 - 1.
        let limit = self.config.max_message_size;
        if header.body_size > limit {
            let cause = (method.class_id(), method.method_id());
            return self.refuse_content(now, id, cause, waiter, header.body_size, limit);
        }
        let incoming = Incoming::AwaitingBody {
            content: Box::new(Content {
                method,
                properties: header.properties,
                body: Bytes::new(),
            }),
            waiter,
            body_size: header.body_size,
            body: Body::Empty,
        };
        self.content_progressed(id, incoming);
    }

    fn handle_body(&mut self, now: Instant, id: u16, payload: Bytes) {
        let incoming = live_mut(&mut self.channels, id).and_then(|ch| ch.incoming.take());
        if let Some(Incoming::Streaming { remaining }) = incoming {
            return self.handle_streamed_body(now, id, remaining, payload);
        }
        let Some(Incoming::AwaitingBody {
            content,
            waiter,
            body_size,
            mut body,
        }) = incoming
        else {
            let text = match incoming {
                None => format!("content body on channel {id} without a method before it"),
                Some(_) => format!("content body on channel {id} before its header"),
            };
            return self.violation(now, ReplyCode::UNEXPECTED_FRAME, text);
        };
        if body.len() as u64 + payload.len() as u64 > body_size {
            return self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!("content body on channel {id} exceeds its body_size {body_size}"),
            );
        }
        if body.push(payload, body_size).is_err() {
            let cause = (content.method.class_id(), content.method.method_id());
            return self.refuse_content(now, id, cause, waiter, body_size, body_size);
        }
        let incoming = Incoming::AwaitingBody {
            content,
            waiter,
            body_size,
            body,
        };
        self.content_progressed(id, incoming);
    }

    /// A body frame of a streamed delivery: passed on as it is.
    fn handle_streamed_body(&mut self, now: Instant, id: u16, remaining: u64, chunk: Bytes) {
        let Some(remaining) = remaining.checked_sub(chunk.len() as u64) else {
            return self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!("content body on channel {id} exceeds its body_size"),
            );
        };
        if let (Some(ch), true) = (live_mut(&mut self.channels, id), remaining > 0) {
            ch.incoming = Some(Incoming::Streaming { remaining });
        }
        self.events
            .push_back(Event::BodyChunk { channel: id, chunk });
    }

    fn handle_channel_method(&mut self, now: Instant, id: u16, method: Method) {
        let Some(ch) = live_mut(&mut self.channels, id) else {
            return;
        };
        if ch.incoming.is_some() {
            return self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!(
                    "{} on channel {id} in the middle of a message's content",
                    method.name()
                ),
            );
        }
        match method {
            Method::ChannelClose(close) => {
                self.send_method(now, id, ChannelCloseOk {});
                self.free_channel(id, Error::ChannelClosed(channel_close_reason(&close)));
            }
            Method::ChannelFlow(flow) => {
                ch.flow_active = flow.active;
                self.send_method(
                    now,
                    id,
                    ChannelFlowOk {
                        active: flow.active,
                    },
                );
                self.events.push_back(Event::Flow {
                    channel: id,
                    active: flow.active,
                });
                if flow.active {
                    self.release_held(now, id);
                }
            }
            Method::BasicDeliver(mut deliver) => {
                deliver.delivery_tag = ch.expose_tag(deliver.delivery_tag);
                ch.unacked
                    .delivered(deliver.delivery_tag, &deliver.consumer_tag, now);
                ch.incoming = Some(Incoming::AwaitingHeader {
                    method: Method::BasicDeliver(deliver),
                    waiter: None,
                });
            }
            method @ Method::BasicReturn(_) => {
                ch.incoming = Some(Incoming::AwaitingHeader {
                    method,
                    waiter: None,
                });
            }
            Method::BasicAck(BasicAck {
                delivery_tag,
                multiple,
            }) => self.confirm(now, id, delivery_tag, multiple, true),
            Method::BasicNack(BasicNack {
                delivery_tag,
                multiple,
                ..
            }) => self.confirm(now, id, delivery_tag, multiple, false),
            Method::BasicCancel(cancel) => {
                // The broker cancels a consumer when its queue goes away
                // (consumer_cancel_notify).
                ch.unacked.consumer_ended(&cancel.consumer_tag);
                ch.streamed.remove(&cancel.consumer_tag);
                if !cancel.nowait {
                    let consumer_tag = cancel.consumer_tag.clone();
                    self.send_method(now, id, BasicCancelOk { consumer_tag });
                }
                self.events.push_back(Event::ConsumerCancelled {
                    channel: id,
                    consumer_tag: cancel.consumer_tag,
                });
            }
            method => self.handle_reply(now, id, method),
        }
    }

    /// A method that must answer the oldest pending request of the channel.
    fn handle_reply(&mut self, now: Instant, id: u16, method: Method) {
        let ids = (method.class_id(), method.method_id());
        let Some(ch) = live_mut(&mut self.channels, id) else {
            return;
        };
        let Some(i) = answered_request(&ch.pending, ids) else {
            return self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!("unexpected {} on channel {id}", method.name()),
            );
        };
        let waiter = ch.pending.remove(i).and_then(|p| p.waiter);
        let reply = match method {
            Method::BasicGetOk(mut ok) => {
                ok.delivery_tag = ch.expose_tag(ok.delivery_tag);
                ch.unacked.get_answered(Some(ok.delivery_tag), now);
                ch.incoming = Some(Incoming::AwaitingHeader {
                    method: Method::BasicGetOk(ok),
                    waiter,
                });
                return;
            }
            Method::ChannelOpenOk(_) => {
                ch.phase = Phase::Open;
                Reply::ChannelOpened(ChannelRef {
                    id,
                    generation: ch.generation,
                })
            }
            Method::BasicGetEmpty(_) => {
                ch.unacked.get_answered(None, now);
                Reply::Got(None)
            }
            Method::BasicConsumeOk(ok) => {
                ch.unacked.consume_ok(&ok.consumer_tag);
                Reply::Method(Method::BasicConsumeOk(ok))
            }
            Method::BasicCancelOk(ok) => {
                ch.unacked.consumer_ended(&ok.consumer_tag);
                ch.streamed.remove(&ok.consumer_tag);
                self.events.push_back(Event::ConsumerEnded {
                    channel: id,
                    consumer_tag: ok.consumer_tag.clone(),
                });
                Reply::Method(Method::BasicCancelOk(ok))
            }
            m => Reply::Method(m),
        };
        if let Some(w) = waiter {
            self.reply(w, Ok(reply));
        }
    }

    fn confirm(&mut self, now: Instant, id: u16, tag: u64, multiple: bool, ack: bool) {
        let Some(confirms) = live_mut(&mut self.channels, id).and_then(|c| c.confirms.as_mut())
        else {
            let name = if ack { "basic.ack" } else { "basic.nack" };
            return self.violation(
                now,
                ReplyCode::UNEXPECTED_FRAME,
                format!("{name} on channel {id}, which is not in confirm mode"),
            );
        };
        confirms.confirmed(tag, multiple);
        let ticket = if multiple {
            let ticket = confirms.last_ticket_up_to(tag);
            confirms.forget_up_to(tag);
            ticket
        } else {
            confirms.ticket_of(tag)
        };
        if let Some(ticket) = ticket {
            self.events.push_back(Event::Confirmed {
                channel: id,
                ticket,
                multiple,
                result: Ok(ack),
            });
        }
    }

    fn release_held(&mut self, now: Instant, id: u16) {
        let Some(ch) = live_mut(&mut self.channels, id) else {
            return;
        };
        let held = std::mem::take(&mut ch.held);
        let generation = ch.generation;
        for h in held {
            self.publish(now, ChannelRef { id, generation }, h.message, h.ticket);
        }
    }

    /// Puts back the content being assembled on channel `id`, unless it is
    /// now complete: then it goes to its consumer, basic.get waiter or
    /// returns queue.
    fn content_progressed(&mut self, id: u16, incoming: Incoming<T>) {
        let Some(ch) = live_mut(&mut self.channels, id) else {
            return;
        };
        let (mut content, waiter, body) = match incoming {
            Incoming::AwaitingBody {
                content,
                waiter,
                body_size,
                body,
            } if body.len() as u64 == body_size => (content, waiter, body),
            incoming => {
                ch.incoming = Some(incoming);
                return;
            }
        };
        content.body = body.into_bytes();
        match (&content.method, waiter) {
            (Method::BasicGetOk(_), Some(w)) => self.reply(w, Ok(Reply::Got(Some(content)))),
            (Method::BasicReturn(r), _) => {
                // In confirm mode the publish it answers is settled as
                // returned now; the broker's ack that follows finds it settled.
                let ticket = ch
                    .confirms
                    .as_mut()
                    .and_then(|c| c.returned(&r.exchange, &r.routing_key));
                if let Some(returned) = ticket.and_then(|_| Returned::from_content(content.clone()))
                {
                    self.settle_ticket(id, ticket, Err(Error::Returned(Box::new(returned))));
                }
                self.events.push_back(Event::Returned {
                    channel: id,
                    content,
                })
            }
            _ => self.events.push_back(Event::Delivery {
                channel: id,
                content,
            }),
        }
    }

    /// A message the client will not hold (over the inbound size limit, or
    /// no memory for it): the consumer or basic.get `waiter` gets
    /// [`Error::MessageTooLarge`] and the channel is closed with 311
    /// CONTENT_TOO_LARGE (`cause`: the method that carried it), which makes
    /// the broker requeue the message; its remaining body frames are
    /// dropped unread, as on any closing channel.
    fn refuse_content(
        &mut self,
        now: Instant,
        id: u16,
        cause: (u16, u16),
        waiter: Option<T>,
        body_size: u64,
        limit: u64,
    ) {
        let error = Error::MessageTooLarge { body_size, limit };
        if let Some(w) = waiter {
            self.reply(w, Err(error.clone()));
        }
        self.close_channel_on_error(now, id, ReplyCode::CONTENT_TOO_LARGE, cause, error);
    }

    /// Forgets a channel: its number is free, its waiters fail with `error`.
    fn free_channel(&mut self, id: u16, error: Error) {
        let Some(Slot::Live(mut ch)) = self.channels.remove(&id) else {
            return;
        };
        for w in ch.drain_waiters() {
            self.reply(w, Err(error.clone()));
        }
        let ended = Slot::Ended {
            generation: ch.generation,
            error: error.clone(),
            last_tag: ch.last_tag,
        };
        self.channels.insert(id, ended);
        self.events
            .push_back(Event::ChannelClosed { channel: id, error });
    }
}

/// The live channel numbered `id`, borrowing only the map (so the rest of
/// the core stays usable while it is held).
fn live_mut<T>(channels: &mut FastMap<u16, Slot<T>>, id: u16) -> Option<&mut ChannelState<T>> {
    match channels.get_mut(&id) {
        Some(Slot::Live(ch)) => Some(ch),
        _ => None,
    }
}

/// Which pending request a reply with `ids` answers, if any. Replies come
/// in request order (spec 4.7), with one exception RabbitMQ makes: its
/// basic.consume-ok and basic.cancel-ok are sent by the queue, not the
/// channel, so they may come after the replies to requests sent after them.
/// Those two answer the oldest request of their kind; any other reply
/// answers the oldest request that is not one of them.
/// A streamed publish's size and its number on the channel (see
/// [`Core::publish_start`]).
pub(crate) struct StreamStart {
    pub(crate) body_size: u64,
    pub(crate) stream: u64,
}

/// Why a connection is dropped when a streamed publish stops mid-body.
pub(crate) fn abandoned_stream(channel: u16) -> Error {
    Error::io(std::io::Error::other(format!(
        "a streamed publish on channel {channel} stopped before the end of its body: \
         a message cannot be withdrawn once its header is sent, so the connection is dropped"
    )))
}

fn answered_request<T>(pending: &VecDeque<Pending<T>>, ids: (u16, u16)) -> Option<usize> {
    const FLOATING: [(u16, u16); 2] = [
        (BasicConsumeOk::CLASS_ID, BasicConsumeOk::METHOD_ID),
        (BasicCancelOk::CLASS_ID, BasicCancelOk::METHOD_ID),
    ];
    let i = if FLOATING.contains(&ids) {
        pending.iter().position(|p| p.reply == ids)?
    } else {
        pending.iter().position(|p| !FLOATING.contains(&p.reply))?
    };
    Method::answers(pending[i].reply, ids).then_some(i)
}

fn close_reason(close: &ConnectionClose) -> CloseReason {
    CloseReason {
        reply_code: ReplyCode(close.reply_code),
        reply_text: close.reply_text.to_string(),
        class_id: close.class_id,
        method_id: close.method_id,
    }
}

fn channel_close_reason(close: &ChannelClose) -> CloseReason {
    CloseReason {
        reply_code: ReplyCode(close.reply_code),
        reply_text: close.reply_text.to_string(),
        class_id: close.class_id,
        method_id: close.method_id,
    }
}

/// A reply text cut to fit a short string, on a character boundary.
fn truncate_shortstr(text: &str) -> ShortString {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}
