//! AMQP frames out of packet captures: the pcap and pcapng files of
//! `tcpdump -w` and Wireshark (feature `capture`).
//!
//! Each TCP connection is put back together both ways (segments in
//! sequence order, retransmissions dropped, octets the capture lost
//! reported as a gap) and cut into frames with the same decoder as a live
//! connection. A capture that starts mid-connection, or loses octets, is
//! decoded on from the next frame boundary, and says so.
//!
//! ```no_run
//! use amqp_wire::capture::{self, Item};
//!
//! for captured in capture::read_file("amqp.pcap")? {
//!     if let Item::Frame(frame) = &captured.item {
//!         println!("{} {:?} {frame}", captured.connection, captured.direction);
//!     }
//! }
//! # Ok::<(), amqp_wire::capture::CaptureError>(())
//! ```
//!
//! The layers below AMQP are read by crates made for them: the containers
//! by `pcap-parser`, the link, IP and TCP headers by `etherparse`. Link
//! types: Ethernet, Linux cooked (SLL and SLL2, `tcpdump -i any`), BSD
//! loopback and raw IP; IPv4 and IPv6. Fragmented IP packets are not put
//! together.
//!
//! Memory stays bounded whatever the input: one read buffer for the file
//! (at most 1 MiB), at most [`MAX_HELD`] out-of-order octets per direction,
//! and no length read from the input sizes an allocation: a frame header
//! announcing more than the frame_max in force is refused, and a buffer
//! grows only with octets that came.

mod connections;
mod error;
mod framing;
mod link;
mod reassembly;
mod records;
mod show;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::constants::DEFAULT_FRAME_MAX;
use crate::error::DecodeError;
use crate::frame::{Frame, ProtocolHeader};

pub use error::CaptureError;
pub use reassembly::MAX_HELD;

use connections::{Connections, Stamp};
use records::Records;

/// What the capture shows of one connection at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedFrame {
    /// When the packet that completed it was captured, since the Unix epoch
    /// (UTC), as the capture file recorded it.
    pub time: Duration,
    /// The 1-based number of that packet in the file, as Wireshark counts.
    pub packet: u64,
    /// The connection it belongs to.
    pub connection: Connection,
    /// Which way it went.
    pub direction: Direction,
    /// The frame, or what the capture says about the stream.
    pub item: Item,
}

/// A TCP connection: the client's and the server's address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The side that opened the connection (and sends the protocol header).
    pub client: SocketAddr,
    /// The broker's side.
    pub server: SocketAddr,
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.client, self.server)
    }
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server (`->` in readable output).
    ClientToServer,
    /// From the server to the client (`<-`).
    ServerToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Self::ClientToServer => 0,
            Self::ServerToClient => 1,
        }
    }

    /// The other way.
    pub fn reverse(self) -> Self {
        match self {
            Self::ClientToServer => Self::ServerToClient,
            Self::ServerToClient => Self::ClientToServer,
        }
    }
}

/// What one stream carried, or what the capture says about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// The 8-octet header a connection starts with.
    ProtocolHeader(ProtocolHeader),
    /// An AMQP frame.
    Frame(Frame),
    /// Something about the stream rather than in it.
    Note(Note),
}

/// What the capture says about a stream: where it is incomplete, where
/// decoding lost and found the frame boundaries again.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Note {
    /// The capture starts after this connection's SYN and protocol header:
    /// which side is the server is a guess, made as `server_by` says, and
    /// each direction is decoded from its first frame boundary.
    MidConnection {
        /// How the server was told from the client.
        server_by: ServerBy,
    },
    /// Octets of the stream the capture does not have (dropped by the
    /// capture, or cut by its snapshot length). A frame they were part of
    /// is lost.
    Gap {
        /// How many.
        missing: u64,
    },
    /// Decoding goes on at a frame boundary after `skipped` octets that
    /// could not be decoded (the tail of a frame cut by a gap or by the
    /// start of the capture, or a malformed frame).
    Resync {
        /// How many octets were passed over.
        skipped: u64,
    },
    /// Octets where a frame should start that do not decode; what follows
    /// is searched for the next frame boundary.
    Malformed {
        /// Why they did not decode.
        error: DecodeError,
    },
    /// The stream (or the capture) ends inside a frame.
    Unfinished {
        /// Octets of that frame left undecoded.
        octets: u64,
    },
}

/// How the server of a connection seen mid-way was told from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerBy {
    /// It uses this AMQP port (5672, or 5671 for TLS) and the other side
    /// does not.
    AmqpPort(u16),
    /// Neither or both sides use an AMQP port: the lower port was taken.
    LowerPort,
}

/// Reads a capture file through: every frame and note of every connection,
/// in capture order.
pub fn read_file(path: impl AsRef<Path>) -> Result<Vec<CapturedFrame>, CaptureError> {
    let file = File::open(path).map_err(|source| CaptureError::Io { offset: 0, source })?;
    CaptureReader::new(BufReader::new(file))?.collect()
}

/// The frames of a capture, read as the iterator is advanced: one record
/// at a time, so a capture of any size (or one still being written to a
/// pipe) can be followed.
///
/// Items come in the order of the packets that complete them; a fatal
/// [`CaptureError`] is the last item.
pub struct CaptureReader {
    records: Records,
    connections: Connections,
    ready: std::collections::VecDeque<CapturedFrame>,
    /// Time and number of the last packet, for what the end of the capture
    /// brings out.
    last: Stamp,
    done: bool,
}

impl CaptureReader {
    /// Reads the file header of a pcap or pcapng capture from `input`.
    pub fn new(input: impl Read + Send + 'static) -> Result<Self, CaptureError> {
        Ok(Self {
            records: Records::new(input)?,
            connections: Connections::new(DEFAULT_FRAME_MAX),
            ready: Default::default(),
            last: Stamp {
                time: Duration::ZERO,
                packet: 0,
            },
            done: false,
        })
    }

    /// The largest frame accepted (header and end octet included; 0 for no
    /// limit) on a connection until its connection.tune-ok settles one.
    /// Defaults to RabbitMQ's 131072.
    pub fn frame_max(mut self, frame_max: u32) -> Self {
        self.connections = Connections::new(frame_max);
        self
    }

    /// Reads records until something is ready or the capture ends.
    fn advance(&mut self) -> Result<(), CaptureError> {
        let mut out = Vec::new();
        while out.is_empty() && !self.done {
            match self.records.next_record()? {
                Some(record) => {
                    if !link::supported(record.link_type) {
                        return Err(CaptureError::UnsupportedLinkType {
                            link_type: record.link_type.0 as u32,
                            offset: record.offset,
                            record: record.number,
                        });
                    }
                    self.last = Stamp {
                        time: record.time,
                        packet: record.number,
                    };
                    if let Some(segment) = link::tcp_segment(record.link_type, &record.data) {
                        self.connections.segment(segment, self.last, &mut out);
                    }
                }
                None => {
                    self.done = true;
                    self.connections.finish_all(self.last, &mut out);
                }
            }
        }
        self.ready.extend(out);
        Ok(())
    }
}

impl Iterator for CaptureReader {
    type Item = Result<CapturedFrame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.done {
            if let Err(e) = self.advance() {
                self.done = true;
                self.ready.clear();
                return Some(Err(e));
            }
        }
        self.ready.pop_front().map(Ok)
    }
}
