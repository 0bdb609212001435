//! The queue of bytes waiting to be written: small frames are encoded into
//! one growing buffer so they leave in as few writes as possible; large
//! bodies are kept as the caller's `Bytes` and handed to `writev` uncopied.

use std::collections::VecDeque;
use std::io::IoSlice;

use amqp_wire::{ack_frame, BasicAck};
use bytes::{Buf, Bytes, BytesMut};

/// An empty write buffer larger than this is given back.
const TAIL_KEPT: usize = 256 * 1024;

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
    /// Where in `tail` the last write began (the mark given to
    /// [`OutQueue::write`]), while all of it is still there. [`OutQueue::fold_ack`]
    /// rewrites only a frame that starts at such a boundary: the last 21
    /// octets of a small message body may look just like an ack.
    last_write_at: Option<usize>,
}

impl OutQueue {
    pub(crate) fn new(mirror: bool) -> Self {
        Self {
            mirror: mirror.then(BytesMut::new),
            ..Self::default()
        }
    }

    /// The one way to encode frames into the queue: `encode` appends one
    /// write (whole frames, or the fixed parts around a body queued with
    /// [`OutQueue::push_bytes`]) to the buffer. What it wrote is shown to
    /// the frame tap and marks the boundary [`OutQueue::fold_ack`] needs, so
    /// no write site can forget either; if it fails, what it wrote is taken
    /// back.
    pub(crate) fn write<E>(
        &mut self,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<(), E> {
        let mark = self.tail.len();
        let written = encode(&mut self.tail);
        match written {
            Ok(()) => {
                self.last_write_at = Some(mark);
                if let Some(mirror) = &mut self.mirror {
                    mirror.extend_from_slice(&self.tail[mark..]);
                }
            }
            Err(_) => self.tail.truncate(mark),
        }
        written
    }

    /// [`OutQueue::write`] for an encoding that cannot fail.
    pub(crate) fn write_infallible(&mut self, encode: impl FnOnce(&mut BytesMut)) {
        let written: Result<(), std::convert::Infallible> = self.write(|buf| {
            encode(buf);
            Ok(())
        });
        let Ok(()) = written;
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
        self.last_write_at = None;
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
                    let n = n.min(self.tail.len());
                    self.tail.advance(n);
                    if self.tail.is_empty() && self.tail.capacity() > TAIL_KEPT {
                        // After a burst: an idle connection keeps little.
                        self.tail = BytesMut::new();
                        self.last_write_at = None;
                        return;
                    }
                    // A write that has begun to leave can no longer change.
                    self.last_write_at = self.last_write_at.and_then(|at| at.checked_sub(n));
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
        if self.mirror.is_some() {
            return false;
        }
        let Some(at) = self
            .last_write_at
            .filter(|&at| self.tail.len().checked_sub(at) == Some(ack_frame::FRAME_LEN))
        else {
            return false;
        };
        let last = &mut self.tail[at..];
        match BasicAck::from_frame(last) {
            Some((on, ack)) if on == channel && ack.delivery_tag < delivery_tag => {
                let multiple = BasicAck {
                    delivery_tag,
                    multiple: true,
                };
                last.copy_from_slice(&multiple.frame(channel));
                true
            }
            _ => false,
        }
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
        q.write_infallible(|buf| buf.extend_from_slice(b"ab"));
        q.push_bytes(Bytes::from_static(b"cdef"));
        q.write_infallible(|buf| buf.extend_from_slice(b"gh"));
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

    /// Queues `frame` as one write, as the core does.
    fn write(q: &mut OutQueue, frame: &[u8]) {
        q.write_infallible(|buf| buf.extend_from_slice(frame));
    }

    #[test]
    fn a_failed_write_takes_back_what_it_wrote_and_the_tap_never_sees_it() {
        let mut q = OutQueue::new(true);
        write(&mut q, b"kept");
        let failed: Result<(), ()> = q.write(|buf| {
            buf.extend_from_slice(b"half a frame");
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(q.tail, b"kept"[..]);
        assert_eq!(q.take_mirror().as_deref(), Some(&b"kept"[..]));
    }

    fn ack(delivery_tag: u64, multiple: bool) -> [u8; ack_frame::FRAME_LEN] {
        BasicAck {
            delivery_tag,
            multiple,
        }
        .frame(1)
    }

    #[test]
    fn an_ack_folds_into_the_ack_queued_just_before_it() {
        let mut q = OutQueue::new(false);
        write(&mut q, b"earlier frames");
        write(&mut q, &ack(3, false));
        assert!(q.fold_ack(1, 5));
        assert!(q.fold_ack(1, 6));
        let mut expected = b"earlier frames".to_vec();
        expected.extend_from_slice(&ack(6, true));
        assert_eq!(q.tail[..], expected[..]);
    }

    #[test]
    fn an_ack_does_not_fold_into_another_channel_a_later_tag_or_a_nack() {
        let mut q = OutQueue::new(false);
        write(&mut q, &ack(3, false));
        assert!(!q.fold_ack(2, 5), "other channel");
        assert!(!q.fold_ack(1, 3), "same tag");
        assert!(!q.fold_ack(1, 2), "lower tag");
        let nack = amqp_wire::BasicNack {
            delivery_tag: 3,
            multiple: false,
            requeue: true,
        }
        .frame(1);
        write(&mut q, &nack);
        assert!(!q.fold_ack(1, 5), "nack");
        assert_eq!(q.len(), 2 * ack_frame::FRAME_LEN);
    }

    #[test]
    fn message_body_octets_that_look_like_an_ack_are_left_alone() {
        // A body frame whose last 20 octets spell a basic.ack of tag 3:
        // only its own frame-end completes the look-alike.
        let lookalike = ack(3, false);
        let mut body_frame = vec![amqp_wire::FRAME_BODY, 0, 1, 0, 0, 0, 22, b'x', b'y'];
        body_frame.extend_from_slice(&lookalike[..ack_frame::FRAME_LEN - 1]);
        body_frame.push(amqp_wire::FRAME_END);
        let mut q = OutQueue::new(false);
        write(&mut q, &body_frame);
        assert_eq!(q.tail[body_frame.len() - ack_frame::FRAME_LEN..], lookalike);
        assert!(!q.fold_ack(1, 5));
        assert_eq!(q.tail[..], body_frame[..]);
    }

    #[test]
    fn an_ack_that_began_to_leave_is_not_rewritten() {
        let mut q = OutQueue::new(false);
        write(&mut q, &ack(3, false));
        q.advance(1);
        assert!(!q.fold_ack(1, 5));

        let mut q = OutQueue::new(false);
        write(&mut q, b"xy");
        write(&mut q, &ack(3, false));
        q.advance(2);
        assert!(q.fold_ack(1, 5), "only the frames before it left");
    }

    #[test]
    fn acks_do_not_fold_while_a_frame_tap_is_on() {
        let mut q = OutQueue::new(true);
        write(&mut q, &ack(3, false));
        assert!(!q.fold_ack(1, 5));
    }
}
