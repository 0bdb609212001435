//! basic.ack, basic.nack and basic.reject (spec 60/80, 60/120, 60/90): the
//! one method sent per delivery. Each is a fixed 21-octet frame, written
//! here in one copy instead of through the general method encoder, which
//! cost more than the rest of an ack's path; a test holds it to the codec's
//! encoding octet for octet.

use amqp_wire::{BasicAck, BasicNack, BasicReject, FRAME_END, FRAME_METHOD};
use bytes::BytesMut;

/// How a delivery is settled, with the flags of its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    Ack { multiple: bool },
    Nack { multiple: bool, requeue: bool },
    Reject { requeue: bool },
}

/// Frame header (7) + class and method ids (4) + delivery-tag (8) + one
/// octet of bits + frame-end.
const FRAME_LEN: usize = 21;
const PAYLOAD_LEN: u32 = 13;

impl Settle {
    /// Whether it covers every delivery up to its tag.
    pub(crate) fn multiple(self) -> bool {
        match self {
            Self::Ack { multiple } | Self::Nack { multiple, .. } => multiple,
            Self::Reject { .. } => false,
        }
    }

    /// The method, for the frame tap and tests.
    #[cfg(test)]
    pub(crate) fn method(self, delivery_tag: u64) -> amqp_wire::Method {
        match self {
            Self::Ack { multiple } => BasicAck {
                delivery_tag,
                multiple,
            }
            .into(),
            Self::Nack { multiple, requeue } => BasicNack {
                delivery_tag,
                multiple,
                requeue,
            }
            .into(),
            Self::Reject { requeue } => BasicReject {
                delivery_tag,
                requeue,
            }
            .into(),
        }
    }

    /// Appends the method frame on `channel` to `dst`.
    pub(crate) fn encode(self, channel: u16, delivery_tag: u64, dst: &mut BytesMut) {
        // Bits pack from the lowest, in field order (spec 4.2.5.2).
        let (ids, bits) = match self {
            Self::Ack { multiple } => (
                (BasicAck::CLASS_ID, BasicAck::METHOD_ID),
                u8::from(multiple),
            ),
            Self::Nack { multiple, requeue } => (
                (BasicNack::CLASS_ID, BasicNack::METHOD_ID),
                u8::from(multiple) | u8::from(requeue) << 1,
            ),
            Self::Reject { requeue } => (
                (BasicReject::CLASS_ID, BasicReject::METHOD_ID),
                u8::from(requeue),
            ),
        };
        let mut frame = [0u8; FRAME_LEN];
        frame[0] = FRAME_METHOD;
        frame[1..3].copy_from_slice(&channel.to_be_bytes());
        frame[3..7].copy_from_slice(&PAYLOAD_LEN.to_be_bytes());
        frame[7..9].copy_from_slice(&ids.0.to_be_bytes());
        frame[9..11].copy_from_slice(&ids.1.to_be_bytes());
        frame[11..19].copy_from_slice(&delivery_tag.to_be_bytes());
        frame[19] = bits;
        frame[20] = FRAME_END;
        dst.extend_from_slice(&frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_settle_encodes_as_the_codec_does() {
        let mut kinds = Vec::new();
        for a in [false, true] {
            kinds.push(Settle::Ack { multiple: a });
            kinds.push(Settle::Reject { requeue: a });
            for b in [false, true] {
                kinds.push(Settle::Nack {
                    multiple: a,
                    requeue: b,
                });
            }
        }
        for kind in kinds {
            for (channel, tag) in [(1, 1), (7, 0), (65535, u64::MAX), (300, 0x0102_0304_0506)] {
                let mut ours = BytesMut::new();
                kind.encode(channel, tag, &mut ours);
                let mut codec = BytesMut::new();
                amqp_wire::encode_method(channel, &kind.method(tag), &mut codec).expect("encodes");
                assert_eq!(ours, codec, "{kind:?} on {channel} tag {tag}");
            }
        }
    }

    #[test]
    fn only_ack_and_nack_can_be_multiple() {
        assert!(Settle::Ack { multiple: true }.multiple());
        assert!(Settle::Nack {
            multiple: true,
            requeue: false
        }
        .multiple());
        assert!(!Settle::Reject { requeue: true }.multiple());
    }
}
