//! Raw input: the octets of one direction of a connection (or hex text of
//! them), decoded as they arrive.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use amqp_wire::{DecodeError, Frame, ProtocolHeader, ReplyCode};
use bytes::{BufMut, BytesMut};

use crate::{fail, json_string, Options};

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

/// Decodes `input` to `out`, and says how it went.
pub(crate) fn run(input: impl Read, out: &mut impl Write, options: &Options) -> ExitCode {
    match decode(input, out, options) {
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

/// Reads `input` in chunks and prints each frame as soon as it is complete.
fn decode(mut input: impl Read, out: &mut impl Write, options: &Options) -> Result<(), Stop> {
    let mut decoder = Decoder {
        out,
        json: options.json,
        show_secrets: options.show_secrets,
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
    show_secrets: bool,
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
                    let frame = match self.show_secrets {
                        true => std::borrow::Cow::Borrowed(&frame),
                        false => amqp_wire::display::without_secrets(&frame),
                    };
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
