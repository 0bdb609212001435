//! One direction's octets cut into AMQP frames, as the peer would, and
//! finding the way back to a frame boundary when octets are missing (a
//! capture that starts mid-connection, a gap, a malformed frame).

use bytes::BytesMut;

use crate::constants::{
    FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEADER_LEN, FRAME_HEARTBEAT, FRAME_METHOD,
    FRAME_OVERHEAD,
};
use crate::frame::{Frame, ProtocolHeader};
use crate::method::Method;

use super::{Item, Note};

/// The largest frame a resynchronisation will wait to see whole before
/// trusting a candidate boundary: a false candidate could announce up to
/// frame_max octets, and every octet after it would wait with it.
const RESYNC_FRAME_MAX: u32 = 1 << 20;

/// Where we are in the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// At the start of the stream: a protocol header may come first.
    Start,
    /// At a frame boundary.
    Boundary,
    /// Looking for a frame boundary; `skipped` octets dropped so far.
    Lost { skipped: u64 },
}

/// Frames out of one direction's stream.
pub(crate) struct Framing {
    place: Place,
    /// Octets not decoded yet.
    buf: BytesMut,
    /// While `Lost`: offsets in `buf` before this are known not to start a frame.
    scanned: usize,
    frame_max: u32,
}

impl Framing {
    /// A stream seen from its first octet.
    pub(crate) fn new(frame_max: u32) -> Self {
        Self {
            place: Place::Start,
            buf: BytesMut::new(),
            scanned: 0,
            frame_max,
        }
    }

    /// The stream is seen from the middle: the first octets may be the end
    /// of a frame.
    pub(crate) fn starts_mid_stream(&mut self) {
        self.place = Place::Lost { skipped: 0 };
    }

    /// The frame_max in force from now on (from connection.tune-ok; 0 for
    /// no limit).
    pub(crate) fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    /// The next octets of the stream.
    pub(crate) fn data(&mut self, octets: &[u8], out: &mut Vec<Item>) {
        self.buf.extend_from_slice(octets);
        self.drain(out);
    }

    /// `missing` octets the capture does not have: a partial frame before
    /// them is lost, and the next frame boundary must be found.
    pub(crate) fn gap(&mut self, missing: u64, out: &mut Vec<Item>) {
        out.push(Item::Note(Note::Gap { missing }));
        let skipped = match self.place {
            Place::Lost { skipped } => skipped,
            Place::Start | Place::Boundary => 0,
        };
        self.lose(skipped + self.buf.len() as u64);
    }

    /// The stream ends: a partial frame left is said.
    pub(crate) fn finish(&mut self, out: &mut Vec<Item>) {
        if !self.buf.is_empty() {
            out.push(Item::Note(Note::Unfinished {
                octets: self.buf.len() as u64,
            }));
            self.buf.clear();
        }
    }

    fn lose(&mut self, skipped: u64) {
        self.buf.clear();
        self.scanned = 0;
        self.place = Place::Lost { skipped };
    }

    /// Decodes every whole frame in `buf`.
    fn drain(&mut self, out: &mut Vec<Item>) {
        loop {
            match self.place {
                Place::Start => match ProtocolHeader::decode(&mut self.buf) {
                    Ok(None) => return,
                    Ok(Some(header)) => {
                        out.push(Item::ProtocolHeader(header));
                        self.place = Place::Boundary;
                    }
                    Err(()) => self.place = Place::Boundary,
                },
                Place::Boundary => match Frame::decode(&mut self.buf, self.frame_max) {
                    Ok(Some(frame)) => {
                        // The frames after a tune-ok are held to its frame_max.
                        if let Some(frame_max) = tune_ok_frame_max(&frame) {
                            self.frame_max = frame_max;
                        }
                        out.push(Item::Frame(frame));
                    }
                    Ok(None) => return,
                    Err(error) => {
                        out.push(Item::Note(Note::Malformed { error }));
                        // The octet where the bad frame starts is not one
                        // where a frame starts: look from the next one.
                        self.place = Place::Lost { skipped: 0 };
                        self.scanned = 1;
                    }
                },
                Place::Lost { skipped } => match self.find_boundary() {
                    Some(at) => {
                        let _ = self.buf.split_to(at);
                        let skipped = skipped + at as u64;
                        if skipped > 0 {
                            out.push(Item::Note(Note::Resync { skipped }));
                        }
                        self.place = Place::Boundary;
                    }
                    None => {
                        // Keep only what could still start a frame.
                        let drop = self.scanned.min(self.buf.len());
                        let _ = self.buf.split_to(drop);
                        self.scanned -= drop;
                        self.place = Place::Lost {
                            skipped: skipped + drop as u64,
                        };
                        return;
                    }
                },
            }
        }
    }

    /// The first offset in `buf`, from `scanned` on, where a whole, valid
    /// frame starts; `None` if there is none yet (`scanned` then says how
    /// far none can start).
    fn find_boundary(&mut self) -> Option<usize> {
        let limit = match self.frame_max {
            0 => RESYNC_FRAME_MAX,
            n => n.min(RESYNC_FRAME_MAX),
        };
        while self.scanned < self.buf.len() {
            let at = self.scanned;
            match candidate(&self.buf[at..], limit) {
                Candidate::No => self.scanned += 1,
                Candidate::NotYet => return None,
                Candidate::Yes => return Some(at),
            }
        }
        None
    }
}

enum Candidate {
    No,
    /// Could be a frame: its end is not in yet.
    NotYet,
    Yes,
}

/// Whether `octets` start with a frame: a frame type, a size within
/// `limit`, the frame-end octet where the size says, and a payload that
/// decodes.
fn candidate(octets: &[u8], limit: u32) -> Candidate {
    let Some(head) = octets.get(..FRAME_HEADER_LEN) else {
        return match octets.first() {
            Some(t) if !is_frame_type(*t) => Candidate::No,
            _ => Candidate::NotYet,
        };
    };
    if !is_frame_type(head[0]) {
        return Candidate::No;
    }
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
    if u64::from(size) + FRAME_OVERHEAD as u64 > u64::from(limit) {
        return Candidate::No;
    }
    let total = size as usize + FRAME_OVERHEAD;
    match octets.get(total - 1) {
        None => Candidate::NotYet,
        Some(&FRAME_END) => {
            let mut frame = BytesMut::from(&octets[..total]);
            match Frame::decode(&mut frame, 0) {
                Ok(Some(_)) => Candidate::Yes,
                _ => Candidate::No,
            }
        }
        Some(_) => Candidate::No,
    }
}

/// The frame_max a connection.tune-ok settles.
pub(crate) fn tune_ok_frame_max(frame: &Frame) -> Option<u32> {
    match frame {
        Frame::Method {
            method: Method::ConnectionTuneOk(tune_ok),
            ..
        } => Some(tune_ok.frame_max),
        _ => None,
    }
}

fn is_frame_type(octet: u8) -> bool {
    matches!(
        octet,
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
    )
}
