//! Message bodies streamed both ways, for messages larger than the memory
//! a client should hold: a consumer takes each body chunk by chunk as its
//! frames arrive, a publisher sends a body from an [`AsyncRead`] of known
//! length without holding it whole. (Spec 4.2.6: a body is any number of
//! body frames; nothing in the protocol asks for it to be held at once.)

use std::sync::atomic::{AtomicU64, Ordering};

use amqp_wire::{BasicProperties, FieldTable};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::oneshot;

use super::{Channel, PublishConfirm};
use crate::consumer::StreamedConsumer;
use crate::driver::Command;
use crate::error::{Error, Result};
use crate::options::{BasicConsumeOptions, BasicPublishOptions};
use crate::proto::Reply;

/// How much of a streamed publish's body is read from its source at a
/// time: one body frame at RabbitMQ's default frame_max (131072 - 8).
const PUBLISH_CHUNK: usize = 128 * 1024 - 8;

/// Tags of streamed consumers started without one: the core must know a
/// streamed consumer's tag before its basic.consume goes out.
static NEXT_STREAMED_TAG: AtomicU64 = AtomicU64::new(1);

impl Channel {
    /// basic.consume (60/20) whose deliveries' bodies are streams: each
    /// delivery comes out of [`StreamedConsumer::next`] as soon as its
    /// content header arrives, and its body follows through
    /// [`crate::StreamedDelivery::body`] one body frame at a time, with
    /// no copy and no limit on its size
    /// ([`crate::ConnectionConfig::with_max_message_size`] does not apply:
    /// nothing is sized from the broker's body_size).
    ///
    /// The connection reads the socket no faster than the body is taken
    /// (at most [`crate::BodyStream`]'s 8 chunks wait unread), so a
    /// 256 MiB message passes through a few MiB of memory; it holds back
    /// every channel of the connection meanwhile, so give large streamed
    /// messages a connection of their own where latency elsewhere matters.
    ///
    /// An empty `consumer_tag` gets one chosen by the client
    /// (`amqp-client.stream.N`), not the broker.
    pub async fn basic_consume_streamed(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: BasicConsumeOptions,
        arguments: FieldTable,
    ) -> Result<StreamedConsumer> {
        let tag = match consumer_tag {
            "" => format!(
                "amqp-client.stream.{}",
                NEXT_STREAMED_TAG.fetch_add(1, Ordering::Relaxed)
            ),
            tag => tag.to_owned(),
        };
        let consumer = self.consume(queue, &tag, options, arguments, true).await?;
        Ok(StreamedConsumer::new(consumer))
    }

    /// basic.publish (60/40) of a message whose body, `body_size` octets,
    /// is read from `body` as it is sent, in body frames, never held whole:
    /// at most two chunks of 128 KiB and the connection's 1 MiB write queue
    /// are in memory at once, whatever the size.
    ///
    /// Returns once the last body frame is queued, with the same
    /// [`PublishConfirm`] as [`Channel::basic_publish`] (but a streamed
    /// publish is never re-published after a recovery: its body is gone).
    /// Other publishes on the channel wait meanwhile (a content's frames
    /// cannot be interleaved with anything else on its channel), as does
    /// another streamed publish.
    ///
    /// If `body` fails or ends before `body_size` octets, the message
    /// cannot be withdrawn (its header is out, and the broker accepts
    /// nothing else on the channel before its body): the connection is
    /// dropped, so the broker discards it, and recovered if recovery is
    /// on. The same happens if this future is dropped before it returns.
    /// The error returned is the source's.
    pub async fn basic_publish_streamed<R: AsyncRead + Unpin>(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        properties: BasicProperties,
        body_size: u64,
        mut body: R,
    ) -> Result<PublishConfirm> {
        // One streamed publish per channel at a time: the core follows one.
        let _turn = self.inner.streaming.lock().await;
        let message = self
            .outgoing(exchange, routing_key, options, properties, Bytes::new())
            .await?;
        let channel = self.inner.channel;
        let stream = self.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        let (reply, mut done) = oneshot::channel();
        let confirm = self
            .send_publish(|ticket| Command::PublishStart {
                channel,
                message,
                body_size,
                stream,
                ticket,
                reply,
            })
            .await?;
        let connection = &self.inner.connection;
        let mut abandon = Abandon {
            channel: self,
            stream,
            armed: true,
        };
        let mut remaining = body_size;
        let mut taken: Option<oneshot::Receiver<Result<Reply>>> = None;
        let mut finished = None;
        while remaining > 0 {
            let want = remaining.min(PUBLISH_CHUNK as u64) as usize;
            let chunk = read_chunk(&mut body, want).await.map_err(|e| {
                Error::io(std::io::Error::new(
                    e.kind(),
                    format!(
                        "the body source failed after {} of {body_size} octets: {e}",
                        body_size - remaining
                    ),
                ))
            })?;
            remaining -= want as u64;
            let (tx, rx) = oneshot::channel();
            let command = Command::PublishChunk {
                channel,
                stream,
                chunk,
                taken: tx,
            };
            connection
                .commands
                .send(command)
                .await
                .map_err(|_| connection.gone())?;
            // Two chunks in flight: one being read while one is queued.
            if let Some(previous) = taken.replace(rx) {
                previous.await.map_err(|_| connection.gone())??;
            }
            // Failed under us (the channel or connection ended)?
            if finished.is_none() {
                finished = done.try_recv().ok();
            }
            if let Some(Err(e)) = finished {
                return Err(e);
            }
        }
        if let Some(previous) = taken {
            previous.await.map_err(|_| connection.gone())??;
        }
        match finished {
            Some(result) => result?,
            None => done.await.map_err(|_| connection.gone())??,
        };
        abandon.armed = false;
        Ok(confirm)
    }
}

/// Reads exactly `want` octets (an early EOF is an error).
async fn read_chunk<R: AsyncRead + Unpin>(body: &mut R, want: usize) -> std::io::Result<Bytes> {
    let mut chunk = BytesMut::with_capacity(want);
    while chunk.len() < want {
        let limit = (want - chunk.len()) as u64;
        if (&mut *body).take(limit).read_buf(&mut chunk).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(chunk.freeze())
}

/// Tells the driver that a streamed publish stopped before its end, unless
/// disarmed: the connection must then be dropped.
struct Abandon<'a> {
    channel: &'a Channel,
    stream: u64,
    armed: bool,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if self.armed {
            let shared = &self.channel.inner.connection.shared;
            shared.stream_abandoned(self.channel.inner.channel, self.stream);
        }
    }
}
