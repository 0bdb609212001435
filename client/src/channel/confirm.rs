//! The confirm class (85, a RabbitMQ extension): publisher confirms, and
//! what waits for them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use amqp_wire::*;

use super::Channel;
use crate::driver::ChannelRoute;
use crate::error::{Error, Result};
use crate::options::ConfirmSelectOptions;

/// Waits for the broker's confirm of one publish (see [`Channel::confirm_select`]).
///
/// Two words: the channel's record of confirms and this publish's place in
/// it, so a hundred thousand unconfirmed publishes cost little memory.
#[must_use = "a confirm means nothing until awaited; drop it if you don't need it"]
pub struct PublishConfirm {
    /// `None` outside confirm mode (nothing to wait for), or once read.
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
    /// A publish outside confirm mode: nothing to wait for.
    pub(super) fn none() -> Self {
        Self { pending: None }
    }

    /// A publish with `ticket` in the channel's book.
    pub(super) fn pending(route: Arc<ChannelRoute>, ticket: u64) -> Self {
        Self {
            pending: Some((route, ticket)),
        }
    }

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
    /// confirm.select (85/10): from now on the broker acks or nacks every
    /// publish, and [`PublishConfirm::wait`] tells which; waits for
    /// select-ok (85/11) unless `nowait`. With
    /// [`crate::ConnectionConfig::with_max_in_flight`], at most that many
    /// publishes are unconfirmed at once ([`Channel::unconfirmed`]).
    pub async fn confirm_select(&self, options: ConfirmSelectOptions) -> Result<()> {
        self.inner.confirms.store(true, Ordering::Release);
        let method = ConfirmSelect {
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Some(Method::ConfirmSelectOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(ConfirmSelect::NAME, other)),
        }
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
    pub(super) async fn take_window_slot(&self) -> Result<()> {
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
