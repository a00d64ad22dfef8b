//! Counters and the replies of the `stats` command's groups, with
//! memcached 1.6's field names and order. Counters live next to the code
//! that bumps them: request counters here (one thread, so memcached's
//! per-thread stats are one set), per-class request counters in
//! `SlabStats` (bumped by the protocol and item layers), item counters and
//! the size histogram in items.rs, slab totals in slabs.rs.
//!
//! The groups, as `stats <group>` asks for them:
//!
//! ```text
//!   (none)          server_stats    the general group
//!   slabs           slabs_stats     per class, then active_slabs, total_malloced
//!   sizes           sizes_stats     item size histogram (-o track_sizes)
//!   detail dump     PrefixStats     per key prefix (-D, stats detail on)
//!   cachedump C N   cachedump       the keys of one class's LRU
//!   conns           conns_stats     one block per listener and connection
//! ```

use std::fmt::Display;
use std::io::Write;
use std::ops::{Index, IndexMut};

use crate::cache::hash::HashFn;
use crate::cache::slabs::MAX_CLASSES;
use crate::cache::Cache;
use crate::conn::{Conn, ConnState, Transport};
use crate::sys::SockName;

/// Request and connection counters (memcached's thread_stats plus
/// stats_state).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub get_cmds: u64,
    pub get_misses: u64,
    pub touch_cmds: u64,
    pub touch_misses: u64,
    pub flush_cmds: u64,
    pub meta_cmds: u64,
    pub delete_misses: u64,
    pub incr_misses: u64,
    pub decr_misses: u64,
    pub store_too_large: u64,
    pub store_no_memory: u64,
    pub auth_cmds: u64,
    pub auth_errors: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub conn_yields: u64,
    pub total_conns: u64,
    pub rejected_conns: u64,
    pub listen_disabled_num: u64,
    /// Connections currently open (clients only).
    pub curr_conns: u64,
    /// Most connection structures ever in use at once.
    pub conn_structs: u64,
    pub malloc_fails: u64,
    /// Connections closed by idle_timeout.
    pub idle_kicks: u64,
    /// Read buffers refused for read_buf_mem_limit.
    pub read_buf_oom: u64,
    /// Replies refused for read_buf_mem_limit (memcached's response
    /// objects).
    pub response_obj_oom: u64,
}

impl Stats {
    /// `stats reset`: clears the counters that memcached resets, keeping
    /// gauges (current connections, structures).
    pub fn reset(&mut self) {
        let curr = self.curr_conns;
        let structs = self.conn_structs;
        *self = Stats::default();
        self.curr_conns = curr;
        self.conn_structs = structs;
    }
}

/// Appends one `STAT name value\r\n` line.
#[inline]
pub fn append_stat(out: &mut Vec<u8>, name: &str, value: impl Display) {
    let _ = write!(out, "STAT {} {}\r\n", name, value);
}

