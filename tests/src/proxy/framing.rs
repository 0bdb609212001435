//! Finding the pieces of one direction's octet stream: the protocol header, whole frames
//! (delimited by their 7-octet header and checked by amqp-wire), and what cannot be delimited.
//!
//! The proxy forwards the original octets of each piece; decoding is only for the event log and
//! the rules. So the decoder accepts any frame size (frame_max 0): the proxy must never refuse
//! what the peers accept.

use amqp_wire::{Frame, ProtocolHeader, FRAME_HEADER_LEN, FRAME_OVERHEAD, PROTOCOL_HEADER};
use bytes::BytesMut;

/// Frames up to this size (header and end octet included) are buffered whole and decoded; a
/// larger one is passed on as it arrives, undecoded, so that the proxy's buffer stays bounded.
/// RabbitMQ's default frame_max is 128 KiB.
pub(super) const MAX_BUFFERED_FRAME: usize = 4 << 20;

/// What the next octets of the stream are.
#[derive(Debug)]
pub(super) enum PieceKind {
    /// A protocol header.
    Header(ProtocolHeader),
    /// A whole frame that amqp-wire decoded.
    Frame(Frame),
    /// Octets amqp-wire cannot decode, `octets` long in all (more than this piece when a frame
    /// too large to buffer starts here).
    Undecodable { octets: u64, error: String },
    /// The continuation of something already reported: passed on, not logged again.
    Continuation,
}

/// The next piece: its kind and how many octets of the buffer it takes.
#[derive(Debug)]
pub(super) struct Piece {
    pub(super) kind: PieceKind,
    pub(super) len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing seen yet: a protocol header may come first.
    Start,
    /// At a frame boundary.
    Frames,
    /// Inside a frame too large to buffer, with this many octets still to come.
    Passthrough { remaining: u64 },
    /// Frames cannot be delimited any more: everything goes through as it comes.
    Raw,
}

/// Splits one direction's stream into pieces.
#[derive(Debug)]
pub(super) struct Framer {
    state: State,
}

impl Framer {
    pub(super) fn new() -> Self {
        Self {
            state: State::Start,
        }
    }

    /// The piece at the front of `buf`, or `None` until more octets arrive.
    pub(super) fn next_piece(&mut self, buf: &[u8]) -> Option<Piece> {
        if buf.is_empty() {
            return None;
        }
        match self.state {
            State::Start => {
                if buf[0] != PROTOCOL_HEADER[0] {
                    self.state = State::Frames;
                    return self.next_piece(buf);
                }
                let n = buf.len().min(4);
                if buf[..n] != PROTOCOL_HEADER[..n] {
                    return Some(self.lose_framing(
                        buf,
                        "the stream starts with neither a protocol header nor a frame",
                    ));
                }
                let mut header = BytesMut::from(buf.get(..PROTOCOL_HEADER.len())?);
                let header = ProtocolHeader::decode(&mut header).ok()??;
                self.state = State::Frames;
                Some(Piece {
                    kind: PieceKind::Header(header),
                    len: PROTOCOL_HEADER.len(),
                })
            }
            State::Frames => self.next_frame(buf),
            State::Passthrough { remaining } => {
                let len = buf
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let remaining = remaining - len as u64;
                self.state = if remaining == 0 {
                    State::Frames
                } else {
                    State::Passthrough { remaining }
                };
                Some(Piece {
                    kind: PieceKind::Continuation,
                    len,
                })
            }
            State::Raw => Some(Piece {
                kind: PieceKind::Continuation,
                len: buf.len(),
            }),
        }
    }

