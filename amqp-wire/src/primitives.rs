//! The spec's domain types on the wire (section 4.2.5 "AMQP data fields"):
//! a cursor that reads them out of one complete payload, and writers that
//! append them to a `BytesMut`.
//!
//! Payloads are always complete when they get here (the frame was delimited
//! first), so running out of bytes is a syntax error, never "need more".

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::strings::{LongString, ShortString};

/// Reads fields in order from one frame payload, packing consecutive `bit`
/// arguments into shared octets as spec 4.2.5.2 requires.
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    /// The octet holding the current run of bits and the next bit's index.
    bits: Option<(u8, u8)>,
    context: &'static str,
    /// The first error of a [`Reader::keep_going`] read, for
    /// [`Reader::finish`] to return.
    failed: Option<DecodeError>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a Bytes, context: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            bits: None,
            context,
            failed: None,
        }
    }

    /// `read`'s value or, if it fails, a default, the error kept for
    /// [`Reader::finish`] (the first one wins) and the rest of the payload
    /// skipped, so that later reads fail at once. A method's arguments are
    /// read this way, one after the other, and checked once at the end:
    /// with a `?` after each, every method would carry the code that drops
    /// the arguments read so far at each of them (most of the decoder's
    /// size: 31 KiB of machine code against 7 in a size-optimised build).
    pub(crate) fn keep_going<T: Default>(
        &mut self,
        read: fn(&mut Self) -> Result<T, DecodeError>,
    ) -> T {
        match read(self) {
            Ok(value) => value,
            Err(e) => {
                self.fail(e);
                T::default()
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: DecodeError) {
        self.failed.get_or_insert(e);
        self.pos = self.buf.len();
        self.bits = None;
    }

    /// Ends a run of bits: the octet's unused high bits must be zero, or
    /// re-encoding would not give back the same bytes.
    #[inline]
    fn end_bits(&mut self) -> Result<(), DecodeError> {
        if let Some((octet, used)) = self.bits.take() {
            if used < 8 && octet >> used != 0 {
                return Err(DecodeError::ReservedBitsSet {
                    context: self.context,
                    octet,
                });
            }
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.end_bits()?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(DecodeError::Truncated {
                context: self.context,
            })?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn take_bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(n)?;
        Ok(self.buf.slice(start..self.pos))
    }

    /// The next `N` octets, borrowed: the numbers are read straight from
    /// the payload (an `[u8; N]` returned in a `Result` was assembled on the
    /// stack octet by octet and loaded back, a store-forwarding stall).
    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        match self.take(N)?.first_chunk() {
            Some(octets) => Ok(octets),
            // `take` gave exactly N octets.
            None => Err(DecodeError::Truncated {
                context: self.context,
            }),
        }
    }

    pub(crate) fn octet(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn short(&mut self) -> Result<u16, DecodeError> {
        self.array().map(|a| u16::from_be_bytes(*a))
    }
    pub(crate) fn long(&mut self) -> Result<u32, DecodeError> {
        self.array().map(|a| u32::from_be_bytes(*a))
    }
    pub(crate) fn longlong(&mut self) -> Result<u64, DecodeError> {
        self.array().map(|a| u64::from_be_bytes(*a))
    }

    /// The next `bit` argument: bits share an octet, least significant first,
    /// until a non-bit field or the eighth bit.
    pub(crate) fn bit(&mut self) -> Result<bool, DecodeError> {
        let (octet, index) = match self.bits {
            Some((octet, index)) if index < 8 => (octet, index),
            _ => (self.array::<1>()?[0], 0),
        };
        self.bits = Some((octet, index + 1));
        Ok(octet & (1 << index) != 0)
    }

    // The hottest read (a delivery has three): length and bounds checked in
    // one go rather than as two `take`s.
    #[inline]
    pub(crate) fn shortstr(&mut self) -> Result<ShortString, DecodeError> {
        self.end_bits()?;
        let start = self.pos + 1;
        let end = match self.buf.get(self.pos) {
            Some(&len) => start + len as usize,
            None => usize::MAX,
        };
        if end > self.buf.len() {
            return Err(DecodeError::Truncated {
                context: self.context,
            });
        }
        self.pos = end;
        Ok(ShortString::from_wire(self.buf.slice(start..end)))
    }

    pub(crate) fn longstr(&mut self) -> Result<LongString, DecodeError> {
        let len = self.long()? as usize;
        self.take_bytes(len).map(LongString::from)
    }

    /// A `u32` length followed by that many octets, as one slice (tables, arrays).
    pub(crate) fn sized_block(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.long()? as usize;
        self.take_bytes(len)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Fails unless every octet was read: trailing garbage is a syntax
    /// error. Fails first with the error of a [`Reader::keep_going`] read.
    pub(crate) fn finish(&mut self) -> Result<(), DecodeError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.end_bits()?;
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes {
                context: self.context,
                extra,
            }),
        }
    }
}

