//! The queue of bytes waiting to be written: small frames are encoded into
//! one growing buffer so they leave in as few writes as possible; large
//! bodies are kept as the caller's `Bytes` and handed to `writev` uncopied.

use std::collections::VecDeque;
use std::io::IoSlice;

use amqp_wire::{BasicAck, FRAME_END, FRAME_METHOD};
use bytes::{Buf, Bytes, BytesMut};

/// Bodies at least this large are queued by reference, not copied.
pub(crate) const ZERO_COPY_MIN: usize = 16 * 1024;

#[derive(Default)]
pub(crate) struct OutQueue {
    /// Finished segments, in order, before `tail`.
    chunks: VecDeque<Bytes>,
    /// Where new frames are encoded.
    tail: BytesMut,
    /// A copy of everything queued, kept only while a frame tap is on.
    mirror: Option<BytesMut>,
}

impl OutQueue {
    pub(crate) fn new(mirror: bool) -> Self {
        Self {
            mirror: mirror.then(BytesMut::new),
            ..Self::default()
        }
    }

    /// The buffer to encode frames into; call [`OutQueue::mirror_from`] with
    /// the length it had before, once the frames are in.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    pub(crate) fn mirror_from(&mut self, mark: usize) {
        if let Some(mirror) = &mut self.mirror {
            mirror.extend_from_slice(&self.tail[mark..]);
        }
    }

    /// Queues `bytes` without copying them.
    pub(crate) fn push_bytes(&mut self, bytes: Bytes) {
        if let Some(mirror) = &mut self.mirror {
            mirror.extend_from_slice(&bytes);
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.push_back(bytes);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.tail.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum::<usize>() + self.tail.len()
    }

    /// Fills `slices` with what to write next; returns how many were filled.
    pub(crate) fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let parts = self
            .chunks
            .iter()
            .map(|c| &c[..])
            .chain(std::iter::once(&self.tail[..]))
            .filter(|c| !c.is_empty());
        let mut n = 0;
        for (slot, part) in slices.iter_mut().zip(parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }

    /// Drops the first `n` octets, which were written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= n => {
                    n -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n.min(self.tail.len()));
                    return;
                }
            }
        }
    }

    /// Turns the basic.ack frame (60/80) on `channel` that ends the
    /// unwritten tail, if one does, into an ack of every delivery up to
    /// `delivery_tag` (multiple set), and says whether it did. The caller
    /// knows no delivery between the two tags is left unsettled, so one
    /// frame says what two would: acks handed to the driver together reach
    /// the broker as one. Never with a frame tap on, which must see the frames
    /// as first queued.
    pub(crate) fn fold_ack(&mut self, channel: u16, delivery_tag: u64) -> bool {
        const LEN: usize = 21;
        if self.mirror.is_some() || self.tail.len() < LEN {
            return false;
        }
        let at = self.tail.len() - LEN;
        let frame = &mut self.tail[at..];
        let mut head = [0u8; 11];
        head[0] = FRAME_METHOD;
        head[1..3].copy_from_slice(&channel.to_be_bytes());
        head[3..7].copy_from_slice(&13u32.to_be_bytes());
        head[7..9].copy_from_slice(&BasicAck::CLASS_ID.to_be_bytes());
        head[9..11].copy_from_slice(&BasicAck::METHOD_ID.to_be_bytes());
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&frame[11..19]);
        if frame[..11] != head || frame[20] != FRAME_END || u64::from_be_bytes(tag) >= delivery_tag
        {
            return false;
        }
        frame[11..19].copy_from_slice(&delivery_tag.to_be_bytes());
        frame[19] = 1; // multiple
        true
    }

    /// Everything queued since the last call, for the frame tap.
    pub(crate) fn take_mirror(&mut self) -> Option<BytesMut> {
        self.mirror.as_mut().map(BytesMut::split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_tail_leave_in_order_and_partial_writes_resume() {
        let mut q = OutQueue::new(true);
        q.tail().extend_from_slice(b"ab");
        q.push_bytes(Bytes::from_static(b"cdef"));
        q.tail().extend_from_slice(b"gh");
        assert_eq!(q.len(), 8);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(joined, b"abcdefgh");
        q.advance(3);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(joined, b"defgh");
        q.advance(5);
        assert!(q.is_empty());
    }
}
