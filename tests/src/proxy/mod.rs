//! FaultProxy: an AMQP-aware TCP proxy for fault injection, programmable from a test.
//!
//! It sits between a client (ours, pika, Java, ...) and the broker, finds every frame both ways,
//! decodes it with amqp-wire for an event log and for rules, and forwards the original octets
//! (byte for byte, unless a rule changes them). A test can
//!
//! * break the network: [`FaultProxy::cut`] (RST both ways), [`FaultProxy::blackhole`] (stop
//!   forwarding and keep the sockets open: what a dead network looks like to heartbeats),
//!   [`FaultProxy::set_latency`] and [`FaultProxy::set_bandwidth`] per direction, and lift each
//!   again;
//! * act on frames chosen by a [`Match`]: [`FaultProxy::hold`] them until released,
//!   [`FaultProxy::drop_next`], [`FaultProxy::corrupt_next`] (bad frame-end octet),
//!   [`FaultProxy::close_on`] one, [`FaultProxy::close_after`] N frames, and
//!   [`FaultProxy::inject`] frames of its own toward either side;
//! * assert on the traffic: [`FaultProxy::events`] and [`FaultProxy::wait_for`] give decoded
//!   frames with connection number, [`Direction`] and time.
//!
//! ```no_run
//! use std::time::Duration;
//! use amqp_testkit::proxy::{Direction, FaultProxy, Match};
//! use amqp_wire::BasicAck;
//!
//! # async fn demo() -> std::io::Result<()> {
//! let url = amqp_testkit::amqp_url();
//! let proxy = FaultProxy::start_for_url(&url).await?;
//! let hold = proxy.hold(Direction::ToClient, Match::method::<BasicAck>());
//! // Connect to proxy.url_for(&url), publish with confirms: the confirm stays pending...
//! hold.release(); // ...until now.
//! let ack = proxy
//!     .wait_for(|e| e.is_method(Direction::ToClient, "basic.ack"), Duration::from_secs(5))
//!     .await
//!     .expect("a confirm");
//! println!("{ack}"); // [c1 +0.031s] <- ch=1 basic.ack delivery_tag=1 multiple=false [held]
//! # Ok(())
//! # }
//! ```
//!
//! Where rules act: each direction of a connection has a reader, which finds the pieces,
//! applies the frame rules and logs, and a writer, which applies latency, holds, blackholes and
//! the bandwidth limit. Rules apply to live and future connections alike, unless their
//! [`Match`] names one ([`Match::on_conn`]). The client's first 8 octets are its protocol header
//! (logged, forwarded, counted as no frame). Frames are delimited by their 7-octet header and
//! checked by amqp-wire with no frame_max, so the proxy never refuses what the peers accept;
//! what it cannot decode is logged as [`What::Undecodable`] and forwarded as it is.
//!
//! Memory is bounded: the log keeps the last [`ProxyOptions::log_capacity`] events (and at
//! most [`ProxyOptions::log_body_octets`] of message bodies), and each direction of a
//! connection buffers at most 8 MiB before it stops reading (TCP then slows the sender).
//! Frames over 4 MiB are passed on as they arrive, undecoded.

mod event;
mod framing;
mod matcher;
mod pump;
mod rules;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use amqp_wire::Frame;
use bytes::BytesMut;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use event::{Direction, Fate, FrameEvent, What};
pub use matcher::Match;
pub use rules::HoldGuard;

use pump::{Conn, Item};
use rules::Rules;

/// Events the log keeps by default.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// Message body octets the log keeps by default (older events go first beyond it).
pub const DEFAULT_LOG_BODY_OCTETS: usize = 64 << 20;

/// Called with each event as it is logged, in log order (see [`ProxyOptions::on_event`]).
pub type EventHook = Arc<dyn Fn(&FrameEvent) + Send + Sync>;

/// How to start a [`FaultProxy`].
#[derive(Clone)]
pub struct ProxyOptions {
    /// Where to listen; `127.0.0.1:0` (a free port) by default.
    pub listen: SocketAddr,
    /// How many events the log keeps (the most recent); 0 keeps none.
    pub log_capacity: usize,
    /// How many message body octets the log keeps, over all its body frames.
    pub log_body_octets: usize,
    /// Called with each event as it is logged, on the proxy's task and under its lock: keep it
    /// quick (the CLI prints from here).
    pub on_event: Option<EventHook>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_capacity: DEFAULT_LOG_CAPACITY,
            log_body_octets: DEFAULT_LOG_BODY_OCTETS,
            on_event: None,
        }
    }
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("listen", &self.listen)
            .field("log_capacity", &self.log_capacity)
            .field("log_body_octets", &self.log_body_octets)
            .field("on_event", &self.on_event.as_ref().map(|_| "..."))
            .finish()
    }
}

