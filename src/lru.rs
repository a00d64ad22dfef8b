//! Per-class LRU lists (memcached's items.c item_link_q / item_unlink_q and
//! lru_pull_tail). Items are linked through the `prev`/`next` fields of
//! their headers; the head of each list is the most recently used item.
//!
//! This is the flat LRU: one list per class, an item moved to the head at
//! most once per ITEM_UPDATE_INTERVAL, eviction from the tail. Items stored
//! in several chunks are kept on the list of the largest class, because
//! evicting them is what frees chunks of that class.

use crate::items;
use crate::slabs::{Slabs, MAX_CLASSES, NONE};

pub struct Lru {
    heads: [u32; MAX_CLASSES + 1],
    tails: [u32; MAX_CLASSES + 1],
    /// Items on each list.
    pub sizes: [u64; MAX_CLASSES + 1],
}

impl Default for Lru {
    fn default() -> Self {
        Lru {
            heads: [NONE; MAX_CLASSES + 1],
            tails: [NONE; MAX_CLASSES + 1],
            sizes: [0; MAX_CLASSES + 1],
        }
    }
}

impl Lru {
    /// Links item `id` at the head of list `lid`.
    pub fn link(&mut self, slabs: &mut Slabs, id: u32, lid: u8) {
        let l = lid as usize;
        let head = self.heads[l];
        {
            let c = slabs.chunk_mut(id);
            items::set_prev(c, NONE);
            items::set_next(c, head);
        }
        if head != NONE {
            items::set_prev(slabs.chunk_mut(head), id);
        }
        self.heads[l] = id;
        if self.tails[l] == NONE {
            self.tails[l] = id;
        }
        self.sizes[l] += 1;
    }

    /// Links item `id` at the tail of list `lid` (items restored from a
    /// dump arrive hottest first).
    pub fn link_tail(&mut self, slabs: &mut Slabs, id: u32, lid: u8) {
        let l = lid as usize;
        let tail = self.tails[l];
        {
            let c = slabs.chunk_mut(id);
            items::set_prev(c, tail);
            items::set_next(c, NONE);
        }
        if tail != NONE {
            items::set_next(slabs.chunk_mut(tail), id);
        }
        self.tails[l] = id;
        if self.heads[l] == NONE {
            self.heads[l] = id;
        }
        self.sizes[l] += 1;
    }

    /// Unlinks item `id` from list `lid`.
    pub fn unlink(&mut self, slabs: &mut Slabs, id: u32, lid: u8) {
        let l = lid as usize;
        let (prev, next) = {
            let c = slabs.chunk(id);
            (items::prev(c), items::next(c))
        };
        if prev == NONE {
            debug_assert_eq!(self.heads[l], id);
            self.heads[l] = next;
        } else {
            items::set_next(slabs.chunk_mut(prev), next);
        }
        if next == NONE {
            debug_assert_eq!(self.tails[l], id);
            self.tails[l] = prev;
        } else {
            items::set_prev(slabs.chunk_mut(next), prev);
        }
        let c = slabs.chunk_mut(id);
        items::set_prev(c, NONE);
        items::set_next(c, NONE);
        self.sizes[l] -= 1;
    }

    /// Moves item `id` to the head of list `lid`.
    pub fn bump(&mut self, slabs: &mut Slabs, id: u32, lid: u8) {
        if self.heads[lid as usize] != id {
            self.unlink(slabs, id, lid);
            self.link(slabs, id, lid);
        }
    }

    /// The least recently used item of list `lid`, or NONE.
    #[inline]
    pub fn tail(&self, lid: u8) -> u32 {
        self.tails[lid as usize]
    }

    /// The most recently used item of list `lid`, or NONE.
    #[inline]
    pub fn head(&self, lid: u8) -> u32 {
        self.heads[lid as usize]
    }
}
