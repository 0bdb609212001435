//! Capture input: a pcap or pcapng file, every connection in it, both
//! ways, printed as [`amqp_wire::capture`] reads them.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use std::borrow::Cow;

use amqp_wire::capture::{CaptureReader, Item, Note};
use amqp_wire::display::without_secrets;

use crate::{fail, json_string, Options};

/// Decodes the capture in `input` to `out`, and says how it went: a
/// truncated or corrupt file ends the run at once (what was read before is
/// printed), a malformed frame inside a connection only once all is printed.
pub(crate) fn run(
    input: impl Read + Send + 'static,
    out: &mut impl Write,
    options: &Options,
) -> ExitCode {
    let reader = match CaptureReader::new(input) {
        Ok(reader) => reader.frame_max(options.frame_max),
        Err(e) => return report(&e, out, options),
    };
    let mut malformed = false;
    for captured in reader {
        let mut captured = match captured {
            Ok(captured) => captured,
            Err(e) => return report(&e, out, options),
        };
        if let (Item::Frame(frame), false) = (&mut captured.item, options.show_secrets) {
            if let Cow::Owned(masked) = without_secrets(frame) {
                *frame = masked;
            }
        }
        malformed |= matches!(captured.item, Item::Note(Note::Malformed { .. }));
        let line = if options.json {
            captured.to_json()
        } else {
            captured.to_string()
        };
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
            Err(e) => return fail(&format!("writing output: {e}")),
        }
    }
    if malformed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A capture that cannot be read on: on stdout as JSON with `--json` (like
/// a malformed raw frame), on stderr otherwise.
fn report(
    e: &amqp_wire::capture::CaptureError,
    out: &mut impl Write,
    options: &Options,
) -> ExitCode {
    if options.json {
        let line = format!(
            r#"{{"error":{},"offset":{}}}"#,
            json_string(&e.to_string()),
            e.offset()
        );
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        ExitCode::FAILURE
    } else {
        fail(&e.to_string())
    }
}
