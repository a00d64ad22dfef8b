//! The slab page mover (memcached 1.6.45's slabs_mover.c): moves one page
//! of item memory from one class to another in bounded steps on the event
//! loop, rescuing the items it holds, and the automove policy that decides
//! which page should move (`slabs automove 1|2`, memcached's
//! slab_automove.c). slabs.rs owns the pages and the bookkeeping of a move
//! under way; this file owns what happens to the items on the page, and
//! when the mover and the policy run.
//!
//! memcached runs both on a thread of their own, which sleeps between
//! passes over a page and between looks of the policy. Here the event loop
//! gives them a turn instead, and the sleeps become times before which
//! they do nothing (`Cache::timeout_ms` wakes the loop for them).

use std::collections::HashMap;

use super::change::Reason;
use super::item::*;
use super::lru::{COLD_LRU, HOT_LRU, PULL_EVICT};
use super::slabs::{
    read_u32, write_u32, MoveStatus, ReassignResult, CH_COMPLETED, CH_DONE, CH_LISTED, MAX_CLASSES,
    NONE,
};
use super::Cache;
use crate::logger::LOG_EVICTIONS;

/// Chunks of a page being moved looked at per event loop turn.
pub(super) const REBAL_CHUNKS_PER_TURN: u32 = 512;

/// Passes over a page with busy chunks after which the mover takes
/// harder measures (memcached's SLAB_MOVE_MAX_LOOPS): it unlinks a chunked
/// item a reply still points into, and, when it has had no chunk to
/// rescue into all along, it evicts (memory full) or takes a new page.
/// With the waits between passes (1 us doubling up to 5 ms) this is about
/// 25 seconds.
const SLAB_MOVE_MAX_LOOPS: u32 = 5000;

/// Longest wait between two passes over a page, in microseconds.
const BACKOFF_MAX_US: u64 = 5000;

/// The data chunks on the page being moved of every linked chunked item,
/// with their owner and their index in its chunk list (built when first
/// needed in a turn).
type Owners = Option<HashMap<u32, (u32, usize)>>;

impl Cache {
    // ---- the page mover (memcached's slab_rebalance_thread) ----

    /// Does up to `budget` steps of the page move under way, if any;
    /// called on every event loop turn while a move runs. A step first
    /// makes sure the mover holds a free chunk outside the page for the
    /// next rescue (`move_prep`), then looks at the next chunk of the page
    /// (`move_chunk`). A pass over the page that met busy chunks is
    /// followed by another after a wait (1 us, doubling up to 5 ms); after
    /// a pass with none the page is handed on.
    pub fn rebalance_work(&mut self, mut budget: u32, now_us: u64) {
        let mut owners: Owners = None;
        loop {
            let Some(r) = &self.slabs.rebal else {
                return;
            };
            if r.done {
                self.finish_move();
                return;
            }
            if r.resume_at_us > now_us || budget == 0 {
                return;
            }
            budget -= 1;
            self.move_prep();
            self.move_chunk(now_us, &mut owners);
        }
    }

    /// Ends the move: the page goes to its new class (or the pool), and
    /// the automove policy gets its next look at once, as memcached's
    /// thread goes back to it straight after a move.
    fn finish_move(&mut self) {
        self.slabs.finish_move();
        self.slabs.am.next_ms = 0;
    }

    /// Takes a free chunk of the class outside the page for the next
    /// rescue, if the mover has none (memcached's slab_rebalance_prep).
    /// Without one, a move that may evict pulls from the class's COLD
    /// tail (pushing HOT's down when COLD gives nothing), up to ten times;
    /// a move that may not, after SLAB_MOVE_MAX_LOOPS passes, may evict
    /// from then on if all memory is allocated, else takes a new page.
    fn move_prep(&mut self) {
        let (cls, busy_loops, allow) = match &self.slabs.rebal {
            Some(r) if r.new_it == NONE => (r.src, r.busy_loops, r.allow_evictions),
            _ => return,
        };
        let mut got = self.slabs.alloc_for_move(cls, false);
        if got.is_none() {
            let mut allow = allow;
            if !allow && busy_loops > SLAB_MOVE_MAX_LOOPS {
                if self.slabs.mem_limit_reached() {
                    allow = true;
                    if let Some(r) = &mut self.slabs.rebal {
                        r.allow_evictions = true;
                    }
                } else {
                    got = self.slabs.alloc_for_move(cls, true);
                }
            }
            if got.is_none() && allow {
                for _ in 0..10 {
                    if self.lru_pull_tail(cls, COLD_LRU, 0, PULL_EVICT, 0) == 0
                        && self.lru.cfg.segmented
                    {
                        self.lru_pull_tail(cls, HOT_LRU, 0, 0, 0);
                    }
                    got = self.slabs.alloc_for_move(cls, false);
                    if got.is_some() {
                        break;
                    }
                }
            }
        }
        if let (Some(r), Some(id)) = (&mut self.slabs.rebal, got) {
            r.new_it = id;
        }
    }

