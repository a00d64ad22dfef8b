//! The item engine (memcached's items.c): allocation with eviction,
//! linking into the hash table and LRU, unlinking and freeing, references
//! held by pending replies, lookups with lazy expiry, LRU bumps, and the
//! value's bytes (contiguous or chunked). Logical commands are the store
//! door's (store.rs); the header layout is item.rs's.
//!
//! `refcount` counts connections whose pending output points into this
//! item's memory. An item unlinked while referenced is freed when the last
//! reference is released, so a reply never sends reused memory.

use super::assoc::Assoc;
use super::change::{ChangeLog, Reason};
use super::clock::{Clock, ITEM_UPDATE_INTERVAL};
use super::hash;
use super::item::*;
use super::{Cache, ItemStats, SizeHist};
use crate::cache::lru::{
    ClassItemStats, Lru, LruConfig, CLSID_MASK, COLD_LRU, HOT_LRU, LRU_LISTS, SEG_MASK,
};
use crate::cache::slabs::{read_u32, write_u32, Slabs, NONE};
use crate::logger::{Miss, LOG_EVICTIONS};
use crate::settings::Settings;

/// memcached's item header with CAS: what `-I` limits are computed with, so
/// that exactly the values memcached accepts are accepted here.
const MC_HEADER: usize = 48;

/// Why an item could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// Larger than `-I` allows: `SERVER_ERROR object too large for cache`.
    TooLarge,
    /// No memory and nothing evictable (or `-M`):
    /// `SERVER_ERROR out of memory storing object`.
    NoMemory,
}

impl Cache {
    pub fn new(settings: &Settings) -> Cache {
        let hdr = if settings.use_cas { HDR_CAS } else { HDR_NOCAS };
        let mut cache = Cache {
            slabs: Slabs::new(settings, hdr),
            assoc: Assoc::new(
                settings.hashpower_init,
                settings.hash_expand,
                hash::hash_fn(settings.hash_algorithm),
            ),
            lru: Lru::new(LruConfig::from_settings(settings)),
            clock: Clock::new(),
            stats: ItemStats::default(),
            cas_id: 0,
            use_cas: settings.use_cas,
            evict_to_free: settings.evict_to_free,
            item_size_max: settings.item_size_max as usize,
            oldest_live: 0,
            oldest_cas: 0,
            sizes: None,
            log: crate::logger::Logger::new(settings.watcher_logbuf_size as usize),
            last_miss: Miss::NotFound,
            changes: ChangeLog::default(),
        };
        if settings.track_sizes {
            cache.start_sizes();
        }
        cache
    }

    /// Starts the size histogram; as memcached, this takes a CAS unique
    /// (the lowest an item counted by it can have).
    fn start_sizes(&mut self) {
        let cas_min = if self.use_cas { self.next_cas() } else { 0 };
        self.sizes = Some(SizeHist::new(self.item_size_max, cas_min));
    }

    /// The class an item counts in for the per-class statistics and keeps
    /// its LRU place in (memcached's ITEM_clsid): its chunk's class, or the
    /// largest class for a chunked item.
    #[inline]
    pub(super) fn item_clsid(&self, id: u32) -> u8 {
        self.lru_clsid(self.slabs.chunk(id))
    }

    #[inline]
    fn hdr(&self) -> usize {
        if self.use_cas {
            HDR_CAS
        } else {
            HDR_NOCAS
        }
    }

    /// The next CAS unique.
    pub fn next_cas(&mut self) -> u64 {
        if self.use_cas {
            self.cas_id += 1;
            self.cas_id
        } else {
            0
        }
    }

    /// Raises the CAS counter to at least `v` (used when items come back
    /// with their own CAS values).
    pub(super) fn bump_cas_floor(&mut self, v: u64) {
        if v > self.cas_id {
            self.cas_id = v;
        }
    }

    /// True if a value of `nbytes` with a key of `nkey` bytes fits `-I`,
    /// counted as memcached counts an item so the same values fit.
    pub(super) fn size_ok(&self, nkey: usize, nbytes: usize) -> bool {
        let cas = if self.use_cas { 8 } else { 0 };
        MC_HEADER + cas + nkey + 1 + nbytes + 2 <= self.item_size_max
    }

    /// The per-class LRU counters of every class added up (the general
    /// `stats` group's evictions, reclaimed, moves_to_cold, ...).
    pub fn itemstats_total(&self) -> ClassItemStats {
        let mut t = ClassItemStats::default();
        for s in &self.lru.itemstats {
            t.add(s);
        }
        t
    }

