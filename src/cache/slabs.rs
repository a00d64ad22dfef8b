//! Slab memory: the pages items live in, carved into chunks of per-class
//! sizes, with a free list per class and the `-m` memory limit.
//!
//! As in memcached's slabs.c, class 1 holds the smallest chunk (item header
//! plus `-n` bytes) and each next class grows by the factor `-f`, rounded up
//! to 8 bytes, until the last class, which is exactly `slab_chunk_max`.
//! Pages are `slab_page_size` (1 MiB) and are given to a class on demand;
//! once the limit is reached a class must reuse its own chunks (the LRU
//! evicts to free them). Like memcached, a class that has no page at all
//! may take its first one even above the limit, so every size stays usable.
//!
//! A chunk is named by a 32-bit id rather than a pointer:
//!
//! ```text
//!  31                 15 14            0
//! +---------------------+---------------+
//! |   page (17 bits)    | chunk (15 b)  |
//! +---------------------+---------------+
//! ```
//!
//! so intrusive lists (LRU, hash chains, free lists) cost 4 bytes a link and
//! every access is bounds-checked through `chunk`/`chunk_mut`. Chunks are at
//! least 32 bytes, so a 1 MiB page never has more than 32768 of them.
//! Free chunks keep the id of the next free chunk in their first 4 bytes;
//! the chunk freed last is handed out first, and a new page from its last
//! chunk down, in the order memcached's free list hands them out (the page
//! mover meets items in the same order as memcached's).
//! What is stored in a chunk (the item layout) is items.rs's business.

use super::slabs_mover::Automove;
use crate::settings::Settings;

/// The id no chunk has: the end of every intrusive list.
pub const NONE: u32 = u32::MAX;
/// Largest number of classes, as memcached's MAX_NUMBER_OF_SLAB_CLASSES - 1.
pub const MAX_CLASSES: usize = 63;
/// Chunk sizes are multiples of this.
pub const CHUNK_ALIGN: usize = 8;
/// No chunk is smaller than this (keeps chunk indexes within 15 bits).
pub const MIN_CHUNK: usize = 32;

const CHUNK_BITS: u32 = 15;
const CHUNK_MASK: u32 = (1 << CHUNK_BITS) - 1;
const MAX_PAGES: usize = (NONE >> CHUNK_BITS) as usize;

/// One slab class: chunks of one size.
#[derive(Debug, Default, Clone)]
pub struct SlabClass {
    /// Chunk size in bytes.
    pub size: u32,
    /// Chunks per page.
    pub perslab: u32,
    /// Head of the free list (NONE when empty). Last freed, first reused.
    free_head: u32,
    /// Chunks on the free list (those the page mover has taken excepted).
    pub sl_curr: u32,
    /// Pages owned by this class.
    pub pages: u32,
    /// The newest page of this class, whose chunks below `end_left` were
    /// never handed out (carved lazily so untouched memory stays untouched).
    end_page: u32,
    /// Chunks of `end_page` not handed out yet: indexes `0..end_left`,
    /// handed out from the highest down, the order memcached's free list
    /// gives out a new page in (it frees the page's chunks first to last).
    end_left: u32,
    /// The pages of this class, oldest first: a page move takes the first.
    page_list: Vec<u32>,
}

/// One page of item memory and the class it was given to.
struct Page {
    mem: Box<[u8]>,
    size: u32,
    clsid: u8,
}

/// Outcome of `slabs reassign` (memcached's reassign_result_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReassignResult {
    Ok,
    /// A page move is already running.
    Running,
    BadClass,
    NoSpare,
    SrcDstSame,
}

/// What the page mover found at the last chunk of a pass it could not
/// skip (memcached's move_status; `stats` shows the name after a pass
/// that left busy chunks). memcached's `busy`, `busy_uploading` and
/// `locked` come from its threads racing the mover: with one thread they
/// never happen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum MoveStatus {
    #[default]
    None,
    /// Emptied since the pass started (freed, taken for the move).
    Pass,
    /// Free: taken off the class's free list.
    FromSlab,
    /// A linked item nobody else references.
    FromLru,
    /// A linked item a reply still points into.
    BusyActive,
    /// Memory in use that is no linked item: an item being filled, or one
    /// unlinked that a reply still points into.
    BusyFloating,
}

impl MoveStatus {
    /// The name `stats` shows (`slab_reassign_last_busy_status`).
    pub fn name(self) -> &'static str {
        match self {
            MoveStatus::None => "none",
            MoveStatus::Pass => "pass",
            MoveStatus::FromSlab => "from_slab",
            MoveStatus::FromLru => "from_lru",
            MoveStatus::BusyActive => "busy_active",
            MoveStatus::BusyFloating => "busy_floating",
        }
    }
}

/// Counters of the page mover (general `stats`). As in memcached, the
/// counts of a move are added when it ends, except `busy_items` and
/// `last_busy_status`, which are updated at the end of each pass that
/// left busy chunks.
#[derive(Debug, Default, Clone)]
pub struct MoveStats {
    pub slabs_moved: u64,
    pub rescues: u64,
    pub chunk_rescues: u64,
    pub inline_reclaim: u64,
    pub busy_items: u64,
    pub busy_deletes: u64,
    pub busy_nomem: u64,
    pub last_busy_status: MoveStatus,
}

