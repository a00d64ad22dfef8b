//! The key space: keys and values as functions of the key index, so that
//! requests are written and replies checked without a table.
//!
//! ```text
//!   key i   = "key:" + i zero-padded to fill key_size bytes
//!             e.g. key_size 16, i = 42:  key:000000000042
//!   value i = pattern[i % 251 .. i % 251 + value_size]
//!             pattern: 251 pseudo-random letters and digits, repeated
//! ```
//!
//! The pattern's period is the prime 251, so two keys share a value only
//! when their indexes are equal modulo 251: a value stored under the wrong
//! key is caught 250 times out of 251 (and the text protocol echoes the
//! key, which is checked on every hit).

use crate::dist::mix64;

const PERIOD: usize = 251;
const PREFIX: &[u8] = b"key:";
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub struct Keyspace {
    n: usize,
    key_size: usize,
    /// "key:" and key_size - 4 zeros: every key before its digits go in.
    template: Vec<u8>,
    value_size: usize,
    /// PERIOD + value_size bytes with pattern[j] == pattern[j % PERIOD].
    pattern: Vec<u8>,
    /// value_size in decimal, as set and ms send it.
    value_len: Vec<u8>,
}

impl Keyspace {
    /// Builds the key space, or says why the sizes cannot work.
    ///
    /// Keys are written from a template rather than copied from a table of
    /// all keys: a million 32-byte keys make a 32 MB table, and a random
    /// pick from it is a cache miss that costs more than writing 7 digits.
    pub fn new(n: u64, key_size: usize, value_size: usize) -> Result<Keyspace, String> {
        if n == 0 || n > u32::MAX as u64 {
            return Err(format!("--keys must be in 1..{}", u32::MAX));
        }
        let digits = (n - 1).to_string().len();
        if key_size < PREFIX.len() + digits || key_size > 250 {
            return Err(format!(
                "--key-size must be in {}..250 to hold \"key:\" and {} digits",
                PREFIX.len() + digits,
                digits
            ));
        }
        let mut template = PREFIX.to_vec();
        template.resize(key_size, b'0');
        let pattern = (0..PERIOD + value_size)
            .map(|j| ALPHABET[(mix64((j % PERIOD) as u64) % ALPHABET.len() as u64) as usize])
            .collect();
        Ok(Keyspace {
            n: n as usize,
            key_size,
            template,
            value_size,
            pattern,
            value_len: value_size.to_string().into_bytes(),
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// The decimal value size, ready to be written into a command.
    pub fn value_len(&self) -> &[u8] {
        &self.value_len
    }

    /// Appends key `i` to `w`.
    pub fn put_key(&self, w: &mut Vec<u8>, i: u32) {
        w.extend_from_slice(&self.template);
        let mut at = w.len();
        let mut n = i;
        loop {
            at -= 1;
            w[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
    }

    /// Whether `got` is key `i`, checked digit by digit from the end
    /// without building the key.
    pub fn is_key(&self, i: u32, got: &[u8]) -> bool {
        if got.len() != self.key_size || !got.starts_with(PREFIX) {
            return false;
        }
        let mut n = i;
        for &b in got[PREFIX.len()..].iter().rev() {
            if b != b'0' + (n % 10) as u8 {
                return false;
            }
            n /= 10;
        }
        n == 0
    }

    /// Key `i` as bytes, for messages and tests.
    pub fn key(&self, i: u32) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.key_size);
        self.put_key(&mut k, i);
        k
    }

    pub fn value(&self, i: u32) -> &[u8] {
        let at = i as usize % PERIOD;
        &self.pattern[at..at + self.value_size]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_padded_indexes() {
        let ks = Keyspace::new(1000, 16, 10).unwrap();
        assert_eq!(ks.key(0), b"key:000000000000");
        assert_eq!(ks.key(42), b"key:000000000042");
        assert_eq!(ks.key(999), b"key:000000000999");
    }

    #[test]
    fn keys_read_back() {
        let ks = Keyspace::new(1_000_000, 32, 10).unwrap();
        for i in [0u32, 7, 42, 999_999] {
            assert!(ks.is_key(i, &ks.key(i)));
            assert!(!ks.is_key(i + 1, &ks.key(i)));
        }
        assert!(!ks.is_key(5, b"key:0000000000000000000000000005x"));
        assert!(!ks.is_key(5, b"key:000000000000000000000000000x5"));
        assert!(!ks.is_key(5, b"kez:0000000000000000000000000005"));
        assert!(!ks.is_key(5, b"key:1000000000000000000000000005"));
    }

    #[test]
    fn key_size_must_hold_the_index() {
        assert!(Keyspace::new(1000, 7, 10).is_ok());
        assert!(Keyspace::new(1001, 7, 10).is_err());
        assert!(Keyspace::new(10, 251, 10).is_err());
    }

    #[test]
    fn values_differ_between_neighbours() {
        let ks = Keyspace::new(1000, 32, 100).unwrap();
        assert_eq!(ks.value(5).len(), 100);
        assert_ne!(ks.value(5), ks.value(6));
        assert_eq!(ks.value(5), ks.value(5 + 251));
        assert!(ks.value(7).iter().all(|b| b.is_ascii_alphanumeric()));
    }
}
