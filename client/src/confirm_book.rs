//! Publisher confirms without an allocation per publish.
//!
//! Each confirm-mode publish on a channel gets a ticket, numbered from 0 in
//! the order the publishes enter the command queue (so in the order the
//! broker numbers them, spec: confirm.select 85/10). The driver settles
//! tickets as basic.ack / basic.nack (60/80, 60/120) arrive, one at a time
//! or a whole prefix at once (`multiple`); a [`crate::PublishConfirm`] is
//! just (book, ticket) and reads its outcome here. Settled tickets form a
//! prefix plus a few out-of-order exceptions, so the book costs a few words
//! per channel, not one record per unconfirmed publish.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::Error;

/// How a publish was settled.
#[derive(Debug, Clone)]
enum Settled {
    Ack,
    Nack,
    Failed(Error),
}

impl Settled {
    fn from_result(result: Result<bool, Error>) -> Self {
        match result {
            Ok(true) => Self::Ack,
            Ok(false) => Self::Nack,
            Err(e) => Self::Failed(e),
        }
    }

    fn to_result(&self) -> Result<bool, Error> {
        match self {
            Self::Ack => Ok(true),
            Self::Nack => Ok(false),
            Self::Failed(e) => Err(e.clone()),
        }
    }
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    /// Every ticket below this is settled.
    settled_below: u64,
    /// Tickets settled out of order, at or above `settled_below`.
    ahead: BTreeMap<u64, Settled>,
    /// Tickets below `settled_below` settled other than by an ack (rare),
    /// until their confirm reads it; an ack needs no record.
    refused: BTreeMap<u64, Settled>,
    /// Unsettled tickets whose confirm was dropped, as ranges `start..end`
    /// (start -> end): their outcome is not kept. Publishers that drop
    /// their confirms drop them in order, so this stays a range or two.
    abandoned: BTreeMap<u64, u64>,
    /// Set when the channel ended: every ticket unsettled then failed with it.
    ended: Option<Error>,
    /// Who waits for which ticket.
    wakers: BTreeMap<u64, Waker>,
}

impl State {
    /// Keeps a ticket's outcome for its confirm, unless it is an ack (the
    /// default) or nobody will read it.
    fn record(&mut self, ticket: u64, settled: Settled) {
        if !matches!(settled, Settled::Ack) && !self.is_abandoned(ticket) {
            self.refused.insert(ticket, settled);
        }
    }

    fn is_abandoned(&self, ticket: u64) -> bool {
        self.abandoned
            .range(..=ticket)
            .next_back()
            .is_some_and(|(_, end)| ticket < *end)
    }

    fn abandon(&mut self, ticket: u64) {
        if self.is_abandoned(ticket) {
            return;
        }
        let mut start = ticket;
        let mut end = ticket + 1;
        // Join the range ending here and the one starting just after.
        if let Some((&s, &e)) = self.abandoned.range(..ticket).next_back() {
            if e == ticket {
                start = s;
            }
        }
        if let Some(e) = self.abandoned.remove(&end) {
            end = e;
        }
        self.abandoned.insert(start, end);
    }

    /// Abandoned tickets below the settled prefix need no mark any more.
    fn prune_abandoned(&mut self) {
        while let Some(first) = self.abandoned.first_entry() {
            if *first.get() <= self.settled_below {
                first.remove();
            } else {
                if *first.key() < self.settled_below {
                    let end = *first.get();
                    first.remove();
                    self.abandoned.insert(self.settled_below, end);
                }
                break;
            }
        }
    }

    /// Moves the prefix past tickets settled out of order that now join it.
    fn absorb(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() != self.settled_below {
                break;
            }
            let (ticket, settled) = entry.remove_entry();
            self.record(ticket, settled);
            self.settled_below += 1;
        }
    }

    fn wake(&mut self, ticket: u64) {
        if let Some(waker) = self.wakers.remove(&ticket) {
            waker.wake();
        }
    }
}

/// One channel's confirm tickets; see the module docs.
#[derive(Default)]
pub(crate) struct ConfirmBook {
    state: Mutex<State>,
}

