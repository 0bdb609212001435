//! `amqp_wire::capture` on capture files built here, octet by octet: both
//! directions, pcap and pcapng, link types, IPv6, segments out of order,
//! retransmitted, lost or cut, captures that start mid-connection, and
//! files that are truncated, corrupt or not captures at all.
#![cfg(feature = "capture")]

mod pcap_builder;

use std::io::Cursor;
use std::time::Duration;

use amqp_wire::capture::{
    CaptureError, CaptureReader, CapturedFrame, Connection, Direction, Item, Note, ServerBy,
};
use amqp_wire::{Frame, PROTOCOL_HEADER};
use pcap_builder::*;

fn read(file: Vec<u8>) -> Result<Vec<CapturedFrame>, CaptureError> {
    CaptureReader::new(Cursor::new(file))?.collect()
}

/// Everything before the error, and the error.
fn read_until_error(file: Vec<u8>) -> (Vec<CapturedFrame>, CaptureError) {
    let mut seen = Vec::new();
    for item in CaptureReader::new(Cursor::new(file)).expect("the file header reads") {
        match item {
            Ok(captured) => seen.push(captured),
            Err(e) => return (seen, e),
        }
    }
    panic!("no error after {} items", seen.len());
}

/// One line per item, short: `C` or `S` for who sent it, then the method
/// name, `header`, `body "..."` or the note.
fn short(captured: &[CapturedFrame]) -> Vec<String> {
    captured
        .iter()
        .map(|c| {
            let who = match c.direction {
                Direction::ClientToServer => "C",
                Direction::ServerToClient => "S",
            };
            let what = match &c.item {
                Item::ProtocolHeader(_) => "protocol-header".to_string(),
                Item::Frame(Frame::Method { method, .. }) => method.name().to_string(),
                Item::Frame(Frame::Header { .. }) => "header".into(),
                Item::Frame(Frame::Body { payload, .. }) => {
                    format!("body {:?}", String::from_utf8_lossy(payload))
                }
                Item::Frame(Frame::Heartbeat) => "heartbeat".into(),
                Item::Note(note) => format!("{note:?}"),
            };
            format!("{who} {what}")
        })
        .collect()
}

const HANDSHAKE: [&str; 10] = [
    "C protocol-header",
    "S connection.start",
    "C connection.start-ok",
    "S connection.tune",
    "C connection.tune-ok",
    "C connection.open",
    "S connection.open-ok",
    "C channel.open",
    "S channel.open-ok",
    "C basic.publish",
];

fn whole_session() -> Vec<&'static str> {
    let mut expected = HANDSHAKE.to_vec();
    expected.extend(["C header", "C body \"hello\""]);
    expected
}

#[test]
fn both_directions_of_a_connection_in_a_pcap_file() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let packets = whole_connection(&mut tcp, b"hello");
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(short(&captured), whole_session());
    let connection = Connection {
        client: "10.0.0.1:40312".parse().unwrap(),
        server: "10.0.0.2:5672".parse().unwrap(),
    };
    assert!(captured.iter().all(|c| c.connection == connection));
    // The protocol header is in the 4th packet, 4 ms after the start.
    assert_eq!(captured[0].packet, 4);
    assert_eq!(captured[0].time, T0 + Duration::from_millis(4));
    assert_eq!(
        captured[0].item,
        Item::ProtocolHeader(amqp_wire::ProtocolHeader(PROTOCOL_HEADER))
    );
    assert_eq!(
        captured[0].to_string(),
        "09:55:02.004000 10.0.0.1:40312 -> 10.0.0.2:5672 protocol-header AMQP 0-9-1"
    );
    assert_eq!(
        captured[1].to_string(),
        "09:55:02.005000 10.0.0.1:40312 <- 10.0.0.2:5672 ch=0 connection.start version_major=0 \
         version_minor=9 server_properties={product: \"RabbitMQ\"} mechanisms=\"PLAIN\" locales=\"en_US\""
    );
    assert_eq!(
        captured[0].to_json(),
        r#"{"time":"2024-05-01T09:55:02.004000Z","packet":4,"client":"10.0.0.1:40312","server":"10.0.0.2:5672","from":"client","frame":"protocol_header","version":"0-9-1"}"#
    );
}