/// The general `stats` group, in memcached 1.6's order. Fields that only
/// exist for memcached's worker threads, extstore or TLS are left out;
/// `threads` reports 1, the server's real thread count.
pub fn server_stats(core: &crate::server::Core, out: &mut Vec<u8>) {
    let s = &core.stats;
    let is = &core.cache.item_stats();
    // As memcached: the hit counters of the general group are the sums of
    // the per-class ones.
    let cs = is.slab_stats.total();
    let clock = core.cache.clock();
    let (ru_user, ru_sys) = crate::sys::rusage();
    let usec = |us: u64| format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    append_stat(out, "pid", std::process::id());
    append_stat(
        out,
        "uptime",
        clock
            .current_time
            .saturating_sub(crate::cache::clock::ITEM_UPDATE_INTERVAL + 2),
    );
    append_stat(out, "time", clock.now_unix());
    append_stat(out, "version", env!("CARGO_PKG_VERSION"));
    append_stat(out, "libevent", "epoll");
    append_stat(out, "pointer_size", 8 * std::mem::size_of::<usize>());
    append_stat(out, "rusage_user", usec(ru_user));
    append_stat(out, "rusage_system", usec(ru_sys));
    append_stat(out, "max_connections", core.settings.maxconns);
    append_stat(out, "curr_connections", s.curr_conns);
    append_stat(out, "total_connections", s.total_conns);
    if core.settings.maxconns_fast {
        append_stat(out, "rejected_connections", s.rejected_conns);
    }
    append_stat(out, "connection_structures", s.conn_structs);
    // The connection buffers (bufpool.rs says what each line counts).
    let pool = &core.pool;
    append_stat(out, "response_obj_oom", s.response_obj_oom);
    append_stat(out, "response_obj_count", pool.response_obj_count());
    append_stat(out, "response_obj_bytes", pool.response_obj_bytes());
    append_stat(out, "read_buf_count", pool.read_buf_count());
    append_stat(out, "read_buf_bytes", pool.read_buf_bytes());
    append_stat(out, "read_buf_bytes_free", pool.read_buf_bytes_free());
    append_stat(out, "read_buf_oom", s.read_buf_oom);
    append_stat(out, "reserved_fds", core.reserved_fds);
    append_stat(out, "cmd_get", s.get_cmds);
    append_stat(out, "cmd_set", cs.set_cmds);
    append_stat(out, "cmd_flush", s.flush_cmds);
    append_stat(out, "cmd_touch", s.touch_cmds);
    append_stat(out, "cmd_meta", s.meta_cmds);
    append_stat(out, "get_hits", cs.get_hits());
    append_stat(out, "get_misses", s.get_misses);
    append_stat(out, "get_expired", is.get_expired);
    append_stat(out, "get_flushed", is.get_flushed);
    append_stat(out, "delete_misses", s.delete_misses);
    append_stat(out, "delete_hits", cs.delete_hits);
    append_stat(out, "incr_misses", s.incr_misses);
    append_stat(out, "incr_hits", cs.incr_hits);
    append_stat(out, "decr_misses", s.decr_misses);
    append_stat(out, "decr_hits", cs.decr_hits);
    append_stat(out, "cas_misses", is.cas_misses);
    append_stat(out, "cas_hits", cs.cas_hits);
    append_stat(out, "cas_badval", cs.cas_badval);
    append_stat(out, "touch_hits", cs.touch_hits);
    append_stat(out, "touch_misses", s.touch_misses);
    append_stat(out, "store_too_large", s.store_too_large);
    append_stat(out, "store_no_memory", s.store_no_memory);
    append_stat(out, "auth_cmds", s.auth_cmds);
    append_stat(out, "auth_errors", s.auth_errors);
    if core.settings.idle_timeout > 0 {
        append_stat(out, "idle_kicks", s.idle_kicks);
    }
    append_stat(out, "bytes_read", s.bytes_read);
    append_stat(out, "bytes_written", s.bytes_written);
    append_stat(out, "limit_maxbytes", core.settings.maxbytes);
    append_stat(out, "accepting_conns", u8::from(core.accepting));
    append_stat(out, "listen_disabled_num", s.listen_disabled_num);
    append_stat(out, "time_in_listen_disabled_us", 0);
    append_stat(out, "threads", 1);
    append_stat(out, "conn_yields", s.conn_yields);
    append_stat(out, "hash_power_level", core.cache.assoc().hashpower);
    append_stat(out, "hash_bytes", core.cache.assoc().hash_bytes());
    append_stat(
        out,
        "hash_is_expanding",
        u8::from(core.cache.assoc().expanding),
    );
    // As memcached: the page mover's lines only with slab_reassign on.
    if core.settings.slab_reassign {
        let ms = &core.cache.slabs().move_stats;
        append_stat(out, "slab_reassign_rescues", ms.rescues);
        append_stat(out, "slab_reassign_chunk_rescues", ms.chunk_rescues);
        append_stat(out, "slab_reassign_inline_reclaim", ms.inline_reclaim);
        append_stat(out, "slab_reassign_busy_items", ms.busy_items);
        append_stat(out, "slab_reassign_busy_deletes", ms.busy_deletes);
        append_stat(out, "slab_reassign_busy_nomem", ms.busy_nomem);
        append_stat(
            out,
            "slab_reassign_last_busy_status",
            ms.last_busy_status.name(),
        );
        append_stat(
            out,
            "slab_reassign_running",
            u8::from(core.cache.slabs().rebal.is_some()),
        );
        append_stat(out, "slabs_moved", ms.slabs_moved);
    }
    // As memcached: the crawler's two lines only while it is enabled.
    if core.settings.lru_crawler {
        append_stat(out, "lru_crawler_running", u8::from(core.crawler.running()));
        append_stat(out, "lru_crawler_starts", core.crawler.starts);
    }
    // As memcached: the maintainer's lines only when it runs (not with
    // no_lru_maintainer), whether or not the LRU is segmented.
    let maint = core.settings.lru_maintainer_thread;
    if maint {
        append_stat(out, "lru_maintainer_juggles", core.cache.lru().juggles);
    }
    append_stat(out, "malloc_fails", s.malloc_fails);
    // There is no per-worker log buffer to overflow (see logger.rs):
    // log_worker_dropped stays 0.
    let log = core.cache.logger();
    append_stat(out, "log_worker_dropped", 0);
    append_stat(out, "log_worker_written", log.worker_written);
    append_stat(out, "log_watcher_skipped", log.watcher_skipped);
    append_stat(out, "log_watcher_sent", log.watcher_sent);
    append_stat(out, "log_watchers", log.watchers.len());
    append_stat(out, "bytes", is.curr_bytes);
    append_stat(out, "curr_items", is.curr_items);
    append_stat(out, "total_items", is.total_items);
    append_stat(
        out,
        "slab_global_page_pool",
        core.cache.slabs().pool_pages(),
    );
    let t = core.cache.itemstats_total();
    append_stat(out, "expired_unfetched", t.expired_unfetched);
    append_stat(out, "evicted_unfetched", t.evicted_unfetched);
    if maint {
        append_stat(out, "evicted_active", t.evicted_active);
    }
    append_stat(out, "evictions", t.evicted);
    append_stat(out, "reclaimed", t.reclaimed);
    append_stat(out, "crawler_reclaimed", t.crawler_reclaimed);
    append_stat(out, "crawler_items_checked", t.crawler_items_checked);
    append_stat(out, "lrutail_reflocked", t.lrutail_reflocked);
    if maint {
        append_stat(out, "moves_to_cold", t.moves_to_cold);
        append_stat(out, "moves_to_warm", t.moves_to_warm);
        append_stat(out, "moves_within_lru", t.moves_within_lru);
        append_stat(out, "direct_reclaims", t.direct_reclaims);
        // Fetches move COLD items to WARM through a queue that never
        // fills, so no bump is ever dropped.
        append_stat(out, "lru_bumps_dropped", 0);
    }
    crate::dump::append_stats(core, out);
}

