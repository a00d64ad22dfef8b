//! The slab page mover (memcached 1.6's slabs_mover.c): moves one page of
//! item memory from one class to another in bounded steps on the event
//! loop, rescuing or evicting the items it holds, and the automove
//! policies that decide which page should move (`slabs automove 1|2`).
//! slabs.rs owns the pages and the bookkeeping of a move under way; this
//! file owns what happens to the items on the page.

use super::change::Reason;
use super::item::*;
use super::lru::COLD_LRU;
use super::slabs::{read_u32, write_u32, NONE};
use super::Cache;

/// Chunks of a page being moved looked at per event loop turn.
pub(super) const REBAL_CHUNKS_PER_TURN: u32 = 512;

/// Passes over a page with busy items after which the page mover unlinks
/// the items still busy (memcached's SLAB_MOVE_MAX_LOOPS); passes are a
/// millisecond apart, so this is about a second.
const SLAB_MOVE_MAX_LOOPS: u32 = 1000;

impl Cache {
    // ---- the page mover (memcached's slab_rebalance_move) ----

    /// Does up to `budget` chunks of the page move under way, if any;
    /// called on every event loop turn while a move runs. Each chunk of the
    /// page is free (skipped), the head of a linked item (copied into a
    /// free chunk of its class outside the page and put in its place in
    /// the hash chain and LRU, or evicted when there is none), a data chunk
    /// of a chunked item (copied likewise and its id replaced in the head,
    /// or the whole item evicted), or busy: an item a connection still
    /// references, or memory being filled or waiting to be freed. A pass
    /// that met busy chunks is followed by another; the page is handed on
    /// after a pass with none.
    pub fn rebalance_work(&mut self, mut budget: u32) {
        let mut owners: Option<std::collections::HashMap<u32, (u32, usize)>> = None;
        loop {
            let Some(r) = &mut self.slabs.rebal else {
                return;
            };
            if r.pos as usize >= r.free.len() {
                if r.busy == 0 {
                    self.slabs.finish_move();
                    return;
                }
                r.pos = 0;
                r.busy = 0;
                r.busy_loops += 1;
                r.backoff = true;
                return;
            }
            if budget == 0 {
                return;
            }
            budget -= 1;
            r.backoff = false;
            let idx = r.pos;
            r.pos += 1;
            if r.free[idx as usize] {
                continue;
            }
            let (page, cls) = (r.page, r.src);
            let id = (page << 15) | idx;
            if !self.move_chunk(id, cls, page, &mut owners) {
                if let Some(r) = &mut self.slabs.rebal {
                    r.busy += 1;
                }
            }
        }
    }

    /// Counts linked item `head`, which a reply still references, as busy
    /// for the page move. After SLAB_MOVE_MAX_LOOPS passes it is unlinked
    /// (a hot item with big replies may never be free of readers) so no
    /// new reply pins it; its chunk is freed when the last one is written.
    fn move_busy(&mut self, head: u32, loops: u32) {
        self.slabs.move_stats.busy_items += 1;
        if loops > SLAB_MOVE_MAX_LOOPS {
            self.slabs.move_stats.busy_deletes += 1;
            self.unlink(head, Reason::Moved);
        }
    }

