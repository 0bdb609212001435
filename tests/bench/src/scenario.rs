//! The scenarios, what each asks of a client, and what a run reports.

use std::fmt;
use std::time::Duration;

use crate::measure::Latencies;
use crate::uri::BrokerUri;

/// Small message body size.
pub(crate) const SMALL_BODY: usize = 32;
/// Large message body size.
pub(crate) const LARGE_BODY: usize = 16 * 1024 * 1024;
/// Large messages per run.
pub(crate) const LARGE_COUNT: u64 = 10;

/// The per-client scenarios (each run in its own child process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// 1. N × 32 B transient to a non-durable queue, until the broker holds all N.
    Publish,
    /// 2. N × 32 B persistent to a durable queue, confirms pipelined, all awaited.
    Confirm,
    /// 3. N/50 × (publish one persistent message, await its confirm).
    ConfirmLatency,
    /// 4a. Consume N with a manual ack of each, prefetch 1.
    ConsumeAck1,
    /// 4b. Consume N with a manual ack of each, prefetch 100.
    ConsumeAck100,
    /// 4c. Consume N with no-ack (no prefetch limit).
    ConsumeNoAck,
    /// 5. N/20 × (publish one message, receive it), p50/p99.
    RoundTrip,
    /// 6a. 10 × 16 MiB transient, until the broker holds all 10.
    LargePublish,
    /// 6b. Consume 10 × 16 MiB, manual ack, prefetch 1.
    LargeConsume,
    /// 6c. Consume 10 × 16 MiB, manual ack, prefetch 10: the broker sends
    /// the next message while the last is handled.
    LargeConsume10,
}

impl Scenario {
    pub(crate) const ALL: [Self; 10] = [
        Self::Publish,
        Self::Confirm,
        Self::ConfirmLatency,
        Self::ConsumeAck1,
        Self::ConsumeAck100,
        Self::ConsumeNoAck,
        Self::RoundTrip,
        Self::LargePublish,
        Self::LargeConsume,
        Self::LargeConsume10,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Confirm => "confirm",
            Self::ConfirmLatency => "confirm-latency",
            Self::ConsumeAck1 => "consume-ack-1",
            Self::ConsumeAck100 => "consume-ack-100",
            Self::ConsumeNoAck => "consume-noack",
            Self::RoundTrip => "roundtrip",
            Self::LargePublish => "large-publish",
            Self::LargeConsume => "large-consume",
            Self::LargeConsume10 => "large-consume-10",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// A one-line description for tables.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Publish => {
                "1. publish 32 B transient, non-durable queue, until the broker holds all"
            }
            Self::Confirm => {
                "2. publish 32 B persistent, durable queue, confirms pipelined, all awaited"
            }
            Self::ConfirmLatency => {
                "3. confirm latency: publish one persistent message, await its confirm"
            }
            Self::ConsumeAck1 => "4a. consume, manual ack of each, prefetch 1",
            Self::ConsumeAck100 => "4b. consume, manual ack of each, prefetch 100",
            Self::ConsumeNoAck => "4c. consume, no-ack",
            Self::RoundTrip => "5. round trip: publish one message and receive it",
            Self::LargePublish => "6a. large: publish 10 × 16 MiB, until the broker holds all",
            Self::LargeConsume => "6b. large: consume 10 × 16 MiB, manual ack, prefetch 1",
            Self::LargeConsume10 => "6c. large: consume 10 × 16 MiB, manual ack, prefetch 10",
        }
    }

    /// How many messages for a base N (100,000 by default).
    pub(crate) fn count(self, n: u64) -> u64 {
        match self {
            Self::ConfirmLatency => (n / 50).max(100),
            Self::RoundTrip => (n / 20).max(100),
            Self::LargePublish | Self::LargeConsume | Self::LargeConsume10 => LARGE_COUNT,
            _ => n,
        }
    }

    /// The body size when small messages are `small` octets (`--small-body`,
    /// [`SMALL_BODY`] by default).
    pub(crate) fn body_len_with(self, small: usize) -> usize {
        match self {
            Self::LargePublish | Self::LargeConsume | Self::LargeConsume10 => LARGE_BODY,
            _ => small,
        }
    }

    /// Durable queue and persistent messages.
    pub(crate) fn persistent(self) -> bool {
        matches!(self, Self::Confirm | Self::ConfirmLatency)
    }

    /// The harness fills the queue with `count` messages before the child starts.
    pub(crate) fn prefilled(self) -> bool {
        matches!(
            self,
            Self::ConsumeAck1
                | Self::ConsumeAck100
                | Self::ConsumeNoAck
                | Self::LargeConsume
                | Self::LargeConsume10
        )
    }

    /// For consume scenarios: (prefetch, manual ack).
    pub(crate) fn consume_mode(self) -> Option<(Option<u16>, bool)> {
        match self {
            Self::ConsumeAck1 | Self::LargeConsume => Some((Some(1), true)),
            Self::ConsumeAck100 => Some((Some(100), true)),
            Self::LargeConsume10 => Some((Some(10), true)),
            Self::ConsumeNoAck => Some((None, false)),
            _ => None,
        }
    }

    /// Latency scenarios report p50/p99; the others a rate.
    pub(crate) fn is_latency(self) -> bool {
        matches!(self, Self::ConfirmLatency | Self::RoundTrip)
    }

    pub(crate) fn is_large(self) -> bool {
        matches!(
            self,
            Self::LargePublish | Self::LargeConsume | Self::LargeConsume10
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The clients compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    Raw,
    Ours,
    /// Ours over TLS (`amqp-bench tls` only): the same code as `Ours`,
    /// given the node's `amqps://` URI.
    OursTls,
    Lapin,
    Amqprs,
}

impl Client {
    pub(crate) const ALL: [Self; 5] = [
        Self::Ours,
        Self::OursTls,
        Self::Lapin,
        Self::Amqprs,
        Self::Raw,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Ours => "ours",
            Self::OursTls => "ours-tls",
            Self::Lapin => "lapin",
            Self::Amqprs => "amqprs",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    pub(crate) fn is_peer(self) -> bool {
        matches!(self, Self::Lapin | Self::Amqprs)
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a child is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) scenario: Scenario,
    pub(crate) uri: BrokerUri,
    /// The queue, declared (and for consume scenarios filled) by the harness.
    pub(crate) queue: String,
    pub(crate) count: u64,
    /// The message body, held once by the "application" (empty when the
    /// scenario publishes nothing).
    pub(crate) body: bytes::Bytes,
}

/// What a client's timed section produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    /// Per-message latencies, for the latency scenarios.
    pub(crate) latencies: Option<Latencies>,
}

/// One child run's figures, as printed on its `RESULT` line.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Figures {
    pub(crate) msgs_per_s: f64,
    pub(crate) cpu_us_per_msg: f64,
    pub(crate) peak_rss_kib: f64,
    pub(crate) p50_us: Option<f64>,
    pub(crate) p99_us: Option<f64>,
    pub(crate) mb_per_s: f64,
    /// user+sys of the whole child process at exit (start-up, connect and
    /// close included), per message; clock-tick (10 ms) resolution.
    pub(crate) exit_cpu_us_per_msg: f64,
    pub(crate) wall_ms: f64,
}

