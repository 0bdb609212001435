//! Why a capture file could not be read to its end.

use std::io;

/// A capture file that cannot be read on: the records before it were
/// delivered, nothing after it is. Each variant says what and where (the
/// octet offset in the file, and the 1-based number of the record).
///
/// What is wrong *inside* a TCP stream (lost segments, a malformed AMQP
/// frame) is not an error: the reader reports it as a
/// [`Note`](super::Note) and goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The first octets are no pcap or pcapng magic number.
    #[error("not a pcap or pcapng capture file ({})", starts_with(first_octets))]
    NotACapture {
        /// The first (up to 4) octets.
        first_octets: Vec<u8>,
    },
    /// The file ends inside a header or a record: cut short, e.g. copied
    /// while tcpdump was still writing it.
    #[error(
        "capture file truncated: it ends inside record {record}, which starts at offset {offset}"
    )]
    Truncated {
        /// Offset of the incomplete record (or header).
        offset: u64,
        /// Its number (0 for the file header).
        record: u64,
    },
    /// A record or block header that cannot be right.
    #[error("corrupt capture file at offset {offset} (record {record}): {what}")]
    Corrupt {
        /// Offset of the bad record.
        offset: u64,
        /// Its number (0 for the file header).
        record: u64,
        /// What is wrong with it.
        what: String,
    },
    /// Packets of a link layer we cannot take apart.
    #[error(
        "record {record} at offset {offset}: link type {link_type} is not supported \
         (Ethernet, Linux cooked SLL/SLL2, BSD loopback and raw IP are)"
    )]
    UnsupportedLinkType {
        /// The link type number (see tcpdump.org/linktypes.html).
        link_type: u32,
        /// Offset of the first record using it.
        offset: u64,
        /// Its number.
        record: u64,
    },
    /// Reading the file failed.
    #[error("reading the capture at offset {offset}: {source}")]
    Io {
        /// How far the reading had got.
        offset: u64,
        /// The operating system's error.
        source: io::Error,
    },
}

impl CaptureError {
    /// The octet offset in the file where the trouble is.
    pub fn offset(&self) -> u64 {
        match self {
            Self::NotACapture { .. } => 0,
            Self::Truncated { offset, .. }
            | Self::Corrupt { offset, .. }
            | Self::UnsupportedLinkType { offset, .. }
            | Self::Io { offset, .. } => *offset,
        }
    }
}

fn starts_with(first_octets: &[u8]) -> String {
    if first_octets.is_empty() {
        "it is empty".into()
    } else {
        format!("it starts with 0x{}", crate::display::hex(first_octets))
    }
}
