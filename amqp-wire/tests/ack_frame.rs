//! The fixed-size frames of basic.ack, basic.nack and basic.reject
//! (`amqp_wire::ack_frame`): the same octets as the general method encoder,
//! read back exactly, and nothing else taken for one.

use amqp_wire::{
    ack_frame, encode_method, BasicAck, BasicNack, BasicReject, Frame, Method, DEFAULT_FRAME_MAX,
    FRAME_END, FRAME_METHOD, FRAME_OVERHEAD,
};
use bytes::BytesMut;

const CHANNELS: [u16; 4] = [0, 1, 300, u16::MAX];
const TAGS: [u64; 5] = [0, 1, 255, 0x0102_0304_0506_0708, u64::MAX];

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn general_encoding(channel: u16, method: impl Into<Method>) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_method(channel, &method.into(), &mut buf).expect("encodes");
    buf
}

/// Every basic.ack, basic.nack and basic.reject over the channels, tags
/// and bit values above, as (channel, method, its fixed frame).
fn every_case() -> Vec<(u16, Method, [u8; ack_frame::FRAME_LEN])> {
    let mut out = Vec::new();
    for channel in CHANNELS {
        for delivery_tag in TAGS {
            for a in [false, true] {
                let ack = BasicAck {
                    delivery_tag,
                    multiple: a,
                };
                out.push((channel, ack.clone().into(), ack.frame(channel)));
                let reject = BasicReject {
                    delivery_tag,
                    requeue: a,
                };
                out.push((channel, reject.clone().into(), reject.frame(channel)));
                for b in [false, true] {
                    let nack = BasicNack {
                        delivery_tag,
                        multiple: a,
                        requeue: b,
                    };
                    out.push((channel, nack.clone().into(), nack.frame(channel)));
                }
            }
        }
    }
    out
}

#[test]
fn lengths_are_header_payload_and_frame_end() {
    assert_eq!(ack_frame::PAYLOAD_LEN, 2 + 2 + 8 + 1);
    assert_eq!(
        ack_frame::FRAME_LEN,
        FRAME_OVERHEAD + ack_frame::PAYLOAD_LEN as usize
    );
    assert_eq!(ack_frame::FRAME_LEN, 21);
}

#[test]
fn golden_octets_of_each_method() {
    let ack = BasicAck {
        delivery_tag: 0x0102_0304_0506_0708,
        multiple: true,
    };
    assert_eq!(
        ack.frame(0x0203)[..],
        hex("01 0203 0000000D 003C 0050 0102030405060708 01 CE")
    );
    let nack = BasicNack {
        delivery_tag: 9,
        multiple: false,
        requeue: true,
    };
    assert_eq!(
        nack.frame(1)[..],
        hex("01 0001 0000000D 003C 0078 0000000000000009 02 CE")
    );
    let reject = BasicReject {
        delivery_tag: 9,
        requeue: true,
    };
    assert_eq!(
        reject.frame(1)[..],
        hex("01 0001 0000000D 003C 005A 0000000000000009 01 CE")
    );
}

#[test]
fn every_fixed_frame_is_what_the_general_encoder_writes() {
    for (channel, method, frame) in every_case() {
        assert_eq!(
            frame[..],
            general_encoding(channel, method.clone())[..],
            "{method:?} on {channel}"
        );
    }
}

#[test]
fn every_fixed_frame_decodes_as_its_method() {
    for (channel, method, frame) in every_case() {
        let mut buf = BytesMut::from(&frame[..]);
        let decoded = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap().unwrap();
        assert_eq!(decoded, Frame::method(channel, method));
        assert!(buf.is_empty());
    }
}

#[test]
fn from_frame_reads_back_its_own_method_only() {
    for (channel, method, frame) in every_case() {
        let ack = BasicAck::from_frame(&frame).map(|(c, m)| (c, Method::from(m)));
        let nack = BasicNack::from_frame(&frame).map(|(c, m)| (c, Method::from(m)));
        let reject = BasicReject::from_frame(&frame).map(|(c, m)| (c, Method::from(m)));
        let expected = Some((channel, method.clone()));
        match method {
            Method::BasicAck(_) => assert_eq!((ack, nack, reject), (expected, None, None)),
            Method::BasicNack(_) => assert_eq!((ack, nack, reject), (None, expected, None)),
            Method::BasicReject(_) => assert_eq!((ack, nack, reject), (None, None, expected)),
            other => unreachable!("{other:?}"),
        }
    }
}

#[test]
fn from_frame_refuses_any_changed_octet_outside_channel_and_tag() {
    let ack = BasicAck {
        delivery_tag: 7,
        multiple: false,
    };
    let frame = ack.frame(1);
    // The frame type, size, ids, bits (any unused bit) and frame-end.
    for at in [0, 3, 4, 5, 6, 7, 8, 9, 10, 19, 20] {
        for flip in [0x01, 0x02, 0x80] {
            let mut changed = frame;
            changed[at] ^= flip;
            let read = BasicAck::from_frame(&changed);
            if at == 19 && flip == 0x01 {
                // The multiple bit: still an ack.
                assert_eq!(read.map(|(_, m)| m.multiple), Some(true));
            } else {
                assert_eq!(read, None, "octet {at} ^ {flip:#04x}");
            }
        }
    }
    // Channel and tag are the frame's data: any value is an ack.
    let mut changed = frame;
    changed[1] = 0xFF;
    changed[18] = 0xFF;
    assert_eq!(
        BasicAck::from_frame(&changed),
        Some((
            0xFF01,
            BasicAck {
                delivery_tag: 0xFF,
                multiple: false
            }
        ))
    );
}

#[test]
fn from_frame_refuses_unused_bits_as_the_decoder_does() {
    let nack = BasicNack {
        delivery_tag: 1,
        multiple: true,
        requeue: true,
    };
    let mut frame = nack.frame(1);
    assert!(BasicNack::from_frame(&frame).is_some());
    frame[19] |= 0x04;
    assert_eq!(BasicNack::from_frame(&frame), None);
    let mut buf = BytesMut::from(&frame[..]);
    assert!(Frame::decode(&mut buf, DEFAULT_FRAME_MAX).is_err());

    let mut frame = BasicReject {
        delivery_tag: 1,
        requeue: true,
    }
    .frame(1);
    frame[19] |= 0x02;
    assert_eq!(BasicReject::from_frame(&frame), None);
}

#[test]
fn from_frame_refuses_other_lengths() {
    let frame = BasicAck {
        delivery_tag: 1,
        multiple: false,
    }
    .frame(1);
    assert_eq!(BasicAck::from_frame(&frame[..20]), None);
    assert_eq!(BasicAck::from_frame(&[]), None);
    let mut longer = frame.to_vec();
    longer.push(FRAME_END);
    assert_eq!(BasicAck::from_frame(&longer), None);
    assert_eq!(BasicAck::from_frame(&longer[1..]), None);
}

#[test]
fn from_frame_refuses_a_body_frame_with_the_same_octets() {
    // Only the frame type tells this body frame from an ack.
    let mut body = vec![amqp_wire::FRAME_BODY, 0, 1, 0, 0, 0, 13];
    body.extend_from_slice(&BasicAck::default().frame(1)[7..20]);
    body.push(FRAME_END);
    assert_eq!(body.len(), ack_frame::FRAME_LEN);
    assert_eq!(BasicAck::from_frame(&body), None);
    body[0] = FRAME_METHOD;
    assert!(BasicAck::from_frame(&body).is_some());
}