    /// Looks at the chunk of the page the pass is at (memcached's
    /// slab_rebalance_move), then moves on; at the end of the page, starts
    /// another pass after a wait if some chunks were busy, else marks the
    /// move done.
    fn move_chunk(&mut self, now_us: u64, owners: &mut Owners) {
        let Some(r) = &self.slabs.rebal else { return };
        let idx = r.pos;
        let st = r.state[idx as usize];
        let id = (r.page << 15) | idx;
        if st & CH_COMPLETED == 0 {
            let status = if st & CH_DONE != 0 {
                // Emptied since the pass started.
                if let Some(r) = &mut self.slabs.rebal {
                    r.state[idx as usize] |= CH_COMPLETED;
                }
                MoveStatus::Pass
            } else if st & CH_LISTED != 0 {
                self.slabs.claim_listed(idx);
                MoveStatus::FromSlab
            } else {
                self.move_item(id, owners)
            };
            if let Some(r) = &mut self.slabs.rebal {
                r.last_status = status;
            }
        }
        let Some(r) = &mut self.slabs.rebal else {
            return;
        };
        r.pos += 1;
        if r.pos as usize >= r.state.len() {
            if r.busy > 0 {
                let ms = &mut self.slabs.move_stats;
                ms.busy_items += r.busy as u64;
                ms.last_busy_status = r.last_status;
                r.busy = 0;
                r.busy_loops += 1;
                r.pos = 0;
                r.resume_at_us = now_us.saturating_add(r.backoff_us);
                r.backoff_us = (r.backoff_us * 2).min(BACKOFF_MAX_US);
            } else {
                r.done = true;
            }
        }
    }

    /// A chunk of the page in use: the head of a linked item, a data chunk
    /// of a linked chunked item, or anything else (memory a connection is
    /// filling, or an item unlinked while a reply still points into it),
    /// which is busy until it is freed. A linked item that has expired or
    /// was flushed is unlinked; else it is copied into the chunk the mover
    /// holds and the copy takes its place (a data chunk: the owner's chunk
    /// list is pointed at the copy), or, with no chunk to copy into, it is
    /// busy until one comes. An item a reply still points into is copied
    /// all the same and the old one left to its readers; a chunked one
    /// cannot be, and is unlinked after SLAB_MOVE_MAX_LOOPS passes.
    fn move_item(&mut self, id: u32, owners: &mut Owners) -> MoveStatus {
        let (cls, loops) = match &self.slabs.rebal {
            Some(r) => (r.src, r.busy_loops),
            None => return MoveStatus::None,
        };
        let (head, chunk) = if self.is_linked_head(id, cls) {
            (id, None)
        } else {
            match self.find_owner(id, owners) {
                Some((head, i)) => (head, Some(i)),
                None => {
                    self.count_busy(false);
                    return MoveStatus::BusyFloating;
                }
            }
        };
        let c = self.slabs.chunk(head);
        let pinned = refcount(c) > 0;
        let chunked = iflags(c) & ITEM_CHUNKED != 0;
        let status = if pinned {
            MoveStatus::BusyActive
        } else {
            MoveStatus::FromLru
        };
        if self.is_dead(c) {
            // Expired or flushed: not worth saving.
            if chunk.is_none() && !chunked && !pinned {
                self.note_removal(Reason::Reclaimed, id);
                let hv = self.assoc.hash(key_of(self.slabs.chunk(id)));
                self.take_off(id, hv);
                self.keep_for_move(id);
            } else {
                // Its memory comes back through the free list (or when
                // its last reader is done) for the next pass to find.
                self.unlink(head, Reason::Reclaimed);
                self.count_busy(false);
            }
            return status;
        }
        let new = self.slabs.rebal.as_ref().map_or(NONE, |r| r.new_it);
        if new == NONE {
            self.count_busy(true);
            return status;
        }
        if !pinned {
            match chunk {
                None => {
                    self.rescue_head(id, new);
                    self.keep_for_move(id);
                    if let Some(r) = &mut self.slabs.rebal {
                        r.rescues += 1;
                    }
                }
                Some(i) => {
                    self.rescue_data_chunk(head, i, id, new);
                    self.slabs.take_for_move(id, true);
                    if let Some(r) = &mut self.slabs.rebal {
                        r.chunk_rescues += 1;
                    }
                }
            }
            if let Some(r) = &mut self.slabs.rebal {
                r.new_it = NONE;
            }
            return status;
        }
        if chunk.is_none() && !chunked {
            // The copy serves from now on; the old memory is freed when
            // its readers are done, and a later pass finds it free.
            self.rescue_head(id, new);
            if let Some(r) = &mut self.slabs.rebal {
                r.rescues += 1;
                r.new_it = NONE;
            }
        } else if loops > SLAB_MOVE_MAX_LOOPS {
            if self.log.eflags & LOG_EVICTIONS != 0 {
                self.log_eviction(head);
            }
            self.unlink(head, Reason::Moved);
            if let Some(r) = &mut self.slabs.rebal {
                r.busy_deletes += 1;
            }
        }
        self.count_busy(false);
        status
    }

