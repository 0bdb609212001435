//! The fuzz targets' bodies, here so that the normal test suite can run them
//! on a seed corpus with the stable toolchain (`amqp-wire/fuzz` holds the
//! cargo-fuzz shims that call them).

use bytes::{Bytes, BytesMut};

use crate::frame::Frame;

/// Decodes `data` as a frame stream. Must never panic, hang or allocate more
/// than the input announces within frame_max; every frame decoded must
/// re-encode to exactly the octets it came from.
pub fn decode_frames(data: &[u8]) {
    // The first two octets pick a frame_max, so small limits get explored too.
    let (frame_max, data) = match data {
        [a, b, rest @ ..] => (u32::from(u16::from_be_bytes([*a, *b])) * 4, rest),
        _ => return,
    };
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        match Frame::decode(&mut buf, frame_max) {
            Ok(Some(frame)) => {
                let consumed = before.len() - buf.len();
                let mut out = BytesMut::new();
                // A panic here is what the fuzzer reports: a bug to fix.
                frame.encode(&mut out).expect("a decoded frame re-encodes");
                assert_eq!(&out[..], &before[..consumed], "re-encoding {frame:?}");
                let _ = frame.to_string();
                let _ = frame.to_json();
            }
            Ok(None) => {
                assert_eq!(buf, before, "Ok(None) must not consume");
                return;
            }
            Err(e) => {
                let _ = (e.to_string(), e.reply_code());
                return;
            }
        }
    }
}

/// Decodes `data` as a field table; a table that decodes must re-encode to
/// the same octets.
pub fn decode_table(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(table) = crate::field_table::decode_table(&bytes) {
        let mut out = BytesMut::new();
        // A panic here is what the fuzzer reports: a bug to fix.
        crate::field_table::encode_table(&table, &mut out).expect("a decoded table re-encodes");
        assert_eq!(&out[..], data);
    }
}