    fn next_frame(&mut self, buf: &[u8]) -> Option<Piece> {
        let head = buf.get(..FRAME_HEADER_LEN)?;
        if !matches!(
            head[0],
            amqp_wire::FRAME_METHOD
                | amqp_wire::FRAME_HEADER
                | amqp_wire::FRAME_BODY
                | amqp_wire::FRAME_HEARTBEAT
        ) {
            let error = format!(
                "unknown frame type {}: frames can no longer be delimited",
                head[0]
            );
            return Some(self.lose_framing(buf, &error));
        }
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
        let total = u64::from(size) + FRAME_OVERHEAD as u64;
        if total > MAX_BUFFERED_FRAME as u64 {
            let len = buf.len().min(total as usize);
            self.state = State::Passthrough {
                remaining: total - len as u64,
            };
            return Some(Piece {
                kind: PieceKind::Undecodable {
                    octets: total,
                    error: format!(
                        "a frame of {total} octets, too large for the proxy to buffer: passed on undecoded"
                    ),
                },
                len,
            });
        }
        let total = total as usize;
        let octets = buf.get(..total)?;
        let kind = match Frame::decode(&mut BytesMut::from(octets), 0) {
            Ok(Some(frame)) => PieceKind::Frame(frame),
            Ok(None) => PieceKind::Undecodable {
                octets: total as u64,
                error: "amqp-wire found the frame incomplete".into(),
            },
            Err(e) => PieceKind::Undecodable {
                octets: total as u64,
                error: e.to_string(),
            },
        };
        Some(Piece { kind, len: total })
    }

    /// From now on everything is passed on raw; this piece reports why.
    fn lose_framing(&mut self, buf: &[u8], error: &str) -> Piece {
        self.state = State::Raw;
        Piece {
            kind: PieceKind::Undecodable {
                octets: buf.len() as u64,
                error: format!("{error}; the rest of this direction is passed on raw"),
            },
            len: buf.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_wire::{BasicAck, FRAME_END};

    fn pieces(framer: &mut Framer, mut buf: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while let Some(piece) = framer.next_piece(buf) {
            buf = &buf[piece.len..];
            out.push(piece);
        }
        out
    }

    fn ack_frame() -> Vec<u8> {
        let mut buf = BytesMut::new();
        Frame::method(
            1,
            BasicAck {
                delivery_tag: 1,
                multiple: false,
            },
        )
        .encode(&mut buf)
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn header_then_frames_then_a_partial_frame() {
        let mut input = PROTOCOL_HEADER.to_vec();
        input.extend(ack_frame());
        input.extend(&ack_frame()[..5]);
        let got = pieces(&mut Framer::new(), &input);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(got[0].kind, PieceKind::Header(h) if h.is_0_9_1()));
        assert!(matches!(got[1].kind, PieceKind::Frame(_)), "{got:?}");
        assert_eq!(got[1].len, ack_frame().len());
    }

    #[test]
    fn a_partial_protocol_header_waits() {
        let mut framer = Framer::new();
        assert!(framer.next_piece(b"AMQP\0").is_none());
        assert!(matches!(
            framer.next_piece(&PROTOCOL_HEADER).map(|p| p.kind),
            Some(PieceKind::Header(_))
        ));
    }

    #[test]
    fn a_bad_frame_end_is_undecodable_but_delimited() {
        let mut bad = ack_frame();
        *bad.last_mut().unwrap() = 0;
        bad.extend(ack_frame());
        let got = pieces(&mut Framer::new(), &bad);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            matches!(&got[0].kind, PieceKind::Undecodable { error, .. } if error.contains("frame end")),
            "{got:?}"
        );
        assert!(matches!(got[1].kind, PieceKind::Frame(_)));
    }

    #[test]
    fn an_unknown_frame_type_turns_the_rest_raw() {
        let mut framer = Framer::new();
        let got = pieces(&mut framer, &[9, 0, 0, 0, 0, 0, 0, FRAME_END, 1, 2]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len, 10);
        let later = pieces(&mut framer, &ack_frame());
        assert!(matches!(later[0].kind, PieceKind::Continuation));
    }

    #[test]
    fn a_huge_frame_is_passed_through_as_it_comes() {
        let size = MAX_BUFFERED_FRAME as u32;
        let mut framer = Framer::new();
        let mut head = vec![3, 0, 1];
        head.extend(size.to_be_bytes());
        head.extend([0; 100]);
        let got = pieces(&mut framer, &head);
        assert_eq!(got.len(), 1);
        assert!(
            matches!(got[0].kind, PieceKind::Undecodable { octets, .. } if octets == u64::from(size) + 8)
        );
        let rest = vec![0u8; size as usize + 8 - head.len()];
        let mut tail = rest.clone();
        tail.extend(ack_frame());
        let got = pieces(&mut framer, &tail);
        assert!(matches!(got[0].kind, PieceKind::Continuation));
        assert_eq!(got[0].len, rest.len());
        assert!(matches!(got[1].kind, PieceKind::Frame(_)), "{got:?}");
    }
}