    /// Counts a busy chunk in this pass (and, for want of a chunk to
    /// rescue into, in `slab_reassign_busy_nomem`).
    fn count_busy(&mut self, nomem: bool) {
        if let Some(r) = &mut self.slabs.rebal {
            r.busy += 1;
            if nomem {
                r.busy_nomem += 1;
            }
        }
    }

    /// The chunk of an item the mover took off (rescued or expired) is
    /// marked free and kept for the move, not put on the free list.
    fn keep_for_move(&mut self, id: u32) {
        let c = self.slabs.chunk_mut(id);
        c[OFF_NKEY] = 0;
        set_iflags(c, 0);
        c[OFF_REFCOUNT] = 0;
        self.slabs.take_for_move(id, true);
    }

    /// Copies the linked item `old` into the free chunk `new` of the same
    /// class and links the copy in its place, as memcached's
    /// do_item_replace does: at the head of the same LRU list, its time
    /// the current time, its CAS, flags and value kept, counted in
    /// `total_items`. `old` is unlinked (its memory is the caller's).
    fn rescue_head(&mut self, old: u32, new: u32) {
        let tmp = self.slabs.chunk(old).to_vec();
        let hv = self.assoc.hash(key_of(&tmp));
        self.take_off(old, hv);
        let now = self.clock.current_time;
        let c = self.slabs.chunk_mut(new);
        c.copy_from_slice(&tmp);
        set_prev(c, NONE);
        set_next(c, NONE);
        set_h_next(c, NONE);
        c[OFF_REFCOUNT] = 0;
        set_iflags(c, iflags(&tmp) | ITEM_LINKED);
        set_time(c, now);
        let (lid, total, cas) = {
            let c = self.slabs.chunk(new);
            (self.lru_id(c), ntotal(c), cas(c))
        };
        self.assoc.insert(&mut self.slabs, new, hv);
        self.lru.link(&mut self.slabs, new, lid);
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.curr_bytes += total as u64;
        if let Some(h) = &mut self.sizes {
            h.add(total, cas);
        }
    }

    /// Copies data chunk `id`, number `i` of chunked item `head`, into the
    /// free chunk `new` and points the item's chunk list at the copy.
    fn rescue_data_chunk(&mut self, head: u32, i: usize, id: u32, new: u32) {
        let tmp = self.slabs.chunk(id).to_vec();
        self.slabs.chunk_mut(new).copy_from_slice(&tmp);
        let base = {
            let c = self.slabs.chunk(head);
            hdr_size(c) + nkey(c)
        };
        write_u32(self.slabs.chunk_mut(head), base + 4 * i, new);
    }

    /// The linked chunked item that has data chunk `id`, and the chunk's
    /// index in its list. The map of owners is built once per turn: within
    /// a turn only the mover runs, and it never gives a chunk of the page
    /// to an item, so an owner it lacks cannot appear; one it has may have
    /// been unlinked or rescued meanwhile, which `owns_chunk` checks.
    fn find_owner(&self, id: u32, owners: &mut Owners) -> Option<(u32, usize)> {
        let map = owners.get_or_insert_with(|| self.chunk_owners(id >> 15));
        let &(head, i) = map.get(&id)?;
        self.owns_chunk(head, i, id).then_some((head, i))
    }

    /// True if the linked chunked item `head` has data chunk `id` at
    /// index `i` of its chunk list.
    fn owns_chunk(&self, head: u32, i: usize, id: u32) -> bool {
        let c = self.slabs.chunk(head);
        let f = iflags(c);
        if nkey(c) == 0 || f & ITEM_LINKED == 0 || f & ITEM_CHUNKED == 0 {
            return false;
        }
        let base = hdr_size(c) + nkey(c);
        i < self.chunk_count(nbytes(c))
            && base + 4 * i + 4 <= c.len()
            && read_u32(c, base + 4 * i) == id
    }

    /// True if chunk `id` of class `cls` is the head of a linked item: its
    /// header says so and the hash table finds it under its key (a data
    /// chunk's bytes could look like a header, never like a linked one).
    fn is_linked_head(&self, id: u32, cls: u8) -> bool {
        let c = self.slabs.chunk(id);
        if nkey(c) == 0 || iflags(c) & ITEM_LINKED == 0 || clsid(c) != cls {
            return false;
        }
        if hdr_size(c) + nkey(c) > c.len() {
            return false;
        }
        let key = key_of(c);
        self.assoc.find(&self.slabs, key, self.assoc.hash(key)) == id
    }

    /// The data chunks on page `page` of every linked chunked item, with
    /// their owner and their index in its chunk list. Chunked items are all
    /// on the largest class's lists, so this walk is short.
    fn chunk_owners(&self, page: u32) -> HashMap<u32, (u32, usize)> {
        let mut map = HashMap::new();
        for seg in [0u8, 64, 128, 192] {
            let mut it = self.lru.head(seg | self.slabs.largest);
            while it != NONE {
                let c = self.slabs.chunk(it);
                if iflags(c) & ITEM_CHUNKED != 0 {
                    let base = hdr_size(c) + nkey(c);
                    for i in 0..self.chunk_count(nbytes(c)) {
                        let cid = read_u32(c, base + 4 * i);
                        if cid >> 15 == page {
                            map.insert(cid, (it, i));
                        }
                    }
                }
                it = next(c);
            }
        }
        map
    }

