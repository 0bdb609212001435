//! Connection settings: RabbitMQ's URI format and a builder for the same.
//!
//! ```text
//! amqp://user:password@host:port/vhost?heartbeat=10&frame_max=131072&channel_max=2047&connection_timeout=5000
//! ```
//! Every part is optional: `amqp://` alone is guest/guest at localhost:5672,
//! vhost `/`. User, password, host and vhost are percent-decoded (`%2f` is
//! `/`). `heartbeat` is in seconds (0 takes the broker's value, `off`
//! disables heartbeats), `connection_timeout` in milliseconds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use amqp_wire::{DEFAULT_FRAME_MAX, FRAME_MIN_SIZE};

use crate::error::{Error, Result};
use crate::recovery::{Endpoint, EndpointOrder, Recovery};
use crate::tap::FrameTap;

/// RabbitMQ's default port for AMQP over TCP.
pub const DEFAULT_PORT: u16 = 5672;

/// The channel_max we ask for by default: RabbitMQ's own default.
pub const DEFAULT_CHANNEL_MAX: u16 = 2047;

/// How long `connect` may take by default, TCP and handshake included.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`crate::Connection::close`] waits for connection.close-ok by
/// default before dropping the socket: a live broker answers in
/// milliseconds, so this only bounds a broker that went silent.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// RabbitMQ's default `consumer_timeout` (since 3.8.15): a delivery left
/// unacked this long makes the broker close its channel with 406.
pub const DEFAULT_CONSUMER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The share of the consumer timeout after which an unacked delivery is
/// reported by default: with 30 min, a warning after 24 min leaves 6 min to
/// ack before the broker closes the channel.
pub const DEFAULT_ACK_WARNING_FRACTION: f32 = 0.8;

/// How long a synchronous method (queue.declare, basic.qos, channel.open,
/// ...) waits for its reply by default: 60 s. Between .NET's continuation
/// timeout (20 s) and Java's channel RPC timeout (10 min): long enough for a
/// quorum queue whose leader is being elected (a consume can take over 20 s
/// then), short enough that a broker that stopped answering is noticed.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest message accepted from the broker by default: RabbitMQ's own
/// default `max_message_size` (128 MiB), so nothing the broker would take
/// from a publisher is refused on the way out.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 128 * 1024 * 1024;

/// How many deliveries may wait in one consumer's queue (not yet taken by
/// [`crate::Consumer::next`]) before the client stops reading the socket.
/// A prefetch (basic.qos) at or below it never reaches it.
pub const DEFAULT_CONSUMER_BUFFER: usize = 4096;

/// The heartbeat the client asks for in `connection.tune-ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Heartbeat {
    /// Take the broker's proposal (RabbitMQ's default is 60 s).
    #[default]
    BrokerDefault,
    /// At most this many seconds: the lower of ours and the broker's.
    Secs(u16),
    /// No heartbeats at all: tune-ok answers 0. A dead peer is then
    /// noticed only by TCP.
    Disabled,
}

/// The SASL mechanism used to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): `\0user\0password`.
    #[default]
    Plain,
    /// `AMQPLAIN`: a field table with LOGIN and PASSWORD (RabbitMQ's own).
    AmqPlain,
    /// `EXTERNAL` (RFC 4422): no password; the broker takes the user name
    /// from the TLS client certificate (RabbitMQ's
    /// `rabbitmq_auth_mechanism_ssl` plugin).
    External,
}

impl SaslMechanism {
    /// The mechanism's name as the broker lists it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::AmqPlain => "AMQPLAIN",
            Self::External => "EXTERNAL",
        }
    }
}

/// The IANA port for AMQP over TLS (`amqps://`).
pub const DEFAULT_TLS_PORT: u16 = 5671;

