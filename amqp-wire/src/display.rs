//! How frames are shown to people: one readable line per frame (the
//! `Display` of [`Frame`]), or one JSON object per line ([`Frame::to_json`]),
//! as the `amqp-decode` tool and the client's frame tap print them.

use std::borrow::Cow;
use std::fmt::{self, Write};

use crate::field_table::{FieldTable, FieldValue};
use crate::frame::{Frame, ProtocolHeader};
use crate::method::{ArgValue, Method};
use crate::strings::LongString;

/// At most this many body octets are shown in the readable form.
const BODY_PREVIEW: usize = 64;

// ===== readable =====

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ch={} ", self.channel())?;
        match self {
            Self::Method { method, .. } => {
                f.write_str(method.name())?;
                let mut result = Ok(());
                method.visit_args(&mut |name, value| {
                    // Access tickets are always 0 in 0-9-1: noise for a reader.
                    if name != "ticket" && result.is_ok() {
                        result = write!(f, " {name}=").and_then(|()| text_arg(f, value));
                    }
                });
                result
            }
            Self::Header { header, .. } => {
                write!(
                    f,
                    "content-header class={} body_size={}",
                    header.class_id, header.body_size
                )?;
                let mut result = Ok(());
                header.properties.visit(|name, value| {
                    if result.is_ok() {
                        result = write!(f, " {name}=").and_then(|()| text_arg(f, value));
                    }
                });
                result
            }
            Self::Body { payload, .. } => {
                write!(f, "content-body size={} ", payload.len())?;
                let shown = &payload[..payload.len().min(BODY_PREVIEW)];
                match std::str::from_utf8(shown) {
                    Ok(s) => write!(f, "{s:?}")?,
                    Err(_) => write!(f, "0x{}", hex(shown))?,
                }
                if payload.len() > BODY_PREVIEW {
                    f.write_str("...")?;
                }
                Ok(())
            }
            Self::Heartbeat => f.write_str("heartbeat"),
        }
    }
}

impl fmt::Display for ProtocolHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol-header AMQP {}", self.version())
    }
}

fn text_bytes(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    match std::str::from_utf8(bytes) {
        Ok(s) => write!(f, "{s:?}"),
        Err(_) => write!(f, "0x{}", hex(bytes)),
    }
}

fn text_arg(f: &mut fmt::Formatter<'_>, value: ArgValue<'_>) -> fmt::Result {
    match value {
        ArgValue::Bit(v) => write!(f, "{v}"),
        ArgValue::Octet(v) => write!(f, "{v}"),
        ArgValue::Short(v) => write!(f, "{v}"),
        ArgValue::Long(v) => write!(f, "{v}"),
        ArgValue::LongLong(v) | ArgValue::Timestamp(v) => write!(f, "{v}"),
        ArgValue::ShortStr(s) => text_bytes(f, s.as_bytes()),
        ArgValue::LongStr(s) => text_bytes(f, s.as_bytes()),
        ArgValue::Table(t) => text_table(f, t),
    }
}

fn text_table(f: &mut fmt::Formatter<'_>, table: &FieldTable) -> fmt::Result {
    f.write_str("{")?;
    for (i, (key, value)) in table.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{key}: ")?;
        text_value(f, value)?;
    }
    f.write_str("}")
}

fn text_value(f: &mut fmt::Formatter<'_>, value: &FieldValue) -> fmt::Result {
    match value {
        FieldValue::Boolean(v) => write!(f, "{v}"),
        FieldValue::ShortShortInt(v) => write!(f, "{v}"),
        FieldValue::ShortShortUint(v) => write!(f, "{v}"),
        FieldValue::ShortInt(v) => write!(f, "{v}"),
        FieldValue::SpecShortInt(v) => write!(f, "{}", v.get()),
        FieldValue::ShortUint(v) => write!(f, "{v}"),
        FieldValue::LongInt(v) => write!(f, "{v}"),
        FieldValue::LongUint(v) => write!(f, "{v}"),
        FieldValue::LongLongInt(v) => write!(f, "{v}"),
        FieldValue::SpecLongLongInt(v) => write!(f, "{}", v.get()),
        FieldValue::Float(v) => write!(f, "{v}"),
        FieldValue::Double(v) => write!(f, "{v}"),
        FieldValue::Decimal(d) => write!(f, "{}e-{}", d.value, d.scale),
        FieldValue::LongString(s) => text_bytes(f, s.as_bytes()),
        FieldValue::ByteArray(b) => write!(f, "0x{}", hex(b)),
        FieldValue::Array(values) => {
            f.write_str("[")?;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                text_value(f, v)?;
            }
            f.write_str("]")
        }
        FieldValue::Timestamp(v) => write!(f, "T{v}"),
        FieldValue::Table(t) => text_table(f, t),
        FieldValue::Void => f.write_str("void"),
    }
}

// ===== JSON =====

impl Frame {
    /// The frame as one line of JSON: argument and property names as in the
    /// spec with `-` written `_`, field values tagged with their type letter
    /// (`{"S":"text"}`, `{"I":-5}`), invalid UTF-8 as `{"hex":"..."}`.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let channel = self.channel();
        match self {
            Self::Method { method, .. } => {
                let _ = write!(
                    out,
                    r#"{{"frame":"method","channel":{channel},"method":"{}","args":{{"#,
                    method.name()
                );
                let mut first = true;
                method
                    .visit_args(&mut |name, value| json_member(&mut out, &mut first, name, value));
                out.push_str("}}");
            }
            Self::Header { header, .. } => {
                let _ = write!(
                    out,
                    r#"{{"frame":"header","channel":{channel},"class_id":{},"body_size":{},"properties":{{"#,
                    header.class_id, header.body_size
                );
                let mut first = true;
                header
                    .properties
                    .visit(|name, value| json_member(&mut out, &mut first, name, value));
                out.push_str("}}");
            }
            Self::Body { payload, .. } => {
                let _ = write!(
                    out,
                    r#"{{"frame":"body","channel":{channel},"size":{},"hex":"{}"}}"#,
                    payload.len(),
                    hex(payload)
                );
            }
            Self::Heartbeat => out.push_str(r#"{"frame":"heartbeat","channel":0}"#),
        }
        out
    }
}

