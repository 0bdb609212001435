//! The bit arguments of methods, grouped per method with `Default` all
//! false, as the spec names them.

macro_rules! options {
    ($($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident),* $(,)? })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fdoc])* pub $field: bool, )*
        }
    )*};
}

options! {
    /// queue.declare's flags.
    QueueDeclareOptions {
        /// Only check that the queue exists (404 if not).
        passive,
        /// Survive a broker restart.
        durable,
        /// Only this connection may use it; deleted when it closes.
        exclusive,
        /// Deleted when its last consumer goes.
        auto_delete,
        /// Don't wait for declare-ok: `queue_declare` then returns `None`.
        nowait,
    }
    /// queue.delete's flags.
    QueueDeleteOptions {
        /// Only if it has no consumers.
        if_unused,
        /// Only if it has no messages.
        if_empty,
        /// Don't wait for delete-ok: `queue_delete` then returns `None`.
        nowait,
    }
    /// exchange.declare's flags.
    ExchangeDeclareOptions {
        /// Only check that the exchange exists.
        passive,
        /// Survive a broker restart.
        durable,
        /// Deleted when its last binding goes.
        auto_delete,
        /// Only reachable through exchange-to-exchange bindings.
        internal,
        /// Don't wait for declare-ok.
        nowait,
    }
    /// basic.consume's flags.
    BasicConsumeOptions {
        /// Not supported by RabbitMQ.
        no_local,
        /// Deliveries need no ack.
        no_ack,
        /// Be the queue's only consumer.
        exclusive,
        /// Don't wait for consume-ok (a consumer tag must then be given).
        nowait,
    }
    /// basic.publish's flags.
    BasicPublishOptions {
        /// Return the message (basic.return) if no queue takes it.
        mandatory,
        /// Not supported by RabbitMQ 3 (it closes the connection).
        immediate,
    }
    /// queue.bind's flag (class 50, method 20).
    QueueBindOptions {
        /// Don't wait for bind-ok: a refusal then closes the channel later.
        nowait,
    }
    /// queue.purge's flag (class 50, method 30).
    QueuePurgeOptions {
        /// Don't wait for purge-ok: `queue_purge` then returns `None`.
        nowait,
    }
    /// exchange.delete's flags (class 40, method 20).
    ExchangeDeleteOptions {
        /// Only if no queue or exchange is bound to it (RabbitMQ: 406 if one is).
        if_unused,
        /// Don't wait for delete-ok.
        nowait,
    }
    /// exchange.bind's flag (class 40, method 30).
    ExchangeBindOptions {
        /// Don't wait for bind-ok.
        nowait,
    }
    /// exchange.unbind's flag (class 40, method 40).
    ExchangeUnbindOptions {
        /// Don't wait for unbind-ok.
        nowait,
    }
    /// basic.get's flag (class 60, method 70).
    BasicGetOptions {
        /// The message needs no ack: it is gone from the queue once sent.
        no_ack,
    }
    /// basic.ack's flag (class 60, method 80).
    BasicAckOptions {
        /// Also every earlier unacked delivery of the channel.
        multiple,
    }
    /// basic.nack's flags (class 60, method 120, a RabbitMQ extension).
    BasicNackOptions {
        /// Also every earlier unacked delivery of the channel.
        multiple,
        /// Put them back in the queue (else drop or dead-letter them).
        requeue,
    }
    /// basic.reject's flag (class 60, method 90).
    BasicRejectOptions {
        /// Put it back in the queue (else drop or dead-letter it).
        requeue,
    }
    /// basic.recover's and basic.recover-async's flag (class 60, methods 110 and 100).
    BasicRecoverOptions {
        /// Requeue the unacked messages (the only way RabbitMQ recovers).
        requeue,
    }
    /// confirm.select's flag (class 85, method 10).
    ConfirmSelectOptions {
        /// Don't wait for select-ok.
        nowait,
    }
    /// basic.cancel's flag (class 60, method 30).
    BasicCancelOptions {
        /// Don't wait for cancel-ok: the consumer ends as soon as the cancel
        /// is sent, and deliveries the broker sent before it saw the cancel
        /// are not handed out (they stay unacked until the channel closes).
        nowait,
    }
    /// access.request's flags (class 30, method 10). Deprecated: RabbitMQ
    /// grants every request (it ignores tickets) and the flags do nothing.
    AccessRequestOptions {
        /// Ask for exclusive access to the realm.
        exclusive,
        /// Ask for passive access (checking objects exist).
        passive,
        /// Ask for active access (consuming, publishing).
        active,
        /// Ask for write access.
        write,
        /// Ask for read access.
        read,
    }
}

impl QueueDeclareOptions {
    /// `durable` set: the queue of the work-queue tutorial.
    pub fn durable() -> Self {
        Self {
            durable: true,
            ..Self::default()
        }
    }
}

/// basic.qos's arguments besides `prefetch_count` (class 60, method 10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BasicQosOptions {
    /// A limit in octets of unacked deliveries; 0 for none. RabbitMQ
    /// implements no such limit: it answers anything else by closing the
    /// connection with 540 NOT_IMPLEMENTED.
    pub prefetch_size: u32,
    /// Apply the limit to the channel as a whole rather than per consumer
    /// (RabbitMQ's reading of the bit).
    pub global: bool,
}

impl BasicNackOptions {
    /// `requeue` set: the delivery goes back to the queue.
    pub fn requeue() -> Self {
        Self {
            requeue: true,
            ..Self::default()
        }
    }
}

impl BasicRejectOptions {
    /// `requeue` set: the delivery goes back to the queue.
    pub fn requeue() -> Self {
        Self { requeue: true }
    }
}
