//! The raw lower bound: our codec over a bare tokio `TcpStream`, no client.
//!
//! The handshake and the few synchronous methods are encoded and decoded
//! with amqp-wire; in the timed part, publishes are pre-encoded frames
//! written in big batches, and deliveries and confirms are found by scanning
//! frame headers (type, size, class/method id), skipping bodies unread. What
//! it measures is what the broker alone can do on this machine.
//!
//! The harness also uses it to declare, fill, count and delete the queues,
//! so that setup depends on no client under test.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use amqp_wire::*;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::measure::{Latencies, Section};
use crate::scenario::{Job, Outcome, Scenario};
use crate::uri::BrokerUri;
use crate::Res;

/// What the scanner finds in the byte stream.
#[derive(Debug)]
pub(crate) enum Event {
    /// basic.deliver, with its delivery tag.
    Deliver {
        tag: u64,
    },
    /// basic.ack from the broker (publisher confirm).
    Ack {
        tag: u64,
        multiple: bool,
    },
    /// basic.nack from the broker.
    Nack {
        tag: u64,
    },
    /// A content header announcing `body_size` octets.
    Header {
        body_size: u64,
    },
    /// A body frame of `len` octets (skipped, never copied).
    Body {
        len: usize,
    },
    /// Any other method, decoded with our codec (rare: replies, close).
    Other(Method),
    Heartbeat,
}

/// Splits a byte stream into [`Event`]s without decoding what it needn't.
#[derive(Default)]
pub(crate) struct Scanner {
    buf: BytesMut,
    /// Octets of the current body frame (and its frame-end) still to skip.
    skip: usize,
}

const READ_CHUNK: usize = 256 * 1024;

impl Scanner {
    /// Reads more bytes; an error if the peer closed.
    pub(crate) async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Res<()> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        if r.read_buf(&mut self.buf).await? == 0 {
            return Err("the broker closed the socket".into());
        }
        Ok(())
    }

    /// The next event in what was read, or `None` until more is read.
    pub(crate) fn next_event(&mut self) -> Res<Option<Event>> {
        if self.skip > 0 {
            let k = self.skip.min(self.buf.len());
            self.buf.advance(k);
            self.skip -= k;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        let Some(head) = self.buf.get(..FRAME_HEADER_LEN) else {
            return Ok(None);
        };
        let frame_type = head[0];
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
        if frame_type == FRAME_BODY {
            self.buf.advance(FRAME_HEADER_LEN);
            self.skip = size + 1;
            return Ok(Some(Event::Body { len: size }));
        }
        let total = FRAME_HEADER_LEN + size + 1;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let p = &self.buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + size];
        let event = match frame_type {
            FRAME_METHOD if p.len() >= 4 => {
                let id = (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                );
                let a = &p[4..];
                let u64_at = |i: usize| -> Res<u64> {
                    let b = a.get(i..i + 8).ok_or("short method frame")?;
                    Ok(u64::from_be_bytes(b.try_into()?))
                };
                match id {
                    (60, 60) => {
                        let tag_len = *a.first().ok_or("short deliver")? as usize;
                        Event::Deliver {
                            tag: u64_at(1 + tag_len)?,
                        }
                    }
                    (60, 80) => Event::Ack {
                        tag: u64_at(0)?,
                        multiple: a.get(8).is_some_and(|b| b & 1 != 0),
                    },
                    (60, 120) => Event::Nack { tag: u64_at(0)? },
                    _ => Event::Other(Method::decode(&bytes::Bytes::copy_from_slice(p))?),
                }
            }
            FRAME_HEADER if p.len() >= 12 => Event::Header {
                body_size: u64::from_be_bytes(p[4..12].try_into()?),
            },
            FRAME_HEARTBEAT => Event::Heartbeat,
            t => return Err(format!("unexpected frame type {t} (size {size})").into()),
        };
        self.buf.advance(total);
        Ok(Some(event))
    }
}

/// Which publishes the broker has confirmed (acks may be single or multiple).
#[derive(Debug, Default)]
pub(crate) struct ConfirmTracker {
    /// Every tag up to here is confirmed.
    low: u64,
    /// Confirmed tags above `low` + 1 (out of order singles).
    above: BTreeSet<u64>,
    pub(crate) nacked: bool,
}

impl ConfirmTracker {
    pub(crate) fn ack(&mut self, tag: u64, multiple: bool) {
        if multiple {
            if tag > self.low {
                self.low = tag;
                self.above = self.above.split_off(&(tag + 1));
            }
        } else if tag > self.low {
            self.above.insert(tag);
        }
        while self.above.remove(&(self.low + 1)) {
            self.low += 1;
        }
    }

    pub(crate) fn all_up_to(&self, tag: u64) -> bool {
        self.low >= tag
    }

