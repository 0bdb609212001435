//! The TCP connections of a capture: which side is the client, and each
//! direction's reassembly and framing, from first segment to close.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::PROTOCOL_HEADER;

use super::framing::{tune_ok_frame_max, Framing};
use super::link::Segment;
use super::reassembly::{Piece, Reassembly};
use super::{CapturedFrame, Connection, Direction, Item, Note, ServerBy};

/// The ports IANA gave AMQP (5672) and AMQP over TLS (5671).
const AMQP_PORTS: [u16; 2] = [5672, 5671];

/// A connection's two endpoints, in a fixed order whichever sent the packet.
type Key = (SocketAddr, SocketAddr);

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// One direction of a connection.
struct Half {
    reassembly: Reassembly,
    framing: Framing,
    /// A FIN was seen: no data after it.
    fin: bool,
}

impl Half {
    fn new(frame_max: u32) -> Self {
        Self {
            reassembly: Reassembly::default(),
            framing: Framing::new(frame_max),
            fin: false,
        }
    }

    /// Passes what the reassembly delivered on to the framing; what comes
    /// out goes to `out`, as going `direction`.
    fn feed(&mut self, pieces: Vec<Piece>, direction: Direction, out: &mut Vec<(Direction, Item)>) {
        let mut items = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Data(data) => self.framing.data(&data, &mut items),
                Piece::Gap(missing) => self.framing.gap(missing, &mut items),
            }
        }
        out.extend(items.into_iter().map(|item| (direction, item)));
    }
}

/// A connection being followed.
struct Tracked {
    /// In order of first appearance, so that the end of the capture closes
    /// them in a stable order.
    id: u64,
    connection: Connection,
    /// Indexed by [`Direction::index`].
    halves: [Half; 2],
    /// The client's initial sequence number, when its SYN was seen: a SYN
    /// with another one on the same addresses is a new connection.
    client_isn: Option<u32>,
}

impl Tracked {
    /// Takes one of this connection's segments: its data goes through its
    /// direction's reassembly and framing, its acknowledgement may end the
    /// wait for octets the capture lost the other way.
    fn segment(&mut self, segment: Segment) -> Vec<(Direction, Item)> {
        let direction = if segment.src == self.connection.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        if segment.syn && !segment.ack {
            self.client_isn = Some(segment.seq);
        }
        let mut out = Vec::new();
        if segment.ack {
            let peer = &mut self.halves[direction.reverse().index()];
            let mut pieces = Vec::new();
            peer.reassembly
                .acknowledged(segment.ack_number, &mut pieces);
            peer.feed(pieces, direction.reverse(), &mut out);
        }
        let half = &mut self.halves[direction.index()];
        if half.reassembly.is_fresh() && !segment.syn && !starts_with_protocol_header(&segment) {
            half.framing.starts_mid_stream();
        }
        let mut pieces = Vec::new();
        half.reassembly.segment(
            segment.seq,
            segment.syn,
            segment.payload,
            segment.cut_off,
            &mut pieces,
        );
        half.feed(pieces, direction, &mut out);
        half.fin |= segment.fin;
        // A tune-ok settles frame_max for the other direction too.
        for (from, item) in &out {
            if let Some(frame_max) = match item {
                Item::Frame(frame) => tune_ok_frame_max(frame),
                _ => None,
            } {
                self.halves[from.reverse().index()]
                    .framing
                    .set_frame_max(frame_max);
            }
        }
        out
    }
}

/// Every connection of the capture so far.
pub(crate) struct Connections {
    open: HashMap<Key, Tracked>,
    next_id: u64,
    frame_max: u32,
}

/// When and where the items come from, to stamp them.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    pub time: Duration,
    pub packet: u64,
}

impl Connections {
    /// `frame_max`: the largest frame accepted until a connection.tune-ok
    /// says otherwise.
    pub(crate) fn new(frame_max: u32) -> Self {
        Self {
            open: HashMap::new(),
            next_id: 0,
            frame_max,
        }
    }

