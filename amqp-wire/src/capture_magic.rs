//! Telling a capture file from raw AMQP octets by its first four octets.
//!
//! Outside the `capture` feature, so that `amqp-decode` built without it
//! can still recognise a capture and say how to get a build that reads it.

/// The type of a pcapng section header block: a palindrome, the same in
/// both byte orders.
pub(crate) const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The magic numbers of legacy pcap files, each in both byte orders:
/// microsecond timestamps, nanosecond ones, and the "modified" variant.
const PCAP_MAGICS: [[u8; 4]; 6] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x34, 0xcd, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xcd, 0x34],
];

/// True when `first_octets` (at least 4 of them) start a pcap or pcapng file.
///
/// No AMQP stream starts like this (it starts with `AMQP` or a frame type
/// 1, 2, 3 or 8), so a tool can tell a capture from raw frames by it.
pub fn is_capture_file(first_octets: &[u8]) -> bool {
    first_octets
        .get(..4)
        .is_some_and(|head| head == PCAPNG_MAGIC || PCAP_MAGICS.iter().any(|magic| magic == head))
}
