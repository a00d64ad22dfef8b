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
//! Free chunks keep the id of the next free chunk in their first 4 bytes.
//! What is stored in a chunk (the item layout) is items.rs's business.

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
    /// Head of the free list (NONE when empty).
    free_head: u32,
    /// Chunks on the free list.
    pub sl_curr: u32,
    /// Pages owned by this class.
    pub pages: u32,
    /// The newest page of this class, whose chunks past `end_next` were
    /// never handed out (carved lazily so untouched memory stays untouched).
    end_page: u32,
    /// Next never-used chunk index in `end_page`; `perslab` when exhausted.
    end_next: u32,
    /// Chunks handed out and not yet freed.
    pub used_chunks: u64,
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

/// Counters of the page mover (general `stats`).
#[derive(Debug, Default, Clone)]
pub struct MoveStats {
    pub slabs_moved: u64,
    pub rescues: u64,
    pub chunk_rescues: u64,
    pub evictions_nomem: u64,
    pub inline_reclaim: u64,
    pub busy_items: u64,
    pub busy_deletes: u64,
}

/// The page move under way (memcached's slab_rebal).
#[derive(Debug)]
pub struct Rebal {
    /// The page being emptied.
    pub page: u32,
    /// Its class, and the class (0: the global pool) it goes to.
    pub src: u8,
    pub dst: u8,
    /// Next chunk index to look at in this pass.
    pub pos: u32,
    /// Chunks found busy in this pass: another pass follows.
    pub busy: u32,
    /// Passes that ended with busy chunks.
    pub busy_loops: u32,
    /// True once a pass ended with busy chunks: the event loop then waits
    /// a millisecond between passes instead of spinning.
    pub backoff: bool,
    /// For each chunk of the page: true once it is free (taken off the
    /// free list, never carved, freed or rescued during the move).
    pub free: Vec<bool>,
}

/// A class is a source for automove only with more pages than this.
const MIN_PAGES_FOR_SOURCE: u32 = 2;
/// Free chunks worth this many pages make a class give a page back.
const MIN_PAGES_FOR_RECLAIM: f64 = 2.5;

/// One second of one class in the automove window.
#[derive(Debug, Default, Clone, Copy)]
struct WinSlot {
    /// Evicted, failed to allocate or took a page that second.
    dirty: bool,
    /// Had more than MIN_PAGES_FOR_RECLAIM pages of free chunks.
    excess_free: bool,
    /// Evicted that second.
    evicted: bool,
    /// Age of its oldest item.
    age: u64,
}

/// The automove 1 history: `size` seconds per class, and the counters as
/// they were at the last look.
#[derive(Debug)]
struct Window {
    size: usize,
    ratio: f64,
    /// Decisions so far (memcached's window_cur).
    cur: u64,
    slots: Vec<WinSlot>,
    evicted_before: [u64; MAX_CLASSES + 1],
    oom_before: [u64; MAX_CLASSES + 1],
    pages_before: [u32; MAX_CLASSES + 1],
}

impl Window {
    fn new(size: usize, ratio: f64) -> Window {
        Window {
            size,
            ratio,
            cur: 0,
            slots: vec![WinSlot::default(); (MAX_CLASSES + 1) * size],
            evicted_before: [0; MAX_CLASSES + 1],
            oom_before: [0; MAX_CLASSES + 1],
            pages_before: [0; MAX_CLASSES + 1],
        }
    }
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
    /// Next class `slabs reassign -1` looks at (memcached's pick_any).
    pick_cur: u8,
    /// Evictions and out-of-memory failures per class, for automove.
    pub evicted: [u64; MAX_CLASSES + 1],
    pub outofmemory: [u64; MAX_CLASSES + 1],
    /// `slab_automove` (0, 1, 2), changed by `slabs automove`.
    pub automove: u32,
    /// The automove 1 history.
    window: Window,
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
                end_next: 0,
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
            evicted: [0; MAX_CLASSES + 1],
            outofmemory: [0; MAX_CLASSES + 1],
            automove: if settings.slab_reassign {
                settings.slab_automove
            } else {
                0
            },
            window: Window::new(
                settings.slab_automove_window.max(1) as usize,
                settings.slab_automove_ratio,
            ),
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
    pub fn alloc(&mut self, clsid: u8) -> Option<u32> {
        let ci = clsid as usize;
        let head = self.classes[ci].free_head;
        if head != NONE {
            let next = read_u32(self.chunk(head), 0);
            let c = &mut self.classes[ci];
            c.free_head = next;
            c.sl_curr -= 1;
            c.used_chunks += 1;
            return Some(head);
        }
        let c = &self.classes[ci];
        if c.end_page == NONE || c.end_next >= c.perslab {
            self.new_page(clsid)?;
        }
        let c = &mut self.classes[ci];
        let id = (c.end_page << CHUNK_BITS) | c.end_next;
        c.end_next += 1;
        c.used_chunks += 1;
        Some(id)
    }

