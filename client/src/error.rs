//! The client's errors: who must react, and with what the broker said.

use std::sync::Arc;
use std::time::Duration;

use amqp_wire::{DecodeError, EncodeError, ReplyCode};

/// Why a connection or channel was closed, as carried by `connection.close`
/// or `channel.close` (either side's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The reply code, e.g. 404 NOT_FOUND or 320 CONNECTION_FORCED.
    pub reply_code: ReplyCode,
    /// The text that came with it.
    pub reply_text: String,
    /// Class of the method that caused it, or 0.
    pub class_id: u16,
    /// Id of the method that caused it, or 0.
    pub method_id: u16,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reply_code, self.reply_text)?;
        if self.class_id != 0 {
            write!(
                f,
                " (caused by method {}/{})",
                self.class_id, self.method_id
            )?;
        }
        Ok(())
    }
}

/// Everything that can go wrong. Cheap to clone: one connection failure is
/// handed to every pending and later call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed: refused, reset, or closed by the peer without a
    /// `connection.close` (e.g. EOF in the middle of a frame).
    #[error("I/O error: {0}")]
    Io(#[source] Arc<std::io::Error>),
    /// The broker closed the connection (hard error): a refused login
    /// (403), an unknown vhost (530), an operator's close (320), ...
    #[error("connection closed by the broker: {0}")]
    ConnectionClosed(CloseReason),
    /// The broker closed this channel (soft error); the connection and
    /// other channels go on.
    #[error("channel closed by the broker: {0}")]
    ChannelClosed(CloseReason),
    /// The broker sent something that breaks the protocol; we closed the
    /// connection with `reply_code` (501, 502, 503, 504, 505 or 540).
    #[error("protocol violation by the broker, connection closed with {reply_code}: {message}")]
    ProtocolViolation {
        /// The code we closed the connection with.
        reply_code: ReplyCode,
        /// What was wrong.
        message: String,
    },
    /// The broker answered our protocol header with its own: it does not
    /// speak AMQP 0-9-1.
    #[error("the broker refused AMQP 0-9-1 and offered protocol version {version}")]
    VersionRefused {
        /// The version the broker named, e.g. `1-0-0`.
        version: String,
    },
    /// The broker's connection.start cannot be accepted (wrong version, no
    /// SASL mechanism in common).
    #[error("cannot negotiate with this broker: {0}")]
    Negotiation(String),
    /// Nothing was heard from the broker for two heartbeat intervals.
    #[error("no frame from the broker for {0:?} (two heartbeat intervals): connection dead")]
    HeartbeatTimeout(Duration),
    /// Connecting (TCP and AMQP handshake) took longer than `connection_timeout`.
    #[error("connection not established within {0:?}")]
    ConnectTimeout(Duration),
    /// The connection URI could not be parsed.
    #[error("invalid AMQP URI, {part}: {reason}")]
    InvalidUri {
        /// Which part is wrong: scheme, host, port, vhost, query, ...
        part: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection was closed by this client (`Connection::close`).
    #[error("connection closed by the client")]
    ClientClosed,
    /// The channel was closed by this client (`Channel::close`).
    #[error("channel closed by the client")]
    ChannelClosedByClient,
    /// All channel numbers up to channel_max are in use.
    #[error("all {0} channels are in use")]
    NoFreeChannel(u16),
    /// A value could not be encoded (e.g. a short string over 255 octets).
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// The broker refused a published message (basic.nack under publisher
    /// confirms): it was not stored.
    #[error("the broker refused the message (basic.nack)")]
    Nacked,
    /// The broker cancelled the consumer (basic.cancel, 60/30), e.g.
    /// because its queue was deleted.
    #[error("the broker cancelled consumer {consumer_tag:?} (its queue may have been deleted)")]
    ConsumerCancelled {
        /// The cancelled consumer's tag.
        consumer_tag: String,
    },
    /// A mandatory publish was routed to no queue: the broker sent it back
    /// (basic.return, 60/50) and then confirmed it. It was not stored.
    #[error("the broker returned the message: {}: {}", .0.reply_code, .0.reply_text)]
    Returned(Box<crate::consumer::Returned>),
    /// A synchronous method got no reply within the RPC timeout
    /// ([`crate::ConnectionConfig::with_rpc_timeout`]). Its reply can no
    /// longer be matched to it, so the client closed the channel (or, for a
    /// connection-level method, the connection); other channels go on.
    #[error("no reply to {method} within {after:?}: the channel was closed")]
    RpcTimeout {
        /// The method that got no reply, as the spec names it (e.g. `queue.declare`).
        method: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// The broker announced a message larger than the inbound limit
    /// ([`crate::ConnectionConfig::with_max_message_size`]), or one the
    /// client could not allocate room for. Nothing was allocated for it; the
    /// client closed the channel with 311 CONTENT_TOO_LARGE, so the broker
    /// requeues the message.
    #[error("the broker sent a {body_size}-octet message, over the {limit}-octet limit: channel closed with 311")]
    MessageTooLarge {
        /// The body size the content header announced.
        body_size: u64,
        /// The limit it broke (or the size that could not be allocated).
        limit: u64,
    },
    /// A publish waited `waited` while the broker blocked the connection
    /// (connection.blocked, on a memory or disk alarm) and gave up, as
    /// `ConnectionConfig::with_blocked_publish_timeout` asked. The
    /// connection stays open. If `basic_publish` failed, the message was
    /// not sent; if `PublishConfirm::wait` failed, it was sent and its fate
    /// is unknown (the broker may still take it once the alarm clears).
    #[error(
        "the broker blocked the connection ({reason}) and the publish gave up after {waited:?}"
    )]
    Blocked {
        /// The reason in connection.blocked, e.g. "low on memory".
        reason: String,
        /// How long the publish waited.
        waited: Duration,
    },
    /// connection.close-ok did not come within the close timeout
    /// (`ConnectionConfig::with_close_timeout`); the socket was dropped.
    #[error("no connection.close-ok within {0:?}: the socket was dropped")]
    CloseTimeout(Duration),
    /// A call that needs something the channel is not in (e.g. awaiting a
    /// confirm on a channel without confirm.select).
    #[error("invalid use: {0}")]
    InvalidUse(&'static str),
    /// Every endpoint was tried once and none could be connected to; each
    /// one's reason, in the order tried.
    #[error("could not connect to any endpoint: {}", endpoint_errors(.attempts))]
    Connect {
        /// Each endpoint tried, with why it failed.
        attempts: Vec<(crate::Endpoint, Self)>,
    },
    /// The connection was lost while this call's frame was on its way or
    /// its reply was awaited. It was not sent again: the broker may or may
    /// not have acted on it (a declare is safe to repeat, a publish is
    /// [`Error::PublishInDoubt`]). The connection recovers; calls made now
    /// wait for it.
    #[error("connection lost while the call was in flight: {cause}")]
    ConnectionLost {
        /// Why the connection was lost.
        cause: Box<Self>,
    },
    /// A confirm-mode publish left, and the connection was lost before the
    /// broker confirmed it: the broker may or may not have the message.
    /// Publish it again to be sure (at-least-once), or turn on
    /// [`crate::Recovery::with_republish`].
    #[error("publish in doubt, its confirm was lost with the connection: {cause}")]
    PublishInDoubt {
        /// Why the connection was lost.
        cause: Box<Self>,
    },
    /// An ack, nack or reject of a delivery from before the connection was
    /// recovered: that delivery's tag means nothing to the new connection,
    /// so nothing was sent (the broker has redelivered, or will redeliver,
    /// the message). Not a channel error: the channel goes on.
    #[error("delivery tag {delivery_tag} is from before the connection was recovered: not sent (the broker redelivers that message)")]
    StaleDeliveryTag {
        /// The tag given.
        delivery_tag: u64,
    },
    /// A call or publish made while the connection was recovering waited
    /// [`crate::Recovery::with_wait_timeout`] and recovery had not finished.
    #[error("the connection was still recovering after {0:?}")]
    RecoveryTimeout(Duration),
    /// The TLS handshake failed, or TLS met a peer that does not speak it;
    /// `failure` says which and what to do.
    #[error("TLS: {failure} ({detail})")]
    Tls {
        /// What went wrong, with advice.
        failure: TlsFailure,
        /// rustls's (or the socket's) own words.
        detail: String,
    },
    /// The TLS settings cannot be used: a CA, certificate or key file that
    /// is missing, unreadable or not PEM of the right kind (`file` names
    /// it), or the `tls` feature is not built in.
    #[error("TLS configuration: {}{reason}", .file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    TlsConfig {
        /// The file at fault, if a file.
        file: Option<std::path::PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
    /// A bug in this client, not the broker's doing: an internal answer
    /// that does not fit the request it answers. Please report it.
    #[error("internal error in amqp-client (a bug, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The reply code behind this error, if the broker or we sent one.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            Self::ConnectionClosed(r) | Self::ChannelClosed(r) => Some(r.reply_code),
            Self::ProtocolViolation { reply_code, .. } => Some(*reply_code),
            Self::Returned(returned) => Some(returned.reply_code),
            Self::MessageTooLarge { .. } => Some(ReplyCode::CONTENT_TOO_LARGE),
            _ => None,
        }
    }

    /// The close reason, for errors that carry one.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        match self {
            Self::ConnectionClosed(r) | Self::ChannelClosed(r) => Some(r),
            _ => None,
        }
    }

    /// True for RabbitMQ's channel.close 406 PRECONDITION_FAILED "delivery
    /// acknowledgement on channel N timed out": a delivery was held unacked
    /// longer than the broker's `consumer_timeout` (see
    /// [`crate::Connection::ack_timeout_warnings`] for the warning before).
    pub fn is_delivery_ack_timeout(&self) -> bool {
        matches!(self, Self::ChannelClosed(r)
            if r.reply_code == ReplyCode::PRECONDITION_FAILED
                && r.reply_text.contains("delivery acknowledgement")
                && r.reply_text.contains("timed out"))
    }

    /// Whether a connection that ended with this error is recovered: the
    /// network or the broker went away (I/O error, missed heartbeats, the
    /// broker's 320 CONNECTION_FORCED or 541 INTERNAL_ERROR), not a refusal
    /// that another attempt would meet again (403, 530), a broken peer, or
    /// the application's own close.
    pub fn is_recoverable(&self) -> bool {
        match self {
            Self::Io(_) | Self::HeartbeatTimeout(_) => true,
            Self::ConnectionClosed(r) => matches!(
                r.reply_code,
                ReplyCode::CONNECTION_FORCED | ReplyCode::INTERNAL_ERROR
            ),
            _ => false,
        }
    }

    pub(crate) fn internal(message: String) -> Self {
        Self::Internal(message)
    }

    /// The core answered `request` with `got`, which cannot answer it (the
    /// core matches replies by their ids, so this is our bug).
    pub(crate) fn unexpected_reply(request: &str, got: Option<amqp_wire::Method>) -> Self {
        let got = got.as_ref().map_or("no reply", |m| m.name());
        Self::Internal(format!("{request} answered with {got}"))
    }

    pub(crate) fn io(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }

    pub(crate) fn from_decode(e: &DecodeError) -> Self {
        match e {
            DecodeError::ProtocolHeader(version) => Self::VersionRefused {
                version: version.clone(),
            },
            other => Self::ProtocolViolation {
                reply_code: other.reply_code(),
                message: other.to_string(),
            },
        }
    }
}

