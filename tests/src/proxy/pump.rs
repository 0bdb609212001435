//! One proxied connection: for each direction a reader (octets in, pieces found, rules applied,
//! events logged) and a writer (latency, holds, blackhole, bandwidth, octets out), joined by a
//! queue whose octets are bounded by a budget per direction.
//!
//! ```text
//!  client ──read──> reader(ToBroker) ──queue──> writer(ToBroker) ──write──> broker
//!  client <──write── writer(ToClient) <──queue── reader(ToClient) <──read── broker
//! ```
//!
//! The four run as one task (`join!`), so a connection costs one task and no locks beyond the
//! proxy's state, taken once per read.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amqp_wire::{Frame, FRAME_END};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use super::event::{Direction, Fate, What};
use super::framing::{Framer, PieceKind, MAX_BUFFERED_FRAME};
use super::rules::Verdict;
use super::{Settings, Shared};

/// The most octets one read takes in.
const READ_CHUNK: usize = 64 * 1024;

/// The most octets read from one side and not yet written to the other (per connection and
/// direction); beyond it the proxy stops reading, and TCP flow control slows the sender. Must
/// exceed [`MAX_BUFFERED_FRAME`] plus a read, since a whole frame is buffered before it is
/// queued.
const BUFFER_LIMIT: usize = 2 * MAX_BUFFERED_FRAME;

/// What a corrupted frame's end octet becomes (anything but [`FRAME_END`]).
const CORRUPT_FRAME_END: u8 = !FRAME_END;

/// What a writer is asked to do, in order.
pub(super) enum Item {
    /// Write `octets` no sooner than `ready_at`, and only once `gate` (if any) says released;
    /// then give `permits` back to the direction's budget.
    Data {
        octets: Bytes,
        ready_at: Instant,
        gate: Option<watch::Receiver<bool>>,
        permits: usize,
    },
    /// Cut the connection here.
    Cut(String),
    /// Blackhole the connection here.
    Blackhole,
    /// The source closed: close our side toward the destination (FIN).
    Eof,
}

/// A connection's own switches.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Flags {
    pub(super) cut: bool,
    pub(super) blackholed: bool,
}

/// One proxied connection, as the proxy's state knows it.
pub(super) struct Conn {
    pub(super) id: u64,
    shared: Arc<Shared>,
    pub(super) flags: watch::Sender<Flags>,
    /// Frames read so far, both directions (protocol headers excepted).
    frames: AtomicU64,
    /// Each direction's writer queue, for injected frames.
    pub(super) queues: [mpsc::UnboundedSender<Item>; 2],
}

impl Conn {
    /// Cuts the connection (RST both ways), once; logs why.
    pub(super) fn cut(&self, reason: String) {
        let first = self
            .flags
            .send_if_modified(|f| !std::mem::replace(&mut f.cut, true));
        if first {
            let mut state = self.shared.state();
            self.shared
                .log_locked(&mut state, self.id, None, What::Cut { reason });
        }
    }

    fn log(&self, direction: Direction, what: What) {
        let mut state = self.shared.state();
        self.shared
            .log_locked(&mut state, self.id, Some(direction), what);
    }
}

/// Serves one accepted client until both directions are done or the connection is cut.
pub(super) async fn serve(shared: Arc<Shared>, id: u64, client: TcpStream, peer: SocketAddr) {
    {
        let mut state = shared.state();
        shared.log_locked(&mut state, id, None, What::Accepted { client: peer });
    }
    let broker = match TcpStream::connect(shared.upstream).await {
        Ok(broker) => broker,
        Err(e) => {
            let mut state = shared.state();
            let reason = format!("cannot connect to the broker at {}: {e}", shared.upstream);
            shared.log_locked(&mut state, id, None, What::Cut { reason });
            let _ = client.set_zero_linger();
            return;
        }
    };
    // Small frames must not wait for Nagle: the proxy's cost would then be 40 ms, not 40 µs.
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (to_broker, to_broker_rx) = mpsc::unbounded_channel();
    let (to_client, to_client_rx) = mpsc::unbounded_channel();
    let conn = Arc::new(Conn {
        id,
        shared: shared.clone(),
        flags: watch::Sender::new(Flags::default()),
        frames: AtomicU64::new(0),
        queues: [to_broker.clone(), to_client.clone()],
    });
    shared.state().conns.insert(id, conn.clone());
    let (client_in, client_out) = client.into_split();
    let (broker_in, broker_out) = broker.into_split();
    let budgets = [Semaphore::new(BUFFER_LIMIT), Semaphore::new(BUFFER_LIMIT)];
    tokio::join!(
        read_side(
            &conn,
            Direction::ToBroker,
            client_in,
            to_broker,
            &budgets[0]
        ),
        write_side(
            &conn,
            Direction::ToBroker,
            broker_out,
            to_broker_rx,
            &budgets[0]
        ),
        read_side(
            &conn,
            Direction::ToClient,
            broker_in,
            to_client,
            &budgets[1]
        ),
        write_side(
            &conn,
            Direction::ToClient,
            client_out,
            to_client_rx,
            &budgets[1]
        ),
    );
    shared.state().conns.remove(&id);
}

