//! Per-class LRU lists (memcached's items.c item_link_q / item_unlink_q,
//! lru_pull_tail and the LRU maintainer). Items are linked through the
//! `prev`/`next` fields of their headers; the head of each list is the most
//! recently used item.
//!
//! A list is named by its id, as memcached's: the class id (1..=63) in the
//! low six bits and the segment (HOT, WARM, COLD, TEMP) in the top two, so
//! every class has four lists. An item's segment is kept in the top bits of
//! its header's class byte. Items stored in several chunks are kept on the
//! lists of the largest class, because evicting them is what frees chunks
//! of that class.
//!
//! Two modes, as memcached 1.6 (see doc/lru.md):
//!
//! ```text
//!  flat (-o no_modern, no_lru_maintainer, `lru mode flat`)
//!     every new item on COLD; a fetch moves it to the head at most once
//!     per ITEM_UPDATE_INTERVAL; allocation evicts from the COLD tail.
//!
//!  segmented (the default)
//!     set --> HOT --(tail, over size/age limit)--> COLD --> evicted
//!              |                                  ^  |
//!              | (tail, active)                   |  | (active: fetched twice)
//!              v                                  |  v
//!             WARM --(tail, inactive, over limit)-+ WARM
//!             WARM tail, active: back to WARM's head
//!     short TTLs (-o temporary_ttl) go to TEMP, which only expires.
//! ```
//!
//! HOT and WARM are kept to `hot_lru_pct`/`warm_lru_pct` of the bytes on a
//! class's HOT, WARM and COLD lists, and to `hot_max_factor`/
//! `warm_max_factor` times the age of COLD's tail, by the maintainer: bounded
//! juggles run from the event loop (`Cache::lru_maintainer`), after a turn
//! that linked new items and once a second, never on an idle timer of its
//! own. Allocation pulls from the lists directly when a class is full
//! (`Cache::lru_pull_tail`).

use super::change::Reason;
use super::item;
use super::Cache;
use crate::cache::slabs::{Slabs, MAX_CLASSES, NONE};
use crate::settings::Settings;

/// Segments: the top two bits of a list id.
pub const HOT_LRU: u8 = 0;
pub const WARM_LRU: u8 = 64;
pub const COLD_LRU: u8 = 128;
pub const TEMP_LRU: u8 = 192;
/// Mask of the segment bits of a list id.
pub const SEG_MASK: u8 = 192;
/// Mask of the class bits of a list id.
pub const CLSID_MASK: u8 = 63;
/// Number of lists: four segments of 64 class ids.
pub const LRU_LISTS: usize = 256;

/// Most juggle rounds per class and maintainer run (memcached's figure):
/// each round pulls at most a few items from HOT, WARM and COLD, so one
/// run is bounded work on the event loop.
pub const JUGGLE_MAX: u32 = 500;
/// Items looked at from a tail per pull (memcached's `tries`).
const PULL_TRIES: u32 = 5;
/// `lru_pull_tail` flag: evict from COLD if nothing else frees memory.
pub const PULL_EVICT: u8 = 1;

/// The LRU options, copied from `Settings` at start and by the `lru`
/// command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LruConfig {
    /// HOT/WARM/COLD (memcached's lru_segmented).
    pub segmented: bool,
    /// The maintainer runs (memcached's lru_maintainer_thread).
    pub maintainer: bool,
    pub hot_lru_pct: u32,
    pub warm_lru_pct: u32,
    pub hot_max_factor: f64,
    pub warm_max_factor: f64,
    /// Items whose TTL is at most `temporary_ttl` go to TEMP.
    pub temp_lru: bool,
    pub temporary_ttl: u32,
}

impl LruConfig {
    pub fn from_settings(s: &Settings) -> LruConfig {
        LruConfig {
            segmented: s.lru_segmented,
            maintainer: s.lru_maintainer_thread,
            hot_lru_pct: s.hot_lru_pct,
            warm_lru_pct: s.warm_lru_pct,
            hot_max_factor: s.hot_max_factor,
            warm_max_factor: s.warm_max_factor,
            temp_lru: s.temp_lru,
            temporary_ttl: s.temporary_ttl,
        }
    }
}

impl Default for LruConfig {
    fn default() -> Self {
        LruConfig::from_settings(&Settings::default())
    }
}

