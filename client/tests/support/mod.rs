//! A scripted broker for driving a real `Connection` over an in-memory
//! pipe: it reads the client's frames with `Frame::decode` and writes the
//! frames a test chooses, nothing more. Also a stream that can be broken on
//! demand (a TCP reset), and fixtures.
// Shared by several test binaries, each of which uses a part of it.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use amqp_client::wire::*;
use amqp_client::{
    BasicConsumeOptions, Channel, Connection, ConnectionConfig, Consumer, Heartbeat,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// How long any one step may take before the test fails instead of hanging.
/// With paused time this costs nothing.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// Awaits `fut`, failing the test if it takes longer than [`PATIENCE`].
pub(crate) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still waiting after {PATIENCE:?}"),
    }
}

/// True if `fut` is still pending after `d` (it is polled, then dropped).
pub(crate) async fn still_pending<F: Future + Unpin>(d: Duration, fut: &mut F) -> bool {
    tokio::time::timeout(d, fut).await.is_err()
}

/// The broker's end of the pipe.
pub(crate) struct FakeBroker {
    io: DuplexStream,
    rx: BytesMut,
    /// The frame_max the client's frames must fit (0: any).
    pub(crate) frame_max: u32,
}

/// A connected pipe: the client's end and the broker.
pub(crate) fn pipe(capacity: usize) -> (DuplexStream, FakeBroker) {
    let (client, broker) = tokio::io::duplex(capacity);
    (client, FakeBroker::new(broker))
}

impl FakeBroker {
    pub(crate) fn new(io: DuplexStream) -> Self {
        Self {
            io,
            rx: BytesMut::new(),
            frame_max: 0,
        }
    }

    /// Reads more bytes; false at EOF.
    async fn fill(&mut self) -> bool {
        let n = self.io.read_buf(&mut self.rx).await.expect("broker read");
        n > 0
    }

    /// The 8 octets the client opens with.
    pub(crate) async fn read_protocol_header(&mut self) -> [u8; 8] {
        while self.rx.len() < 8 {
            assert!(self.fill().await, "EOF before the protocol header");
        }
        let mut header = [0; 8];
        header.copy_from_slice(&self.rx.split_to(8));
        header
    }

    /// The client's next frame, heartbeats included; `None` at EOF (with
    /// no partial frame left).
    pub(crate) async fn recv(&mut self) -> Option<Frame> {
        loop {
            match Frame::decode(&mut self.rx, self.frame_max) {
                Ok(Some(frame)) => return Some(frame),
                Ok(None) => {}
                Err(e) => panic!("the client sent a malformed frame: {e}"),
            }
            if !self.fill().await {
                assert!(self.rx.is_empty(), "EOF in the middle of a client frame");
                return None;
            }
        }
    }

    /// The client's next frame other than a heartbeat; panics at EOF.
    pub(crate) async fn recv_frame(&mut self) -> Frame {
        loop {
            match self.recv().await {
                Some(Frame::Heartbeat) => {}
                Some(frame) => return frame,
                None => panic!("EOF where a frame was expected"),
            }
        }
    }

    /// The client's next method (heartbeats skipped).
    pub(crate) async fn recv_method(&mut self) -> (u16, Method) {
        match self.recv_frame().await {
            Frame::Method { channel, method } => (channel, method),
            other => panic!("expected a method, the client sent {other}"),
        }
    }

    /// Reads until the client closes the socket; returns what came.
    pub(crate) async fn until_eof(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.recv().await {
            frames.push(frame);
        }
        frames
    }

