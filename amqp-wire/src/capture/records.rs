//! The capture file's container, pcap or pcapng, read with `pcap-parser`:
//! from file octets to packet records (time, link type, packet octets).
//!
//! Streaming: memory stays at one fixed read buffer whatever the file's
//! size, and no length read from the file is trusted to size an allocation.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pcap_parser::pcapng::{Block, InterfaceDescriptionBlock};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{
    LegacyPcapBlock, LegacyPcapReader, Linktype, PcapBlockOwned, PcapError, PcapNGReader,
};

use super::error::CaptureError;
use crate::capture_magic::{is_capture_file, PCAPNG_MAGIC};

/// The read buffer's first size: room for the records of ordinary
/// Ethernet and loopback captures. It grows when a record needs it.
const READ_BUFFER: usize = 64 * 1024;

/// The largest record we accept, header included, and so the most the read
/// buffer grows to. libpcap writes at most 262,144 packet octets (its
/// `MAXIMUM_SNAPLEN`); pcapng adds a block header and options. A record
/// header announcing more is corrupt, and is refused before anything is
/// read for it.
const MAX_RECORD: usize = 1 << 20;

/// The most packet octets a pcap record may hold: libpcap's `MAXIMUM_SNAPLEN`.
const MAX_PACKET: u32 = 262_144;

/// The octets the container's first header needs in one piece: the readers
/// parse it from their first `read`, which a pipe may answer with a few
/// octets only. A pcap file header is 24 octets; a pcapng section header
/// with its options (hardware, OS, application) a few hundred. More than
/// this is not waited for, so that a live `tcpdump -w -` pipe is followed.
const FIRST_READ: usize = 4096;

/// One captured packet.
pub(crate) struct Record {
    /// 1-based number of the record among the file's packet records.
    pub number: u64,
    /// Octet offset of the record in the file.
    pub offset: u64,
    /// When it was captured, since the Unix epoch.
    pub time: Duration,
    pub link_type: Linktype,
    /// The captured octets (at most the snapshot length of the capture).
    pub data: Bytes,
}

/// An interface of the current pcapng section: what its packets carry and
/// how its timestamps count.
struct Interface {
    link_type: Linktype,
    /// Timestamp units per second.
    units_per_second: u64,
    /// Seconds to add to every timestamp.
    offset_seconds: i64,
}

/// How the packets of a legacy pcap file look (from its file header).
struct LegacyHeader {
    link_type: Linktype,
    nanoseconds: bool,
}

/// The records of one capture file, in file order.
pub(crate) struct Records {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Where `reader`'s I/O errors end up (pcap-parser keeps only "read error").
    io_error: Arc<Mutex<Option<io::Error>>>,
    legacy: Option<LegacyHeader>,
    interfaces: Vec<Interface>,
    /// Packet records delivered so far.
    packets: u64,
    /// The read buffer's size.
    capacity: usize,
}

impl Records {
    /// Reads the container's header: a pcap file header or a pcapng section
    /// header block.
    pub(crate) fn new(input: impl Read + Send + 'static) -> Result<Self, CaptureError> {
        let io_error = Arc::new(Mutex::new(None));
        let mut input = Source {
            inner: input,
            io_error: Arc::clone(&io_error),
        };
        let mut magic = [0; 4];
        let got = read_up_to(&mut input, &mut magic);
        let magic = &magic[..got];
        if !is_capture_file(magic) {
            if let Some(e) = take(&io_error) {
                return Err(CaptureError::Io {
                    offset: 0,
                    source: e,
                });
            }
            return Err(CaptureError::NotACapture {
                first_octets: magic.to_vec(),
            });
        }
        let pcapng = magic == PCAPNG_MAGIC;
        let input = Prefixed {
            head: magic.to_vec(),
            rest: input,
        };
        let reader: Result<Box<dyn PcapReaderIterator + Send>, _> = if pcapng {
            PcapNGReader::new(READ_BUFFER, input).map(|r| Box::new(r) as _)
        } else {
            LegacyPcapReader::new(READ_BUFFER, input).map(|r| Box::new(r) as _)
        };
        let reader = reader.map_err(|e| match e {
            PcapError::Incomplete(_) | PcapError::Eof | PcapError::UnexpectedEof => {
                CaptureError::Truncated {
                    offset: 0,
                    record: 0,
                }
            }
            PcapError::ReadError => CaptureError::Io {
                offset: 0,
                source: take(&io_error).unwrap_or_else(|| io::Error::other("read error")),
            },
            other => CaptureError::Corrupt {
                offset: 0,
                record: 0,
                what: format!(
                    "bad {} file header ({})",
                    if pcapng { "pcapng section" } else { "pcap" },
                    describe(&other)
                ),
            },
        })?;
        Ok(Self {
            reader,
            io_error,
            legacy: None,
            interfaces: Vec::new(),
            packets: 0,
            capacity: READ_BUFFER,
        })
    }

