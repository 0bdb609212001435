//! Capture files built in the tests: pcap and pcapng containers written
//! octet by octet (from their specifications), packets built with
//! etherparse, TCP conversations whose sequence numbers we control, and
//! AMQP frames from amqp-wire's own encoder.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use amqp_wire::{
    BasicProperties, BasicPublish, ChannelOpen, ChannelOpenOk, ConnectionOpen, ConnectionOpenOk,
    ConnectionStart, ConnectionStartOk, ConnectionTune, ConnectionTuneOk, FieldTable, Frame,
    Method, PROTOCOL_HEADER,
};
use bytes::BytesMut;
use etherparse::PacketBuilder;

/// libpcap's link-type numbers.
pub(crate) const LINKTYPE_NULL: u32 = 0;
pub(crate) const LINKTYPE_ETHERNET: u32 = 1;
pub(crate) const LINKTYPE_RAW: u32 = 101;
pub(crate) const LINKTYPE_LINUX_SLL: u32 = 113;
pub(crate) const LINKTYPE_LINUX_SLL2: u32 = 276;

/// One packet as the capture holds it: link layer first.
#[derive(Clone)]
pub(crate) struct Packet {
    pub(crate) time: Duration,
    pub(crate) data: Vec<u8>,
}

/// The capture's start: 2024-05-01T09:55:02Z.
pub(crate) const T0: Duration = Duration::from_secs(1_714_557_302);

/// A legacy pcap file, little-endian, microsecond timestamps.
pub(crate) fn pcap(link_type: u32, packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&link_type.to_le_bytes());
    for packet in packets {
        out.extend_from_slice(&pcap_record(packet, packet.data.len()));
    }
    out
}

/// A pcap record keeping only the first `keep` octets of the packet (the
/// snapshot length at work).
pub(crate) fn pcap_record(packet: &Packet, keep: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(packet.time.as_secs() as u32).to_le_bytes());
    out.extend_from_slice(&packet.time.subsec_micros().to_le_bytes());
    out.extend_from_slice(&(keep as u32).to_le_bytes());
    out.extend_from_slice(&(packet.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&packet.data[..keep]);
    out
}

/// A pcapng file, little-endian: a section header, one interface
/// (nanosecond timestamps, to tell the resolution option is read), and an
/// enhanced packet block per packet.
pub(crate) fn pcapng(link_type: u16, packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    // Section header block: byte-order magic, version 1.0, unknown length.
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    pcapng_block(&mut out, 0x0a0d_0d0a, &shb);
    // Interface description block: link type, reserved, snaplen, options
    // if_tsresol = 9 (nanoseconds) and the end of options.
    let mut idb = Vec::new();
    idb.extend_from_slice(&link_type.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    idb.extend_from_slice(&9u16.to_le_bytes());
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 0, 0]);
    idb.extend_from_slice(&[0, 0, 0, 0]);
    pcapng_block(&mut out, 1, &idb);
    for packet in packets {
        let ticks = packet.time.as_nanos() as u64;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes()); // interface 0
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&(packet.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(packet.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&packet.data);
        while epb.len() % 4 != 0 {
            epb.push(0);
        }
        pcapng_block(&mut out, 6, &epb);
    }
    out
}

fn pcapng_block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let len = (12 + body.len()) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

/// How the packets of a conversation are wrapped.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Link {
    Ethernet,
    /// No link header: the IP packet alone.
    Ip,
}

/// TCP flags of one segment.
#[derive(Clone, Copy, Default)]
pub(crate) struct Flags {
    pub(crate) syn: bool,
    pub(crate) ack: bool,
    pub(crate) fin: bool,
}

/// One TCP connection's packets, both ways, with the sequence numbers a
/// real stack would use. Every packet is 1 ms after the one before.
pub(crate) struct Tcp {
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    /// The next sequence number each side sends.
    pub(crate) client_seq: u32,
    pub(crate) server_seq: u32,
    pub(crate) time: Duration,
    pub(crate) link: Link,
}

impl Tcp {
    /// Initial sequence numbers near the top of the space, so that the
    /// conversation wraps around 2^32.
    pub(crate) fn new(client: &str, server: &str) -> Self {
        Self {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            client_seq: u32::MAX - 20,
            server_seq: 0x1000_0000,
            time: T0,
            link: Link::Ethernet,
        }
    }

    /// SYN, SYN-ACK, ACK.
    pub(crate) fn handshake(&mut self) -> Vec<Packet> {
        let syn = self.packet(
            true,
            self.client_seq,
            0,
            Flags {
                syn: true,
                ..Default::default()
            },
            &[],
        );
        self.client_seq = self.client_seq.wrapping_add(1);
        let syn_ack = self.packet(
            false,
            self.server_seq,
            self.client_seq,
            Flags {
                syn: true,
                ack: true,
                ..Default::default()
            },
            &[],
        );
        self.server_seq = self.server_seq.wrapping_add(1);
        let ack = self.packet(true, self.client_seq, self.server_seq, ack(), &[]);
        vec![syn, syn_ack, ack]
    }

    /// A data segment from the client.
    pub(crate) fn client_sends(&mut self, payload: &[u8]) -> Packet {
        let p = self.packet(true, self.client_seq, self.server_seq, ack(), payload);
        self.client_seq = self.client_seq.wrapping_add(payload.len() as u32);
        p
    }

