//! Connection recovery as the tutorial's programs see it. amqp-client recovers a lost
//! connection by itself (on by default): it reconnects, restores the channels, the queue, the
//! prefetch, confirm mode and the consumer, behind the same `Connection`, `Channel` and
//! `Consumer` values. An application only watches ([`watch_events`]) and handles the two
//! outcomes that are its business: an ack of a delivery from before the loss is stale (the
//! broker redelivers that task), and a publish whose confirm was lost is in doubt (publish it
//! again).

use std::time::Duration;

use amqp_client::{Connection, ConnectionEvent, Recovery};
use tokio::sync::broadcast::error::RecvError;

use crate::output::{Color, Style};

/// The bound on the wait between two reconnection attempts in the demo (the client's default
/// is 30 s). A private node is back about 6-8 s after a restart; with a 30 s bound the demo
/// could sit idle for half a minute after that. An application with many clients keeps a large
/// bound, so that their attempts spread out instead of all hitting a node that comes back.
pub const DEMO_MAX_DELAY: Duration = Duration::from_secs(2);

/// The recovery settings of the demo's connections: the client's defaults, with attempts at
/// most [`DEMO_MAX_DELAY`] apart.
pub fn demo_recovery() -> Recovery {
    Recovery::enabled().with_max_delay(DEMO_MAX_DELAY)
}

/// What [`watch_events`] hands on.
#[derive(Debug, Clone)]
pub enum Watched {
    /// One recovery event.
    Event(ConnectionEvent),
    /// The watcher fell behind and this many events were dropped (the client keeps 1024).
    Missed(u64),
}

/// Calls `on_event` with each of `connection`'s recovery events as it happens, from a task of
/// its own, until the returned guard is dropped.
pub fn watch_events(
    connection: &Connection,
    mut on_event: impl FnMut(Watched) + Send + 'static,
) -> AbortOnDrop {
    let mut events = connection.events();
    AbortOnDrop(tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => on_event(Watched::Event(event)),
                Err(RecvError::Lagged(missed)) => on_event(Watched::Missed(missed)),
                // Every handle on the connection is gone.
                Err(RecvError::Closed) => return,
            }
        }
    }))
}

/// The colour an event is shown in: red for a loss or what could not be restored, yellow for
/// steps on the way, green for what is back.
pub fn colour(event: &ConnectionEvent) -> Color {
    match event {
        ConnectionEvent::Disconnected { .. }
        | ConnectionEvent::GaveUp { .. }
        | ConnectionEvent::TopologyFailed { .. }
        | ConnectionEvent::ConsumerFailed { .. } => Color::Red,
        ConnectionEvent::Recovered { .. } | ConnectionEvent::ConsumerRestored { .. } => {
            Color::Green
        }
        _ => Color::Yellow,
    }
}

/// One line for a [`Watched`]: the event as the client words it.
pub fn describe(watched: &Watched) -> String {
    match watched {
        Watched::Event(event) => event.to_string(),
        Watched::Missed(n) => format!("missed {n} recovery events (the watcher fell behind)"),
    }
}

/// [`describe`], in the event's [`colour`].
pub fn painted(style: Style, watched: &Watched) -> String {
    let colour = match watched {
        Watched::Event(event) => colour(event),
        Watched::Missed(_) => Color::Yellow,
    };
    style.paint(colour, describe(watched))
}

/// Aborts a task when dropped: helper tasks end with what they watch.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
