//! Numbers fixed by the AMQP 0-9-1 specification (section 4.2 "Frame format"
//! and the `constants` of the protocol definition), each named once.

/// The 8 octets a client sends first: "AMQP", then 0, then protocol version
/// 0-9-1 (spec 4.2.2). A server that does not speak this version answers with
/// its own header and closes the socket.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";

/// Frame type octet of a method frame (spec constant `FRAME-METHOD`).
pub const FRAME_METHOD: u8 = 1;
/// Frame type octet of a content header frame (spec constant `FRAME-HEADER`).
pub const FRAME_HEADER: u8 = 2;
/// Frame type octet of a content body frame (spec constant `FRAME-BODY`).
pub const FRAME_BODY: u8 = 3;
/// Frame type octet of a heartbeat frame (spec constant `FRAME-HEARTBEAT`).
pub const FRAME_HEARTBEAT: u8 = 8;

/// The octet that must close every frame (spec constant `FRAME-END`, 0xCE);
/// anything else there means we lost sync with the peer.
pub const FRAME_END: u8 = 0xCE;

/// Frame type (1) + channel (2) + payload size (4).
pub const FRAME_HEADER_LEN: usize = 7;

/// Octets of a frame that are not payload: the header plus the frame-end octet.
/// A body frame carries at most `frame_max - FRAME_OVERHEAD` octets of content.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + 1;

/// The largest frame both peers must accept before `connection.tune` has
/// settled `frame_max` (spec constant `FRAME-MIN-SIZE`); also the least
/// `frame_max` a peer may propose.
pub const FRAME_MIN_SIZE: u32 = 4096;

/// RabbitMQ's default `frame_max` (128 KiB), used where nothing was negotiated.
pub const DEFAULT_FRAME_MAX: u32 = 131_072;

/// How deep field tables and arrays may nest inside one another. RabbitMQ
/// itself accepts any depth; we bound it so that hostile input cannot overflow
/// the decoder's stack (a 26,000-deep nesting is refused, not followed).
pub const MAX_FIELD_DEPTH: usize = 128;

/// The `reply-code` of `connection.close` and `channel.close` (spec section
/// 1.2 "Constants"). Open: codes we do not know stay representable.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct ReplyCode(pub u16);

macro_rules! reply_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $spec:literal;)*) => {
        impl ReplyCode {
            $( $(#[$doc])* pub const $name: Self = Self($value); )*

            /// The spec's name for this code (e.g. `NOT_FOUND`), if it has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($spec), )*
                    _ => None,
                }
            }
        }
    };
}

reply_codes! {
    /// The method completed successfully (spec `REPLY-SUCCESS`).
    SUCCESS = 200, "REPLY_SUCCESS";
    /// The client tried to send content larger than the server accepts. Soft.
    CONTENT_TOO_LARGE = 311, "CONTENT_TOO_LARGE";
    /// A `mandatory` message could not be routed to any queue (basic.return). Soft.
    NO_ROUTE = 312, "NO_ROUTE";
    /// An `immediate` message had no consumer to take it (basic.return). Soft.
    NO_CONSUMERS = 313, "NO_CONSUMERS";
    /// An operator closed the connection (e.g. `rabbitmqctl close_connection`). Hard.
    CONNECTION_FORCED = 320, "CONNECTION_FORCED";
    /// The client asked for an invalid virtual host path. Hard.
    INVALID_PATH = 402, "INVALID_PATH";
    /// Login refused, or no permission for the object. Soft on a channel,
    /// but RabbitMQ closes the connection with it for a failed login.
    ACCESS_REFUSED = 403, "ACCESS_REFUSED";
    /// The queue or exchange named does not exist. Soft.
    NOT_FOUND = 404, "NOT_FOUND";
    /// An exclusive queue is held by another connection. Soft.
    RESOURCE_LOCKED = 405, "RESOURCE_LOCKED";
    /// A precondition failed, e.g. redeclaring with other flags, unknown
    /// delivery tag, or an ack timeout. Soft.
    PRECONDITION_FAILED = 406, "PRECONDITION_FAILED";
    /// The peer sent a frame that could not be delimited or decoded. Hard.
    FRAME_ERROR = 501, "FRAME_ERROR";
    /// A method frame's arguments were malformed. Hard.
    SYNTAX_ERROR = 502, "SYNTAX_ERROR";
    /// A method was invalid in this context. Hard.
    COMMAND_INVALID = 503, "COMMAND_INVALID";
    /// A frame used a channel that is not open. Hard.
    CHANNEL_ERROR = 504, "CHANNEL_ERROR";
    /// A frame arrived that the channel's state does not allow. Hard.
    UNEXPECTED_FRAME = 505, "UNEXPECTED_FRAME";
    /// The server ran out of a resource. Hard.
    RESOURCE_ERROR = 506, "RESOURCE_ERROR";
    /// The action is not allowed, e.g. an unknown vhost or bad tuning. Hard.
    NOT_ALLOWED = 530, "NOT_ALLOWED";
    /// The class or method is not implemented by the peer. Hard.
    NOT_IMPLEMENTED = 540, "NOT_IMPLEMENTED";
    /// The peer failed internally. Hard.
    INTERNAL_ERROR = 541, "INTERNAL_ERROR";
}

impl ReplyCode {
    /// Hard errors end the connection; all others end only the channel
    /// (the spec's `hard-error` / `soft-error` classes).
    pub fn is_hard(self) -> bool {
        matches!(self.0, 320 | 402 | 501..=506 | 530 | 540 | 541)
    }
}

impl std::fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {}", self.0, name),
            None => write!(f, "{}", self.0),
        }
    }
}
