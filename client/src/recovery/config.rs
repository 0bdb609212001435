//! What recovery does and where it reconnects: [`Recovery`] and the
//! endpoint list.

use std::time::Duration;

/// The default first reconnection delay's upper bound: a blip costs at
/// most this before the first attempt.
pub const DEFAULT_RECOVERY_INITIAL_DELAY: Duration = Duration::from_millis(100);

/// The default bound on the delay between two attempts. With full jitter,
/// clients that keep failing spread their attempts over this much time.
pub const DEFAULT_RECOVERY_MAX_DELAY: Duration = Duration::from_secs(30);

/// How long a call or publish made while the connection recovers waits for
/// the recovery by default before it fails with
/// [`crate::Error::RecoveryTimeout`].
pub const DEFAULT_RECOVERY_WAIT: Duration = Duration::from_secs(60);

/// How a connection that is lost without the application asking is
/// recovered (see the crate's README, "Recovery"). On by default:
/// [`Recovery::disabled`] restores the behaviour where every handle ends
/// with the connection's error.
///
/// Recovery reconnects (to the configured endpoints, with exponential
/// backoff and full jitter), then restores in this order: every channel the
/// application holds (same numbers, same `Channel` values), their basic.qos
/// and confirm mode, the exchanges, queues and bindings declared through
/// this connection and not deleted since, and every consumer (same
/// `Consumer` values, same tags and arguments).
#[derive(Debug, Clone)]
pub struct Recovery {
    pub(crate) enabled: bool,
    pub(crate) initial_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) wait_timeout: Duration,
    pub(crate) republish: Option<usize>,
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay: DEFAULT_RECOVERY_INITIAL_DELAY,
            max_delay: DEFAULT_RECOVERY_MAX_DELAY,
            max_attempts: None,
            wait_timeout: DEFAULT_RECOVERY_WAIT,
            republish: None,
        }
    }
}

impl Recovery {
    /// Recovery on, with the defaults: first attempt within 100 ms, delays
    /// up to 30 s, unlimited attempts, calls wait up to 60 s for it.
    pub fn enabled() -> Self {
        Self::default()
    }

    /// No recovery: a lost connection ends every handle with its error.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Whether a lost connection is recovered.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The first attempt waits a random time up to `delay`; each later one
    /// up to twice the previous bound, at most [`Recovery::with_max_delay`].
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The bound on the (random) delay before an attempt.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Gives up after `attempts` failed attempts (`None`, the default: never).
    pub fn with_max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How long a call or publish made while the connection recovers waits
    /// for it before failing with [`crate::Error::RecoveryTimeout`].
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// At-least-once publishing across recoveries (off by default): a
    /// confirm-mode publish whose confirm was lost with the connection is
    /// published again after recovery instead of failing with
    /// [`crate::Error::PublishInDoubt`]; the copy carries the header
    /// [`REPUBLISHED_HEADER`] so a consumer can tell it may be a
    /// duplicate. Bodies of unconfirmed publishes are kept for this, up to
    /// `max_bytes` per channel; a publish over that is not kept and ends
    /// in doubt as without this option.
    pub fn with_republish(mut self, max_bytes: usize) -> Self {
        self.republish = Some(max_bytes);
        self
    }
}

/// The header a re-published message carries (see
/// [`Recovery::with_republish`]): `true`, and the message may have reached
/// the broker before.
pub const REPUBLISHED_HEADER: &str = "x-amqp-client-republished";

/// One broker address of the endpoint list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or address, resolved again on every attempt.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// In which order the endpoints are tried on each (re)connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointOrder {
    /// A new random order each time (the default): clients of one cluster
    /// spread over its nodes.
    #[default]
    Shuffled,
    /// As configured: the first endpoint is preferred.
    InOrder,
}