/// Who sends in `direction`, and who receives.
fn ends(direction: Direction) -> (&'static str, &'static str) {
    match direction {
        Direction::ToBroker => ("client", "broker"),
        Direction::ToClient => ("broker", "client"),
    }
}

// ===== reading =====

async fn read_side(
    conn: &Conn,
    direction: Direction,
    mut src: OwnedReadHalf,
    queue: mpsc::UnboundedSender<Item>,
    budget: &Semaphore,
) {
    let mut flags = conn.flags.subscribe();
    let mut settings = conn.shared.settings.subscribe();
    let mut reader = Reader {
        conn,
        direction,
        framer: Framer::new(),
        buf: BytesMut::with_capacity(READ_CHUNK),
        queue,
        budget,
        content: HashMap::new(),
    };
    let (from, _) = ends(direction);
    loop {
        // While blackholed nothing is read: what the sender sends waits in TCP's buffers, as
        // on a dead network.
        if !wire_open(&mut flags, &mut settings).await {
            break;
        }
        let Some(Ok(permits)) = or_cut(&mut flags, budget.acquire_many(READ_CHUNK as u32)).await
        else {
            break;
        };
        permits.forget();
        reader.buf.reserve(READ_CHUNK);
        let mut room = (&mut reader.buf).limit(READ_CHUNK);
        let read = tokio::select! {
            read = src.read_buf(&mut room) => read,
            () = until_blocked(&mut flags, &mut settings) => {
                budget.add_permits(READ_CHUNK);
                continue;
            }
        };
        match read {
            Ok(0) => {
                budget.add_permits(READ_CHUNK);
                let reason = format!("the {from} closed its side (EOF)");
                conn.log(direction, What::Closed { reason });
                let _ = reader.queue.send(Item::Eof);
                return;
            }
            Ok(n) => {
                budget.add_permits(READ_CHUNK - n);
                let latency = settings.borrow().latency[direction.index()];
                if !reader.take_in(Instant::now() + latency) {
                    // A cut is queued behind what came before it.
                    return;
                }
            }
            Err(e) => {
                budget.add_permits(READ_CHUNK);
                let reason = format!("reading from the {from} failed: {e}");
                conn.log(direction, What::Closed { reason });
                conn.cut(format!("passing on the {from}'s failure: {e}"));
                break;
            }
        }
    }
    // Cut: reset, not close.
    let _ = src.as_ref().set_zero_linger();
}

/// A direction's reading state.
struct Reader<'a> {
    conn: &'a Conn,
    direction: Direction,
    framer: Framer,
    /// Octets read and not queued yet: at most one incomplete piece once `take_in` returns.
    buf: BytesMut,
    queue: mpsc::UnboundedSender<Item>,
    budget: &'a Semaphore,
    /// Channels whose content (header and body frames) is being dropped, because the
    /// content-carrying method before it was: `None` until the header came, then the body
    /// octets still to drop.
    content: HashMap<u16, Option<u64>>,
}

