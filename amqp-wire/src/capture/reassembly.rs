//! One direction of a TCP connection put back in order: segments by
//! sequence number, retransmitted octets dropped, early segments held until
//! the octets before them come, and octets the capture never got reported
//! as a gap.

use std::collections::BTreeMap;

use bytes::Bytes;

/// The most out-of-order octets held for one direction. A capture that
/// lost a segment for good would otherwise make us hold everything after
/// it; past this we stop waiting and report the gap.
pub const MAX_HELD: usize = 4 << 20;

/// What comes out of the reassembly, in stream order.
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// The next octets of the stream.
    Data(Bytes),
    /// Octets of the stream the capture does not have.
    Gap(u64),
}

/// A segment that came before its turn: its captured payload, and how many
/// octets after it the capture cut off.
struct Held {
    payload: Bytes,
    cut_off: usize,
}

/// One direction's stream. Offsets count octets from the first one we
/// know (after the SYN, or the first segment seen); sequence numbers wrap
/// at 2^32, offsets don't.
#[derive(Default)]
pub(crate) struct Reassembly {
    /// The sequence number of offset 0; `None` before any segment.
    base: Option<u32>,
    /// Offset of the next octet to deliver.
    next: u64,
    /// Segments that came before their turn, by offset.
    held: BTreeMap<u64, Held>,
    /// Captured octets in `held`: what [`MAX_HELD`] bounds.
    held_octets: usize,
}

impl Reassembly {
    /// True until the first segment.
    pub(crate) fn is_fresh(&self) -> bool {
        self.base.is_none()
    }

    /// Takes one segment: `seq` its sequence number, `syn` whether it is a
    /// SYN (which takes one sequence number before the data), `payload` the
    /// captured data and `cut_off` the data octets after it that the capture
    /// did not keep.
    pub(crate) fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        payload: Bytes,
        cut_off: usize,
        out: &mut Vec<Piece>,
    ) {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        self.base.get_or_insert(data_seq);
        let len = payload.len() as i64 + cut_off as i64;
        if len == 0 {
            return;
        }
        let offset = self.offset_of(data_seq);
        let next = self.next as i64;
        if offset + len <= next {
            // All of it delivered already: a retransmission.
        } else if offset <= next {
            // Starts at or before the next octet: deliver from there on.
            self.deliver(payload, (next - offset) as usize, cut_off, out);
            self.release(out);
        } else {
            self.hold(offset as u64, payload, cut_off, out);
        }
    }

    /// The peer acknowledged every octet before sequence number `ack`: if
    /// that covers octets we never saw, the capture lost them (the peer did
    /// not), so segments held behind them need not wait any longer.
    pub(crate) fn acknowledged(&mut self, ack: u32, out: &mut Vec<Piece>) {
        if self.base.is_none() {
            return;
        }
        let acked = self.offset_of(ack);
        while self
            .held
            .first_key_value()
            .is_some_and(|(&first, _)| first as i64 <= acked)
        {
            self.skip_to_held(out);
        }
    }

    /// At the end of the stream (FIN, RST, end of capture): whatever is held
    /// is delivered, with the gaps before it.
    pub(crate) fn finish(&mut self, out: &mut Vec<Piece>) {
        while self.skip_to_held(out) {}
    }

    /// The stream offset of sequence number `seq`: where it falls within
    /// 2^31 either way of the next octet we expect.
    fn offset_of(&self, seq: u32) -> i64 {
        let next_seq = self.base.unwrap_or(seq).wrapping_add(self.next as u32);
        self.next as i64 + i64::from(seq.wrapping_sub(next_seq) as i32)
    }

    /// Delivers `payload`, then `cut_off` missing octets, less the first
    /// `skip` octets of the two, which were delivered already.
    fn deliver(&mut self, payload: Bytes, skip: usize, cut_off: usize, out: &mut Vec<Piece>) {
        if skip < payload.len() {
            let data = payload.slice(skip..);
            self.next += data.len() as u64;
            out.push(Piece::Data(data));
        }
        let missing = (payload.len() + cut_off).saturating_sub(skip.max(payload.len()));
        if missing > 0 {
            self.next += missing as u64;
            out.push(Piece::Gap(missing as u64));
        }
    }

    /// Delivers the held segments that are now next in line.
    fn release(&mut self, out: &mut Vec<Piece>) {
        while let Some(entry) = self.held.first_entry() {
            let offset = *entry.key();
            if offset > self.next {
                break;
            }
            let held = entry.remove();
            self.held_octets -= held.payload.len();
            let skip = (self.next - offset) as usize;
            if skip < held.payload.len() + held.cut_off {
                self.deliver(held.payload, skip, held.cut_off, out);
            }
        }
    }

    /// Gives up on the octets missing before the earliest held segment:
    /// reports them as a gap and delivers what follows. False when nothing
    /// is held.
    fn skip_to_held(&mut self, out: &mut Vec<Piece>) -> bool {
        let Some((&first, _)) = self.held.first_key_value() else {
            return false;
        };
        out.push(Piece::Gap(first - self.next));
        self.next = first;
        self.release(out);
        true
    }

    /// Holds a segment that came before its turn, keeping the longer one of
    /// two at the same offset; past [`MAX_HELD`] octets, stops waiting.
    fn hold(&mut self, offset: u64, payload: Bytes, cut_off: usize, out: &mut Vec<Piece>) {
        if let Some(held) = self.held.get(&offset) {
            if held.payload.len() + held.cut_off >= payload.len() + cut_off {
                return; // a retransmission of what is held
            }
            self.held_octets -= held.payload.len();
        }
        self.held_octets += payload.len();
        self.held.insert(offset, Held { payload, cut_off });
        while self.held_octets > MAX_HELD && self.skip_to_held(out) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pieces: &[Piece]) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in pieces {
            if let Piece::Data(d) = piece {
                out.extend_from_slice(d);
            }
        }
        out
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut r = Reassembly::default();
        let mut out = Vec::new();
        r.segment(u32::MAX - 2, false, Bytes::from_static(b"abc"), 0, &mut out);
        r.segment(0, false, Bytes::from_static(b"def"), 0, &mut out);
        assert_eq!(data(&out), b"abcdef");
    }

    #[test]
    fn held_octets_are_bounded_and_the_gap_is_given_up_on() {
        let mut r = Reassembly::default();
        let mut out = Vec::new();
        r.segment(1000, false, Bytes::from_static(b"x"), 0, &mut out);
        // Octet 1001 never comes; 64 KiB segments after it pile up.
        let chunk = Bytes::from(vec![7u8; 64 * 1024]);
        let mut seq = 1002u32;
        while out.len() == 1 {
            r.segment(seq, false, chunk.clone(), 0, &mut out);
            seq += chunk.len() as u32;
            assert!(r.held_octets <= MAX_HELD);
        }
        assert_eq!(out[1], Piece::Gap(1));
        assert_eq!(data(&out).len() as u32, 1 + (seq - 1002));
    }

    #[test]
    fn an_acknowledgement_past_a_hole_ends_the_wait() {
        let mut r = Reassembly::default();
        let mut out = Vec::new();
        r.segment(10, false, Bytes::from_static(b"ab"), 0, &mut out);
        r.segment(15, false, Bytes::from_static(b"fg"), 0, &mut out);
        r.acknowledged(14, &mut out); // not past the hole's end: still waits
        assert_eq!(out.len(), 1);
        r.acknowledged(17, &mut out);
        assert_eq!(
            out[1..],
            [Piece::Gap(3), Piece::Data(Bytes::from_static(b"fg"))]
        );
    }
}
