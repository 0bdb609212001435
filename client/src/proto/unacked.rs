//! When each unacked delivery of a channel arrived, so the client can warn
//! before the broker's delivery-acknowledgement timeout (RabbitMQ's
//! `consumer_timeout`) closes the channel with 406 PRECONDITION_FAILED.
//!
//! Delivery tags grow by one per delivery on a channel (spec, basic.deliver
//! `delivery-tag`), so the table is a deque sorted by tag and by arrival at
//! once: acks with `multiple` drain a prefix, single acks are a binary
//! search. All entries wait the same time before a warning, so the warned
//! ones always form a prefix: the next deadline is the first unwarned one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use amqp_wire::ShortString;

use crate::fast_hash::FastSet;

/// One delivery not yet acked, nacked or rejected.
struct Unacked {
    delivery_tag: u64,
    arrived: Instant,
    consumer_tag: ShortString,
    warned: bool,
}

/// A delivery held unacked past the warning threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldTooLong {
    pub(crate) delivery_tag: u64,
    pub(crate) consumer_tag: ShortString,
    pub(crate) held_for: Duration,
}

/// One channel's unacked deliveries to manual-ack consumers.
#[derive(Default)]
pub(crate) struct UnackedDeliveries {
    entries: VecDeque<Unacked>,
    /// Consumers started with `no_ack`: their deliveries need no ack.
    no_ack_consumers: FastSet<ShortString>,
    /// `no_ack` of each basic.consume awaiting its consume-ok, in order:
    /// the tag may be the broker's choice, known only from consume-ok.
    consumes_pending: VecDeque<bool>,
    /// `no_ack` of each basic.get awaiting its get-ok or get-empty.
    gets_pending: VecDeque<bool>,
    /// Our copy of the last consumer tag tracked: deliveries come in runs
    /// to one consumer, which then share it instead of a copy each.
    last_tag: ShortString,
}

impl UnackedDeliveries {
    /// A basic.consume went out; `nowait` ones get no consume-ok, so their
    /// (client-chosen) tag is final now.
    pub(crate) fn consume_sent(&mut self, consumer_tag: &ShortString, no_ack: bool, nowait: bool) {
        if nowait {
            if no_ack {
                self.no_ack_consumers
                    .insert(ShortString::from(consumer_tag.as_bytes()));
            }
        } else {
            self.consumes_pending.push_back(no_ack);
        }
    }

    /// basic.consume-ok arrived for the oldest pending basic.consume.
    pub(crate) fn consume_ok(&mut self, consumer_tag: &ShortString) {
        if self.consumes_pending.pop_front() == Some(true) {
            // Copied, not cloned: see `delivered`.
            self.no_ack_consumers
                .insert(ShortString::from(consumer_tag.as_bytes()));
        }
    }

    /// A basic.get went out.
    pub(crate) fn get_sent(&mut self, no_ack: bool) {
        self.gets_pending.push_back(no_ack);
    }

    /// The oldest basic.get was answered (get-ok with `delivery_tag`, or
    /// get-empty with `None`). A message fetched without `no_ack` waits for
    /// its ack under the same broker timeout as a consumer's.
    pub(crate) fn get_answered(&mut self, delivery_tag: Option<u64>, now: Instant) {
        let no_ack = self.gets_pending.pop_front().unwrap_or(true);
        if let (Some(tag), false) = (delivery_tag, no_ack) {
            self.track(tag, ShortString::default(), now);
        }
    }

    /// The consumer ended; its unacked deliveries still count (the broker
    /// keeps timing them until they are acked or the channel closes).
    pub(crate) fn consumer_ended(&mut self, consumer_tag: &ShortString) {
        self.no_ack_consumers.remove(consumer_tag);
    }

    /// A basic.deliver arrived at `now`.
    pub(crate) fn delivered(
        &mut self,
        delivery_tag: u64,
        consumer_tag: &ShortString,
        now: Instant,
    ) {
        if !self.no_ack_consumers.is_empty() && self.no_ack_consumers.contains(consumer_tag) {
            return;
        }
        // Copied: a tag decoded from the wire is a slice of the read
        // buffer, which a clone would keep alive until the ack.
        if self.last_tag != *consumer_tag {
            self.last_tag = ShortString::from(consumer_tag.as_bytes());
        }
        self.track(delivery_tag, self.last_tag.clone(), now);
    }

    fn track(&mut self, delivery_tag: u64, consumer_tag: ShortString, now: Instant) {
        // Tags only grow on a channel; a smaller one would break the order
        // the lookups rely on, so it is not tracked (never seen from a broker).
        if self
            .entries
            .back()
            .is_some_and(|last| last.delivery_tag >= delivery_tag)
        {
            return;
        }
        self.entries.push_back(Unacked {
            delivery_tag,
            arrived: now,
            consumer_tag,
            warned: false,
        });
    }

    /// We sent basic.ack, basic.nack or basic.reject for `delivery_tag`
    /// (and every one before it with `multiple`; tag 0 with `multiple` is
    /// every outstanding delivery).
    pub(crate) fn settled(&mut self, delivery_tag: u64, multiple: bool) {
        if multiple {
            if delivery_tag == 0 {
                self.entries.clear();
            } else {
                let n = self
                    .entries
                    .partition_point(|e| e.delivery_tag <= delivery_tag);
                self.entries.drain(..n);
            }
        } else if self
            .entries
            .front()
            .is_some_and(|e| e.delivery_tag == delivery_tag)
        {
            // The common case: deliveries acked in the order they came.
            self.entries.pop_front();
        } else if let Ok(i) = self
            .entries
            .binary_search_by_key(&delivery_tag, |e| e.delivery_tag)
        {
            self.entries.remove(i);
        }
    }

    /// The oldest delivery still unacked, if any is tracked.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.entries.front().map(|e| e.delivery_tag)
    }

    /// Every delivery is settled another way: basic.recover asks the broker
    /// to redeliver them all (under new tags).
    pub(crate) fn forget_all(&mut self) {
        self.entries.clear();
    }

    /// When the next warning is due, for deliveries held longer than `after`.
    pub(crate) fn next_warning(&self, after: Duration) -> Option<Instant> {
        let first = self.entries.partition_point(|e| e.warned);
        self.entries.get(first).map(|e| e.arrived + after)
    }

    /// Marks and returns every delivery held at least `after` at `now` that
    /// was not reported yet: each is reported once.
    pub(crate) fn take_due(&mut self, now: Instant, after: Duration) -> Vec<HeldTooLong> {
        let first = self.entries.partition_point(|e| e.warned);
        let mut due = Vec::new();
        for entry in self.entries.range_mut(first..) {
            let held_for = now.saturating_duration_since(entry.arrived);
            if held_for < after {
                break;
            }
            entry.warned = true;
            due.push(HeldTooLong {
                delivery_tag: entry.delivery_tag,
                consumer_tag: entry.consumer_tag.clone(),
                held_for,
            });
        }
        due
    }
}