fn endpoint_errors(attempts: &[(crate::Endpoint, Error)]) -> String {
    let each: Vec<String> = attempts
        .iter()
        .map(|(e, error)| format!("{e}: {error}"))
        .collect();
    each.join("; ")
}

/// Why a TLS connection failed, each with what to do about it (its
/// `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The broker's certificate is signed by a CA we do not trust.
    UnknownIssuer,
    /// The broker's certificate does not name the host we connected to.
    NameMismatch,
    /// The broker's certificate has expired (or is not valid yet).
    Expired,
    /// The broker's certificate is unusable for another reason.
    BadServerCertificate,
    /// The broker refused our client certificate (or wanted one).
    ClientCertificateRefused,
    /// The peer does not speak TLS (a plain AMQP port?), or a plain
    /// connection met a TLS port.
    NotTls,
    /// A TLS listener answered our plain `amqp://` connection.
    PlainClientOnTlsPort,
    /// Anything else rustls reports.
    Other,
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownIssuer => "the broker's certificate is signed by a CA this client does not trust: add that CA (cacertfile=, TlsConfig::with_ca_file)",
            Self::NameMismatch => "the broker's certificate is not valid for the host connected to: connect by a name the certificate lists, or name it (server_name_indication=, TlsConfig::with_server_name)",
            Self::Expired => "the broker's certificate has expired or is not yet valid: renew it on the broker (or check this machine's clock)",
            Self::BadServerCertificate => "the broker's certificate cannot be used: check it with openssl s_client",
            Self::ClientCertificateRefused => "the broker refused this client's certificate (or required one): give one signed by a CA the broker trusts (certfile=/keyfile=, TlsConfig::with_client_cert_files)",
            Self::NotTls => "the endpoint does not speak TLS: is it the plain AMQP port (5672)? use amqp:// there, or the TLS port (5671) with amqps://",
            Self::PlainClientOnTlsPort => "the endpoint speaks TLS: use amqps:// (port 5671)",
            Self::Other => "the TLS handshake failed",
        })
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