#[test]
fn pcapng_with_nanosecond_timestamps() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = whole_connection(&mut tcp, b"hello");
    packets[3].time += Duration::from_nanos(789);
    let captured = read(pcapng(LINKTYPE_ETHERNET as u16, &packets)).unwrap();
    assert_eq!(short(&captured), whole_session());
    assert_eq!(captured[0].time, T0 + Duration::from_nanos(4_000_789));
    assert!(captured[0]
        .to_json()
        .starts_with(r#"{"time":"2024-05-01T09:55:02.004000789Z""#));
}

#[test]
fn ipv6_connection() {
    let mut tcp = Tcp::new("[::1]:40312", "[::1]:5672");
    let packets = whole_connection(&mut tcp, b"hello");
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(short(&captured), whole_session());
    assert!(captured[0]
        .to_string()
        .contains(" [::1]:40312 -> [::1]:5672 protocol-header"));
}

/// The same connection with the IP packets wrapped in each link layer.
#[test]
fn linux_cooked_loopback_and_raw_ip_link_types() {
    let mut tcp = Tcp::new("127.0.0.1:40312", "127.0.0.1:5672");
    tcp.link = Link::Ip;
    let ip_packets = whole_connection(&mut tcp, b"hello");
    let wrap = |header: &dyn Fn(&[u8]) -> Vec<u8>| -> Vec<Packet> {
        ip_packets
            .iter()
            .map(|p| {
                let mut data = header(&p.data);
                data.extend_from_slice(&p.data);
                Packet { time: p.time, data }
            })
            .collect()
    };
    // SLL: packet type, ARPHRD (772 loopback), address length and address, protocol.
    let sll = wrap(&|_| {
        let mut h = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        h.extend_from_slice(&[0x08, 0x00]);
        h
    });
    // SLL2: protocol, reserved, interface index, ARPHRD, packet type, address length, address.
    let sll2 = wrap(&|_| {
        let mut h = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6];
        h.extend_from_slice(&[0; 8]);
        h
    });
    // BSD loopback: the address family in host order (2 = AF_INET).
    let null = wrap(&|_| 2u32.to_le_bytes().to_vec());
    for (name, link_type, packets) in [
        ("SLL", LINKTYPE_LINUX_SLL, sll),
        ("SLL2", LINKTYPE_LINUX_SLL2, sll2),
        ("NULL", LINKTYPE_NULL, null),
        ("RAW", LINKTYPE_RAW, ip_packets.clone()),
    ] {
        let captured = read(pcap(link_type, &packets)).unwrap();
        assert_eq!(short(&captured), whole_session(), "{name}");
    }
}

#[test]
fn packets_that_are_not_tcp_are_skipped() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = Vec::new();
    for (i, packet) in whole_connection(&mut tcp, b"hello").into_iter().enumerate() {
        let time = packet.time;
        packets.push(packet);
        let other = match i % 3 {
            0 => udp_packet(
                "10.0.0.1:5353".parse().unwrap(),
                "10.0.0.2:5672".parse().unwrap(),
                b"\x01\x00\x00",
            ),
            1 => arp_packet(),
            _ => vec![0xde, 0xad], // too short for an Ethernet header
        };
        packets.push(Packet { time, data: other });
    }
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(short(&captured), whole_session());
}

