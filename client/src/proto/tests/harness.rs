//! A fake clock and a fake peer around [`Core`]: feed it frames (or raw
//! bytes, decoded as the driver decodes them), move time forward, and read
//! back exactly the frames it queued and the events it raised.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::IoSlice;
use std::time::{Duration, Instant};

use amqp_wire::*;
use bytes::{Bytes, BytesMut};

use crate::config::{ConnectionConfig, Heartbeat};
use crate::error::Error;
use crate::proto::{ChannelRef, Core, Event, Outgoing, Reply};

/// One client connection, driven by hand. Waiters are plain numbers.
pub(super) struct Harness {
    pub(super) core: Core<u32>,
    now: Instant,
    started: Instant,
    next_waiter: u32,
    /// Received bytes not yet a whole frame (see [`Harness::receive_bytes`]).
    rx: BytesMut,
    /// Events taken from the core but not yet asked for.
    events: VecDeque<Event<u32>>,
    /// Publish tickets not settled yet, by channel, as the driver's
    /// confirm book would hold them.
    unsettled: BTreeMap<u16, BTreeSet<u32>>,
    /// How each settled ticket was settled.
    settled: BTreeMap<u32, Result<bool, Error>>,
}

impl Harness {
    /// A new connection; checks that it queued the protocol header and
    /// nothing else, and takes it.
    pub(super) fn new(config: ConnectionConfig) -> Self {
        let now = Instant::now();
        let mut h = Self {
            core: Core::new(config, now),
            now,
            started: now,
            next_waiter: 0,
            rx: BytesMut::new(),
            events: VecDeque::new(),
            unsettled: BTreeMap::new(),
            settled: BTreeMap::new(),
        };
        assert_eq!(h.sent_bytes(), PROTOCOL_HEADER, "the first bytes out");
        h
    }

    /// An open connection with the default config (heartbeats off) after a
    /// broker's tune of channel_max 2047, frame_max 131072, heartbeat 0.
    pub(super) fn opened() -> Self {
        Self::opened_with(config(), tune(2047, 131_072, 0))
    }

    /// Runs the whole handshake against `tune`, checking each answer.
    pub(super) fn opened_with(config: ConnectionConfig, tune: ConnectionTune) -> Self {
        let mut h = Self::new(config);
        h.receive_method(0, start());
        let sent = h.sent_methods();
        assert!(
            matches!(sent.as_slice(), [(0, Method::ConnectionStartOk(_))]),
            "{sent:?}"
        );
        h.receive_method(0, tune);
        let sent = h.sent_methods();
        assert!(
            matches!(
                sent.as_slice(),
                [
                    (0, Method::ConnectionTuneOk(_)),
                    (0, Method::ConnectionOpen(_))
                ]
            ),
            "{sent:?}"
        );
        h.receive_method(0, ConnectionOpenOk::default());
        assert!(h.sent_bytes().is_empty());
        let events = h.events();
        assert!(
            matches!(events.as_slice(), [Event::Opened { .. }]),
            "{events:?}"
        );
        h
    }

    pub(super) fn now(&self) -> Instant {
        self.now
    }