// ======================== per-class counters ========================

/// The request counters memcached keeps per slab class (its slab_stats):
/// `stats slabs` shows them class by class, and the general group's
/// cmd_set, get_hits, touch_hits, delete_hits, incr_hits, decr_hits,
/// cas_hits and cas_badval are their sums. A request bumps one field of
/// one class, the class its item counts in (`Cache::item_clsid`): one
/// indexed add on the request path, and the sums are only made by `stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClassStats {
    /// Values read off the wire for a storage command (set, add, replace,
    /// append, prepend, cas, ms), counted in the class of the new item.
    pub set_cmds: u64,
    /// Retrievals that found the item (get, gets, mg without T), by the
    /// segment the item was on (HOT, WARM, COLD, TEMP): `stats items`'
    /// hits_to_*; their sum is get_hits.
    pub lru_hits: [u64; 4],
    /// Retrievals and touches that found the item and set a new expiry
    /// (gat, gats, touch, mg with T).
    pub touch_hits: u64,
    /// Deletes that removed the item (delete, md).
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    /// CAS stores that matched, counted in the class of the item replaced.
    pub cas_hits: u64,
    /// CAS stores refused for a CAS mismatch, counted likewise.
    pub cas_badval: u64,
}

/// `ClassStats` for every class id, 0 to MAX_CLASSES.
#[derive(Debug, Clone)]
pub struct SlabStats([ClassStats; MAX_CLASSES + 1]);

impl Default for SlabStats {
    fn default() -> Self {
        SlabStats([ClassStats::default(); MAX_CLASSES + 1])
    }
}

impl Index<u8> for SlabStats {
    type Output = ClassStats;
    #[inline]
    fn index(&self, cls: u8) -> &ClassStats {
        &self.0[cls as usize]
    }
}

impl IndexMut<u8> for SlabStats {
    #[inline]
    fn index_mut(&mut self, cls: u8) -> &mut ClassStats {
        &mut self.0[cls as usize]
    }
}