    /// The class whose lists an item is kept on.
    #[inline]
    pub(crate) fn lru_clsid(&self, c: &[u8]) -> u8 {
        if iflags(c) & ITEM_CHUNKED != 0 {
            self.slabs.largest
        } else {
            clsid(c)
        }
    }

    /// Which LRU list an item is kept on: its segment and class.
    #[inline]
    pub(crate) fn lru_id(&self, c: &[u8]) -> u8 {
        lru_seg(c) | self.lru_clsid(c)
    }

    /// Number of data chunks for a chunked value of `nbytes`.
    pub(super) fn chunk_count(&self, nbytes: usize) -> usize {
        let cmax = self.slabs.size(self.slabs.largest);
        nbytes.div_ceil(cmax)
    }

    /// Allocates an unlinked item for `key` with room for `nbytes` of value,
    /// evicting from the LRU tail when its class is full (unless `-M`).
    /// memcached's do_item_alloc.
    pub fn alloc(
        &mut self,
        key: &[u8],
        flags: u32,
        exptime: u32,
        nbytes: usize,
    ) -> Result<u32, AllocError> {
        if !self.size_ok(key.len(), nbytes) {
            return Err(AllocError::TooLarge);
        }
        let hdr = self.hdr();
        let total = hdr + key.len() + nbytes;
        let cmax = self.slabs.size(self.slabs.largest);
        let chunked = total > cmax;
        let head_size = if chunked {
            hdr + key.len() + 4 * self.chunk_count(nbytes)
        } else {
            total
        };
        let cls = self.slabs.clsid(head_size);
        if cls == 0 {
            return Err(AllocError::TooLarge);
        }
        let id = match self.alloc_chunk(cls) {
            Some(id) => id,
            None => {
                self.lru.itemstats[cls as usize].outofmemory += 1;
                return Err(AllocError::NoMemory);
            }
        };
        {
            let c = self.slabs.chunk_mut(id);
            set_prev(c, NONE);
            set_next(c, NONE);
            set_h_next(c, NONE);
            set_time(c, 0);
            set_exptime(c, exptime);
            write_u32(c, OFF_NBYTES, nbytes as u32);
            write_u32(c, OFF_FLAGS, flags);
            c[OFF_NKEY] = key.len() as u8;
            let mut f = if hdr == HDR_CAS { ITEM_CAS } else { 0 };
            if chunked {
                f |= ITEM_CHUNKED;
            }
            set_iflags(c, f);
            c[OFF_CLSID] = cls | COLD_LRU;
            c[OFF_REFCOUNT] = 0;
            set_cas(c, 0);
            c[hdr..hdr + key.len()].copy_from_slice(key);
        }
        if chunked {
            let n = self.chunk_count(nbytes);
            let base = hdr + key.len();
            for i in 0..n {
                let len = (nbytes - i * cmax).min(cmax);
                let ccls = self.slabs.clsid(len);
                match self.alloc_data_chunk(ccls) {
                    Some(cid) => write_u32(self.slabs.chunk_mut(id), base + 4 * i, cid),
                    None => {
                        // Give back what this item took so far.
                        for j in 0..i {
                            let cid = read_u32(self.slabs.chunk(id), base + 4 * j);
                            self.slabs.free(cid, self.slabs.clsid_of(cid));
                        }
                        self.slabs.free(id, cls);
                        return Err(AllocError::NoMemory);
                    }
                }
            }
        }
        Ok(id)
    }

    /// A chunk for part of a chunked value: of class `cls` if that class
    /// has or can free one, else a chunk of the largest class (always big
    /// enough), freed by evicting chunked values. Without this fallback a
    /// class holding only the last chunks of chunked values, which are not
    /// on its LRU, could never free one.
    fn alloc_data_chunk(&mut self, cls: u8) -> Option<u32> {
        if let Some(id) = self.alloc_chunk(cls) {
            return Some(id);
        }
        if cls == self.slabs.largest {
            return None;
        }
        self.alloc_chunk(self.slabs.largest)
    }

    /// One chunk of class `cls`, evicting or reclaiming from that class's
    /// LRU if needed (up to 10 tries, as memcached's do_item_alloc_pull,
    /// whose failed tries count as direct_reclaims).
    fn alloc_chunk(&mut self, cls: u8) -> Option<u32> {
        let mut got = None;
        let mut tries = 0;
        while tries < 10 {
            if let Some(id) = self.slabs.alloc(cls) {
                got = Some(id);
                break;
            }
            tries += 1;
            if !self.lru_pull_for_alloc(cls) {
                break;
            }
        }
        if tries > 0 {
            self.lru.itemstats[cls as usize].direct_reclaims += tries;
        }
        got
    }

