//! A fast hasher for the client's internal maps, keyed by channel numbers
//! and consumer tags. The standard SipHash resists crafted keys, which the
//! keys here are not (channel numbers are ours, consumer tags come from the
//! broker we logged in to), and it cost more than any other lookup on the
//! delivery path. This is the multiply-rotate scheme of Firefox's hasher.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// An odd constant with well-spread bits: the multiply moves every input
/// bit into the high bits, which hashbrown reads first.
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Word-at-a-time hashing: one rotate, xor and multiply per 8 octets.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            if chunk.len() < 8 {
                // The unused last octet tells "a" from "a\0".
                word[7] = chunk.len() as u8;
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(i.into());
    }

    fn write_u16(&mut self, i: u16) {
        self.add(i.into());
    }

    fn write_u32(&mut self, i: u32) {
        self.add(i.into());
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn equal_keys_hash_equal_and_neighbours_differ() {
        let build = BuildHasherDefault::<FastHasher>::default();
        assert_eq!(
            build.hash_one((1u16, "ctag")),
            build.hash_one((1u16, "ctag"))
        );
        assert_ne!(build.hash_one(1u16), build.hash_one(2u16));
        // Tails shorter than a word still count, and so does their length.
        assert_ne!(build.hash_one("amq.ctag-1"), build.hash_one("amq.ctag-2"));
        assert_ne!(build.hash_one("a"), build.hash_one("a\0"));
    }

    #[test]
    fn a_map_keyed_by_many_channels_finds_each() {
        let mut map = FastMap::default();
        for id in 1..=2047u16 {
            map.insert(id, u32::from(id) * 3);
        }
        assert!((1..=2047u16).all(|id| map.get(&id) == Some(&(u32::from(id) * 3))));
        assert_eq!(map.get(&0), None);
    }
}