impl ClassStats {
    /// Retrievals that found the item, on whatever segment.
    pub fn get_hits(&self) -> u64 {
        self.lru_hits.iter().sum()
    }
}

impl SlabStats {
    /// The counters of all classes added up.
    pub fn total(&self) -> ClassStats {
        let mut t = ClassStats::default();
        for c in &self.0 {
            t.set_cmds += c.set_cmds;
            for i in 0..4 {
                t.lru_hits[i] += c.lru_hits[i];
            }
            t.touch_hits += c.touch_hits;
            t.delete_hits += c.delete_hits;
            t.incr_hits += c.incr_hits;
            t.decr_hits += c.decr_hits;
            t.cas_hits += c.cas_hits;
            t.cas_badval += c.cas_badval;
        }
        t
    }
}

/// `stats reset`: what memcached clears. Request counters, the per-class
/// counters, the item counters that count events (not the current
/// state: items, bytes, connections stay) and the per-prefix counters.
pub fn reset(core: &mut crate::server::Core) {
    core.stats.reset();
    core.cache.reset_stats();
    core.prefixes.clear();
}

// ======================== stats slabs ========================

/// `stats slabs`: for every class that has pages, its geometry, how many
/// chunks are in use, and its request counters; then the number of such
/// classes and the bytes of pages handed out. Chunk sizes are ours (our
/// item header is smaller than memcached's, see doc/item-memory.md).
/// `free_chunks` counts the free list and the never-used rest of the
/// newest page alike, as memcached (which cuts a whole page into its free
/// list at once) does; `free_chunks_end` is always 0 there and here.
pub fn slabs_stats(cache: &Cache, out: &mut Vec<u8>) {
    let slabs = cache.slabs();
    let mut active = 0;
    for cls in 1..=slabs.largest {
        let c = &slabs.classes[cls as usize];
        if c.pages == 0 {
            continue;
        }
        active += 1;
        let st = &cache.item_stats().slab_stats[cls];
        let total = c.pages as u64 * c.perslab as u64;
        let free = slabs.free_chunks(cls);
        let mut num = |name: &str, v: u64| {
            let _ = write!(out, "STAT {}:{} {}\r\n", cls, name, v);
        };
        num("chunk_size", c.size as u64);
        num("chunks_per_page", c.perslab as u64);
        num("total_pages", c.pages as u64);
        num("total_chunks", total);
        num("used_chunks", total - free);
        num("free_chunks", free);
        num("free_chunks_end", 0);
        num("get_hits", st.get_hits());
        num("cmd_set", st.set_cmds);
        num("delete_hits", st.delete_hits);
        num("incr_hits", st.incr_hits);
        num("decr_hits", st.decr_hits);
        num("cas_hits", st.cas_hits);
        num("cas_badval", st.cas_badval);
        num("touch_hits", st.touch_hits);
    }
    append_stat(out, "active_slabs", active);
    append_stat(out, "total_malloced", slabs.mem_malloced);
}

// ======================== stats items ========================