/// Network conditions, per direction where it applies ([`Direction::index`] order).
#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    blackhole: bool,
    latency: [Duration; 2],
    bandwidth: [Option<u64>; 2],
}

/// What the accept loop, the connections and the handles share.
struct Shared {
    started: Instant,
    upstream: SocketAddr,
    settings: watch::Sender<Settings>,
    state: Mutex<State>,
    /// How many events were ever logged: [`FaultProxy::wait_for`] waits on it.
    logged: watch::Sender<u64>,
    on_event: Option<EventHook>,
}

struct State {
    rules: Rules,
    conns: HashMap<u64, Arc<Conn>>,
    log: VecDeque<FrameEvent>,
    log_capacity: usize,
    log_body_octets: usize,
    /// Body octets of the events in `log`.
    body_octets: usize,
    next_seq: u64,
}

impl Shared {
    /// The state, even if a panicking test poisoned the lock (it is consistent after each call).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs an event; the caller holds the state's lock, so the log's order is the order of
    /// the calls.
    fn log_locked(&self, state: &mut State, conn: u64, direction: Option<Direction>, what: What) {
        let event = FrameEvent {
            seq: state.next_seq,
            conn,
            direction,
            at: self.started.elapsed(),
            what,
        };
        state.next_seq += 1;
        if let Some(hook) = &self.on_event {
            hook(&event);
        }
        if state.log_capacity > 0 {
            state.body_octets += body_octets(&event);
            state.log.push_back(event);
            while state.log.len() > state.log_capacity
                || (state.body_octets > state.log_body_octets && state.log.len() > 1)
            {
                let Some(old) = state.log.pop_front() else {
                    break;
                };
                state.body_octets -= body_octets(&old);
            }
        }
        self.logged.send_replace(state.next_seq);
    }
}

fn body_octets(event: &FrameEvent) -> usize {
    match event.frame() {
        Some(Frame::Body { payload, .. }) => payload.len(),
        _ => 0,
    }
}