#[test]
fn out_of_order_segments_are_put_back_in_order() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    let mut client = Vec::new();
    let mut server = Vec::new();
    for (from_client, octets) in amqp_handshake() {
        if from_client {
            &mut client
        } else {
            &mut server
        }
        .extend(octets);
    }
    client.extend(publish(1, "q", b"hello"));
    // The client's octets in 5 segments, sent 3, 1, 5, 2, 4 (each cut
    // in the middle of a frame); the server's in one, last.
    let cuts = [0, 7, 30, 61, 100, client.len()];
    let segments: Vec<Packet> = cuts
        .windows(2)
        .map(|w| tcp.client_sends(&client[w[0]..w[1]]))
        .collect();
    for i in [2, 0, 4, 1, 3] {
        packets.push(segments[i].clone());
    }
    packets.push(tcp.server_sends(&server));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    let client_items: Vec<_> = short(&captured)
        .into_iter()
        .filter(|s| s.starts_with('C'))
        .collect();
    let expected: Vec<_> = whole_session()
        .into_iter()
        .filter(|s| s.starts_with('C'))
        .collect();
    assert_eq!(client_items, expected);
    assert!(!short(&captured)
        .iter()
        .any(|s| s.contains("Gap") || s.contains("Resync")));
}

#[test]
fn retransmitted_and_overlapping_segments_are_dropped() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    for (from_client, octets) in amqp_handshake() {
        let seq_before = tcp.client_seq;
        let server_seq_before = tcp.server_seq;
        let packet = if from_client {
            tcp.client_sends(&octets)
        } else {
            tcp.server_sends(&octets)
        };
        packets.push(packet.clone());
        // The same segment again, and one overlapping its second half and
        // nothing new.
        packets.push(packet);
        let half = octets.len() / 2;
        packets.push(
            tcp.packet(
                from_client,
                if from_client {
                    seq_before
                } else {
                    server_seq_before
                }
                .wrapping_add(half as u32),
                0,
                Flags::default(),
                &octets[half..],
            ),
        );
    }
    // A retransmission that overlaps the end of what came and carries new
    // octets: only the new ones count.
    let message = publish(1, "q", b"hello");
    let start = tcp.client_seq;
    packets.push(tcp.client_sends(&message[..20]));
    packets.push(tcp.packet(
        true,
        start.wrapping_add(10),
        0,
        Flags::default(),
        &message[10..],
    ));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(short(&captured), whole_session());
}

#[test]
fn a_capture_that_starts_mid_connection_resyncs_and_says_so() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let _unseen = tcp.handshake();
    for (from_client, octets) in amqp_handshake() {
        if from_client {
            tcp.client_sends(&octets);
        } else {
            tcp.server_sends(&octets);
        }
    }
    // The capture starts with the server's segment (so the server speaks
    // first: it has to be told by its port), then the client's tail of a
    // frame and two whole messages.
    let mut packets = vec![tcp.server_sends(&encode(&[Frame::Heartbeat]))];
    let first = publish(1, "q", b"lost");
    let mut octets = first[first.len() - 9..].to_vec();
    octets.extend(publish(1, "q", b"one"));
    octets.extend(publish(1, "q", b"two"));
    packets.push(tcp.client_sends(&octets));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(
        short(&captured),
        [
            "S MidConnection { server_by: AmqpPort(5672) }",
            "S heartbeat",
            "C Resync { skipped: 9 }",
            "C basic.publish",
            "C header",
            "C body \"one\"",
            "C basic.publish",
            "C header",
            "C body \"two\"",
        ]
    );
    assert_eq!(
        captured[0].connection.server,
        "10.0.0.2:5672".parse().unwrap()
    );
    assert_eq!(
        captured[0].item.to_string(),
        "note: capture starts mid-connection (no SYN seen): server guessed by its AMQP port 5672; \
         decoding from the next frame boundary"
    );
    assert_eq!(
        captured[2].item.to_string(),
        "note: resynchronised on a frame boundary after skipping 9 octets"
    );
}