    /// The connection.close the client must send next, then EOF; returns its code.
    pub(crate) async fn expect_close_then_eof(&mut self) -> u16 {
        let code = match self.recv_method().await {
            (0, Method::ConnectionClose(close)) => close.reply_code,
            other => panic!("expected connection.close, got {other:?}"),
        };
        let rest = self.until_eof().await;
        assert!(rest.is_empty(), "after connection.close: {rest:?}");
        code
    }

    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("broker write");
    }

    pub(crate) async fn send(&mut self, frame: Frame) {
        self.send_raw(&encode(&[frame])).await;
    }

    pub(crate) async fn send_method(&mut self, channel: u16, method: impl Into<Method>) {
        self.send(Frame::method(channel, method)).await;
    }

    /// The broker's side of the handshake up to open-ok; returns the
    /// client's start-ok and tune-ok.
    pub(crate) async fn handshake(
        &mut self,
        tune: ConnectionTune,
    ) -> (ConnectionStartOk, ConnectionTuneOk) {
        assert_eq!(self.read_protocol_header().await, PROTOCOL_HEADER);
        self.send_method(0, start()).await;
        let start_ok = match self.recv_method().await {
            (0, Method::ConnectionStartOk(ok)) => ok,
            other => panic!("expected start-ok, got {other:?}"),
        };
        self.send_method(0, tune).await;
        let tune_ok = match self.recv_method().await {
            (0, Method::ConnectionTuneOk(ok)) => ok,
            other => panic!("expected tune-ok, got {other:?}"),
        };
        match self.recv_method().await {
            (0, Method::ConnectionOpen(_)) => {}
            other => panic!("expected connection.open, got {other:?}"),
        }
        self.send_method(0, ConnectionOpenOk::default()).await;
        (start_ok, tune_ok)
    }

    /// Answers the channel.open the client sends next; returns its number.
    pub(crate) async fn accept_channel(&mut self) -> u16 {
        match self.recv_method().await {
            (id, Method::ChannelOpen(_)) => {
                self.send_method(id, ChannelOpenOk::default()).await;
                id
            }
            other => panic!("expected channel.open, got {other:?}"),
        }
    }

    /// A whole message: method, header, body in frames of `chunk` octets.
    pub(crate) async fn send_content(
        &mut self,
        channel: u16,
        method: impl Into<Method>,
        body: &[u8],
        chunk: usize,
    ) {
        let mut frames = vec![Frame::method(channel, method), header(channel, body.len())];
        frames.extend(body.chunks(chunk).map(|part| body_frame(channel, part)));
        self.send_raw(&encode(&frames)).await;
    }

    /// Drops the broker's end: the client reads EOF.
    pub(crate) fn hang_up(self) {}

    /// The raw pipe, once every frame read so far was taken.
    pub(crate) fn into_io(self) -> DuplexStream {
        assert!(
            self.rx.is_empty(),
            "unread client octets: {:?}",
            &self.rx[..]
        );
        self.io
    }
}

/// Connects over a fresh pipe and answers the handshake with `tune`.
pub(crate) async fn open(
    config: ConnectionConfig,
    tune: ConnectionTune,
) -> (Connection, FakeBroker) {
    open_over_pipe(config, tune, 1 << 20).await
}

/// [`open`] over a pipe that holds `capacity` octets each way.
pub(crate) async fn open_over_pipe(
    config: ConnectionConfig,
    tune: ConnectionTune,
    capacity: usize,
) -> (Connection, FakeBroker) {
    let (client, mut broker) = pipe(capacity);
    let (conn, _) = within("handshake", async {
        tokio::join!(
            Connection::connect_stream(client, config),
            broker.handshake(tune)
        )
    })
    .await;
    (conn.expect("the handshake succeeds"), broker)
}

/// Opens a channel, the broker answering.
pub(crate) async fn open_channel(conn: &Connection, broker: &mut FakeBroker) -> Channel {
    let (channel, id) = within("channel.open", async {
        tokio::join!(conn.open_channel(), broker.accept_channel())
    })
    .await;
    let channel = channel.expect("channel.open");
    assert_eq!(channel.id(), id);
    channel
}

