//! Frames (spec 4.2.3): delimiting them in a byte stream, and encoding them.
//!
//! ```text
//! 0      1         3             7                  size+7     size+8
//! +------+---------+-------------+  +-------------+  +-----------+
//! | type | channel |    size     |  |   payload   |  | frame-end |
//! +------+---------+-------------+  +-------------+  +-----------+
//!  octet   short       long          size octets        0xCE
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::constants::{
    FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEADER_LEN, FRAME_HEARTBEAT, FRAME_METHOD,
    FRAME_OVERHEAD, PROTOCOL_HEADER,
};
use crate::error::{DecodeError, EncodeError};
use crate::method::Method;
use crate::primitives::{atomically, patch_len_u32, Writer};
use crate::properties::ContentHeader;

/// The most [`Frame::decode`] reserves ahead for an incomplete frame: the
/// buffer grows past it only as the payload actually arrives.
const MAX_EAGER_RESERVE: usize = 1 << 20;

/// One AMQP frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A method frame (type 1).
    Method {
        /// Channel number; 0 for the connection class.
        channel: u16,
        /// The method and its arguments.
        method: Method,
    },
    /// A content header frame (type 2), after a content-carrying method.
    Header {
        /// Channel number, never 0.
        channel: u16,
        /// Body size and properties. Boxed: the 14 properties are ~370
        /// octets, and inline they would make every move of every frame
        /// (decoder, driver, state machine) a memcpy of that size; the box
        /// moves on into the received message as a pointer.
        header: Box<ContentHeader>,
    },
    /// A content body frame (type 3): a slice of the message body.
    Body {
        /// Channel number, never 0.
        channel: u16,
        /// This frame's part of the body; a zero-copy slice of the read buffer.
        payload: Bytes,
    },
    /// A heartbeat frame (type 8, channel 0, empty payload).
    Heartbeat,
}

impl Frame {
    /// A method frame.
    pub fn method(channel: u16, method: impl Into<Method>) -> Self {
        Self::Method {
            channel,
            method: method.into(),
        }
    }

    /// A content header frame.
    pub fn header(channel: u16, header: ContentHeader) -> Self {
        Self::Header {
            channel,
            header: Box::new(header),
        }
    }

    /// The frame's channel number.
    pub fn channel(&self) -> u16 {
        match self {
            Self::Method { channel, .. }
            | Self::Header { channel, .. }
            | Self::Body { channel, .. } => *channel,
            Self::Heartbeat => 0,
        }
    }

    /// Removes one whole frame from the front of `buf`.
    ///
    /// Returns `Ok(None)`, consuming nothing, while `buf` holds only part of
    /// a frame; it then reserves room for the rest (at most 1 MiB at a time,
    /// whatever the header announces). A header announcing a
    /// frame larger than `frame_max` (header and end octet included, as
    /// negotiated by connection.tune; 0 means no limit) is refused at once,
    /// before waiting for or buffering its payload.
    ///
    /// The content of body frames is a slice of `buf`'s storage: no copy.
    pub fn decode(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Self>, DecodeError> {
        let Some(head) = buf.get(..FRAME_HEADER_LEN) else {
            return check_protocol_header_prefix(buf);
        };
        let frame_type = head[0];
        let channel = u16::from_be_bytes([head[1], head[2]]);
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
        if frame_type == PROTOCOL_HEADER[0] {
            return check_protocol_header_prefix(buf);
        }
        if !matches!(
            frame_type,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) {
            return Err(DecodeError::UnknownFrameType(frame_type));
        }
        let limit = if frame_max == 0 { u32::MAX } else { frame_max };
        if u64::from(size) + FRAME_OVERHEAD as u64 > u64::from(limit) {
            return Err(DecodeError::FrameTooLarge {
                size,
                frame_max: limit,
            });
        }
        // Fits in usize: size + 8 <= frame_max <= u32::MAX.
        let total = size as usize + FRAME_OVERHEAD;
        if buf.len() < total {
            // Bounded: with frame_max 0 (no limit) a 7-octet header could
            // otherwise make us allocate up to 4 GiB before any payload came.
            buf.reserve((total - buf.len()).min(MAX_EAGER_RESERVE));
            return Ok(None);
        }
        match buf[total - 1] {
            FRAME_END => {}
            other => return Err(DecodeError::BadFrameEnd(other)),
        }
        // One split (one reference count change), not two: the end octet
        // is cut off and the header skipped.
        let mut payload = buf.split_to(total);
        payload.truncate(total - 1);
        payload.advance(FRAME_HEADER_LEN);
        let payload = payload.freeze();
        Self::from_payload(frame_type, channel, payload).map(Some)
    }

    fn from_payload(frame_type: u8, channel: u16, payload: Bytes) -> Result<Self, DecodeError> {
        match frame_type {
            FRAME_METHOD => Ok(Self::Method {
                channel,
                method: Method::decode(&payload)?,
            }),
            FRAME_HEADER | FRAME_BODY if channel == 0 => {
                Err(DecodeError::ContentOnChannelZero { frame_type })
            }
            FRAME_HEADER => Ok(Self::Header {
                channel,
                header: ContentHeader::decode_boxed(&payload)?,
            }),
            FRAME_BODY => Ok(Self::Body { channel, payload }),
            // Spec 4.2.7: heartbeats use channel 0 and carry nothing.
            _ if channel != 0 || !payload.is_empty() => Err(DecodeError::BadHeartbeat {
                channel,
                size: payload.len() as u32,
            }),
            _ => Ok(Self::Heartbeat),
        }
    }

    /// Appends the frame's bytes to `dst`. On error `dst` is left unchanged.
    ///
    /// Body frames are written as given; splitting a body to fit frame_max
    /// is the sender's job ([`encode_content`] does it).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Method { channel, method } => encode_method(*channel, method, dst),
            Self::Header { channel, header } => atomically(dst, |dst| {
                frame_with_payload(dst, FRAME_HEADER, *channel, |w| header.encode(w))
            }),
            Self::Body { channel, payload } => {
                let len = u32::try_from(payload.len())
                    .map_err(|_| EncodeError::TooLong(payload.len()))?;
                encode_body_frame_start(*channel, len, dst);
                dst.put_slice(payload);
                dst.put_u8(FRAME_END);
                Ok(())
            }
            Self::Heartbeat => {
                dst.put_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
                Ok(())
            }
        }
    }
}

