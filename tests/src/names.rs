//! Names that cannot collide: [`unique_name`], and the pseudo-random numbers behind it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Process-wide counter that makes [`unique_name`]s, node names and folder names distinct within
/// one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The next value of the process-wide counter.
pub(crate) fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A fresh name for a queue, exchange, consumer tag, ...: `prefix`, a dash, the process id, a
/// process-wide counter and a time-based nonce, e.g. `test-q-12345-7-1a2b3c`.
///
/// Names are distinct within a process (the counter) and, in practice, between processes and
/// runs (the pid and the nonce), so tests may run in parallel against the shared broker.
pub fn unique_name(prefix: &str) -> String {
    let n = next_id();
    let nonce = random_u64(n) & 0xff_ffff;
    let prefix = prefix.trim_end_matches('-');
    if prefix.is_empty() {
        format!("{}-{n}-{nonce:06x}", std::process::id())
    } else {
        format!("{prefix}-{}-{n}-{nonce:06x}", std::process::id())
    }
}

/// A pseudo-random number mixing the time, the process id and `salt` (no cryptographic value).
pub(crate) fn random_u64(salt: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        .hash(&mut h);
    std::process::id().hash(&mut h);
    salt.hash(&mut h);
    h.finish()
}

/// `len` pseudo-random lowercase hex digits (passwords and cookies of throwaway nodes).
pub(crate) fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut salt = next_id();
    while out.len() < len {
        out.push_str(&format!("{:016x}", random_u64(salt)));
        salt = salt.wrapping_add(0x9e37_79b9_7f4a_7c15);
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::thread;

    #[test]
    fn unique_names_are_unique() {
        let handles: Vec<_> = (0..4)
            .map(|_| thread::spawn(|| (0..500).map(|_| unique_name("test-q")).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for name in h.join().expect("a name-generating thread panicked") {
                assert!(name.starts_with("test-q-"), "{name}");
                assert!(all.insert(name.clone()), "duplicate name {name}");
            }
        }
        assert_eq!(all.len(), 2000);
        let pid = std::process::id().to_string();
        let name = unique_name("x-");
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 4, "{name}");
        assert_eq!(parts[0], "x");
        assert_eq!(parts[1], pid);
        assert!(parts[2].parse::<u64>().is_ok(), "{name}");
        assert_eq!(parts[3].len(), 6, "{name}");
    }

    #[test]
    fn random_hex_has_the_length_asked_for() {
        for len in [0, 1, 16, 20, 33] {
            let s = random_hex(len);
            assert_eq!(s.len(), len);
            assert!(s.chars().all(|c| c.is_ascii_hexdigit()), "{s}");
        }
        assert_ne!(random_hex(20), random_hex(20));
    }
}
