//! Class `exchange` (40): create, delete and bind exchanges, the routers
//! that take published messages and pass them to queues or other exchanges.

use crate::field_table::FieldTable;
use crate::method::args::method;
use crate::strings::ShortString;

method! {
    /// `exchange.declare` (40/10): creates an exchange, or checks it exists
    /// with the same type and flags (406 if not).
    ExchangeDeclare = 40 / 10 "exchange.declare" => ExchangeDeclareOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Exchange name.
        exchange: ShortString,
        /// `direct`, `fanout`, `topic`, `headers`, or a plugin's type.
        r#type: ShortString,
        /// Only check that it exists (404 if not).
        passive: bool,
        /// Survives a broker restart.
        durable: bool,
        /// Deleted when its last binding goes.
        auto_delete: bool,
        /// Cannot be published to directly, only via exchange bindings.
        internal: bool,
        /// Do not send declare-ok.
        nowait: bool,
        /// E.g. `alternate-exchange`.
        arguments: FieldTable,
    }
}

method! {
    /// `exchange.declare-ok` (40/11): the exchange exists.
    ExchangeDeclareOk = 40 / 11 "exchange.declare-ok" {}
}

method! {
    /// `exchange.delete` (40/20): deletes an exchange and its bindings.
    ExchangeDelete = 40 / 20 "exchange.delete" => ExchangeDeleteOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Exchange name.
        exchange: ShortString,
        /// Only if it has no bindings (406 otherwise).
        if_unused: bool,
        /// Do not send delete-ok.
        nowait: bool,
    }
}

method! {
    /// `exchange.delete-ok` (40/21): the exchange is gone.
    ExchangeDeleteOk = 40 / 21 "exchange.delete-ok" {}
}

method! {
    /// `exchange.bind` (40/30, RabbitMQ extension): routes messages from
    /// `source` to the `destination` exchange.
    ExchangeBind = 40 / 30 "exchange.bind" => ExchangeBindOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Exchange that receives the routed messages.
        destination: ShortString,
        /// Exchange the messages are published to.
        source: ShortString,
        /// Binding key.
        routing_key: ShortString,
        /// Do not send bind-ok.
        nowait: bool,
        /// Binding arguments (headers exchanges match on them).
        arguments: FieldTable,
    }
}

method! {
    /// `exchange.bind-ok` (40/31): the binding exists.
    ExchangeBindOk = 40 / 31 "exchange.bind-ok" {}
}

method! {
    /// `exchange.unbind` (40/40, RabbitMQ extension): removes an
    /// exchange-to-exchange binding.
    ExchangeUnbind = 40 / 40 "exchange.unbind" => ExchangeUnbindOk unless nowait {
        /// Deprecated; 0.
        ticket: u16,
        /// Destination exchange of the binding.
        destination: ShortString,
        /// Source exchange of the binding.
        source: ShortString,
        /// Binding key.
        routing_key: ShortString,
        /// Do not send unbind-ok.
        nowait: bool,
        /// Binding arguments.
        arguments: FieldTable,
    }
}

method! {
    /// `exchange.unbind-ok` (40/51): the binding is gone. Its method id is
    /// 51, not 41: a quirk of RabbitMQ's definition that every client keeps.
    ExchangeUnbindOk = 40 / 51 "exchange.unbind-ok" {}
}
