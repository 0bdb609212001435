//! The rules a test sets on frames, and what they decide for each frame.

use std::sync::Arc;

use amqp_wire::Frame;
use tokio::sync::watch;

use super::event::Direction;
use super::matcher::Match;
use super::Shared;

/// What to do with one frame.
pub(super) enum Verdict {
    Forward,
    /// Forward once the gate says released (`true`).
    Hold(watch::Receiver<bool>),
    Drop,
    Corrupt,
    /// Cut the connection instead of forwarding it.
    Cut(String),
}

struct HoldRule {
    id: u64,
    direction: Direction,
    matcher: Match,
    released: Arc<watch::Sender<bool>>,
}

struct CountedRule {
    direction: Direction,
    matcher: Match,
    remaining: u64,
}

/// Every rule in force. Frame rules are checked in this order, the first that matches decides:
/// `close_on`, `drop_next`, `corrupt_next`, `hold`.
#[derive(Default)]
pub(super) struct Rules {
    next_hold_id: u64,
    holds: Vec<HoldRule>,
    drops: Vec<CountedRule>,
    corrupts: Vec<CountedRule>,
    close_on: Vec<(Direction, Match)>,
    /// Cut every connection once it has carried this many frames.
    pub(super) close_after: Option<u64>,
    /// Blackhole every connection once it has carried this many frames.
    pub(super) blackhole_after: Option<u64>,
}

impl Rules {
    pub(super) fn judge(&mut self, conn: u64, direction: Direction, frame: &Frame) -> Verdict {
        let applies = |d: Direction, m: &Match| d == direction && m.matches(conn, frame);
        if let Some((_, m)) = self.close_on.iter().find(|(d, m)| applies(*d, m)) {
            return Verdict::Cut(format!(
                "close_on({m:?}) matched a frame going {direction:?}"
            ));
        }
        if take_one(&mut self.drops, applies) {
            return Verdict::Drop;
        }
        if take_one(&mut self.corrupts, applies) {
            return Verdict::Corrupt;
        }
        match self.holds.iter().find(|h| applies(h.direction, &h.matcher)) {
            Some(hold) => Verdict::Hold(hold.released.subscribe()),
            None => Verdict::Forward,
        }
    }

    pub(super) fn drop_next(&mut self, direction: Direction, matcher: Match, n: u64) {
        if n > 0 {
            self.drops.push(CountedRule {
                direction,
                matcher,
                remaining: n,
            });
        }
    }

    pub(super) fn corrupt_next(&mut self, direction: Direction, matcher: Match) {
        self.corrupts.push(CountedRule {
            direction,
            matcher,
            remaining: 1,
        });
    }

    pub(super) fn close_on(&mut self, direction: Direction, matcher: Match) {
        self.close_on.push((direction, matcher));
    }

    /// Adds a hold rule; returns its id and its gate.
    pub(super) fn hold(
        &mut self,
        direction: Direction,
        matcher: Match,
    ) -> (u64, Arc<watch::Sender<bool>>) {
        self.next_hold_id += 1;
        let released = Arc::new(watch::Sender::new(false));
        self.holds.push(HoldRule {
            id: self.next_hold_id,
            direction,
            matcher,
            released: released.clone(),
        });
        (self.next_hold_id, released)
    }

    /// Removes hold rule `id` and lets its frames go.
    pub(super) fn release(&mut self, id: u64) {
        self.holds.retain(|h| {
            if h.id == id {
                h.released.send_replace(true);
            }
            h.id != id
        });
    }

    /// Removes every rule, releasing held frames.
    pub(super) fn clear(&mut self) {
        for hold in self.holds.drain(..) {
            hold.released.send_replace(true);
        }
        *self = Self {
            next_hold_id: self.next_hold_id,
            ..Self::default()
        };
    }
}

/// Uses up one match of the first counted rule that applies; true if one did.
fn take_one(rules: &mut Vec<CountedRule>, applies: impl Fn(Direction, &Match) -> bool) -> bool {
    let Some(i) = rules.iter().position(|r| applies(r.direction, &r.matcher)) else {
        return false;
    };
    rules[i].remaining -= 1;
    if rules[i].remaining == 0 {
        rules.remove(i);
    }
    true
}

/// Holds back the frames of a [`super::FaultProxy::hold`] rule until released: by
/// [`HoldGuard::release`], or by dropping the guard.
///
/// Held frames keep their order, and so does TCP: every later frame of the same direction and
/// connection waits behind the first held one, whether it matches or not (a held `basic.ack`
/// from the broker also holds back the deliveries and heartbeats after it). Frames already held
/// stay held until the release, even after the rule stops matching new ones.
#[must_use = "dropping the guard releases the frames at once"]
pub struct HoldGuard {
    pub(super) id: u64,
    pub(super) shared: Arc<Shared>,
}

impl HoldGuard {
    /// Lets the held frames go, in order, and ends the rule.
    pub fn release(self) {
        // Drop does it.
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.shared.state().rules.release(self.id);
    }
}

impl std::fmt::Debug for HoldGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HoldGuard #{}", self.id)
    }
}