    /// The next packet record; `Ok(None)` at the end of the file.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, CaptureError> {
        loop {
            let at = At {
                offset: self.reader.consumed() as u64,
                record: self.packets + 1,
            };
            let (len, block) = match self.reader.next() {
                Ok(next) => next,
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => {
                    self.refill(at)?;
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Err(CaptureError::Truncated {
                        offset: at.offset,
                        record: at.record,
                    })
                }
                Err(PcapError::BufferTooSmall) if self.capacity < MAX_RECORD => {
                    self.capacity = (self.capacity * 2).min(MAX_RECORD);
                    self.reader.grow(self.capacity);
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    return Err(at.corrupt(format!(
                        "the record header announces more than {MAX_RECORD} octets"
                    )))
                }
                Err(PcapError::ReadError) => return Err(self.io_failed(at.offset)),
                Err(other) => {
                    return Err(at.corrupt(format!("malformed record ({})", describe(&other))))
                }
            };
            let packet = match block {
                PcapBlockOwned::LegacyHeader(header) => {
                    self.legacy = Some(LegacyHeader {
                        link_type: header.network,
                        nanoseconds: header.is_nanosecond_precision(),
                    });
                    None
                }
                PcapBlockOwned::Legacy(block) => legacy_packet(self.legacy.as_ref(), &block, at)?,
                PcapBlockOwned::NG(block) => pcapng_packet(&mut self.interfaces, block, at)?,
            };
            self.reader.consume(len);
            if let Some(packet) = packet {
                self.packets = at.record;
                return Ok(Some(Record {
                    number: at.record,
                    offset: at.offset,
                    time: packet.time,
                    link_type: packet.link_type,
                    data: packet.data,
                }));
            }
        }
    }

    /// Reads more of the file into the buffer.
    fn refill(&mut self, at: At) -> Result<(), CaptureError> {
        let before = self.reader.data().len();
        if self.reader.refill().is_err() {
            return Err(self.io_failed(at.offset));
        }
        // A full buffer that still holds no whole record, and the parser
        // could not say how much more it needs.
        if self.reader.data().len() == before && !self.reader.reader_exhausted() {
            return Err(at.corrupt(format!("no whole record in {} octets", self.capacity)));
        }
        Ok(())
    }

    fn io_failed(&self, offset: u64) -> CaptureError {
        CaptureError::Io {
            offset,
            source: take(&self.io_error).unwrap_or_else(|| io::Error::other("read error")),
        }
    }
}

/// Where a record starts, for errors.
#[derive(Clone, Copy)]
struct At {
    offset: u64,
    /// Its number if it is a packet record (other blocks share the number
    /// of the packet after them).
    record: u64,
}

impl At {
    fn corrupt(self, what: String) -> CaptureError {
        CaptureError::Corrupt {
            offset: self.offset,
            record: self.record,
            what,
        }
    }
}

/// What a packet record holds.
struct Packet {
    time: Duration,
    link_type: Linktype,
    data: Bytes,
}

/// A legacy pcap record, after its file header: checked for what no
/// writer produces (a torn or misaligned record header reads as that).
fn legacy_packet(
    header: Option<&LegacyHeader>,
    block: &LegacyPcapBlock<'_>,
    at: At,
) -> Result<Option<Packet>, CaptureError> {
    let Some(header) = header else {
        return Err(at.corrupt("packet record before the file header".into()));
    };
    let fraction_limit = if header.nanoseconds {
        1_000_000_000
    } else {
        1_000_000
    };
    if block.ts_usec >= fraction_limit || block.caplen > MAX_PACKET {
        return Err(at.corrupt(format!(
            "impossible record header (captured length {}, timestamp fraction {})",
            block.caplen, block.ts_usec
        )));
    }
    let nanos = if header.nanoseconds {
        block.ts_usec
    } else {
        block.ts_usec * 1000
    };
    Ok(Some(Packet {
        time: Duration::new(u64::from(block.ts_sec), nanos),
        link_type: header.link_type,
        data: Bytes::copy_from_slice(block.data),
    }))
}