/// What memcached counts per class in its itemstats (`stats items`).
/// Every event bumps one field of one class; `stats` adds them up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClassItemStats {
    /// Items evicted from COLD's tail to make room.
    pub evicted: u64,
    /// ... of which had an expiry time.
    pub evicted_nonzero: u64,
    /// Seconds since the last evicted item was accessed.
    pub evicted_time: u32,
    /// Allocations that failed for want of memory.
    pub outofmemory: u64,
    /// Always 0: references cannot leak here (memcached's tail repair).
    pub tailrepairs: u64,
    /// Expired or flushed items freed at a tail.
    pub reclaimed: u64,
    /// Expired items freed that were never fetched.
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub evicted_active: u64,
    /// Expired and flushed items the LRU crawler freed.
    pub crawler_reclaimed: u64,
    /// Items the LRU crawler (crawls and dumps) looked at.
    pub crawler_items_checked: u64,
    /// Tail items found referenced by a pending reply.
    pub lrutail_reflocked: u64,
    pub moves_to_cold: u64,
    pub moves_to_warm: u64,
    /// Active WARM tail items put back at WARM's head.
    pub moves_within_lru: u64,
    /// Tail pulls an allocation had to make itself.
    pub direct_reclaims: u64,
}

impl ClassItemStats {
    /// Adds `o`'s counters to these (for the general `stats` group).
    pub fn add(&mut self, o: &ClassItemStats) {
        self.evicted += o.evicted;
        self.evicted_nonzero += o.evicted_nonzero;
        self.outofmemory += o.outofmemory;
        self.tailrepairs += o.tailrepairs;
        self.reclaimed += o.reclaimed;
        self.expired_unfetched += o.expired_unfetched;
        self.evicted_unfetched += o.evicted_unfetched;
        self.evicted_active += o.evicted_active;
        self.crawler_reclaimed += o.crawler_reclaimed;
        self.crawler_items_checked += o.crawler_items_checked;
        self.lrutail_reflocked += o.lrutail_reflocked;
        self.moves_to_cold += o.moves_to_cold;
        self.moves_to_warm += o.moves_to_warm;
        self.moves_within_lru += o.moves_within_lru;
        self.direct_reclaims += o.direct_reclaims;
    }
}

pub struct Lru {
    heads: [u32; LRU_LISTS],
    tails: [u32; LRU_LISTS],
    /// Items on each list.
    pub sizes: [u64; LRU_LISTS],
    /// Bytes (header, key, value) of the items on each list: what the HOT
    /// and WARM limits weigh, and `stats items`' mem_requested.
    pub bytes: [u64; LRU_LISTS],
    pub cfg: LruConfig,
    /// Per-class counters, indexed by class id.
    pub itemstats: [ClassItemStats; MAX_CLASSES + 1],
    /// Classes (bit n: class n) that linked items into HOT or TEMP since
    /// their last juggle, or whose last juggle used all its rounds.
    pub juggle_mask: u64,
    /// Items linked into HOT or TEMP since the maintainer's last run: a
    /// run after a busy turn may make as many more rounds, so the lists
    /// keep up with the stores while the work stays proportional to them.
    pub linked: u32,
    /// Fetched ACTIVE items on COLD waiting to move to WARM, each pinned
    /// (memcached's asynchronous bump buffer), moved after the event batch.
    pub bump_queue: Vec<u32>,
    /// Maintainer runs (`lru_maintainer_juggles`).
    pub juggles: u64,
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
        Lru::new(LruConfig::default())
    }
}

impl Lru {
    pub fn new(cfg: LruConfig) -> Lru {
        Lru {
            heads: [NONE; LRU_LISTS],
            tails: [NONE; LRU_LISTS],
            sizes: [0; LRU_LISTS],
            bytes: [0; LRU_LISTS],
            cfg,
            itemstats: [ClassItemStats::default(); MAX_CLASSES + 1],
            juggle_mask: 0,
            linked: 0,
            bump_queue: Vec::new(),
            juggles: 0,
            crawl_cursor: NONE,
        }
    }

    /// True if the maintainer has work left for the next loop turn.
    #[inline]
    pub fn work_pending(&self) -> bool {
        self.juggle_mask != 0 || !self.bump_queue.is_empty()
    }