/// State bits of each chunk of the page being moved (`Rebal::state`).
/// A chunk with none of them holds something (an item, part of one, or
/// memory being filled).
///
/// On the class's free list.
pub const CH_LISTED: u8 = 1;
/// Empty and kept for the move (memcached's ITEM_SLABBED|ITEM_FETCHED): no
/// allocation may have it. Listed and done, a chunk waits on the free list
/// to be dropped from it (by the next allocation that meets it, or when
/// the move ends).
pub const CH_DONE: u8 = 2;
/// The pass is done with it (memcached's `completed`).
pub const CH_COMPLETED: u8 = 4;

/// The page move under way (memcached's slab_rebalance and the mover
/// thread's state).
#[derive(Debug)]
pub struct Rebal {
    /// The page being emptied.
    pub page: u32,
    /// Its class, and the class (0: the global pool) it goes to.
    pub src: u8,
    pub dst: u8,
    /// Next chunk index to look at in this pass.
    pub pos: u32,
    /// CH_* bits for each chunk of the page.
    pub state: Vec<u8>,
    /// Chunks that are done but still on the free list.
    pub zombies: u32,
    /// A free chunk of the class outside the page, taken ahead for the next
    /// item to rescue (memcached's new_it); NONE when there is none.
    pub new_it: u32,
    /// The move may evict from the class's LRU to get such a chunk: asked
    /// for by `slabs reassign` and automove 2, or memory was full and the
    /// global pool empty when it started, or it waited too long.
    pub allow_evictions: bool,
    /// Chunks found busy in this pass: another pass follows.
    pub busy: u32,
    /// Passes that ended with busy chunks.
    pub busy_loops: u32,
    /// What the last chunk looked at was (MoveStatus).
    pub last_status: MoveStatus,
    /// After a pass with busy chunks the next waits this long, doubling
    /// from 1 us up to 5 ms (memcached's backoff_timer).
    pub backoff_us: u64,
    /// No pass before this (monotonic microseconds).
    pub resume_at_us: u64,
    /// A pass found nothing busy: the page is handed on.
    pub done: bool,
    /// This move's counts, added to `MoveStats` when it ends.
    pub rescues: u64,
    pub chunk_rescues: u64,
    pub inline_reclaim: u64,
    pub busy_deletes: u64,
    pub busy_nomem: u64,
}

/// All item memory.
pub struct Slabs {
    pages: Vec<Page>,
    /// Pages in the global pool (class 0), ready for any class.
    pool: Vec<u32>,
    /// Page slots whose memory was given back (`cache_memlimit` shrink);
    /// reused before the page table grows.
    released: Vec<u32>,
    /// The page move under way.
    pub rebal: Option<Rebal>,
    pub move_stats: MoveStats,
    /// Last class `slabs reassign -1` picked (memcached's pick_any cursor).
    pick_cur: u8,
    /// `slab_automove` (0, 1, 2), changed by `slabs automove`.
    pub automove: u32,
    /// The automove policy's history and schedule (slabs_mover.rs).
    pub(super) am: Automove,
    /// Index 0 is unused; classes are 1..=largest.
    pub classes: Vec<SlabClass>,
    /// Id of the last class (chunk size `slab_chunk_max`).
    pub largest: u8,
    /// `-m` in bytes.
    pub mem_limit: u64,
    /// Bytes of pages handed out so far.
    pub mem_malloced: u64,
    pub page_size: usize,
}

impl Slabs {
    /// Builds the class table from the settings (memcached's slabs_init):
    /// `item_header` is the size of the per-item header that precedes key
    /// and value, so class 1 fits a header plus `-n` bytes.
    pub fn new(settings: &Settings, item_header: usize) -> Slabs {
        let page_size = settings.slab_page_size as usize;
        let chunk_max = settings.slab_chunk_size_max as usize;
        let sizes = class_sizes(
            item_header + settings.chunk_size as usize,
            settings.factor,
            chunk_max,
            settings.slab_sizes.as_deref(),
        );
        let mut classes = vec![SlabClass::default()];
        for s in sizes {
            classes.push(SlabClass {
                size: s as u32,
                perslab: (page_size / s) as u32,
                free_head: NONE,
                end_page: NONE,
                end_left: 0,
                ..Default::default()
            });
        }
        let largest = (classes.len() - 1) as u8;
        Slabs {
            pages: Vec::new(),
            pool: Vec::new(),
            released: Vec::new(),
            rebal: None,
            move_stats: MoveStats::default(),
            pick_cur: 0,
            automove: if settings.slab_reassign {
                settings.slab_automove
            } else {
                0
            },
            am: Automove::new(settings.slab_automove_window, settings.slab_automove_ratio),
            classes,
            largest,
            mem_limit: settings.maxbytes,
            mem_malloced: 0,
            page_size,
        }
    }

    /// The class whose chunks fit `size` bytes, or 0 if none does (the
    /// caller then chunks the item across several chunks).
    pub fn clsid(&self, size: usize) -> u8 {
        if size == 0 {
            return 0;
        }
        // Few classes, and the common sizes are the small ones: a linear
        // scan beats a binary search here.
        for (i, c) in self.classes.iter().enumerate().skip(1) {
            if size <= c.size as usize {
                return i as u8;
            }
        }
        0
    }

    /// Chunk size of a class.
    #[inline]
    pub fn size(&self, clsid: u8) -> usize {
        self.classes[clsid as usize].size as usize
    }