    /// Evicts linked item `id` of class `cls` to free memory, counting it
    /// in the class's eviction stats (memcached's eviction branch of
    /// lru_pull_tail); with automove 2 the class then asks for a page.
    pub(crate) fn evict(&mut self, id: u32, cls: u8) {
        let now = self.clock.current_time;
        let c = self.slabs.chunk(id);
        let (f, t, e) = (iflags(c), time(c), exptime(c));
        let st = &mut self.lru.itemstats[cls as usize];
        st.evicted += 1;
        st.evicted_time = now.saturating_sub(t);
        if e != 0 {
            st.evicted_nonzero += 1;
        }
        if f & ITEM_FETCHED == 0 {
            st.evicted_unfetched += 1;
        }
        if f & ITEM_ACTIVE != 0 {
            st.evicted_active += 1;
        }
        log::debug!("evicting item of class {}", cls);
        if self.log.eflags & LOG_EVICTIONS != 0 {
            self.log_eviction(id);
        }
        self.unlink(id, Reason::Evicted);
        self.automove_on_eviction(cls);
    }

    /// Frees one item from the tail of class `cls`'s COLD LRU: an expired
    /// or flushed one if it finds one among the last few, else (unless
    /// `-M`) the oldest unreferenced item. memcached's lru_pull_tail with
    /// LRU_PULL_EVICT, for the flat LRU. Returns false if nothing could be
    /// freed.
    pub(crate) fn pull_tail(&mut self, cls: u8) -> bool {
        let lid = cls | COLD_LRU;
        let ci = cls as usize;
        let mut id = self.lru.tail(lid);
        let mut tries = 5;
        while id != NONE && tries > 0 {
            let c = self.slabs.chunk(id);
            let prev_id = prev(c);
            if refcount(c) == 0 {
                let f = iflags(c);
                if self.is_dead(c) {
                    let st = &mut self.lru.itemstats[ci];
                    if f & ITEM_FETCHED == 0 {
                        st.expired_unfetched += 1;
                    }
                    st.reclaimed += 1;
                    self.unlink(id, Reason::Reclaimed);
                    return true;
                }
                if self.evict_to_free {
                    self.evict(id, cls);
                    return true;
                }
            } else {
                self.lru.itemstats[ci].lrutail_reflocked += 1;
            }
            id = prev_id;
            tries -= 1;
        }
        false
    }

    /// True if the item has expired or was flushed.
    #[inline]
    pub(super) fn is_dead(&self, c: &[u8]) -> bool {
        let e = exptime(c);
        if e != 0 && e <= self.clock.current_time {
            return true;
        }
        self.is_flushed(c)
    }

    /// memcached's item_is_flushed.
    #[inline]
    pub(super) fn is_flushed(&self, c: &[u8]) -> bool {
        let ol = self.oldest_live;
        if ol == 0 || ol > self.clock.current_time {
            return false;
        }
        if time(c) <= ol {
            return true;
        }
        let cas = cas(c);
        self.oldest_cas != 0 && cas != 0 && cas < self.oldest_cas
    }

    /// Links a new item, whose key hashes to `hv`, into the table and its
    /// LRU with a fresh CAS, or `cas` (meta commands' E flag). memcached's
    /// do_item_link.
    pub(super) fn link_hv(&mut self, id: u32, hv: u32, cas: Option<u64>) {
        let cas = match cas {
            Some(v) if self.use_cas => v,
            _ => self.next_cas(),
        };
        self.link_at(id, hv, cas, self.clock.current_time, 0, false);
    }

    /// Links an item restored from a dump: at the tail of its LRU, since
    /// records come hottest first, with the CAS, last-access time and
    /// item flags it had (`extra` holds ITEM_KEY_BINARY, ITEM_FETCHED,
    /// ITEM_ACTIVE, ITEM_STALE, ITEM_TOKEN_SENT bits). A CAS of 0 (a dump
    /// made with -C) takes a fresh one.
    pub(super) fn link_restored(&mut self, id: u32, hv: u32, cas: u64, time: u32, extra: u8) {
        let cas = if cas == 0 { self.next_cas() } else { cas };
        self.bump_cas_floor(cas);
        self.link_at(id, hv, cas, time, extra, true);
    }