impl Reader<'_> {
    /// Logs and queues every whole piece in `buf`. False if a cut was queued (read no more).
    fn take_in(&mut self, ready_at: Instant) -> bool {
        let conn = self.conn;
        let shared = &conn.shared;
        let direction = Some(self.direction);
        let mut state = shared.state();
        // `buf[..run]`: pieces to forward as they are, in one write.
        let mut run = 0;
        while let Some(piece) = self.framer.next_piece(&self.buf[run..]) {
            let len = piece.len;
            let frame = match piece.kind {
                PieceKind::Continuation => {
                    run += len;
                    continue;
                }
                PieceKind::Header(header) => {
                    let fate = Fate::Forwarded;
                    shared.log_locked(
                        &mut state,
                        conn.id,
                        direction,
                        What::ProtocolHeader { header, fate },
                    );
                    run += len;
                    continue;
                }
                PieceKind::Undecodable { octets, error } => {
                    let fate = Fate::Forwarded;
                    let what = What::Undecodable {
                        octets,
                        error,
                        fate,
                    };
                    shared.log_locked(&mut state, conn.id, direction, what);
                    run += len;
                    continue;
                }
                PieceKind::Frame(frame) => frame,
            };
            let nth = conn.frames.fetch_add(1, Ordering::Relaxed) + 1;
            let verdict = if self.swallows_content(&frame) {
                Verdict::Drop
            } else {
                state.rules.judge(conn.id, self.direction, &frame)
            };
            let (fate, cut) = match verdict {
                Verdict::Forward => {
                    run += len;
                    (Fate::Forwarded, None)
                }
                Verdict::Hold(gate) => {
                    self.flush(&mut run, ready_at);
                    let octets = self.buf.split_to(len).freeze();
                    self.send(octets, ready_at, Some(gate));
                    (Fate::Held, None)
                }
                Verdict::Drop => {
                    self.flush(&mut run, ready_at);
                    self.buf.advance(len);
                    self.budget.add_permits(len);
                    if let Frame::Method { channel, method } = &frame {
                        if method.carries_content() {
                            self.content.insert(*channel, None);
                        }
                    }
                    (Fate::Dropped, None)
                }
                Verdict::Corrupt => {
                    self.flush(&mut run, ready_at);
                    let mut octets = self.buf.split_to(len);
                    octets[len - 1] = CORRUPT_FRAME_END;
                    self.send(octets.freeze(), ready_at, None);
                    (Fate::Corrupted, None)
                }
                Verdict::Cut(reason) => {
                    self.flush(&mut run, ready_at);
                    (Fate::Cut, Some(reason))
                }
            };
            shared.log_locked(&mut state, conn.id, direction, What::Frame { frame, fate });
            let cut = cut.or_else(|| {
                let n = state.rules.close_after?;
                (nth >= n).then(|| format!("close_after({n}): the connection carried {nth} frames"))
            });
            if let Some(reason) = cut {
                self.flush(&mut run, ready_at);
                let _ = self.queue.send(Item::Cut(reason));
                return false;
            }
            if state.rules.blackhole_after == Some(nth) {
                self.flush(&mut run, ready_at);
                let _ = self.queue.send(Item::Blackhole);
            }
        }
        self.flush(&mut run, ready_at);
        true
    }

    /// Queues `buf[..run]` as one write.
    fn flush(&mut self, run: &mut usize, ready_at: Instant) {
        if *run > 0 {
            let octets = self.buf.split_to(std::mem::take(run)).freeze();
            self.send(octets, ready_at, None);
        }
    }

    fn send(&self, octets: Bytes, ready_at: Instant, gate: Option<watch::Receiver<bool>>) {
        let permits = octets.len();
        // The writer is gone only once the connection is over.
        let _ = self.queue.send(Item::Data {
            octets,
            ready_at,
            gate,
            permits,
        });
    }

    /// True for a content header or body frame whose message is being dropped.
    fn swallows_content(&mut self, frame: &Frame) -> bool {
        let channel = frame.channel();
        let Some(&expecting) = self.content.get(&channel) else {
            return false;
        };
        match (frame, expecting) {
            (Frame::Header { header, .. }, None) => {
                if header.body_size == 0 {
                    self.content.remove(&channel);
                } else {
                    self.content.insert(channel, Some(header.body_size));
                }
                true
            }
            (Frame::Body { payload, .. }, Some(remaining)) => {
                let remaining = remaining.saturating_sub(payload.len() as u64);
                if remaining == 0 {
                    self.content.remove(&channel);
                } else {
                    self.content.insert(channel, Some(remaining));
                }
                true
            }
            // Anything else on the channel ends its content.
            _ => {
                self.content.remove(&channel);
                false
            }
        }
    }
}

