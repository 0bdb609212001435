//! basic.ack, basic.nack and basic.reject (spec 60/80, 60/120, 60/90): the
//! one method sent per delivery. Each is a fixed-size frame that
//! `amqp_wire::ack_frame` builds in one copy instead of through the general
//! method encoder, which cost more than the rest of an ack's path; a test
//! holds it to the general encoding octet for octet.

use amqp_wire::{BasicAck, BasicNack, BasicReject};
use bytes::BytesMut;

/// How a delivery is settled, with the flags of its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    Ack { multiple: bool },
    Nack { multiple: bool, requeue: bool },
    Reject { requeue: bool },
}

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
        let frame = match self {
            Self::Ack { multiple } => BasicAck {
                delivery_tag,
                multiple,
            }
            .frame(channel),
            Self::Nack { multiple, requeue } => BasicNack {
                delivery_tag,
                multiple,
                requeue,
            }
            .frame(channel),
            Self::Reject { requeue } => BasicReject {
                delivery_tag,
                requeue,
            }
            .frame(channel),
        };
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