    /// Hands out one chunk of class `clsid`, from its free list, its newest
    /// page, or a new page if the memory limit allows. None when the class
    /// is full (the caller evicts and retries).
    #[inline]
    pub fn alloc(&mut self, clsid: u8) -> Option<u32> {
        match self.pop_free::<false>(clsid) {
            Some(id) => Some(id),
            None => self.carve(clsid, true),
        }
    }

    /// Takes the head of class `clsid`'s free list. A chunk of the page
    /// being moved may be there: if the move is done with it, it is dropped
    /// and the next one taken; else an allocation gets it as any other (the
    /// mover will find an item there and move it), while the mover's own
    /// allocation (`MOVER`) keeps it for the move instead, counting it as
    /// memcached counts such a find (`slab_reassign_inline_reclaim`).
    #[inline]
    fn pop_free<const MOVER: bool>(&mut self, clsid: u8) -> Option<u32> {
        let ci = clsid as usize;
        loop {
            let head = self.classes[ci].free_head;
            if head == NONE {
                return None;
            }
            let next = read_u32(self.chunk(head), 0);
            self.classes[ci].free_head = next;
            if let Some(r) = &mut self.rebal {
                if r.page == head >> CHUNK_BITS {
                    let s = &mut r.state[(head & CHUNK_MASK) as usize];
                    *s &= !CH_LISTED;
                    if *s & CH_DONE != 0 {
                        r.zombies -= 1;
                        continue;
                    }
                    if MOVER {
                        *s |= CH_DONE;
                        r.inline_reclaim += 1;
                        self.classes[ci].sl_curr -= 1;
                        continue;
                    }
                }
            }
            self.classes[ci].sl_curr -= 1;
            return Some(head);
        }
    }

    /// Hands out the next never-used chunk of the class's newest page,
    /// taking a new page first if there is none left and `grow` allows.
    fn carve(&mut self, clsid: u8, grow: bool) -> Option<u32> {
        let ci = clsid as usize;
        if self.classes[ci].end_left == 0 {
            if !grow {
                return None;
            }
            self.new_page(clsid)?;
        }
        let c = &mut self.classes[ci];
        c.end_left -= 1;
        Some((c.end_page << CHUNK_BITS) | c.end_left)
    }

    /// Returns a chunk to its class's free list, where the next allocation
    /// takes it first.
    pub fn free(&mut self, id: u32, clsid: u8) {
        let ci = clsid as usize;
        debug_assert_eq!(
            self.pages[(id >> CHUNK_BITS) as usize].size,
            self.classes[ci].size
        );
        if let Some(r) = &mut self.rebal {
            if r.page == id >> CHUNK_BITS {
                r.state[(id & CHUNK_MASK) as usize] = CH_LISTED;
            }
        }
        let head = self.classes[ci].free_head;
        write_u32(self.chunk_mut(id), 0, head);
        let c = &mut self.classes[ci];
        c.free_head = id;
        c.sl_curr += 1;
    }

    /// Gives class `clsid` a new page: one from the global pool if there
    /// is one, else new memory if the limit allows (or if the class has
    /// none yet). memcached's do_slabs_newslab.
    fn new_page(&mut self, clsid: u8) -> Option<()> {
        let ci = clsid as usize;
        let size = self.classes[ci].size;
        let p = if let Some(p) = self.pool.pop() {
            p
        } else {
            let len = self.page_size as u64;
            if self.classes[ci].pages > 0 && self.mem_malloced + len > self.mem_limit {
                return None;
            }
            // A zeroed allocation comes straight from the kernel's zero
            // pages: memory is only resident once chunks are written.
            let mem = vec![0u8; self.page_size].into_boxed_slice();
            let p = if let Some(p) = self.released.pop() {
                self.pages[p as usize].mem = mem;
                p
            } else {
                if self.pages.len() >= MAX_PAGES {
                    return None;
                }
                self.pages.push(Page { mem, size, clsid });
                (self.pages.len() - 1) as u32
            };
            self.mem_malloced += len;
            p
        };
        let page = &mut self.pages[p as usize];
        page.size = size;
        page.clsid = clsid;
        let c = &mut self.classes[ci];
        c.pages += 1;
        c.page_list.push(p);
        c.end_page = p;
        c.end_left = c.perslab;
        Some(())
    }

    /// A free chunk of class `clsid` outside the page being moved, for the
    /// mover to rescue an item into (memcached's slab_rebalance_alloc):
    /// from the free list or the newest page, and a new page only if
    /// `grow`. Chunks of the page met on the free list are kept for the
    /// move (`pop_free`).
    pub fn alloc_for_move(&mut self, clsid: u8, grow: bool) -> Option<u32> {
        match self.pop_free::<true>(clsid) {
            Some(id) => Some(id),
            None => self.carve(clsid, grow),
        }
    }

    /// Marks chunk `id` of the page being moved empty and kept for the
    /// move without putting it on the free list (its item was rescued
    /// elsewhere, or dropped by the mover); `completed` when the pass is
    /// at it.
    pub fn take_for_move(&mut self, id: u32, completed: bool) {
        if let Some(r) = &mut self.rebal {
            debug_assert_eq!(r.page, id >> CHUNK_BITS);
            r.state[(id & CHUNK_MASK) as usize] =
                CH_DONE | if completed { CH_COMPLETED } else { 0 };
        }
    }

