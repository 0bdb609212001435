//! One channel's protocol state: the FIFO of synchronous requests awaiting
//! their reply, the content being assembled, publisher confirms, and flow.
//!
//! ```text
//!            channel.open                 channel.open-ok
//!  (free) ---------------> Opening ---------------------> Open
//!                                                          |  channel.close (ours)
//!                          close-ok / (broker's close)     v
//!  (free) <------------------------------------------- Closing
//! ```
//! A `channel.close` from the broker in any phase is answered with
//! `close-ok` and frees the number at once.

use std::collections::VecDeque;
use std::time::Instant;

use amqp_wire::{BasicProperties, ChannelOpen, ChannelOpenOk, Method, ShortString};
use bytes::Bytes;

use super::unacked::UnackedDeliveries;
use crate::error::Error;
use crate::fast_hash::FastSet;

/// A received message: the method that carried it (basic.deliver,
/// basic.return or basic.get-ok), its properties and its whole body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Content {
    /// basic.deliver, basic.return or basic.get-ok.
    pub(crate) method: Method,
    /// The content header's properties.
    pub(crate) properties: BasicProperties,
    /// The body, all frames joined (one frame's body is not copied).
    pub(crate) body: Bytes,
}

/// Where a channel is in its life (see the diagram above).
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// channel.open sent, open-ok awaited.
    Opening,
    Open,
    /// Our channel.close is out, for `reason`: only close / close-ok count
    /// now, and every call gets `reason`.
    Closing {
        reason: Error,
    },
}

/// A request waiting for its reply, which must have these ids.
pub(crate) struct Pending<T> {
    pub(crate) reply: (u16, u16),
    pub(crate) waiter: Option<T>,
    /// The request's name as the spec gives it, for [`crate::Error::RpcTimeout`].
    pub(crate) method: &'static str,
    /// When it stops waiting (`None`: no RPC timeout).
    pub(crate) deadline: Option<Instant>,
}

/// Content being assembled (spec 4.2.6): a method that carries content
/// came; its header and body frames follow, with no other frame of the
/// channel in between. `waiter` is basic.get's, for get-ok.
pub(crate) enum Incoming<T> {
    /// basic.deliver, basic.return or basic.get-ok came; its content header
    /// is next.
    AwaitingHeader { method: Method, waiter: Option<T> },
    /// The header came: body frames follow until `body_size` octets.
    /// Boxed: the message passes through several queues on its way to the
    /// user, moved as a pointer; its body is filled in when complete.
    AwaitingBody {
        content: Box<Content>,
        waiter: Option<T>,
        body_size: u64,
        body: Body,
    },
    /// A delivery to a consumer whose bodies are streamed: its header went
    /// to the consumer, each body frame follows it as a chunk, and
    /// `remaining` octets are still to come.
    Streaming { remaining: u64 },
}

impl<T> Incoming<T> {
    pub(crate) fn into_waiter(self) -> Option<T> {
        match self {
            Self::AwaitingHeader { waiter, .. } | Self::AwaitingBody { waiter, .. } => waiter,
            Self::Streaming { .. } => None,
        }
    }
}

/// A message being published from a body source, frame by frame: until
/// its last body frame is out, nothing else may be sent on the channel
/// (spec 4.2.6), so other publishes wait in `held`.
pub(crate) struct Sending<T> {
    /// Which streamed publish of the channel this is: chunks of another
    /// (one from before a recovery, say) are dropped, never written.
    pub(crate) stream: u64,
    pub(crate) remaining: u64,
    /// Hears `Done` once the last body frame is queued.
    pub(crate) waiter: Option<T>,
}

/// A body as its frames arrive. A body in one frame stays that frame's
/// slice of the read buffer; a longer one is copied once into a buffer
/// sized from the header's body_size, which the core has checked against
/// the inbound message size limit before the first octet arrives.
pub(crate) enum Body {
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

/// Room for a body could not be allocated.
#[derive(Debug)]
pub(crate) struct NoRoom;

impl Body {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(b) => b.len(),
            Self::Many(b) => b.len(),
        }
    }

    /// Appends a body frame's payload. The caller has checked that the
    /// body stays within `body_size`, so the one allocation, made when the
    /// second frame arrives, is the whole body's; it is tried, not assumed,
    /// so a failed allocation is an error instead of an abort.
    pub(crate) fn push(&mut self, part: Bytes, body_size: u64) -> Result<(), NoRoom> {
        *self = match std::mem::replace(self, Self::Empty) {
            Self::Empty => Self::One(part),
            Self::One(first) => {
                let size = usize::try_from(body_size).map_err(|_| NoRoom)?;
                let mut buf = Vec::new();
                buf.try_reserve_exact(size.max(first.len() + part.len()))
                    .map_err(|_| NoRoom)?;
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&part);
                Self::Many(buf)
            }
            Self::Many(mut buf) => {
                buf.extend_from_slice(&part);
                Self::Many(buf)
            }
        };
        Ok(())
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(b) => b,
            Self::Many(b) => Bytes::from(b),
        }
    }
}

