//! Free TCP ports for private nodes, reserved within this process ([`PortLease`]).

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

use crate::names::random_u64;

/// The range ports are taken from: below Linux's default range of ephemeral ports
/// (32768-60999), so that no outgoing connection can take a node's port while the node is down
/// between a kill and a restart (the node could then not listen on it again).
const RANGE: std::ops::Range<u16> = 20000..32000;

/// Ports leased by this process, so that two nodes started at the same time by parallel tests
/// never get the same one.
static LEASED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Distinct free ports, held for this process until dropped (a node keeps its ports across
/// restarts).
#[derive(Debug)]
pub(crate) struct PortLease {
    ports: Vec<u16>,
}

impl PortLease {
    /// `n` distinct ports on which nothing listens now, none leased by this process already.
    pub(crate) fn take(n: usize) -> Option<Self> {
        // The set is only ever updated whole, so a poisoned lock still holds a consistent set.
        let mut guard = LEASED.lock().unwrap_or_else(|e| e.into_inner());
        let leased = guard.get_or_insert_with(HashSet::new);
        let mut ports = Vec::with_capacity(n);
        let span = u64::from(RANGE.end - RANGE.start);
        for attempt in 0..20_000u64 {
            if ports.len() == n {
                break;
            }
            let candidate = RANGE.start + (random_u64(attempt) % span) as u16;
            if leased.contains(&candidate) || ports.contains(&candidate) || !is_free(candidate) {
                continue;
            }
            ports.push(candidate);
        }
        if ports.len() < n {
            return None;
        }
        leased.extend(&ports);
        Some(Self { ports })
    }

    /// The `i`th port of the lease.
    pub(crate) fn get(&self, i: usize) -> u16 {
        self.ports[i]
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut guard = LEASED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(leased) = guard.as_mut() {
            for port in &self.ports {
                leased.remove(port);
            }
        }
    }
}

/// Whether nothing listens on `port`, on 127.0.0.1 or on all interfaces.
fn is_free(port: u16) -> bool {
    // One bind at a time: two listeners of ours would conflict with each other.
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        return false;
    }
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leased_ports_are_distinct_free_and_released() {
        let a = PortLease::take(3).expect("three free ports");
        let b = PortLease::take(3).expect("three more");
        let all: HashSet<u16> = a.ports.iter().chain(&b.ports).copied().collect();
        assert_eq!(all.len(), 6, "{a:?} {b:?}");
        for port in &all {
            assert!(RANGE.contains(port));
            assert!(TcpListener::bind(("127.0.0.1", *port)).is_ok());
        }
        let first = a.get(0);
        drop(a);
        let leased = LEASED.lock().unwrap();
        assert!(!leased.as_ref().unwrap().contains(&first));
        assert!(leased.as_ref().unwrap().contains(&b.get(0)));
    }
}