/// An AMQP-aware TCP proxy between clients and one broker (see the [module docs](self)).
///
/// Dropping it stops accepting and cuts every connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. `"127.0.0.1:5672"`) on a free port of 127.0.0.1.
    pub async fn start(upstream: impl ToSocketAddrs) -> io::Result<Self> {
        Self::start_with(upstream, ProxyOptions::default()).await
    }

    /// Starts a proxy to the broker of an AMQP URL (its host and port), e.g.
    /// [`crate::amqp_url`]'s.
    pub async fn start_for_url(broker_url: &str) -> io::Result<Self> {
        let (host, port) = crate::parse_host_port(broker_url);
        Self::start((host.as_str(), port)).await
    }

    /// Starts a proxy to `upstream` with `options`. Needs a tokio runtime; connections are
    /// served on it.
    pub async fn start_with(
        upstream: impl ToSocketAddrs,
        options: ProxyOptions,
    ) -> io::Result<Self> {
        let upstream = tokio::net::lookup_host(upstream)
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "the upstream address resolves to nothing",
                )
            })?;
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            started: Instant::now(),
            upstream,
            settings: watch::Sender::new(Settings::default()),
            state: Mutex::new(State {
                rules: Rules::default(),
                conns: HashMap::new(),
                log: VecDeque::new(),
                log_capacity: options.log_capacity,
                log_body_octets: options.log_body_octets,
                body_octets: 0,
                next_seq: 0,
            }),
            logged: watch::Sender::new(0),
            on_event: options.on_event,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            shared,
            addr,
            accept,
        })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// `broker_url` with its host and port replaced by the proxy's: user, password, vhost and
    /// query are kept. `amqp://guest:guest@127.0.0.1:5672/%2f?heartbeat=5` becomes
    /// `amqp://guest:guest@127.0.0.1:40123/%2f?heartbeat=5`.
    pub fn url_for(&self, broker_url: &str) -> String {
        url_for_addr(broker_url, self.addr)
    }

    /// Time since the proxy started: the clock of [`FrameEvent::at`].
    pub fn elapsed(&self) -> Duration {
        self.shared.started.elapsed()
    }

    // ===== the network =====

    /// Cuts every live connection: RST to the client and to the broker, at once (queued octets
    /// are lost). New connections are still accepted.
    pub fn cut(&self) {
        for conn in self.live() {
            conn.cut("cut by the test".into());
        }
    }

    /// Cuts connection `conn`; false if it is not live.
    pub fn cut_conn(&self, conn: u64) -> bool {
        let found = self.shared.state().conns.get(&conn).cloned();
        found.map(|c| c.cut("cut by the test".into())).is_some()
    }

    /// Blackholes every connection, live and future, or lifts it: nothing is read or written
    /// while it lasts, and the sockets stay open (no FIN, no RST), as when the network dies.
    /// What was sent meanwhile waits in TCP's buffers and flows once it is lifted, as after a
    /// healed partition. A connection blackholed by [`FaultProxy::blackhole_after`] or
    /// [`FaultProxy::blackhole_conn`] stays so until lifted there.
    pub fn blackhole(&self, on: bool) {
        self.shared.settings.send_modify(|s| s.blackhole = on);
    }

    /// Blackholes connection `conn` alone, or lifts it; false if it is not live.
    pub fn blackhole_conn(&self, conn: u64, on: bool) -> bool {
        let found = self.shared.state().conns.get(&conn).cloned();
        found
            .map(|c| c.flags.send_modify(|f| f.blackholed = on))
            .is_some()
    }

    /// Delays every octet going `direction` by `delay` (zero lifts it), on every connection,
    /// from the next read on. Throughput is kept: octets are delayed, not serialised.
    pub fn set_latency(&self, direction: Direction, delay: Duration) {
        self.shared
            .settings
            .send_modify(|s| s.latency[direction.index()] = delay);
    }

    /// Limits each connection to `octets_per_second` going `direction` (`None` lifts it).
    pub fn set_bandwidth(&self, direction: Direction, octets_per_second: Option<u64>) {
        self.shared
            .settings
            .send_modify(|s| s.bandwidth[direction.index()] = octets_per_second);
    }

    // ===== frame rules =====

    /// Holds back the frames going `direction` that `matcher` chooses, until the guard is
    /// released (or dropped). Every later frame of that direction and connection waits behind
    /// the first held one, to keep TCP's order: see [`HoldGuard`].
    pub fn hold(&self, direction: Direction, matcher: Match) -> HoldGuard {
        let (id, _) = self.shared.state().rules.hold(direction, matcher);
        HoldGuard {
            id,
            shared: self.shared.clone(),
        }
    }

    /// Drops the next `n` frames going `direction` that `matcher` chooses (counted over all
    /// connections). A dropped content-carrying method (basic.publish, basic.deliver,
    /// basic.get-ok, basic.return) takes its content header and body frames with it, so the
    /// receiver loses one whole message and sees no stray content.
    pub fn drop_next(&self, direction: Direction, matcher: Match, n: u64) {
        self.shared.state().rules.drop_next(direction, matcher, n);
    }

    /// Corrupts the next frame going `direction` that `matcher` chooses: its frame-end octet is
    /// changed from 0xCE, so the receiver must close the connection (spec 4.2.3).
    pub fn corrupt_next(&self, direction: Direction, matcher: Match) {
        self.shared.state().rules.corrupt_next(direction, matcher);
    }

    /// Cuts each connection (RST both ways) once it has carried `frames` frames, both
    /// directions counted from its start (protocol headers are not frames): the last one is
    /// forwarded first. A live connection already past `frames` is cut at its next frame.
    pub fn close_after(&self, frames: u64) {
        self.shared.state().rules.close_after = Some(frames);
    }

    /// Cuts a connection (RST both ways) instead of forwarding a frame going `direction` that
    /// `matcher` chooses; the frames before it are forwarded. Stays in force until
    /// [`FaultProxy::clear_rules`].
    pub fn close_on(&self, direction: Direction, matcher: Match) {
        self.shared.state().rules.close_on(direction, matcher);
    }

    /// Blackholes each connection (as [`FaultProxy::blackhole_conn`]) once it has carried
    /// `frames` frames, counted as for [`FaultProxy::close_after`].
    pub fn blackhole_after(&self, frames: u64) {
        self.shared.state().rules.blackhole_after = Some(frames);
    }

    /// Ends every frame rule (held frames are released; [`HoldGuard`]s become inert).
    /// Latency, bandwidth and blackholes stay.
    pub fn clear_rules(&self) {
        self.shared.state().rules.clear();
    }

    /// Sends `frame` toward `direction` on connection `conn`, after what is already queued
    /// that way (so at a frame boundary); false if the connection is not live. Logged as
    /// [`Fate::Injected`].
    ///
    /// # Panics
    ///
    /// If `frame` cannot be encoded (a short string over 255 octets, ...).
    pub fn inject(&self, conn: u64, direction: Direction, frame: &Frame) -> bool {
        let found = self.shared.state().conns.get(&conn).cloned();
        found.is_some_and(|c| self.inject_into(&c, direction, frame))
    }

    /// [`FaultProxy::inject`] on every live connection; how many took it.
    pub fn inject_all(&self, direction: Direction, frame: &Frame) -> usize {
        self.live()
            .iter()
            .filter(|c| self.inject_into(c, direction, frame))
            .count()
    }

    fn inject_into(&self, conn: &Conn, direction: Direction, frame: &Frame) -> bool {
        let mut octets = BytesMut::new();
        frame
            .encode(&mut octets)
            .unwrap_or_else(|e| panic!("FaultProxy::inject: cannot encode {frame}: {e}"));
        let mut state = self.shared.state();
        let item = Item::Data {
            octets: octets.freeze(),
            ready_at: Instant::now(),
            gate: None,
            permits: 0,
        };
        if conn.queues[direction.index()].send(item).is_err() {
            return false;
        }
        let what = What::Frame {
            frame: frame.clone(),
            fate: Fate::Injected,
        };
        self.shared
            .log_locked(&mut state, conn.id, Some(direction), what);
        true
    }

    // ===== the log =====

    /// The events logged so far (the most recent [`ProxyOptions::log_capacity`]), in order.
    pub fn events(&self) -> Vec<FrameEvent> {
        self.shared.state().log.iter().cloned().collect()
    }

    /// The events of connection `conn`, in order.
    pub fn events_of(&self, conn: u64) -> Vec<FrameEvent> {
        let state = self.shared.state();
        state
            .log
            .iter()
            .filter(|e| e.conn == conn)
            .cloned()
            .collect()
    }

    /// The first event in the log, or logged within `timeout`, for which `predicate` is true.
    /// Tests await events with it instead of sleeping.
    pub async fn wait_for(
        &self,
        predicate: impl Fn(&FrameEvent) -> bool,
        timeout: Duration,
    ) -> Result<FrameEvent, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        let mut logged = self.shared.logged.subscribe();
        let mut from_seq = 0;
        loop {
            logged.borrow_and_update();
            {
                let state = self.shared.state();
                if let Some(e) = state
                    .log
                    .iter()
                    .filter(|e| e.seq >= from_seq)
                    .find(|e| predicate(e))
                {
                    return Ok(e.clone());
                }
                from_seq = state.next_seq;
            }
            match tokio::time::timeout_at(deadline, logged.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives as long as `self`.
                Ok(Err(_)) | Err(_) => {
                    let state = self.shared.state();
                    let skip = state.log.len().saturating_sub(WAIT_TIMEOUT_TAIL);
                    return Err(WaitTimeout {
                        timeout,
                        last: state.log.iter().skip(skip).cloned().collect(),
                    });
                }
            }
        }
    }

    /// The live connections' numbers.
    pub fn connections(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.shared.state().conns.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn live(&self) -> Vec<Arc<Conn>> {
        self.shared.state().conns.values().cloned().collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for conn in self.live() {
            conn.cut("the proxy was dropped".into());
        }
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("connections", &self.connections())
            .finish()
    }
}

