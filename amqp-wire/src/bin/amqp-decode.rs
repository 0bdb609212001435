//! `amqp-decode`: print a stream of AMQP 0-9-1 frames, one line per frame.
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
//! ```text
//! # One direction of a live connection (client to broker), as tshark sees it:
//! tshark -i lo -l -f 'tcp dst port 5672' -T fields -e tcp.payload | amqp-decode --hex
//!
//! # The same from a tcpdump capture, as JSON for jq:
//! tcpdump -i lo -w amqp.pcap 'tcp port 5672'
//! tshark -r amqp.pcap -Y 'tcp.dstport == 5672' -T fields -e tcp.payload \
//!     | amqp-decode --hex --json | jq 'select(.frame == "method") | .method'
//!
//! # A file of raw bytes, e.g. "Follow TCP Stream", one side, saved as raw:
//! amqp-decode --frame-max 4096 client-to-broker.bin
//! ```
//!
//! (Start the capture before the connection, so the stream is seen from its
//! first octet. Older tshark versions print `tcp.payload` as `41:4d:51:50`;
//! pipe it through `tr -d :` first. Retransmitted or missing segments
//! desynchronise the stream; the tool then reports a malformed frame.)
//!
//! Readable output is the `Display` of [`amqp_wire::Frame`]:
//!
//! ```text
//! ch=1 basic.publish exchange="" routing_key="task_queue" mandatory=false immediate=false
//! ```
//!
//! `--json` prints one object per line ([`amqp_wire::Frame::to_json`]).
//!
//! Exit status: 0 when the input ends on a frame boundary; 1 for a malformed
//! or truncated frame (after printing every frame before it: as a JSON
//! object `{"error":..,"offset":..,"reply_code":..}` on stdout with `--json`,
//! as `error at offset N: ...` on stderr otherwise), for bad hex text, or for
//! a read error; 2 for a usage error. A closed stdout (`| head`) ends the
//! run quietly with status 0.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use amqp_wire::{DecodeError, Frame, ProtocolHeader, ReplyCode, DEFAULT_FRAME_MAX, FRAME_MIN_SIZE};
use bytes::{BufMut, BytesMut};

const USAGE: &str = "usage: amqp-decode [--json] [--hex] [--frame-max N] [FILE | -]";

const HELP: &str = "\
Print a stream of AMQP 0-9-1 frames, one line per frame.

