//! `amqp-decode` on capture files (built by `pcap_builder`): readable and
//! JSON output, stdin, and bad files.
#![cfg(feature = "capture")]

mod pcap_builder;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use pcap_builder::*;

fn decoder() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amqp-decode"))
}

/// Runs the decoder on `file`, given as a path argument.
fn run_on_file(args: &[&str], file: &[u8]) -> Output {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "cli-capture-{}-{}.pcap",
        std::process::id(),
        FILES.fetch_add(1, Ordering::Relaxed)
    );
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, file).unwrap();
    let output = decoder().args(args).arg(&path).output().unwrap();
    let _ = std::fs::remove_file(&path);
    output
}

fn lines(output: &Output) -> Vec<&str> {
    std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect()
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).unwrap()
}

fn session() -> Vec<u8> {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    pcap(LINKTYPE_ETHERNET, &whole_connection(&mut tcp, b"hello"))
}

#[test]
fn readable_output_has_time_connection_direction_and_frame() {
    let output = run_on_file(&[], &session());
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = lines(&output);
    assert_eq!(lines.len(), 12);
    assert_eq!(
        lines[0],
        "09:55:02.004000 10.0.0.1:40312 -> 10.0.0.2:5672 protocol-header AMQP 0-9-1"
    );
    assert!(lines[1]
        .starts_with("09:55:02.005000 10.0.0.1:40312 <- 10.0.0.2:5672 ch=0 connection.start "));
    assert_eq!(
        lines[4],
        "09:55:02.008000 10.0.0.1:40312 -> 10.0.0.2:5672 ch=0 connection.tune-ok channel_max=2047 \
         frame_max=131072 heartbeat=60"
    );
    assert_eq!(
        lines[11],
        r#"09:55:02.012000 10.0.0.1:40312 -> 10.0.0.2:5672 ch=1 content-body size=5 "hello""#
    );
}

#[test]
fn json_output_adds_capture_members_to_the_frame_objects() {
    let output = run_on_file(&["--json"], &session());
    assert!(output.status.success(), "{}", stderr(&output));
    let objects: Vec<serde_json::Value> = lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON object"))
        .collect();
    assert_eq!(objects.len(), 12);
    assert_eq!(objects[0]["frame"], "protocol_header");
    assert_eq!(objects[0]["time"], "2024-05-01T09:55:02.004000Z");
    assert_eq!(objects[0]["packet"], 4);
    assert_eq!(objects[0]["client"], "10.0.0.1:40312");
    assert_eq!(objects[0]["server"], "10.0.0.2:5672");
    assert_eq!(objects[0]["from"], "client");
    assert_eq!(objects[1]["from"], "server");
    assert_eq!(objects[1]["method"], "connection.start");
    assert_eq!(objects[9]["method"], "basic.publish");
    assert_eq!(objects[9]["args"]["routing_key"], "q");
    assert_eq!(objects[11]["frame"], "body");
    assert_eq!(objects[11]["hex"], "68656c6c6f");
}

#[test]
fn a_capture_on_stdin() {
    let mut child = decoder()
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = session();
    let mut stdin = child.stdin.take().unwrap();
    // In small pieces, as a pipe delivers them.
    let writer = std::thread::spawn(move || {
        for piece in file.chunks(7) {
            stdin.write_all(piece).unwrap();
            stdin.flush().unwrap();
        }
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines(&output).len(), 12);
}

#[test]
fn notes_are_lines_too() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    tcp.handshake();
    let mut octets = publish(1, "q", b"before")[5..].to_vec();
    octets.extend(publish(1, "q", b"after"));
    let file = pcap(LINKTYPE_ETHERNET, &[tcp.client_sends(&octets)]);
    let output = run_on_file(&[], &file);
    assert!(output.status.success(), "{}", stderr(&output));
    let readable = lines(&output);
    assert!(readable[0].ends_with(
        "10.0.0.1:40312 -> 10.0.0.2:5672 note: capture starts mid-connection (no SYN seen): \
         server guessed by its AMQP port 5672; decoding from the next frame boundary"
    ));
    assert!(readable[1].contains("note: resynchronised on a frame boundary after skipping"));
    let output = run_on_file(&["--json"], &file);
    let first: serde_json::Value = serde_json::from_str(lines(&output)[0]).unwrap();
    assert_eq!(first["note"], "mid_connection");
    assert_eq!(first["server_by"], "amqp_port");
    assert_eq!(first["port"], 5672);
}

#[test]
fn a_truncated_capture_prints_what_came_before_then_fails() {
    let file = session();
    // Inside the last packet (the client's final ACK).
    let cut = &file[..file.len() - 30];
    let output = run_on_file(&[], cut);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(lines(&output).len(), 12);
    assert!(
        stderr(&output).starts_with("amqp-decode: capture file truncated: it ends inside record "),
        "{}",
        stderr(&output)
    );
    let output = run_on_file(&["--json"], cut);
    assert_eq!(output.status.code(), Some(1));
    let last: serde_json::Value = serde_json::from_str(lines(&output).last().unwrap()).unwrap();
    assert!(last["error"]
        .as_str()
        .unwrap()
        .starts_with("capture file truncated"));
    assert!(last["offset"].as_u64().unwrap() > 24);
}

#[test]
fn a_malformed_frame_in_a_capture_fails_after_everything_is_printed() {
    let mut tcp = Tcp::new("10.0.0.1:40312", "10.0.0.2:5672");
    let mut packets = tcp.handshake();
    let mut octets = amqp_wire::PROTOCOL_HEADER.to_vec();
    octets.extend([1, 0, 0, 0, 0, 0, 4, 0, 99, 0, 1, 0xCE]); // class 99: unknown
    octets.extend(publish(1, "q", b"ok"));
    packets.push(tcp.client_sends(&octets));
    let output = run_on_file(&[], &pcap(LINKTYPE_ETHERNET, &packets));
    assert_eq!(output.status.code(), Some(1));
    let lines = lines(&output);
    assert!(
        lines[1].contains("note: malformed frame: unknown method 99/1 (reply code 540"),
        "{}",
        lines[1]
    );
    assert!(lines
        .last()
        .unwrap()
        .ends_with(r#"content-body size=2 "ok""#));
}

#[test]
fn a_file_that_only_looks_like_a_capture() {
    let output = run_on_file(&[], &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "amqp-decode: capture file truncated: it ends inside record 0, which starts at offset 0\n"
    );
}
