//! A delivery's body taken as it arrives, one body frame's payload at a
//! time, instead of assembled whole: for messages larger than the memory a
//! consumer should hold (see [`crate::Channel::basic_consume_streamed`]).
//!
//! Back-pressured end to end: the driver stops reading the socket while
//! [`CHUNKS_BUFFERED`] chunks wait unread, so the broker's frames wait in
//! TCP buffers, and then in the broker, not in the client's memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use crate::consumer::Delivery;
use crate::driver::{ConsumerGauge, Shared};
use crate::error::{Error, Result};

/// How many chunks (body frames, at most frame_max - 8 octets each: 128 KiB
/// with RabbitMQ's default frame_max) may wait unread before the driver
/// stops reading the socket; it reads again once half are taken.
pub(crate) const CHUNKS_BUFFERED: usize = 8;

/// A delivery whose body is a stream: what
/// [`crate::StreamedConsumer::next`] gives.
///
/// Take the body before asking for the next delivery: the consumer's next
/// delivery comes after this body on the wire, and the connection reads
/// no further than [`CHUNKS_BUFFERED`] unread chunks. Dropping the body
/// skips the rest of it (the client still reads it off the socket).
#[derive(Debug)]
pub struct StreamedDelivery {
    /// The delivery: tag, redelivered, exchange, routing key, consumer tag,
    /// properties, and the ack/nack/reject methods. Its `body` is empty.
    pub delivery: Delivery,
    /// The body, as it arrives.
    pub body: BodyStream,
}

/// A message body arriving in chunks: [`BodyStream::chunk`], or as an
/// [`AsyncRead`] (`tokio::io::copy` to a file, say).
///
/// It ends (`None`, or EOF) after exactly `body_size` octets; if the
/// channel or connection ends first, it gives that error instead, so a
/// truncated body is never mistaken for a whole one.
pub struct BodyStream {
    rx: mpsc::UnboundedReceiver<Result<Bytes>>,
    gauge: Arc<ConsumerGauge>,
    shared: Arc<Shared>,
    body_size: u64,
    /// Octets not yet received.
    remaining: u64,
    /// What [`AsyncRead`] has not handed out yet of the last chunk.
    current: Bytes,
    failed: bool,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("body_size", &self.body_size)
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// The driver's end of a [`BodyStream`].
pub(crate) struct BodyTx {
    tx: mpsc::UnboundedSender<Result<Bytes>>,
    gauge: Arc<ConsumerGauge>,
    /// Octets still to come.
    pub(crate) remaining: u64,
    /// The reader is [`CHUNKS_BUFFERED`] behind: the socket is not read
    /// until it has taken half of them.
    holding: bool,
}

/// A body stream of `body_size` octets and the driver's end of it.
pub(crate) fn body_stream(shared: Arc<Shared>, body_size: u64) -> (BodyTx, BodyStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    let gauge = Arc::new(ConsumerGauge::new(CHUNKS_BUFFERED));
    let stream = BodyStream {
        rx,
        gauge: gauge.clone(),
        shared,
        body_size,
        remaining: body_size,
        current: Bytes::new(),
        failed: false,
    };
    let tx = BodyTx {
        tx,
        gauge,
        remaining: body_size,
        holding: false,
    };
    (tx, stream)
}

impl BodyTx {
    /// Passes a body frame's payload on (dropped if the reader is gone).
    pub(crate) fn send(&mut self, chunk: Bytes) {
        self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
        self.gauge.added();
        if self.tx.send(Ok(chunk)).is_err() {
            self.gauge.taken();
            return;
        }
        self.holding |= self.gauge.is_full();
    }

    /// The body cannot be finished: the reader gets `error`.
    pub(crate) fn fail(self, error: Error) {
        let _ = self.tx.send(Err(error));
    }

    /// Whether the socket must wait for the reader; updated here, since
    /// the reader may have caught up (or gone) since the last look.
    pub(crate) fn holds(&mut self) -> bool {
        if self.holding && (self.tx.is_closed() || !self.gauge.is_draining()) {
            self.holding = false;
        }
        self.holding
    }
}

impl BodyStream {
    /// The body's size, from its content header.
    pub fn body_size(&self) -> u64 {
        self.body_size
    }

    /// The next chunk of the body (one body frame's payload, as received:
    /// no copy); `None` after the last.
    pub async fn chunk(&mut self) -> Option<Result<Bytes>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The whole body, gathered (for a body known to be small after all).
    pub async fn collect(mut self) -> Result<Bytes> {
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(body.into())
    }

    /// [`BodyStream::chunk`] as a poll.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        if !self.current.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.current))));
        }
        if self.remaining == 0 || self.failed {
            return Poll::Ready(None);
        }
        let item = match ready!(self.rx.poll_recv(cx)) {
            Some(Ok(chunk)) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                if self.gauge.taken() {
                    // Back under the bound: the driver may read again.
                    self.shared.wake_driver.notify_one();
                }
                Ok(chunk)
            }
            Some(Err(e)) => {
                self.failed = true;
                Err(e)
            }
            // The driver always says why before it lets go of an
            // unfinished body; this is for a driver that ended abruptly.
            None => {
                self.failed = true;
                Err(self
                    .shared
                    .error
                    .get()
                    .cloned()
                    .unwrap_or(Error::ClientClosed))
            }
        };
        Poll::Ready(Some(item))
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        if self.remaining > 0 && !self.failed {
            // The driver may be waiting for this reader to take chunks.
            self.rx.close();
            self.shared.wake_driver.notify_one();
        }
    }
}

impl AsyncRead for BodyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.current.is_empty() {
            match ready!(this.poll_chunk(cx)) {
                Some(Ok(chunk)) => this.current = chunk,
                Some(Err(e)) => return Poll::Ready(Err(std::io::Error::other(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.current.len().min(buf.remaining());
        buf.put_slice(&this.current[..n]);
        this.current.advance(n);
        Poll::Ready(Ok(()))
    }
}
