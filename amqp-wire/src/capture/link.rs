//! From a captured packet to its TCP segment: the link layer the capture
//! recorded, then IPv4 or IPv6, then TCP, taken apart with `etherparse`.
//! Anything else (ARP, UDP, fragments, broken headers) is no segment.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket};
use pcap_parser::Linktype;

/// Linux "cooked" captures (`tcpdump -i any`): a pseudo link-layer header
/// whose protocol field is an EtherType, at offset 14 of 16 octets (SLL) or
/// 0 of 20 (SLL2, libpcap 1.10 on). Read here rather than by etherparse,
/// whose SLL support refuses the ARPHRD_LOOPBACK device type that `any`
/// gives for traffic on `lo`, and has no SLL2.
const SLL: Cooked = Cooked {
    protocol_at: 14,
    len: 16,
};
const SLL2: Cooked = Cooked {
    protocol_at: 0,
    len: 20,
};

/// The shape of a Linux cooked header.
struct Cooked {
    /// Offset of the protocol field.
    protocol_at: usize,
    /// Length of the whole header.
    len: usize,
}

/// EtherTypes start here; smaller protocol values in a cooked header are
/// Linux's own (802.2 frames and such), never IP.
const MIN_ETHER_TYPE: u16 = 0x0600;

/// The BSD loopback header (`NULL` and `LOOP` link types): a 4-octet
/// address family, in host or network order. The IP version nibble that
/// follows says the same, so we skip it.
const LOOPBACK_LEN: usize = 4;

/// One TCP segment, as much of it as the capture holds.
pub(crate) struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    pub ack: bool,
    /// With `ack`: the next sequence number the sender expects from its peer.
    pub ack_number: u32,
    pub fin: bool,
    pub rst: bool,
    /// The captured part of the payload.
    pub payload: Bytes,
    /// Payload octets the capture cut off (snapshot length): a gap at once,
    /// not a wait for octets that never come.
    pub cut_off: usize,
}

/// Whether we can take packets of `link_type` apart.
pub(crate) fn supported(link_type: Linktype) -> bool {
    matches!(
        link_type,
        Linktype::ETHERNET
            | Linktype::LINUX_SLL
            | Linktype::LINUX_SLL2
            | Linktype::NULL
            | Linktype::LOOP
            | Linktype::RAW
            | Linktype::IPV4
            | Linktype::IPV6
    )
}

/// The TCP segment in `data`, a packet of `link_type`; `None` for anything
/// else, or for a packet whose headers are broken.
pub(crate) fn tcp_segment(link_type: Linktype, data: &Bytes) -> Option<Segment> {
    let packet = match link_type {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(data).ok()?,
        Linktype::LINUX_SLL => cooked(data, SLL)?,
        Linktype::LINUX_SLL2 => cooked(data, SLL2)?,
        Linktype::NULL | Linktype::LOOP => {
            LaxSlicedPacket::from_ip(data.get(LOOPBACK_LEN..)?).ok()?
        }
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => LaxSlicedPacket::from_ip(data).ok()?,
        _ => return None,
    };
    let Some(etherparse::TransportSlice::Tcp(tcp)) = &packet.transport else {
        return None;
    };
    // Where the IP packet ends by its header, as an offset in `data`: past
    // what was captured when the snapshot length cut it.
    let (src, dst, ip_end) = match packet.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => {
            let header = ip.header();
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                offset_in(data, header.slice()).saturating_add(usize::from(header.total_len())),
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let header = ip.header();
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                offset_in(data, header.slice())
                    + header.slice().len()
                    + usize::from(header.payload_length()),
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let payload = data.slice_ref(tcp.payload());
    let announced = ip_end.saturating_sub(offset_in(data, tcp.payload()));
    Some(Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        ack_number: tcp.acknowledgment_number(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        cut_off: announced.saturating_sub(payload.len()),
        payload,
    })
}

/// The packet behind a Linux cooked header of shape `header`, if it is one
/// with an EtherType.
fn cooked(data: &[u8], header: Cooked) -> Option<LaxSlicedPacket<'_>> {
    let field = data.get(header.protocol_at..header.protocol_at + 2)?;
    let ether_type = u16::from_be_bytes([field[0], field[1]]);
    if ether_type < MIN_ETHER_TYPE {
        return None;
    }
    Some(LaxSlicedPacket::from_ether_type(
        EtherType(ether_type),
        data.get(header.len..)?,
    ))
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}
