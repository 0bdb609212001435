//! Which frames a rule acts on.

use std::fmt;
use std::sync::Arc;

use amqp_wire::{Frame, Method};

type Test = dyn Fn(&Frame) -> bool + Send + Sync;

/// Chooses frames for a rule: by method, by a closure over the decoded frame, optionally on one
/// connection or channel only. Octets the proxy cannot decode never match.
///
/// ```
/// use amqp_testkit::proxy::Match;
/// use amqp_wire::{BasicAck, BasicDeliver, Frame, Method};
///
/// let acks = Match::method::<BasicAck>();
/// let same = Match::method_name("basic.ack");
/// let second = Match::frame(|f| matches!(f,
///     Frame::Method { method: Method::BasicDeliver(d), .. } if d.delivery_tag == 2));
/// let on_conn_2 = Match::method::<BasicDeliver>().on_conn(2).on_channel(1);
/// # let _ = (acks, same, second, on_conn_2);
/// ```
#[derive(Clone)]
pub struct Match {
    description: String,
    conn: Option<u64>,
    channel: Option<u16>,
    test: Arc<Test>,
}

impl Match {
    /// Every frame.
    pub fn any() -> Self {
        Self::with("any frame", |_| true)
    }

    /// Method frames of method `M`, e.g. `Match::method::<BasicAck>()`.
    pub fn method<M: Default + Into<Method>>() -> Self {
        let sample: Method = M::default().into();
        let ids = (sample.class_id(), sample.method_id());
        Self::with(
            sample.name(),
            move |frame| matches!(frame, Frame::Method { method, .. } if (method.class_id(), method.method_id()) == ids),
        )
    }

    /// Method frames of the method the spec calls `name`, e.g. `basic.ack`.
    ///
    /// # Panics
    ///
    /// If no method has that name: a typo would otherwise make a rule that never acts.
    pub fn method_name(name: &str) -> Self {
        let Some(&(class_id, method_id, name)) = Method::ALL.iter().find(|m| m.2 == name) else {
            panic!("Match::method_name: no AMQP method is called {name:?} (try e.g. \"basic.ack\")")
        };
        Self::with(
            name,
            move |frame| matches!(frame, Frame::Method { method, .. } if method.class_id() == class_id && method.method_id() == method_id),
        )
    }

    /// Heartbeat frames.
    pub fn heartbeat() -> Self {
        Self::with("heartbeat", |frame| matches!(frame, Frame::Heartbeat))
    }

    /// The frames for which `test` is true.
    pub fn frame(test: impl Fn(&Frame) -> bool + Send + Sync + 'static) -> Self {
        Self::with("a frame chosen by a closure", test)
    }

    /// Only on connection `conn` (numbered from 1).
    pub fn on_conn(mut self, conn: u64) -> Self {
        self.conn = Some(conn);
        self
    }

    /// Only on channel `channel`.
    pub fn on_channel(mut self, channel: u16) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Whether the rule acts on `frame`, seen on connection `conn`.
    pub fn matches(&self, conn: u64, frame: &Frame) -> bool {
        self.conn.map_or(true, |c| c == conn)
            && self.channel.map_or(true, |c| c == frame.channel())
            && (self.test)(frame)
    }

    fn with(description: &str, test: impl Fn(&Frame) -> bool + Send + Sync + 'static) -> Self {
        Self {
            description: description.to_owned(),
            conn: None,
            channel: None,
            test: Arc::new(test),
        }
    }
}

impl fmt::Debug for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)?;
        if let Some(conn) = self.conn {
            write!(f, " on connection {conn}")?;
        }
        if let Some(channel) = self.channel {
            write!(f, " on channel {channel}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_wire::{BasicAck, BasicNack};

    #[test]
    fn by_type_name_channel_and_connection() {
        let ack = Frame::method(
            3,
            BasicAck {
                delivery_tag: 1,
                multiple: false,
            },
        );
        let nack = Frame::method(3, BasicNack::default());
        assert!(Match::method::<BasicAck>().matches(1, &ack));
        assert!(!Match::method::<BasicAck>().matches(1, &nack));
        assert!(Match::method_name("basic.nack").matches(1, &nack));
        assert!(!Match::any().on_channel(2).matches(1, &ack));
        assert!(!Match::any().on_conn(2).matches(1, &ack));
        assert!(Match::any().on_conn(1).on_channel(3).matches(1, &ack));
        assert!(!Match::heartbeat().matches(1, &ack));
        assert_eq!(
            format!("{:?}", Match::method::<BasicAck>().on_conn(4)),
            "basic.ack on connection 4"
        );
    }

    #[test]
    #[should_panic(expected = "no AMQP method is called \"basic.akc\"")]
    fn an_unknown_name_is_refused() {
        let _ = Match::method_name("basic.akc");
    }
}