/// Handles one pcapng block: interface descriptions are remembered (a new
/// section forgets them), packets come back with their interface's link
/// type and their time, every other block is skipped.
fn pcapng_packet(
    interfaces: &mut Vec<Interface>,
    block: Block<'_>,
    at: At,
) -> Result<Option<Packet>, CaptureError> {
    let corrupt = |what: String| at.corrupt(what);
    match block {
        Block::SectionHeader(_) => {
            interfaces.clear();
            Ok(None)
        }
        Block::InterfaceDescription(idb) => {
            interfaces.push(interface(&idb).ok_or_else(|| {
                corrupt(format!(
                    "interface description with an impossible timestamp resolution {}",
                    idb.if_tsresol
                ))
            })?);
            Ok(None)
        }
        Block::EnhancedPacket(epb) => {
            let Some(interface) = interfaces.get(epb.if_id as usize) else {
                return Err(corrupt(format!(
                    "packet of interface {}, which no interface description declared",
                    epb.if_id
                )));
            };
            let ticks = u64::from(epb.ts_high) << 32 | u64::from(epb.ts_low);
            Ok(Some(Packet {
                time: time(ticks, interface),
                link_type: interface.link_type,
                data: Bytes::copy_from_slice(epb.packet_data()),
            }))
        }
        Block::SimplePacket(spb) => {
            // No timestamp in a simple packet block: it shows as the epoch.
            let Some(interface) = interfaces.first() else {
                return Err(corrupt(
                    "simple packet before any interface description".into(),
                ));
            };
            Ok(Some(Packet {
                time: Duration::ZERO,
                link_type: interface.link_type,
                data: Bytes::copy_from_slice(spb.packet_data()),
            }))
        }
        _ => Ok(None),
    }
}

fn interface(idb: &InterfaceDescriptionBlock<'_>) -> Option<Interface> {
    Some(Interface {
        link_type: idb.linktype,
        units_per_second: idb.ts_resolution().filter(|&units| units > 0)?,
        offset_seconds: idb.ts_offset(),
    })
}

/// A pcapng timestamp (`ticks` of the interface's resolution, plus its
/// offset in seconds) as time since the epoch; before the epoch is clamped
/// to it.
fn time(ticks: u64, interface: &Interface) -> Duration {
    let units = interface.units_per_second;
    let seconds = (ticks / units).saturating_add_signed(interface.offset_seconds);
    // Below 1e9 as ticks % units < units.
    let nanos = (u128::from(ticks % units) * 1_000_000_000 / u128::from(units)) as u32;
    Duration::new(seconds, nanos)
}

/// pcap-parser's parse errors carry nom's error kind and the input; the
/// kind is what helps a reader ("Verify" for block lengths that disagree).
fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("{kind:?} check failed")
        }
        PcapError::HeaderNotRecognized => "header not recognised".into(),
        other => other.to_string(),
    }
}

fn take(slot: &Mutex<Option<io::Error>>) -> Option<io::Error> {
    slot.lock().map(|mut e| e.take()).unwrap_or(None)
}

/// Reads until `buf` is full or the input ends; an error ends it early
/// (and is kept by [`Source`]).
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// The input, with interrupted reads retried and other I/O errors kept, so
/// that they can be reported with their cause.
struct Source<R> {
    inner: R,
    io_error: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = e.kind();
                    if let Ok(mut slot) = self.io_error.lock() {
                        *slot = Some(e);
                    }
                    return Err(kind.into());
                }
                done => return done,
            }
        }
    }
}

/// The input as pcap-parser reads it: the magic number we read to tell the
/// format is put back in front, and the first read is filled
/// ([`FIRST_READ`] octets or the whole input), because the readers parse
/// the container's first header from their first `read` alone, which a pipe
/// may answer with a few octets.
struct Prefixed<R> {
    head: Vec<u8>,
    rest: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head.is_empty() {
            return self.rest.read(buf);
        }
        let n = self.head.len().min(buf.len());
        buf[..n].copy_from_slice(&self.head[..n]);
        self.head.drain(..n);
        let want = buf.len().min(FIRST_READ);
        let mut got = n;
        while self.head.is_empty() && got < want {
            match self.rest.read(&mut buf[got..]) {
                Ok(0) | Err(_) => break, // an error is kept by `Source`, and comes again
                Ok(n) => got += n,
            }
        }
        Ok(got)
    }
}
