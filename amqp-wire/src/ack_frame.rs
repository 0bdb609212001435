//! The one frame a consumer sends per delivery: basic.ack (60/80),
//! basic.reject (60/90) or basic.nack (60/120). All three carry a
//! delivery-tag and one octet of bits, so their method frame has a fixed
//! size and layout:
//!
//! ```text
//! 0      1         3            7          9           11             19     20
//! +------+---------+------------+----------+-----------+--------------+------+------+
//! | 0x01 | channel | size (13)  | class-id | method-id | delivery-tag | bits | 0xCE |
//! +------+---------+------------+----------+-----------+--------------+------+------+
//!  octet   short      long         short      short       longlong     octet
//! ```
//!
//! [`BasicAck::frame`], [`BasicNack::frame`] and [`BasicReject::frame`]
//! build it as an array, octet for octet what [`crate::encode_method`]
//! writes, without the general encoder's length patching and error paths:
//! on the per-delivery path those cost more than the rest of an ack.
//! The `from_frame` functions read it back, for a sender that rewrites a
//! queued ack in place (one multiple ack instead of several).

use crate::constants::{FRAME_END, FRAME_HEADER_LEN, FRAME_METHOD, FRAME_OVERHEAD};
use crate::method::{BasicAck, BasicNack, BasicReject};

/// Payload octets: class-id (2) + method-id (2) + delivery-tag (8) + one
/// octet of bits.
pub const PAYLOAD_LEN: u32 = 13;

/// Octets of the whole frame: header (7) + payload (13) + frame-end (1).
pub const FRAME_LEN: usize = FRAME_OVERHEAD + PAYLOAD_LEN as usize;

/// Where the class and method ids start: right after the frame header.
const IDS_AT: usize = FRAME_HEADER_LEN;
/// Where the delivery-tag starts, after the two ids.
const DELIVERY_TAG_AT: usize = IDS_AT + 4;
/// Where the octet of bits is, after the delivery-tag.
const BITS_AT: usize = DELIVERY_TAG_AT + 8;
/// Where the frame-end octet is.
const FRAME_END_AT: usize = FRAME_LEN - 1;

/// The frame of the method `ids` on `channel`. `bits` holds the method's
/// bit arguments packed from the lowest, in field order (spec 4.2.5.2).
#[inline]
fn encode(channel: u16, ids: (u16, u16), delivery_tag: u64, bits: u8) -> [u8; FRAME_LEN] {
    let mut frame = [0; FRAME_LEN];
    frame[0] = FRAME_METHOD;
    frame[1..3].copy_from_slice(&channel.to_be_bytes());
    frame[3..IDS_AT].copy_from_slice(&PAYLOAD_LEN.to_be_bytes());
    frame[IDS_AT..IDS_AT + 2].copy_from_slice(&ids.0.to_be_bytes());
    frame[IDS_AT + 2..DELIVERY_TAG_AT].copy_from_slice(&ids.1.to_be_bytes());
    frame[DELIVERY_TAG_AT..BITS_AT].copy_from_slice(&delivery_tag.to_be_bytes());
    frame[BITS_AT] = bits;
    frame[FRAME_END_AT] = FRAME_END;
    frame
}

/// Channel, delivery-tag and bits of `frame` if it is exactly a frame that
/// [`encode`] writes for the method `ids` with `bit_count` bit arguments:
/// same length, header, payload size and ids, unused bits zero (as the
/// decoder demands), and the frame-end octet in place.
#[inline]
fn decode(frame: &[u8], ids: (u16, u16), bit_count: u8) -> Option<(u16, u64, u8)> {
    let frame: &[u8; FRAME_LEN] = frame.try_into().ok()?;
    let mut fixed = [0; DELIVERY_TAG_AT - 3];
    fixed[..4].copy_from_slice(&PAYLOAD_LEN.to_be_bytes());
    fixed[4..6].copy_from_slice(&ids.0.to_be_bytes());
    fixed[6..].copy_from_slice(&ids.1.to_be_bytes());
    let bits = frame[BITS_AT];
    if frame[0] != FRAME_METHOD
        || frame[3..DELIVERY_TAG_AT] != fixed
        || bits >> bit_count != 0
        || frame[FRAME_END_AT] != FRAME_END
    {
        return None;
    }
    let channel = u16::from_be_bytes([frame[1], frame[2]]);
    let mut tag = [0; 8];
    tag.copy_from_slice(&frame[DELIVERY_TAG_AT..BITS_AT]);
    Some((channel, u64::from_be_bytes(tag), bits))
}

