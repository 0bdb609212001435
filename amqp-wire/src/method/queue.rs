//! Class `queue` (50): create, bind, purge and delete queues, which hold
//! messages until consumers take them.

use crate::field_table::FieldTable;
use crate::method::args::method;
use crate::strings::ShortString;

method! {
    /// `queue.declare` (50/10): creates a queue, or checks that it exists
    /// with the same flags and arguments (406 if not). An empty name asks
    /// the server to pick one.
    QueueDeclare = 50 / 10 "queue.declare" => QueueDeclareOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue name; empty for a server-named queue.
        queue: ShortString,
        /// Only check that it exists (404 if not).
        passive: bool,
        /// Survives a broker restart (its persistent messages too).
        durable: bool,
        /// Used only by this connection and deleted when it closes.
        exclusive: bool,
        /// Deleted when its last consumer cancels.
        auto_delete: bool,
        /// Do not send declare-ok.
        nowait: bool,
        /// E.g. `x-queue-type`, `x-message-ttl`, `x-dead-letter-exchange`.
        arguments: FieldTable,
    }
}

method! {
    /// `queue.declare-ok` (50/11): the queue's name and counts.
    QueueDeclareOk = 50 / 11 "queue.declare-ok" {
        /// The queue's name (the server's choice for a server-named queue).
        queue: ShortString,
        /// Messages ready for delivery.
        message_count: u32,
        /// Active consumers.
        consumer_count: u32,
    }
}

method! {
    /// `queue.bind` (50/20): routes messages from an exchange to the queue.
    QueueBind = 50 / 20 "queue.bind" => QueueBindOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue name.
        queue: ShortString,
        /// Exchange name.
        exchange: ShortString,
        /// Binding key.
        routing_key: ShortString,
        /// Do not send bind-ok.
        nowait: bool,
        /// Binding arguments (headers exchanges match on them).
        arguments: FieldTable,
    }
}

method! {
    /// `queue.bind-ok` (50/21): the binding exists.
    QueueBindOk = 50 / 21 "queue.bind-ok" {}
}

method! {
    /// `queue.purge` (50/30): removes all ready messages (not unacked ones).
    QueuePurge = 50 / 30 "queue.purge" => QueuePurgeOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue name.
        queue: ShortString,
        /// Do not send purge-ok.
        nowait: bool,
    }
}

method! {
    /// `queue.purge-ok` (50/31): how many messages were purged.
    QueuePurgeOk = 50 / 31 "queue.purge-ok" {
        /// Messages removed.
        message_count: u32,
    }
}

method! {
    /// `queue.delete` (50/40): deletes a queue and its messages.
    QueueDelete = 50 / 40 "queue.delete" => QueueDeleteOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue name.
        queue: ShortString,
        /// Only if it has no consumers (406 otherwise).
        if_unused: bool,
        /// Only if it has no messages (406 otherwise).
        if_empty: bool,
        /// Do not send delete-ok.
        nowait: bool,
    }
}

method! {
    /// `queue.delete-ok` (50/41): how many messages were deleted with it.
    QueueDeleteOk = 50 / 41 "queue.delete-ok" {
        /// Messages deleted.
        message_count: u32,
    }
}

method! {
    /// `queue.unbind` (50/50): removes a queue binding. It has no `nowait`.
    QueueUnbind = 50 / 50 "queue.unbind" => QueueUnbindOk {
        /// Deprecated; 0.
        ticket: u16,
        /// Queue name.
        queue: ShortString,
        /// Exchange name.
        exchange: ShortString,
        /// Binding key.
        routing_key: ShortString,
        /// Binding arguments.
        arguments: FieldTable,
    }
}

method! {
    /// `queue.unbind-ok` (50/51): the binding is gone.
    QueueUnbindOk = 50 / 51 "queue.unbind-ok" {}
}