    // ---- automove ----

    /// Starts a page move for a class that just evicted (automove 2,
    /// memcached's slabs_reassign(-1, class) in lru_pull_tail); that move
    /// may evict in turn.
    pub(super) fn automove_on_eviction(&mut self, cls: u8) {
        if self.slabs.automove == 2 && self.slabs.rebal.is_none() {
            self.slabs.reassign(-1, cls as i32, true);
        }
    }

    /// `slabs automove ratio|freeratio|window` (and the options at start):
    /// the policy starts over with these at its next look, its history
    /// forgotten, as memcached's does when its settings change.
    pub fn set_automove_tuning(&mut self, ratio: f64, window: u32) {
        let am = &mut self.slabs.am;
        am.ratio = ratio;
        am.window_next = window.max(1);
        am.stale = true;
    }

    /// The automove policy's turn, on every event loop turn (memcached's
    /// slab_rebalance_check_automove and the waits of its thread). While
    /// no page moves, the policy looks every 100 ms, and once a second
    /// after more than ten looks in a row decided nothing; after it starts
    /// a move it looks again as soon as the move ends, but starts at most
    /// one move a second to a class (moves to the global pool are not so
    /// limited). Modes 1 and 2 both run it.
    pub fn automove_work(&mut self, now_ms: u64) {
        if self.slabs.automove == 0 || self.slabs.rebal.is_some() || now_ms < self.slabs.am.next_ms
        {
            return;
        }
        let sec = now_ms / 1000;
        let mut moved = false;
        if self.slabs.am.last_move_sec != Some(sec) {
            if let Some((src, dst)) = self.automove_decide() {
                // As memcached, a refused move counts as a decision too.
                let _: ReassignResult = self.slabs.reassign(src as i32, dst as i32, false);
                if dst != 0 {
                    self.slabs.am.last_move_sec = Some(sec);
                }
                moved = true;
            }
        }
        let am = &mut self.slabs.am;
        if moved {
            am.idle = 0;
            am.next_ms = now_ms;
        } else {
            am.next_ms = now_ms + if am.idle > 10 { 1000 } else { 100 };
            am.idle += 1;
        }
    }

    /// How each class looks to the automove policy now: evictions and
    /// failed allocations so far, the age of its COLD tail, free chunks,
    /// chunks per page and pages (memcached's fill_item_stats_automove and
    /// fill_slab_stats_automove).
    fn automove_sample(&self) -> Vec<AmSample> {
        let now = self.clock.current_time;
        let mut out = vec![AmSample::default(); MAX_CLASSES + 1];
        for cls in 1..=self.slabs.largest {
            let ci = cls as usize;
            let st = &self.lru.itemstats[ci];
            let t = self.lru.tail(cls | COLD_LRU);
            let c = &self.slabs.classes[ci];
            out[ci] = AmSample {
                evicted: st.evicted,
                outofmemory: st.outofmemory,
                age: if t == NONE {
                    0
                } else {
                    now.wrapping_sub(time(self.slabs.chunk(t)))
                },
                free_chunks: self.slabs.free_chunks(cls),
                chunks_per_page: c.perslab,
                total_pages: c.pages,
            };
        }
        out
    }

    /// One look of the automove policy (memcached 1.6.45's
    /// slab_automove_run). Each look fills one slot per class of a window
    /// of `slab_automove_window` looks: the age of the class's COLD tail,
    /// whether it evicted (and its share of all evictions since the last
    /// look), and whether it was dirty (evicted, failed to allocate or
    /// took a page). Then, class by class:
    ///
    /// - with all memory allocated, a class with free chunks worth more
    ///   than two and a half pages and no dirty slot in its window gives a
    ///   page to the global pool (the first such class; nothing else is
    ///   decided then);
    /// - the oldest class is the one with the highest average age that
    ///   has more than two pages; the youngest the one with the lowest
    ///   average age that evicted in more than half its window or had more
    ///   than a quarter of the evictions on average.
    ///
    /// Once the window has filled, a page moves from the oldest class to
    /// the youngest if the youngest evicted in this look and its age is
    /// below `slab_automove_ratio` times the oldest's.
    fn automove_decide(&mut self) -> Option<(u8, u8)> {
        let after = self.automove_sample();
        let mem_full = self.slabs.mem_limit_reached();
        let largest = self.slabs.largest as usize;
        let am = &mut self.slabs.am;
        if am.stale {
            am.restart(after.clone());
        }
        am.decide(after, mem_full, largest)
    }
}

/// One class as a look of the automove policy sees it.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct AmSample {
    evicted: u64,
    outofmemory: u64,
    age: u32,
    free_chunks: u64,
    chunks_per_page: u32,
    total_pages: u32,
}

/// One slot of a class's window.
#[derive(Debug, Default, Clone, Copy)]
struct AmSlot {
    age: u64,
    dirty: u64,
    evicted_ratio: f32,
    evicted_seen: u64,
}