/// `stats items`: for every class with linked items, memcached 1.6.18's
/// lines in its order. The per-segment counts and ages, evicted_active,
/// the moves and the hits appear only with the LRU maintainer (whatever
/// `lru mode` says), number_temp only with the TEMP LRU on as well, as
/// memcached prints them. Ages are seconds since
/// the tail item of HOT, WARM and COLD (`age`) was last accessed;
/// mem_requested is the bytes (header, key, value) of the class's items,
/// in our item size (see doc/compatibility.md).
pub fn items_stats(cache: &Cache, out: &mut Vec<u8>) {
    use crate::cache::lru::{COLD_LRU, HOT_LRU, TEMP_LRU, WARM_LRU};
    let lru = cache.lru();
    let now = cache.now();
    let age_of = |lid: u8| -> u32 {
        let t = lru.tail(lid);
        if t == crate::cache::slabs::NONE {
            0
        } else {
            now.saturating_sub(crate::cache::item::time(cache.slabs().chunk(t)))
        }
    };
    let segs = [HOT_LRU, WARM_LRU, COLD_LRU, TEMP_LRU];
    // As memcached 1.6.18: the segment lines follow the maintainer, not
    // the mode (`lru mode flat` keeps them).
    let seg_cfg = lru.cfg.maintainer;
    for cls in 1..=MAX_CLASSES as u8 {
        let n: [u64; 4] = segs.map(|s| lru.sizes[(cls | s) as usize]);
        let number: u64 = n.iter().sum();
        if number == 0 {
            continue;
        }
        let mem: u64 = segs.iter().map(|&s| lru.bytes[(cls | s) as usize]).sum();
        let st = &lru.itemstats[cls as usize];
        let hits = &cache.item_stats().slab_stats[cls].lru_hits;
        let mut num = |name: &str, v: u64| {
            let _ = write!(out, "STAT items:{}:{} {}\r\n", cls, name, v);
        };
        num("number", number);
        if seg_cfg {
            num("number_hot", n[0]);
            num("number_warm", n[1]);
            num("number_cold", n[2]);
            if lru.cfg.temp_lru {
                num("number_temp", n[3]);
            }
            num("age_hot", age_of(cls | HOT_LRU) as u64);
            num("age_warm", age_of(cls | WARM_LRU) as u64);
        }
        num("age", age_of(cls | COLD_LRU) as u64);
        num("mem_requested", mem);
        num("evicted", st.evicted);
        num("evicted_nonzero", st.evicted_nonzero);
        num("evicted_time", st.evicted_time as u64);
        num("outofmemory", st.outofmemory);
        num("tailrepairs", st.tailrepairs);
        num("reclaimed", st.reclaimed);
        num("expired_unfetched", st.expired_unfetched);
        num("evicted_unfetched", st.evicted_unfetched);
        if seg_cfg {
            num("evicted_active", st.evicted_active);
        }
        num("crawler_reclaimed", st.crawler_reclaimed);
        num("crawler_items_checked", st.crawler_items_checked);
        num("lrutail_reflocked", st.lrutail_reflocked);
        if seg_cfg {
            num("moves_to_cold", st.moves_to_cold);
            num("moves_to_warm", st.moves_to_warm);
            num("moves_within_lru", st.moves_within_lru);
            num("direct_reclaims", st.direct_reclaims);
            num("hits_to_hot", hits[0]);
            num("hits_to_warm", hits[1]);
            num("hits_to_cold", hits[2]);
            num("hits_to_temp", hits[3]);
        }
    }
}

// ======================== stats sizes ========================

/// `stats sizes`: `STAT <size> <items>` for every 32-byte bucket of item
/// sizes that holds an item (the size is the bucket's upper bound), or
/// `sizes_status disabled` when the histogram is off.
pub fn sizes_stats(cache: &Cache, out: &mut Vec<u8>) {
    match cache.sizes() {
        Some(h) => {
            for (bucket, n) in h.buckets() {
                append_stat(out, &(bucket * crate::cache::SIZES_BUCKET).to_string(), n);
            }
        }
        None => append_stat(out, "sizes_status", "disabled"),
    }
}

// ======================== stats detail ========================

/// Buckets of the prefix table (memcached's PREFIX_HASH_SIZE); `stats
/// detail dump` lists the prefixes bucket by bucket.
const PREFIX_BUCKETS: usize = 256;

/// One key prefix's counters.
struct PrefixEntry {
    prefix: Box<[u8]>,
    gets: u64,
    hits: u64,
    sets: u64,
    dels: u64,
}

/// Per-prefix counters for `stats detail` (memcached's stats_prefix.c).
/// A key's prefix is what comes before the first `-D` delimiter; keys
/// without one are not counted. Classic get/gets/gat/gats count a get
/// (and a hit when found), set/add/replace/append/prepend/cas a set once
/// their command line is read, delete a delete whether or not the key was
/// there; meta commands, incr, decr and touch are not counted, as in
/// memcached 1.6.18. Only recorded while detail is on (`-D` or `stats
/// detail on`): otherwise the request path pays one flag test.
pub struct PrefixStats {
    /// PREFIX_BUCKETS lists (empty until the first prefix is seen), each
    /// in order of first use; a dump shows a bucket newest first.
    buckets: Vec<Vec<PrefixEntry>>,
    /// The byte that ends a prefix (`-D`, ':' by default).
    delimiter: u8,
    /// The item hash function, which also places prefixes in buckets.
    hash: HashFn,
}

impl PrefixStats {
    pub fn new(delimiter: u8, hash: HashFn) -> PrefixStats {
        PrefixStats {
            buckets: Vec::new(),
            delimiter,
            hash,
        }
    }