#[test]
fn without_an_amqp_port_the_lower_port_is_taken_for_the_server() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:15672");
    tcp.handshake();
    let packets = vec![tcp.client_sends(&publish(1, "q", b"x"))];
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(
        captured[0].item,
        Item::Note(Note::MidConnection {
            server_by: ServerBy::LowerPort
        })
    );
    assert_eq!(captured[0].connection.server.port(), 15672);
    assert_eq!(captured[1].direction, Direction::ClientToServer);
}

#[test]
fn a_lost_segment_is_a_gap_then_decoding_resumes_on_a_frame_boundary() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    for (from_client, octets) in amqp_handshake() {
        packets.push(if from_client {
            tcp.client_sends(&octets)
        } else {
            tcp.server_sends(&octets)
        });
    }
    let message = publish(1, "q", b"first");
    packets.push(tcp.client_sends(&message[..10]));
    let _lost = tcp.client_sends(&message[10..30]);
    let mut rest = message[30..].to_vec();
    rest.extend(publish(1, "q", b"second"));
    packets.push(tcp.client_sends(&rest));
    // The broker acknowledges it all: the capture, not the network, lost
    // the segment, and the gap is reported at once.
    packets.push(tcp.server_sends(&encode(&[Frame::Heartbeat])));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    let tail: Vec<_> = short(&captured)[HANDSHAKE.len() - 1..].to_vec();
    // The 10 octets before the gap and the rest of the frames it cut are
    // passed over; the body frame ("first", 13 octets) is whole.
    let method_and_header = message.len() - 13;
    assert_eq!(
        tail,
        [
            "C Gap { missing: 20 }",
            format!("C Resync {{ skipped: {} }}", 10 + method_and_header - 30).as_str(),
            "C body \"first\"",
            "C basic.publish",
            "C header",
            "C body \"second\"",
            "S heartbeat",
        ]
    );
    // Reported with the acknowledging packet, not at the end.
    assert_eq!(captured[HANDSHAKE.len() - 1].packet, packets.len() as u64);
}

#[test]
fn a_gap_nobody_acknowledges_is_reported_at_the_end_of_the_capture() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    packets.push(tcp.client_sends(&PROTOCOL_HEADER));
    let _lost = tcp.client_sends(&publish(1, "q", b"lost"));
    packets.push(tcp.client_sends(&publish(1, "q", b"found")));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    let lost = publish(1, "q", b"lost").len() as u64;
    assert_eq!(
        short(&captured),
        [
            "C protocol-header".to_string(),
            format!("C Gap {{ missing: {lost} }}"),
            "C basic.publish".into(),
            "C header".into(),
            "C body \"found\"".into(),
        ]
    );
}

#[test]
fn octets_cut_by_the_snapshot_length_are_a_gap() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    packets.push(tcp.client_sends(&PROTOCOL_HEADER));
    let big = publish(1, "q", &[b'x'; 300]);
    let cut = tcp.client_sends(&big);
    packets.push(tcp.client_sends(&publish(1, "q", b"after")));
    let mut file = pcap(LINKTYPE_ETHERNET, &packets[..4]);
    file.extend(pcap_record(&cut, cut.data.len() - 200));
    file.extend(pcap_record(&packets[4], packets[4].data.len()));
    let captured = read(file).unwrap();
    // The method and header frames are whole; the body frame (308 octets)
    // lost its last 200.
    assert_eq!(
        short(&captured),
        [
            "C protocol-header".to_string(),
            "C basic.publish".into(),
            "C header".into(),
            "C Gap { missing: 200 }".into(),
            "C Resync { skipped: 108 }".into(),
            "C basic.publish".into(),
            "C header".into(),
            "C body \"after\"".into(),
        ]
    );
}

#[test]
fn a_malformed_frame_is_noted_and_the_next_boundary_found() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    let mut octets = PROTOCOL_HEADER.to_vec();
    // A heartbeat whose frame-end octet is wrong.
    octets.extend([8, 0, 0, 0, 0, 0, 0, 0xAB]);
    octets.extend(publish(1, "q", b"ok"));
    packets.push(tcp.client_sends(&octets));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(
        short(&captured),
        [
            "C protocol-header",
            "C Malformed { error: BadFrameEnd(171) }",
            "C Resync { skipped: 8 }",
            "C basic.publish",
            "C header",
            "C body \"ok\"",
        ]
    );
    assert!(captured[1]
        .item
        .to_string()
        .contains("frame end octet is 0xab"));
}

