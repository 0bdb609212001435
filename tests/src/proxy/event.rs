//! What the proxy saw: one [`FrameEvent`] per protocol header, frame, undecodable stretch of
//! octets, accept and close, and how each is shown (the client's frame tap's line format, or one
//! JSON object per line as `amqp-decode --json` prints frames).

use std::fmt::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use amqp_client::{without_secrets, TapEvent, Tapped};
use amqp_wire::{Frame, Method, ProtocolHeader};

/// Which way octets travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the broker (`->`, as the client's tap shows what it sends).
    ToBroker,
    /// From the broker to the client (`<-`).
    ToClient,
}

impl Direction {
    /// Both directions.
    pub const BOTH: [Self; 2] = [Self::ToBroker, Self::ToClient];

    /// `->` toward the broker, `<-` toward the client: the arrows of the client's frame tap.
    pub fn arrow(self) -> &'static str {
        match self {
            Self::ToBroker => "->",
            Self::ToClient => "<-",
        }
    }

    /// `to_broker` or `to_client`, as the JSON lines name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ToBroker => "to_broker",
            Self::ToClient => "to_client",
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Self::ToBroker => 0,
            Self::ToClient => 1,
        }
    }

    fn tap(self) -> amqp_client::Direction {
        match self {
            Self::ToBroker => amqp_client::Direction::Sent,
            Self::ToClient => amqp_client::Direction::Received,
        }
    }
}

/// What the proxy did with a frame (or protocol header, or undecodable octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fate {
    /// Passed on unchanged (after any latency, bandwidth limit or blackhole in force).
    Forwarded,
    /// Held by a [`super::HoldGuard`]'s rule; passed on, in order, when the guard is released.
    Held,
    /// Not passed on ([`super::FaultProxy::drop_next`]).
    Dropped,
    /// Passed on with a bad frame-end octet ([`super::FaultProxy::corrupt_next`]).
    Corrupted,
    /// Not passed on: it matched [`super::FaultProxy::close_on`], and the connection was cut
    /// instead.
    Cut,
    /// Made by the test and sent by the proxy ([`super::FaultProxy::inject`]).
    Injected,
}

impl Fate {
    fn name(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Held => "held",
            Self::Dropped => "dropped",
            Self::Corrupted => "corrupted",
            Self::Cut => "cut",
            Self::Injected => "injected",
        }
    }
}

/// The event itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum What {
    /// A client connected, and the proxy connected to the broker for it. No direction.
    Accepted {
        /// The client's address.
        client: SocketAddr,
    },
    /// An 8-octet protocol header (the client's first octets; the broker's answer when it
    /// refuses the client's version).
    ProtocolHeader {
        /// The header.
        header: ProtocolHeader,
        /// What the proxy did with it.
        fate: Fate,
    },
    /// A frame, decoded by amqp-wire. Exactly what came over the wire, secrets included (its
    /// `Display` and `Debug` hide them).
    Frame {
        /// The frame.
        frame: Frame,
        /// What the proxy did with it.
        fate: Fate,
    },
    /// Octets that amqp-wire could not decode, forwarded as they were: a well-delimited frame
    /// it refuses (unknown method, bad frame-end, ...), a frame too large to buffer (passed on
    /// as it arrives), or a stream the proxy can no longer delimit (then passed on raw).
    Undecodable {
        /// How many octets (for a frame passed on as it arrives: its whole length).
        octets: u64,
        /// Why they could not be decoded.
        error: String,
        /// What the proxy did with them.
        fate: Fate,
    },
    /// One direction ended: the sending side closed (EOF) or failed (reset, ...).
    Closed {
        /// What happened.
        reason: String,
    },
    /// The proxy cut the connection: RST both ways. No direction.
    Cut {
        /// Why: the test's `cut`, `close_after`, `close_on`, an I/O error, ...
        reason: String,
    },
}

/// One entry of the event log: what the proxy saw on connection `conn`, which way, and when.
#[derive(Clone, PartialEq)]
pub struct FrameEvent {
    /// Numbers events of a proxy from 0, in log order (the order they were seen, both directions
    /// merged).
    pub seq: u64,
    /// Numbers the proxy's connections from 1, in the order they were accepted.
    pub conn: u64,
    /// Which way; `None` for connection-wide events ([`What::Accepted`], [`What::Cut`]).
    pub direction: Option<Direction>,
    /// Time since the proxy started, when the proxy read it (before any latency, hold or
    /// bandwidth limit delays it).
    pub at: Duration,
    /// What it was.
    pub what: What,
}

