//! The public channel handle: one method per AMQP method a client sends,
//! named as in the spec (`queue_declare`, `basic_publish`, ...), one file
//! per AMQP class. A method's bit arguments (`nowait` included) are in an
//! options struct named after it, all false by default; a method sent with
//! `nowait` gets no reply, which its return type says (`None`, or `()`).

mod basic;
mod confirm;
mod exchange;
mod queue;
mod stream;
mod tx;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use amqp_wire::*;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::body_stream::BodyStream;
use crate::connection::Connection;
use crate::consumer::{Delivery, Returned};
use crate::driver::{ChannelRoute, Command, ConsumerMsg};
use crate::error::{Error, Result};
use crate::proto::{ChannelRef, Content, Reply, Settle};

pub use confirm::PublishConfirm;

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
    /// Held by a streamed publish for as long as it sends its body.
    streaming: Mutex<()>,
    /// Numbers the channel's streamed publishes.
    next_stream: AtomicU64,
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
                streaming: Mutex::new(()),
                next_stream: AtomicU64::new(1),
            }),
        }
    }

    /// The channel number.
    pub fn id(&self) -> u16 {
        self.inner.channel.id
    }

    pub(crate) fn channel_ref(&self) -> ChannelRef {
        self.inner.channel
    }

    /// The connection this channel is on.
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// Why the channel closed, once it has.
    pub fn error(&self) -> Option<Error> {
        self.inner.route.closed.get().cloned()
    }

    /// Sends a method and waits for its reply: `Some(reply)` for a
    /// synchronous method, `None` for one that gets none (sent with
    /// `nowait`), once it is queued.
    async fn call(&self, method: Method) -> Result<Option<Method>> {
        match self.request(method).await? {
            Reply::Method(m) => Ok(Some(m)),
            Reply::Done => Ok(None),
            other => Err(Error::internal(format!("{other:?} for a method call"))),
        }
    }

    /// Sends a method and waits for the core's answer to it.
    async fn request(&self, method: Method) -> Result<Reply> {
        let channel = self.inner.channel;
        self.inner
            .connection
            .request(|reply| Command::Call {
                channel,
                method: Box::new(method),
                reply: Some(reply),
            })
            .await
    }

    /// Sends a method that has no reply (basic.recover-async).
    async fn cast(&self, method: Method) -> Result<()> {
        // The driver drops a reply-less method for a closed channel without a
        // word: say so here, or a method that was never sent would look done.
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
        // A tag of a lost connection: the broker has redelivered (or will
        // redeliver) that message; acking it on this connection would
        // close the channel (406 unknown delivery tag). Tag 0 with
        // `multiple` means every outstanding delivery: the new ones.
        let all = delivery_tag == 0 && settle.multiple();
        if !all && delivery_tag <= self.inner.route.stale_up_to.load(Ordering::Acquire) {
            return Err(Error::StaleDeliveryTag { delivery_tag });
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

    // ===== channel (class 20) =====

    /// channel.flow (20/20): asks the broker to pause (`active` false) or
    /// resume deliveries on this channel; returns once flow-ok (20/21)
    /// came. `active` is the request itself, so it is no option.
    pub async fn channel_flow(&self, active: bool) -> Result<()> {
        match self.call(ChannelFlow { active }.into()).await? {
            Some(Method::ChannelFlowOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(ChannelFlow::NAME, other)),
        }
    }

    /// channel.close (20/40): closes the channel and waits for close-ok
    /// (20/41). Its consumers end; later calls fail with
    /// [`Error::ChannelClosedByClient`].
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

    /// Whether the broker lets this channel publish: false after it sent
    /// channel.flow (20/20) with `active` false, until it sends one with
    /// `active` true. [`Channel::basic_publish`] waits while it is false.
    pub fn flow_active(&self) -> bool {
        *self.inner.route.flow.borrow()
    }

    // ===== access (class 30) =====

    /// access.request (30/10): asks for an access ticket; returns the ticket
    /// from access.request-ok (30/11). Deprecated: RabbitMQ grants every
    /// request and ignores tickets, which this client always sends as 0.
    pub async fn access_request(
        &self,
        realm: &str,
        options: crate::AccessRequestOptions,
    ) -> Result<u16> {
        let method = AccessRequest {
            realm: realm.into(),
            exclusive: options.exclusive,
            passive: options.passive,
            active: options.active,
            write: options.write,
            read: options.read,
        };
        match self.call(method.into()).await? {
            Some(Method::AccessRequestOk(ok)) => Ok(ok.ticket),
            other => Err(Error::unexpected_reply(AccessRequest::NAME, other)),
        }
    }

    // ===== returned messages (basic.return, 60/50) =====

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
}

impl ConsumerMsg {
    /// The delivery, and its body stream if it is a streamed one.
    pub(crate) fn into_delivery(
        self,
        channel: &Channel,
    ) -> Option<Result<(Delivery, Option<BodyStream>)>> {
        match self {
            Self::Delivery(content) => {
                Delivery::from_content(content, channel.clone()).map(|d| Ok((d, None)))
            }
            Self::Streamed(content, body) => {
                Delivery::from_content(content, channel.clone()).map(|d| Ok((d, Some(body))))
            }
            Self::End(None) => None,
            Self::End(Some(e)) => Some(Err(e)),
        }
    }
}