    /// The pass meets a free chunk of the page: it is kept for the move
    /// (memcached unlinks it from the free list; here it stays listed until
    /// an allocation meets it or the move ends, and no longer counts as
    /// free).
    pub fn claim_listed(&mut self, idx: u32) {
        if let Some(r) = &mut self.rebal {
            r.state[idx as usize] |= CH_DONE | CH_COMPLETED;
            r.zombies += 1;
            let ci = r.src as usize;
            self.classes[ci].sl_curr -= 1;
        }
    }

    /// Pages class `clsid` has (the global pool's for 0).
    pub fn class_pages(&self, clsid: u8) -> u32 {
        if clsid == 0 {
            self.pool.len() as u32
        } else {
            self.classes.get(clsid as usize).map_or(0, |c| c.pages)
        }
    }

    /// Pages in the global pool (`slab_global_page_pool`).
    pub fn pool_pages(&self) -> usize {
        self.pool.len()
    }

    /// True once all the memory `-m` allows is allocated (memcached's
    /// mem_limit_reached as global_page_pool_size reports it): pages in
    /// the global pool count as allocated.
    pub fn mem_limit_reached(&self) -> bool {
        self.mem_malloced >= self.mem_limit
    }

    /// A class other than `dst` with a page to spare, going round the
    /// class ids (all 63 of them, as memcached's slabs_reassign_pick_any,
    /// 64 tries) from the one after the last pick; -1 if there is none.
    fn pick_any(&mut self, dst: i32) -> i32 {
        for _ in 0..=MAX_CLASSES {
            self.pick_cur = if self.pick_cur as usize >= MAX_CLASSES {
                1
            } else {
                self.pick_cur + 1
            };
            let c = self.pick_cur;
            if c as i32 == dst {
                continue;
            }
            if self.class_pages(c) > 1 {
                return c as i32;
            }
        }
        -1
    }

    /// `slabs reassign <src> <dst>`: starts moving the oldest page of class
    /// `src` (-1: any class with a page to spare; 0: the global pool) to
    /// class `dst` (0: the global pool). A page from the pool holds no
    /// items and moves at once; any other is emptied by
    /// `Cache::rebalance_work` over the next event loop turns, evicting
    /// from the class's LRU when it must if `allow_evictions` (memcached's
    /// SLABS_REASSIGN_ALLOW_EVICTIONS), or when all memory is allocated and
    /// the global pool is empty.
    pub fn reassign(&mut self, src: i32, dst: i32, allow_evictions: bool) -> ReassignResult {
        if self.rebal.is_some() {
            return ReassignResult::Running;
        }
        if src == dst {
            return ReassignResult::SrcDstSame;
        }
        let src = if src == -1 { self.pick_any(dst) } else { src };
        let largest = self.largest as i32;
        if src < 0 || src > largest || dst < 0 || dst > largest {
            return ReassignResult::BadClass;
        }
        let (src, dst) = (src as u8, dst as u8);
        if self.class_pages(src) < 2 {
            return ReassignResult::NoSpare;
        }
        if src == 0 {
            let p = self.pool.remove(0);
            self.give_page(p, dst);
            self.move_stats.slabs_moved += 1;
            return ReassignResult::Ok;
        }
        let allow_evictions = allow_evictions || (self.mem_limit_reached() && self.pool.is_empty());
        let ci = src as usize;
        let p = self.classes[ci].page_list.remove(0);
        let perslab = self.classes[ci].perslab;
        let mut state = vec![0u8; perslab as usize];
        // Mark the page's chunks on the free list, and find its end.
        let mut cur = self.classes[ci].free_head;
        let mut tail = NONE;
        while cur != NONE {
            if cur >> CHUNK_BITS == p {
                state[(cur & CHUNK_MASK) as usize] = CH_LISTED;
            }
            tail = cur;
            cur = read_u32(self.chunk(cur), 0);
        }
        // If it is the class's newest page, its never-used chunks are free
        // too: they go at the end of the free list, in the order they would
        // have been handed out (memcached has them there from the start).
        if self.classes[ci].end_page == p {
            let n = self.classes[ci].end_left;
            for i in (0..n).rev() {
                let id = (p << CHUNK_BITS) | i;
                write_u32(self.chunk_mut(id), 0, NONE);
                if tail == NONE {
                    self.classes[ci].free_head = id;
                } else {
                    write_u32(self.chunk_mut(tail), 0, id);
                }
                tail = id;
                state[i as usize] = CH_LISTED;
            }
            let c = &mut self.classes[ci];
            c.sl_curr += n;
            c.end_page = NONE;
            c.end_left = 0;
        }
        self.rebal = Some(Rebal {
            page: p,
            src,
            dst,
            pos: 0,
            state,
            zombies: 0,
            new_it: NONE,
            allow_evictions,
            busy: 0,
            busy_loops: 0,
            last_status: MoveStatus::None,
            backoff_us: 1,
            resume_at_us: 0,
            done: false,
            rescues: 0,
            chunk_rescues: 0,
            inline_reclaim: 0,
            busy_deletes: 0,
            busy_nomem: 0,
        });
        ReassignResult::Ok
    }