/// Appends fields in order, packing consecutive bits into shared octets.
pub(crate) struct Writer<'a> {
    pub(crate) dst: &'a mut BytesMut,
    /// Index in `dst` of the octet holding the current run of bits, and the
    /// next bit's index there.
    bits: Option<(usize, u8)>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(dst: &'a mut BytesMut) -> Self {
        Self { dst, bits: None }
    }
    pub(crate) fn octet(&mut self, v: u8) {
        self.bits = None;
        self.dst.put_u8(v);
    }
    pub(crate) fn short(&mut self, v: u16) {
        self.bits = None;
        self.dst.put_u16(v);
    }
    pub(crate) fn long(&mut self, v: u32) {
        self.bits = None;
        self.dst.put_u32(v);
    }
    pub(crate) fn longlong(&mut self, v: u64) {
        self.bits = None;
        self.dst.put_u64(v);
    }
    pub(crate) fn bit(&mut self, v: bool) {
        let (at, index) = match self.bits {
            Some((at, index)) if index < 8 => (at, index),
            _ => {
                self.dst.put_u8(0);
                (self.dst.len() - 1, 0)
            }
        };
        if v {
            self.dst[at] |= 1 << index;
        }
        self.bits = Some((at, index + 1));
    }
    pub(crate) fn shortstr(&mut self, v: &ShortString) -> Result<(), EncodeError> {
        let len = u8::try_from(v.len()).map_err(|_| EncodeError::ShortStringTooLong(v.len()))?;
        self.octet(len);
        self.dst.put_slice(v.as_bytes());
        Ok(())
    }
    pub(crate) fn longstr(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        let len = u32::try_from(v.len()).map_err(|_| EncodeError::TooLong(v.len()))?;
        self.long(len);
        self.dst.put_slice(v);
        Ok(())
    }

    /// Appends a `u32` length prefix covering whatever `body` writes.
    pub(crate) fn sized_block(
        &mut self,
        body: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.long(0);
        let start = self.dst.len();
        body(&mut Writer::new(self.dst))?;
        patch_len_u32(self.dst, start)
    }
}

/// Fills the `u32` placeholder just before `start` with the number of octets
/// written since `start`.
pub(crate) fn patch_len_u32(dst: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    let len = dst.len() - start;
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    dst[start - 4..start].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// Runs `encode` on `dst`, and on error truncates `dst` back to where it was,
/// so a failed encode never leaves half a frame behind.
pub(crate) fn atomically(
    dst: &mut BytesMut,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let mark = dst.len();
    encode(dst).inspect_err(|_| dst.truncate(mark))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_share_octets_and_restart_after_eight_or_a_non_bit_field() {
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        for i in 0..9 {
            w.bit(i % 2 == 0);
        }
        w.octet(0x77);
        w.bit(true);
        assert_eq!(&out[..], &[0b0101_0101, 0b1, 0x77, 0b1]);

        let bytes = out.freeze();
        let mut r = Reader::new(&bytes, "test");
        for i in 0..9 {
            assert_eq!(r.bit().unwrap(), i % 2 == 0);
        }
        assert_eq!(r.octet().unwrap(), 0x77);
        assert!(r.bit().unwrap());
        r.finish().unwrap();
    }

    #[test]
    fn keep_going_reports_the_first_failure_at_finish() {
        // A short string of 9 octets announced, 2 present, then nothing.
        let bytes = Bytes::from_static(&[0, 7, 9, b'a', b'b']);
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.keep_going(Reader::short), 7);
        assert_eq!(r.keep_going(Reader::shortstr), ShortString::default());
        // Later reads fail at once and change nothing.
        assert!(!r.keep_going(Reader::bit));
        assert_eq!(r.keep_going(Reader::longlong), 0);
        assert_eq!(r.finish(), Err(DecodeError::Truncated { context: "test" }));

        // Reserved bits set is reported where it happens, not overtaken.
        let bytes = Bytes::from_static(&[0b110, 1]);
        let mut r = Reader::new(&bytes, "bits");
        assert!(!r.keep_going(Reader::bit));
        assert_eq!(r.keep_going(Reader::octet), 0);
        assert_eq!(
            r.finish(),
            Err(DecodeError::ReservedBitsSet {
                context: "bits",
                octet: 0b110
            })
        );
    }

    #[test]
    fn reading_past_the_end_is_truncated_not_a_panic() {
        let bytes = Bytes::from_static(&[0, 0, 0, 9, 1]);
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.longstr(), Err(DecodeError::Truncated { context: "test" }));
    }

    #[test]
    fn shortstr_over_255_octets_is_refused_and_buffer_left_intact() {
        let mut out = BytesMut::from(&b"keep"[..]);
        let long = ShortString::from("x".repeat(256));
        let result = atomically(&mut out, |dst| Writer::new(dst).shortstr(&long));
        assert_eq!(result, Err(EncodeError::ShortStringTooLong(256)));
        assert_eq!(&out[..], b"keep");
    }
}
