//! The hash functions for the item hash table (`-o hash_algorithm=`):
//! MurmurHash3 x86 32-bit (the default, as in memcached 1.6) and Bob
//! Jenkins' one-at-a-time hash. Both are written from their published
//! descriptions; the table only needs a well-mixed 32-bit value, and the
//! values never leave the process, so either choice is safe across restarts.

use crate::settings::HashAlgorithm;

/// A hash function over a key.
pub type HashFn = fn(&[u8]) -> u32;

/// Returns the function for the configured algorithm.
pub fn hash_fn(algo: HashAlgorithm) -> HashFn {
    match algo {
        HashAlgorithm::Murmur3 => murmur3_32,
        HashAlgorithm::Jenkins => jenkins_oaat,
    }
}

/// MurmurHash3, x86 32-bit variant, seed 0.
pub fn murmur3_32(key: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut blocks = key.chunks_exact(4);
    for b in &mut blocks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    let mut k: u32 = 0;
    for (i, &byte) in tail.iter().enumerate() {
        k |= (byte as u32) << (8 * i);
    }
    if !tail.is_empty() {
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= key.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Jenkins' one-at-a-time hash.
pub fn jenkins_oaat(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in key {
        h = h.wrapping_add(b as u32);
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h.wrapping_add(h << 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_values() {
        // Published test vectors for MurmurHash3_x86_32 with seed 0.
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!"), 0xc036_3e43);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    #[test]
    fn jenkins_known_values() {
        assert_eq!(jenkins_oaat(b"a"), 0xca2e_9442);
        assert_eq!(
            jenkins_oaat(b"The quick brown fox jumps over the lazy dog"),
            0x519e_91f5
        );
    }
}
