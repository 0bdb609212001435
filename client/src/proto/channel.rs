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

use amqp_wire::{BasicProperties, ContentHeader, Method};
use bytes::{Bytes, BytesMut};

use super::unacked::UnackedDeliveries;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Opening,
    Open,
    Closing,
}

/// A request waiting for its reply, which must have these ids.
pub(crate) struct Pending<T> {
    pub(crate) reply: (u16, u16),
    pub(crate) waiter: Option<T>,
}

/// Content being assembled: the method came, header and body frames follow.
pub(crate) struct Incoming<T> {
    pub(crate) method: Method,
    /// The basic.get waiter, for get-ok.
    pub(crate) waiter: Option<T>,
    pub(crate) header: Option<ContentHeader>,
    pub(crate) body: Body,
}

/// A body as its frames arrive. A body in one frame stays that frame's
/// slice of the read buffer; a longer one is copied once into a buffer
/// sized from the header's body_size.
pub(crate) enum Body {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

/// The largest body buffer we reserve up front from a header's claim; a
/// body larger than this still arrives, growing the buffer as it comes.
const MAX_BODY_RESERVE: u64 = 256 * 1024 * 1024;

impl Body {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(b) => b.len(),
            Self::Many(b) => b.len(),
        }
    }

    pub(crate) fn push(&mut self, part: Bytes, body_size: u64) {
        *self = match std::mem::replace(self, Self::Empty) {
            Self::Empty => Self::One(part),
            Self::One(first) => {
                let reserve = body_size.min(MAX_BODY_RESERVE) as usize;
                let mut buf = BytesMut::with_capacity(reserve.max(first.len() + part.len()));
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&part);
                Self::Many(buf)
            }
            Self::Many(mut buf) => {
                buf.extend_from_slice(&part);
                Self::Many(buf)
            }
        }
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(b) => b,
            Self::Many(b) => b.freeze(),
        }
    }
}

/// Publisher confirms: publishes are numbered from 1 after confirm.select.
pub(crate) struct Confirms<T> {
    pub(crate) next_seq: u64,
    /// Sequence numbers still unconfirmed that someone waits for, ascending.
    pub(crate) waiting: VecDeque<(u64, T)>,
}

impl<T> Confirms<T> {
    /// Takes the waiters confirmed by an ack or nack of `tag` (and all
    /// before it when `multiple`).
    pub(crate) fn settle(&mut self, tag: u64, multiple: bool) -> Vec<T> {
        if multiple {
            let n = self.waiting.partition_point(|(seq, _)| *seq <= tag);
            self.waiting.drain(..n).map(|(_, w)| w).collect()
        } else {
            match self.waiting.binary_search_by_key(&tag, |(seq, _)| *seq) {
                Ok(i) => self.waiting.remove(i).map(|(_, w)| w).into_iter().collect(),
                Err(_) => Vec::new(),
            }
        }
    }
}

/// A publish held back while the broker has flow off for the channel.
pub(crate) struct HeldPublish<T> {
    pub(crate) method: Method,
    pub(crate) properties: BasicProperties,
    pub(crate) body: Bytes,
    pub(crate) waiter: Option<T>,
}

pub(crate) struct ChannelState<T> {
    pub(crate) phase: Phase,
    pub(crate) pending: VecDeque<Pending<T>>,
    pub(crate) incoming: Option<Incoming<T>>,
    pub(crate) confirms: Option<Confirms<T>>,
    pub(crate) flow_active: bool,
    pub(crate) held: VecDeque<HeldPublish<T>>,
    /// Deliveries awaiting our ack, for ack-timeout warnings.
    pub(crate) unacked: UnackedDeliveries,
}

impl<T> ChannelState<T> {
    pub(crate) fn opening(waiter: T) -> Self {
        Self {
            phase: Phase::Opening,
            pending: VecDeque::from([Pending {
                reply: (20, 11),
                waiter: Some(waiter),
            }]),
            incoming: None,
            confirms: None,
            flow_active: true,
            held: VecDeque::new(),
            unacked: UnackedDeliveries::default(),
        }
    }

    /// Every waiter of this channel, for failing them when it closes.
    pub(crate) fn drain_waiters(&mut self) -> Vec<T> {
        let mut out: Vec<T> = self.pending.drain(..).filter_map(|p| p.waiter).collect();
        out.extend(self.incoming.take().and_then(|i| i.waiter));
        if let Some(confirms) = &mut self.confirms {
            out.extend(confirms.waiting.drain(..).map(|(_, w)| w));
        }
        out.extend(self.held.drain(..).filter_map(|h| h.waiter));
        out
    }
}