#[test]
fn a_stream_that_ends_inside_a_frame_says_so() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    let mut octets = PROTOCOL_HEADER.to_vec();
    octets.extend(&publish(1, "q", b"cut")[..15]);
    packets.push(tcp.client_sends(&octets));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    assert_eq!(
        short(&captured),
        ["C protocol-header", "C Unfinished { octets: 15 }"]
    );
}

#[test]
fn two_connections_interleaved_and_a_reused_port() {
    let mut a = Tcp::new("10.0.0.1:40000", "10.0.0.2:5672");
    let mut b = Tcp::new("10.0.0.3:40000", "10.0.0.2:5672");
    let (pa, pb) = (
        whole_connection(&mut a, b"from a"),
        whole_connection(&mut b, b"from b"),
    );
    let mut packets: Vec<Packet> = pa.into_iter().zip(pb).flat_map(|(x, y)| [x, y]).collect();
    // Then a new connection on a's addresses, with a new initial sequence number.
    let mut again = Tcp::new("10.0.0.1:40000", "10.0.0.2:5672");
    again.client_seq = 7;
    packets.extend(whole_connection(&mut again, b"again"));
    let captured = read(pcap(LINKTYPE_ETHERNET, &packets)).unwrap();
    let of = |client: &str| -> Vec<String> {
        let client = client.parse().unwrap();
        let mine: Vec<_> = captured
            .iter()
            .filter(|c| c.connection.client == client)
            .cloned()
            .collect();
        short(&mine)
    };
    let mut twice = whole_session();
    twice.extend(whole_session());
    assert_eq!(of("10.0.0.1:40000").len(), twice.len());
    assert_eq!(of("10.0.0.3:40000").len(), whole_session().len());
    assert!(of("10.0.0.1:40000").join("\n").contains("from a"));
    assert!(of("10.0.0.1:40000").join("\n").contains("again"));
}

#[test]
fn records_larger_than_the_first_read_buffer() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = whole_connection(&mut tcp, b"hello");
    // 200 KB of something else on the link (a TSO-sized frame would do
    // the same): skipped, after the read buffer grew for it.
    let mut big = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5];
    big.resize(200_000, 0x55);
    packets.insert(
        5,
        Packet {
            time: packets[5].time,
            data: big,
        },
    );
    for file in [
        pcap(LINKTYPE_ETHERNET, &packets),
        pcapng(LINKTYPE_ETHERNET as u16, &packets),
    ] {
        assert_eq!(short(&read(file).unwrap()), whole_session());
    }
}

// ===== bad files =====

fn good_file() -> (Vec<u8>, Vec<Packet>) {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let packets = whole_connection(&mut tcp, b"hello");
    (pcap(LINKTYPE_ETHERNET, &packets), packets)
}

/// Offset of record `n` (1-based) in a file from [`pcap`].
fn record_offset(packets: &[Packet], n: usize) -> usize {
    24 + packets[..n - 1]
        .iter()
        .map(|p| 16 + p.data.len())
        .sum::<usize>()
}

#[test]
fn a_truncated_file_is_an_error_after_what_came_before() {
    let (file, packets) = good_file();
    // Cut in the middle of record 8 (the server's connection.start arrives
    // in record 5).
    let at = record_offset(&packets, 8);
    let (seen, error) = read_until_error(file[..at + 20].to_vec());
    assert_eq!(
        short(&seen)[..2],
        ["C protocol-header", "S connection.start"]
    );
    assert!(
        matches!(error, CaptureError::Truncated { record: 8, .. }),
        "{error:?}"
    );
    assert_eq!(error.offset(), at as u64);
    assert_eq!(
        error.to_string(),
        format!("capture file truncated: it ends inside record 8, which starts at offset {at}")
    );
    // Cut inside a record header, and inside the file header.
    let (_, error) = read_until_error(file[..at + 3].to_vec());
    assert!(
        matches!(error, CaptureError::Truncated { record: 8, .. }),
        "{error:?}"
    );
    let error = read(file[..10].to_vec()).unwrap_err();
    assert!(
        matches!(error, CaptureError::Truncated { record: 0, .. }),
        "{error:?}"
    );
}

