//! Runs the real `amqp-decode` binary on frames built with amqp-wire's own
//! encoder (or literal bytes) and checks its output line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use amqp_wire::field_table::decode_table;
use amqp_wire::{
    BasicProperties, BasicPublish, ConnectionStartOk, ContentHeader, Decimal, FieldTable,
    FieldValue, Frame, LongString, ShortString, PROTOCOL_HEADER,
};
use bytes::{Bytes, BytesMut};

fn decoder() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amqp-decode"))
}

/// Runs the decoder with `args`, feeding `input` on stdin.
fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = decoder()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread so a large output cannot deadlock us; the decoder
    // may exit (malformed input) before reading all of it: ignore EPIPE.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn stdout_lines(output: &Output) -> Vec<&str> {
    std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect()
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).unwrap()
}

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        frame.encode(&mut buf).unwrap();
    }
    buf.to_vec()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value only the decoder makes (`U`, `L`), obtained the only way there is:
/// decoding `{v: letter payload}`.
fn decoded(letter: u8, payload: &[u8]) -> FieldValue {
    let mut wire = ((3 + payload.len()) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&[1, b'v', letter]);
    wire.extend_from_slice(payload);
    let table = decode_table(&Bytes::from(wire)).expect("decodes");
    table.get("v").cloned().expect("the entry v")
}

fn publish() -> Frame {
    Frame::method(
        1,
        BasicPublish {
            routing_key: "task_queue".into(),
            ..Default::default()
        },
    )
}

/// A client's side of a connection that publishes one message:
/// protocol header, start-ok, publish, content header, body, heartbeat.
fn session() -> Vec<u8> {
    let start_ok = Frame::method(
        0,
        ConnectionStartOk {
            client_properties: FieldTable::new().with("product", "amqp-wire").with(
                "capabilities",
                FieldValue::Table(FieldTable::new().with("publisher_confirms", true)),
            ),
            mechanism: "PLAIN".into(),
            response: "\0guest\0guest".into(),
            locale: "en_US".into(),
        },
    );
    let headers = FieldTable::new()
        .with("text", "hi \"there\"")
        .with("count", -5i32)
        .with("flag", true)
        .with(
            "nested",
            FieldValue::Table(FieldTable::new().with("k", 1u8)),
        )
        .with(
            "list",
            FieldValue::Array(vec![FieldValue::from("a"), FieldValue::from(2i64)]),
        )
        .with(
            "raw",
            FieldValue::ByteArray(Bytes::from_static(&[0x00, 0xff])),
        )
        .with(
            "price",
            Decimal {
                scale: 2,
                value: 12345,
            },
        )
        .with("at", FieldValue::Timestamp(1_700_000_000))
        .with("nothing", FieldValue::Void)
        .with("ratio", 1.5f64);
    let properties = BasicProperties {
        headers: Some(headers),
        ..BasicProperties::default().persistent()
    };
    let mut bytes = PROTOCOL_HEADER.to_vec();
    bytes.extend(encode(&[
        start_ok,
        publish(),
        Frame::Header {
            channel: 1,
            header: Box::new(ContentHeader::new(5, properties)),
        },
        Frame::Body {
            channel: 1,
            payload: Bytes::from_static(b"hello"),
        },
        Frame::Heartbeat,
    ]));
    bytes
}

const SESSION_READABLE: &[&str] = &[
    "protocol-header AMQP 0-9-1",
    r#"ch=0 connection.start-ok client_properties={product: "amqp-wire", capabilities: {publisher_confirms: true}} mechanism="PLAIN" response="\0guest\0*****" locale="en_US""#,
    r#"ch=1 basic.publish exchange="" routing_key="task_queue" mandatory=false immediate=false"#,
    r#"ch=1 content-header class=60 body_size=5 headers={text: "hi \"there\"", count: -5, flag: true, nested: {k: 1}, list: ["a", 2], raw: 0x00ff, price: 12345e-2, at: T1700000000, nothing: void, ratio: 1.5} delivery_mode=2"#,
    r#"ch=1 content-body size=5 "hello""#,
    "ch=0 heartbeat",
];