    pub(crate) fn is_confirmed(&self, tag: u64) -> bool {
        tag <= self.low || self.above.contains(&tag)
    }
}

/// A connection with channel 1 open, driven by hand.
pub(crate) struct RawConn {
    stream: TcpStream,
    scan: Scanner,
    frame_max: u32,
    /// The broker's product and version, from connection.start.
    pub(crate) server: String,
}

const CHANNEL: u16 = 1;

impl RawConn {
    pub(crate) async fn connect(uri: &BrokerUri) -> Res<Self> {
        let stream = TcpStream::connect((uri.host.as_str(), uri.port)).await?;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream,
            scan: Scanner::default(),
            frame_max: DEFAULT_FRAME_MAX,
            server: String::new(),
        };
        c.stream.write_all(&PROTOCOL_HEADER).await?;
        match c.next_method().await? {
            Method::ConnectionStart(start) => {
                let prop = |k: &str| {
                    start
                        .server_properties
                        .get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or("?")
                        .to_string()
                };
                c.server = format!("{} {}", prop("product"), prop("version"));
            }
            other => return Err(format!("expected connection.start, got {other:?}").into()),
        }
        let start_ok = ConnectionStartOk {
            client_properties: FieldTable::new(),
            mechanism: "PLAIN".into(),
            response: format!("\0{}\0{}", uri.user, uri.password).as_str().into(),
            locale: "en_US".into(),
        };
        c.send_method(0, start_ok.into()).await?;
        let tune = match c.next_method().await? {
            Method::ConnectionTune(t) => t,
            other => return Err(format!("expected connection.tune, got {other:?}").into()),
        };
        c.frame_max = match tune.frame_max {
            0 => DEFAULT_FRAME_MAX,
            n => n.min(DEFAULT_FRAME_MAX),
        };
        let tune_ok = ConnectionTuneOk {
            channel_max: tune.channel_max,
            frame_max: c.frame_max,
            heartbeat: 0,
        };
        c.send_method(0, tune_ok.into()).await?;
        let open = ConnectionOpen {
            virtual_host: uri.vhost.as_str().into(),
            ..Default::default()
        };
        c.call_on(0, open.into()).await?;
        c.call(ChannelOpen::default().into()).await?;
        Ok(c)
    }

    async fn send_method(&mut self, channel: u16, method: Method) -> Res<()> {
        let mut buf = BytesMut::new();
        encode_method(channel, &method, &mut buf)?;
        self.stream.write_all(&buf).await?;
        Ok(())
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Res<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    pub(crate) async fn next_event(&mut self) -> Res<Event> {
        loop {
            if let Some(e) = self.scan.next_event()? {
                return Ok(e);
            }
            self.scan.fill(&mut self.stream).await?;
        }
    }

    async fn next_method(&mut self) -> Res<Method> {
        loop {
            match self.next_event().await? {
                Event::Other(Method::ConnectionClose(c)) => {
                    return Err(format!("connection closed by the broker: {c:?}").into())
                }
                Event::Other(Method::ChannelClose(c)) => {
                    return Err(format!("channel closed by the broker: {c:?}").into())
                }
                Event::Other(m) => return Ok(m),
                Event::Heartbeat => {}
                other => return Err(format!("unexpected {other:?}").into()),
            }
        }
    }

    async fn call_on(&mut self, channel: u16, method: Method) -> Res<Method> {
        self.send_method(channel, method).await?;
        self.next_method().await
    }

    /// A synchronous method on channel 1 and its reply.
    pub(crate) async fn call(&mut self, method: Method) -> Res<Method> {
        self.call_on(CHANNEL, method).await
    }

    pub(crate) async fn declare(&mut self, queue: &str, durable: bool) -> Res<()> {
        let declare = QueueDeclare {
            queue: queue.into(),
            durable,
            ..Default::default()
        };
        self.call(declare.into()).await.map(drop)
    }

    /// The queue's ready message count (queue.declare passive).
    pub(crate) async fn message_count(&mut self, queue: &str) -> Res<u64> {
        let declare = QueueDeclare {
            queue: queue.into(),
            passive: true,
            ..Default::default()
        };
        match self.call(declare.into()).await? {
            Method::QueueDeclareOk(ok) => Ok(ok.message_count.into()),
            other => Err(format!("expected queue.declare-ok, got {other:?}").into()),
        }
    }

    /// Polls until the queue holds at least `count` messages.
    pub(crate) async fn wait_for_count(&mut self, queue: &str, count: u64) -> Res<()> {
        while self.message_count(queue).await? < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    pub(crate) async fn delete(&mut self, queue: &str) -> Res<()> {
        let delete = QueueDelete {
            queue: queue.into(),
            ..Default::default()
        };
        self.call(delete.into()).await.map(drop)
    }

    pub(crate) async fn close(mut self) -> Res<()> {
        let close = ConnectionClose {
            reply_code: 200,
            reply_text: "bye".into(),
            ..Default::default()
        };
        self.send_method(0, close.into()).await?;
        loop {
            match self.next_event().await {
                Ok(Event::Other(Method::ConnectionCloseOk(_))) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    }

    /// `count` pre-encoded publishes of `body` to `queue` on channel 1.
    fn encode_publishes(
        &self,
        queue: &str,
        body: &[u8],
        persistent: bool,
        count: u64,
    ) -> Res<BytesMut> {
        let one = self.encode_publish(queue, body, persistent)?;
        let mut buf = BytesMut::with_capacity(one.len() * count as usize);
        for _ in 0..count {
            buf.extend_from_slice(&one);
        }
        Ok(buf)
    }

    fn encode_publish(&self, queue: &str, body: &[u8], persistent: bool) -> Res<BytesMut> {
        let method: Method = BasicPublish {
            routing_key: queue.into(),
            ..Default::default()
        }
        .into();
        let mut props = BasicProperties::default();
        if !persistent {
            props.delivery_mode = Some(DELIVERY_MODE_TRANSIENT);
        } else {
            props = props.persistent();
        }
        let mut buf = BytesMut::new();
        encode_content(CHANNEL, &method, &props, body, self.frame_max, &mut buf)?;
        Ok(buf)
    }

    /// Writes `count` copies of one pre-encoded message, in batches.
    async fn write_copies(&mut self, one: &[u8], count: u64) -> Res<()> {
        if one.len() >= 1 << 20 {
            for _ in 0..count {
                self.stream.write_all(one).await?;
            }
            return Ok(());
        }
        let per_batch = ((1 << 20) / one.len()).max(1) as u64;
        let batch: Vec<u8> = one.repeat(per_batch as usize);
        let mut left = count;
        while left > 0 {
            let k = left.min(per_batch);
            self.stream
                .write_all(&batch[..one.len() * k as usize])
                .await?;
            left -= k;
        }
        Ok(())
    }
}

/// Fills `queue` with `count` transient messages of `body_len` octets and
/// waits until the broker holds them all (harness setup, not timed).
pub(crate) async fn prefill(
    conn: &mut RawConn,
    queue: &str,
    count: u64,
    body_len: usize,
) -> Res<()> {
    let one = conn.encode_publish(queue, &vec![b'x'; body_len], false)?;
    conn.write_copies(&one, count).await?;
    conn.wait_for_count(queue, count).await
}

/// The raw bound's timed part for one scenario.
pub(crate) async fn run(job: &Job) -> Res<Outcome> {
    let mut c = RawConn::connect(&job.uri).await?;
    let q = job.queue.as_str();
    let n = job.count;
    let persistent = job.scenario.persistent();
    let outcome = match job.scenario {
        Scenario::Publish | Scenario::LargePublish => {
            // Small messages: all N pre-encoded in one buffer; large: one
            // message written N times (160 MiB need not sit in memory).
            let pre = if job.scenario.is_large() {
                None
            } else {
                Some(c.encode_publishes(q, &job.body, false, n)?)
            };
            let one = c.encode_publish(q, &job.body, false)?;
            let s = Section::start();
            match &pre {
                Some(all) => c.send(all).await?,
                None => c.write_copies(&one, n).await?,
            }
            c.wait_for_count(q, n).await?;
            stop(&s, None)
        }
        Scenario::Confirm => {
            c.call(ConfirmSelect::default().into()).await?;
            let all = c.encode_publishes(q, &job.body, persistent, n)?;
            let s = Section::start();
            let RawConn { stream, scan, .. } = &mut c;
            let (mut rd, mut wr) = stream.split();
            let write = async {
                wr.write_all(&all).await?;
                Res::Ok(())
            };
            let read = async {
                let mut t = ConfirmTracker::default();
                while !t.all_up_to(n) {
                    match scan.next_event()? {
                        Some(Event::Ack { tag, multiple }) => t.ack(tag, multiple),
                        Some(Event::Nack { tag }) => return Err(format!("nack {tag}").into()),
                        Some(other) => return Err(format!("unexpected {other:?}").into()),
                        None => scan.fill(&mut rd).await?,
                    }
                }
                Res::Ok(())
            };
            let (w, r) = tokio::join!(write, read);
            w?;
            r?;
            stop(&s, None)
        }
        Scenario::ConfirmLatency => {
            c.call(ConfirmSelect::default().into()).await?;
            let one = c.encode_publish(q, &job.body, persistent)?;
            let mut lat = Latencies::with_capacity(n as usize);
            let mut t = ConfirmTracker::default();
            let s = Section::start();
            for tag in 1..=n {
                let t0 = Instant::now();
                c.send(&one).await?;
                while !t.is_confirmed(tag) {
                    match c.next_event().await? {
                        Event::Ack { tag, multiple } => t.ack(tag, multiple),
                        other => return Err(format!("unexpected {other:?}").into()),
                    }
                }
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
        Scenario::ConsumeAck1
        | Scenario::ConsumeAck100
        | Scenario::ConsumeNoAck
        | Scenario::LargeConsume
        | Scenario::LargeConsume10 => {
            let (prefetch, ack) = job.scenario.consume_mode().expect("a consume scenario");
            if let Some(p) = prefetch {
                let qos = BasicQos {
                    prefetch_count: p,
                    ..Default::default()
                };
                c.call(qos.into()).await?;
            }
            // One basic.ack (multiple) template; its tag is patched in place.
            let mut ack_frame = BytesMut::new();
            let ack_method: Method = BasicAck {
                delivery_tag: 0,
                multiple: true,
            }
            .into();
            encode_method(CHANNEL, &ack_method, &mut ack_frame)?;
            const TAG_AT: usize = FRAME_HEADER_LEN + 4;
            let s = Section::start();
            let consume = BasicConsume {
                queue: q.into(),
                no_ack: !ack,
                ..Default::default()
            };
            c.call(consume.into()).await?;
            let (mut done, mut acked, mut last_tag) = (0u64, 0u64, 0u64);
            let mut body_left = 0u64;
            while done < n {
                // Everything already read, then one ack for all of it.
                while let Some(e) = c.scan.next_event()? {
                    match e {
                        Event::Deliver { tag } => last_tag = tag,
                        Event::Header { body_size } => {
                            body_left = body_size;
                            if body_size == 0 {
                                done += 1;
                            }
                        }
                        Event::Body { len } => {
                            body_left = body_left.saturating_sub(len as u64);
                            if body_left == 0 {
                                done += 1;
                            }
                        }
                        Event::Heartbeat => {}
                        other => return Err(format!("unexpected {other:?}").into()),
                    }
                }
                if ack && body_left == 0 && last_tag > acked {
                    ack_frame[TAG_AT..TAG_AT + 8].copy_from_slice(&last_tag.to_be_bytes());
                    c.stream.write_all(&ack_frame).await?;
                    acked = last_tag;
                }
                if done < n {
                    c.scan.fill(&mut c.stream).await?;
                }
            }
            stop(&s, None)
        }
        Scenario::RoundTrip => {
            let consume = BasicConsume {
                queue: q.into(),
                no_ack: true,
                ..Default::default()
            };
            c.call(consume.into()).await?;
            let one = c.encode_publish(q, &job.body, false)?;
            let mut lat = Latencies::with_capacity(n as usize);
            let s = Section::start();
            for _ in 0..n {
                let t0 = Instant::now();
                c.send(&one).await?;
                loop {
                    match c.next_event().await? {
                        Event::Body { .. } => break,
                        Event::Deliver { .. } | Event::Header { .. } | Event::Heartbeat => {}
                        other => return Err(format!("unexpected {other:?}").into()),
                    }
                }
                lat.push(t0.elapsed());
            }
            stop(&s, Some(lat))
        }
    };
    c.close().await?;
    Ok(outcome)
}

fn stop(s: &Section, latencies: Option<Latencies>) -> Outcome {
    let (wall, cpu) = s.stop();
    Outcome {
        wall,
        cpu,
        latencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_handles_singles_and_multiples() {
        let mut t = ConfirmTracker::default();
        t.ack(2, false);
        assert!(t.is_confirmed(2) && !t.is_confirmed(1) && !t.all_up_to(2));
        t.ack(1, false);
        assert!(t.all_up_to(2));
        t.ack(5, false);
        t.ack(4, true);
        assert!(t.all_up_to(5));
    }

    #[test]
    fn scanner_finds_deliveries_and_skips_bodies() {
        let mut buf = BytesMut::new();
        let deliver: Method = BasicDeliver {
            consumer_tag: "ctag".into(),
            delivery_tag: 7,
            ..Default::default()
        }
        .into();
        encode_content(
            1,
            &deliver,
            &BasicProperties::default(),
            &[1; 300],
            4096 + 100,
            &mut buf,
        )
        .unwrap();
        let mut s = Scanner::default();
        // Feed it in two parts, split inside the body.
        let tail = buf.split_off(buf.len() - 100);
        s.buf = buf;
        let mut events = vec![];
        while let Some(e) = s.next_event().unwrap() {
            events.push(format!("{e:?}"));
        }
        s.buf.extend_from_slice(&tail);
        while let Some(e) = s.next_event().unwrap() {
            events.push(format!("{e:?}"));
        }
        assert_eq!(
            events,
            [
                "Deliver { tag: 7 }",
                "Header { body_size: 300 }",
                "Body { len: 300 }"
            ]
        );
        assert!(s.buf.is_empty() && s.skip == 0);
    }
}
