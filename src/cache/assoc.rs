//! The item hash table (memcached's assoc.c): buckets of 32-bit chunk ids,
//! chained through each item's `h_next` field, with incremental expansion.
//!
//! When the table holds more than 1.5 items per bucket it doubles: a new
//! table is allocated and buckets of the old one are moved over a few at a
//! time, on every insert and from the event loop's timer, so no single call
//! pays for the whole table. While expanding, a key whose old bucket has
//! not been moved yet is looked up in the old table, otherwise in the new.
//!
//! ```text
//!   primary (2^hashpower)       old (2^(hashpower-1), while expanding)
//!  +----+----+----+----+       +----+----+
//!  | id | -  | id | -  |  <--  | -  | id |   buckets >= expand_bucket
//!  +----+----+----+----+       +----+----+   still live in `old`
//!     |         |                    |
//!   item ->   item -> item         item -> item     (h_next chains)
//! ```

use super::item;
use crate::cache::hash::HashFn;
use crate::cache::slabs::{Slabs, NONE};

/// Default starting size (memcached's HASHPOWER_DEFAULT).
pub const HASHPOWER_DEFAULT: u32 = 16;
/// Largest table (memcached's HASHPOWER_MAX).
pub const HASHPOWER_MAX: u32 = 32;
/// Buckets moved per insert while expanding.
const MOVES_PER_INSERT: usize = 2;

pub struct Assoc {
    primary: Vec<u32>,
    old: Vec<u32>,
    pub hashpower: u32,
    /// True while buckets of `old` are being moved into `primary`.
    pub expanding: bool,
    /// Next bucket of `old` to move; buckets below it already moved.
    expand_bucket: usize,
    /// Items in the table.
    pub hash_items: u64,
    /// False with `-o no_hashexpand`.
    expand_enabled: bool,
    hash: HashFn,
}

impl Assoc {
    pub fn new(hashpower: u32, expand_enabled: bool, hash: HashFn) -> Assoc {
        let hp = if hashpower == 0 {
            HASHPOWER_DEFAULT
        } else {
            hashpower
        };
        Assoc {
            primary: vec![NONE; 1usize << hp],
            old: Vec::new(),
            hashpower: hp,
            expanding: false,
            expand_bucket: 0,
            hash_items: 0,
            expand_enabled,
            hash,
        }
    }