const SESSION_JSON: &[&str] = &[
    r#"{"frame":"protocol_header","version":"0-9-1"}"#,
    r#"{"frame":"method","channel":0,"method":"connection.start-ok","args":{"client_properties":{"product":{"S":"amqp-wire"},"capabilities":{"F":{"publisher_confirms":{"t":true}}}},"mechanism":"PLAIN","response":"\u0000guest\u0000*****","locale":"en_US"}}"#,
    r#"{"frame":"method","channel":1,"method":"basic.publish","args":{"ticket":0,"exchange":"","routing_key":"task_queue","mandatory":false,"immediate":false}}"#,
    r#"{"frame":"header","channel":1,"class_id":60,"body_size":5,"properties":{"headers":{"text":{"S":"hi \"there\""},"count":{"I":-5},"flag":{"t":true},"nested":{"F":{"k":{"B":1}}},"list":{"A":[{"S":"a"},{"l":2}]},"raw":{"x":"00ff"},"price":{"D":{"scale":2,"value":12345}},"at":{"T":1700000000},"nothing":{"V":null},"ratio":{"d":1.5}},"delivery_mode":2}}"#,
    r#"{"frame":"body","channel":1,"size":5,"hex":"68656c6c6f"}"#,
    r#"{"frame":"heartbeat","channel":0}"#,
];

#[test]
fn readable_output_of_a_publish_session() {
    let output = run(&[], &session());
    assert_eq!(stderr(&output), "");
    assert_eq!(stdout_lines(&output), SESSION_READABLE);
    assert!(output.status.success());
}

#[test]
fn json_output_of_a_publish_session() {
    let output = run(&["--json"], &session());
    assert_eq!(stderr(&output), "");
    let lines = stdout_lines(&output);
    assert_eq!(lines, SESSION_JSON);
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    assert!(output.status.success());
}

#[test]
fn hex_input_with_whitespace_and_newlines() {
    let hex = to_hex(&session());
    // Lines of 32 digits, indented, with a space inside and a blank line.
    let mut text = String::from("\n");
    for (i, line) in hex.as_bytes().chunks(32).enumerate() {
        let line = std::str::from_utf8(line).unwrap();
        let (a, b) = line.split_at(line.len() / 2);
        text.push_str(&format!("  {a} {b}\r\n"));
        if i == 3 {
            text.push('\n');
        }
    }
    let output = run(&["--json", "--hex"], text.as_bytes());
    assert_eq!(stderr(&output), "");
    assert_eq!(stdout_lines(&output), SESSION_JSON);
    assert!(output.status.success());

    // Upper case works too.
    let output = run(&["--hex"], hex.to_uppercase().as_bytes());
    assert_eq!(stdout_lines(&output), SESSION_READABLE);
    assert!(output.status.success());
}

