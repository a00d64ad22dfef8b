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
}

/// One page of item memory and the class it was given to.
struct Page {
    mem: Box<[u8]>,
    size: u32,
    clsid: u8,
}

/// All item memory.
pub struct Slabs {
    pages: Vec<Page>,
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

    /// Returns a chunk to its class's free list.
    pub fn free(&mut self, id: u32, clsid: u8) {
        let ci = clsid as usize;
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

    /// Gives class `clsid` a new page if the limit allows (or if it has
    /// none yet). memcached's do_slabs_newslab.
    fn new_page(&mut self, clsid: u8) -> Option<()> {
        let ci = clsid as usize;
        let len = self.page_size as u64;
        if self.classes[ci].pages > 0 && self.mem_malloced + len > self.mem_limit {
            return None;
        }
        if self.pages.len() >= MAX_PAGES {
            return None;
        }
        let size = self.classes[ci].size;
        // A zeroed allocation comes straight from the kernel's zero pages:
        // memory is only resident once chunks are written.
        self.pages.push(Page {
            mem: vec![0u8; self.page_size].into_boxed_slice(),
            size,
            clsid,
        });
        self.mem_malloced += len;
        let c = &mut self.classes[ci];
        c.pages += 1;
        c.end_page = (self.pages.len() - 1) as u32;
        c.end_next = 0;
        Some(())
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

    /// Total pages handed out.
    pub fn total_pages(&self) -> usize {
        self.pages.len()
    }

    /// Changes the memory limit at run time (`cache_memlimit`). Pages
    /// already given out stay; the new limit bounds future growth.
    pub fn set_limit(&mut self, bytes: u64) {
        self.mem_limit = bytes;
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
}