    /// Marks the item linked with this CAS, access time and extra flags,
    /// and puts it in the table and at the head (or tail) of its LRU.
    ///
    /// A new item goes to HOT (TEMP for a short TTL, COLD when flat); a
    /// restored one to the tail of COLD (or TEMP), where the maintainer
    /// sends the ACTIVE ones on to WARM (see doc/dump.md).
    fn link_at(&mut self, id: u32, hv: u32, cas: u64, time: u32, extra: u8, tail: bool) {
        let seg = match self.new_item_seg(exptime(self.slabs.chunk(id))) {
            HOT_LRU if tail => COLD_LRU,
            seg => seg,
        };
        set_lru_seg(self.slabs.chunk_mut(id), seg);
        let (lid, total) = {
            let c = self.slabs.chunk(id);
            (self.lru_id(c), ntotal(c))
        };
        if seg != COLD_LRU {
            self.lru.juggle_mask |= 1 << (lid & CLSID_MASK);
            self.lru.linked = self.lru.linked.wrapping_add(1);
        }
        {
            let c = self.slabs.chunk_mut(id);
            let f = iflags(c);
            set_iflags(c, f | ITEM_LINKED | extra);
            set_time(c, time);
            set_cas(c, cas);
        }
        self.assoc.insert(&mut self.slabs, id, hv);
        if tail {
            self.lru.link_tail(&mut self.slabs, id, lid);
        } else {
            self.lru.link(&mut self.slabs, id, lid);
        }
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.curr_bytes += total as u64;
        if let Some(h) = &mut self.sizes {
            h.add(total, cas);
        }
    }

    /// The CAS counter (the last CAS unique handed out).
    pub fn cas_counter(&self) -> u64 {
        self.cas_id
    }

    /// The items of every LRU, most recently used first: the lists are
    /// merged by last-access time, each list already running from newest
    /// to oldest. Dead (expired, flushed) items are left out. Stops when
    /// `f` returns false.
    pub fn for_each_hottest_first(&self, mut f: impl FnMut(u32) -> bool) {
        use std::collections::BinaryHeap;
        let mut heap = BinaryHeap::new();
        for lid in 0..LRU_LISTS {
            let lid = lid as u8;
            let id = self.lru.head(lid);
            if id != NONE {
                heap.push((time(self.slabs.chunk(id)), lid, id));
            }
        }
        while let Some((_, lid, id)) = heap.pop() {
            let c = self.slabs.chunk(id);
            let nx = next(c);
            if !self.is_dead(c) && !f(id) {
                return;
            }
            if nx != NONE {
                heap.push((time(self.slabs.chunk(nx)), lid, nx));
            }
        }
    }

    /// Removes an item from the table and its LRU for reason `why`,
    /// leaving a change record; frees it unless a connection still
    /// references it. memcached's do_item_unlink.
    pub(super) fn unlink(&mut self, id: u32, why: Reason) {
        self.note_removal(why, id);
        let hv = self.assoc.hash(key_of(self.slabs.chunk(id)));
        self.unlink_hv(id, hv);
    }

    /// Takes an item off the table and its LRU, with no record: the
    /// callers are `unlink`, the door (which records) and `replace_hv`
    /// (whose new item is recorded as stored). Frees it unless a
    /// connection still references it.
    pub(super) fn unlink_hv(&mut self, id: u32, hv: u32) {
        self.take_off(id, hv);
        if refcount(self.slabs.chunk(id)) == 0 {
            self.free(id);
        }
    }

    /// Takes a linked item off the table, its LRU and the item counters,
    /// leaving its memory as it is (the page mover decides what becomes
    /// of it).
    pub(super) fn take_off(&mut self, id: u32, hv: u32) {
        let (lid, total, linked) = {
            let c = self.slabs.chunk(id);
            (self.lru_id(c), ntotal(c), iflags(c) & ITEM_LINKED != 0)
        };
        if linked {
            if let Some(h) = &mut self.sizes {
                h.remove(total, cas(self.slabs.chunk(id)));
            }
            self.assoc.delete(&mut self.slabs, id, hv);
            self.lru.unlink(&mut self.slabs, id, lid);
            let c = self.slabs.chunk_mut(id);
            let f = iflags(c);
            set_iflags(c, f & !ITEM_LINKED);
            self.stats.curr_items -= 1;
            self.stats.curr_bytes -= total as u64;
        }
    }

    /// Replaces `old` with `new` (same key, hashing to `hv`) in the table
    /// and LRU.
    pub(super) fn replace_hv(&mut self, old: u32, new: u32, hv: u32, cas: Option<u64>) {
        self.unlink_hv(old, hv);
        self.link_hv(new, hv, cas);
    }

