//! Class `basic` (60): publishing, consuming, acknowledging — the message
//! transfer itself. `publish`, `return`, `deliver` and `get-ok` are
//! followed by a content header and body frames.

use crate::field_table::FieldTable;
use crate::method::args::method;
use crate::strings::ShortString;

method! {
    /// `basic.qos` (60/10): limits how much the server sends before acks
    /// (prefetch). RabbitMQ ignores prefetch_size and reads `global` as
    /// "per channel" rather than "per consumer".
    BasicQos = 60 / 10 "basic.qos" => BasicQosOk {
        /// Octet window; 0 for none (RabbitMQ supports only 0).
        prefetch_size: u32,
        /// Unacked deliveries allowed; 0 for unlimited.
        prefetch_count: u16,
        /// Apply to the whole channel rather than each new consumer.
        global: bool,
    }
}

method! {
    /// `basic.qos-ok` (60/11): the limit is in force.
    BasicQosOk = 60 / 11 "basic.qos-ok" {}
}

method! {
    /// `basic.consume` (60/20): starts a consumer; deliveries arrive as
    /// `basic.deliver` with its consumer tag.
    BasicConsume = 60 / 20 "basic.consume" => BasicConsumeOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue to consume from.
        queue: ShortString,
        /// Consumer tag; empty asks the server for one.
        consumer_tag: ShortString,
        /// Not supported by RabbitMQ.
        no_local: bool,
        /// Deliveries count as acked when sent (no basic.ack needed).
        no_ack: bool,
        /// The only consumer of the queue (403/405 otherwise).
        exclusive: bool,
        /// Do not send consume-ok.
        nowait: bool,
        /// E.g. `x-priority`, `x-stream-offset`.
        arguments: FieldTable,
    }
}

method! {
    /// `basic.consume-ok` (60/21): the consumer runs, under this tag.
    BasicConsumeOk = 60 / 21 "basic.consume-ok" {
        /// The consumer tag (the server's choice if none was given).
        consumer_tag: ShortString,
    }
}

method! {
    /// `basic.cancel` (60/30): ends a consumer. RabbitMQ also sends it to
    /// the client when the queue is deleted (consumer_cancel_notify).
    BasicCancel = 60 / 30 "basic.cancel" => BasicCancelOk unless nowait {
        /// Consumer tag.
        consumer_tag: ShortString,
        /// Do not send cancel-ok.
        nowait: bool,
    }
}

method! {
    /// `basic.cancel-ok` (60/31): the consumer is gone.
    BasicCancelOk = 60 / 31 "basic.cancel-ok" {
        /// Consumer tag.
        consumer_tag: ShortString,
    }
}

method! {
    /// `basic.publish` (60/40): publishes a message (content follows) to an
    /// exchange with a routing key. Asynchronous: no reply, unless confirms
    /// are on (basic.ack/nack) or it is returned (basic.return).
    BasicPublish = 60 / 40 "basic.publish" {
        /// Deprecated; 0.
        ticket: u16,
        /// Exchange; empty for the default exchange (routes by queue name).
        exchange: ShortString,
        /// Routing key.
        routing_key: ShortString,
        /// Return the message (basic.return) if no queue takes it.
        mandatory: bool,
        /// Not supported by RabbitMQ (it closes the connection with 540).
        immediate: bool,
    }
}

method! {
    /// `basic.return` (60/50): a mandatory message that could not be routed
    /// comes back (content follows).
    BasicReturn = 60 / 50 "basic.return" {
        /// Why, e.g. 312 NO_ROUTE.
        reply_code: u16,
        /// Human-readable reason.
        reply_text: ShortString,
        /// Exchange it was published to.
        exchange: ShortString,
        /// Routing key it was published with.
        routing_key: ShortString,
    }
}

method! {
    /// `basic.deliver` (60/60): a message for a consumer (content follows).
    BasicDeliver = 60 / 60 "basic.deliver" {
        /// The consumer it is for.
        consumer_tag: ShortString,
        /// Channel-scoped number to ack, nack or reject it by.
        delivery_tag: u64,
        /// Delivered before and not acked (e.g. its consumer died).
        redelivered: bool,
        /// Exchange it was published to.
        exchange: ShortString,
        /// Routing key it was published with.
        routing_key: ShortString,
    }
}

method! {
    /// `basic.get` (60/70): fetches one message synchronously (polling).
    /// Answered by get-ok (60/71), or by get-empty (60/72) when the queue
    /// has nothing ready.
    BasicGet = 60 / 70 "basic.get" => BasicGetOk | BasicGetEmpty {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue name.
        queue: ShortString,
        /// Count the message as acked when sent.
        no_ack: bool,
    }
}

method! {
    /// `basic.get-ok` (60/71): the fetched message (content follows).
    BasicGetOk = 60 / 71 "basic.get-ok" {
        /// Number to ack it by.
        delivery_tag: u64,
        /// Delivered before.
        redelivered: bool,
        /// Exchange it was published to.
        exchange: ShortString,
        /// Routing key it was published with.
        routing_key: ShortString,
        /// Messages still ready in the queue.
        message_count: u32,
    }
}

method! {
    /// `basic.get-empty` (60/72): the queue had nothing to get.
    BasicGetEmpty = 60 / 72 "basic.get-empty" {
        /// Deprecated; empty.
        cluster_id: ShortString,
    }
}

method! {
    /// `basic.ack` (60/80): the client acknowledges a delivery, or the
    /// server confirms a publish (publisher confirms).
    BasicAck = 60 / 80 "basic.ack" {
        /// Delivery tag, or publish sequence number for confirms.
        delivery_tag: u64,
        /// Also everything up to and including this tag.
        multiple: bool,
    }
}

method! {
    /// `basic.reject` (60/90): refuses one delivery, requeueing or dropping
    /// (dead-lettering) it.
    BasicReject = 60 / 90 "basic.reject" {
        /// Delivery tag.
        delivery_tag: u64,
        /// Put it back in the queue rather than drop it.
        requeue: bool,
    }
}

method! {
    /// `basic.recover-async` (60/100): deprecated asynchronous form of
    /// basic.recover.
    BasicRecoverAsync = 60 / 100 "basic.recover-async" {
        /// Requeue (true) rather than redeliver to the same consumer.
        requeue: bool,
    }
}

method! {
    /// `basic.recover` (60/110): asks the server to redeliver all unacked
    /// messages of the channel.
    BasicRecover = 60 / 110 "basic.recover" => BasicRecoverOk {
        /// Requeue (true) rather than redeliver to the same consumer.
        requeue: bool,
    }
}

method! {
    /// `basic.recover-ok` (60/111): recovery done.
    BasicRecoverOk = 60 / 111 "basic.recover-ok" {}
}

method! {
    /// `basic.nack` (60/120, RabbitMQ extension): negative ack of one or
    /// many deliveries by the client, or a failed publish confirm by the
    /// server.
    BasicNack = 60 / 120 "basic.nack" {
        /// Delivery tag, or publish sequence number for confirms.
        delivery_tag: u64,
        /// Also everything up to and including this tag.
        multiple: bool,
        /// Put them back in the queue rather than drop them.
        requeue: bool,
    }
}
