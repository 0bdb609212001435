//! FaultProxy: an AMQP-aware TCP proxy for fault injection (being built).