    /// Returns an unlinked, unreferenced item's chunks to the slabs.
    pub(super) fn free(&mut self, id: u32) {
        let (cls, chunked, base, n) = {
            let c = self.slabs.chunk(id);
            debug_assert_eq!(iflags(c) & ITEM_LINKED, 0);
            debug_assert_eq!(refcount(c), 0);
            // Free chunks are marked with a key length of 0 (keys never
            // are empty): catches a double free in debug builds.
            debug_assert_ne!(nkey(c), 0, "double free");
            let chunked = iflags(c) & ITEM_CHUNKED != 0;
            let n = if chunked {
                self.chunk_count(nbytes(c))
            } else {
                0
            };
            (clsid(c), chunked, hdr_size(c) + nkey(c), n)
        };
        if chunked {
            for i in 0..n {
                let cid = read_u32(self.slabs.chunk(id), base + 4 * i);
                self.slabs.free(cid, self.slabs.clsid_of(cid));
            }
        }
        {
            let c = self.slabs.chunk_mut(id);
            c[OFF_NKEY] = 0;
            set_iflags(c, 0);
        }
        self.slabs.free(id, cls);
    }

    /// Takes a reference on an item whose memory a pending reply points
    /// into. Returns false if the counter is saturated (the caller copies
    /// the value instead).
    pub fn pin(&mut self, id: u32) -> bool {
        let c = self.slabs.chunk_mut(id);
        if c[OFF_REFCOUNT] == u8::MAX {
            return false;
        }
        c[OFF_REFCOUNT] += 1;
        true
    }

    /// Drops a reference taken by `pin`; frees the item if it was unlinked
    /// meanwhile and this was the last reference.
    pub fn unpin(&mut self, id: u32) {
        let c = self.slabs.chunk_mut(id);
        debug_assert!(c[OFF_REFCOUNT] > 0);
        c[OFF_REFCOUNT] -= 1;
        if c[OFF_REFCOUNT] == 0 && iflags(c) & ITEM_LINKED == 0 {
            self.free(id);
        }
    }

    /// Looks up a live item by key, unlinking it if it has expired or been
    /// flushed. Does not touch its LRU position. memcached's do_item_get
    /// with DONT_UPDATE.
    pub fn peek(&mut self, key: &[u8]) -> u32 {
        self.peek_hv(key).0
    }

    /// `peek`, also returning the key's hash for a following unlink.
    pub(super) fn peek_hv(&mut self, key: &[u8]) -> (u32, u32) {
        self.last_miss = Miss::NotFound;
        if key.len() > KEY_MAX_LENGTH {
            return (NONE, 0);
        }
        let hv = self.assoc.hash(key);
        let id = self.assoc.find(&self.slabs, key, hv);
        if id != NONE && self.check_live(id, hv) {
            (id, hv)
        } else {
            (NONE, hv)
        }
    }

    /// Looks up a live item and records the access: marks it fetched and
    /// moves it up its LRU if it has not moved for a while.
    pub(super) fn get(&mut self, key: &[u8]) -> u32 {
        let id = self.peek(key);
        if id != NONE {
            self.bump(id);
        }
        id
    }

    /// Records an access to a linked item (memcached's do_item_bump and
    /// do_item_update). Segmented: the first fetch marks the item FETCHED,
    /// the second ACTIVE, refreshing its time but never relinking it; an
    /// item turning ACTIVE on COLD is queued to move to WARM after the
    /// event batch (the hit still counts as a hit to COLD, as memcached's
    /// asynchronous bump does). Flat: FETCHED, ACTIVE, and a move to the
    /// head at most once per ITEM_UPDATE_INTERVAL.
    pub(super) fn bump(&mut self, id: u32) {
        let now = self.clock.current_time;
        let (lid, t, f) = {
            let c = self.slabs.chunk(id);
            (self.lru_id(c), time(c), iflags(c))
        };
        if self.lru.cfg.segmented {
            if f & ITEM_ACTIVE != 0 {
                return;
            }
            let c = self.slabs.chunk_mut(id);
            if f & ITEM_FETCHED == 0 {
                set_iflags(c, f | ITEM_FETCHED);
                return;
            }
            set_iflags(c, f | ITEM_ACTIVE);
            if lid & SEG_MASK != COLD_LRU {
                set_time(c, now);
            } else if self.pin(id) {
                self.lru.bump_queue.push(id);
            } else {
                self.item_update(id);
            }
            return;
        }
        let c = self.slabs.chunk_mut(id);
        if f & ITEM_FETCHED == 0 {
            set_iflags(c, f | ITEM_FETCHED);
        } else if f & ITEM_ACTIVE == 0 {
            set_iflags(c, f | ITEM_ACTIVE);
        }
        if t < now.saturating_sub(ITEM_UPDATE_INTERVAL) {
            set_time(c, now);
            self.lru.bump(&mut self.slabs, id, lid);
        }
    }