fn frame_with_payload(
    dst: &mut BytesMut,
    frame_type: u8,
    channel: u16,
    payload: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    dst.put_slice(&frame_start(frame_type, channel));
    let start = dst.len();
    payload(&mut Writer::new(dst))?;
    patch_len_u32(dst, start)?;
    dst.put_u8(FRAME_END);
    Ok(())
}

/// A frame's 7-octet header with a zero size, patched once the payload is
/// written. One array, so one copy instead of three.
fn frame_start(frame_type: u8, channel: u16) -> [u8; FRAME_HEADER_LEN] {
    let [c0, c1] = channel.to_be_bytes();
    [frame_type, c0, c1, 0, 0, 0, 0]
}

/// Appends a method frame. On error `dst` is left unchanged.
pub fn encode_method(channel: u16, method: &Method, dst: &mut BytesMut) -> Result<(), EncodeError> {
    atomically(dst, |dst| {
        frame_with_payload(dst, FRAME_METHOD, channel, |w| method.encode(w))
    })
}

/// Appends the 7-octet header of a body frame of `len` octets; the caller
/// then writes (or hands to `writev`) the payload and a [`FRAME_END`] octet.
pub fn encode_body_frame_start(channel: u16, len: u32, dst: &mut BytesMut) {
    dst.put_slice(&body_frame_start(channel, len));
}

fn body_frame_start(channel: u16, len: u32) -> [u8; FRAME_HEADER_LEN] {
    let [c0, c1] = channel.to_be_bytes();
    let [l0, l1, l2, l3] = len.to_be_bytes();
    [FRAME_BODY, c0, c1, l0, l1, l2, l3]
}

/// Octets a content header payload takes before its property values:
/// class-id, weight, body-size and property-flags.
const CONTENT_HEADER_FIXED_LEN: usize = 14;

/// Room reserved up front for a method frame and a content header frame, so
/// that publishing a typical message grows the buffer at most once.
const CONTENT_FRAMES_ESTIMATE: usize = 256;

/// The start of a content header frame up to its property values: frame
/// header (size patched later), class basic, weight 0, body size, flags.
fn content_header_start(
    channel: u16,
    body_size: u64,
    flags: u16,
) -> [u8; FRAME_HEADER_LEN + CONTENT_HEADER_FIXED_LEN] {
    let [c0, c1] = channel.to_be_bytes();
    let [k0, k1] = crate::properties::BASIC_CLASS_ID.to_be_bytes();
    let [s0, s1, s2, s3, s4, s5, s6, s7] = body_size.to_be_bytes();
    let [f0, f1] = flags.to_be_bytes();
    [
        FRAME_HEADER,
        c0,
        c1,
        0,
        0,
        0,
        0,
        k0,
        k1,
        0,
        0,
        s0,
        s1,
        s2,
        s3,
        s4,
        s5,
        s6,
        s7,
        f0,
        f1,
    ]
}