    /// The entry of `key`'s prefix, created on first use; None if the key
    /// has no delimiter.
    fn entry(&mut self, key: &[u8]) -> Option<&mut PrefixEntry> {
        let len = memchr::memchr(self.delimiter, key)?;
        let prefix = &key[..len];
        if self.buckets.is_empty() {
            self.buckets.resize_with(PREFIX_BUCKETS, Vec::new);
        }
        let b = (self.hash)(prefix) as usize % PREFIX_BUCKETS;
        let list = &mut self.buckets[b];
        let i = match list.iter().position(|e| &*e.prefix == prefix) {
            Some(i) => i,
            None => {
                list.push(PrefixEntry {
                    prefix: prefix.into(),
                    gets: 0,
                    hits: 0,
                    sets: 0,
                    dels: 0,
                });
                list.len() - 1
            }
        };
        Some(&mut list[i])
    }

    /// A retrieval of `key`, found or not.
    pub fn record_get(&mut self, key: &[u8], hit: bool) {
        if let Some(e) = self.entry(key) {
            e.gets += 1;
            e.hits += u64::from(hit);
        }
    }

    /// A storage command for `key`.
    pub fn record_set(&mut self, key: &[u8]) {
        if let Some(e) = self.entry(key) {
            e.sets += 1;
        }
    }

    /// A delete of `key`.
    pub fn record_delete(&mut self, key: &[u8]) {
        if let Some(e) = self.entry(key) {
            e.dels += 1;
        }
    }

    /// Forgets every prefix (`stats reset`).
    pub fn clear(&mut self) {
        self.buckets = Vec::new();
    }

    /// `stats detail dump`: one PREFIX line per prefix, then END.
    pub fn dump(&self, out: &mut Vec<u8>) {
        for list in &self.buckets {
            for e in list.iter().rev() {
                out.extend_from_slice(b"PREFIX ");
                out.extend_from_slice(&e.prefix);
                let _ = write!(
                    out,
                    " get {} hit {} set {} del {}\r\n",
                    e.gets, e.hits, e.sets, e.dels
                );
            }
        }
        out.extend_from_slice(b"END\r\n");
    }
}

// ======================== stats cachedump ========================

/// A cachedump reply, END included, stays below this many bytes
/// (memcached's limit).
pub const CACHEDUMP_MAX: usize = 2 * 1024 * 1024;

/// `stats cachedump <class> <limit>`: one `ITEM <key> [<bytes> b; <exptime>
/// s]` line per item of the class's LRU, most recently used first, at most
/// `limit` of them (0: no limit) and as many as fit CACHEDUMP_MAX bytes,
/// then END. The expiry is a unix time (0: never); expired items not yet
/// reclaimed are listed too, and items stored with a binary (base64) key
/// are left out, as memcached does. Only the class's COLD list is dumped,
/// as memcached does.
pub fn cachedump(cache: &Cache, cls: u8, limit: u32, out: &mut Vec<u8>) {
    use crate::cache::item;
    let start = out.len();
    let mut shown = 0u32;
    let mut line = Vec::with_capacity(300);
    let mut id = cache.lru().head(cls | crate::cache::lru::COLD_LRU);
    while id != crate::cache::slabs::NONE && (limit == 0 || shown < limit) {
        let c = cache.slabs().chunk(id);
        id = item::next(c);
        if item::iflags(c) & item::ITEM_KEY_BINARY != 0 {
            continue;
        }
        let exp = cache.clock().to_unix(item::exptime(c));
        line.clear();
        line.extend_from_slice(b"ITEM ");
        line.extend_from_slice(item::key_of(c));
        let _ = write!(line, " [{} b; {} s]\r\n", item::nbytes(c), exp);
        if out.len() - start + line.len() + 6 > CACHEDUMP_MAX {
            break;
        }
        out.extend_from_slice(&line);
        shown += 1;
    }
    out.extend_from_slice(b"END\r\n");
}

// ======================== stats conns ========================