    /// Returns a chunk to its class's free list (or, for a chunk of the
    /// page being moved, marks it free there).
    pub fn free(&mut self, id: u32, clsid: u8) {
        let ci = clsid as usize;
        if let Some(r) = &mut self.rebal {
            if r.page == id >> CHUNK_BITS {
                r.free[(id & CHUNK_MASK) as usize] = true;
                self.classes[ci].used_chunks -= 1;
                return;
            }
        }
        debug_assert_eq!(
            self.pages[(id >> CHUNK_BITS) as usize].size,
            self.classes[ci].size
        );
        let head = self.classes[ci].free_head;
        write_u32(self.chunk_mut(id), 0, head);
        let c = &mut self.classes[ci];
        c.free_head = id;
        c.sl_curr += 1;
        c.used_chunks -= 1;
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
        c.end_next = 0;
        Some(())
    }

    /// One free chunk of class `clsid` without taking a new page: what the
    /// page mover rescues items into.
    pub fn alloc_no_grow(&mut self, clsid: u8) -> Option<u32> {
        let c = &self.classes[clsid as usize];
        if c.free_head == NONE && (c.end_page == NONE || c.end_next >= c.perslab) {
            return None;
        }
        self.alloc(clsid)
    }

    /// Pages class `clsid` has (the global pool's for 0).
    pub fn class_pages(&self, clsid: u8) -> u32 {
        if clsid == 0 {
            self.pool.len() as u32
        } else {
            self.classes[clsid as usize].pages
        }
    }

    /// Pages in the global pool (`slab_global_page_pool`).
    pub fn pool_pages(&self) -> usize {
        self.pool.len()
    }

    /// A class other than `dst` with a page to spare, going round the
    /// classes from where the last pick stopped (memcached's
    /// slabs_reassign_pick_any); -1 if there is none.
    fn pick_any(&mut self, dst: i32) -> i32 {
        for _ in 0..self.largest {
            self.pick_cur = if self.pick_cur >= self.largest {
                1
            } else {
                self.pick_cur + 1
            };
            let c = self.pick_cur;
            if c as i32 != dst && self.classes[c as usize].pages > 1 {
                return c as i32;
            }
        }
        -1
    }

