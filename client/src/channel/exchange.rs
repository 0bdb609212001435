//! The exchange class (40): declare, delete, and RabbitMQ's exchange-to-
//! exchange bind and unbind.

use amqp_wire::*;

use super::Channel;
use crate::error::{Error, Result};
use crate::options::*;

impl Channel {
    /// exchange.declare (40/10) with a type such as `direct`, `fanout`,
    /// `topic`, `headers`; waits for declare-ok (40/11) unless `nowait`.
    pub async fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = ExchangeDeclare {
            ticket: 0,
            exchange: exchange.into(),
            r#type: kind.into(),
            passive: options.passive,
            durable: options.durable,
            auto_delete: options.auto_delete,
            internal: options.internal,
            nowait: options.nowait,
            arguments,
        };
        match self.call(method.into()).await? {
            Some(Method::ExchangeDeclareOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(ExchangeDeclare::NAME, other)),
        }
    }

    /// exchange.delete (40/20); waits for delete-ok (40/21) unless
    /// `nowait`. RabbitMQ refuses `if_unused` with 406 PRECONDITION_FAILED
    /// while anything is bound to the exchange as a source.
    pub async fn exchange_delete(
        &self,
        exchange: &str,
        options: ExchangeDeleteOptions,
    ) -> Result<()> {
        let method = ExchangeDelete {
            ticket: 0,
            exchange: exchange.into(),
            if_unused: options.if_unused,
            nowait: options.nowait,
        };
        match self.call(method.into()).await? {
            Some(Method::ExchangeDeleteOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(ExchangeDelete::NAME, other)),
        }
    }

    /// exchange.bind (40/30, a RabbitMQ extension): routes from `source` to
    /// the `destination` exchange; waits for bind-ok (40/31) unless `nowait`.
    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        options: ExchangeBindOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = ExchangeBind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: options.nowait,
            arguments,
        };
        match self.call(method.into()).await? {
            Some(Method::ExchangeBindOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(ExchangeBind::NAME, other)),
        }
    }

    /// exchange.unbind (40/40, a RabbitMQ extension; its unbind-ok is 40/51,
    /// not 41); waits for it unless `nowait`.
    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        options: ExchangeUnbindOptions,
        arguments: FieldTable,
    ) -> Result<()> {
        let method = ExchangeUnbind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: options.nowait,
            arguments,
        };
        match self.call(method.into()).await? {
            Some(Method::ExchangeUnbindOk(_)) => Ok(()),
            None if options.nowait => Ok(()),
            other => Err(Error::unexpected_reply(ExchangeUnbind::NAME, other)),
        }
    }
}
