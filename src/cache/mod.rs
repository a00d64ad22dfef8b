//! The cache: everything that holds items and every change made to them.
//!
//! memcached spreads this over items.c, slabs.c, assoc.c, crawler.c and the
//! storage half of memcached.c; the rooms here keep those names:
//!
//! ```text
//!  store.rs        THE DOOR: every logical change (set/add/replace/append/
//!                  prepend/cas, incr/decr, touch, delete, the meta
//!                  semantics, flush_all) and the removals the cache makes
//!                  by itself, each leaving one change record (change.rs)
//!  change.rs       the change records and their reasons
//!  items.rs        item engine: alloc, link/unlink, free, pin, bump, lookup
//!  item.rs         the item header's byte layout and `ItemView`
//!  clock.rs        server time and its conversions to and from unix time
//!  lru.rs          per-class segmented LRU lists and the maintainer
//!  crawler.rs      the LRU crawler (reclaim, metadump, mgdump)
//!  slabs.rs        pages, classes, free lists, page-move bookkeeping
//!  slabs_mover.rs  moving a page's items, automove policies
//!  assoc.rs        the hash table; hash.rs its hash functions
//! ```
//!
//! `Cache`'s fields are private to this folder: code outside it reads
//! items through `ItemView`s and changes them only through the door.

pub mod assoc;
pub mod change;
pub mod clock;
pub mod crawler;
pub mod hash;
pub mod item;
pub mod items;
pub mod lru;
pub mod slabs;
pub mod slabs_mover;
pub mod store;

use assoc::Assoc;
use clock::Clock;
use lru::Lru;
use slabs::Slabs;
use slabs_mover::REBAL_CHUNKS_PER_TURN;

pub use change::{Change, Reason};
pub use item::ItemView;
pub use items::AllocError;
pub use store::{
    DeltaResult, MarithArgs, MdeleteArgs, MdeleteResult, MgetArgs, MsetArgs, RestoreError,
    Restored, StoreCmd, StoreItemType,
};

/// Counters kept by the item layer (reported by `stats`).
#[derive(Debug, Default, Clone)]
pub struct ItemStats {
    pub curr_items: u64,
    pub total_items: u64,
    pub curr_bytes: u64,
    pub get_expired: u64,
    pub get_flushed: u64,
    /// CAS stores that found no item (`cas_misses`).
    pub cas_misses: u64,
    /// Request counters per class (`stats slabs`); the protocol layer bumps
    /// most of them, the store and arithmetic here bump the CAS and
    /// incr/decr ones, as memcached's do_store_item and do_add_delta do.
    pub slab_stats: crate::stats::SlabStats,
}

/// Width of a bucket of the item size histogram, in bytes.
pub const SIZES_BUCKET: usize = 32;

/// The item size histogram of `stats sizes` (memcached's `-o track_sizes`,
/// `stats sizes_enable`): linked items counted by total size (header, key
/// and value, as `bytes` counts them) in 32-byte buckets, each named by its
/// upper bound. Items are added when linked and taken off when unlinked.
/// A histogram started at run time counts only items linked after it
/// started: it remembers the first CAS unique it may see and ignores items
/// with a lower one, as memcached does.
#[derive(Debug, Clone)]
pub struct SizeHist {
    counts: Vec<u32>,
    /// Items with a lower CAS were linked before the histogram existed.
    cas_min: u64,
}

impl SizeHist {
    /// A histogram for items up to `item_size_max` bytes.
    pub fn new(item_size_max: usize, cas_min: u64) -> SizeHist {
        SizeHist {
            counts: vec![0; item_size_max / SIZES_BUCKET + 1],
            cas_min,
        }
    }

    #[inline]
    fn bucket(total: usize) -> usize {
        total.div_ceil(SIZES_BUCKET)
    }

    /// Counts a newly linked item of `total` bytes and CAS `cas`.
    #[inline]
    fn add(&mut self, total: usize, cas: u64) {
        if cas >= self.cas_min {
            if let Some(n) = self.counts.get_mut(Self::bucket(total)) {
                *n += 1;
            }
        }
    }