/// Whether bit `n` (from the lowest) of `bits` is set.
#[inline]
fn bit(bits: u8, n: u8) -> bool {
    (bits >> n) & 1 == 1
}

impl BasicAck {
    /// The basic.ack (60/80) method frame on `channel`, all
    /// [`FRAME_LEN`] octets: the same as [`crate::encode_method`] writes,
    /// built without allocating.
    #[inline]
    pub fn frame(&self, channel: u16) -> [u8; FRAME_LEN] {
        let bits = u8::from(self.multiple);
        encode(
            channel,
            (Self::CLASS_ID, Self::METHOD_ID),
            self.delivery_tag,
            bits,
        )
    }

    /// Reads back a frame as [`BasicAck::frame`] writes it: its channel
    /// and method, or `None` if `frame` is anything else (another method,
    /// another length, unused bits set, no frame-end).
    #[inline]
    pub fn from_frame(frame: &[u8]) -> Option<(u16, Self)> {
        let (channel, delivery_tag, bits) = decode(frame, (Self::CLASS_ID, Self::METHOD_ID), 1)?;
        let multiple = bit(bits, 0);
        Some((
            channel,
            Self {
                delivery_tag,
                multiple,
            },
        ))
    }
}

impl BasicNack {
    /// The basic.nack (60/120) method frame on `channel`, all
    /// [`FRAME_LEN`] octets: the same as [`crate::encode_method`] writes,
    /// built without allocating.
    #[inline]
    pub fn frame(&self, channel: u16) -> [u8; FRAME_LEN] {
        let bits = u8::from(self.multiple) | (u8::from(self.requeue) << 1);
        encode(
            channel,
            (Self::CLASS_ID, Self::METHOD_ID),
            self.delivery_tag,
            bits,
        )
    }

    /// Reads back a frame as [`BasicNack::frame`] writes it: its channel
    /// and method, or `None` if `frame` is anything else.
    #[inline]
    pub fn from_frame(frame: &[u8]) -> Option<(u16, Self)> {
        let (channel, delivery_tag, bits) = decode(frame, (Self::CLASS_ID, Self::METHOD_ID), 2)?;
        let (multiple, requeue) = (bit(bits, 0), bit(bits, 1));
        Some((
            channel,
            Self {
                delivery_tag,
                multiple,
                requeue,
            },
        ))
    }
}

impl BasicReject {
    /// The basic.reject (60/90) method frame on `channel`, all
    /// [`FRAME_LEN`] octets: the same as [`crate::encode_method`] writes,
    /// built without allocating.
    #[inline]
    pub fn frame(&self, channel: u16) -> [u8; FRAME_LEN] {
        let bits = u8::from(self.requeue);
        encode(
            channel,
            (Self::CLASS_ID, Self::METHOD_ID),
            self.delivery_tag,
            bits,
        )
    }

    /// Reads back a frame as [`BasicReject::frame`] writes it: its channel
    /// and method, or `None` if `frame` is anything else.
    #[inline]
    pub fn from_frame(frame: &[u8]) -> Option<(u16, Self)> {
        let (channel, delivery_tag, bits) = decode(frame, (Self::CLASS_ID, Self::METHOD_ID), 1)?;
        let requeue = bit(bits, 0);
        Some((
            channel,
            Self {
                delivery_tag,
                requeue,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_layout() {
        assert_eq!(FRAME_LEN, 21);
        assert_eq!(
            (IDS_AT, DELIVERY_TAG_AT, BITS_AT, FRAME_END_AT),
            (7, 11, 19, 20)
        );
        assert_eq!(BITS_AT + 1, FRAME_END_AT);
        assert_eq!(FRAME_END_AT - FRAME_HEADER_LEN, PAYLOAD_LEN as usize);
    }
}