    /// Empties one in-use chunk of the page being moved; false if it is
    /// busy and must be looked at again in the next pass.
    fn move_chunk(
        &mut self,
        id: u32,
        cls: u8,
        page: u32,
        owners: &mut Option<std::collections::HashMap<u32, (u32, usize)>>,
    ) -> bool {
        let loops = self.slabs.rebal.as_ref().map_or(0, |r| r.busy_loops);
        if self.is_linked_head(id, cls) {
            if refcount(self.slabs.chunk(id)) > 0 {
                self.move_busy(id, loops);
                return false;
            }
            if self.is_dead(self.slabs.chunk(id)) {
                // Expired or flushed: not worth saving.
                self.unlink(id, Reason::Reclaimed);
                return true;
            }
            match self.slabs.alloc_no_grow(cls) {
                Some(new) => {
                    self.rescue_head(id, new);
                    self.slabs.move_stats.rescues += 1;
                }
                None => {
                    self.slabs.move_stats.evictions_nomem += 1;
                    self.unlink(id, Reason::Moved);
                }
            }
            return true;
        }
        // Not an item head: a data chunk of a chunked item, found through
        // the items that own chunks on this page. The map is checked
        // against the owner's chunk list (it may predate an unlink or a
        // rescue) and rebuilt once when it does not match.
        let mut found = None;
        for _ in 0..2 {
            let map = owners.get_or_insert_with(|| self.chunk_owners(page));
            if let Some(&(head, i)) = map.get(&id) {
                if self.owns_chunk(head, i, id) {
                    found = Some((head, i));
                    break;
                }
            }
            *owners = None;
        }
        let Some((head, i)) = found else {
            // Memory a connection is filling or an unlinked item a reply
            // still points at: wait for it to be linked or freed.
            self.slabs.move_stats.busy_items += 1;
            return false;
        };
        if refcount(self.slabs.chunk(head)) > 0 {
            self.move_busy(head, loops);
            return false;
        }
        match self.slabs.alloc_no_grow(cls) {
            Some(new) => {
                let tmp = self.slabs.chunk(id).to_vec();
                self.slabs.chunk_mut(new).copy_from_slice(&tmp);
                let base = {
                    let c = self.slabs.chunk(head);
                    hdr_size(c) + nkey(c)
                };
                write_u32(self.slabs.chunk_mut(head), base + 4 * i, new);
                self.slabs.release_moving(id);
                self.slabs.move_stats.chunk_rescues += 1;
            }
            None => {
                self.slabs.move_stats.evictions_nomem += 1;
                self.unlink(head, Reason::Moved);
            }
        }
        true
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
    fn chunk_owners(&self, page: u32) -> std::collections::HashMap<u32, (u32, usize)> {
        let mut map = std::collections::HashMap::new();
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

    /// Copies the linked item `old` into the free chunk `new` of the same
    /// class and puts it in `old`'s place in its hash chain and LRU.
    fn rescue_head(&mut self, old: u32, new: u32) {
        let tmp = self.slabs.chunk(old).to_vec();
        self.slabs.chunk_mut(new).copy_from_slice(&tmp);
        let (hv, lid) = {
            let c = self.slabs.chunk(new);
            (self.assoc.hash(key_of(c)), self.lru_id(c))
        };
        self.assoc.replace(&mut self.slabs, old, new, hv);
        self.lru.replace(&mut self.slabs, old, new, lid);
        let c = self.slabs.chunk_mut(old);
        c[OFF_NKEY] = 0;
        set_iflags(c, 0);
        self.slabs.release_moving(old);
    }

    /// Starts a page move for a class that just evicted (automove 2,
    /// memcached's slabs_reassign(-1, class) in lru_pull_tail).
    pub(super) fn automove_on_eviction(&mut self, cls: u8) {
        if self.slabs.automove == 2 && self.slabs.rebal.is_none() {
            self.slabs.reassign(-1, cls as i32);
        }
    }

    /// The once-a-second automove decision (slab_automove 1). For every
    /// class it records in a ring of `slab_automove_window` slots whether
    /// the class evicted, failed to allocate or took a page in the last
    /// second (dirty), whether it had more than two and a half pages of
    /// free chunks, and the age of its oldest item. A class with that much
    /// free memory and a clean window gives a page back to the global
    /// pool. Otherwise, once the window has filled, a page moves from the
    /// class whose average oldest age is highest (if it has more than two
    /// pages) to the class whose average age is lowest, when that class is
    /// evicting and its age is under `slab_automove_ratio` of the oldest.
    pub fn automove_tick(&mut self) {
        if self.slabs.automove != 1 || self.slabs.rebal.is_some() {
            return;
        }
        let now = self.clock.current_time;
        let largest = self.slabs.largest;
        let mut ages = [0u64; crate::cache::slabs::MAX_CLASSES + 1];
        for cls in 1..=largest {
            let t = self.lru.tail(cls | COLD_LRU);
            if t != NONE {
                ages[cls as usize] = now.saturating_sub(time(self.slabs.chunk(t))) as u64;
            }
        }
        if let Some((src, dst)) = self.slabs.automove_decide(&ages) {
            self.slabs.reassign(src as i32, dst as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::items::tests::{flat_cache, put, value};
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

    #[test]
    fn page_move_rescues_in_place_and_waits_for_pins() {
        // The flat LRU, so that the one COLD list shows the whole order
        // (the maintainer would move items between lists meanwhile).
        let mut c = flat_cache();
        let per = c.slabs.classes[1].perslab as usize;
        let n = 3 * per;
        for i in 0..n {
            put(
                &mut c,
                format!("k{}", i).as_bytes(),
                format!("{:06}", i).as_bytes(),
            );
        }
        // Free room elsewhere for all but 20 items of the first page.
        for i in per..2 * per - 20 {
            c.delete(-1, format!("k{}", i).as_bytes());
        }
        let pinned = c.peek(b"k3");
        assert!(c.pin(pinned));
        let hot = c.peek(b"k7");
        assert!(c.pin(hot));
        let before = lru_keys(&c, 1);
        assert_eq!(
            c.slabs.reassign(1, 5),
            crate::cache::slabs::ReassignResult::Ok
        );
        for _ in 0..10 {
            c.background_work();
        }
        assert!(c.slabs.rebal.is_some(), "the pinned item holds the move");
        assert!(c.slabs.move_stats.busy_items > 0);
        c.unpin(pinned);
        // An item still busy after SLAB_MOVE_MAX_LOOPS passes is unlinked
        // (no new reply can pin it) and freed when its reader is done.
        while c.slabs.rebal.as_ref().unwrap().busy_loops <= SLAB_MOVE_MAX_LOOPS + 1 {
            c.background_work();
        }
        assert_eq!(c.slabs.move_stats.busy_deletes, 1);
        assert_eq!(c.peek(b"k7"), NONE);
        assert!(c.slabs.rebal.is_some(), "its chunk is not free yet");
        c.unpin(hot);
        while c.slabs.rebal.is_some() {
            c.background_work();
        }
        let ms = &c.slabs.move_stats;
        assert_eq!(
            (ms.slabs_moved, ms.rescues + ms.evictions_nomem),
            (1, per as u64 - 1)
        );
        assert_eq!(ms.evictions_nomem, 19);
        // Survivors keep their values and their LRU order.
        let after = lru_keys(&c, 1);
        let expect: Vec<_> = before
            .iter()
            .filter(|k| after.contains(k))
            .cloned()
            .collect();
        assert_eq!(after, expect);
        assert!(!after.contains(&b"k7".to_vec()));
        for k in &after {
            let i: usize = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            let id = c.get(k);
            assert_eq!(value(&c, id), format!("{:06}", i).as_bytes());
        }
        assert_eq!(c.stats.curr_items as usize, after.len());
        assert_eq!(c.slabs.classes[5].pages, 1);
    }

    #[test]
    fn page_move_carries_the_crawl_cursor() {
        let mut c = flat_cache();
        let per = c.slabs.classes[1].perslab as usize;
        for i in 0..3 * per {
            put(
                &mut c,
                format!("k{}", i).as_bytes(),
                format!("{:06}", i).as_bytes(),
            );
        }
        for i in per..2 * per {
            c.delete(-1, format!("k{}", i).as_bytes());
        }
        // A crawl paused on an item of the page about to move.
        let id = c.peek(b"k5");
        c.lru.crawl_cursor = id;
        assert_eq!(
            c.slabs.reassign(1, 5),
            crate::cache::slabs::ReassignResult::Ok
        );
        while c.slabs.rebal.is_some() {
            c.background_work();
        }
        let moved = c.peek(b"k5");
        assert_ne!(moved, id, "k5 was rescued into another chunk");
        assert_eq!(c.lru.crawl_cursor, moved);
        assert_eq!(value(&c, moved), b"000005");
    }

    #[test]
    fn page_move_rescues_data_chunks() {
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
            c.slabs.reassign(largest as i32, 3),
            crate::cache::slabs::ReassignResult::Ok
        );
        while c.slabs.rebal.is_some() {
            c.background_work();
        }
        let ms = &c.slabs.move_stats;
        assert_eq!((ms.chunk_rescues, ms.evictions_nomem), (1, 1));
        let id = c.get(b"big0");
        assert_eq!(value(&c, id), vals[0]);
        assert_eq!(c.get(b"big1"), NONE);
        let id = c.get(b"big2");
        assert_eq!(value(&c, id), vals[2]);
    }
}