    /// Counts a retrieval hit on `id` in its class, by the segment it is
    /// on (memcached's lru_hits; get_hits is their sum).
    #[inline]
    pub(super) fn count_get_hit(&mut self, id: u32) {
        let c = self.slabs.chunk(id);
        let (cls, seg) = (self.lru_clsid(c), (lru_seg(c) >> 6) as usize);
        self.stats.slab_stats[cls].lru_hits[seg] += 1;
    }

    /// Sets or clears item flag bits (ITEM_ACTIVE, ITEM_FETCHED, ...).
    pub(super) fn set_iflag(&mut self, id: u32, bit: u8, on: bool) {
        let c = self.slabs.chunk_mut(id);
        let f = iflags(c);
        set_iflags(c, if on { f | bit } else { f & !bit });
    }

    /// True if the linked item `id` is live; unlinks it (counting why) if
    /// it has expired or been flushed.
    /// Which of the two it was is kept in `last_miss` for the watchers'
    /// `item_get` line. As memcached's do_item_get, a flushed item counts
    /// as flushed even if it has expired too.
    pub(super) fn check_live(&mut self, id: u32, hv: u32) -> bool {
        let c = self.slabs.chunk(id);
        if self.is_flushed(c) {
            self.stats.get_flushed += 1;
            self.last_miss = Miss::Flushed;
            self.note_removal(Reason::Flushed, id);
            self.unlink_hv(id, hv);
            return false;
        }
        let e = exptime(c);
        if e != 0 && e <= self.clock.current_time {
            self.stats.get_expired += 1;
            self.last_miss = Miss::Expired;
            if iflags(c) & ITEM_FETCHED == 0 {
                let cls = self.lru_clsid(c);
                self.lru.itemstats[cls as usize].expired_unfetched += 1;
            }
            self.note_removal(Reason::Expired, id);
            self.unlink_hv(id, hv);
            return false;
        }
        true
    }

    /// Frees an item that was never linked (or already unlinked) if nothing
    /// references it.
    pub fn free_unlinked(&mut self, id: u32) {
        let c = self.slabs.chunk(id);
        if iflags(c) & ITEM_LINKED == 0 && refcount(c) == 0 {
            self.free(id);
        }
    }

    /// Copies the whole value of `src` into `dst`'s value at `dst_off`;
    /// returns the offset after it.
    pub(super) fn copy_value(&mut self, src: u32, dst: u32, mut dst_off: usize) -> usize {
        let n = nbytes(self.slabs.chunk(src));
        let mut src_off = 0;
        let mut tmp = Vec::new();
        while src_off < n {
            tmp.clear();
            tmp.extend_from_slice(self.value_segment(src, src_off));
            let mut done = 0;
            while done < tmp.len() {
                let dst_seg = self.value_segment_mut(dst, dst_off);
                let k = dst_seg.len().min(tmp.len() - done);
                dst_seg[..k].copy_from_slice(&tmp[done..done + k]);
                done += k;
                dst_off += k;
            }
            src_off += tmp.len();
        }
        dst_off
    }

    /// The contiguous run of value bytes starting at value offset `off`
    /// (to the end of the value or of its chunk).
    pub fn value_segment(&self, id: u32, off: usize) -> &[u8] {
        let c = self.slabs.chunk(id);
        let n = nbytes(c);
        let base = hdr_size(c) + nkey(c);
        if iflags(c) & ITEM_CHUNKED == 0 {
            return &c[base + off..base + n];
        }
        let cmax = self.slabs.size(self.slabs.largest);
        let i = off / cmax;
        let cid = read_u32(c, base + 4 * i);
        let len = (n - i * cmax).min(cmax);
        &self.slabs.chunk(cid)[off - i * cmax..len]
    }

    /// Like `value_segment`, writable (for reading a value off the wire
    /// straight into item memory).
    pub fn value_segment_mut(&mut self, id: u32, off: usize) -> &mut [u8] {
        let (n, base, chunked) = {
            let c = self.slabs.chunk(id);
            (
                nbytes(c),
                hdr_size(c) + nkey(c),
                iflags(c) & ITEM_CHUNKED != 0,
            )
        };
        if !chunked {
            return &mut self.slabs.chunk_mut(id)[base + off..base + n];
        }
        let cmax = self.slabs.size(self.slabs.largest);
        let i = off / cmax;
        let cid = read_u32(self.slabs.chunk(id), base + 4 * i);
        let len = (n - i * cmax).min(cmax);
        &mut self.slabs.chunk_mut(cid)[off - i * cmax..len]
    }

