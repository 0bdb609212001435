//! The queue class (50): declare, bind, unbind, purge, delete.

use amqp_wire::*;

use super::Channel;
use crate::error::{Error, Result};
use crate::options::*;

impl Channel {
    /// queue.declare (50/10): creates the queue (an empty name asks the
    /// broker for one) or, with `passive`, checks that it exists; returns
    /// declare-ok (50/11): its name and counts. `None` with `nowait`: no
    /// declare-ok comes, and a refusal closes the channel later.
    pub async fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
        arguments: FieldTable,
    ) -> Result<Option<QueueDeclareOk>> {
        let method = QueueDeclare {
            ticket: 0,
            queue: queue.into(),
            passive: options.passive,
            durable: options.durable,
            exclusive: options.exclusive,
            auto_delete: options.auto_delete,
            nowait: options.nowait,
            arguments,
        };
        match self.call(method.into()).await? {
            Some(Method::QueueDeclareOk(ok)) => Ok(Some(ok)),
            None if options.nowait => Ok(None),
            other => Err(Error::unexpected_reply(QueueDeclare::NAME, other)),
        }
    }

    /// queue.bind (50/20): routes messages from `exchange` with
    /// `routing_key` (and, for a headers exchange, `arguments`) to `queue`.
    /// With `nowait` this returns once the method is queued; a refusal (404
    /// for a missing exchange) then closes the channel and shows on the
    /// next call.
    pub async fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        options: QueueBindOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = QueueBind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            nowait: options.nowait,
            arguments,
        };
        match self.call(method.into()).await? {
            Some(Method::QueueBindOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(QueueBind::NAME, other)),
        }
    }

    /// queue.unbind (50/50): removes a binding; waits for unbind-ok (50/51).
    /// The spec gives it no `nowait`, hence no options.
    pub async fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = QueueUnbind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            arguments,
        };
        match self.call(method.into()).await? {
            Some(Method::QueueUnbindOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(QueueUnbind::NAME, other)),
        }
    }

    /// queue.purge (50/30): removes the queue's ready messages; returns how
    /// many, from purge-ok (50/31), or `None` with `nowait`.
    pub async fn queue_purge(
        &self,
        queue: &str,
        options: QueuePurgeOptions,
    ) -> Result<Option<u32>> {
        let method = QueuePurge {
            ticket: 0,
            queue: queue.into(),
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Some(Method::QueuePurgeOk(ok)) => Ok(Some(ok.message_count)),
            None if options.nowait => Ok(None),
            other => Err(Error::unexpected_reply(QueuePurge::NAME, other)),
        }
    }

    /// queue.delete (50/40); returns how many messages were deleted with
    /// it, from delete-ok (50/41), or `None` with `nowait`.
    pub async fn queue_delete(
        &self,
        queue: &str,
        options: QueueDeleteOptions,
    ) -> Result<Option<u32>> {
        let method = QueueDelete {
            ticket: 0,
            queue: queue.into(),
            if_unused: options.if_unused,
            if_empty: options.if_empty,
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Some(Method::QueueDeleteOk(ok)) => Ok(Some(ok.message_count)),
            None if options.nowait => Ok(None),
            other => Err(Error::unexpected_reply(QueueDelete::NAME, other)),
        }
    }
}