    /// Takes one segment; what it completes goes to `out`.
    pub(crate) fn segment(&mut self, segment: Segment, stamp: Stamp, out: &mut Vec<CapturedFrame>) {
        let key = key(segment.src, segment.dst);
        let new_client_syn = segment.syn && !segment.ack;
        // A SYN with another initial sequence number than the one seen (or
        // on a connection seen only mid-way) opens a new connection on the
        // same addresses: the old one is over.
        let reused = new_client_syn
            && self
                .open
                .get(&key)
                .is_some_and(|tracked| tracked.client_isn != Some(segment.seq));
        if reused {
            // Cannot fire: `reused` is only true when `get(&key)` found it.
            let tracked = self.open.remove(&key).expect("just seen");
            finish(tracked, stamp, out);
        }
        if !self.open.contains_key(&key) {
            if !segment.syn && segment.payload.is_empty() && segment.cut_off == 0 {
                return; // a bare ACK or FIN of a connection we never saw carry data
            }
            let tracked = self.start(&segment, stamp, out);
            self.open.insert(key, tracked);
        }
        // Cannot fire: the key was there, or was inserted just above.
        let tracked = self.open.get_mut(&key).expect("just inserted");
        let rst = segment.rst;
        for (direction, item) in tracked.segment(segment) {
            out.push(captured(&tracked.connection, direction, stamp, item));
        }
        if rst || tracked.halves.iter().all(|half| half.fin) {
            // Cannot fire: `tracked` came from this key and nothing removed it.
            let tracked = self.open.remove(&key).expect("still open");
            finish(tracked, stamp, out);
        }
    }

    /// The end of the capture: every connection still open is finished, in
    /// the order they appeared.
    pub(crate) fn finish_all(&mut self, stamp: Stamp, out: &mut Vec<CapturedFrame>) {
        let mut open: Vec<Tracked> = self.open.drain().map(|(_, tracked)| tracked).collect();
        open.sort_by_key(|tracked| tracked.id);
        for tracked in open {
            finish(tracked, stamp, out);
        }
    }

    /// A connection first seen in `segment`: decides which side is the
    /// server, and says so when that is a guess.
    fn start(&mut self, segment: &Segment, stamp: Stamp, out: &mut Vec<CapturedFrame>) -> Tracked {
        let (client, server, server_by) = roles(segment);
        let connection = Connection { client, server };
        let id = self.next_id;
        self.next_id += 1;
        if let Some(server_by) = server_by {
            let direction = if segment.src == client {
                Direction::ClientToServer
            } else {
                Direction::ServerToClient
            };
            let note = Item::Note(Note::MidConnection { server_by });
            out.push(captured(&connection, direction, stamp, note));
        }
        Tracked {
            id,
            connection,
            halves: [Half::new(self.frame_max), Half::new(self.frame_max)],
            client_isn: None,
        }
    }
}

/// Which end is the client: the sender of a SYN (or receiver of a SYN-ACK)
/// or of the protocol header for certain; else a guess, which is returned
/// too: the AMQP port, or else the lower port, is the server's.
fn roles(segment: &Segment) -> (SocketAddr, SocketAddr, Option<ServerBy>) {
    let (src, dst) = (segment.src, segment.dst);
    if segment.syn {
        return if segment.ack {
            (dst, src, None)
        } else {
            (src, dst, None)
        };
    }
    if starts_with_protocol_header(segment) {
        return (src, dst, None);
    }
    let src_amqp = AMQP_PORTS.contains(&src.port());
    let dst_amqp = AMQP_PORTS.contains(&dst.port());
    match (src_amqp, dst_amqp) {
        (true, false) => (dst, src, Some(ServerBy::AmqpPort(src.port()))),
        (false, true) => (src, dst, Some(ServerBy::AmqpPort(dst.port()))),
        _ if src.port() < dst.port() => (dst, src, Some(ServerBy::LowerPort)),
        _ => (src, dst, Some(ServerBy::LowerPort)),
    }
}

fn starts_with_protocol_header(segment: &Segment) -> bool {
    let n = segment.payload.len().min(PROTOCOL_HEADER.len());
    n >= 4 && segment.payload[..n] == PROTOCOL_HEADER[..n]
}

/// Both directions end: what was held back comes out, with its gaps, and a
/// partial frame left is said.
fn finish(mut tracked: Tracked, stamp: Stamp, out: &mut Vec<CapturedFrame>) {
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        let half = &mut tracked.halves[direction.index()];
        let mut pieces = Vec::new();
        half.reassembly.finish(&mut pieces);
        let mut items = Vec::new();
        half.feed(pieces, direction, &mut items);
        let mut last = Vec::new();
        half.framing.finish(&mut last);
        items.extend(last.into_iter().map(|item| (direction, item)));
        for (direction, item) in items {
            out.push(captured(&tracked.connection, direction, stamp, item));
        }
    }
}

fn captured(
    connection: &Connection,
    direction: Direction,
    stamp: Stamp,
    item: Item,
) -> CapturedFrame {
    CapturedFrame {
        time: stamp.time,
        packet: stamp.packet,
        connection: *connection,
        direction,
        item,
    }
}