/// The text memcached gives a socket address in `stats conns`:
/// `tcp:1.2.3.4:port`, `tcp6:[::1]:port`, `unix:/path`, and `<AF n>` in
/// place of an address too short to print (an unnamed unix socket).
fn sock_text(name: &SockName) -> String {
    let (proto, addr, port) = match name {
        SockName::Inet(std::net::SocketAddr::V4(a)) => ("tcp", a.ip().to_string(), a.port()),
        SockName::Inet(std::net::SocketAddr::V6(a)) => ("tcp6", format!("[{}]", a.ip()), a.port()),
        SockName::Unix(path) => ("unix", String::from_utf8_lossy(path).into_owned(), 0),
        SockName::Other(_) => ("?", String::new(), 0),
    };
    let addr = if addr.len() < 2 {
        format!("<AF {}>", name.family())
    } else {
        addr
    };
    if port != 0 {
        format!("{}:{}:{}", proto, addr, port)
    } else {
        format!("{}:{}", proto, addr)
    }
}

/// The address a connection's peer is shown with. memcached records a
/// TCP client's address when it accepts it and never asks a unix socket
/// client for one, so those show the text of an empty address; both are
/// reproduced here.
fn peer_text(c: &Conn) -> String {
    match c.transport {
        Transport::Unix => sock_text(&SockName::Other(0)),
        Transport::Tcp => sock_text(&crate::sys::peer_name(c.fd).unwrap_or(SockName::Other(0))),
        // A UDP socket has no peer; `conns_stats` shows its own address.
        Transport::Udp => String::new(),
    }
}