/// Everything needed to open a connection. Build it from a URI with
/// [`ConnectionConfig::from_uri`] or field by field with the `with_*` methods.
///
/// Its `Debug` output never shows the password.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Virtual host.
    pub vhost: String,
    /// User name.
    pub username: String,
    pub(crate) password: String,
    /// The highest channel number we ask for; 0 takes the broker's limit.
    pub channel_max: u16,
    /// The largest frame we ask for; 0 takes the broker's limit; else at least 4096.
    pub frame_max: u32,
    /// The heartbeat we ask for.
    pub heartbeat: Heartbeat,
    /// Limit for TCP connect plus the AMQP handshake.
    pub connection_timeout: Duration,
    /// Shown as `connection_name` in RabbitMQ's management tools.
    pub connection_name: Option<String>,
    /// The SASL mechanism to log in with.
    pub mechanism: SaslMechanism,
    /// Called for every frame sent and received (see [`FrameTap`]).
    pub tap: Option<Arc<dyn FrameTap>>,
    /// At most this many unconfirmed publishes per channel in confirm mode;
    /// a publish beyond it waits for a confirm (`None`: no limit).
    pub max_in_flight: Option<usize>,
    /// How long a publish may wait while the broker blocks the connection
    /// (connection.blocked) before failing with [`Error::Blocked`]
    /// (`None`: wait as long as the block lasts).
    pub blocked_publish_timeout: Option<Duration>,
    /// How long [`crate::Connection::close`] waits for close-ok.
    pub close_timeout: Duration,
    /// The broker's `consumer_timeout`, which the client cannot read over
    /// AMQP (`None`: the broker has none; no ack-timeout warnings).
    pub consumer_timeout: Option<Duration>,
    /// A delivery held unacked for this share of `consumer_timeout` is
    /// reported (see [`crate::Connection::ack_timeout_warnings`]).
    pub ack_warning_fraction: f32,
    /// How long a synchronous method waits for its reply before it fails
    /// with [`Error::RpcTimeout`] and its channel is closed (`None`: forever).
    pub rpc_timeout: Option<Duration>,
    /// The largest message body accepted from the broker; a larger one is
    /// refused from its content header, before anything is allocated.
    pub max_message_size: u64,
    /// How many deliveries may wait in one consumer's queue before the
    /// client stops reading from the socket (TCP backpressure).
    pub consumer_buffer: usize,
    /// Endpoints after `host:port`, tried when it fails and on recovery
    /// (see [`ConnectionConfig::with_endpoints`]).
    pub(crate) more_endpoints: Vec<Endpoint>,
    /// In which order the endpoints are tried (shuffled by default).
    pub endpoint_order: EndpointOrder,
    /// What happens when the connection is lost (recovered by default).
    pub recovery: Recovery,
    /// TLS (`amqps://`): how to verify the broker and who we are.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: DEFAULT_PORT,
            vhost: "/".into(),
            username: "guest".into(),
            password: "guest".into(),
            channel_max: DEFAULT_CHANNEL_MAX,
            frame_max: DEFAULT_FRAME_MAX,
            heartbeat: Heartbeat::BrokerDefault,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            connection_name: None,
            mechanism: SaslMechanism::Plain,
            tap: None,
            max_in_flight: None,
            blocked_publish_timeout: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            consumer_timeout: Some(DEFAULT_CONSUMER_TIMEOUT),
            ack_warning_fraction: DEFAULT_ACK_WARNING_FRACTION,
            rpc_timeout: Some(DEFAULT_RPC_TIMEOUT),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            consumer_buffer: DEFAULT_CONSUMER_BUFFER,
            more_endpoints: Vec::new(),
            endpoint_order: EndpointOrder::default(),
            recovery: Recovery::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("vhost", &self.vhost)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("channel_max", &self.channel_max)
            .field("frame_max", &self.frame_max)
            .field("heartbeat", &self.heartbeat)
            .field("connection_timeout", &self.connection_timeout)
            .field("connection_name", &self.connection_name)
            .field("mechanism", &self.mechanism)
            .field("tap", &self.tap.is_some())
            .field("max_in_flight", &self.max_in_flight)
            .field("blocked_publish_timeout", &self.blocked_publish_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("consumer_timeout", &self.consumer_timeout)
            .field("ack_warning_fraction", &self.ack_warning_fraction)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("consumer_buffer", &self.consumer_buffer)
            .field("endpoints", &self.endpoints())
            .field("endpoint_order", &self.endpoint_order)
            .field("recovery", &self.recovery)
            .field("tls", &self.is_tls())
            .finish()
    }
}

impl fmt::Display for ConnectionConfig {
    /// The URI without the password: `amqp://guest@localhost:5672/%2f`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}@{}:{}/{}",
            if self.is_tls() { "amqps" } else { "amqp" },
            percent_encode(&self.username),
            self.host,
            self.port,
            percent_encode(&self.vhost)
        )
    }
}