    /// A data segment from the server.
    pub(crate) fn server_sends(&mut self, payload: &[u8]) -> Packet {
        let p = self.packet(false, self.server_seq, self.client_seq, ack(), payload);
        self.server_seq = self.server_seq.wrapping_add(payload.len() as u32);
        p
    }

    /// FIN from each side, and the last ACK.
    pub(crate) fn close(&mut self) -> Vec<Packet> {
        let fin = Flags {
            ack: true,
            fin: true,
            ..Default::default()
        };
        let a = self.packet(true, self.client_seq, self.server_seq, fin, &[]);
        self.client_seq = self.client_seq.wrapping_add(1);
        let b = self.packet(false, self.server_seq, self.client_seq, fin, &[]);
        self.server_seq = self.server_seq.wrapping_add(1);
        let c = self.packet(true, self.client_seq, self.server_seq, ack(), &[]);
        vec![a, b, c]
    }

    /// Any segment; `from_client` says which way.
    pub(crate) fn packet(
        &mut self,
        from_client: bool,
        seq: u32,
        ack_number: u32,
        flags: Flags,
        payload: &[u8],
    ) -> Packet {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        self.time += Duration::from_millis(1);
        Packet {
            time: self.time,
            data: tcp_packet(self.link, src, dst, seq, ack_number, flags, payload),
        }
    }
}

fn ack() -> Flags {
    Flags {
        ack: true,
        ..Default::default()
    }
}

/// An Ethernet (or bare IP) packet carrying one TCP segment.
pub(crate) fn tcp_packet(
    link: Link,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack_number: u32,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let ip = match link {
        Link::Ethernet => {
            let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
                (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
                _ => panic!("mixed address families"),
            }
        }
        Link::Ip => match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
            _ => panic!("mixed address families"),
        },
    };
    let mut tcp = ip.tcp(src.port(), dst.port(), seq, 65_535);
    if flags.syn {
        tcp = tcp.syn();
    }
    if flags.ack {
        tcp = tcp.ack(ack_number);
    }
    if flags.fin {
        tcp = tcp.fin();
    }
    let mut out = Vec::with_capacity(tcp.size(payload.len()));
    tcp.write(&mut out, payload).unwrap();
    out
}

/// A UDP datagram on Ethernet, for "not TCP" packets.
pub(crate) fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        panic!("IPv4 only");
    };
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(s.octets(), d.octets(), 64)
        .udp(src.port(), dst.port());
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

/// An ARP request on Ethernet, for "not IP" packets.
pub(crate) fn arp_packet() -> Vec<u8> {
    let mut out = vec![0xff; 6];
    out.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
    out.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    out.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    out.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    out
}

/// The octets of `frames`.
pub(crate) fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        frame.encode(&mut buf).unwrap();
    }
    buf.to_vec()
}

/// The octets of one published message: basic.publish, header, body.
pub(crate) fn publish(channel: u16, routing_key: &str, body: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let method = Method::from(BasicPublish {
        routing_key: routing_key.into(),
        ..Default::default()
    });
    amqp_wire::encode_content(
        channel,
        &method,
        &BasicProperties::default(),
        body,
        131_072,
        &mut buf,
    )
    .unwrap();
    buf.to_vec()
}

/// The handshake of an AMQP connection, as (from client?, octets) steps.
pub(crate) fn amqp_handshake() -> Vec<(bool, Vec<u8>)> {
    vec![
        (true, PROTOCOL_HEADER.to_vec()),
        (
            false,
            encode(&[Frame::method(
                0,
                ConnectionStart {
                    version_major: 0,
                    version_minor: 9,
                    server_properties: FieldTable::new().with("product", "RabbitMQ"),
                    mechanisms: "PLAIN".into(),
                    locales: "en_US".into(),
                },
            )]),
        ),
        (
            true,
            encode(&[Frame::method(
                0,
                ConnectionStartOk {
                    client_properties: FieldTable::new(),
                    mechanism: "PLAIN".into(),
                    response: "\0guest\0guest".into(),
                    locale: "en_US".into(),
                },
            )]),
        ),
        (
            false,
            encode(&[Frame::method(
                0,
                ConnectionTune {
                    channel_max: 2047,
                    frame_max: 131_072,
                    heartbeat: 60,
                },
            )]),
        ),
        (
            true,
            encode(&[
                Frame::method(
                    0,
                    ConnectionTuneOk {
                        channel_max: 2047,
                        frame_max: 131_072,
                        heartbeat: 60,
                    },
                ),
                Frame::method(
                    0,
                    ConnectionOpen {
                        virtual_host: "/".into(),
                        ..Default::default()
                    },
                ),
            ]),
        ),
        (
            false,
            encode(&[Frame::method(0, ConnectionOpenOk::default())]),
        ),
        (true, encode(&[Frame::method(1, ChannelOpen::default())])),
        (false, encode(&[Frame::method(1, ChannelOpenOk::default())])),
    ]
}

/// The packets of a whole connection: TCP handshake, AMQP handshake, a
/// publish of `body`, close.
pub(crate) fn whole_connection(tcp: &mut Tcp, body: &[u8]) -> Vec<Packet> {
    let mut packets = tcp.handshake();
    for (from_client, octets) in amqp_handshake() {
        packets.push(if from_client {
            tcp.client_sends(&octets)
        } else {
            tcp.server_sends(&octets)
        });
    }
    packets.push(tcp.client_sends(&publish(1, "q", body)));
    packets.extend(tcp.close());
    packets
}
