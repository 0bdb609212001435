//! What can go wrong decoding and encoding, and which reply code answers it.

use crate::constants::ReplyCode;

/// Why bytes from the peer could not be decoded.
///
/// Every variant is fatal for the connection: [`DecodeError::reply_code`]
/// names the code to put in our `connection.close`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame header announced more payload than the negotiated frame_max
    /// allows; refused before any of it is read or buffered.
    #[error("frame of {size} payload octets exceeds frame_max {frame_max}")]
    FrameTooLarge {
        /// Payload size from the frame header.
        size: u32,
        /// The frame_max in force.
        frame_max: u32,
    },
    /// The octet after the payload was not 0xCE.
    #[error("frame end octet is 0x{0:02x}, expected 0xce")]
    BadFrameEnd(u8),
    /// The frame type octet is none of 1, 2, 3, 8.
    #[error("unknown frame type {0}")]
    UnknownFrameType(u8),
    /// The bytes where a frame should start are a protocol header: the
    /// peer refuses our protocol version and names its own.
    #[error("peer sent a protocol header (version {0}) where a frame was expected")]
    ProtocolHeader(String),
    /// A heartbeat frame on a channel other than 0, or with a payload.
    #[error("malformed heartbeat frame (channel {channel}, {size} payload octets)")]
    BadHeartbeat {
        /// Channel of the heartbeat frame.
        channel: u16,
        /// Its payload size.
        size: u32,
    },
    /// A content header or body frame on channel 0, which carries no content.
    #[error("content frame (type {frame_type}) on channel 0")]
    ContentOnChannelZero {
        /// The frame type octet.
        frame_type: u8,
    },
    /// A class/method pair that AMQP 0-9-1 (with RabbitMQ's extensions) does not define.
    #[error("unknown method {class_id}/{method_id}")]
    UnknownMethod {
        /// The class id read.
        class_id: u16,
        /// The method id read.
        method_id: u16,
    },
    /// A content header for a class other than basic (60).
    #[error("content header for class {0}, only basic (60) carries content")]
    UnknownContentClass(u16),
    /// A payload ended in the middle of a field.
    #[error("{context}: payload truncated")]
    Truncated {
        /// What was being read.
        context: &'static str,
    },
    /// A method or header payload went on after its last field.
    #[error("{context}: {extra} trailing octets")]
    TrailingBytes {
        /// What was being read.
        context: &'static str,
        /// How many octets were left over.
        extra: usize,
    },
    /// A run of `bit` arguments left unused bits of its octet set.
    #[error("{context}: reserved bits set in bit octet 0x{octet:02x}")]
    ReservedBitsSet {
        /// What was being read.
        context: &'static str,
        /// The octet read.
        octet: u8,
    },
    /// A boolean field value (`t`) other than 0 or 1.
    #[error("boolean field value {0} is neither 0 nor 1")]
    BadBoolean(u8),
    /// A field table or array value with a type letter RabbitMQ does not use.
    #[error("unknown field value type 0x{0:02x}")]
    UnknownFieldType(u8),
    /// Field tables or arrays nested deeper than [`crate::MAX_FIELD_DEPTH`].
    #[error("field tables nested deeper than {0}")]
    NestingTooDeep(usize),
    /// A content header's property flags had the continuation bit or a flag
    /// for a property basic does not have.
    #[error("property flags 0x{0:04x} use bits basic does not define")]
    BadPropertyFlags(u16),
}

impl DecodeError {
    /// The reply code a client must close the connection with when the peer
    /// sent this (spec 4.2.3 and the `hard-error` constants).
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::FrameTooLarge { .. }
            | Self::BadFrameEnd(_)
            | Self::UnknownFrameType(_)
            | Self::ProtocolHeader(_)
            | Self::BadHeartbeat { .. } => ReplyCode::FRAME_ERROR,
            Self::ContentOnChannelZero { .. } => ReplyCode::UNEXPECTED_FRAME,
            Self::UnknownMethod { .. } | Self::UnknownContentClass(_) => ReplyCode::NOT_IMPLEMENTED,
            Self::Truncated { .. }
            | Self::TrailingBytes { .. }
            | Self::ReservedBitsSet { .. }
            | Self::BadBoolean(_)
            | Self::UnknownFieldType(_)
            | Self::NestingTooDeep(_)
            | Self::BadPropertyFlags(_) => ReplyCode::SYNTAX_ERROR,
        }
    }
}

/// Why a value could not be encoded. The destination buffer is left as it
/// was before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A short string is limited to 255 octets; it is never truncated.
    #[error("short string of {0} octets exceeds 255")]
    ShortStringTooLong(usize),
    /// A long string, table, array or frame payload exceeds 4 GiB - 1.
    #[error("{0} octets do not fit a 32-bit length")]
    TooLong(usize),
    /// Field tables or arrays nested deeper than [`crate::MAX_FIELD_DEPTH`].
    #[error("field tables nested deeper than {0}")]
    NestingTooDeep(usize),
}
