//! Heartbeats: one goes out after half an interval without writes; the
//! connection is dead after two intervals without reads, and not before.

use std::time::Duration;

use amqp_wire::*;

use super::harness::*;
use crate::config::Heartbeat;
use crate::error::Error;
use crate::proto::Reply;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Open with a 10 s heartbeat agreed.
fn opened_with_heartbeat() -> Harness {
    let h = Harness::opened_with(
        config().with_heartbeat(Heartbeat::Secs(10)),
        tune(2047, 131_072, 10),
    );
    assert_eq!(h.core.poll_timeout(), Some(h.now() + secs(5)));
    h
}

#[test]
fn a_heartbeat_goes_out_after_half_an_interval_without_writes() {
    let mut h = opened_with_heartbeat();
    h.advance(secs(5) - MS);
    assert!(h.sent_bytes().is_empty(), "too early");
    h.advance(MS);
    assert_eq!(h.sent_bytes(), [8, 0, 0, 0, 0, 0, 0, 0xCE]);
    h.receive(Frame::Heartbeat);
    h.advance(secs(5) - MS);
    assert!(
        h.sent_bytes().is_empty(),
        "too early after the last heartbeat"
    );
    h.advance(MS);
    assert_eq!(h.sent_frames(), vec![Frame::Heartbeat]);
    assert!(h.events().is_empty());
}

#[test]
fn any_write_puts_the_next_heartbeat_off() {
    let mut h = opened_with_heartbeat();
    let ch = h.open_channel();
    h.advance(secs(3));
    h.publish(ch, "x");
    h.sent_frames();
    // 5 s after the connection opened: we wrote 2 s ago, no heartbeat.
    h.advance(secs(2));
    assert!(h.sent_bytes().is_empty());
    // 5 s after the publish: heartbeat.
    h.advance(secs(3) - MS);
    assert!(h.sent_bytes().is_empty());
    h.advance(MS);
    assert_eq!(h.sent_frames(), vec![Frame::Heartbeat]);
}

#[test]
fn a_silent_broker_is_declared_dead_after_two_intervals_not_before() {
    let mut h = opened_with_heartbeat();
    let ch = h.open_channel();
    let pending = h.call(ch, declare("q"));
    h.sent_frames();
    h.advance(secs(20) - MS);
    // We kept sending heartbeats while waiting.
    assert_eq!(
        h.sent_frames(),
        vec![Frame::Heartbeat, Frame::Heartbeat, Frame::Heartbeat]
    );
    assert!(h.events().is_empty(), "alive at 19.999 s");
    assert!(h.try_reply(pending).is_none());
    h.advance(MS);
    assert!(h.core.is_closed());
    assert!(matches!(
        h.reply(pending),
        Err(Error::HeartbeatTimeout(d)) if d == secs(20)
    ));
    let events = h.events();
    assert!(
        matches!(closed_error(&events), Error::HeartbeatTimeout(d) if *d == secs(20)),
        "{events:?}"
    );
    // No more timers, and every later call fails the same way.
    assert_eq!(h.core.poll_timeout(), None);
    let w = h.waiter();
    h.core.open_channel(h.now(), w);
    assert!(matches!(h.reply(w), Err(Error::HeartbeatTimeout(_))));
    assert!(h.sent_bytes().is_empty());
}

#[test]
fn the_silence_is_measured_from_the_last_frame_read() {
    let mut h = opened_with_heartbeat();
    h.advance(secs(15));
    h.receive(Frame::Heartbeat);
    h.advance(secs(20) - MS);
    assert!(
        !h.core.is_closed(),
        "a frame read at 15 s keeps it alive until 35 s"
    );
    assert!(h.events().is_empty());
    h.advance(MS);
    assert!(h.core.is_closed());
    assert_eq!(h.elapsed(), secs(35));
}

#[test]
fn octets_of_a_frame_still_arriving_count_as_a_sign_of_life() {
    // A 16 MiB body frame over a slow link takes longer than two intervals
    // to arrive whole: what the driver reads of it keeps the connection alive.
    let mut h = opened_with_heartbeat();
    for _ in 0..4 {
        h.advance(secs(15));
        let now = h.now();
        h.core.handle_octets_read(now);
    }
    assert!(!h.core.is_closed(), "octets read every 15 s, at 60 s");
    h.advance(secs(20));
    assert!(h.core.is_closed(), "20 s after the last octet");
}

#[test]
fn any_frame_counts_as_a_sign_of_life_not_only_heartbeats() {
    let mut h = opened_with_heartbeat();
    let ch = h.open_channel();
    let w = h.call(ch, declare("q"));
    h.advance(secs(19));
    h.receive_method(ch.id, declare_ok("q"));
    assert!(matches!(h.reply(w), Ok(Reply::Method(_))));
    h.advance(secs(19));
    assert!(!h.core.is_closed());
    h.advance(secs(1));
    assert!(h.core.is_closed());
}

#[test]
fn heartbeats_run_with_the_servers_lower_interval() {
    let mut h = Harness::opened_with(
        config().with_heartbeat(Heartbeat::Secs(60)),
        tune(2047, 131_072, 4),
    );
    h.advance(secs(2));
    assert_eq!(h.sent_frames(), vec![Frame::Heartbeat]);
    h.advance(secs(6) - MS);
    assert!(!h.core.is_closed());
    h.advance(MS);
    assert!(matches!(
        closed_error(&h.events()),
        Error::HeartbeatTimeout(d) if *d == secs(8)
    ));
}

#[test]
fn with_heartbeats_off_there_is_no_timer_at_all() {
    let mut h = Harness::opened_with(config(), tune(0, 0, 60));
    assert_eq!(h.core.poll_timeout(), None);
    h.advance(secs(24 * 3600));
    assert!(h.sent_bytes().is_empty());
    assert!(h.events().is_empty());
    assert!(!h.core.is_closed());
}

#[test]
fn the_timer_runs_from_tune_ok_while_open_ok_is_awaited() {
    let mut h = Harness::new(config().with_heartbeat(Heartbeat::Secs(10)));
    h.receive_method(0, start());
    h.sent_frames();
    h.receive_method(0, tune(0, 0, 10));
    h.sent_frames();
    h.advance(secs(5));
    assert_eq!(h.sent_frames(), vec![Frame::Heartbeat]);
    h.advance(secs(15));
    let events = h.events();
    assert!(matches!(closed_error(&events), Error::HeartbeatTimeout(_)));
}