// ===== writing =====

async fn write_side(
    conn: &Conn,
    direction: Direction,
    mut dst: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Item>,
    budget: &Semaphore,
) {
    let mut flags = conn.flags.subscribe();
    let mut settings = conn.shared.settings.subscribe();
    let (_, to) = ends(direction);
    let mut next_free = Instant::now();
    loop {
        let item = match or_cut(&mut flags, queue.recv()).await {
            Some(Some(item)) => item,
            // The connection is gone: nothing more will come.
            Some(None) => return,
            None => break,
        };
        let (octets, ready_at, gate, permits) = match item {
            Item::Data {
                octets,
                ready_at,
                gate,
                permits,
            } => (octets, ready_at, gate, permits),
            Item::Cut(reason) => {
                conn.cut(reason);
                break;
            }
            Item::Blackhole => {
                conn.flags.send_modify(|f| f.blackholed = true);
                continue;
            }
            Item::Eof => {
                let _ = dst.shutdown().await;
                return;
            }
        };
        if ready_at > Instant::now()
            && or_cut(&mut flags, tokio::time::sleep_until(ready_at))
                .await
                .is_none()
        {
            break;
        }
        if let Some(mut gate) = gate {
            if or_cut(&mut flags, gate.wait_for(|released| *released))
                .await
                .is_none()
            {
                break;
            }
        }
        if !wire_open(&mut flags, &mut settings).await {
            break;
        }
        let rate = settings.borrow().bandwidth[direction.index()];
        let written = or_cut(
            &mut flags,
            write_paced(&mut dst, &octets, rate, &mut next_free),
        )
        .await;
        match written {
            None => break,
            Some(Ok(())) => budget.add_permits(permits),
            Some(Err(e)) => {
                let reason = format!("writing to the {to} failed: {e}");
                conn.log(direction, What::Closed { reason });
                conn.cut(format!("the {to} cannot be written to: {e}"));
                break;
            }
        }
    }
    // Cut: the socket resets once its read half is dropped too; no FIN before that.
    let _ = dst.as_ref().set_zero_linger();
    dst.forget();
}

/// Writes `octets`, no faster than `rate` octets a second if set: in slices of about 50 ms'
/// worth, each sent once the ones before it have had their time.
async fn write_paced(
    dst: &mut OwnedWriteHalf,
    octets: &[u8],
    rate: Option<u64>,
    next_free: &mut Instant,
) -> std::io::Result<()> {
    let Some(rate) = rate else {
        return dst.write_all(octets).await;
    };
    let rate = rate.max(1);
    let slice = (rate / 20).clamp(256, READ_CHUNK as u64) as usize;
    for part in octets.chunks(slice) {
        let now = Instant::now();
        if *next_free > now {
            tokio::time::sleep_until(*next_free).await;
        }
        dst.write_all(part).await?;
        *next_free =
            (*next_free).max(now) + Duration::from_secs_f64(part.len() as f64 / rate as f64);
    }
    Ok(())
}

// ===== switches =====

/// Runs `f` unless the connection is cut first (`None`).
async fn or_cut<F: Future>(flags: &mut watch::Receiver<Flags>, f: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = flags.wait_for(|f| f.cut) => None,
        out = f => Some(out),
    }
}

/// Waits while the connection is blackholed; false if it is cut.
async fn wire_open(
    flags: &mut watch::Receiver<Flags>,
    settings: &mut watch::Receiver<Settings>,
) -> bool {
    loop {
        let own = *flags.borrow_and_update();
        if own.cut {
            return false;
        }
        if !own.blackholed && !settings.borrow_and_update().blackhole {
            return true;
        }
        tokio::select! {
            _ = flags.changed() => {}
            _ = settings.changed() => {}
        }
    }
}

/// Returns once the connection is blackholed or cut.
async fn until_blocked(
    flags: &mut watch::Receiver<Flags>,
    settings: &mut watch::Receiver<Settings>,
) {
    loop {
        let own = *flags.borrow_and_update();
        if own.cut || own.blackholed || settings.borrow_and_update().blackhole {
            return;
        }
        tokio::select! {
            _ = flags.changed() => {}
            _ = settings.changed() => {}
        }
    }
}