    /// Ends a page move whose page is all free: the chunk kept for rescues
    /// goes back to the free list, the page to its new class, or to the
    /// global pool (or back to the system while more memory is allocated
    /// than `cache_memlimit` allows), and the move's counts to `stats`.
    pub fn finish_move(&mut self) {
        let Some(r) = self.rebal.take() else { return };
        if r.new_it != NONE {
            self.free(r.new_it, r.src);
        }
        if r.zombies > 0 {
            self.drop_listed(r.src, r.page);
        }
        self.classes[r.src as usize].pages -= 1;
        self.give_page(r.page, r.dst);
        let ms = &mut self.move_stats;
        ms.slabs_moved += 1;
        ms.rescues += r.rescues;
        ms.chunk_rescues += r.chunk_rescues;
        ms.inline_reclaim += r.inline_reclaim;
        ms.busy_deletes += r.busy_deletes;
        ms.busy_nomem += r.busy_nomem;
    }

    /// Takes every chunk of page `page` off class `clsid`'s free list, in
    /// one walk.
    fn drop_listed(&mut self, clsid: u8, page: u32) {
        let ci = clsid as usize;
        let mut cur = self.classes[ci].free_head;
        let mut kept_head = NONE;
        let mut kept_tail = NONE;
        while cur != NONE {
            let next = read_u32(self.chunk(cur), 0);
            if cur >> CHUNK_BITS != page {
                if kept_tail == NONE {
                    kept_head = cur;
                } else {
                    write_u32(self.chunk_mut(kept_tail), 0, cur);
                }
                kept_tail = cur;
            }
            cur = next;
        }
        if kept_tail != NONE {
            write_u32(self.chunk_mut(kept_tail), 0, NONE);
        }
        self.classes[ci].free_head = kept_head;
    }

    /// Hands an empty page to class `dst`, its chunks all on the free list
    /// (the last chunk first, as memcached frees them into the list in page
    /// order), or to the pool for 0.
    fn give_page(&mut self, p: u32, dst: u8) {
        let page = &mut self.pages[p as usize];
        page.mem.fill(0);
        if dst == 0 {
            page.clsid = 0;
            self.pool.push(p);
            self.memory_release();
            return;
        }
        let di = dst as usize;
        page.size = self.classes[di].size;
        page.clsid = dst;
        let perslab = self.classes[di].perslab;
        for i in 0..perslab {
            let id = (p << CHUNK_BITS) | i;
            let head = self.classes[di].free_head;
            write_u32(self.chunk_mut(id), 0, head);
            self.classes[di].free_head = id;
        }
        let c = &mut self.classes[di];
        c.sl_curr += perslab;
        c.pages += 1;
        c.page_list.push(p);
    }

    /// Gives pool pages back to the system while more memory is allocated
    /// than the limit (memcached's memory_release).
    fn memory_release(&mut self) {
        while self.mem_malloced > self.mem_limit {
            let Some(p) = self.pool.pop() else { break };
            self.pages[p as usize].mem = Box::new([]);
            self.released.push(p);
            self.mem_malloced -= self.page_size as u64;
        }
    }

    /// The class chunk `id` belongs to.
    #[inline]
    pub fn clsid_of(&self, id: u32) -> u8 {
        self.pages[(id >> CHUNK_BITS) as usize].clsid
    }

    /// Starts loading the first 192 bytes of chunk `id` (header, key and
    /// the start of the value) for batch lookups.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        if let Some(page) = self.pages.get((id >> CHUNK_BITS) as usize) {
            let size = page.size as usize;
            let off = (id & CHUNK_MASK) as usize * size;
            let end = (off + size.min(192)).min(page.mem.len());
            let mut p = off;
            while p < end {
                crate::sys::prefetch(page.mem[p..].as_ptr());
                p += 64;
            }
        }
    }

    /// Starts loading the cache lines holding the first `len` bytes of
    /// chunk `id`: just what the next step reads (an item's LRU links,
    /// its header and key), so that more lookups fit in flight at once.
    #[inline]
    pub fn prefetch_head(&self, id: u32, len: usize) {
        if let Some(page) = self.pages.get((id >> CHUNK_BITS) as usize) {
            let off = (id & CHUNK_MASK) as usize * page.size as usize;
            if off >= page.mem.len() {
                return;
            }
            let len = len.clamp(1, page.mem.len() - off);
            let start = page.mem[off..].as_ptr() as usize;
            let last = start + len - 1;
            // Every line from the one holding the first byte to the one
            // holding the last; the first named by the first byte, so no
            // address falls outside the page.
            let mut line = start & !63;
            while line <= last {
                crate::sys::prefetch(line.max(start) as *const u8);
                line += 64;
            }
        }
    }

    /// The bytes of chunk `id`.
    #[inline]
    pub fn chunk(&self, id: u32) -> &[u8] {
        let page = &self.pages[(id >> CHUNK_BITS) as usize];
        let size = page.size as usize;
        let off = (id & CHUNK_MASK) as usize * size;
        &page.mem[off..off + size]
    }

    /// The bytes of chunk `id`, writable.
    #[inline]
    pub fn chunk_mut(&mut self, id: u32) -> &mut [u8] {
        let page = &mut self.pages[(id >> CHUNK_BITS) as usize];
        let size = page.size as usize;
        let off = (id & CHUNK_MASK) as usize * size;
        &mut page.mem[off..off + size]
    }

    /// Chunks of class `clsid` not in use: its free list and the
    /// never-used rest of its newest page (`stats slabs` free_chunks, what
    /// memcached's free list holds). Chunks the page mover has taken, or
    /// keeps for a rescue, are not free.
    pub fn free_chunks(&self, clsid: u8) -> u64 {
        let c = &self.classes[clsid as usize];
        c.sl_curr as u64 + c.end_left as u64
    }

    /// Total pages handed out (classes and pool).
    #[cfg(test)]
    pub fn total_pages(&self) -> usize {
        self.pages.len() - self.released.len()
    }

    /// Changes the memory limit at run time (`cache_memlimit`). Pages
    /// in the global pool are given back to the system at once while
    /// more than the new limit is allocated; pages held by classes stay
    /// until a page move sends them to the pool, where they are given back
    /// too (as memcached does with slab_reassign on). A higher limit lets
    /// classes take new pages again.
    pub fn set_limit(&mut self, bytes: u64) {
        self.mem_limit = bytes;
        self.memory_release();
    }
}

