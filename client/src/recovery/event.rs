//! What recovery tells the application ([`crate::Connection::events`]).

use std::time::Duration;

use crate::error::Error;

use super::Endpoint;

/// A step of a connection's life past its first handshake: lost,
/// recovering, recovered, and what recovery could not restore. Shown
/// with `Display` in one line (no secrets: errors carry none).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection was lost without the application asking; recovery
    /// starts (or, with recovery disabled or for this `error`, does not:
    /// [`ConnectionEvent::GaveUp`] follows).
    Disconnected {
        /// Why: an I/O error, missed heartbeats, the broker's close.
        error: Error,
    },
    /// An attempt to reconnect starts after `delay`.
    Recovering {
        /// 1 for the first attempt.
        attempt: u32,
        /// Where it will connect.
        endpoint: Endpoint,
        /// The (jittered) wait before it.
        delay: Duration,
    },
    /// An attempt failed; another follows unless the limit is reached.
    AttemptFailed {
        /// Which attempt.
        attempt: u32,
        /// Where it tried.
        endpoint: Endpoint,
        /// Why it failed.
        error: Error,
    },
    /// Connected again, channels and everything recorded restored (what
    /// failed was reported before this, one event each).
    Recovered {
        /// Where it is connected now.
        endpoint: Endpoint,
        /// From the loss to now.
        took: Duration,
        /// How many attempts it took.
        attempts: u32,
    },
    /// Recovery stopped: every handle now ends with `error`.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error, or why recovery could not start
        /// (refused credentials 403, unknown vhost 530, recovery disabled).
        error: Error,
    },
    /// A server-named queue was declared again and got a new name, now
    /// used by its bindings and consumers.
    QueueRenamed {
        /// Its name on the lost connection.
        old: String,
        /// Its name now.
        new: String,
    },
    /// An exchange, queue, binding, qos or confirm mode could not be
    /// restored; the rest was.
    TopologyFailed {
        /// What, e.g. `queue.declare "tasks"`.
        entity: String,
        /// The broker's answer.
        error: Error,
    },
    /// A consumer consumes again, with its tag and arguments.
    ConsumerRestored {
        /// Its channel.
        channel: u16,
        /// Its tag (unchanged).
        consumer_tag: String,
        /// The queue (the new name if it was renamed).
        queue: String,
    },
    /// A consumer could not be restored; its `Consumer::next` gives `error`.
    ConsumerFailed {
        /// Its channel.
        channel: u16,
        /// Its tag.
        consumer_tag: String,
        /// Why.
        error: Error,
    },
    /// Publishes whose confirms were lost were sent again (see
    /// [`super::Recovery::with_republish`]).
    Republished {
        /// The channel.
        channel: u16,
        /// How many messages.
        count: usize,
    },
}

impl std::fmt::Display for ConnectionEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disconnected { error } => write!(f, "disconnected: {error}"),
            Self::Recovering {
                attempt,
                endpoint,
                delay,
            } => write!(
                f,
                "recovering: attempt {attempt} to {endpoint} in {delay:?}"
            ),
            Self::AttemptFailed {
                attempt,
                endpoint,
                error,
            } => write!(f, "attempt {attempt} to {endpoint} failed: {error}"),
            Self::Recovered {
                endpoint,
                took,
                attempts,
            } => write!(
                f,
                "recovered: connected to {endpoint} after {took:?} ({attempts} attempt{})",
                if *attempts == 1 { "" } else { "s" }
            ),
            Self::GaveUp { attempts, error } => {
                write!(f, "recovery gave up after {attempts} attempts: {error}")
            }
            Self::QueueRenamed { old, new } => {
                write!(f, "server-named queue {old:?} is now {new:?}")
            }
            Self::TopologyFailed { entity, error } => {
                write!(f, "could not restore {entity}: {error}")
            }
            Self::ConsumerRestored {
                channel,
                consumer_tag,
                queue,
            } => write!(
                f,
                "consumer {consumer_tag:?} on channel {channel} consumes from {queue:?} again"
            ),
            Self::ConsumerFailed {
                channel,
                consumer_tag,
                error,
            } => write!(
                f,
                "consumer {consumer_tag:?} on channel {channel} could not be restored: {error}"
            ),
            Self::Republished { channel, count } => write!(
                f,
                "{count} publishes in doubt on channel {channel} were published again"
            ),
        }
    }
}