    /// Time since the connection was made.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.started
    }

    /// A fresh waiter id.
    pub(super) fn waiter(&mut self) -> u32 {
        self.next_waiter += 1;
        self.next_waiter
    }

    // ===== what the client sent =====

    /// Takes everything queued for writing, as the driver would write it
    /// (through `io_slices` and `advance`).
    pub(super) fn sent_bytes(&mut self) -> Vec<u8> {
        let mut sent = Vec::new();
        let out = self.core.out();
        loop {
            let mut slices = [IoSlice::new(&[]); 16];
            let n = out.io_slices(&mut slices);
            if n == 0 {
                break;
            }
            let mut written = 0;
            for slice in &slices[..n] {
                sent.extend_from_slice(slice);
                written += slice.len();
            }
            out.advance(written);
        }
        assert!(out.is_empty());
        assert_eq!(out.len(), 0);
        sent
    }

    /// Takes everything queued, decoded; every byte must be part of a
    /// well-formed frame.
    pub(super) fn sent_frames(&mut self) -> Vec<Frame> {
        decode_all(&self.sent_bytes(), 0)
    }

    /// Like [`Harness::sent_frames`], for frames that must all be methods.
    pub(super) fn sent_methods(&mut self) -> Vec<(u16, Method)> {
        self.sent_frames()
            .into_iter()
            .map(|frame| match frame {
                Frame::Method { channel, method } => (channel, method),
                other => panic!("expected a method frame, the client sent {other}"),
            })
            .collect()
    }

    /// Takes what was queued, which must be one connection.close; returns
    /// its reply code.
    pub(super) fn sent_connection_close(&mut self) -> u16 {
        match self.sent_methods().as_slice() {
            [(0, Method::ConnectionClose(close))] => close.reply_code,
            other => panic!("expected connection.close, the client sent {other:?}"),
        }
    }

    // ===== what the broker sends =====

    pub(super) fn receive(&mut self, frame: Frame) {
        self.core.handle_frame(self.now, frame);
    }

    pub(super) fn receive_method(&mut self, channel: u16, method: impl Into<Method>) {
        self.receive(Frame::method(channel, method));
    }

    /// A whole message: the method, its header and `body` in frames of at
    /// most `chunk` octets.
    pub(super) fn receive_content(
        &mut self,
        channel: u16,
        method: impl Into<Method>,
        body: &[u8],
        chunk: usize,
    ) {
        self.receive_method(channel, method);
        self.receive(header(channel, body.len()));
        for part in body.chunks(chunk) {
            self.receive(body_frame(channel, part));
        }
    }

    /// Raw bytes from the socket, decoded as the driver does: with the
    /// frame_max in force, stopping at the first error.
    pub(super) fn receive_bytes(&mut self, bytes: &[u8]) {
        self.rx.extend_from_slice(bytes);
        loop {
            match Frame::decode(&mut self.rx, self.core.frame_max()) {
                Ok(Some(frame)) => {
                    self.receive(frame);
                    if self.core.is_closed() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => return self.core.handle_decode_error(self.now, &e),
            }
        }
    }

    // ===== time =====

    /// Moves the clock forward by `d`, calling `handle_timeout` at each
    /// deadline `poll_timeout` names on the way, as the driver's timer does.
    pub(super) fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        let mut wakeups = 0;
        while let Some(deadline) = self.core.poll_timeout() {
            if deadline > target {
                break;
            }
            wakeups += 1;
            assert!(wakeups < 100_000, "the timer does not move on");
            self.now = self.now.max(deadline);
            self.core.handle_timeout(self.now);
        }
        self.now = target;
    }

    // ===== events =====

    /// Every event not yet taken.
    pub(super) fn events(&mut self) -> Vec<Event<u32>> {
        self.pull_events();
        self.events.drain(..).collect()
    }

    /// The one reply for `waiter`; other events stay for [`Harness::events`].
    pub(super) fn reply(&mut self, waiter: u32) -> Result<Reply, Error> {
        self.try_reply(waiter)
            .unwrap_or_else(|| panic!("no reply for waiter {waiter}; events: {:?}", self.events))
    }

    /// The reply for `waiter`, if there is one yet.
    pub(super) fn try_reply(&mut self, waiter: u32) -> Option<Result<Reply, Error>> {
        self.pull_events();
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, Event::Reply { waiter: w, .. } if *w == waiter))?;
        match self.events.remove(i) {
            Some(Event::Reply { result, .. }) => Some(result),
            _ => unreachable!(),
        }
    }

    /// How the publish with `ticket` was settled.
    pub(super) fn confirm(&mut self, ticket: u32) -> Result<bool, Error> {
        self.try_confirm(ticket)
            .unwrap_or_else(|| panic!("publish {ticket} not settled; events: {:?}", self.events))
    }

    /// How the publish with `ticket` was settled, if it was.
    pub(super) fn try_confirm(&mut self, ticket: u32) -> Option<Result<bool, Error>> {
        self.pull_events();
        self.settled.get(&ticket).cloned()
    }

    /// Publishes on `channel` not settled yet.
    pub(super) fn unsettled(&mut self, channel: u16) -> usize {
        self.pull_events();
        self.unsettled.get(&channel).map_or(0, BTreeSet::len)
    }

    fn settle(&mut self, channel: u16, up_to: u32, multiple: bool, result: &Result<bool, Error>) {
        let Some(tickets) = self.unsettled.get_mut(&channel) else {
            return;
        };
        let done: Vec<u32> = if multiple {
            let later = tickets.split_off(&(up_to + 1));
            std::mem::replace(tickets, later).into_iter().collect()
        } else {
            tickets.take(&up_to).into_iter().collect()
        };
        for t in done {
            self.settled.insert(t, result.clone());
        }
    }

    /// Takes the core's events; settles tickets as the driver's confirm
    /// book does (confirm events are consumed here, like replies).
    fn pull_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                Event::Confirmed {
                    channel,
                    ticket,
                    multiple,
                    result,
                } => {
                    let ticket = u32::try_from(ticket).expect("harness tickets are u32");
                    self.settle(channel, ticket, multiple, &result);
                }
                event => {
                    match &event {
                        Event::ChannelClosed { channel, error } => {
                            self.settle(*channel, u32::MAX - 1, true, &Err(error.clone()))
                        }
                        Event::Closed(error) => {
                            let channels: Vec<u16> = self.unsettled.keys().copied().collect();
                            for channel in channels {
                                self.settle(channel, u32::MAX - 1, true, &Err(error.clone()));
                            }
                        }
                        _ => {}
                    }
                    self.events.push_back(event);
                }
            }
        }
    }

    // ===== commands =====

    /// Opens a channel, checking the channel.open sent, and answers it.
    pub(super) fn open_channel(&mut self) -> ChannelRef {
        let w = self.waiter();
        self.core.open_channel(self.now, w);
        let id = match self.sent_methods().as_slice() {
            [(id, Method::ChannelOpen(_))] => *id,
            other => panic!("expected channel.open, the client sent {other:?}"),
        };
        self.receive_method(id, ChannelOpenOk::default());
        match self.reply(w) {
            Ok(Reply::ChannelOpened(channel)) => {
                assert_eq!(channel.id, id);
                channel
            }
            other => panic!("channel.open: {other:?}"),
        }
    }

    /// Sends `method` with a waiter; returns the waiter.
    pub(super) fn call(&mut self, channel: ChannelRef, method: impl Into<Method>) -> u32 {
        let w = self.waiter();
        self.core.call(self.now, channel, method.into(), Some(w));
        w
    }

    /// Publishes `body` to queue "q" with a waiter; returns the waiter.
    /// Publishes with a ticket (the harness's waiter numbers, which grow
    /// like a confirm book's tickets); see [`Harness::confirm`].
    pub(super) fn publish(&mut self, channel: ChannelRef, body: impl Into<Bytes>) -> u32 {
        self.publish_with(channel, publish_method(), body)
    }

    /// [`Harness::publish`] with the basic.publish given.
    pub(super) fn publish_with(
        &mut self,
        channel: ChannelRef,
        method: BasicPublish,
        body: impl Into<Bytes>,
    ) -> u32 {
        let w = self.waiter();
        self.pull_events();
        self.unsettled.entry(channel.id).or_default().insert(w);
        self.core.publish(
            self.now,
            channel,
            Box::new(Outgoing {
                method: method.into(),
                properties: BasicProperties::default(),
                body: body.into(),
            }),
            Some(w.into()),
        );
        w
    }
}