impl ConnectionConfig {
    /// Parses RabbitMQ's URI format (see the module docs). An error names
    /// the part that is wrong.
    pub fn from_uri(uri: &str) -> Result<Self> {
        let bad = |part: &'static str, reason: String| Error::InvalidUri { part, reason };
        let mut config = Self::default();
        let rest = match uri.split_once("://") {
            Some(("amqp", rest)) => rest,
            #[cfg(feature = "tls")]
            Some(("amqps", rest)) => {
                config.port = DEFAULT_TLS_PORT;
                config.tls = Some(crate::tls::TlsConfig::new());
                rest
            }
            #[cfg(not(feature = "tls"))]
            Some(("amqps", _)) => {
                return Err(bad(
                    "scheme",
                    "amqps:// needs amqp-client built with its `tls` feature".into(),
                ))
            }
            Some((other, _)) => {
                return Err(bad(
                    "scheme",
                    format!("expected amqp or amqps, got {other:?}"),
                ))
            }
            None => return Err(bad("scheme", "missing \"amqp://\"".into())),
        };
        let mut tls = TlsQuery::default();
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let host_port = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                let (user, pass) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                config.username = percent_decode(user).map_err(|reason| bad("user", reason))?;
                if let Some(pass) = pass {
                    // The reason never echoes the password itself.
                    config.password = percent_decode(pass)
                        .map_err(|_| bad("password", "invalid percent-encoding".into()))?;
                }
                host_port
            }
            None => authority,
        };
        let (host, port) = split_host_port(host_port).map_err(|(part, r)| bad(part, r))?;
        if !host.is_empty() {
            config.host = percent_decode(host).map_err(|reason| bad("host", reason))?;
        }
        if let Some(port) = port {
            config.port = port;
        }
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            if path.contains('/') {
                return Err(bad("vhost", format!("{path:?} has a '/'; write it as %2f")));
            }
            config.vhost = percent_decode(path).map_err(|reason| bad("vhost", reason))?;
        }
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = |part| {
                value
                    .parse::<u64>()
                    .map_err(|_| bad(part, format!("{value:?} is not a number")))
            };
            match key {
                "heartbeat" => {
                    config.heartbeat = match value {
                        "off" | "none" => Heartbeat::Disabled,
                        _ => match u16::try_from(number("heartbeat")?) {
                            Ok(0) => Heartbeat::BrokerDefault,
                            Ok(secs) => Heartbeat::Secs(secs),
                            Err(_) => return Err(bad("heartbeat", "over 65535 s".into())),
                        },
                    }
                }
                "frame_max" => {
                    let v = u32::try_from(number("frame_max")?)
                        .map_err(|_| bad("frame_max", "over 4 GiB".into()))?;
                    if v != 0 && v < FRAME_MIN_SIZE {
                        return Err(bad("frame_max", format!("{v} is below 4096")));
                    }
                    config.frame_max = v;
                }
                "channel_max" => {
                    config.channel_max = u16::try_from(number("channel_max")?)
                        .map_err(|_| bad("channel_max", "over 65535".into()))?;
                }
                "connection_timeout" => {
                    config.connection_timeout =
                        Duration::from_millis(number("connection_timeout")?);
                }
                // Known to RabbitMQ's URI spec but meaningless without TLS
                // or for this client: accepted and ignored.
                "cacertfile" | "certfile" | "keyfile" | "verify" | "server_name_indication" => {
                    tls.set(key, percent_decode(value).map_err(|r| bad("query", r))?);
                }
                "auth_mechanism" => {
                    config.mechanism = match value {
                        "plain" | "PLAIN" => SaslMechanism::Plain,
                        "amqplain" | "AMQPLAIN" => SaslMechanism::AmqPlain,
                        "external" | "EXTERNAL" => SaslMechanism::External,
                        other => {
                            return Err(bad("auth_mechanism", format!("{other:?} unsupported")))
                        }
                    }
                }
                other => {
                    return Err(bad("query", format!("unknown parameter {other:?}")));
                }
            }
        }
        tls.apply(&mut config)?;
        Ok(config)
    }

    /// Whether the connection uses TLS (`amqps://`).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Speaks TLS to the broker, as `tls` says (feature `tls`). The port
    /// is not changed: set 5671 (or use an `amqps://` URI).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Parses several URIs of one cluster (the form users of other clients
    /// have: one URI per node). Credentials, vhost and options come from
    /// the first; the others must agree on credentials and vhost and add
    /// their `host:port` to the endpoint list.
    pub fn from_uris<S: AsRef<str>>(uris: &[S]) -> Result<Self> {
        let Some((first, rest)) = uris.split_first() else {
            return Err(Error::InvalidUri {
                part: "uri",
                reason: "no URI given".into(),
            });
        };
        let mut config = Self::from_uri(first.as_ref())?;
        for uri in rest {
            let other = Self::from_uri(uri.as_ref())?;
            if (&other.username, &other.password, &other.vhost)
                != (&config.username, &config.password, &config.vhost)
            {
                return Err(Error::InvalidUri {
                    part: "uri",
                    reason: format!(
                        "{other} has other credentials or vhost than the first URI; one connection has one login"
                    ),
                });
            }
            config
                .more_endpoints
                .push(Endpoint::new(other.host, other.port));
        }
        Ok(config)
    }

    /// Every endpoint, `host:port` first.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut all = vec![Endpoint::new(self.host.clone(), self.port)];
        all.extend(self.more_endpoints.iter().cloned());
        all
    }

    /// Replaces the endpoint list (`host` and `port` become the first's).
    /// The connection goes to the first that answers, in
    /// [`ConnectionConfig::endpoint_order`]; recovery tries them all again.
    /// An empty list changes nothing.
    pub fn with_endpoints(mut self, endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        let mut endpoints = endpoints.into_iter();
        if let Some(first) = endpoints.next() {
            self.host = first.host;
            self.port = first.port;
            self.more_endpoints = endpoints.collect();
        }
        self
    }

    /// Tries the endpoints shuffled (the default) or in order.
    pub fn with_endpoint_order(mut self, order: EndpointOrder) -> Self {
        self.endpoint_order = order;
        self
    }

    /// How a lost connection is recovered ([`Recovery::disabled`] for none).
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// Sets user name and password.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }
    /// Sets host and port.
    pub fn with_address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = host.into();
        self.port = port;
        self
    }
    /// Sets the virtual host.
    pub fn with_vhost(mut self, vhost: impl Into<String>) -> Self {
        self.vhost = vhost.into();
        self
    }
    /// Sets the heartbeat we ask for.
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }
    /// Sets the frame_max we ask for (0 = the broker's; else raised to 4096 at least).
    pub fn with_frame_max(mut self, frame_max: u32) -> Self {
        self.frame_max = if frame_max == 0 {
            0
        } else {
            frame_max.max(FRAME_MIN_SIZE)
        };
        self
    }
    /// Sets the channel_max we ask for (0 = the broker's).
    pub fn with_channel_max(mut self, channel_max: u16) -> Self {
        self.channel_max = channel_max;
        self
    }
    /// Sets the limit for TCP connect plus handshake.
    pub fn with_connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }
    /// Sets the `connection_name` client property.
    pub fn with_connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }
    /// Sets the SASL mechanism.
    pub fn with_mechanism(mut self, mechanism: SaslMechanism) -> Self {
        self.mechanism = mechanism;
        self
    }
    /// Installs a frame tap that sees every frame sent and received.
    pub fn with_tap(mut self, tap: Arc<dyn FrameTap>) -> Self {
        self.tap = Some(tap);
        self
    }
    /// Bounds each confirm-mode channel to `max` unconfirmed publishes: a
    /// publish waits for room, so a broker slower than the publisher
    /// cannot make unconfirmed messages pile up in memory. A slot is freed
    /// by the broker's basic.ack or basic.nack, or when the channel or
    /// connection closes; never by dropping a [`crate::PublishConfirm`].
    /// 0 is taken as 1.
    ///
    /// No limit by default: the right window depends on message size and
    /// latency, and a default one would throttle code that publishes a
    /// batch before awaiting its confirms.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = Some(max.max(1));
        self
    }
    /// Fails a publish with [`Error::Blocked`] once it has waited `timeout`
    /// while the broker blocks the connection (connection.blocked, sent on
    /// a memory or disk alarm). It bounds `basic_publish` when the block is
    /// already known, and [`crate::PublishConfirm::wait`] when it comes
    /// later.
    ///
    /// No timeout by default: an alarm is the broker asking publishers to
    /// slow down until it has room again, and it usually clears; failing by
    /// default would turn a passing alarm into lost messages in code that
    /// does not retry. Set it where a publisher must not stall for long.
    pub fn with_blocked_publish_timeout(mut self, timeout: Duration) -> Self {
        self.blocked_publish_timeout = Some(timeout);
        self
    }
    /// Sets how long [`crate::Connection::close`] waits for close-ok
    /// before dropping the socket and failing with [`Error::CloseTimeout`].
    pub fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
    /// Tells the client the broker's `consumer_timeout` (RabbitMQ's
    /// setting, default 30 min), for ack-timeout warnings.
    pub fn with_consumer_timeout(mut self, timeout: Duration) -> Self {
        self.consumer_timeout = Some(timeout);
        self
    }
    /// For a broker with no consumer timeout: no ack-timeout tracking.
    pub fn without_consumer_timeout(mut self) -> Self {
        self.consumer_timeout = None;
        self
    }
    /// Sets the share of `consumer_timeout` after which an unacked delivery
    /// is reported; kept within (0, 1], anything else (NaN included) takes
    /// the default, 0.8.
    pub fn with_ack_warning_fraction(mut self, fraction: f32) -> Self {
        self.ack_warning_fraction = if fraction > 0.0 && fraction <= 1.0 {
            fraction
        } else {
            DEFAULT_ACK_WARNING_FRACTION
        };
        self
    }
    /// Sets how long a synchronous method (every method with a reply:
    /// queue.declare, basic.qos, channel.open, tx.commit, ...) waits for it.
    /// On expiry the call fails with [`Error::RpcTimeout`] and the channel
    /// is closed, since a late reply could no longer be told from the next
    /// call's (the Java client's channel RPC timeout and .NET's
    /// continuation timeout do the same). `None` waits forever. Default
    /// [`DEFAULT_RPC_TIMEOUT`].
    pub fn with_rpc_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.rpc_timeout = timeout;
        self
    }
    /// Sets the largest message body accepted from the broker (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`], RabbitMQ's own `max_message_size`). A
    /// content header announcing more is refused before anything is
    /// allocated: the consumer (or basic.get) gets
    /// [`Error::MessageTooLarge`] and the channel is closed with 311
    /// CONTENT_TOO_LARGE, so the broker keeps the message.
    pub fn with_max_message_size(mut self, limit: u64) -> Self {
        self.max_message_size = limit;
        self
    }
    /// Sets how many deliveries may wait in one consumer's queue before the
    /// client stops reading the socket until the consumer has taken half of
    /// them (default [`DEFAULT_CONSUMER_BUFFER`], at least 1). This bounds the
    /// memory a broker that ignores the prefetch (or a consumer without
    /// one) can make the client hold. While reading is paused the client
    /// still sends heartbeats and does not count the broker's silence
    /// against it. Keep the prefetch at or below it: a consumer whose task
    /// waits for a reply on the same connection while its queue is full
    /// waits until its own RPC timeout.
    pub fn with_consumer_buffer(mut self, deliveries: usize) -> Self {
        self.consumer_buffer = deliveries.max(1);
        self
    }
    /// How long a delivery may stay unacked before it is reported, if ever.
    pub(crate) fn ack_warning_after(&self) -> Option<Duration> {
        // The field is public, so it may hold anything: fall back to the
        // default rather than let a bad value panic in the arithmetic.
        let fraction = match self.ack_warning_fraction {
            f if f > 0.0 && f <= 1.0 => f,
            _ => DEFAULT_ACK_WARNING_FRACTION,
        };
        let timeout = self.consumer_timeout?;
        // In millionths, so that 0.8 of 30 min is 24 min exactly, not a
        // few microseconds more as f32's 0.800000011... would make it.
        const PARTS: u128 = 1_000_000;
        let parts = (f64::from(fraction) * PARTS as f64).round() as u128;
        let nanos = timeout.as_nanos() * parts / PARTS;
        Some(u64::try_from(nanos).map_or(Duration::MAX, Duration::from_nanos))
    }
}

