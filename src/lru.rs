//! Per-class LRU lists (memcached's items.c item_link_q / item_unlink_q and
//! lru_pull_tail). Items are linked through the `prev`/`next` fields of
//! their headers; the head of each list is the most recently used item.
//!
//! A list is named by its id, as memcached's: the class id (1..=63) in the
//! low six bits and the segment (HOT, WARM, COLD, TEMP) in the top two, so
//! every class has four lists. An item's segment is kept in the top bits of
//! its header's class byte. The flat LRU (`-o no_modern`) keeps every item
//! on COLD, as memcached does. Items stored in several chunks are kept on
//! the lists of the largest class, because evicting them is what frees
//! chunks of that class.

use crate::items;
use crate::slabs::{Slabs, NONE};

/// Segments: the top two bits of a list id. Only COLD is used until the
/// segmented LRU lands.
#[allow(dead_code)]
pub const HOT_LRU: u8 = 0;
#[allow(dead_code)]
pub const WARM_LRU: u8 = 64;
pub const COLD_LRU: u8 = 128;
#[allow(dead_code)]
pub const TEMP_LRU: u8 = 192;
/// Mask of the segment bits of a list id.
pub const SEG_MASK: u8 = 192;
/// Mask of the class bits of a list id.
pub const CLSID_MASK: u8 = 63;
/// Number of lists: four segments of 64 class ids.
pub const LRU_LISTS: usize = 256;

pub struct Lru {
    heads: [u32; LRU_LISTS],
    tails: [u32; LRU_LISTS],
    /// Items on each list.
    pub sizes: [u64; LRU_LISTS],
    /// The LRU crawler's place: the next item it will visit on the list
    /// it is walking (from tail to head), or NONE. Always a linked item:
    /// `unlink` moves it on to the item's neighbour toward the head when
    /// it takes that item off its list, whether the item is being freed
    /// or only moved (bumped to the head, or to another segment), so a
    /// crawl paused between two steps never resumes on a freed chunk.
    pub crawl_cursor: u32,
}

impl Default for Lru {
    fn default() -> Self {
        Lru {
            heads: [NONE; LRU_LISTS],
            tails: [NONE; LRU_LISTS],
            sizes: [0; LRU_LISTS],
            crawl_cursor: NONE,
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
        // An item is on one list only, so this one comparison is enough.
        if id == self.crawl_cursor {
            self.crawl_cursor = prev;
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