/// The automove policy's state: its window of looks per class, how each
/// class looked last time, and when it looks next.
#[derive(Debug)]
pub struct Automove {
    /// Looks per window, and the window to take at the next restart.
    window: u32,
    window_next: u32,
    /// `slab_automove_ratio`.
    ratio: f64,
    /// Looks so far (memcached's window_cur).
    looks: u32,
    /// `window` slots per class id 0..=MAX_CLASSES.
    slots: Vec<AmSlot>,
    /// Each class at the last look.
    before: Vec<AmSample>,
    /// The settings changed: start over at the next look.
    stale: bool,
    /// No look before this (monotonic milliseconds).
    pub next_ms: u64,
    /// Looks in a row that decided nothing.
    idle: u32,
    /// The second of the last move the policy started to a class.
    last_move_sec: Option<u64>,
}

impl Automove {
    pub fn new(window: u32, ratio: f64) -> Automove {
        let window = window.max(1);
        Automove {
            window,
            window_next: window,
            ratio,
            looks: 0,
            slots: vec![AmSlot::default(); (MAX_CLASSES + 1) * window as usize],
            before: vec![AmSample::default(); MAX_CLASSES + 1],
            stale: false,
            next_ms: 0,
            idle: 0,
            last_move_sec: None,
        }
    }

    /// Starts over with the settings as they now are: an empty window, and
    /// the classes as they are now for the next differences.
    fn restart(&mut self, now: Vec<AmSample>) {
        self.window = self.window_next;
        self.looks = 0;
        self.slots = vec![AmSlot::default(); (MAX_CLASSES + 1) * self.window as usize];
        self.before = now;
        self.stale = false;
    }

    /// The decision of one look given how the classes look now (see
    /// `Cache::automove_decide`).
    fn decide(&mut self, after: Vec<AmSample>, mem_full: bool, largest: usize) -> Option<(u8, u8)> {
        let size = self.window as usize;
        let classes = 1..=largest;
        let evicted_total = after[classes.clone()]
            .iter()
            .zip(&self.before[classes.clone()])
            .fold(0u64, |t, (a, b)| {
                t.wrapping_add(a.evicted.wrapping_sub(b.evicted))
            });
        self.looks = self.looks.wrapping_add(1);
        let cur = self.looks as usize % size;
        let mut reclaim = None;
        let (mut oldest, mut oldest_age) = (0usize, 0u64);
        let (mut youngest, mut youngest_age, mut youngest_evicting) = (0usize, u64::MAX, false);
        for n in classes {
            let (a, b) = (&after[n], &self.before[n]);
            let mut slot = AmSlot {
                age: a.age as u64,
                ..AmSlot::default()
            };
            let evicted = a.evicted.wrapping_sub(b.evicted);
            if evicted > 0 {
                slot.evicted_ratio = evicted as f32 / evicted_total as f32;
                slot.evicted_seen = 1;
                slot.dirty = 1;
            }
            if (a.outofmemory as i64).wrapping_sub(b.outofmemory as i64) > 0
                || a.total_pages as i64 - b.total_pages as i64 > 0
            {
                slot.dirty = 1;
            }
            let w = &mut self.slots[n * size..(n + 1) * size];
            w[cur] = slot;
            let (mut age, mut dirty, mut ratio, mut seen) = (0u64, 0u64, 0f32, 0u64);
            for s in w.iter() {
                age += s.age;
                dirty += s.dirty;
                ratio += s.evicted_ratio;
                seen += s.evicted_seen;
            }
            let age = age / size as u64;
            if a.free_chunks as f64 > a.chunks_per_page as f64 * MIN_PAGES_FOR_RECLAIM
                && mem_full
                && dirty == 0
            {
                reclaim = Some((n as u8, 0));
                break;
            }
            if age > oldest_age && a.total_pages > MIN_PAGES_FOR_SOURCE {
                oldest = n;
                oldest_age = age;
            }
            if age < youngest_age
                && (seen > (size / 2) as u64 || (ratio / size as f32) as f64 > 0.25)
            {
                youngest = n;
                youngest_age = age;
                youngest_evicting = slot.evicted_seen != 0;
            }
        }
        self.before = after;
        if reclaim.is_some() {
            return reclaim;
        }
        if youngest != 0
            && oldest != 0
            && self.looks as usize > size
            && (youngest_age as f64) < oldest_age as f64 * self.ratio
            && youngest_evicting
        {
            return Some((oldest as u8, youngest as u8));
        }
        None
    }
}

/// A class is a source for automove only with more pages than this.
const MIN_PAGES_FOR_SOURCE: u32 = 2;
/// Free chunks worth more than this many pages make a class give a page
/// back.
const MIN_PAGES_FOR_RECLAIM: f64 = 2.5;

#[cfg(test)]
mod tests {
    use super::super::items::tests::{flat_cache, put, value};
    use super::super::slabs::ReassignResult;
    use super::*;
    use crate::settings::Settings;