/// Publisher confirms: publishes are numbered from 1 after confirm.select
/// (the delivery tags of the broker's basic.ack / basic.nack), and most
/// carry the handle's ticket (see `crate::confirm_book`). Tickets grow
/// with sequence numbers, so they are kept as runs, not one per publish.
pub(crate) struct Confirms {
    next_seq: u64,
    /// Ascending runs `(first sequence number, its ticket)`: publish `n` of
    /// a run has ticket `ticket + (n - first)`, or none in a `None` run.
    runs: VecDeque<(u64, Option<u64>)>,
    /// Mandatory publishes not yet confirmed, in order: a basic.return
    /// names no sequence number, so it is matched to the first of these
    /// with its exchange and routing key.
    mandatory: VecDeque<MandatoryPublish>,
}

/// A mandatory publish awaiting its confirm, which a basic.return may precede.
pub(crate) struct MandatoryPublish {
    seq: u64,
    exchange: ShortString,
    routing_key: ShortString,
}

impl Confirms {
    pub(crate) fn new() -> Self {
        Self {
            next_seq: 1,
            runs: VecDeque::new(),
            mandatory: VecDeque::new(),
        }
    }

    /// Numbers a publish that went out; remembers a mandatory one's
    /// destination, which its basic.return would name.
    pub(crate) fn sent(&mut self, ticket: Option<u64>, publish: &Method) {
        if let Method::BasicPublish(p) = publish {
            if p.mandatory {
                self.mandatory.push_back(MandatoryPublish {
                    seq: self.next_seq,
                    exchange: p.exchange.clone(),
                    routing_key: p.routing_key.clone(),
                });
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let continues = match self.runs.back() {
            Some(&(first, Some(t))) => ticket == Some(t + (seq - first)),
            Some(&(_, None)) => ticket.is_none(),
            None => false,
        };
        if !continues {
            self.runs.push_back((seq, ticket));
        }
    }

    /// The ticket of publish `seq`, if it has one.
    pub(crate) fn ticket_of(&self, seq: u64) -> Option<u64> {
        if seq == 0 || seq >= self.next_seq {
            return None;
        }
        let i = self.runs.partition_point(|(first, _)| *first <= seq);
        let (first, ticket) = *self.runs.get(i.checked_sub(1)?)?;
        ticket.map(|t| t + (seq - first))
    }

    /// The last ticket among publishes up to `seq` (all of them for 0, as
    /// a `multiple` tag 0 means every outstanding one).
    pub(crate) fn last_ticket_up_to(&self, seq: u64) -> Option<u64> {
        let last = self.next_seq.checked_sub(1).filter(|l| *l > 0)?;
        let seq = if seq == 0 { last } else { seq.min(last) };
        let i = self.runs.partition_point(|(first, _)| *first <= seq);
        let (first, ticket) = *self.runs.get(i.checked_sub(1)?)?;
        match ticket {
            Some(t) => Some(t + (seq - first)),
            // The run before a ticketless one ends just before it.
            None => {
                let (before, t) = *self.runs.get(i.checked_sub(2)?)?;
                t.map(|t| t + (first - 1 - before))
            }
        }
    }

    /// Every publish up to `seq` is settled: runs wholly before the one
    /// holding it are not needed any more.
    pub(crate) fn forget_up_to(&mut self, seq: u64) {
        while self.runs.get(1).is_some_and(|(next, _)| *next <= seq) {
            self.runs.pop_front();
        }
    }

    /// The broker confirmed publish `seq` (every one up to it with
    /// `multiple`; all with tag 0): no return can come for it any more.
    pub(crate) fn confirmed(&mut self, seq: u64, multiple: bool) {
        if multiple {
            let all = seq == 0;
            self.mandatory.retain(|m| !all && m.seq > seq);
        } else if let Some(i) = self.mandatory.iter().position(|m| m.seq == seq) {
            self.mandatory.remove(i);
        }
    }

    /// The ticket of the publish a basic.return (60/50) sends back. RabbitMQ
    /// returns an unroutable mandatory message before it confirms it, in
    /// publish order, so it is the first unconfirmed mandatory publish to
    /// the same exchange and routing key. (Two of those in flight at once,
    /// one routed and one not, can only differ by headers, through a
    /// headers exchange; then the earlier is named.)
    pub(crate) fn returned(
        &mut self,
        exchange: &ShortString,
        routing_key: &ShortString,
    ) -> Option<u64> {
        let i = self
            .mandatory
            .iter()
            .position(|m| m.exchange == *exchange && m.routing_key == *routing_key)?;
        let seq = self.mandatory.remove(i)?.seq;
        self.ticket_of(seq)
    }
}

/// A message to publish: basic.publish, its properties and its body.
/// Handed around boxed, from the handle to the core: the properties are
/// ~500 octets, and a pointer is cheaper to move through the command queue.
#[derive(Clone)]
pub(crate) struct Outgoing {
    /// basic.publish.
    pub(crate) method: Method,
    pub(crate) properties: BasicProperties,
    pub(crate) body: Bytes,
}

/// A publish held back while the broker has flow off for the channel.
pub(crate) struct HeldPublish {
    pub(crate) message: Box<Outgoing>,
    pub(crate) ticket: Option<u64>,
}

pub(crate) struct ChannelState<T> {
    /// Which use of the channel number this is: a handle to an earlier use
    /// must never act on this one.
    pub(crate) generation: u64,
    pub(crate) phase: Phase,
    pub(crate) pending: VecDeque<Pending<T>>,
    pub(crate) incoming: Option<Incoming<T>>,
    pub(crate) confirms: Option<Confirms>,
    pub(crate) flow_active: bool,
    pub(crate) held: VecDeque<HeldPublish>,
    /// Deliveries awaiting our ack, for ack-timeout warnings.
    pub(crate) unacked: UnackedDeliveries,
    /// Added to the broker's delivery tags (basic.deliver, basic.get-ok)
    /// before anyone sees them, and taken off our acks: after a recovery
    /// it is the last tag handed out on the lost connection, so tags never
    /// repeat across connections and an old one is recognised as stale.
    pub(crate) tag_offset: u64,
    /// The last delivery tag handed out, offset included.
    pub(crate) last_tag: u64,
    /// Consumers whose deliveries' bodies are streamed, not assembled.
    pub(crate) streamed: FastSet<ShortString>,
    /// A publish whose body is being streamed out.
    pub(crate) sending: Option<Sending<T>>,
}

impl<T> ChannelState<T> {
    pub(crate) fn opening(generation: u64, waiter: T, deadline: Option<Instant>) -> Self {
        Self {
            generation,
            phase: Phase::Opening,
            pending: VecDeque::from([Pending {
                reply: (ChannelOpenOk::CLASS_ID, ChannelOpenOk::METHOD_ID),
                waiter: Some(waiter),
                method: ChannelOpen::NAME,
                deadline,
            }]),
            incoming: None,
            confirms: None,
            flow_active: true,
            held: VecDeque::new(),
            unacked: UnackedDeliveries::default(),
            tag_offset: 0,
            last_tag: 0,
            streamed: FastSet::default(),
            sending: None,
        }
    }

    /// The exposed tag of the broker's `raw` delivery tag, noted as the last.
    pub(crate) fn expose_tag(&mut self, raw: u64) -> u64 {
        self.last_tag = raw + self.tag_offset;
        self.last_tag
    }

    /// The broker's tag for an exposed `delivery_tag`; `None` for a tag
    /// from before the recovery (0 stays 0: "every outstanding delivery").
    pub(crate) fn raw_tag(&self, delivery_tag: u64) -> Option<u64> {
        match delivery_tag {
            0 => Some(0),
            t if t > self.tag_offset => Some(t - self.tag_offset),
            _ => None,
        }
    }

    /// Every waiter of this channel, for failing them when it closes.
    /// Publishes have tickets, not waiters: the driver fails those still
    /// unsettled when it hears that the channel closed.
    pub(crate) fn drain_waiters(&mut self) -> Vec<T> {
        let mut out: Vec<T> = self.pending.drain(..).filter_map(|p| p.waiter).collect();
        out.extend(self.incoming.take().and_then(Incoming::into_waiter));
        out.extend(self.sending.take().and_then(|s| s.waiter));
        self.held.clear();
        out
    }
}

/// A channel number's current use, or why its last use ended: one slot per
/// number, so the number's state, its generation and its end reason can
/// never disagree.
// Inline, not boxed: the live channel is reached on every frame, and an
// ended slot's extra ~500 octets are paid once per number ever used.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Slot<T> {
    Live(ChannelState<T>),
    /// The number is free; a handle of that use gets `error`.
    Ended {
        generation: u64,
        error: Error,
        /// Its last delivery tag: where a recovered channel's tags go on from.
        last_tag: u64,
    },
}