    /// Takes an unlinked item off. (An item linked before the histogram
    /// started whose CAS moved up since may find its bucket empty: it stays
    /// at 0, where memcached's counter would wrap.)
    #[inline]
    fn remove(&mut self, total: usize, cas: u64) {
        if cas >= self.cas_min {
            if let Some(n) = self.counts.get_mut(Self::bucket(total)) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// The non-empty buckets, smallest first: (bucket number, items).
    pub fn buckets(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n != 0)
            .map(|(i, &n)| (i, n))
    }
}

/// Everything the cache owns: memory, table, LRUs, clock and CAS counter.
pub struct Cache {
    slabs: Slabs,
    assoc: Assoc,
    lru: Lru,
    clock: Clock,
    stats: ItemStats,
    cas_id: u64,
    use_cas: bool,
    evict_to_free: bool,
    item_size_max: usize,
    /// Items last updated at or before this server time are flushed.
    oldest_live: u32,
    /// Items with a CAS below this are flushed (sub-second flush_all).
    oldest_cas: u64,
    /// The item size histogram, while it is on.
    sizes: Option<SizeHist>,
    /// Watchers and their log lines (logger.rs); here because evictions
    /// are found during allocation.
    log: crate::logger::Logger,
    /// Why the last key lookup (`peek_hv`) found nothing: no such key, or
    /// an item it found expired or flushed and removed. Read by the
    /// watchers' `item_get` line.
    last_miss: crate::logger::Miss,
    /// The change records of the current batch (change.rs).
    changes: change::ChangeLog,
}

impl Cache {
    // ---- read-only access for stats and the loop ----

    /// The slab allocator (classes, pages, page-move state).
    #[inline]
    pub fn slabs(&self) -> &Slabs {
        &self.slabs
    }

    /// The hash table.
    #[inline]
    pub fn assoc(&self) -> &Assoc {
        &self.assoc
    }

    /// Asks the CPU for what replacing or removing `key`'s item will
    /// touch: its neighbours on its LRU list. For writes applied in a
    /// batch (a replica's stream), after their buckets and items were
    /// prefetched: one cache miss at a time becomes many in flight.
    pub fn prefetch_neighbours(&self, key: &[u8], hv: u32) {
        let id = self.assoc.find(&self.slabs, key, hv);
        if id != slabs::NONE {
            let c = self.slabs.chunk(id);
            for n in [item::prev(c), item::next(c)] {
                if n != slabs::NONE {
                    // Only their links change.
                    self.slabs.prefetch_head(n, item::OFF_HNEXT);
                }
            }
        }
    }

    /// Asks the CPU for the header and key of the first item on `hv`'s
    /// hash chain, for a lookup of a `key_len`-byte key, once its bucket
    /// was prefetched.
    pub fn prefetch_chain_head(&self, hv: u32, key_len: usize) {
        let id = self.assoc.chain_head(hv);
        if id != slabs::NONE {
            self.slabs.prefetch_head(id, item::HDR_CAS + key_len);
        }
    }

    /// The LRU lists, their settings and counters.
    #[inline]
    pub fn lru(&self) -> &Lru {
        &self.lru
    }

    /// The server clock.
    #[inline]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The item layer's counters.
    #[inline]
    pub fn item_stats(&self) -> &ItemStats {
        &self.stats
    }

    /// `-I`: the largest item, in bytes.
    #[inline]
    pub fn item_size_max(&self) -> usize {
        self.item_size_max
    }

    /// The unix time of a flush_all still to come, or 0 if none is.
    pub fn flush_at(&self) -> i64 {
        if self.oldest_live > self.clock.current_time {
            self.clock.to_unix(self.oldest_live)
        } else {
            0
        }
    }

    /// The item size histogram, while it is on.
    #[inline]
    pub fn sizes(&self) -> Option<&SizeHist> {
        self.sizes.as_ref()
    }

    /// Watchers and their log lines.
    #[inline]
    pub fn logger(&self) -> &crate::logger::Logger {
        &self.log
    }

    /// Watchers and their log lines, to add, remove or write to them.
    #[inline]
    pub fn logger_mut(&mut self) -> &mut crate::logger::Logger {
        &mut self.log
    }

    // ---- settings changed at run time ----

    /// `cache_memlimit`: the new item memory limit in bytes.
    pub fn set_memlimit(&mut self, bytes: u64) {
        self.slabs.set_limit(bytes);
    }

