//! `amqp-decode`: print a stream of AMQP 0-9-1 frames, one line per frame,
//! from raw frame octets or from a packet capture.
//!
//! ```text
//! amqp-decode [--json] [--hex] [--frame-max N] [FILE | -]
//! ```
//!
//! Reads raw frame bytes (or hex text with `--hex`) from FILE, or from stdin
//! when FILE is absent or `-`. The input may start with the 8-octet protocol
//! header a client sends first. Input is decoded as it arrives, so a live
//! pipe prints each frame as soon as its last octet is in.
//!
//! A pcap or pcapng capture (`tcpdump -w`, Wireshark; told by its magic
//! number) is decoded whole, with the `capture` feature: every TCP
//! connection in it, both ways, each frame after its capture time (UTC),
//! client, direction (`->` to the server, `<-` to the client) and server.
//! Lost or out-of-order segments, and captures that start mid-connection,
//! are handled and said in `note:` lines (see `amqp_wire::capture`).
//!
//! ```text
//! # Both directions of every connection, from a capture:
//! tcpdump -i lo -w amqp.pcap 'tcp port 5672'
//! amqp-decode amqp.pcap
//! 09:55:02.123456 127.0.0.1:40312 -> 127.0.0.1:5672 protocol-header AMQP 0-9-1
//! 09:55:02.125001 127.0.0.1:40312 <- 127.0.0.1:5672 ch=0 connection.start version_major=0 ...
//!
//! # One direction of a live connection (client to broker), as tshark sees it:
//! tshark -i lo -l -f 'tcp dst port 5672' -T fields -e tcp.payload | amqp-decode --hex
//!
//! # A file of raw bytes, e.g. "Follow TCP Stream", one side, saved as raw:
//! amqp-decode --frame-max 4096 client-to-broker.bin
//! ```
//!
//! (For raw input, start the capture before the connection, so the stream
//! is seen from its first octet. Older tshark versions print `tcp.payload`
//! as `41:4d:51:50`; pipe it through `tr -d :` first.)
//!
//! Readable output is the `Display` of [`amqp_wire::Frame`]:
//!
//! ```text
//! ch=1 basic.publish exchange="" routing_key="task_queue" mandatory=false immediate=false
//! ```
//!
//! `--json` prints one object per line ([`amqp_wire::Frame::to_json`]; for
//! captures `amqp_wire::capture::CapturedFrame::to_json`, the same members
//! after `time`, `packet`, `client`, `server` and `from`).
//!
//! Exit status: 0 when the input ends on a frame boundary; 1 for a malformed
//! or truncated frame (after printing every frame before it: as a JSON
//! object `{"error":..,"offset":..,"reply_code":..}` on stdout with `--json`,
//! as `error at offset N: ...` on stderr otherwise), for bad hex text, for a
//! read error, for a capture file that is truncated or corrupt (the same
//! way, `{"error":..,"offset":..}`), or for a malformed frame inside a
//! captured connection (after the whole capture); 2 for a usage error, or a
//! capture given to a build without the `capture` feature. A closed stdout
//! (`| head`) ends the run quietly with status 0.

#[cfg(feature = "capture")]
mod capture;
mod raw;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::process::ExitCode;

use amqp_wire::{is_capture_file, DEFAULT_FRAME_MAX, FRAME_MIN_SIZE};

const USAGE: &str =
    "usage: amqp-decode [--json] [--hex] [--frame-max N] [--show-secrets] [FILE | -]";

const HELP: &str = "\
Print a stream of AMQP 0-9-1 frames, one line per frame.