/// How many of the last events a [`WaitTimeout`] shows.
const WAIT_TIMEOUT_TAIL: usize = 30;

/// [`FaultProxy::wait_for`] found no matching event in time.
#[derive(Debug, Clone)]
pub struct WaitTimeout {
    /// How long it waited.
    pub timeout: Duration,
    /// The last events logged, for the failure message.
    pub last: Vec<FrameEvent>,
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no matching proxy event within {:?}; the last {} events:",
            self.timeout,
            self.last.len()
        )?;
        for e in &self.last {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WaitTimeout {}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let next_id = AtomicU64::new(1);
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(pump::serve(shared.clone(), id, client, peer));
            }
            // Out of file descriptors and the like: give it a moment rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `url` with the host and port of its authority replaced by `addr` (user, password, vhost and
/// query kept), e.g. to point a client at an `amqp-proxy` process.
pub fn url_for_addr(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("amqp://", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo = match authority.rfind('@') {
        Some(at) => &authority[..=at],
        None => "",
    };
    format!("{scheme}{userinfo}{addr}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_point_at_the_proxy() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 40123));
        for (url, expected) in [
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f?heartbeat=5",
                "amqp://guest:guest@127.0.0.1:40123/%2f?heartbeat=5",
            ),
            ("amqp://localhost", "amqp://127.0.0.1:40123"),
            ("amqp://u@[::1]:99/v", "amqp://u@127.0.0.1:40123/v"),
            ("amqp://a:b@c", "amqp://a:b@127.0.0.1:40123"),
        ] {
            assert_eq!(url_for_addr(url, addr), expected, "{url}");
        }
    }
}