/// Appends a whole message: the content-carrying `method`, a content header
/// announcing `body.len()` octets, and the body split into frames of at most
/// `frame_max - 8` octets (spec 4.2.6.2). On error `dst` is left unchanged.
// The hot path of publishing: fixed-size parts go in as a few arrays (each
// `put_slice` is a call), and the buffer is reserved once for all frames.
pub fn encode_content(
    channel: u16,
    method: &Method,
    properties: &crate::BasicProperties,
    body: &[u8],
    frame_max: u32,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    atomically(dst, |dst| {
        let chunk = max_body_chunk(frame_max);
        dst.reserve(
            CONTENT_FRAMES_ESTIMATE + body.len() + body.len().div_ceil(chunk) * FRAME_OVERHEAD,
        );
        let [c0, c1] = channel.to_be_bytes();
        let [k0, k1] = method.class_id().to_be_bytes();
        let [m0, m1] = method.method_id().to_be_bytes();
        dst.put_slice(&[FRAME_METHOD, c0, c1, 0, 0, 0, 0, k0, k1, m0, m1]);
        let start = dst.len() - 4;
        method.encode_args(&mut Writer::new(dst))?;
        patch_len_u32(dst, start)?;
        dst.put_u8(FRAME_END);

        dst.put_slice(&content_header_start(
            channel,
            body.len() as u64,
            properties.flags(),
        ));
        let start = dst.len() - CONTENT_HEADER_FIXED_LEN;
        properties.encode_values(&mut Writer::new(dst))?;
        patch_len_u32(dst, start)?;
        dst.put_u8(FRAME_END);

        for part in body.chunks(chunk) {
            // A chunk is at most frame_max - 8 octets, which fits in u32.
            dst.put_slice(&body_frame_start(channel, part.len() as u32));
            dst.put_slice(part);
            dst.put_u8(FRAME_END);
        }
        Ok(())
    })
}

/// Appends a content header frame (class basic) for a body of `body_size` octets.
pub fn encode_content_header(
    channel: u16,
    body_size: u64,
    properties: &crate::BasicProperties,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    atomically(dst, |dst| {
        dst.put_slice(&content_header_start(
            channel,
            body_size,
            properties.flags(),
        ));
        let start = dst.len() - CONTENT_HEADER_FIXED_LEN;
        properties.encode_values(&mut Writer::new(dst))?;
        patch_len_u32(dst, start)?;
        dst.put_u8(FRAME_END);
        Ok(())
    })
}

/// The most body octets one frame may carry under `frame_max` (0 = no limit).
pub fn max_body_chunk(frame_max: u32) -> usize {
    match frame_max {
        0 => u32::MAX as usize - FRAME_OVERHEAD,
        n => (n as usize).saturating_sub(FRAME_OVERHEAD).max(1),
    }
}

/// An 8-octet protocol header (spec 4.2.2): `AMQP`, a protocol id, and the
/// version (major, minor, revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolHeader(pub [u8; 8]);

impl ProtocolHeader {
    /// The version it names, e.g. `0-9-1`.
    pub fn version(&self) -> String {
        let [.., major, minor, revision] = self.0;
        format!("{major}-{minor}-{revision}")
    }

    /// True for exactly AMQP 0-9-1, the version we speak.
    pub fn is_0_9_1(&self) -> bool {
        self.0 == PROTOCOL_HEADER
    }

    /// Removes a protocol header from the front of `buf` if one is there.
    /// `Ok(None)` while `buf` could still become one; `Err(())` if it can't.
    // `()`: there is nothing to say beyond "these octets are not a header".
    #[allow(clippy::result_unit_err)]
    pub fn decode(buf: &mut BytesMut) -> Result<Option<Self>, ()> {
        let n = buf.len().min(4);
        if buf[..n] != PROTOCOL_HEADER[..n] {
            return Err(());
        }
        if buf.len() < PROTOCOL_HEADER.len() {
            return Ok(None);
        }
        let mut header = [0; 8];
        header.copy_from_slice(&buf.split_to(8));
        Ok(Some(Self(header)))
    }
}

/// Where a frame should start, a peer refusing our version sends its own
/// protocol header instead. Say so (once all 8 octets are in), rather than
/// "unknown frame type 65".
fn check_protocol_header_prefix(buf: &BytesMut) -> Result<Option<Frame>, DecodeError> {
    let n = buf.len().min(4);
    if buf[..n] != PROTOCOL_HEADER[..n] {
        return match buf.first() {
            Some(&t) if buf.len() >= FRAME_HEADER_LEN || t == PROTOCOL_HEADER[0] => {
                Err(DecodeError::UnknownFrameType(t))
            }
            _ => Ok(None),
        };
    }
    if buf.len() < PROTOCOL_HEADER.len() {
        return Ok(None);
    }
    let mut header = [0; 8];
    header.copy_from_slice(&buf[..8]);
    Err(DecodeError::ProtocolHeader(
        ProtocolHeader(header).version(),
    ))
}