usage: amqp-decode [--json] [--hex] [--frame-max N] [--show-secrets] [FILE | -]

  FILE             raw frame bytes, optionally starting with the protocol
                   header, or a pcap/pcapng capture (tcpdump -w, Wireshark):
                   every TCP connection in it, both ways, with time (UTC),
                   client, direction (-> to the server, <- to the client) and
                   server; stdin when absent or `-`
  --hex            the input is hex text (ASCII whitespace is ignored)
  --json           one JSON object per line instead of readable text
  --frame-max N    largest frame accepted, header and end octet included
                   (at least 4096; default 131072, RabbitMQ's default; in a
                   capture, until the connection's tune-ok settles it)
  --show-secrets   show SASL responses (PLAIN's password) and update-secret
                   tokens, which are masked as ***** by default
  -h, --help       print this help

Exit status: 0 ok, 1 malformed/truncated input (a capture: also a malformed
frame in a connection), 2 usage error (or a capture, and no capture support).
";

/// What the command line asked for.
pub(crate) struct Options {
    pub(crate) json: bool,
    pub(crate) hex: bool,
    pub(crate) frame_max: u32,
    /// Credentials shown as they are, not masked.
    pub(crate) show_secrets: bool,
    path: Option<OsString>,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => return usage_error(&message),
    };
    let (mut input, name): (Box<dyn Read + Send>, String) = match &options.path {
        Some(path) if path != "-" => match File::open(path) {
            Ok(file) => (Box::new(file), path.to_string_lossy().into_owned()),
            Err(e) => return usage_error(&format!("cannot open {}: {e}", path.to_string_lossy())),
        },
        _ => (Box::new(io::stdin()), "stdin".into()),
    };
    let mut out = io::stdout().lock();
    if options.hex {
        return raw::run(input, &mut out, &options);
    }
    // Hex text is never a capture; raw octets are told from one by its
    // first four.
    let head = match read_head(&mut input) {
        Ok(head) => head,
        Err(e) => return fail(&format!("reading input: {e}")),
    };
    let capture = is_capture_file(&head);
    let input = io::Cursor::new(head).chain(input);
    if capture {
        decode_capture(input, &name, &mut out, &options)
    } else {
        raw::run(input, &mut out, &options)
    }
}

#[cfg(feature = "capture")]
fn decode_capture(
    input: impl Read + Send + 'static,
    _name: &str,
    out: &mut impl io::Write,
    options: &Options,
) -> ExitCode {
    capture::run(input, out, options)
}

#[cfg(not(feature = "capture"))]
fn decode_capture(
    _input: impl Read + Send + 'static,
    name: &str,
    _out: &mut impl io::Write,
    _options: &Options,
) -> ExitCode {
    eprintln!(
        "amqp-decode: {name} is a pcap/pcapng capture, and this amqp-decode was built \
         without capture support.\n\
         Build it with the `capture` feature of amqp-wire, e.g.\n  \
         cargo install --path amqp-wire --features capture\n  \
         cargo run -p amqp-wire --features capture --bin amqp-decode -- {name}"
    );
    ExitCode::from(2)
}

/// The first 4 octets of the input (fewer if it is shorter).
fn read_head(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = [0; 4];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(head[..got].to_vec())
}

/// `Ok(None)` for `--help`; `Err` names what is wrong with the arguments.
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Option<Options>, String> {
    let mut options = Options {
        json: false,
        hex: false,
        frame_max: DEFAULT_FRAME_MAX,
        show_secrets: false,
        path: None,
    };
    let mut only_files = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if only_files || text == "-" || !text.starts_with('-') {
            if options.path.replace(arg.clone()).is_some() {
                return Err("more than one input file".into());
            }
            continue;
        }
        match &*text {
            "--" => only_files = true,
            "-h" | "--help" => return Ok(None),
            "--json" => options.json = true,
            "--hex" => options.hex = true,
            "--show-secrets" => options.show_secrets = true,
            "--frame-max" => match args.next() {
                Some(value) => options.frame_max = parse_frame_max(&value.to_string_lossy())?,
                None => return Err("--frame-max needs a value".into()),
            },
            _ => match text.strip_prefix("--frame-max=") {
                Some(value) => options.frame_max = parse_frame_max(value)?,
                None => return Err(format!("unknown option {text:?}")),
            },
        }
    }
    Ok(Some(options))
}

fn parse_frame_max(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if n >= FRAME_MIN_SIZE => Ok(n),
        _ => Err(format!(
            "--frame-max {value:?}: expected a number from {FRAME_MIN_SIZE} to {}",
            u32::MAX
        )),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("amqp-decode: {message}\n{USAGE}");
    ExitCode::from(2)
}

pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("amqp-decode: {message}");
    ExitCode::FAILURE
}

/// `s` as a JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