    /// Links item `id` at the head of list `lid`.
    pub fn link(&mut self, slabs: &mut Slabs, id: u32, lid: u8) {
        let l = lid as usize;
        let head = self.heads[l];
        {
            let c = slabs.chunk_mut(id);
            self.bytes[l] += item::ntotal(c) as u64;
            item::set_prev(c, NONE);
            item::set_next(c, head);
        }
        if head != NONE {
            item::set_prev(slabs.chunk_mut(head), id);
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
            self.bytes[l] += item::ntotal(c) as u64;
            item::set_prev(c, tail);
            item::set_next(c, NONE);
        }
        if tail != NONE {
            item::set_next(slabs.chunk_mut(tail), id);
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
            self.bytes[l] -= item::ntotal(c) as u64;
            (item::prev(c), item::next(c))
        };
        if prev == NONE {
            debug_assert_eq!(self.heads[l], id);
            self.heads[l] = next;
        } else {
            item::set_next(slabs.chunk_mut(prev), next);
        }
        if next == NONE {
            debug_assert_eq!(self.tails[l], id);
            self.tails[l] = prev;
        } else {
            item::set_prev(slabs.chunk_mut(next), prev);
        }
        // An item is on one list only, so this one comparison is enough.
        if id == self.crawl_cursor {
            self.crawl_cursor = prev;
        }
        let c = slabs.chunk_mut(id);
        item::set_prev(c, NONE);
        item::set_next(c, NONE);
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

// ======================== moving items between lists ========================

impl Cache {
    /// The segment a new item with expiry `exptime` starts on: TEMP for a
    /// TTL within `temporary_ttl` (when on), else HOT, or COLD when flat.
    /// As memcached, the TTL is `exptime - now` in unsigned server time,
    /// so items that never expire (0) never go to TEMP.
    #[inline]
    pub(crate) fn new_item_seg(&self, exptime: u32) -> u8 {
        let cfg = &self.lru.cfg;
        if cfg.temp_lru && exptime.wrapping_sub(self.clock.current_time) <= cfg.temporary_ttl {
            TEMP_LRU
        } else if cfg.segmented {
            HOT_LRU
        } else {
            COLD_LRU
        }
    }

    /// Moves a linked item from its list to the head of segment `seg` of
    /// its class.
    fn lru_move(&mut self, id: u32, seg: u8) {
        let (lid, cls) = {
            let c = self.slabs.chunk(id);
            (self.lru_id(c), self.lru_clsid(c))
        };
        self.lru.unlink(&mut self.slabs, id, lid);
        item::set_lru_seg(self.slabs.chunk_mut(id), seg);
        self.lru.link(&mut self.slabs, id, cls | seg);
    }

    /// Records that an item was used (memcached's do_item_update): in
    /// segmented mode an ACTIVE item on COLD moves to WARM (losing ACTIVE)
    /// and any other item only has its time refreshed; in flat mode the
    /// item goes to its list's head at most once per ITEM_UPDATE_INTERVAL.
    pub(crate) fn item_update(&mut self, id: u32) {
        let now = self.clock.current_time;
        let c = self.slabs.chunk(id);
        if item::iflags(c) & item::ITEM_LINKED == 0 {
            return;
        }
        if self.lru.cfg.segmented {
            let active_cold =
                item::lru_seg(c) == COLD_LRU && item::iflags(c) & item::ITEM_ACTIVE != 0;
            let cls = self.lru_clsid(c);
            item::set_time(self.slabs.chunk_mut(id), now);
            if active_cold {
                self.set_iflag(id, item::ITEM_ACTIVE, false);
                self.lru_move(id, WARM_LRU);
                self.lru.itemstats[cls as usize].moves_to_warm += 1;
            }
        } else if item::time(c) < now.saturating_sub(super::clock::ITEM_UPDATE_INTERVAL) {
            let lid = self.lru_id(c);
            item::set_time(self.slabs.chunk_mut(id), now);
            self.lru.bump(&mut self.slabs, id, lid);
        }
    }

    /// Moves the items fetched ACTIVE on COLD during the last event batch
    /// to WARM and drops the references taken when they were queued.
    pub fn lru_bumps(&mut self) {
        let mut q = std::mem::take(&mut self.lru.bump_queue);
        for &id in &q {
            self.item_update(id);
            self.unpin(id);
        }
        q.clear();
        self.lru.bump_queue = q;
    }

    /// Looks at up to PULL_TRIES items from the tail of list `cls | seg`
    /// and frees, moves or evicts as memcached's lru_pull_tail does:
    /// expired or flushed items are reclaimed (and the walk goes on);
    /// on HOT and WARM an ACTIVE item loses ACTIVE and goes to WARM's
    /// head, an inactive one goes to COLD if the list is over its share of
    /// `total_bytes` or the item is older than `max_age`; on COLD, with
    /// PULL_EVICT the tail item is evicted (unless `-M`), without it an
    /// ACTIVE item goes to WARM. TEMP only reclaims. Returns how many
    /// items were freed or moved.
    pub(crate) fn lru_pull_tail(
        &mut self,
        cls: u8,
        seg: u8,
        total_bytes: u64,
        flags: u8,
        max_age: u32,
    ) -> u32 {
        let lid = cls | seg;
        let ci = cls as usize;
        let now = self.clock.current_time;
        let mut removed = 0;
        let mut id = self.lru.tail(lid);
        let mut tries = PULL_TRIES;
        while tries > 0 && id != NONE {
            tries -= 1;
            let c = self.slabs.chunk(id);
            let next_id = item::prev(c);
            let (f, t) = (item::iflags(c), item::time(c));
            if item::refcount(c) > 0 {
                // A reply still points into it: it can move or be
                // unlinked, but its memory comes back only later.
                self.lru.itemstats[ci].lrutail_reflocked += 1;
            }
            if self.is_dead(c) {
                let st = &mut self.lru.itemstats[ci];
                st.reclaimed += 1;
                if f & item::ITEM_FETCHED == 0 {
                    st.expired_unfetched += 1;
                }
                self.unlink(id, Reason::Reclaimed);
                removed += 1;
                id = next_id;
                continue;
            }
            match seg {
                HOT_LRU | WARM_LRU => {
                    let cfg = &self.lru.cfg;
                    let mut limit = 0;
                    if seg == HOT_LRU {
                        limit = (total_bytes as u128 * cfg.hot_lru_pct as u128 / 100) as u64;
                    }
                    if limit == 0 {
                        limit = (total_bytes as u128 * cfg.warm_lru_pct as u128 / 100) as u64;
                    }
                    if f & item::ITEM_ACTIVE != 0 {
                        self.set_iflag(id, item::ITEM_ACTIVE, false);
                        removed += 1;
                        if seg == WARM_LRU {
                            self.lru.itemstats[ci].moves_within_lru += 1;
                            self.lru.bump(&mut self.slabs, id, lid);
                            id = next_id;
                            continue;
                        }
                        self.lru.itemstats[ci].moves_to_warm += 1;
                        self.lru_move(id, WARM_LRU);
                    } else if self.lru.bytes[lid as usize] > limit
                        || now.saturating_sub(t) > max_age
                    {
                        self.lru.itemstats[ci].moves_to_cold += 1;
                        self.lru_move(id, COLD_LRU);
                        removed += 1;
                    }
                }
                COLD_LRU => {
                    if flags & PULL_EVICT != 0 {
                        if self.evict_to_free {
                            self.evict(id, cls);
                            removed += 1;
                        }
                    } else if f & item::ITEM_ACTIVE != 0 && self.lru.cfg.segmented {
                        self.lru.itemstats[ci].moves_to_warm += 1;
                        self.set_iflag(id, item::ITEM_ACTIVE, false);
                        self.lru_move(id, WARM_LRU);
                        removed += 1;
                    }
                }
                _ => {}
            }
            break;
        }
        removed
    }

    /// One maintainer pass over class `cls` (memcached's
    /// lru_maintainer_juggle): reclaims expired TEMP items, then pulls
    /// HOT, WARM and (segmented) COLD tails until nothing moves. HOT and
    /// WARM are weighed against the bytes of the class's HOT, WARM and
    /// COLD lists and against the age of COLD's tail; in flat mode both limits are 0, so HOT and WARM drain into
    /// COLD. At most `rounds` rounds; returns the rounds that did
    /// something.
    pub(crate) fn lru_juggle(&mut self, cls: u8, rounds: u32) -> u32 {
        let mut did = 0;
        if self.lru.cfg.temp_lru {
            for _ in 0..rounds {
                if self.lru_pull_tail(cls, TEMP_LRU, 0, 0, 0) == 0 {
                    break;
                }
                did += 1;
            }
        }
        let (mut total, mut hot_age, mut warm_age) = (0u64, 0u32, 0u32);
        if self.lru.cfg.segmented {
            let b = &self.lru.bytes;
            total = b[(cls | HOT_LRU) as usize]
                + b[(cls | WARM_LRU) as usize]
                + b[(cls | COLD_LRU) as usize];
            let tail = self.lru.tail(cls | COLD_LRU);
            let cold_age = if tail == NONE {
                0
            } else {
                let t = item::time(self.slabs.chunk(tail));
                self.clock.current_time.saturating_sub(t)
            };
            hot_age = (cold_age as f64 * self.lru.cfg.hot_max_factor) as u32;
            warm_age = (cold_age as f64 * self.lru.cfg.warm_max_factor) as u32;
        }
        for _ in 0..rounds {
            let mut more = self.lru_pull_tail(cls, HOT_LRU, total, 0, hot_age) > 0
                || self.lru_pull_tail(cls, WARM_LRU, total, 0, warm_age) > 0;
            if self.lru.cfg.segmented && self.lru_pull_tail(cls, COLD_LRU, total, 0, 0) > 0 {
                more = true;
            }
            if !more {
                break;
            }
            did += 1;
        }
        did
    }

    /// Runs the maintainer: juggles every class with items on HOT, WARM
    /// or TEMP when `all` (the one-second timer), else only the classes
    /// marked in `juggle_mask` (after an event batch that linked items).
    /// Each class gets JUGGLE_MAX rounds plus one per item linked since
    /// the last run; a class that used them all stays marked, so the next
    /// loop turn goes on without sleeping. Does nothing without the
    /// maintainer.
    pub fn lru_maintainer(&mut self, all: bool) {
        let rounds = JUGGLE_MAX.saturating_add(std::mem::take(&mut self.lru.linked));
        if !self.lru.cfg.maintainer {
            self.lru.juggle_mask = 0;
            return;
        }
        let mut mask = self.lru.juggle_mask;
        if all {
            for cls in 1..=MAX_CLASSES as u8 {
                let s = &self.lru.sizes;
                if s[(cls | HOT_LRU) as usize] != 0
                    || s[(cls | WARM_LRU) as usize] != 0
                    || s[(cls | TEMP_LRU) as usize] != 0
                    || (self.lru.cfg.segmented && s[(cls | COLD_LRU) as usize] != 0)
                {
                    mask |= 1 << cls;
                }
            }
        }
        if mask == 0 && !all {
            return;
        }
        // As memcached's maintainer thread counts its wake-ups: at least
        // one a second, more under load.
        self.lru.juggles += 1;
        let mut left = 0u64;
        while mask != 0 {
            let cls = mask.trailing_zeros() as u8;
            mask &= mask - 1;
            if self.lru_juggle(cls, rounds) >= rounds {
                left |= 1 << cls;
            }
        }
        self.lru.juggle_mask = left;
    }

    /// Frees memory in class `cls` for an allocation (one round of
    /// memcached's do_item_alloc_pull). Flat: the old COLD tail pull.
    /// Segmented: evict from COLD's tail, or if COLD gave nothing push
    /// HOT's tail (or, if HOT is empty too, WARM's) down to COLD for the
    /// next round. Returns false when the caller should stop trying (flat
    /// mode only: the segmented allocation always makes its ten rounds, as
    /// memcached's does).
    pub(crate) fn lru_pull_for_alloc(&mut self, cls: u8) -> bool {
        if !self.lru.cfg.segmented {
            return self.pull_tail(cls);
        }
        if self.lru_pull_tail(cls, COLD_LRU, 0, PULL_EVICT, 0) == 0
            && self.lru_pull_tail(cls, HOT_LRU, 0, 0, 0) == 0
        {
            // Nothing on COLD or HOT: the class's items are all on WARM
            // (fetched twice since the maintainer last ran). Push WARM's
            // tail down too, so the store evicts rather than failing.
            self.lru_pull_tail(cls, WARM_LRU, 0, 0, 0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::StoreCmd;

    impl Lru {
        /// Walks every list both ways and checks links, counts, byte
        /// totals and that each item's class byte names the list it is on.
        pub(crate) fn check(&self, slabs: &Slabs) {
            for lid in 0..LRU_LISTS {
                let (mut n, mut bytes, mut prev) = (0u64, 0u64, NONE);
                let mut id = self.heads[lid];
                while id != NONE {
                    let c = slabs.chunk(id);
                    assert_eq!(item::prev(c), prev, "list {} prev link", lid);
                    assert_eq!(
                        item::lru_seg(c),
                        lid as u8 & SEG_MASK,
                        "segment of list {}",
                        lid
                    );
                    n += 1;
                    bytes += item::ntotal(c) as u64;
                    prev = id;
                    id = item::next(c);
                }
                assert_eq!(self.tails[lid], prev, "list {} tail", lid);
                assert_eq!(self.sizes[lid], n, "list {} size", lid);
                assert_eq!(self.bytes[lid], bytes, "list {} bytes", lid);
            }
        }
    }

    fn cache(s: Settings) -> Cache {
        Cache::new(&Settings {
            hashpower_init: 8,
            ..s
        })
    }

    fn put(c: &mut Cache, key: &str, n: usize, exptime: u32) {
        let id = c.alloc(key.as_bytes(), 0, exptime, n).unwrap();
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Set, 0),
            crate::cache::StoreItemType::Stored
        );
    }

    fn seg_of(c: &mut Cache, key: &str) -> u8 {
        let id = c.peek(key.as_bytes());
        assert_ne!(id, NONE, "{}", key);
        item::lru_seg(c.slabs.chunk(id))
    }

    #[test]
    fn new_items_start_on_hot_temp_or_cold() {
        let mut c = cache(Settings {
            temp_lru: true,
            temporary_ttl: 100,
            ..Settings::default()
        });
        let now = c.clock.current_time;
        put(&mut c, "a", 1, 0);
        put(&mut c, "b", 1, now + 100);
        put(&mut c, "c", 1, now + 101);
        assert_eq!(seg_of(&mut c, "a"), HOT_LRU);
        assert_eq!(seg_of(&mut c, "b"), TEMP_LRU);
        assert_eq!(seg_of(&mut c, "c"), HOT_LRU);
        c.lru.check(&c.slabs);
        let mut c = cache(Settings {
            lru_segmented: false,
            lru_maintainer_thread: false,
            ..Settings::default()
        });
        put(&mut c, "a", 1, 0);
        assert_eq!(seg_of(&mut c, "a"), COLD_LRU);
        c.lru.check(&c.slabs);
    }

    #[test]
    fn a_store_evicts_when_every_item_of_its_class_is_on_warm() {
        // One page of a class that holds three values: the fourth store
        // must evict even though the items it could evict were all
        // fetched twice (COLD and HOT empty) and the maintainer has not
        // run since.
        let mut c = cache(Settings {
            maxbytes: 1 << 20,
            ..Settings::default()
        });
        for k in ["a", "b", "c"] {
            put(&mut c, k, 300_000, 0);
        }
        let a = c.peek(b"a");
        let cls = c.item_clsid(a);
        assert_eq!(c.slabs.classes[cls as usize].perslab, 3);
        c.lru_maintainer(false);
        for k in ["a", "b", "c"] {
            c.get(k.as_bytes());
            c.get(k.as_bytes());
        }
        c.lru_bumps();
        let l = |c: &Cache, seg: u8| c.lru.sizes[(cls | seg) as usize];
        assert_eq!(l(&c, COLD_LRU), 0);
        assert_eq!(l(&c, HOT_LRU) + l(&c, WARM_LRU), 3);
        put(&mut c, "d", 300_000, 0);
        assert_eq!(c.lru.itemstats[cls as usize].evicted, 1);
        assert_eq!(c.lru.itemstats[cls as usize].outofmemory, 0);
        c.lru.check(&c.slabs);
    }

    #[test]
    fn juggle_keeps_hot_to_its_share_and_rescues_active_items() {
        let mut c = cache(Settings::default());
        for i in 0..100 {
            put(&mut c, &format!("k{:02}", i), 10, 0);
        }
        c.lru_maintainer(false);
        c.lru.check(&c.slabs);
        let k00 = c.peek(b"k00");
        let cls = c.item_clsid(k00);
        let l = |seg: u8| c.lru.sizes[(cls | seg) as usize];
        // 100 equal items in one batch: HOT keeps exactly 20 of them.
        assert_eq!((l(HOT_LRU), l(WARM_LRU), l(COLD_LRU)), (20, 0, 80));
        assert_eq!(c.lru.itemstats[cls as usize].moves_to_cold, 80);
        // Fetched twice on COLD: queued, then moved to WARM.
        assert_eq!(seg_of(&mut c, "k00"), COLD_LRU);
        let id = c.get(b"k00");
        c.get(b"k00");
        assert_eq!(c.lru.bump_queue, vec![id]);
        assert_eq!(
            item::refcount(c.slabs.chunk(id)),
            1,
            "queued items are pinned"
        );
        c.background_work();
        assert_eq!(seg_of(&mut c, "k00"), WARM_LRU);
        assert_eq!(item::refcount(c.slabs.chunk(id)), 0);
        assert_eq!(item::iflags(c.slabs.chunk(id)) & item::ITEM_ACTIVE, 0);
        // Fetched twice on HOT: stays until the juggle reaches it.
        c.get(b"k99");
        c.get(b"k99");
        assert_eq!(seg_of(&mut c, "k99"), HOT_LRU);
        c.clock.offset += 100;
        c.tick();
        assert_eq!(seg_of(&mut c, "k99"), WARM_LRU);
        assert_eq!(c.lru.itemstats[cls as usize].moves_to_warm, 2);
        c.lru.check(&c.slabs);
    }

    #[test]
    fn a_queued_item_deleted_before_the_move_is_freed_after_it() {
        let mut c = cache(Settings {
            lru_segmented: true,
            ..Settings::default()
        });
        put(&mut c, "x", 10, 0);
        let id = c.peek(b"x");
        let cls = c.item_clsid(id);
        c.lru_pull_tail(cls, HOT_LRU, 0, 0, 0);
        assert_eq!(seg_of(&mut c, "x"), COLD_LRU);
        c.get(b"x");
        c.get(b"x");
        assert!(c.delete(-1, b"x"));
        assert_eq!(
            c.slabs.free_chunks(cls) + 1,
            c.slabs.classes[cls as usize].perslab as u64
        );
        c.background_work();
        assert_eq!(
            c.slabs.free_chunks(cls),
            c.slabs.classes[cls as usize].perslab as u64
        );
        c.lru.check(&c.slabs);
    }

    #[test]
    fn restored_items_go_to_the_cold_tail_keeping_their_flags() {
        let mut c = cache(Settings::default());
        for (i, key) in ["hot", "warm", "cold"].iter().enumerate() {
            let id = c.alloc(key.as_bytes(), 0, 0, 1).unwrap();
            let hv = c.assoc.hash(key.as_bytes());
            let extra = if i == 0 {
                item::ITEM_FETCHED | item::ITEM_ACTIVE
            } else {
                0
            };
            c.link_restored(id, hv, 10 + i as u64, 1, extra);
        }
        c.lru.check(&c.slabs);
        let hot = c.peek(b"hot");
        let cls = c.item_clsid(hot);
        assert_eq!(c.lru.sizes[(cls | COLD_LRU) as usize], 3);
        let head = c.lru.head(cls | COLD_LRU);
        assert_eq!(item::key_of(c.slabs.chunk(head)), b"hot");
        let f = item::iflags(c.slabs.chunk(head));
        assert_ne!(f & item::ITEM_ACTIVE, 0);
        assert_eq!(
            c.lru.juggle_mask, 0,
            "nothing for the maintainer to do at once"
        );
    }

    #[test]
    fn allocation_pushes_hot_down_and_evicts_from_cold() {
        // Without a maintainer run, everything stays on HOT until an
        // allocation finds the class full: it then moves HOT's tail to
        // COLD and evicts it from there.
        let mut c = cache(Settings {
            maxbytes: 1024 * 1024,
            ..Settings::default()
        });
        for i in 0..3000 {
            put(&mut c, &format!("k{}", i), 1000, 0);
        }
        c.lru.check(&c.slabs);
        let t = c.itemstats_total();
        assert!(t.evicted > 0 && t.moves_to_cold >= t.evicted, "{:?}", t);
        assert!(t.direct_reclaims >= t.evicted);
        assert_eq!(c.peek(b"k0"), NONE);
        assert_ne!(c.peek(b"k2999"), NONE);
    }
}