#[test]
fn bad_hex_digit_prints_frames_before_it_and_names_its_offset() {
    let text = format!("{}\nzz", to_hex(&encode(&[Frame::Heartbeat])));
    let output = run(&["--hex"], text.as_bytes());
    assert_eq!(stdout_lines(&output), ["ch=0 heartbeat"]);
    assert_eq!(
        stderr(&output),
        "amqp-decode: --hex input: 'z' at input offset 17 is not a hex digit\n"
    );
    assert_eq!(output.status.code(), Some(1));

    let output = run(&["--hex"], b"0800000000000ce");
    assert_eq!(
        stderr(&output),
        "amqp-decode: --hex input ends in the middle of an octet (odd number of hex digits)\n"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn malformed_frame_after_two_good_ones() {
    let good = encode(&[Frame::Heartbeat, publish()]);
    let mut input = good.clone();
    // A heartbeat whose frame-end octet is wrong.
    input.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0xcd]);

    let output = run(&["--json"], &input);
    assert_eq!(
        stdout_lines(&output),
        [
            r#"{"frame":"heartbeat","channel":0}"#,
            SESSION_JSON[2],
            &format!(
                r#"{{"error":"frame end octet is 0xcd, expected 0xce","offset":{},"reply_code":501}}"#,
                good.len()
            ),
        ]
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(output.status.code(), Some(1));

    let output = run(&[], &input);
    assert_eq!(
        stdout_lines(&output),
        ["ch=0 heartbeat", SESSION_READABLE[2]]
    );
    assert_eq!(
        stderr(&output),
        format!(
            "error at offset {}: frame end octet is 0xcd, expected 0xce (reply code 501 FRAME_ERROR)\n",
            good.len()
        )
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn errors_carry_the_reply_code_of_the_decode_error() {
    // basic.publish's payload cut short inside its frame: a syntax error (502).
    let input = [1, 0, 1, 0, 0, 0, 5, 0, 60, 0, 40, 0, 0xce];
    let output = run(&["--json"], &input);
    assert_eq!(
        stdout_lines(&output),
        [r#"{"error":"method: payload truncated","offset":0,"reply_code":502}"#]
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn truncated_stream() {
    let good = encode(&[Frame::Heartbeat]);
    let publish = encode(&[publish()]);
    let mut input = good.clone();
    input.extend_from_slice(&publish[..publish.len() - 3]);

    let output = run(&["--json"], &input);
    assert_eq!(
        stdout_lines(&output),
        [
            r#"{"frame":"heartbeat","channel":0}"#,
            r#"{"error":"truncated: input ended inside a frame","offset":8,"reply_code":501}"#,
        ]
    );
    assert_eq!(output.status.code(), Some(1));

    let output = run(&[], &input);
    assert_eq!(stdout_lines(&output), ["ch=0 heartbeat"]);
    assert_eq!(
        stderr(&output),
        "error at offset 8: truncated: input ended inside a frame (reply code 501 FRAME_ERROR)\n"
    );
    assert_eq!(output.status.code(), Some(1));

    // Inside a frame's 7-octet header, and inside the protocol header.
    for input in [&[8, 0, 0][..], b"AMQP\x00\x00"] {
        let output = run(&["--json"], input);
        assert_eq!(
            stdout_lines(&output),
            [r#"{"error":"truncated: input ended inside a frame","offset":0,"reply_code":501}"#]
        );
        assert_eq!(output.status.code(), Some(1));
    }
}

#[test]
fn empty_input_is_fine() {
    let output = run(&["--json"], b"");
    assert_eq!(output.stdout, b"");
    assert_eq!(stderr(&output), "");
    assert!(output.status.success());
}

#[test]
fn frame_larger_than_frame_max() {
    let body = Frame::Body {
        channel: 1,
        payload: Bytes::from(vec![b'x'; 5000]),
    };
    let mut input = encode(&[Frame::Heartbeat, body]);

    let output = run(&["--json", "--frame-max", "4096"], &input);
    assert_eq!(
        stdout_lines(&output),
        [
            r#"{"frame":"heartbeat","channel":0}"#,
            r#"{"error":"frame of 5000 payload octets exceeds frame_max 4096","offset":8,"reply_code":501}"#,
        ]
    );
    assert_eq!(output.status.code(), Some(1));

    // The default (131072) takes it; so does `--frame-max=N`.
    for args in [&["--json"][..], &["--json", "--frame-max=5008"]] {
        let output = run(args, &input);
        let lines = stdout_lines(&output);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with(r#"{"frame":"body","channel":1,"size":5000,"hex":"7878"#));
        assert!(output.status.success());
    }

    // The limit counts the 8 octets of frame overhead.
    input.truncate(8);
    input.extend(encode(&[Frame::Body {
        channel: 1,
        payload: Bytes::from(vec![0; 4096 - 8 + 1]),
    }]));
    let output = run(&["--frame-max", "4096"], &input);
    assert_eq!(
        stderr(&output),
        "error at offset 8: frame of 4089 payload octets exceeds frame_max 4096 (reply code 501 FRAME_ERROR)\n"
    );
}

#[test]
fn protocol_header_only_at_offset_zero() {
    let mut input = encode(&[Frame::Heartbeat]);
    input.extend_from_slice(&PROTOCOL_HEADER);
    let output = run(&["--json"], &input);
    assert_eq!(
        stdout_lines(&output),
        [
            r#"{"frame":"heartbeat","channel":0}"#,
            r#"{"error":"peer sent a protocol header (version 0-9-1) where a frame was expected","offset":8,"reply_code":501}"#,
        ]
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn invalid_utf8_in_a_shortstr_shows_hex() {
    let frame = Frame::method(
        1,
        BasicPublish {
            exchange: ShortString::from(&b"ex\xff"[..]),
            routing_key: "rk".into(),
            ..Default::default()
        },
    );
    let input = encode(&[frame]);
    let output = run(&["--json"], &input);
    assert_eq!(
        stdout_lines(&output),
        [
            r#"{"frame":"method","channel":1,"method":"basic.publish","args":{"ticket":0,"exchange":{"hex":"6578ff"},"routing_key":"rk","mandatory":false,"immediate":false}}"#
        ]
    );
    let output = run(&[], &input);
    assert_eq!(
        stdout_lines(&output),
        [
            r#"ch=1 basic.publish exchange=0x6578ff routing_key="rk" mandatory=false immediate=false"#
        ]
    );
}

#[test]
fn every_field_value_letter_in_json() {
    let table = FieldTable::new()
        .with("t", false)
        .with("b", -8i8)
        .with("B", 200u8)
        .with("s", -16i16)
        .with("u", 60000u16)
        .with("I", -32i32)
        .with("i", 4_000_000_000u32)
        .with("l", -64i64)
        .with("f", 0.1f32)
        .with("d", -2.5e-7f64)
        .with("D", Decimal { scale: 0, value: 7 })
        .with("S", LongString::from(&b"\xc3("[..]))
        .with("x", FieldValue::ByteArray(Bytes::new()))
        .with("A", FieldValue::Array(vec![]))
        .with("T", FieldValue::Timestamp(0))
        .with("F", FieldValue::Table(FieldTable::new()))
        .with("V", FieldValue::Void)
        .with("U", decoded(b'U', &(-1i16).to_be_bytes()))
        .with("L", decoded(b'L', &i64::MIN.to_be_bytes()))
        .with("nan", f64::NAN)
        .with(ShortString::from(&b"key\xff"[..]), 1u8);
    let header = Frame::Header {
        channel: 3,
        header: Box::new(ContentHeader::new(
            0,
            BasicProperties {
                headers: Some(table),
                ..Default::default()
            },
        )),
    };
    let output = run(&["--json"], &encode(&[header]));
    let lines = stdout_lines(&output);
    assert_eq!(
        lines,
        [concat!(
            r#"{"frame":"header","channel":3,"class_id":60,"body_size":0,"properties":{"headers":{"#,
            r#""t":{"t":false},"b":{"b":-8},"B":{"B":200},"s":{"s":-16},"u":{"u":60000},"#,
            r#""I":{"I":-32},"i":{"i":4000000000},"l":{"l":-64},"f":{"f":0.1},"d":{"d":-2.5e-7},"#,
            r#""D":{"D":{"scale":0,"value":7}},"S":{"S":{"hex":"c328"}},"x":{"x":""},"A":{"A":[]},"#,
            r#""T":{"T":0},"F":{"F":{}},"V":{"V":null},"U":{"U":-1},"L":{"L":-9223372036854775808},"#,
            r#""nan":{"d":"NaN"},"#,
            // An object key can't be {"hex":..}: invalid octets become U+FFFD.
            "\"key\u{fffd}\":{\"B\":1}}}}"
        )]
    );
    serde_json::from_str::<serde_json::Value>(lines[0]).unwrap();
}

/// A decimal's value is signed: pika's `Decimal("-1.5")` arrives as scale 1,
/// value -15 (octets `01 FFFFFFF1`), not as 4294967281.
#[test]
fn negative_decimals_print_with_their_sign() {
    let decimal = |scale, value| FieldValue::Decimal(Decimal { scale, value });
    let table = FieldTable::new()
        .with("neg", decimal(1, -15))
        .with("min", decimal(0, i32::MIN))
        .with("pos", decimal(2, 1999))
        .with("in", FieldValue::Array(vec![decimal(3, -1)]));
    let header = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(
            0,
            BasicProperties {
                headers: Some(table),
                ..Default::default()
            },
        )),
    };
    let input = encode(&[header]);
    assert!(
        input.windows(6).any(|w| w == b"D\x01\xff\xff\xff\xf1"),
        "-1.5 is sent as 01 FFFFFFF1"
    );

    let output = run(&[], &input);
    assert_eq!(stderr(&output), "");
    assert_eq!(
        stdout_lines(&output),
        ["ch=1 content-header class=60 body_size=0 headers={neg: -15e-1, min: -2147483648e-0, pos: 1999e-2, in: [-1e-3]}"]
    );

    let output = run(&["--json"], &input);
    assert_eq!(stderr(&output), "");
    let lines = stdout_lines(&output);
    assert_eq!(
        lines,
        [concat!(
            r#"{"frame":"header","channel":1,"class_id":60,"body_size":0,"properties":{"headers":{"#,
            r#""neg":{"D":{"scale":1,"value":-15}},"min":{"D":{"scale":0,"value":-2147483648}},"#,
            r#""pos":{"D":{"scale":2,"value":1999}},"in":{"A":[{"D":{"scale":3,"value":-1}}]}}}}"#
        )]
    );
    serde_json::from_str::<serde_json::Value>(lines[0]).unwrap();
}

#[test]
fn every_property_named_as_in_the_spec() {
    let properties = BasicProperties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("utf-8".into()),
        headers: Some(FieldTable::new()),
        delivery_mode: Some(1),
        priority: Some(9),
        correlation_id: Some("c1".into()),
        reply_to: Some("amq.rabbitmq.reply-to".into()),
        expiration: Some("60000".into()),
        message_id: Some("m1".into()),
        timestamp: Some(1_700_000_000),
        r#type: Some("greeting".into()),
        user_id: Some("guest".into()),
        app_id: Some("demo".into()),
        cluster_id: Some(String::new().into()),
    };
    let header = Frame::Header {
        channel: 1,
        header: Box::new(ContentHeader::new(2, properties)),
    };
    let input = encode(&[header]);
    let output = run(&["--json"], &input);
    assert_eq!(
        stdout_lines(&output),
        [concat!(
            r#"{"frame":"header","channel":1,"class_id":60,"body_size":2,"properties":{"#,
            r#""content_type":"text/plain","content_encoding":"utf-8","headers":{},"#,
            r#""delivery_mode":1,"priority":9,"correlation_id":"c1","#,
            r#""reply_to":"amq.rabbitmq.reply-to","expiration":"60000","message_id":"m1","#,
            r#""timestamp":1700000000,"type":"greeting","user_id":"guest","app_id":"demo","#,
            r#""cluster_id":""}}"#
        )]
    );
    let output = run(&[], &input);
    assert_eq!(
        stdout_lines(&output),
        [concat!(
            r#"ch=1 content-header class=60 body_size=2 content_type="text/plain" "#,
            r#"content_encoding="utf-8" headers={} delivery_mode=1 priority=9 "#,
            r#"correlation_id="c1" reply_to="amq.rabbitmq.reply-to" expiration="60000" "#,
            r#"message_id="m1" timestamp=1700000000 type="greeting" user_id="guest" "#,
            r#"app_id="demo" cluster_id="""#
        )]
    );
}

#[test]
fn reads_a_file_or_stdin_for_dash() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("amqp-decode-session.bin");
    std::fs::write(&path, session()).unwrap();
    let output = run(&[path.to_str().unwrap()], b"ignored");
    assert_eq!(stdout_lines(&output), SESSION_READABLE);
    assert!(output.status.success());

    let output = run(&["--json", "-"], &session());
    assert_eq!(stdout_lines(&output), SESSION_JSON);
    assert!(output.status.success());
}

fn assert_usage_error(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(output.stdout, b"");
    let stderr = stderr(output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(lines[0], format!("amqp-decode: {message}"));
    assert_eq!(
        lines[1],
        "usage: amqp-decode [--json] [--hex] [--frame-max N] [--show-secrets] [FILE | -]"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_usage_error(&run(&["--jsn"], b""), r#"unknown option "--jsn""#);
    assert_usage_error(
        &run(&["/nonexistent/capture.bin"], b""),
        "cannot open /nonexistent/capture.bin: No such file or directory (os error 2)",
    );
    assert_usage_error(
        &run(&["--frame-max", "4095"], b""),
        r#"--frame-max "4095": expected a number from 4096 to 4294967295"#,
    );
    assert_usage_error(
        &run(&["--frame-max=lots"], b""),
        r#"--frame-max "lots": expected a number from 4096 to 4294967295"#,
    );
    assert_usage_error(&run(&["--frame-max"], b""), "--frame-max needs a value");
    assert_usage_error(&run(&["a", "b"], b""), "more than one input file");
}

#[test]
fn help_prints_usage_and_exits_0() {
    let output = run(&["--help"], b"");
    assert!(output.status.success());
    let help = std::str::from_utf8(&output.stdout).unwrap();
    assert!(help.contains(
        "usage: amqp-decode [--json] [--hex] [--frame-max N] [--show-secrets] [FILE | -]"
    ));
    assert!(help.contains("--frame-max N"));
    assert_eq!(stderr(&output), "");
}

#[test]
fn frames_are_printed_as_they_arrive() {
    let mut child = decoder()
        .arg("--json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            tx.send(std::mem::take(&mut line)).unwrap();
        }
    });
    let heartbeat = encode(&[Frame::Heartbeat]);
    for _ in 0..2 {
        // Split the frame across two writes; stdin stays open all along.
        stdin.write_all(&heartbeat[..3]).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        stdin.write_all(&heartbeat[3..]).unwrap();
        stdin.flush().unwrap();
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(line, "{\"frame\":\"heartbeat\",\"channel\":0}\n");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}

#[test]
fn closed_stdout_pipe_ends_quietly() {
    let mut child = decoder()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `amqp-decode | head -0`: nobody reads stdout.
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let many = encode(&vec![Frame::Heartbeat; 10_000]);
    let _ = stdin.write_all(&many); // the decoder may be gone before the end
    drop(stdin);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(err, "");
    assert_eq!(status.code(), Some(0));
}

/// Without the `capture` feature, a capture is recognised and the way to a
/// build that reads it is shown.
#[cfg(not(feature = "capture"))]
#[test]
fn a_capture_without_the_capture_feature_says_how_to_get_it() {
    let pcap_header = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ];
    let output = run(&[], &pcap_header);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).starts_with(
            "amqp-decode: stdin is a pcap/pcapng capture, and this amqp-decode was built without \
             capture support.\n"
        ),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--features capture"));
}

/// Traces get pasted into issues: PLAIN's password and update-secret's
/// token are masked unless asked for.
#[test]
fn secrets_are_masked_unless_show_secrets_is_given() {
    let bytes = session();
    let masked = stdout_lines(&run(&[], &bytes)).join("\n");
    assert!(masked.contains(r#"response="\0guest\0*****""#), "{masked}");
    assert!(!masked.contains(r#"\0guest\0guest"#));
    let shown = stdout_lines(&run(&["--show-secrets"], &bytes)).join("\n");
    assert!(shown.contains(r#"response="\0guest\0guest""#), "{shown}");
}