#[test]
fn a_corrupt_record_header_is_an_error_that_says_where() {
    let (file, packets) = good_file();
    let at = record_offset(&packets, 6);
    // A captured length of 4 GiB - 16.
    let mut huge = file.clone();
    huge[at + 8..at + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (seen, error) = read_until_error(huge);
    assert_eq!(
        short(&seen)[..2],
        ["C protocol-header", "S connection.start"]
    );
    assert!(
        matches!(error, CaptureError::Corrupt { record: 6, .. }),
        "{error:?}"
    );
    assert_eq!(error.offset(), at as u64);
    assert!(error
        .to_string()
        .starts_with(&format!("corrupt capture file at offset {at} (record 6): ")));
    // A microsecond count of a second or more.
    let mut bad_time = file.clone();
    bad_time[at + 4..at + 8].copy_from_slice(&1_000_000u32.to_le_bytes());
    let (_, error) = read_until_error(bad_time);
    assert!(
        matches!(error, CaptureError::Corrupt { record: 6, .. }),
        "{error:?}"
    );
}

#[test]
fn a_corrupt_pcapng_block_is_an_error() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let packets = whole_connection(&mut tcp, b"hello");
    let mut file = pcapng(LINKTYPE_ETHERNET as u16, &packets);
    // The trailing length of the last block disagrees with the leading one.
    let n = file.len();
    file[n - 4] ^= 0x04;
    let (seen, error) = read_until_error(file);
    assert!(seen.len() >= whole_session().len() - 3);
    assert!(matches!(error, CaptureError::Corrupt { .. }), "{error:?}");
}

#[test]
fn not_a_capture_and_empty_files() {
    let error = read(b"AMQP\x00\x00\x09\x01".to_vec()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a pcap or pcapng capture file (it starts with 0x414d5150)"
    );
    let error = read(Vec::new()).unwrap_err();
    assert!(
        matches!(error, CaptureError::NotACapture { .. }),
        "{error:?}"
    );
    // A capture with no packets is fine.
    assert_eq!(read(pcap(LINKTYPE_ETHERNET, &[])).unwrap(), []);
}

#[test]
fn an_unsupported_link_type_is_an_error() {
    let (mut file, _) = good_file();
    file[20..24].copy_from_slice(&105u32.to_le_bytes()); // IEEE 802.11
    let error = read(file).unwrap_err();
    assert!(
        matches!(
            error,
            CaptureError::UnsupportedLinkType {
                link_type: 105,
                record: 1,
                offset: 24
            }
        ),
        "{error:?}"
    );
}

/// Damage anywhere in a good file: an error or fewer frames, never a panic
/// or a hang.
#[test]
fn damaged_files_never_panic() {
    let (file, _) = good_file();
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let ng = pcapng(
        LINKTYPE_ETHERNET as u16,
        &whole_connection(&mut tcp, b"hello"),
    );
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for original in [file, ng] {
        for _ in 0..400 {
            let mut damaged = original.clone();
            for _ in 0..1 + random() % 4 {
                let at = (random() % damaged.len() as u64) as usize;
                damaged[at] = random() as u8;
            }
            if random() % 4 == 0 {
                damaged.truncate((random() % damaged.len() as u64) as usize);
            }
            if let Ok(reader) = CaptureReader::new(Cursor::new(damaged)) {
                for _ in reader {}
            }
        }
    }
}