/// The reply ids a request expects, or `None` when it gets no reply
/// (asynchronous methods, and requests sent with `nowait`).
pub(crate) fn expected_reply(method: &Method) -> Option<(u16, u16)> {
    use amqp_wire::*;
    let ids = |class: u16, method: u16| Some((class, method));
    match method {
        Method::ChannelOpen(_) => ids(ChannelOpenOk::CLASS_ID, ChannelOpenOk::METHOD_ID),
        Method::ChannelFlow(_) => ids(ChannelFlowOk::CLASS_ID, ChannelFlowOk::METHOD_ID),
        Method::ChannelClose(_) => ids(ChannelCloseOk::CLASS_ID, ChannelCloseOk::METHOD_ID),
        Method::AccessRequest(_) => ids(AccessRequestOk::CLASS_ID, AccessRequestOk::METHOD_ID),
        Method::ExchangeDeclare(m) if !m.nowait => {
            ids(ExchangeDeclareOk::CLASS_ID, ExchangeDeclareOk::METHOD_ID)
        }
        Method::ExchangeDelete(m) if !m.nowait => {
            ids(ExchangeDeleteOk::CLASS_ID, ExchangeDeleteOk::METHOD_ID)
        }
        Method::ExchangeBind(m) if !m.nowait => {
            ids(ExchangeBindOk::CLASS_ID, ExchangeBindOk::METHOD_ID)
        }
        Method::ExchangeUnbind(m) if !m.nowait => {
            ids(ExchangeUnbindOk::CLASS_ID, ExchangeUnbindOk::METHOD_ID)
        }
        Method::QueueDeclare(m) if !m.nowait => {
            ids(QueueDeclareOk::CLASS_ID, QueueDeclareOk::METHOD_ID)
        }
        Method::QueueBind(m) if !m.nowait => ids(QueueBindOk::CLASS_ID, QueueBindOk::METHOD_ID),
        Method::QueuePurge(m) if !m.nowait => ids(QueuePurgeOk::CLASS_ID, QueuePurgeOk::METHOD_ID),
        Method::QueueDelete(m) if !m.nowait => {
            ids(QueueDeleteOk::CLASS_ID, QueueDeleteOk::METHOD_ID)
        }
        Method::QueueUnbind(_) => ids(QueueUnbindOk::CLASS_ID, QueueUnbindOk::METHOD_ID),
        Method::BasicQos(_) => ids(BasicQosOk::CLASS_ID, BasicQosOk::METHOD_ID),
        Method::BasicConsume(m) if !m.nowait => {
            ids(BasicConsumeOk::CLASS_ID, BasicConsumeOk::METHOD_ID)
        }
        Method::BasicCancel(m) if !m.nowait => {
            ids(BasicCancelOk::CLASS_ID, BasicCancelOk::METHOD_ID)
        }
        // get-empty is accepted in place of get-ok (see `reply_matches`).
        Method::BasicGet(_) => ids(BasicGetOk::CLASS_ID, BasicGetOk::METHOD_ID),
        Method::BasicRecover(_) => ids(BasicRecoverOk::CLASS_ID, BasicRecoverOk::METHOD_ID),
        Method::TxSelect(_) => ids(TxSelectOk::CLASS_ID, TxSelectOk::METHOD_ID),
        Method::TxCommit(_) => ids(TxCommitOk::CLASS_ID, TxCommitOk::METHOD_ID),
        Method::TxRollback(_) => ids(TxRollbackOk::CLASS_ID, TxRollbackOk::METHOD_ID),
        Method::ConfirmSelect(m) if !m.nowait => {
            ids(ConfirmSelectOk::CLASS_ID, ConfirmSelectOk::METHOD_ID)
        }
        Method::ConnectionUpdateSecret(_) => ids(
            ConnectionUpdateSecretOk::CLASS_ID,
            ConnectionUpdateSecretOk::METHOD_ID,
        ),
        _ => None,
    }
}

/// Whether a method with `got` ids answers a request expecting `expected`.
pub(crate) fn reply_matches(expected: (u16, u16), got: (u16, u16)) -> bool {
    use amqp_wire::{BasicGetEmpty, BasicGetOk};
    expected == got
        || (expected == (BasicGetOk::CLASS_ID, BasicGetOk::METHOD_ID)
            && got == (BasicGetEmpty::CLASS_ID, BasicGetEmpty::METHOD_ID))
}