impl ProtocolHeader {
    /// The header as one line of JSON.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"frame":"protocol_header","version":"{}"}}"#,
            self.version()
        )
    }
}

fn json_member(out: &mut String, first: &mut bool, name: &str, value: ArgValue<'_>) {
    if !std::mem::take(first) {
        out.push(',');
    }
    json_string(out, name.as_bytes());
    out.push(':');
    match value {
        ArgValue::Bit(v) => {
            let _ = write!(out, "{v}");
        }
        ArgValue::Octet(v) => {
            let _ = write!(out, "{v}");
        }
        ArgValue::Short(v) => {
            let _ = write!(out, "{v}");
        }
        ArgValue::Long(v) => {
            let _ = write!(out, "{v}");
        }
        ArgValue::LongLong(v) | ArgValue::Timestamp(v) => {
            let _ = write!(out, "{v}");
        }
        ArgValue::ShortStr(s) => json_string(out, s.as_bytes()),
        ArgValue::LongStr(s) => json_string(out, s.as_bytes()),
        ArgValue::Table(t) => json_table(out, t),
    }
}

/// A JSON string for UTF-8 octets, `{"hex":"..."}` for anything else.
fn json_string(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => json_str(out, s),
        Err(_) => {
            let _ = write!(out, r#"{{"hex":"{}"}}"#, hex(bytes));
        }
    }
}

/// A JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_table(out: &mut String, table: &FieldTable) {
    out.push('{');
    for (i, (key, value)) in table.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // An object key must be a string, so a key that is not UTF-8 is
        // shown with U+FFFD where its invalid octets were.
        json_str(out, &key.to_string_lossy());
        out.push(':');
        json_value(out, value);
    }
    out.push('}');
}

/// A JSON number for a float, in the shortest form that reads back as the
/// same value of its own width (`0.1f32` is `0.1`), or a string for what
/// JSON can't hold (NaN, ±inf).
fn json_float<F: fmt::Debug + fmt::Display>(out: &mut String, v: F, finite: bool) {
    if finite {
        let _ = write!(out, "{v:?}");
    } else {
        let _ = write!(out, "\"{v}\"");
    }
}

fn json_value(out: &mut String, value: &FieldValue) {
    let _ = write!(out, "{{\"{}\":", value.type_letter() as char);
    match value {
        FieldValue::Boolean(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::ShortShortInt(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::ShortShortUint(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::ShortInt(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::SpecShortInt(v) => {
            let _ = write!(out, "{}", v.get());
        }
        FieldValue::ShortUint(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::LongInt(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::LongUint(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::LongLongInt(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::SpecLongLongInt(v) => {
            let _ = write!(out, "{}", v.get());
        }
        FieldValue::Float(v) => json_float(out, *v, v.is_finite()),
        FieldValue::Double(v) => json_float(out, *v, v.is_finite()),
        FieldValue::Decimal(d) => {
            let _ = write!(out, r#"{{"scale":{},"value":{}}}"#, d.scale, d.value);
        }
        FieldValue::LongString(s) => json_string(out, s.as_bytes()),
        FieldValue::ByteArray(b) => {
            let _ = write!(out, "\"{}\"", hex(b));
        }
        FieldValue::Array(values) => {
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(out, v);
            }
            out.push(']');
        }
        FieldValue::Timestamp(v) => {
            let _ = write!(out, "{v}");
        }
        FieldValue::Table(t) => json_table(out, t),
        FieldValue::Void => out.push_str("null"),
    }
    out.push('}');
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a secret is shown as.
const MASK: &[u8] = b"*****";

/// `frame` with its secrets replaced by `*****`, for showing it: the SASL
/// response of connection.start-ok (10/11) and secure-ok (10/21) and the new
/// secret of connection.update-secret (10/70). PLAIN's response
/// (`\0user\0password`) keeps its user name. Traces get pasted into issues and
/// chats, and PLAIN sends the password in clear.
pub fn without_secrets(frame: &Frame) -> Cow<'_, Frame> {
    let Frame::Method { channel, method } = frame else {
        return Cow::Borrowed(frame);
    };
    let masked = match method {
        Method::ConnectionStartOk(start_ok) => {
            let mut start_ok = start_ok.clone();
            let response = start_ok.response.as_bytes();
            let nul = response.iter().rposition(|&b| b == 0);
            start_ok.response = match nul {
                Some(nul) if start_ok.mechanism.as_str() == Some("PLAIN") => {
                    LongString::from([&response[..=nul], MASK].concat())
                }
                _ => LongString::from(MASK.to_vec()),
            };
            Method::ConnectionStartOk(start_ok)
        }
        Method::ConnectionSecureOk(secure_ok) => {
            let mut secure_ok = secure_ok.clone();
            secure_ok.response = LongString::from(MASK.to_vec());
            Method::ConnectionSecureOk(secure_ok)
        }
        Method::ConnectionUpdateSecret(update) => {
            let mut update = update.clone();
            update.new_secret = LongString::from(MASK.to_vec());
            Method::ConnectionUpdateSecret(update)
        }
        _ => return Cow::Borrowed(frame),
    };
    Cow::Owned(Frame::Method {
        channel: *channel,
        method: masked,
    })
}