    /// `slabs reassign <src> <dst>`: starts moving the oldest page of class
    /// `src` (-1: any class with a page to spare; 0: the global pool) to
    /// class `dst` (0: the global pool). A page from the pool holds no
    /// items and moves at once; any other is emptied by
    /// `Cache::rebalance_work` over the next event loop turns.
    pub fn reassign(&mut self, src: i32, dst: i32) -> ReassignResult {
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
        let ci = src as usize;
        let p = self.classes[ci].page_list.remove(0);
        let perslab = self.classes[ci].perslab as usize;
        let mut free = vec![false; perslab];
        // The never-carved rest of the class's newest page is free already.
        if self.classes[ci].end_page == p {
            let c = &mut self.classes[ci];
            for f in free.iter_mut().skip(c.end_next as usize) {
                *f = true;
            }
            c.end_page = NONE;
            c.end_next = 0;
        }
        // Take the page's chunks off the free list, in one walk.
        let mut cur = self.classes[ci].free_head;
        let mut kept_head = NONE;
        let mut kept_tail = NONE;
        let mut taken = 0;
        while cur != NONE {
            let next = read_u32(self.chunk(cur), 0);
            if cur >> CHUNK_BITS == p {
                free[(cur & CHUNK_MASK) as usize] = true;
                taken += 1;
            } else {
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
        let c = &mut self.classes[ci];
        c.free_head = kept_head;
        c.sl_curr -= taken;
        self.rebal = Some(Rebal {
            page: p,
            src,
            dst,
            pos: 0,
            busy: 0,
            busy_loops: 0,
            backoff: false,
            free,
        });
        ReassignResult::Ok
    }

    /// One automove 1 look (see `Cache::automove_tick`): records this
    /// second in the window and returns the (source, destination) of the
    /// page to move, if any. `ages[c]` is the age of class c's oldest item.
    pub fn automove_decide(&mut self, ages: &[u64]) -> Option<(u8, u8)> {
        let w = &mut self.window;
        w.cur += 1;
        let slot = (w.cur % w.size as u64) as usize;
        let mut decision = None;
        let (mut oldest, mut oldest_age) = (0u8, 0u64);
        let (mut youngest, mut youngest_age, mut youngest_evicting) = (0u8, u64::MAX, false);
        for cls in 1..=self.largest {
            let ci = cls as usize;
            let c = &self.classes[ci];
            let free = Self::free_chunks_of(c);
            let evicted = self.evicted[ci] > w.evicted_before[ci];
            let s = WinSlot {
                dirty: evicted
                    || self.outofmemory[ci] > w.oom_before[ci]
                    || c.pages > w.pages_before[ci],
                excess_free: c.pages as f64 > MIN_PAGES_FOR_RECLAIM
                    && free as f64 > c.perslab as f64 * MIN_PAGES_FOR_RECLAIM,
                evicted,
                age: ages.get(ci).copied().unwrap_or(0),
            };
            w.evicted_before[ci] = self.evicted[ci];
            w.oom_before[ci] = self.outofmemory[ci];
            w.pages_before[ci] = c.pages;
            let base = ci * w.size;
            w.slots[base + slot] = s;
            let hist = &w.slots[base..base + w.size];
            let dirty = hist.iter().any(|h| h.dirty);
            let excess = hist.iter().filter(|h| h.excess_free).count();
            let age = hist.iter().map(|h| h.age).sum::<u64>() / w.size as u64;
            if decision.is_none()
                && free as f64 > c.perslab as f64 * MIN_PAGES_FOR_RECLAIM
                && !dirty
            {
                decision = Some((cls, 0));
            }
            if age > oldest_age && c.pages > MIN_PAGES_FOR_SOURCE {
                oldest = cls;
                oldest_age = age;
            }
            if age < youngest_age && c.pages != 0 && excess < w.size {
                youngest = cls;
                youngest_age = age;
                youngest_evicting = s.evicted;
            }
        }
        if decision.is_some() {
            return decision;
        }
        if youngest != 0
            && oldest != 0
            && w.cur > w.size as u64
            && (youngest_age as f64) < oldest_age as f64 * w.ratio
            && youngest_evicting
        {
            return Some((oldest, youngest));
        }
        None
    }

    fn free_chunks_of(c: &SlabClass) -> u64 {
        let tail = if c.end_page == NONE {
            0
        } else {
            c.perslab.saturating_sub(c.end_next)
        };
        c.sl_curr as u64 + tail as u64
    }

    /// Marks a chunk of the page being moved free after its item was
    /// copied elsewhere.
    pub fn release_moving(&mut self, id: u32) {
        if let Some(r) = &mut self.rebal {
            debug_assert_eq!(r.page, id >> CHUNK_BITS);
            r.free[(id & CHUNK_MASK) as usize] = true;
            let ci = r.src as usize;
            self.classes[ci].used_chunks -= 1;
        }
    }

    /// Ends a page move whose page is all free: the page goes to its new
    /// class, or to the global pool (or back to the system while more
    /// memory is allocated than `cache_memlimit` allows).
    pub fn finish_move(&mut self) {
        let Some(r) = self.rebal.take() else { return };
        self.classes[r.src as usize].pages -= 1;
        self.give_page(r.page, r.dst);
        self.move_stats.slabs_moved += 1;
    }

    /// Hands an empty page to class `dst`, its chunks all on the free
    /// list, or to the pool for 0.
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
        for i in (0..perslab).rev() {
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
    /// never-used rest of its newest page (`stats slabs` free_chunks).
    pub fn free_chunks(&self, clsid: u8) -> u64 {
        let c = &self.classes[clsid as usize];
        let tail = if c.end_page == NONE {
            0
        } else {
            c.perslab.saturating_sub(c.end_next)
        };
        c.sl_curr as u64 + tail as u64
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
        assert_eq!(c5.used_chunks, 2);
        slabs.free(ids[0], c1);
        assert_eq!(slabs.free_chunks(c1), 1);
        assert_eq!(slabs.free_chunks(9), 0);
    }

    /// Hands out every chunk class `c` can take; returns their ids.
    fn fill(slabs: &mut Slabs, c: u8) -> Vec<u32> {
        let mut ids = Vec::new();
        while let Some(id) = slabs.alloc(c) {
            // Mark the chunk used as items.rs would (a non-zero key length).
            slabs.chunk_mut(id)[28] = 1;
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

    #[test]
    fn move_start_takes_the_page_off_the_free_list() {
        let mut slabs = small_slabs(3);
        let ids = fill(&mut slabs, 1);
        let per = slabs.classes[1].perslab as usize;
        assert_eq!(ids.len(), 3 * per);
        // Free chunks on every page, interleaved on the free list.
        for &i in &[5, per + 1, 7, 2 * per + 3, 9, per + 8] {
            slabs.free(ids[i], 1);
        }
        assert_eq!(slabs.classes[1].sl_curr, 6);
        assert_eq!(slabs.reassign(1, 4), ReassignResult::Ok);
        let r = slabs.rebal.as_ref().unwrap();
        assert_eq!(r.page, ids[0] >> CHUNK_BITS);
        let free: Vec<usize> = (0..per).filter(|&i| r.free[i]).collect();
        assert_eq!(free, vec![5, 7, 9]);
        // The rest of the free list is intact and in order.
        assert_eq!(slabs.classes[1].sl_curr, 3);
        assert_eq!(slabs.alloc_no_grow(1), Some(ids[per + 8]));
        assert_eq!(slabs.alloc_no_grow(1), Some(ids[2 * per + 3]));
        assert_eq!(slabs.alloc_no_grow(1), Some(ids[per + 1]));
        assert_eq!(slabs.alloc_no_grow(1), None);
        // A chunk of the moving page freed now is marked, not listed.
        slabs.free(ids[0], 1);
        assert!(slabs.rebal.as_ref().unwrap().free[0]);
        assert_eq!(slabs.classes[1].sl_curr, 0);
        assert_eq!(slabs.reassign(1, 4), ReassignResult::Running);
    }

    #[test]
    fn finished_move_recarves_the_page_for_the_new_class() {
        let mut slabs = small_slabs(2);
        let ids = fill(&mut slabs, 1);
        let per1 = slabs.classes[1].perslab as usize;
        assert_eq!(slabs.reassign(1, 4), ReassignResult::Ok);
        for &id in &ids[..per1] {
            slabs.free(id, 1);
        }
        assert!(slabs.rebal.as_ref().unwrap().free.iter().all(|&f| f));
        slabs.finish_move();
        assert!(slabs.rebal.is_none());
        assert_eq!(slabs.move_stats.slabs_moved, 1);
        assert_eq!((slabs.classes[1].pages, slabs.classes[4].pages), (1, 1));
        assert_eq!(slabs.classes[1].used_chunks, per1 as u64);
        let per4 = slabs.classes[4].perslab as usize;
        assert_eq!(slabs.free_chunks(4), per4 as u64);
        // Every chunk of the page, carved at the new size, in page order.
        let page = ids[0] >> CHUNK_BITS;
        let got = fill(&mut slabs, 4);
        assert_eq!(got.len(), per4);
        assert!(got
            .iter()
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
        // Move the first page to the pool, then the second, then the
        // newest: its never-carved chunks count as free.
        for round in 0..2 {
            assert_eq!(slabs.reassign(1, 0), ReassignResult::Ok);
            for &id in &ids[round * per..(round + 1) * per] {
                slabs.free(id, 1);
            }
            slabs.finish_move();
        }
        assert_eq!(slabs.pool_pages(), 2);
        assert_eq!(slabs.reassign(1, 0), ReassignResult::NoSpare);
        assert_eq!(slabs.reassign(0, 0), ReassignResult::SrcDstSame);
        assert_eq!(slabs.reassign(-1, 0), ReassignResult::BadClass);
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
        assert!(slabs.free_chunks(1) >= per as u64 - 3);
    }

    #[test]
    fn automove_gives_back_free_pages_and_feeds_evicting_classes() {
        let st = Settings {
            maxbytes: 64 * 1024 * 1024,
            slab_automove_window: 3,
            ..Settings::default()
        };
        let mut slabs = Slabs::new(&st, 40);
        let per = slabs.classes[1].perslab as usize;
        let ids: Vec<u32> = (0..4 * per).map(|_| slabs.alloc(1).unwrap()).collect();
        let _ = (0..3 * slabs.classes[5].perslab)
            .map(|_| slabs.alloc(5))
            .count();
        let ages = [0u64; MAX_CLASSES + 1];
        // Class 1 just took pages: dirty for the whole window.
        for _ in 0..3 {
            assert_eq!(slabs.automove_decide(&ages), None);
        }
        for &id in &ids[..3 * per] {
            slabs.free(id, 1);
        }
        // Three pages of free chunks and a clean window: one goes back.
        assert_eq!(slabs.automove_decide(&ages), Some((1, 0)));
        // Class 5 is old, class 2 young and evicting: a page moves.
        let mut slabs = Slabs::new(&st, 40);
        let _ = (0..3 * slabs.classes[5].perslab)
            .map(|_| slabs.alloc(5))
            .count();
        slabs.alloc(2);
        let mut ages = [0u64; MAX_CLASSES + 1];
        ages[5] = 1000;
        ages[2] = 10;
        for _ in 0..4 {
            assert_eq!(slabs.automove_decide(&ages), None);
        }
        slabs.evicted[2] += 1;
        assert_eq!(slabs.automove_decide(&ages), Some((5, 2)));
    }
}