/// The chunk sizes of classes 1.. for the given smallest size, growth
/// factor and largest chunk, or the explicit `slab_sizes` list. The last
/// class is always `chunk_max`.
pub fn class_sizes(
    first: usize,
    factor: f64,
    chunk_max: usize,
    explicit: Option<&[u32]>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut size = first.max(MIN_CHUNK);
    let mut i = 0;
    while out.len() < MAX_CLASSES - 1 {
        if let Some(list) = explicit {
            match list.get(i) {
                Some(&s) => size = (s as usize).max(MIN_CHUNK),
                None => break,
            }
            i += 1;
        } else if size as f64 >= chunk_max as f64 / factor {
            break;
        }
        if !size.is_multiple_of(CHUNK_ALIGN) {
            size += CHUNK_ALIGN - size % CHUNK_ALIGN;
        }
        if size >= chunk_max {
            break;
        }
        out.push(size);
        if explicit.is_none() {
            size = (size as f64 * factor) as usize;
        }
    }
    out.push(chunk_max);
    out
}

/// Reads a native-endian u32 at `off` of a chunk.
#[inline]
pub fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Writes a native-endian u32 at `off` of a chunk.
#[inline]
pub fn write_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_class_table() {
        // 40-byte header + 48 (-n) = 88, growing by 1.25, 8-byte aligned,
        // ending with the 512 KiB class.
        let s = class_sizes(88, 1.25, 512 * 1024, None);
        assert_eq!(&s[..8], &[88, 112, 144, 184, 232, 296, 376, 472]);
        assert_eq!(*s.last().unwrap(), 512 * 1024);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert!(s.iter().all(|x| x % 8 == 0));
        assert!(s.len() <= MAX_CLASSES);
    }

    #[test]
    fn explicit_sizes() {
        let s = class_sizes(88, 1.25, 1024, Some(&[100, 200, 300]));
        assert_eq!(s, vec![104, 200, 304, 1024]);
    }

    #[test]
    fn alloc_free_and_limit() {
        let st = Settings {
            maxbytes: 2 * 1024 * 1024,
            ..Settings::default()
        };
        let mut slabs = Slabs::new(&st, 40);
        let c1 = slabs.clsid(80);
        assert_eq!(c1, 1);
        assert_eq!(slabs.clsid(89), 2);
        assert_eq!(slabs.clsid(512 * 1024), slabs.largest);
        assert_eq!(slabs.clsid(512 * 1024 + 1), 0);
        let per = slabs.classes[1].perslab as usize;
        let mut ids = Vec::new();
        // Two pages fit the limit; the class then reports full.
        while let Some(id) = slabs.alloc(c1) {
            ids.push(id);
        }
        assert_eq!(ids.len(), 2 * per);
        // A new page is handed out from its last chunk down, as memcached's
        // free list gives it out.
        let page = ids[0] >> CHUNK_BITS;
        assert_eq!(ids[0], (page << CHUNK_BITS) | (per as u32 - 1));
        assert_eq!(ids[per - 1], page << CHUNK_BITS);
        // Another class still gets its first page above the limit.
        assert!(slabs.alloc(5).is_some());
        assert!(slabs.alloc(5).is_some());
        slabs.free(ids[3], c1);
        slabs.free(ids[7], c1);
        assert_eq!(slabs.alloc(c1), Some(ids[7]));
        assert_eq!(slabs.alloc(c1), Some(ids[3]));
        assert_eq!(slabs.alloc(c1), None);
        assert_eq!(slabs.chunk(ids[0]).len(), 88);
        assert_eq!(slabs.free_chunks(c1), 0);
        // Class 5 took one page and handed out two chunks of it.
        let c5 = &slabs.classes[5];
        assert_eq!(slabs.free_chunks(5), c5.perslab as u64 - 2);
        slabs.free(ids[0], c1);
        assert_eq!(slabs.free_chunks(c1), 1);
        assert_eq!(slabs.free_chunks(9), 0);
    }

    /// Hands out every chunk class `c` can take; returns their ids.
    fn fill(slabs: &mut Slabs, c: u8) -> Vec<u32> {
        let mut ids = Vec::new();
        while let Some(id) = slabs.alloc(c) {
            ids.push(id);
        }
        ids
    }

    fn small_slabs(mb: u64) -> Slabs {
        let st = Settings {
            maxbytes: mb * 1024 * 1024,
            ..Settings::default()
        };
        Slabs::new(&st, 40)
    }

    /// The state bits of chunk `i` of the page being moved.
    fn state(slabs: &Slabs, i: usize) -> u8 {
        slabs.rebal.as_ref().unwrap().state[i]
    }

    #[test]
    fn a_move_leaves_free_chunks_listed_until_it_takes_them() {
        let mut slabs = small_slabs(3);
        let ids = fill(&mut slabs, 1);
        let per = slabs.classes[1].perslab as usize;
        assert_eq!(ids.len(), 3 * per);
        // Free chunks on every page, interleaved on the free list (the
        // first page holds ids[0..per], its chunk i being ids[per - 1 - i]).
        for &i in &[5, per + 1, 7, 2 * per + 3, 9, per + 8] {
            slabs.free(ids[i], 1);
        }
        assert_eq!(slabs.classes[1].sl_curr, 6);
        assert_eq!(slabs.reassign(1, 4, true), ReassignResult::Ok);
        let r = slabs.rebal.as_ref().unwrap();
        assert_eq!(r.page, ids[0] >> CHUNK_BITS);
        let listed: Vec<usize> = (0..per).filter(|&i| state(&slabs, i) != 0).collect();
        assert_eq!(listed, vec![per - 10, per - 8, per - 6]);
        assert!(listed.iter().all(|&i| state(&slabs, i) == CH_LISTED));
        assert_eq!(slabs.free_chunks(1), 6, "still free until taken");
        // The mover's allocation passes over the page's chunks (counting
        // them) and takes the first other one.
        assert_eq!(slabs.alloc_for_move(1, false), Some(ids[per + 8]));
        assert_eq!(slabs.rebal.as_ref().unwrap().inline_reclaim, 0);
        assert_eq!(slabs.alloc_for_move(1, false), Some(ids[2 * per + 3]));
        assert_eq!(slabs.rebal.as_ref().unwrap().inline_reclaim, 1);
        assert_eq!(state(&slabs, per - 10), CH_DONE);
        // The pass takes a listed chunk: it stays on the list, no longer
        // free, and the next allocation drops it.
        slabs.claim_listed((per - 8) as u32);
        assert_eq!(state(&slabs, per - 8), CH_LISTED | CH_DONE | CH_COMPLETED);
        assert_eq!(slabs.free_chunks(1), 2);
        // Any other allocation may take a free chunk of the page.
        assert_eq!(slabs.alloc(1), Some(ids[per + 1]));
        assert_eq!(slabs.alloc(1), Some(ids[5]));
        assert_eq!(state(&slabs, per - 6), 0, "in use again");
        assert_eq!(slabs.rebal.as_ref().unwrap().zombies, 0);
        assert_eq!(slabs.alloc(1), None);
        assert_eq!(slabs.free_chunks(1), 0);
        // A chunk of the page freed now goes on the list as any other.
        slabs.free(ids[0], 1);
        assert_eq!(state(&slabs, per - 1), CH_LISTED);
        assert_eq!(slabs.free_chunks(1), 1);
        assert_eq!(slabs.reassign(1, 4, true), ReassignResult::Running);
    }

    #[test]
    fn finished_move_recarves_the_page_for_the_new_class() {
        let mut slabs = small_slabs(2);
        let ids = fill(&mut slabs, 1);
        let per1 = slabs.classes[1].perslab as usize;
        for &id in &ids[per1..per1 + 3] {
            slabs.free(id, 1);
        }
        assert_eq!(slabs.reassign(1, 4, true), ReassignResult::Ok);
        // The mover keeps a chunk for rescues, and takes the page's
        // chunks as it goes; some are still on the list at the end.
        let new_it = slabs.alloc_for_move(1, false).unwrap();
        slabs.rebal.as_mut().unwrap().new_it = new_it;
        for i in 0..per1 as u32 {
            if i % 2 == 0 {
                slabs.take_for_move(ids[0] & !CHUNK_MASK | i, true);
            } else {
                slabs.free(ids[0] & !CHUNK_MASK | i, 1);
                slabs.claim_listed(i);
            }
        }
        assert_eq!(slabs.free_chunks(1), 2);
        slabs.finish_move();
        assert!(slabs.rebal.is_none());
        assert_eq!(slabs.move_stats.slabs_moved, 1);
        assert_eq!((slabs.classes[1].pages, slabs.classes[4].pages), (1, 1));
        // The kept chunk went back; the page's left the list.
        assert_eq!(slabs.free_chunks(1), 3);
        assert_eq!(fill(&mut slabs, 1), vec![new_it, ids[per1 + 1], ids[per1]]);
        let per4 = slabs.classes[4].perslab as usize;
        assert_eq!(slabs.free_chunks(4), per4 as u64);
        // Every chunk of the page, cut at the new size, last first.
        let page = ids[0] >> CHUNK_BITS;
        let got = fill(&mut slabs, 4);
        assert_eq!(got.len(), per4);
        assert!(got
            .iter()
            .rev()
            .enumerate()
            .all(|(i, &id)| id == (page << CHUNK_BITS) | i as u32));
        assert_eq!(slabs.chunk(got[0]).len(), slabs.classes[4].size as usize);
        assert_eq!(slabs.mem_malloced, 2 * 1024 * 1024);
    }

    #[test]
    fn end_page_and_global_pool() {
        let mut slabs = small_slabs(8);
        // Two pages and a few chunks of a third, the lazily carved one.
        let per = slabs.classes[1].perslab as usize;
        let ids: Vec<u32> = (0..2 * per + 3).map(|_| slabs.alloc(1).unwrap()).collect();
        assert_eq!(slabs.free_chunks(1), per as u64 - 3);
        // Move the first page to the pool, then the second.
        for round in 0..2 {
            assert_eq!(slabs.reassign(1, 0, true), ReassignResult::Ok);
            for &id in &ids[round * per..(round + 1) * per] {
                slabs.free(id, 1);
                slabs.claim_listed(id & CHUNK_MASK);
            }
            slabs.finish_move();
        }
        assert_eq!(slabs.pool_pages(), 2);
        assert_eq!(slabs.reassign(1, 0, true), ReassignResult::NoSpare);
        assert_eq!(slabs.reassign(0, 0, true), ReassignResult::SrcDstSame);
        assert_eq!(slabs.reassign(-1, 0, true), ReassignResult::BadClass);
        // A class that needs a page takes a pooled one, not new memory.
        let before = slabs.mem_malloced;
        assert!(slabs.alloc(6).is_some());
        assert_eq!((slabs.pool_pages(), slabs.mem_malloced), (1, before));
        // Shrinking the limit gives pooled pages back at once.
        slabs.set_limit(1024 * 1024);
        assert_eq!(slabs.pool_pages(), 0);
        assert_eq!(slabs.mem_malloced, before - 1024 * 1024);
        assert_eq!(slabs.total_pages(), 2);
        // Growing it lets classes take pages again; freed slots are reused.
        slabs.set_limit(8 * 1024 * 1024);
        let n = slabs.pages.len();
        fill(&mut slabs, 6);
        assert_eq!(slabs.pages.len(), n + 5);
        assert_eq!(slabs.mem_malloced, 8 * 1024 * 1024);
        assert_eq!(slabs.free_chunks(1), per as u64 - 3);
    }

    #[test]
    fn moving_the_newest_page_lists_its_never_used_chunks_last() {
        let mut slabs = small_slabs(8);
        let per = slabs.classes[1].perslab;
        // Class 1 hands out three chunks of its first page, carved lazily.
        let a: Vec<u32> = (0..3).map(|_| slabs.alloc(1).unwrap()).collect();
        let pa = a[0] >> CHUNK_BITS;
        assert_eq!(a[0], (pa << CHUNK_BITS) | (per - 1));
        // Two pages come to the global pool from class 7 ...
        let per7 = slabs.classes[7].perslab as usize;
        let b: Vec<u32> = (0..2 * per7 + 1).map(|_| slabs.alloc(7).unwrap()).collect();
        for round in 0..2 {
            assert_eq!(slabs.reassign(7, 0, true), ReassignResult::Ok);
            for &id in &b[round * per7..(round + 1) * per7] {
                slabs.free(id, 7);
                slabs.claim_listed(id & CHUNK_MASK);
            }
            slabs.finish_move();
        }
        // ... and one goes to class 1, whose lazily carved page is now its
        // oldest.
        assert_eq!(slabs.reassign(0, 1, true), ReassignResult::Ok);
        let pb = slabs.classes[1].page_list[1];
        assert_eq!(slabs.classes[1].page_list[0], pa);
        slabs.free(a[1], 1);
        assert_eq!(slabs.free_chunks(1), (2 * per - 3 + 1) as u64);
        assert_eq!(slabs.reassign(1, 0, true), ReassignResult::Ok);
        let r = slabs.rebal.as_ref().unwrap();
        assert_eq!(r.page, pa);
        let listed: Vec<u32> = (0..per)
            .filter(|&i| r.state[i as usize] == CH_LISTED)
            .collect();
        let mut want: Vec<u32> = (0..per - 3).collect();
        want.push(per - 2);
        assert_eq!(listed, want, "the freed chunk and the never-used ones");
        assert_eq!(slabs.classes[1].end_left, 0);
        assert_eq!(slabs.free_chunks(1), (2 * per - 3 + 1) as u64);
        // The free list: the freed chunk, the page moved in (last chunk
        // first), then the never-used chunks, highest first.
        assert_eq!(slabs.alloc(1), Some(a[1]));
        for i in (0..per).rev() {
            assert_eq!(slabs.alloc(1), Some((pb << CHUNK_BITS) | i));
        }
        assert_eq!(slabs.alloc(1), Some((pa << CHUNK_BITS) | (per - 4)));
    }

    #[test]
    fn reassign_any_goes_round_all_class_ids() {
        let mut slabs = small_slabs(64);
        for c in [2u8, 5] {
            let per = slabs.classes[c as usize].perslab;
            for _ in 0..per + 1 {
                slabs.alloc(c);
            }
        }
        // memcached's cursor: the class after the last pick, 64 tries over
        // the 63 class ids.
        assert_eq!(slabs.pick_any(0), 2);
        assert_eq!(slabs.pick_any(0), 5);
        assert_eq!(slabs.pick_any(5), 2);
        assert_eq!(slabs.pick_any(2), 5);
        assert_eq!(slabs.pick_cur, 5);
        let mut one = small_slabs(64);
        one.alloc(3);
        assert_eq!(one.pick_any(0), -1);
        // 64 tries from 0 end one past where they started.
        assert_eq!(one.pick_cur, 1);
    }
}