/// Opens a channel and puts it in confirm mode, the broker answering.
pub(crate) async fn confirm_channel(conn: &Connection, broker: &mut FakeBroker) -> Channel {
    let ch = open_channel(conn, broker).await;
    let (selected, ()) = tokio::join!(ch.confirm_select(Default::default()), async {
        match broker.recv_method().await {
            (id, Method::ConfirmSelect(_)) => assert_eq!(id, ch.id()),
            other => panic!("expected confirm.select, got {other:?}"),
        }
        broker
            .send_method(ch.id(), ConfirmSelectOk::default())
            .await;
    });
    selected.expect("confirm.select");
    ch
}

/// Starts a consumer on queue `q` with `tag`, the broker checking it got
/// basic.consume on this channel and answering consume-ok with
/// `server_tag` (what it names the consumer when `tag` is empty).
pub(crate) async fn consume(
    ch: &Channel,
    broker: &mut FakeBroker,
    tag: &str,
    server_tag: &str,
) -> Consumer {
    let (consumer, ()) = tokio::join!(
        ch.basic_consume("q", tag, BasicConsumeOptions::default(), FieldTable::new()),
        async {
            match broker.recv_method().await {
                (id, Method::BasicConsume(_)) => assert_eq!(id, ch.id()),
                other => panic!("expected basic.consume, got {other:?}"),
            }
            broker
                .send_method(
                    ch.id(),
                    BasicConsumeOk {
                        consumer_tag: server_tag.into(),
                    },
                )
                .await;
        }
    );
    consumer.expect("basic.consume")
}

// ===== a stream that can be reset =====

#[derive(Default)]
struct BreakState {
    broken: bool,
    reader: Option<Waker>,
}

/// The client's end of a pipe that fails on demand, like a reset TCP
/// connection: reads fail with `ConnectionReset`, writes with `BrokenPipe`.
pub(crate) struct Breakable {
    inner: DuplexStream,
    state: Arc<Mutex<BreakState>>,
}

/// Breaks a [`Breakable`].
#[derive(Clone)]
pub(crate) struct Breaker(Arc<Mutex<BreakState>>);

impl Breaker {
    pub(crate) fn reset(&self) {
        let mut state = self.0.lock().unwrap();
        state.broken = true;
        if let Some(waker) = state.reader.take() {
            waker.wake();
        }
    }
}

pub(crate) fn breakable(inner: DuplexStream) -> (Breakable, Breaker) {
    let state = Arc::new(Mutex::new(BreakState::default()));
    (
        Breakable {
            inner,
            state: state.clone(),
        },
        Breaker(state),
    )
}

impl AsyncRead for Breakable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        {
            let mut state = self.state.lock().unwrap();
            if state.broken {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            state.reader = Some(cx.waker().clone());
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Breakable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.state.lock().unwrap().broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ===== fixtures =====

/// The default config with heartbeats off; tests that time heartbeats ask
/// for them.
pub(crate) fn config() -> ConnectionConfig {
    ConnectionConfig::default().with_heartbeat(Heartbeat::Disabled)
}

/// RabbitMQ's connection.start, trimmed.
pub(crate) fn start() -> ConnectionStart {
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

pub(crate) fn tune(channel_max: u16, frame_max: u32, heartbeat: u16) -> ConnectionTune {
    ConnectionTune {
        channel_max,
        frame_max,
        heartbeat,
    }
}

pub(crate) fn header(channel: u16, body_size: usize) -> Frame {
    Frame::header(
        channel,
        ContentHeader::new(body_size as u64, BasicProperties::default()),
    )
}

pub(crate) fn body_frame(channel: u16, part: &[u8]) -> Frame {
    Frame::Body {
        channel,
        payload: Bytes::copy_from_slice(part),
    }
}

pub(crate) fn deliver(consumer_tag: &str, delivery_tag: u64) -> BasicDeliver {
    BasicDeliver {
        consumer_tag: consumer_tag.into(),
        delivery_tag,
        redelivered: false,
        exchange: "".into(),
        routing_key: "q".into(),
    }
}

pub(crate) fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        frame.encode(&mut buf).expect("encodable test frame");
    }
    buf.to_vec()
}

/// A body of `len` octets that is not all one value.
pub(crate) fn body(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}
