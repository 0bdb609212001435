//! When to try again: exponential backoff with full jitter. Attempt `n`
//! (from 0) waits a uniformly random time in `0..=min(max, initial * 2^n)`,
//! so clients that lost the same broker at the same moment do not come
//! back at the same moment, and the first attempt costs at most `initial`.

use std::time::Duration;

/// The delays of one recovery's attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    rng: SplitMix64,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max,
            rng: SplitMix64(seed),
        }
    }

    /// The bound on attempt `n`'s delay (from 0).
    pub(crate) fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Attempt `n`'s delay: uniform in `0..=ceiling(n)`.
    pub(crate) fn delay(&mut self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_nanos() as u64;
        Duration::from_nanos(self.rng.below(ceiling.saturating_add(1)))
    }

    /// A uniformly random index below `n` (endpoint shuffling).
    pub(crate) fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }
}

/// A seed that differs between processes and connections.
pub(crate) fn seed(connection_id: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ connection_id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and plenty for
/// jitter; no cryptographic use.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 for n = 0), by widening multiplication.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceilings_double_from_the_initial_delay_up_to_the_max() {
        let b = Backoff::new(100 * MS, 30_000 * MS, 1);
        let ceilings: Vec<u128> = (0..12).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
        assert_eq!(b.ceiling(u32::MAX), 30_000 * MS, "no overflow");
    }

    #[test]
    fn every_delay_is_within_its_ceiling_and_the_first_within_100_ms() {
        let mut b = Backoff::new(100 * MS, 30_000 * MS, 7);
        for n in 0..40 {
            for _ in 0..100 {
                assert!(b.delay(n) <= b.ceiling(n));
            }
        }
        assert!((0..1000).all(|_| b.delay(0) <= 100 * MS));
    }

    /// 500 clients lose one broker at the same instant and it stays away
    /// for a minute: where do their attempts fall once it is back? Each
    /// client retries by its own backoff (seeded apart, as connections
    /// are); the attempt that succeeds is its first after the broker
    /// returns. No 1-second bucket may hold more than 10% of them.
    #[test]
    fn five_hundred_clients_come_back_spread_out() {
        let outage = Duration::from_secs(60);
        let mut comebacks = Vec::new();
        for client in 0..500u64 {
            let mut b = Backoff::new(100 * MS, 30_000 * MS, seed(client) ^ client);
            let mut t = Duration::ZERO;
            let mut attempt = 0;
            loop {
                t += b.delay(attempt);
                attempt += 1;
                if t >= outage {
                    break;
                }
            }
            comebacks.push((t - outage).as_secs());
        }
        let mut buckets = std::collections::BTreeMap::new();
        for second in comebacks {
            *buckets.entry(second).or_insert(0) += 1;
        }
        let fullest = buckets.values().max().copied().unwrap_or(0);
        assert!(
            fullest <= 50,
            "fullest 1 s bucket holds {fullest} of 500: {buckets:?}"
        );
        // And the very first attempts (a blip) all fall in the first 100 ms.
        let firsts: Vec<Duration> = (0..500u64)
            .map(|c| Backoff::new(100 * MS, 30_000 * MS, c).delay(0))
            .collect();
        assert!(firsts.iter().all(|d| *d <= 100 * MS));
    }

    #[test]
    fn first_attempts_of_many_clients_spread_over_the_initial_window() {
        // Ten 10-ms buckets of the first 100 ms: none holds over 15% of 500.
        let mut buckets = [0u32; 11];
        for c in 0..500u64 {
            let d = Backoff::new(100 * MS, 30_000 * MS, seed(c) ^ c).delay(0);
            buckets[(d.as_millis() / 10) as usize] += 1;
        }
        assert!(buckets.iter().all(|n| *n <= 75), "{buckets:?}");
    }

    #[test]
    fn pick_is_uniform_enough() {
        let mut b = Backoff::new(MS, MS, 3);
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            counts[b.pick(3)] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }
}