usage: amqp-decode [--json] [--hex] [--frame-max N] [FILE | -]

  FILE             raw frame bytes, optionally starting with the protocol
                   header; stdin when absent or `-`
  --hex            the input is hex text (ASCII whitespace is ignored)
  --json           one JSON object per line instead of readable text
  --frame-max N    largest frame accepted, header and end octet included
                   (at least 4096; default 131072, RabbitMQ's default)
  -h, --help       print this help

Exit status: 0 ok, 1 malformed/truncated input, 2 usage error.
";

/// What the command line asked for.
struct Options {
    json: bool,
    hex: bool,
    frame_max: u32,
    path: Option<OsString>,
}

/// Why decoding stopped before the end of the input.
enum Stop {
    /// A frame that could not be decoded, starting `offset` octets in.
    Malformed {
        offset: u64,
        message: String,
        reply_code: ReplyCode,
    },
    /// `--hex` input that is not hex.
    BadHex(String),
    Read(io::Error),
    Write(io::Error),
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
    let input: Box<dyn Read> = match &options.path {
        Some(path) if path != "-" => match File::open(path) {
            Ok(file) => Box::new(file),
            Err(e) => return usage_error(&format!("cannot open {}: {e}", path.to_string_lossy())),
        },
        _ => Box::new(io::stdin().lock()),
    };
    let mut out = io::stdout().lock();
    match run(input, &mut out, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Stop::Write(e)) => fail(&format!("writing output: {e}")),
        Err(Stop::Read(e)) => fail(&format!("reading input: {e}")),
        Err(Stop::BadHex(message)) => fail(&message),
        Err(Stop::Malformed {
            offset,
            message,
            reply_code,
        }) => {
            if options.json {
                let line = format!(
                    r#"{{"error":{},"offset":{offset},"reply_code":{}}}"#,
                    json_string(&message),
                    reply_code.0
                );
                // Nothing more to say if stdout is gone: the status still says it.
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            } else {
                eprintln!("error at offset {offset}: {message} (reply code {reply_code})");
            }
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` for `--help`; `Err` names what is wrong with the arguments.
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Option<Options>, String> {
    let mut options = Options {
        json: false,
        hex: false,
        frame_max: DEFAULT_FRAME_MAX,
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

fn fail(message: &str) -> ExitCode {
    eprintln!("amqp-decode: {message}");
    ExitCode::FAILURE
}

/// Reads `input` in chunks and prints each frame as soon as it is complete.
fn run(mut input: impl Read, out: &mut impl Write, options: &Options) -> Result<(), Stop> {
    let mut decoder = Decoder {
        out,
        json: options.json,
        frame_max: options.frame_max,
        buf: BytesMut::new(),
        offset: 0,
        at_start: true,
    };
    let mut hex = options.hex.then(HexText::default);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stop::Read(e)),
        };
        let fed = match &mut hex {
            Some(hex) => hex.decode(&chunk[..n], &mut decoder.buf),
            None => {
                decoder.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        };
        // Frames before a bad hex digit are still printed.
        decoder.drain()?;
        fed.map_err(Stop::BadHex)?;
    }
    if let Some(hex) = &hex {
        hex.finish().map_err(Stop::BadHex)?;
    }
    if decoder.buf.is_empty() {
        Ok(())
    } else {
        Err(Stop::Malformed {
            offset: decoder.offset,
            message: "truncated: input ended inside a frame".into(),
            reply_code: ReplyCode::FRAME_ERROR,
        })
    }
}

struct Decoder<'a, W> {
    out: &'a mut W,
    json: bool,
    frame_max: u32,
    /// Input octets not decoded yet.
    buf: BytesMut,
    /// Offset in the input of `buf[0]`.
    offset: u64,
    /// True until we know whether the input starts with a protocol header.
    at_start: bool,
}

impl<W: Write> Decoder<'_, W> {
    /// Prints every complete frame in `buf`, leaving a partial one there.
    fn drain(&mut self) -> Result<(), Stop> {
        if self.at_start {
            match ProtocolHeader::decode(&mut self.buf) {
                Ok(None) => return Ok(()), // could still become one
                Ok(Some(header)) => {
                    self.offset += 8;
                    let line = if self.json {
                        header.to_json()
                    } else {
                        header.to_string()
                    };
                    self.print(&line)?;
                }
                Err(()) => {}
            }
            self.at_start = false;
        }
        loop {
            let before = self.buf.len();
            match Frame::decode(&mut self.buf, self.frame_max) {
                Ok(Some(frame)) => {
                    self.offset += (before - self.buf.len()) as u64;
                    let line = if self.json {
                        frame.to_json()
                    } else {
                        frame.to_string()
                    };
                    self.print(&line)?;
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(malformed(self.offset, &e)),
            }
        }
    }

    fn print(&mut self, line: &str) -> Result<(), Stop> {
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(Stop::Write)
    }
}

fn malformed(offset: u64, e: &DecodeError) -> Stop {
    Stop::Malformed {
        offset,
        message: e.to_string(),
        reply_code: e.reply_code(),
    }
}

/// Hex text to octets, across chunk boundaries.
#[derive(Default)]
struct HexText {
    /// The first digit of an octet whose second digit is yet to come.
    high: Option<u8>,
    /// Input octets seen so far, for error messages.
    seen: u64,
}

impl HexText {
    /// Appends the octets `text` spells to `out`, skipping ASCII whitespace.
    /// On a non-hex character, the octets before it are appended.
    fn decode(&mut self, text: &[u8], out: &mut BytesMut) -> Result<(), String> {
        for &c in text {
            let offset = self.seen;
            self.seen += 1;
            if c.is_ascii_whitespace() {
                continue;
            }
            let Some(digit) = hex_digit(c) else {
                let shown = if c.is_ascii_graphic() {
                    format!("{:?}", char::from(c))
                } else {
                    format!("octet 0x{c:02x}")
                };
                return Err(format!(
                    "--hex input: {shown} at input offset {offset} is not a hex digit"
                ));
            };
            match self.high.take() {
                None => self.high = Some(digit),
                Some(high) => out.put_u8(high << 4 | digit),
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), String> {
        match self.high {
            Some(_) => {
                Err("--hex input ends in the middle of an octet (odd number of hex digits)".into())
            }
            None => Ok(()),
        }
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
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