impl ConfirmBook {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the counters consistent
        // (each update is a few assignments), so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next ticket and calls `send` with it, under the book's
    /// lock: tickets enter the command queue in the order they are taken.
    /// `send` must not block. Fails, without calling `send`, once the
    /// channel has ended.
    pub(crate) fn issue(&self, send: impl FnOnce(u64)) -> Result<u64, Error> {
        let mut state = self.lock();
        if let Some(e) = &state.ended {
            return Err(e.clone());
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        send(ticket);
        Ok(ticket)
    }

    /// Settles `ticket` (and with `multiple`, every earlier ticket) with
    /// `result`: `Ok(true)` for an ack, `Ok(false)` for a nack. Tickets
    /// already settled keep their outcome. Returns how many were newly
    /// settled, for the window of unconfirmed publishes.
    pub(crate) fn settle(&self, ticket: u64, multiple: bool, result: Result<bool, Error>) -> usize {
        let mut state = self.lock();
        if state.ended.is_some() || state.next_ticket == 0 {
            return 0;
        }
        let settled = Settled::from_result(result);
        if !multiple {
            if ticket < state.settled_below
                || ticket >= state.next_ticket
                || state.ahead.contains_key(&ticket)
            {
                return 0;
            }
            if ticket == state.settled_below {
                state.record(ticket, settled);
                state.settled_below += 1;
                state.absorb();
                state.prune_abandoned();
            } else {
                state.ahead.insert(ticket, settled);
            }
            state.wake(ticket);
            return 1;
        }
        let last = ticket.min(state.next_ticket - 1);
        if last < state.settled_below {
            return 0;
        }
        let later = state.ahead.split_off(&(last + 1));
        let earlier = std::mem::replace(&mut state.ahead, later);
        // Fits: at most the tickets issued, which are counted by a usize
        // window on every platform this runs on.
        let count = (last + 1 - state.settled_below) as usize - earlier.len();
        if !matches!(settled, Settled::Ack) {
            for t in state.settled_below..=last {
                if !earlier.contains_key(&t) {
                    state.record(t, settled.clone());
                }
            }
        }
        for (t, s) in earlier {
            state.record(t, s);
        }
        state.settled_below = last + 1;
        state.absorb();
        state.prune_abandoned();
        let later = state.wakers.split_off(&(last + 1));
        let due = std::mem::replace(&mut state.wakers, later);
        drop(state);
        due.into_values().for_each(Waker::wake);
        count
    }

    /// The channel ended: every ticket not settled fails with `error`, and
    /// no more are issued. Returns how many were unsettled.
    pub(crate) fn end(&self, error: Error) -> usize {
        let mut state = self.lock();
        if state.ended.is_some() {
            return 0;
        }
        let count = (state.next_ticket - state.settled_below) as usize - state.ahead.len();
        state.ended = Some(error);
        // Nothing unsettled keeps an outcome of its own from now on.
        state.abandoned.clear();
        let due = std::mem::take(&mut state.wakers);
        drop(state);
        due.into_values().for_each(Waker::wake);
        count
    }

    /// The tickets up to `last` not yet settled, in order.
    pub(crate) fn unsettled_up_to(&self, last: u64) -> Vec<u64> {
        let state = self.lock();
        if state.ended.is_some() {
            return Vec::new();
        }
        let end = last.saturating_add(1).min(state.next_ticket);
        (state.settled_below..end)
            .filter(|t| !state.ahead.contains_key(t))
            .collect()
    }

    /// The confirm of `ticket` was dropped: whatever the broker answers for
    /// it is not kept, and what is kept already is freed.
    pub(crate) fn forget(&self, ticket: u64) {
        let mut state = self.lock();
        state.wakers.remove(&ticket);
        if ticket < state.settled_below {
            state.refused.remove(&ticket);
        } else if let Some(settled) = state.ahead.get_mut(&ticket) {
            // Still needed to move the prefix on; an ack costs no record.
            *settled = Settled::Ack;
        } else if state.ended.is_none() && ticket < state.next_ticket {
            state.abandon(ticket);
        }
    }

    /// The outcome of `ticket` once settled: `Ok(true)` acked, `Ok(false)`
    /// nacked, or why it failed.
    pub(crate) fn poll(&self, ticket: u64, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        let mut state = self.lock();
        if ticket < state.settled_below {
            return Poll::Ready(
                state
                    .refused
                    .remove(&ticket)
                    .map_or(Ok(true), |s| s.to_result()),
            );
        }
        if let Some(settled) = state.ahead.get(&ticket) {
            return Poll::Ready(settled.to_result());
        }
        if let Some(e) = &state.ended {
            return Poll::Ready(Err(e.clone()));
        }
        state.wakers.insert(ticket, cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn outcome(book: &ConfirmBook, ticket: u64) -> Option<Result<bool, Error>> {
        match book.poll(ticket, &mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    fn issue(book: &ConfirmBook, n: u64) -> Vec<u64> {
        (0..n).map(|_| book.issue(|_| {}).unwrap()).collect()
    }

    #[test]
    fn tickets_are_issued_in_order_and_settled_by_prefix() {
        let book = ConfirmBook::default();
        assert_eq!(issue(&book, 4), [0, 1, 2, 3]);
        assert!(outcome(&book, 0).is_none());
        assert_eq!(book.settle(2, true, Ok(true)), 3);
        assert!(matches!(outcome(&book, 1), Some(Ok(true))));
        assert!(outcome(&book, 3).is_none());
        assert_eq!(book.settle(2, true, Ok(true)), 0, "settled once");
        assert_eq!(book.settle(3, false, Ok(false)), 1);
        assert!(matches!(outcome(&book, 3), Some(Ok(false))));
    }

    #[test]
    fn out_of_order_singles_join_the_prefix_and_keep_their_outcome() {
        let book = ConfirmBook::default();
        issue(&book, 3);
        assert_eq!(book.settle(2, false, Ok(false)), 1);
        assert_eq!(book.settle(1, false, Ok(true)), 1);
        assert!(outcome(&book, 0).is_none());
        // A multiple ack does not turn the earlier nack into an ack.
        assert_eq!(book.settle(2, true, Ok(true)), 1);
        assert!(matches!(outcome(&book, 0), Some(Ok(true))));
        assert!(matches!(outcome(&book, 2), Some(Ok(false))));
        assert_eq!(book.settle(7, false, Ok(true)), 0, "never issued");
    }

    #[test]
    fn a_multiple_nack_refuses_every_unsettled_ticket_up_to_it() {
        let book = ConfirmBook::default();
        issue(&book, 3);
        book.settle(0, false, Ok(true));
        assert_eq!(book.settle(1, true, Ok(false)), 1);
        assert!(matches!(outcome(&book, 0), Some(Ok(true))));
        assert!(matches!(outcome(&book, 1), Some(Ok(false))));
        assert!(outcome(&book, 2).is_none());
    }

    #[test]
    fn ending_fails_what_is_unsettled_and_refuses_new_tickets() {
        let book = ConfirmBook::default();
        issue(&book, 3);
        book.settle(1, false, Ok(true));
        assert_eq!(book.end(Error::ChannelClosedByClient), 2);
        assert!(matches!(
            outcome(&book, 0),
            Some(Err(Error::ChannelClosedByClient))
        ));
        assert!(matches!(outcome(&book, 1), Some(Ok(true))));
        assert!(book.issue(|_| panic!("not sent")).is_err());
        assert_eq!(book.settle(2, false, Ok(true)), 0);
        assert_eq!(book.end(Error::ClientClosed), 0);
    }

    /// Issue 7b: 100,000 nacked publishes whose confirms were dropped held
    /// 10.8 MB until the channel handle went.
    #[test]
    fn dropped_confirms_keep_nothing_whatever_the_broker_answers() {
        let book = ConfirmBook::default();
        let n = 100_000;
        issue(&book, n);
        // Dropped before the broker answers, in order, as a fire-and-forget
        // publisher does: one range.
        for t in 0..n / 2 {
            book.forget(t);
        }
        assert_eq!(book.lock().abandoned.len(), 1);
        book.settle(n / 2 - 1, true, Ok(false));
        for t in (n / 2..n).step_by(2) {
            book.settle(t, false, Ok(false));
        }
        // Dropped after the broker answered.
        for t in n / 2..n {
            book.forget(t);
        }
        book.settle(n - 1, true, Ok(true));
        let state = book.lock();
        assert!(state.refused.is_empty(), "{} kept", state.refused.len());
        assert!(state.abandoned.is_empty());
        assert!(state.ahead.is_empty());
        assert_eq!(state.settled_below, n);
    }

    #[test]
    fn a_dropped_confirm_does_not_change_what_the_others_read() {
        let book = ConfirmBook::default();
        issue(&book, 4);
        book.forget(1);
        book.forget(2);
        book.settle(3, true, Ok(false));
        assert!(matches!(outcome(&book, 0), Some(Ok(false))));
        assert!(matches!(outcome(&book, 3), Some(Ok(false))));
        assert!(book.lock().refused.is_empty());
        // Abandoned ranges join and split correctly.
        let book = ConfirmBook::default();
        issue(&book, 10);
        for t in [5, 3, 4, 8, 9, 7] {
            book.forget(t);
        }
        let abandoned = |book: &ConfirmBook| -> Vec<(u64, u64)> {
            book.lock()
                .abandoned
                .iter()
                .map(|(s, e)| (*s, *e))
                .collect()
        };
        assert_eq!(abandoned(&book), [(3, 6), (7, 10)]);
        book.settle(7, true, Ok(false));
        assert_eq!(abandoned(&book), [(8, 10)]);
        assert!(matches!(outcome(&book, 6), Some(Ok(false))));
        assert_eq!(book.lock().refused.len(), 3, "0, 1, 2 are still awaited");
    }

    #[test]
    fn a_settle_wakes_the_waiter_of_its_ticket() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let book = ConfirmBook::default();
        issue(&book, 2);
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        assert!(book.poll(1, &mut Context::from_waker(&waker)).is_pending());
        book.settle(0, false, Ok(true));
        assert!(!flag.0.load(Ordering::SeqCst));
        book.settle(1, true, Ok(true));
        assert!(flag.0.load(Ordering::SeqCst));
    }
}