impl FrameEvent {
    /// The frame, if this is one.
    pub fn frame(&self) -> Option<&Frame> {
        match &self.what {
            What::Frame { frame, .. } => Some(frame),
            _ => None,
        }
    }

    /// The method, if this is a method frame.
    pub fn method(&self) -> Option<&Method> {
        match self.frame()? {
            Frame::Method { method, .. } => Some(method),
            _ => None,
        }
    }

    /// The method's spec name (`basic.ack`), if this is a method frame.
    pub fn method_name(&self) -> Option<&'static str> {
        self.method().map(Method::name)
    }

    /// True for a method frame named `name` (e.g. `basic.ack`) going `direction`.
    pub fn is_method(&self, direction: Direction, name: &str) -> bool {
        self.direction == Some(direction) && self.method_name() == Some(name)
    }

    /// What the proxy did with it; `None` for accepts, closes and cuts.
    pub fn fate(&self) -> Option<Fate> {
        match &self.what {
            What::ProtocolHeader { fate, .. }
            | What::Frame { fate, .. }
            | What::Undecodable { fate, .. } => Some(*fate),
            _ => None,
        }
    }

    /// The event as one JSON object: for a frame, [`Frame::to_json`]'s object (secrets masked,
    /// so `jq` filters written for `amqp-decode --json` work unchanged) with `conn`,
    /// `direction`, `at` (seconds since the proxy started) and, unless it was simply forwarded,
    /// `fate` in front; other events carry an `event` member instead of `frame`.
    pub fn to_json(&self) -> String {
        let mut out = format!(r#"{{"conn":{}"#, self.conn);
        if let Some(direction) = self.direction {
            let _ = write!(out, r#","direction":"{}""#, direction.name());
        }
        let _ = write!(out, r#","at":{:.6}"#, self.at.as_secs_f64());
        if let Some(fate) = self.fate().filter(|f| *f != Fate::Forwarded) {
            let _ = write!(out, r#","fate":"{}""#, fate.name());
        }
        // The codec's objects all start with `{"frame":`: splice our members in front.
        let splice = |out: &mut String, object: String| {
            out.push(',');
            out.push_str(object.strip_prefix('{').unwrap_or(&object));
        };
        match &self.what {
            What::Frame { frame, .. } => splice(&mut out, without_secrets(frame).to_json()),
            What::ProtocolHeader { header, .. } => splice(&mut out, header.to_json()),
            What::Accepted { client } => {
                out.push_str(r#","event":"accepted","client":"#);
                json_string(&mut out, &client.to_string());
                out.push('}');
            }
            What::Undecodable { octets, error, .. } => {
                let _ = write!(out, r#","event":"undecodable","octets":{octets},"error":"#);
                json_string(&mut out, error);
                out.push('}');
            }
            What::Closed { reason } | What::Cut { reason } => {
                let event = if matches!(self.what, What::Cut { .. }) {
                    "cut"
                } else {
                    "closed"
                };
                let _ = write!(out, r#","event":"{event}","reason":"#);
                json_string(&mut out, reason);
                out.push('}');
            }
        }
        out
    }
}

impl fmt::Display for FrameEvent {
    /// `[c1 +0.012s] -> ch=1 basic.publish ...`: the client's frame tap's line (secrets
    /// masked), with the time since the proxy started; ` [held]` etc. after a frame that was not
    /// simply forwarded; `==` for connection-wide events.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tapped = |direction: Direction, frame| tap_event(self, direction, frame);
        let prefix = |f: &mut fmt::Formatter<'_>| {
            let arrow = self.direction.map_or("==", Direction::arrow);
            write!(
                f,
                "[c{} +{:.3}s] {arrow} ",
                self.conn,
                self.at.as_secs_f64()
            )
        };
        match (&self.what, self.direction) {
            (What::Frame { frame, .. }, Some(d)) => {
                write!(f, "{}", tapped(d, Tapped::Frame(frame)))?
            }
            (What::ProtocolHeader { header, .. }, Some(d)) => {
                write!(f, "{}", tapped(d, Tapped::ProtocolHeader(header)))?
            }
            (What::Frame { frame, .. }, None) => {
                prefix(f)?;
                write!(f, "{}", without_secrets(frame))?
            }
            (What::ProtocolHeader { header, .. }, None) => {
                prefix(f)?;
                write!(f, "{header}")?
            }
            (What::Accepted { client }, _) => {
                prefix(f)?;
                write!(f, "accepted a connection from {client}")?
            }
            (What::Undecodable { octets, error, .. }, _) => {
                prefix(f)?;
                write!(f, "undecodable, {octets} octets: {error}")?
            }
            (What::Closed { reason }, _) => {
                prefix(f)?;
                write!(f, "closed: {reason}")?
            }
            (What::Cut { reason }, _) => {
                prefix(f)?;
                write!(f, "cut (RST both ways): {reason}")?
            }
        }
        match self.fate() {
            Some(Fate::Forwarded) | None => Ok(()),
            Some(fate) => write!(f, " [{}]", fate.name()),
        }
    }
}

impl fmt::Debug for FrameEvent {
    /// Like `Display`: secrets are masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {self}", self.seq)
    }
}

/// The client's frame tap's view of an event, for its line format.
fn tap_event<'a>(event: &FrameEvent, direction: Direction, frame: Tapped<'a>) -> TapEvent<'a> {
    TapEvent {
        connection_id: event.conn,
        direction: direction.tap(),
        elapsed: event.at,
        frame,
    }
}

/// A JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_wire::{BasicAck, ConnectionStartOk, FieldTable};

    fn event(direction: Option<Direction>, what: What) -> FrameEvent {
        FrameEvent {
            seq: 3,
            conn: 2,
            direction,
            at: Duration::from_millis(1500),
            what,
        }
    }

    #[test]
    fn frames_read_as_the_tap_prints_them() {
        let ack = Frame::method(
            1,
            BasicAck {
                delivery_tag: 7,
                multiple: true,
            },
        );
        let e = event(
            Some(Direction::ToClient),
            What::Frame {
                frame: ack.clone(),
                fate: Fate::Forwarded,
            },
        );
        assert_eq!(
            e.to_string(),
            "[c2 +1.500s] <- ch=1 basic.ack delivery_tag=7 multiple=true"
        );
        let held = event(
            Some(Direction::ToClient),
            What::Frame {
                frame: ack,
                fate: Fate::Held,
            },
        );
        assert!(held.to_string().ends_with("multiple=true [held]"), "{held}");
        assert_eq!(
            held.to_json(),
            r#"{"conn":2,"direction":"to_client","at":1.500000,"fate":"held","frame":"method","channel":1,"method":"basic.ack","args":{"delivery_tag":7,"multiple":true}}"#
        );
    }

    #[test]
    fn secrets_are_masked_when_shown_but_kept_in_the_log() {
        let start_ok = Frame::method(
            0,
            ConnectionStartOk {
                client_properties: FieldTable::new(),
                mechanism: "PLAIN".into(),
                response: b"\0guest\0s3cr3t".as_slice().into(),
                locale: "en_US".into(),
            },
        );
        let e = event(
            Some(Direction::ToBroker),
            What::Frame {
                frame: start_ok,
                fate: Fate::Forwarded,
            },
        );
        for shown in [e.to_string(), e.to_json(), format!("{e:?}")] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.contains("*****"), "{shown}");
        }
        let Some(Frame::Method {
            method: Method::ConnectionStartOk(kept),
            ..
        }) = e.frame()
        else {
            panic!("not a start-ok: {e}");
        };
        assert_eq!(kept.response.as_bytes(), b"\0guest\0s3cr3t");
    }

    #[test]
    fn connection_events_have_no_direction() {
        let e = event(
            None,
            What::Cut {
                reason: "the test said \"cut\"".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            r#"[c2 +1.500s] == cut (RST both ways): the test said "cut""#
        );
        assert_eq!(
            e.to_json(),
            r#"{"conn":2,"at":1.500000,"event":"cut","reason":"the test said \"cut\""}"#
        );
    }
}