    /// The keys of class `cls`'s COLD list, head first.
    fn lru_keys(c: &Cache, cls: u8) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut id = c.lru.head(cls | COLD_LRU);
        while id != NONE {
            out.push(key_of(c.slabs.chunk(id)).to_vec());
            id = next(c.slabs.chunk(id));
        }
        out
    }

    fn key(i: usize) -> Vec<u8> {
        format!("k{}", i).into_bytes()
    }

    fn val(i: usize) -> Vec<u8> {
        format!("{:06}", i).into_bytes()
    }

    /// Runs the move under way to its end, passes back to back.
    fn run_move(c: &mut Cache) {
        while c.slabs.rebal.is_some() {
            c.rebalance_work(REBAL_CHUNKS_PER_TURN, u64::MAX);
        }
    }

    /// Runs passes of the move under way until `f` holds of it.
    fn run_until(c: &mut Cache, f: impl Fn(&super::super::slabs::Rebal) -> bool) {
        while !f(c.slabs.rebal.as_ref().expect("move still running")) {
            c.rebalance_work(1, u64::MAX);
        }
    }

    #[test]
    fn a_page_move_rescues_into_free_chunks_and_evicts_for_the_rest() {
        // The flat LRU: the one COLD list shows the whole order.
        let mut c = flat_cache();
        let per = c.slabs.classes[1].perslab as usize;
        for i in 0..3 * per {
            put(&mut c, &key(i), &val(i));
        }
        // Room elsewhere for all but 20 items of the first page.
        for i in per..2 * per - 20 {
            c.delete(-1, &key(i));
        }
        let a19 = c.peek(&key(19));
        assert_eq!(c.slabs.reassign(1, 5, true), ReassignResult::Ok);
        c.clock.offset += 7;
        c.clock.tick();
        run_move(&mut c);
        // The page holds k0 in its last chunk and k(per-1) in its first:
        // the mover rescues from k(per-1) down to k20, then, with no free
        // chunk left, evicts the COLD tail ten at a time: k0..k9 free
        // chunks of the page itself (inline reclaims) while k19 must wait
        // (busy for want of memory), then k10..k19, and one more (the
        // oldest item of the second page) to hold a chunk for the next
        // rescue.
        let ms = &c.slabs.move_stats;
        assert_eq!(
            (ms.slabs_moved, ms.rescues, ms.inline_reclaim),
            (1, per as u64 - 20, 20)
        );
        assert_eq!((ms.busy_items, ms.busy_nomem, ms.busy_deletes), (1, 1, 0));
        assert_eq!(ms.last_busy_status, MoveStatus::Pass);
        let evicted: u64 = c.lru.itemstats[1].evicted;
        assert_eq!(evicted, 21);
        assert_eq!(c.slabs.classes[1].pages, 2);
        assert_eq!(c.slabs.classes[5].pages, 1);
        assert_eq!(c.slabs.free_chunks(1), 1, "the kept chunk went back");
        // Rescued items went to the head of COLD, the last rescued first,
        // their time the time of the move; the rest kept their order.
        let keys = lru_keys(&c, 1);
        let rescued: Vec<Vec<u8>> = (20..per).map(key).collect();
        assert_eq!(&keys[..per - 20], &rescued[..]);
        let rest: Vec<Vec<u8>> = (2 * per - 19..3 * per).rev().map(key).collect();
        assert_eq!(&keys[per - 20..], &rest[..]);
        let id = c.peek(&key(20));
        assert_eq!(time(c.slabs.chunk(id)), c.clock.current_time);
        assert_ne!(c.peek(&key(19)), a19);
        assert_eq!(c.peek(&key(19)), NONE);
        assert_eq!(c.peek(&key(2 * per - 20)), NONE);
        for i in (20..per).chain(2 * per - 19..3 * per) {
            let id = c.peek(&key(i));
            assert_eq!(value(&c, id), val(i), "k{}", i);
        }
        assert_eq!(c.stats.curr_items as usize, per - 20 + 19 + per);
        assert_eq!(c.stats.total_items as usize, 3 * per + per - 20);
        c.lru.check(&c.slabs);
    }

    #[test]
    fn a_pinned_item_is_copied_and_its_old_memory_waited_for() {
        let mut c = flat_cache();
        let per = c.slabs.classes[1].perslab as usize;
        for i in 0..3 * per {
            put(&mut c, &key(i), &val(i));
        }
        for i in per..2 * per {
            c.delete(-1, &key(i));
        }
        let old = c.peek(&key(3));
        assert!(c.pin(old));
        assert_eq!(c.slabs.reassign(1, 5, true), ReassignResult::Ok);
        run_until(&mut c, |r| r.busy_loops == 1);
        // The copy serves k3 at once; a reply still reads the old memory.
        let new = c.peek(&key(3));
        assert_ne!(new, old);
        assert_eq!(value(&c, new), val(3));
        assert_eq!(value(&c, old), val(3));
        // As memcached's, the status shown is that of the last chunk the
        // pass looked at (k0, rescued), not of the busy one ...
        assert_eq!(c.slabs.move_stats.last_busy_status, MoveStatus::FromLru);
        // ... which the next passes are left with.
        run_until(&mut c, |r| r.busy_loops == 3);
        let ms = &c.slabs.move_stats;
        assert_eq!(ms.last_busy_status, MoveStatus::BusyFloating);
        assert_eq!((ms.busy_items, ms.rescues), (3, 0), "counted at the end");
        c.unpin(old);
        run_move(&mut c);
        let ms = &c.slabs.move_stats;
        assert_eq!(
            (ms.slabs_moved, ms.rescues, ms.busy_deletes),
            (1, per as u64, 0)
        );
        assert_eq!(ms.busy_items, 3);
        // The page's items took every free chunk, k3's copy included: the
        // second pass, holding none, evicted the oldest item to have one.
        assert_eq!(c.lru.itemstats[1].evicted, 1);
        assert_eq!(c.peek(&key(2 * per)), NONE);
        assert_eq!(c.stats.curr_items as usize, 2 * per - 1);
        for i in (0..per).chain(2 * per + 1..3 * per) {
            let id = c.peek(&key(i));
            assert_eq!(value(&c, id), val(i));
        }
        c.lru.check(&c.slabs);
    }

    #[test]
    fn a_page_move_leaves_the_crawl_cursor_on_a_linked_item() {
        let mut c = flat_cache();
        let per = c.slabs.classes[1].perslab as usize;
        for i in 0..3 * per {
            put(&mut c, &key(i), &val(i));
        }
        for i in per..2 * per {
            c.delete(-1, &key(i));
        }
        // A crawl paused on an item of the page about to move.
        let id = c.peek(&key(5));
        c.lru.crawl_cursor = id;
        assert_eq!(c.slabs.reassign(1, 5, true), ReassignResult::Ok);
        run_move(&mut c);
        let moved = c.peek(&key(5));
        assert_ne!(moved, id, "k5 was rescued into another chunk");
        // It moved on to k5's neighbour toward the head when k5 left: the
        // oldest item of the third page (k6 had gone to the head before).
        let next = c.peek(&key(2 * per));
        assert_eq!(c.lru.crawl_cursor, next);
        assert_eq!(value(&c, moved), val(5));
    }

    #[test]
    fn a_page_move_rescues_data_chunks_and_evicts_to_keep_one() {
        let mut c = Cache::new(&Settings {
            item_size_max: 4 * 1024 * 1024,
            ..Settings::default()
        });
        let vals: Vec<Vec<u8>> = (0..3u8)
            .map(|k| (0..600_000u32).map(|i| (i % 251) as u8 ^ k).collect())
            .collect();
        for (i, v) in vals.iter().enumerate() {
            put(&mut c, format!("big{}", i).as_bytes(), v);
        }
        let largest = c.slabs.largest;
        assert_eq!(c.slabs.classes[largest as usize].pages, 2);
        assert_eq!(
            c.slabs.reassign(largest as i32, 3, true),
            ReassignResult::Ok
        );
        run_move(&mut c);
        // big1's data chunk (first on the page) is rescued into the free
        // chunk of the other page; then the mover, with no chunk kept,
        // evicts the oldest (big0, freeing its chunk on the page) and the
        // next (big1, freeing the chunk it had just been given).
        let ms = &c.slabs.move_stats;
        assert_eq!((ms.chunk_rescues, ms.inline_reclaim), (1, 1));
        assert_eq!(c.lru.itemstats[largest as usize].evicted, 2);
        assert_eq!(c.get(b"big0"), NONE);
        assert_eq!(c.get(b"big1"), NONE);
        let id = c.get(b"big2");
        assert_eq!(value(&c, id), vals[2]);
        assert_eq!(c.slabs.free_chunks(largest), 1);
    }

    #[test]
    fn a_busy_chunked_item_is_unlinked_after_the_last_pass() {
        let mut c = Cache::new(&Settings {
            item_size_max: 4 * 1024 * 1024,
            ..Settings::default()
        });
        let v: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        for i in 0..5 {
            put(&mut c, format!("big{}", i).as_bytes(), &v);
        }
        // Free chunks enough that the mover never needs to evict (an
        // eviction would take big0, the oldest, busy or not).
        c.delete(-1, b"big2");
        c.delete(-1, b"big3");
        let largest = c.slabs.largest;
        let pinned = c.peek(b"big0");
        assert!(c.pin(pinned));
        c.listen_changes(true);
        assert_eq!(
            c.slabs.reassign(largest as i32, 3, true),
            ReassignResult::Ok
        );
        run_until(&mut c, |r| r.busy_loops == SLAB_MOVE_MAX_LOOPS + 1);
        assert_ne!(c.peek(b"big0"), NONE, "waited for so far");
        c.rebalance_work(2, u64::MAX);
        assert_eq!(c.peek(b"big0"), NONE);
        assert_eq!(c.slabs.rebal.as_ref().unwrap().busy_deletes, 1);
        let recs: Vec<(Reason, Vec<u8>)> = c
            .changes()
            .iter()
            .map(|r| (r.reason, r.key.to_vec()))
            .collect();
        assert_eq!(recs, vec![(Reason::Moved, b"big0".to_vec())]);
        c.unpin(pinned);
        run_move(&mut c);
        let ms = &c.slabs.move_stats;
        assert_eq!(
            (ms.busy_deletes, ms.chunk_rescues, ms.slabs_moved),
            (1, 1, 1)
        );
        let id = c.get(b"big1");
        assert_eq!(value(&c, id), v);
    }

    /// A cache whose class 1 took all of `mb` megabytes of memory, then
    /// had every item deleted.
    fn emptied(mb: u64, window: u32) -> Cache {
        let mut c = Cache::new(&Settings {
            maxbytes: mb * 1024 * 1024,
            slab_automove_window: window,
            ..Settings::default()
        });
        let per = c.slabs.classes[1].perslab as usize;
        let n = mb as usize * per + 10;
        for i in 0..n {
            put(&mut c, &key(i), &val(i));
        }
        for i in 0..n {
            c.delete(-1, &key(i));
        }
        c
    }

    #[test]
    fn automove_gives_free_pages_back_once_memory_is_full() {
        let mut c = emptied(6, 3);
        let per = c.slabs.classes[1].perslab as u64;
        assert_eq!(c.lru.itemstats[1].evicted, 10);
        // The first look sees the class take its pages and evict: dirty.
        // Three clean looks later (100 ms apart) its window is clean.
        let mut now = 1000;
        for _ in 0..3 {
            c.automove_work(now);
            assert!(c.slabs.rebal.is_none());
            now += 100;
        }
        c.automove_work(now);
        assert_eq!(c.slabs.rebal.as_ref().map(|r| (r.src, r.dst)), Some((1, 0)));
        // Each page of free chunks goes at once, the policy looking again
        // right after each move, until two and a half pages are left.
        for _ in 0..10 {
            run_move(&mut c);
            c.automove_work(now);
        }
        assert_eq!(c.slabs.pool_pages(), 4);
        assert_eq!(c.slabs.classes[1].pages, 2);
        assert_eq!(c.slabs.free_chunks(1), 2 * per);
        // The items that replaced the ten evicted ones were deleted last:
        // their chunks, on the first page, top the free list.
        assert_eq!(c.slabs.move_stats.inline_reclaim, 10);
        assert_eq!(c.slabs.am.next_ms, now + 100);
    }

    #[test]
    fn automove_keeps_free_pages_while_memory_is_not_all_used() {
        let mut c = emptied(6, 3);
        c.slabs.set_limit(7 * 1024 * 1024);
        let mut now = 0;
        for _ in 0..30 {
            c.automove_work(now);
            assert!(c.slabs.rebal.is_none());
            now += 1000;
        }
        // After eleven idle looks, one a second.
        assert_eq!(c.slabs.am.next_ms, now - 1000 + 1000);
        assert_eq!(c.slabs.am.looks, 30);
    }

    #[test]
    fn automove_feeds_an_evicting_class_from_the_oldest() {
        let mut am = Automove::new(3, 0.8);
        let sample = |evicted: u64, age: u32, pages: u32| AmSample {
            evicted,
            outofmemory: 0,
            age,
            free_chunks: 0,
            chunks_per_page: 100,
            total_pages: pages,
        };
        let mut evicted = 0;
        let mut last = None;
        for look in 1..=5 {
            evicted += 10;
            let mut now = vec![AmSample::default(); MAX_CLASSES + 1];
            now[2] = sample(evicted, 10, 2);
            now[5] = sample(0, 1000, 3);
            last = am.decide(now, true, 10);
            if look <= 3 {
                assert_eq!(last, None, "the window has not filled");
            }
        }
        assert_eq!(last, Some((5, 2)));
        // Not while the young class stops evicting.
        let mut now = vec![AmSample::default(); MAX_CLASSES + 1];
        now[2] = sample(evicted, 10, 2);
        now[5] = sample(0, 1000, 3);
        assert_eq!(am.decide(now, true, 10), None);
        // Nor when the young class is not young enough: averages of 900
        // and 1000 are within the ratio.
        let mut am = Automove::new(3, 0.8);
        for look in 1..=5u64 {
            let mut now = vec![AmSample::default(); MAX_CLASSES + 1];
            now[2] = sample(look * 10, 900, 2);
            now[5] = sample(0, 1000, 3);
            assert_eq!(am.decide(now, true, 10), None);
        }
    }

    #[test]
    fn the_policy_starts_over_when_its_settings_change() {
        let mut c = emptied(6, 30);
        c.set_automove_tuning(0.5, 3);
        let mut now = 5000;
        // Restarted: the deletions and evictions before are forgotten, the
        // window (now 3) is clean from the first look.
        c.automove_work(now);
        assert_eq!(c.slabs.am.window, 3);
        assert_eq!(c.slabs.rebal.as_ref().map(|r| (r.src, r.dst)), Some((1, 0)));
        run_move(&mut c);
        now += 1;
        c.automove_work(now);
        assert!(c.slabs.rebal.is_some());
    }
}