    /// `slabs reassign <src> <dst>`: a move asked for may evict from the
    /// class's LRU to make room for the page's items.
    pub fn slabs_reassign(&mut self, src: i32, dst: i32) -> slabs::ReassignResult {
        self.slabs.reassign(src, dst, true)
    }

    /// `stats reset`: the cache's counters that count events (not the
    /// current state: items and bytes stay).
    pub fn reset_stats(&mut self) {
        let is = &mut self.stats;
        is.total_items = 0;
        is.get_expired = 0;
        is.get_flushed = 0;
        is.cas_misses = 0;
        is.slab_stats = crate::stats::SlabStats::default();
        self.slabs.move_stats = slabs::MoveStats::default();
        for st in self.lru.itemstats.iter_mut() {
            *st = lru::ClassItemStats::default();
        }
    }

    /// `slabs automove <level>`.
    pub fn set_automove(&mut self, level: u32) {
        self.slabs.automove = level;
    }

    /// `lru tune|mode|temp_ttl`: the LRU settings as they now are.
    pub fn set_lru_config(&mut self, cfg: lru::LruConfig) {
        self.lru.cfg = cfg;
    }

    /// Moves the server clock `secs` seconds forward (`debugtime` and the
    /// debug build's start-up knob) and lets the clock's work run.
    #[cfg(any(test, feature = "debug-commands"))]
    pub fn advance_clock(&mut self, secs: i64) {
        self.clock.offset += secs;
        self.tick();
    }

    /// Stops the wall clock where it is (debug builds, for tests): from
    /// then on only `advance_clock` moves server time.
    #[cfg(feature = "debug-commands")]
    pub fn freeze_clock(&mut self) {
        self.clock.frozen = Some(self.clock.now_unix() - self.clock.offset);
    }

    /// A read-only view of item `id` (found by the door's lookups).
    #[inline]
    pub fn item(&self, id: u32) -> ItemView<'_> {
        ItemView::new(self.slabs.chunk(id))
    }

    /// The server time now (seconds since start).
    #[inline]
    pub fn now(&self) -> u32 {
        self.clock.current_time
    }

    /// A client's expiry time (relative, absolute or negative) as server
    /// time (memcached's realtime()).
    #[inline]
    pub fn realtime(&self, exptime: i64) -> u32 {
        self.clock.realtime(exptime)
    }

    /// How long the event loop may sleep before the cache needs a turn,
    /// given `idle_ms` until its next timer and the monotonic time now: 0
    /// while the hash table is moving buckets, the LRU maintainer has
    /// juggles left or a page move can go on (bounded work per turn);
    /// until its next pass while a page move waits for busy items; until
    /// the automove policy's next look while no page moves.
    pub fn timeout_ms(&self, idle_ms: u64, now_us: u64) -> u64 {
        if self.assoc.expanding || self.lru.work_pending() {
            return 0;
        }
        let wait = match &self.slabs.rebal {
            Some(r) if !r.done && r.resume_at_us > now_us => {
                (r.resume_at_us - now_us).div_ceil(1000)
            }
            Some(_) => 0,
            None if self.slabs.automove != 0 => self.slabs.am.next_ms.saturating_sub(now_us / 1000),
            None => idle_ms,
        };
        wait.min(idle_ms)
    }

    /// True if a connection watches the log streams.
    #[inline]
    pub fn has_watchers(&self) -> bool {
        !self.log.watchers.is_empty()
    }

    /// Advances the clock and runs the LRU maintainer over every class
    /// (once a second, and after `debugtime`): ages move on, so HOT and
    /// WARM items may have outgrown their age limits.
    pub fn tick(&mut self) {
        self.clock.tick();
        self.lru_maintainer(true);
    }

    /// Moves a bounded number of hash buckets if the table is expanding;
    /// called on every event loop turn so an expansion started by a burst
    /// of stores finishes soon after it even if the stores stop.
    #[inline]
    pub fn background_work(&mut self) {
        if self.assoc.expanding {
            self.assoc.expand_step(&mut self.slabs, 256);
        }
        if self.slabs.rebal.is_some() {
            self.rebalance_work(REBAL_CHUNKS_PER_TURN, crate::event::monotonic_us());
        }
        if !self.lru.bump_queue.is_empty() {
            self.lru_bumps();
        }
        if self.lru.juggle_mask != 0 {
            self.lru_maintainer(false);
        }
    }
}