/// RabbitMQ's TLS URI parameters, gathered first (certfile and keyfile
/// go together) and applied once the scheme is known.
#[derive(Default)]
struct TlsQuery {
    cacertfile: Option<String>,
    certfile: Option<String>,
    keyfile: Option<String>,
    verify: Option<String>,
    server_name: Option<String>,
}

impl TlsQuery {
    fn set(&mut self, key: &str, value: String) {
        let slot = match key {
            "cacertfile" => &mut self.cacertfile,
            "certfile" => &mut self.certfile,
            "keyfile" => &mut self.keyfile,
            "verify" => &mut self.verify,
            _ => &mut self.server_name,
        };
        *slot = Some(value);
    }

    fn is_empty(&self) -> bool {
        self.cacertfile.is_none()
            && self.certfile.is_none()
            && self.keyfile.is_none()
            && self.verify.is_none()
            && self.server_name.is_none()
    }

    #[cfg(not(feature = "tls"))]
    fn apply(self, _config: &mut ConnectionConfig) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidUri {
            part: "query",
            reason: "TLS parameters need amqps:// (and the `tls` feature)".into(),
        })
    }

    #[cfg(feature = "tls")]
    fn apply(self, config: &mut ConnectionConfig) -> Result<()> {
        let bad = |reason: String| Error::InvalidUri {
            part: "query",
            reason,
        };
        let Some(mut tls) = config.tls.take() else {
            if self.is_empty() {
                return Ok(());
            }
            return Err(bad("TLS parameters need amqps://".into()));
        };
        if let Some(ca) = &self.cacertfile {
            tls = tls.with_ca_file(ca)?;
        }
        match (&self.certfile, &self.keyfile) {
            (Some(cert), Some(key)) => tls = tls.with_client_cert_files(cert, key)?,
            (None, None) => {}
            _ => return Err(bad("certfile and keyfile go together".into())),
        }
        match self.verify.as_deref() {
            None | Some("verify_peer") => {}
            Some("verify_none") => tls = tls.dangerous_accept_any_certificate(),
            Some(other) => {
                return Err(bad(format!(
                    "verify={other:?}: expected verify_peer or verify_none"
                )))
            }
        }
        match self.server_name.as_deref() {
            None => {}
            Some("disable") => tls = tls.without_sni(),
            Some(name) => tls = tls.with_server_name(name),
        }
        config.tls = Some(tls);
        Ok(())
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<u16>), (&'static str, String)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        // IPv6 literal: [::1]:5672
        let (host, after) = rest
            .split_once(']')
            .ok_or(("host", format!("unclosed '[' in {s:?}")))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or(("port", format!("{p:?} after ']'")))?,
                ),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or(("port", format!("{p:?} is not a port number")))?,
        ),
    };
    Ok((host, port))
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after percent-decoding".into())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_a_bare_uri() {
        let c = ConnectionConfig::from_uri("amqp://").unwrap();
        assert_eq!(
            (
                c.host.as_str(),
                c.port,
                c.vhost.as_str(),
                c.username.as_str(),
                c.password.as_str()
            ),
            ("localhost", 5672, "/", "guest", "guest")
        );
    }

    #[test]
    fn full_uri_with_percent_decoding_and_query() {
        let c = ConnectionConfig::from_uri(
            "amqp://us%40er:p%3Ass@rabbit.example:5673/%2fprod?heartbeat=10&frame_max=4096&channel_max=16&connection_timeout=2500",
        )
        .unwrap();
        assert_eq!(c.username, "us@er");
        assert_eq!(c.password, "p:ss");
        assert_eq!(c.host, "rabbit.example");
        assert_eq!(c.port, 5673);
        assert_eq!(c.vhost, "/prod");
        assert_eq!(c.heartbeat, Heartbeat::Secs(10));
        assert_eq!(c.frame_max, 4096);
        assert_eq!(c.channel_max, 16);
        assert_eq!(c.connection_timeout, Duration::from_millis(2500));
    }

    #[test]
    fn vhost_percent_2f_is_slash_and_empty_path_is_default() {
        assert_eq!(
            ConnectionConfig::from_uri("amqp://h/%2f").unwrap().vhost,
            "/"
        );
        assert_eq!(ConnectionConfig::from_uri("amqp://h/").unwrap().vhost, "/");
        assert_eq!(
            ConnectionConfig::from_uri("amqp://h/dev").unwrap().vhost,
            "dev"
        );
    }

    #[test]
    fn ipv6_host() {
        let c = ConnectionConfig::from_uri("amqp://[::1]:5999").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 5999));
    }

    #[test]
    fn heartbeat_off_disables_and_zero_takes_the_brokers() {
        let off = ConnectionConfig::from_uri("amqp://h?heartbeat=off").unwrap();
        assert_eq!(off.heartbeat, Heartbeat::Disabled);
        let zero = ConnectionConfig::from_uri("amqp://h?heartbeat=0").unwrap();
        assert_eq!(zero.heartbeat, Heartbeat::BrokerDefault);
    }

    #[test]
    fn errors_name_the_wrong_part() {
        let part = |uri| match ConnectionConfig::from_uri(uri) {
            Err(Error::InvalidUri { part, .. }) => part,
            other => panic!("{uri}: {other:?}"),
        };
        assert_eq!(part("http://h"), "scheme");
        assert_eq!(part("localhost:5672"), "scheme");
        assert_eq!(part("amqp://h:notaport"), "port");
        assert_eq!(part("amqp://h:0"), "port");
        assert_eq!(part("amqp://h/a/b"), "vhost");
        assert_eq!(part("amqp://h/%zz"), "vhost");
        assert_eq!(part("amqp://h?heartbeat=x"), "heartbeat");
        assert_eq!(part("amqp://h?frame_max=100"), "frame_max");
        assert_eq!(part("amqp://h?bogus=1"), "query");
        assert_eq!(part("amqp://u:%zz@h"), "password");
        #[cfg(not(feature = "tls"))]
        assert_eq!(part("amqps://h"), "scheme");
        assert_eq!(part("amqp://h?cacertfile=/ca.pem"), "query");
    }

    #[test]
    fn password_never_shows_in_debug_display_or_errors() {
        let c = ConnectionConfig::from_uri("amqp://bob:s3cr3t@h/v").unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!c.to_string().contains("s3cr3t"));
        let e = ConnectionConfig::from_uri("amqp://bob:s3cr3t%@h").unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    #[test]
    fn repeated_uris_make_one_endpoint_list_with_one_login() {
        let c = ConnectionConfig::from_uris(&["amqp://u:p@a:1/v", "amqp://u:p@b:2/v"]).unwrap();
        let hosts: Vec<String> = c.endpoints().iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["a:1", "b:2"]);
        let e = ConnectionConfig::from_uris(&["amqp://u:p@a/v", "amqp://x:p@b/v"]).unwrap_err();
        assert!(matches!(e, Error::InvalidUri { part: "uri", .. }), "{e}");
        assert!(!e.to_string().contains(":p@"), "no password in {e}");
    }

    #[cfg(feature = "tls")]
    mod tls {
        use super::super::*;

        #[test]
        fn amqps_defaults_to_5671_with_verification_on() {
            let c = ConnectionConfig::from_uri("amqps://u:p@h/v").unwrap();
            assert_eq!(c.port, DEFAULT_TLS_PORT);
            assert!(c.is_tls());
            assert!(c.to_string().starts_with("amqps://"), "{c}");
            let debug = format!("{:?}", c.tls.unwrap());
            assert!(debug.contains("verify: true"), "{debug}");
        }

        #[test]
        fn rabbitmqs_tls_parameters_are_understood() {
            let c = ConnectionConfig::from_uri(
                "amqps://h?verify=verify_none&server_name_indication=broker.example&auth_mechanism=external",
            )
            .unwrap();
            assert_eq!(c.mechanism, SaslMechanism::External);
            let debug = format!("{:?}", c.tls.unwrap());
            assert!(
                debug.contains("verify: false") && debug.contains("broker.example"),
                "{debug}"
            );
        }

        #[test]
        fn a_missing_or_malformed_file_is_a_typed_error_naming_it() {
            let e =
                ConnectionConfig::from_uri("amqps://h?cacertfile=/nonexistent/ca.pem").unwrap_err();
            let Error::TlsConfig { file, .. } = &e else {
                panic!("{e:?}")
            };
            assert_eq!(
                file.as_deref(),
                Some(std::path::Path::new("/nonexistent/ca.pem"))
            );
            assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
            let dir = std::env::temp_dir().join(format!("amqp-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let junk = dir.join("key.pem");
            std::fs::write(&junk, "not a key").unwrap();
            let e = crate::TlsConfig::new()
                .with_client_cert_files(&junk, &junk)
                .unwrap_err();
            assert!(
                matches!(&e, Error::TlsConfig { file: Some(f), .. } if *f == junk),
                "{e:?}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }

        #[test]
        fn tls_parameters_need_amqps_and_certfile_needs_keyfile() {
            let part = |uri: &str| match ConnectionConfig::from_uri(uri) {
                Err(Error::InvalidUri { part, .. }) => part,
                other => panic!("{uri}: {other:?}"),
            };
            assert_eq!(part("amqp://h?verify=verify_none"), "query");
            assert_eq!(part("amqps://h?certfile=/c.pem"), "query");
            assert_eq!(part("amqps://h?verify=maybe"), "query");
        }
    }
}