/// `stats conns`: a block per listening socket and per client connection,
/// in descriptor order. A listener shows its address; a client its peer,
/// the address it reached us on (`listen_addr`), its state by memcached's
/// names, and the seconds since its last command. The connection that
/// asked is in conn_parse_cmd while this runs.
pub fn conns_stats(server: &crate::server::Server, out: &mut Vec<u8>) {
    enum Row<'a> {
        Listener(&'a crate::server::Listener),
        Client(&'a Conn),
    }
    let now = server.core.cache.now() as i64;
    let mut rows: Vec<(i32, Row)> = server
        .listeners
        .iter()
        .map(|l| (l.fd, Row::Listener(l)))
        .chain(server.conns.iter().map(|(_, c)| (c.fd, Row::Client(c))))
        .collect();
    rows.sort_by_key(|r| r.0);
    for (fd, row) in rows {
        let mut stat = |name: &str, v: &dyn Display| {
            let _ = write!(out, "STAT {}:{} {}\r\n", fd, name, v);
        };
        let local = sock_text(&crate::sys::sock_name(fd).unwrap_or(SockName::Other(0)));
        match row {
            Row::Listener(l) => {
                stat("addr", &local);
                stat("state", &ConnState::Listening.name());
                stat("secs_since_last_cmd", &(now - l.opened as i64));
            }
            Row::Client(c) if c.transport == Transport::Udp => {
                // As memcached: a UDP socket is a connection always reading.
                stat("UDP", &"UDP");
                stat("addr", &local.replacen("tcp", "udp", 1));
                stat("state", &ConnState::Read.name());
                stat("secs_since_last_cmd", &(now - c.last_cmd_time as i64));
            }
            Row::Client(c) => {
                stat("addr", &peer_text(c));
                stat("listen_addr", &local);
                stat("state", &c.state.name());
                stat("secs_since_last_cmd", &(now - c.last_cmd_time as i64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::StoreCmd;
    use crate::settings::Settings;

    #[test]
    fn prefixes_dump_by_hash_bucket_newest_first() {
        let mut p = PrefixStats::new(b':', crate::cache::hash::murmur3_32);
        let mut out = Vec::new();
        p.dump(&mut out);
        assert_eq!(out, b"END\r\n");
        // murmur3 buckets: "" 0, "b" 3, "a" 178, "q" 232.
        p.record_set(b"a:1");
        p.record_get(b"a:2", true);
        p.record_get(b"q:1", false);
        p.record_delete(b"b:x:y");
        p.record_set(b":x");
        p.record_set(b"nodelimiter");
        out.clear();
        p.dump(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PREFIX  get 0 hit 0 set 1 del 0\r\n\
             PREFIX b get 0 hit 0 set 0 del 1\r\n\
             PREFIX a get 1 hit 1 set 1 del 0\r\n\
             PREFIX q get 1 hit 0 set 0 del 0\r\n\
             END\r\n"
        );
        // Two prefixes in one bucket: the later one is listed first.
        let mut p = PrefixStats::new(b':', |_| 7);
        p.record_set(b"x:1");
        p.record_set(b"y:1");
        let mut out = Vec::new();
        p.dump(&mut out);
        assert!(out.starts_with(b"PREFIX y get 0 hit 0 set 1 del 0\r\nPREFIX x "));
        p.clear();
        out.clear();
        p.dump(&mut out);
        assert_eq!(out, b"END\r\n");
    }

    #[test]
    fn socket_addresses_as_memcached_prints_them() {
        let v4 = SockName::Inet("127.0.0.1:11211".parse().unwrap());
        assert_eq!(sock_text(&v4), "tcp:127.0.0.1:11211");
        let v6 = SockName::Inet("[::1]:5".parse().unwrap());
        assert_eq!(sock_text(&v6), "tcp6:[::1]:5");
        let any6 = SockName::Inet("[::]:11211".parse().unwrap());
        assert_eq!(sock_text(&any6), "tcp6:[::]:11211");
        assert_eq!(
            sock_text(&SockName::Unix(b"/tmp/mc".to_vec())),
            "unix:/tmp/mc"
        );
        assert_eq!(sock_text(&SockName::Unix(Vec::new())), "unix:<AF 1>");
        assert_eq!(sock_text(&SockName::Other(0)), "?:<AF 0>");
    }

    fn put(c: &mut Cache, key: &[u8], nbytes: usize) {
        let id = c.alloc(key, 0, 0, nbytes).unwrap();
        c.store_item(-1, id, StoreCmd::Set, 0);
    }

    #[test]
    fn cachedump_lists_newest_first_within_limits() {
        // Flat: every item on COLD, the list cachedump reads.
        let mut c = Cache::new(&Settings {
            lru_segmented: false,
            ..Settings::default()
        });
        put(&mut c, b"a", 1);
        put(&mut c, b"b", 2);
        put(&mut c, b"c", 3);
        let mut out = Vec::new();
        cachedump(&c, 1, 0, &mut out);
        assert_eq!(
            out,
            b"ITEM c [3 b; 0 s]\r\nITEM b [2 b; 0 s]\r\nITEM a [1 b; 0 s]\r\nEND\r\n"
        );
        out.clear();
        cachedump(&c, 1, 1, &mut out);
        assert_eq!(out, b"ITEM c [3 b; 0 s]\r\nEND\r\n");
        out.clear();
        cachedump(&c, 2, 0, &mut out);
        assert_eq!(out, b"END\r\n");
        // The reply stays under CACHEDUMP_MAX, whatever the limit.
        let mut c = Cache::new(&Settings {
            lru_segmented: false,
            ..Settings::default()
        });
        for i in 0..10_000 {
            put(&mut c, format!("{:0>200}", i).as_bytes(), 1);
        }
        let cls = c.slabs().clsid(40 + 200 + 1);
        out.clear();
        cachedump(&c, cls, 0, &mut out);
        let line = "ITEM ".len() + 200 + " [1 b; 0 s]\r\n".len();
        assert_eq!(out.len(), (CACHEDUMP_MAX - 6) / line * line + 5);
    }

    #[test]
    fn slabs_group_counts_chunks_and_hits() {
        let mut c = Cache::new(&Settings::default());
        let mut out = Vec::new();
        slabs_stats(&c, &mut out);
        assert_eq!(out, b"STAT active_slabs 0\r\nSTAT total_malloced 0\r\n");
        put(&mut c, b"a", 1);
        put(&mut c, b"b", 1);
        c.delete(-1, b"a");
        for _ in 0..3 {
            assert_ne!(c.fetch(-1, b"b"), crate::cache::slabs::NONE);
        }
        out.clear();
        slabs_stats(&c, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "STAT 1:chunk_size 88\r\nSTAT 1:chunks_per_page 11915\r\n\
             STAT 1:total_pages 1\r\nSTAT 1:total_chunks 11915\r\n\
             STAT 1:used_chunks 1\r\nSTAT 1:free_chunks 11914\r\n\
             STAT 1:free_chunks_end 0\r\nSTAT 1:get_hits 3\r\n"
        ));
        assert!(text.ends_with("STAT active_slabs 1\r\nSTAT total_malloced 1048576\r\n"));
        assert_eq!(c.item_stats().slab_stats.total().get_hits(), 3);
    }
}