impl Figures {
    pub(crate) fn to_line(&self) -> String {
        let mut s = format!(
            "RESULT msgs_per_s={:.1} cpu_us_per_msg={:.3} peak_rss_kib={} mb_per_s={:.1} exit_cpu_us_per_msg={:.3} wall_ms={:.1}",
            self.msgs_per_s,
            self.cpu_us_per_msg,
            self.peak_rss_kib,
            self.mb_per_s,
            self.exit_cpu_us_per_msg,
            self.wall_ms
        );
        if let (Some(p50), Some(p99)) = (self.p50_us, self.p99_us) {
            s.push_str(&format!(" p50_us={p50:.1} p99_us={p99:.1}"));
        }
        s
    }

    pub(crate) fn parse_line(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("RESULT ")?;
        let mut f = Self::default();
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let v: f64 = v.parse().ok()?;
            match k {
                "msgs_per_s" => f.msgs_per_s = v,
                "cpu_us_per_msg" => f.cpu_us_per_msg = v,
                "peak_rss_kib" => f.peak_rss_kib = v,
                "mb_per_s" => f.mb_per_s = v,
                "exit_cpu_us_per_msg" => f.exit_cpu_us_per_msg = v,
                "wall_ms" => f.wall_ms = v,
                "p50_us" => f.p50_us = Some(v),
                "p99_us" => f.p99_us = Some(v),
                _ => {}
            }
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_round_trips() {
        let f = Figures {
            msgs_per_s: 12345.5,
            cpu_us_per_msg: 1.25,
            peak_rss_kib: 10240.0,
            p50_us: Some(101.5),
            p99_us: Some(250.0),
            mb_per_s: 0.4,
            exit_cpu_us_per_msg: 1.5,
            wall_ms: 8.1,
        };
        assert_eq!(Figures::parse_line(&f.to_line()), Some(f));
    }

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
        for c in Client::ALL {
            assert_eq!(Client::from_name(c.name()), Some(c));
        }
    }
}
