//! The protocol logic, free of I/O: what to send, what state we are in.
//! Nothing here touches a socket, a clock or tokio; the driver feeds it
//! decoded frames, commands and the time, and writes out what it queues.

mod channel;
mod connection;
mod negotiate;
mod out;
mod settle;
mod unacked;

pub(crate) use channel::{Content, Outgoing};
pub(crate) use connection::{abandoned_stream, ChannelRef, Core, Event, Reply, StreamStart};
pub use negotiate::Tuning;
pub(crate) use out::OutQueue;
pub(crate) use settle::Settle;

#[cfg(test)]
mod tests;