    /// Copies a whole value out (small values, incr/decr).
    pub fn value_to_vec(&self, id: u32, out: &mut Vec<u8>) {
        let n = nbytes(self.slabs.chunk(id));
        let mut off = 0;
        while off < n {
            let s = self.value_segment(id, off);
            out.extend_from_slice(s);
            off += s.len();
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cache::{DeltaResult, StoreCmd, StoreItemType};

    /// A cache with the flat LRU and no maintainer: every item on its
    /// class's COLD list, so one list shows the whole order.
    pub(in crate::cache) fn flat_cache() -> Cache {
        Cache::new(&Settings {
            hashpower_init: 4,
            lru_segmented: false,
            lru_maintainer_thread: false,
            ..Settings::default()
        })
    }

    pub(in crate::cache) fn cache() -> Cache {
        Cache::new(&Settings {
            hashpower_init: 4,
            ..Settings::default()
        })
    }

    pub(in crate::cache) fn put(c: &mut Cache, key: &[u8], val: &[u8]) -> u32 {
        let id = c.alloc(key, 0, 0, val.len()).unwrap();
        let mut off = 0;
        while off < val.len() {
            let seg = c.value_segment_mut(id, off);
            let k = seg.len().min(val.len() - off);
            seg[..k].copy_from_slice(&val[off..off + k]);
            off += k;
        }
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Set, 0),
            StoreItemType::Stored
        );
        id
    }

    impl Cache {
        /// incr, decr, cas hits and cas bad values of a class.
        fn slab_stats_of(&self, cls: u8) -> (u64, u64, u64, u64) {
            let s = &self.stats.slab_stats[cls];
            (s.incr_hits, s.decr_hits, s.cas_hits, s.cas_badval)
        }
    }

    pub(in crate::cache) fn value(c: &Cache, id: u32) -> Vec<u8> {
        let mut v = Vec::new();
        c.value_to_vec(id, &mut v);
        v
    }

    #[test]
    fn header_is_smaller_than_memcacheds() {
        let mut c = cache();
        let id = put(&mut c, b"k", b"v");
        // Key starts right after a 40-byte header (memcached: 48 + 8).
        let chunk = c.slabs.chunk(id);
        assert_eq!(hdr_size(chunk), 40);
        assert_eq!(&chunk[40..42], b"kv");
        let mut c = Cache::new(&Settings {
            use_cas: false,
            ..Settings::default()
        });
        let id = put(&mut c, b"k", b"v");
        assert_eq!(hdr_size(c.slabs.chunk(id)), 32);
        assert_eq!(&c.slabs.chunk(id)[32..34], b"kv");
    }

    #[test]
    fn set_get_delete() {
        let mut c = cache();
        put(&mut c, b"foo", b"bar");
        let id = c.get(b"foo");
        assert_ne!(id, NONE);
        assert_eq!(value(&c, id), b"bar");
        assert_eq!(cas(c.slabs.chunk(id)), 1);
        assert!(c.delete(-1, b"foo"));
        assert_eq!(c.get(b"foo"), NONE);
        assert_eq!(c.stats.curr_items, 0);
    }

    #[test]
    fn hash_expansion_midway_keeps_every_key() {
        let mut c = cache();
        // 2^4 buckets: the table starts expanding after 24 items.
        for i in 0..25 {
            put(&mut c, format!("key{}", i).as_bytes(), b"v");
        }
        assert!(c.assoc.expanding);
        for i in 0..25 {
            assert_ne!(
                c.get(format!("key{}", i).as_bytes()),
                NONE,
                "key{} midway",
                i
            );
        }
        assert!(c.delete(-1, b"key3"));
        for i in 25..60 {
            put(&mut c, format!("key{}", i).as_bytes(), b"v");
        }
        for i in 0..60 {
            let found = c.get(format!("key{}", i).as_bytes()) != NONE;
            assert_eq!(found, i != 3, "key{}", i);
        }
        while c.assoc.expand_step(&mut c.slabs, 1) {}
        assert!(c.assoc.hashpower >= 6);
        for i in 0..60 {
            assert_eq!(c.get(format!("key{}", i).as_bytes()) != NONE, i != 3);
        }
    }