    /// Hashes a key with the configured function.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u32 {
        (self.hash)(key)
    }

    /// Bytes used by the bucket arrays (`hash_bytes` in stats).
    pub fn hash_bytes(&self) -> u64 {
        ((self.primary.len() + self.old.len()) * 4) as u64
    }

    /// Which table and bucket `hv` lives in right now.
    #[inline]
    fn bucket(&self, hv: u32) -> (bool, usize) {
        if self.expanding {
            let ob = (hv as usize) & (self.old.len() - 1);
            if ob >= self.expand_bucket {
                return (true, ob);
            }
        }
        (false, (hv as usize) & (self.primary.len() - 1))
    }

    #[inline]
    fn head(&self, in_old: bool, b: usize) -> u32 {
        if in_old {
            self.old[b]
        } else {
            self.primary[b]
        }
    }

    #[inline]
    fn set_head(&mut self, in_old: bool, b: usize, id: u32) {
        if in_old {
            self.old[b] = id
        } else {
            self.primary[b] = id
        }
    }

    /// Starts loading the bucket `hv` falls in (batch lookups).
    #[inline]
    pub fn prefetch_bucket(&self, hv: u32) {
        let (in_old, b) = self.bucket(hv);
        let table = if in_old { &self.old } else { &self.primary };
        crate::sys::prefetch(table[b..].as_ptr() as *const u8);
    }

    /// The first item of the chain `hv` falls in (batch lookups).
    #[inline]
    pub fn chain_head(&self, hv: u32) -> u32 {
        let (in_old, b) = self.bucket(hv);
        self.head(in_old, b)
    }

    /// Finds the item with this key, or NONE.
    pub fn find(&self, slabs: &Slabs, key: &[u8], hv: u32) -> u32 {
        let (in_old, b) = self.bucket(hv);
        let mut id = self.head(in_old, b);
        while id != NONE {
            let chunk = slabs.chunk(id);
            if item::key_of(chunk) == key {
                return id;
            }
            id = item::h_next(chunk);
        }
        NONE
    }

    /// Inserts an item (whose key is not in the table) at the head of its
    /// chain, then does a little expansion work.
    pub fn insert(&mut self, slabs: &mut Slabs, id: u32, hv: u32) {
        let (in_old, b) = self.bucket(hv);
        let head = self.head(in_old, b);
        item::set_h_next(slabs.chunk_mut(id), head);
        self.set_head(in_old, b, id);
        self.hash_items += 1;
        if self.expanding {
            self.expand_step(slabs, MOVES_PER_INSERT);
        } else if self.expand_enabled
            && self.hashpower < HASHPOWER_MAX
            && self.hash_items > (self.primary.len() as u64 * 3) / 2
        {
            self.start_expand();
        }
    }

    /// Removes the item `id` (whose key hashes to `hv`) from its chain.
    /// Returns false if it was not there.
    pub fn delete(&mut self, slabs: &mut Slabs, id: u32, hv: u32) -> bool {
        let (in_old, b) = self.bucket(hv);
        let mut cur = self.head(in_old, b);
        if cur == id {
            let next = item::h_next(slabs.chunk(id));
            self.set_head(in_old, b, next);
            self.hash_items -= 1;
            return true;
        }
        while cur != NONE {
            let next = item::h_next(slabs.chunk(cur));
            if next == id {
                let after = item::h_next(slabs.chunk(id));
                item::set_h_next(slabs.chunk_mut(cur), after);
                self.hash_items -= 1;
                return true;
            }
            cur = next;
        }
        false
    }

    /// Grows an empty table at once to hold `n` items without expanding
    /// (a dump about to be loaded says how many items it holds). Does
    /// nothing with `no_hashexpand`, which fixes the size.
    pub fn presize(&mut self, n: u64) {
        if !self.expand_enabled || self.expanding || self.hash_items != 0 {
            return;
        }
        let mut hp = self.hashpower;
        while hp < HASHPOWER_MAX && (1u64 << hp) * 3 / 2 < n {
            hp += 1;
        }
        if hp > self.hashpower {
            self.primary = vec![NONE; 1usize << hp];
            self.hashpower = hp;
        }
    }

    fn start_expand(&mut self) {
        let new_len = self.primary.len() * 2;
        self.old = std::mem::replace(&mut self.primary, vec![NONE; new_len]);
        self.hashpower += 1;
        self.expanding = true;
        self.expand_bucket = 0;
        log::info!(
            "hash table expansion starting (hashpower {})",
            self.hashpower
        );
    }

    /// Moves up to `n` buckets of the old table into the new one; finishes
    /// the expansion when none is left. Called on inserts and from the
    /// event loop's timer. Returns true while there is more to do.
    pub fn expand_step(&mut self, slabs: &mut Slabs, n: usize) -> bool {
        if !self.expanding {
            return false;
        }
        let mask = self.primary.len() - 1;
        for _ in 0..n {
            if self.expand_bucket >= self.old.len() {
                break;
            }
            let mut id = self.old[self.expand_bucket];
            self.old[self.expand_bucket] = NONE;
            while id != NONE {
                let chunk = slabs.chunk(id);
                let next = item::h_next(chunk);
                let b = (self.hash)(item::key_of(chunk)) as usize & mask;
                item::set_h_next(slabs.chunk_mut(id), self.primary[b]);
                self.primary[b] = id;
                id = next;
            }
            self.expand_bucket += 1;
        }
        if self.expand_bucket >= self.old.len() {
            self.old = Vec::new();
            self.expanding = false;
            log::info!("hash table expansion done");
            return false;
        }
        true
    }

    /// The number of buckets a walk of the whole table (`walk_bucket`)
    /// counts in: the size of the table items are read from now (the old
    /// one while expanding). The table only grows, so this stays a valid
    /// base for a walk while later expansions happen.
    pub fn walk_base(&self) -> usize {
        if self.expanding {
            self.old.len()
        } else {
            self.primary.len()
        }
    }

    /// Pushes onto `out` every item whose hash modulo `base` is `lb`
    /// (`base` a power of two from `walk_base`, `lb` < `base`). Walking
    /// `lb` from 0 to `base - 1`, with any number of inserts, deletes and
    /// expansion steps between two calls, visits every item present the
    /// whole time exactly once: an item's hash modulo `base` never changes,
    /// whichever table and bucket it lives in.
    pub fn walk_bucket(&self, slabs: &Slabs, base: usize, lb: usize, out: &mut Vec<u32>) {
        let chain = |mut id: u32, out: &mut Vec<u32>| {
            while id != NONE {
                out.push(id);
                id = item::h_next(slabs.chunk(id));
            }
        };
        if self.expanding {
            let o = self.old.len();
            let mut x = lb;
            while x < o {
                if x >= self.expand_bucket {
                    chain(self.old[x], out);
                } else {
                    chain(self.primary[x], out);
                    chain(self.primary[x + o], out);
                }
                x += base;
            }
        } else {
            let mut x = lb;
            while x < self.primary.len() {
                chain(self.primary[x], out);
                x += base;
            }
        }
    }
}