// ===== fixtures =====

/// The default config with heartbeats off, so timing is only tested where
/// a test asks for it.
pub(super) fn config() -> ConnectionConfig {
    ConnectionConfig::default().with_heartbeat(Heartbeat::Disabled)
}

/// RabbitMQ's connection.start, trimmed.
pub(super) fn start() -> ConnectionStart {
    ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: FieldTable::new()
            .with("product", "RabbitMQ")
            .with("version", "3.13.0"),
        mechanisms: "AMQPLAIN PLAIN".into(),
        locales: "en_US".into(),
    }
}

pub(super) fn tune(channel_max: u16, frame_max: u32, heartbeat: u16) -> ConnectionTune {
    ConnectionTune {
        channel_max,
        frame_max,
        heartbeat,
    }
}

pub(super) fn declare(queue: &str) -> QueueDeclare {
    QueueDeclare {
        queue: queue.into(),
        ..Default::default()
    }
}

pub(super) fn declare_ok(queue: &str) -> QueueDeclareOk {
    QueueDeclareOk {
        queue: queue.into(),
        message_count: 0,
        consumer_count: 0,
    }
}

pub(super) fn publish_method() -> BasicPublish {
    BasicPublish {
        routing_key: "q".into(),
        ..Default::default()
    }
}

pub(super) fn deliver(consumer_tag: &str, delivery_tag: u64) -> BasicDeliver {
    BasicDeliver {
        consumer_tag: consumer_tag.into(),
        delivery_tag,
        redelivered: false,
        exchange: "".into(),
        routing_key: "q".into(),
    }
}

pub(super) fn header(channel: u16, body_size: usize) -> Frame {
    Frame::header(
        channel,
        ContentHeader::new(body_size as u64, BasicProperties::default()),
    )
}

pub(super) fn body_frame(channel: u16, part: &[u8]) -> Frame {
    Frame::Body {
        channel,
        payload: Bytes::copy_from_slice(part),
    }
}

/// The bytes of `frames`, encoded.
pub(super) fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        frame.encode(&mut buf).expect("encodable test frame");
    }
    buf.to_vec()
}

/// Decodes `bytes` into frames; every byte must belong to a whole frame.
pub(super) fn decode_all(bytes: &[u8], frame_max: u32) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while !buf.is_empty() {
        match Frame::decode(&mut buf, frame_max) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => panic!("the client sent a partial frame: {:02x?}", &buf[..]),
            Err(e) => panic!("the client sent a malformed frame ({e}): {:02x?}", &buf[..]),
        }
    }
    frames
}

/// The reply code of a protocol violation or a close, if `e` is one.
pub(super) fn code(e: &Error) -> Option<u16> {
    e.reply_code().map(|c| c.0)
}

/// The one `Event::Closed` among `events`.
pub(super) fn closed_error(events: &[Event<u32>]) -> &Error {
    let closed: Vec<&Error> = events
        .iter()
        .filter_map(|e| match e {
            Event::Closed(error) => Some(error),
            _ => None,
        })
        .collect();
    match closed.as_slice() {
        [error] => error,
        _ => panic!("expected one Closed event: {events:?}"),
    }
}