    #[test]
    fn chunked_value_round_trip() {
        let mut c = Cache::new(&Settings {
            item_size_max: 4 * 1024 * 1024,
            ..Settings::default()
        });
        let val: Vec<u8> = (0..1_300_000u32).map(|i| (i % 251) as u8).collect();
        put(&mut c, b"big", &val);
        let id = c.get(b"big");
        assert_ne!(iflags(c.slabs.chunk(id)) & ITEM_CHUNKED, 0);
        assert_eq!(value(&c, id), val);
        assert!(c.delete(-1, b"big"));
    }

    #[test]
    fn incr_in_place_pads_with_spaces() {
        let mut c = cache();
        put(&mut c, b"n", b"100");
        assert_eq!(c.add_delta(-1, b"n", false, 1), DeltaResult::Ok(99));
        let id = c.get(b"n");
        assert_eq!(value(&c, id), b"99 ");
        assert_eq!(c.add_delta(-1, b"n", true, 901), DeltaResult::Ok(1000));
        let id = c.get(b"n");
        assert_eq!(value(&c, id), b"1000");
        put(&mut c, b"m", b"18446744073709551615");
        assert_eq!(c.add_delta(-1, b"m", true, 1), DeltaResult::Ok(0));
        assert_eq!(c.add_delta(-1, b"m", false, 5), DeltaResult::Ok(0));
        put(&mut c, b"x", b"abc");
        assert_eq!(c.add_delta(-1, b"x", true, 1), DeltaResult::NonNumeric);
    }

    #[test]
    fn size_histogram_counts_linked_items() {
        let mut c = cache();
        put(&mut c, b"old", b"x");
        assert!(c.sizes.is_none());
        let before = c.cas_counter();
        c.start_sizes();
        assert_eq!(c.cas_counter(), before + 1, "starting takes a cas unique");
        put(&mut c, b"k", b"12345"); // 40 + 1 + 5 = 46: bucket 2 (64)
        put(&mut c, b"kk", &[b'v'; 1000]); // 1042: bucket 33 (1056)
        let h: Vec<_> = c.sizes.as_ref().unwrap().buckets().collect();
        assert_eq!(h, vec![(2, 1), (33, 1)]);
        // Replaced and deleted items come off; the item linked before the
        // histogram started is not counted either way.
        put(&mut c, b"k", b"1");
        assert!(c.delete(-1, b"old"));
        assert!(c.delete(-1, b"kk"));
        let h: Vec<_> = c.sizes.as_ref().unwrap().buckets().collect();
        assert_eq!(h, vec![(2, 1)]);
    }

    #[test]
    fn store_and_arithmetic_count_per_class() {
        let mut c = cache();
        put(&mut c, b"n", b"10");
        let big = vec![b'1'; 200];
        put(&mut c, b"b", &big);
        let (n, b) = (c.peek(b"n"), c.peek(b"b"));
        let (nc, bc) = (c.item_clsid(n), c.item_clsid(b));
        assert_ne!(nc, bc);
        assert_eq!(c.add_delta(-1, b"n", true, 1), DeltaResult::Ok(11));
        assert_eq!(c.add_delta(-1, b"n", false, 1), DeltaResult::Ok(10));
        assert_eq!(c.add_delta(-1, b"zz", true, 1), DeltaResult::NotFound);
        assert_eq!(c.slab_stats_of(nc), (1, 1, 0, 0));
        // A cas store counts in the class of the item it replaces.
        let cas_b = cas(c.slabs.chunk(b));
        let id = c.alloc(b"b", 0, 0, 1).unwrap();
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Cas, cas_b + 1),
            StoreItemType::Exists
        );
        let id = c.alloc(b"b", 0, 0, 1).unwrap();
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Cas, cas_b),
            StoreItemType::Stored
        );
        let id = c.alloc(b"zz", 0, 0, 1).unwrap();
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Cas, 1),
            StoreItemType::NotFound
        );
        assert_eq!(c.slab_stats_of(bc), (0, 0, 1, 1));
        assert_eq!(c.stats.cas_misses, 1);
        let total = c.stats.slab_stats.total();
        assert_eq!((total.cas_hits, total.cas_badval), (1, 1));
    }

    #[test]
    fn eviction_frees_the_oldest() {
        let mut c = Cache::new(&Settings {
            maxbytes: 1024 * 1024,
            ..Settings::default()
        });
        let val = vec![b'x'; 1000];
        for i in 0..3000 {
            put(&mut c, format!("k{}", i).as_bytes(), &val);
        }
        assert!(c.itemstats_total().evicted > 0);
        assert_ne!(c.get(b"k2999"), NONE);
        assert_eq!(c.get(b"k0"), NONE);
    }
}
