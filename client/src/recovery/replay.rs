//! At-least-once across recoveries ([`super::Recovery::with_republish`]):
//! a channel's confirm-mode publishes are kept, up to a byte budget, until
//! the broker settles them; those still unsettled when the connection is
//! lost are published again on the new one, marked, instead of ending in
//! doubt.

use std::collections::VecDeque;

use amqp_wire::FieldTable;

use super::REPUBLISHED_HEADER;
use crate::proto::Outgoing;

#[derive(Default)]
pub(crate) struct Replay {
    /// (ticket, message), in ticket order.
    kept: VecDeque<(u64, Box<Outgoing>)>,
    /// The bodies' octets kept.
    bytes: usize,
}

impl Replay {
    /// Keeps a copy of publish `ticket` if the budget allows; a publish
    /// over it is not kept and ends in doubt if the connection is lost.
    pub(crate) fn keep(&mut self, ticket: u64, message: &Outgoing, max_bytes: usize) {
        let size = message.body.len();
        if self.bytes + size <= max_bytes {
            self.bytes += size;
            self.kept.push_back((ticket, Box::new(message.clone())));
        }
    }

    /// The broker settled `ticket` (with `multiple`, every one up to it).
    pub(crate) fn settled(&mut self, ticket: u64, multiple: bool) {
        if multiple {
            while self.kept.front().is_some_and(|(t, _)| *t <= ticket) {
                self.drop_front();
            }
        } else if self.kept.front().is_some_and(|(t, _)| *t == ticket) {
            self.drop_front();
        } else if let Ok(i) = self.kept.binary_search_by_key(&ticket, |(t, _)| *t) {
            if let Some((_, m)) = self.kept.remove(i) {
                self.bytes -= m.body.len();
            }
        }
    }

    fn drop_front(&mut self) {
        if let Some((_, m)) = self.kept.pop_front() {
            self.bytes -= m.body.len();
        }
    }

    pub(crate) fn holds(&self, ticket: u64) -> bool {
        self.kept.binary_search_by_key(&ticket, |(t, _)| *t).is_ok()
    }

    /// Copies to publish again, marked with [`REPUBLISHED_HEADER`], in
    /// ticket order; the originals stay kept until settled.
    pub(crate) fn republish(&self) -> Vec<(u64, Box<Outgoing>)> {
        self.kept
            .iter()
            .map(|(ticket, message)| {
                let mut copy = message.clone();
                copy.properties
                    .headers
                    .get_or_insert_with(FieldTable::new)
                    .insert(REPUBLISHED_HEADER, true);
                (*ticket, copy)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_wire::{BasicProperties, BasicPublish, FieldValue};

    fn message(body: &'static [u8]) -> Outgoing {
        Outgoing {
            method: BasicPublish::default().into(),
            properties: BasicProperties::default(),
            body: bytes::Bytes::from_static(body),
        }
    }

    #[test]
    fn keeps_within_the_budget_until_settled_and_marks_the_copies() {
        let mut replay = Replay::default();
        replay.keep(0, &message(b"aaaa"), 10);
        replay.keep(1, &message(b"bbbb"), 10);
        replay.keep(2, &message(b"cccc"), 10); // over the budget: not kept
        assert!(replay.holds(1) && !replay.holds(2));
        replay.settled(0, false);
        replay.keep(3, &message(b"dddd"), 10);
        let again = replay.republish();
        assert_eq!(again.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [1, 3]);
        let headers = again[0].1.properties.headers.as_ref().unwrap();
        assert_eq!(
            headers.get(REPUBLISHED_HEADER),
            Some(&FieldValue::Boolean(true))
        );
        replay.settled(3, true);
        assert!(replay.republish().is_empty());
        assert_eq!(replay.bytes, 0);
    }
}
