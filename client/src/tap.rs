//! The frame tap: a hook that sees every frame a connection sends and
//! receives, for people studying the protocol (`demo --trace`) and for
//! tests that compare bytes on the wire.

use std::io::Write;
use std::time::Duration;

use amqp_wire::{Frame, ProtocolHeader};

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From this client to the broker.
    Sent,
    /// From the broker to this client.
    Received,
}

impl Direction {
    /// `->` for sent, `<-` for received.
    pub fn arrow(self) -> &'static str {
        match self {
            Self::Sent => "->",
            Self::Received => "<-",
        }
    }
}

/// What the tap is shown.
#[derive(Debug, Clone, Copy)]
pub enum Tapped<'a> {
    /// The 8-octet protocol header (sent first; received if the broker
    /// refuses our version).
    ProtocolHeader(&'a ProtocolHeader),
    /// A decoded frame.
    Frame(&'a Frame),
}

/// One frame seen by the tap. Its `Display` and `Debug` hide secrets (see
/// [`without_secrets`]); the `frame` field itself is exactly what went over the wire.
#[derive(Clone, Copy)]
pub struct TapEvent<'a> {
    /// Numbers connections of this process from 1, in the order they were made.
    pub connection_id: u64,
    /// Which way it went.
    pub direction: Direction,
    /// Time since the connection started.
    pub elapsed: Duration,
    /// The frame.
    pub frame: Tapped<'a>,
}

impl std::fmt::Display for TapEvent<'_> {
    /// `[c1 +0.012s] -> ch=1 basic.publish ...`, the frame as `amqp-decode` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[c{} +{:.3}s] {} ",
            self.connection_id,
            self.elapsed.as_secs_f64(),
            self.direction.arrow()
        )?;
        match self.frame {
            Tapped::ProtocolHeader(h) => write!(f, "{h}"),
            Tapped::Frame(frame) => write!(f, "{}", without_secrets(frame)),
        }
    }
}

impl std::fmt::Debug for TapEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("TapEvent");
        s.field("connection_id", &self.connection_id)
            .field("direction", &self.direction)
            .field("elapsed", &self.elapsed);
        match self.frame {
            Tapped::ProtocolHeader(h) => s.field("frame", h),
            Tapped::Frame(frame) => s.field("frame", &without_secrets(frame)),
        };
        s.finish()
    }
}

pub use amqp_wire::display::without_secrets;

/// Receives every frame of the connections it is installed on (see
/// [`crate::ConnectionConfig::with_tap`]). Called on the connection's driver
/// task: keep it quick. Any `Fn(&TapEvent)` closure is a tap.
pub trait FrameTap: Send + Sync {
    /// Called once per frame, in wire order per direction.
    fn on_frame(&self, event: &TapEvent<'_>);
}

impl<F: Fn(&TapEvent<'_>) + Send + Sync> FrameTap for F {
    fn on_frame(&self, event: &TapEvent<'_>) {
        self(event)
    }
}

/// A tap that prints one line per frame to standard error.
#[derive(Debug, Default, Clone, Copy)]
pub struct PrintTap;

impl FrameTap for PrintTap {
    fn on_frame(&self, event: &TapEvent<'_>) {
        // A closed stderr is no reason to disturb the connection.
        let _ = writeln!(std::io::stderr().lock(), "{event}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    use amqp_wire::{ConnectionStartOk, ConnectionUpdateSecret, FieldTable, Method};

    fn start_ok(mechanism: &str, response: &[u8]) -> Frame {
        Frame::Method {
            channel: 0,
            method: Method::ConnectionStartOk(ConnectionStartOk {
                client_properties: FieldTable::new(),
                mechanism: mechanism.into(),
                response: response.into(),
                locale: "en_US".into(),
            }),
        }
    }

    fn shown(frame: &Frame) -> String {
        let event = TapEvent {
            connection_id: 1,
            direction: Direction::Sent,
            elapsed: Duration::ZERO,
            frame: Tapped::Frame(frame),
        };
        format!("{event} {event:?}")
    }

    #[test]
    fn plain_keeps_the_user_and_hides_the_password_in_display_and_debug() {
        let text = shown(&start_ok("PLAIN", b"\0guest\0s3cr3t-pw"));
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        assert!(text.contains(r#"\0guest\0*****"#), "{text}");
    }

    #[test]
    fn other_mechanisms_and_new_secrets_are_hidden_whole() {
        let amqplain = start_ok(
            "AMQPLAIN",
            b"\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x09s3cr3t-pw",
        );
        let update = Frame::Method {
            channel: 0,
            method: Method::ConnectionUpdateSecret(ConnectionUpdateSecret {
                new_secret: "s3cr3t-pw".into(),
                reason: "token refresh".into(),
            }),
        };
        for frame in [amqplain, update] {
            let text = shown(&frame);
            assert!(!text.contains("s3cr3t-pw"), "{text}");
            assert!(text.contains("*****"), "{text}");
        }
    }

    #[test]
    fn other_frames_are_shown_as_they_are() {
        let frame = Frame::Heartbeat;
        assert!(matches!(without_secrets(&frame), Cow::Borrowed(_)));
    }
}
