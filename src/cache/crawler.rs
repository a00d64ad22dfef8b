//! The LRU crawler (memcached's crawler.c): walks the LRU lists of chosen
//! slab classes from tail to head, either reclaiming the expired and
//! flushed items it meets (`lru_crawler crawl`, and the automatic crawls
//! scheduled on the one-second timer) or writing one line per live item to
//! the client that asked for it (`lru_crawler metadump` and `mgdump`).
//!
//! memcached runs its crawler in a thread of its own. Here it is a job of
//! the event loop: `run_step` visits at most `CRAWLS_PER_STEP` items and
//! returns, and the loop calls it again `lru_crawler_sleep` microseconds
//! later (rounded up to the loop's millisecond timer), so a crawl of a
//! large cache never holds the loop for long. Only one crawl runs at a
//! time; a second request gets BUSY, as in memcached.
//!
//! Where the crawl stands between two steps is kept in one item id, the
//! LRU's `crawl_cursor` (see lru.rs): the crawl walks its lists one after
//! the other (HOT, WARM, COLD, TEMP of each class in turn), and the unlink
//! path moves the cursor on when it takes the cursor's item off its list,
//! which is the one comparison the rest of the server pays for the crawler.
//! A dump of `hash` walks the hash table instead, a bucket number as its
//! place (`Assoc::walk_bucket`).
//!
//! A dump streams into its connection's output queue: a step adds lines
//! only while less than `DUMP_HIGH_WATER` bytes wait to be written there,
//! so a client that reads slowly pauses the crawl instead of growing a
//! buffer, and one that disconnects ends it (`client_gone`). Meanwhile
//! the connection runs no further command (see `Conn::crawler_dump`);
//! after the closing `END` (`EN` for mgdump) it goes on with the commands
//! it has sent since.

use super::change::Reason;
use super::item::{self, ITEM_FETCHED, ITEM_KEY_BINARY};
use super::Cache;
use crate::cache::lru::{CLSID_MASK, COLD_LRU, HOT_LRU, TEMP_LRU, WARM_LRU};
use crate::cache::slabs::NONE;
use crate::conn;
use crate::server::Server;

/// Items visited per step (memcached's crawls_persleep default): the
/// crawler rests `lru_crawler_sleep` microseconds after each step.
pub const CRAWLS_PER_STEP: usize = 1000;
/// A dump adds no lines while its client has this much output queued.
pub const DUMP_HIGH_WATER: usize = 64 * 1024;
/// Slab class ids are 1..=MAX_CLASS_ID (memcached's
/// MAX_NUMBER_OF_SLAB_CLASSES - 1).
pub const MAX_CLASS_ID: u32 = 63;
/// An automatic crawl of a class starts at least this many seconds after
/// the previous crawl of that class ended...
pub const AUTOCRAWL_MIN_WAIT: u32 = 60;
/// ...and at most this many, if the class has items at all (memcached's
/// MAX_MAINTCRAWL_WAIT).
pub const AUTOCRAWL_MAX_WAIT: u32 = 60 * 60;
/// memcached's item header with its CAS field, for the `size=` of a
/// metadump line (which reports memcached's item size).
const MC_HEADER: usize = 48;

/// What a crawl does with the items it visits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrawlKind {
    /// Reclaims expired and flushed items (`lru_crawler crawl`).
    Expired,
    /// One `key=... exp=...` line per live item, then `END`.
    Metadump,
    /// One `mg <key>` line per live item, then `EN`.
    Mgdump,
}

/// Why a crawl could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// Another crawl is running: `BUSY currently processing crawler request`.
    Busy,
}

/// The crawl in progress.
struct Run {
    kind: CrawlKind,
    /// The list ids to walk, in order; `pos` is the one being walked.
    lists: Vec<u8>,
    pos: usize,
    /// The cursor was placed at the tail of `lists[pos]`.
    started: bool,
    /// Items the current list may still have visited (`lru_crawler
    /// tocrawl`, per list as in memcached, for crawls only; u64::MAX for
    /// no limit).
    remaining: u64,
    /// The connection a dump is written to.
    client: Option<usize>,
    /// Classes whose walk was cut short by `tocrawl`.
    cut_short: [bool; 64],
    /// A dump of `hash`: it walks the hash table instead of the lists,
    /// `walk_base` buckets counted from `next_bucket` (see
    /// `Assoc::walk_bucket`), whole buckets per step.
    hash: Option<HashWalk>,
}

struct HashWalk {
    base: usize,
    next_bucket: usize,
}

/// The crawler's state and counters (memcached's crawlerstats and the
/// crawler fields of its global stats).
pub struct Crawler {
    run: Option<Run>,
    /// Crawls started, manual and automatic (`lru_crawler_starts`).
    pub starts: u64,
    /// Monotonic microseconds before which the next step does not run.
    next_step_us: u64,
    /// Automatic crawls: server time the last crawl of each class ended,
    last_crawl: [u32; 64],
    /// the earliest expiry that crawl saw among the items it left (0: look
    /// again after the shortest wait; u32::MAX: none had a TTL),
    next_expiry: [u32; 64],
    /// and the earliest expiry seen by the crawl in progress.
    scan_min_exp: [u32; 64],
}

impl Crawler {
    /// A crawler that schedules its first automatic crawl of a class no
    /// sooner than `AUTOCRAWL_MIN_WAIT` seconds after `now`.
    pub fn new(now: u32) -> Crawler {
        Crawler {
            run: None,
            starts: 0,
            next_step_us: 0,
            last_crawl: [now; 64],
            next_expiry: [0; 64],
            scan_min_exp: [u32::MAX; 64],
        }
    }

    /// True while a crawl or dump is in progress (`lru_crawler_running`).
    pub fn running(&self) -> bool {
        self.run.is_some()
    }

    /// Starts a crawl of `classes` (ids 1..=63). A dump names the
    /// connection `client` it writes to; `hash_base` (from
    /// `Assoc::walk_base`) makes it a dump of the whole hash table instead.
    /// Counts a start.
    pub fn start(
        &mut self,
        kind: CrawlKind,
        classes: &[u8],
        client: Option<usize>,
        hash_base: Option<usize>,
    ) -> Result<(), StartError> {
        if self.run.is_some() {
            return Err(StartError::Busy);
        }
        let mut lists = Vec::with_capacity(classes.len() * 4);
        for &cls in classes {
            for seg in [HOT_LRU, WARM_LRU, COLD_LRU, TEMP_LRU] {
                lists.push(cls | seg);
            }
            self.scan_min_exp[cls as usize] = u32::MAX;
        }
        self.run = Some(Run {
            kind,
            lists,
            pos: 0,
            started: false,
            remaining: 0,
            client,
            cut_short: [false; 64],
            hash: hash_base.map(|base| HashWalk {
                base,
                next_bucket: 0,
            }),
        });
        self.starts += 1;
        self.next_step_us = 0;
        Ok(())
    }

    /// Stops the crawl in progress where it stands (`lru_crawler
    /// disable`). A dump is not dropped: its next step writes the closing
    /// line, so its client is not left waiting.
    pub fn abort(&mut self, cache: &mut Cache) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        cache.lru.crawl_cursor = NONE;
        if run.client.is_some() {
            run.pos = run.lists.len();
            run.started = false;
            if let Some(h) = &mut run.hash {
                h.next_bucket = h.base;
            }
        } else {
            self.run = None;
        }
    }

    /// Connection `token` is closing: a dump being written to it stops.
    pub fn client_gone(&mut self, token: usize, cache: &mut Cache) {
        if self.run.as_ref().and_then(|r| r.client) == Some(token) {
            self.run = None;
            cache.lru.crawl_cursor = NONE;
        }
    }

    /// How long the event loop may sleep before the next step is due, in
    /// milliseconds; None when no step is waiting for time (no crawl, or a
    /// dump waiting for its client to read).
    pub fn timeout_ms(&self, server_conns: &slab::Slab<conn::Conn>, now_us: u64) -> Option<u64> {
        let run = self.run.as_ref()?;
        if let Some(t) = run.client {
            if let Some(c) = server_conns.get(t) {
                if c.out_bytes >= DUMP_HIGH_WATER {
                    return None;
                }
            }
        }
        Some(self.next_step_us.saturating_sub(now_us).div_ceil(1000))
    }

    /// Automatic crawls, checked once a second (memcached's LRU maintainer
    /// schedules its crawls the same way, from what earlier crawls saw):
    /// a class with items is crawled when at least AUTOCRAWL_MIN_WAIT
    /// seconds passed since its last crawl and either an item that crawl
    /// left should have expired by now, a flush_all took effect since, or
    /// AUTOCRAWL_MAX_WAIT seconds passed. All classes due go in one crawl.
    pub fn autocrawl(&mut self, cache: &Cache, enabled: bool) {
        if !enabled || self.run.is_some() {
            return;
        }
        let now = cache.clock.current_time;
        let ol = cache.oldest_live;
        let mut due = Vec::new();
        for cls in 1..=MAX_CLASS_ID as u8 {
            let items: u64 = [HOT_LRU, WARM_LRU, COLD_LRU, TEMP_LRU]
                .iter()
                .map(|&s| cache.lru.sizes[(cls | s) as usize])
                .sum();
            let i = cls as usize;
            if items == 0 || now < self.last_crawl[i].saturating_add(AUTOCRAWL_MIN_WAIT) {
                continue;
            }
            let flushed = ol != 0 && ol <= now && ol >= self.last_crawl[i];
            if now >= self.next_expiry[i]
                || flushed
                || now >= self.last_crawl[i].saturating_add(AUTOCRAWL_MAX_WAIT)
            {
                due.push(cls);
            }
        }
        if !due.is_empty() {
            log::debug!("lru crawler: automatic crawl of classes {:?}", due);
            let _ = self.start(CrawlKind::Expired, &due, None, None);
        }
    }
}

/// Parses a crawl's class list: "all", or class ids separated by commas
/// (empty entries skipped, each read as memcached's safe_strtoul reads a
/// number) that must all be 1..=63. Returns None for a bad list
/// (`BADCLASS`).
pub fn parse_classes(arg: &[u8]) -> Option<Vec<u8>> {
    if arg == b"all" {
        return Some((1..=MAX_CLASS_ID as u8).collect());
    }
    let mut want = [false; 64];
    for t in arg.split(|&b| b == b',').filter(|t| !t.is_empty()) {
        let v = crate::util::parse_u64_c(t)? as u32;
        if !(1..=MAX_CLASS_ID).contains(&v) {
            return None;
        }
        want[v as usize] = true;
    }
    Some(
        (1..=MAX_CLASS_ID as u8)
            .filter(|&c| want[c as usize])
            .collect(),
    )
}

impl Cache {
    /// Reclaims the dead (expired or flushed) item `id` of class `cls`
    /// the crawler met, counting it (memcached's crawler_expired_eval).
    pub(super) fn crawler_reclaim(&mut self, id: u32, cls: u8) {
        let c = self.slabs.chunk(id);
        let e = item::exptime(c);
        let expired = e != 0 && e <= self.clock.current_time;
        if expired && !self.is_flushed(c) && item::iflags(c) & ITEM_FETCHED == 0 {
            self.lru.itemstats[cls as usize].expired_unfetched += 1;
        }
        self.lru.itemstats[cls as usize].crawler_reclaimed += 1;
        self.unlink(id, Reason::Reclaimed);
    }
}

/// Appends the metadump line of item `id` (class `cls`).
fn metadump_line(cache: &Cache, id: u32, cls: u8, out: &mut Vec<u8>) {
    let c = cache.slabs.chunk(id);
    out.extend_from_slice(b"key=");
    crate::util::uri_encode(item::key_of(c), |b| out.push(b));
    let exp = match item::exptime(c) {
        0 => -1,
        e => cache.clock.to_unix(e),
    };
    let flags = item::flags(c);
    let cas_len = if item::iflags(c) & item::ITEM_CAS != 0 {
        8
    } else {
        0
    };
    let size = MC_HEADER
        + cas_len
        + item::nkey(c)
        + 1
        + item::nbytes(c)
        + 2
        + if flags != 0 { 4 } else { 0 };
    let fetched = if item::iflags(c) & ITEM_FETCHED != 0 {
        "yes"
    } else {
        "no"
    };
    use std::io::Write as _;
    let _ = writeln!(
        out,
        " exp={} la={} cas={} fetch={} cls={} size={} flags={} ",
        exp,
        cache.clock.to_unix(item::time(c)),
        item::cas(c),
        fetched,
        cls,
        size,
        flags
    );
}

/// Appends the mgdump line of item `id`: `mg <key>`, or `mg <base64> b`
/// for a key stored from base64.
fn mgdump_line(cache: &Cache, id: u32, out: &mut Vec<u8>) {
    let c = cache.slabs.chunk(id);
    out.extend_from_slice(b"mg ");
    if item::iflags(c) & ITEM_KEY_BINARY != 0 {
        crate::util::base64_encode(item::key_of(c), out);
        out.extend_from_slice(b" b\r\n");
    } else {
        out.extend_from_slice(item::key_of(c));
        out.extend_from_slice(b"\r\n");
    }
}

/// Runs one step of the crawl in progress, if one is due: visits up to
/// CRAWLS_PER_STEP items (fewer for a dump whose output reaches
/// DUMP_HIGH_WATER), then schedules the next step `lru_crawler_sleep`
/// microseconds later. Called by the event loop on every turn.
pub fn run_step(server: &mut Server, now_us: u64) {
    let Server { conns, core, .. } = server;
    let crate::server::Core {
        crawler,
        cache,
        settings,
        pool,
        ..
    } = core;
    let Some(run) = crawler.run.as_mut() else {
        return;
    };
    if now_us < crawler.next_step_us {
        return;
    }
    let mut client = None;
    if let Some(t) = run.client {
        match conns.get_mut(t) {
            Some(c) if c.crawler_dump => {
                if c.out_bytes >= DUMP_HIGH_WATER {
                    return;
                }
                pool.start_reply(c);
                client = Some(c);
            }
            _ => {
                crawler.run = None;
                cache.lru.crawl_cursor = NONE;
                return;
            }
        }
    }
    let now = cache.clock.current_time;
    let mut buf = Vec::new();
    let mut visited = 0;
    let mut done = false;
    if let Some(h) = &mut run.hash {
        let mut ids = Vec::new();
        while visited < CRAWLS_PER_STEP && buf.len() < DUMP_HIGH_WATER {
            if h.next_bucket >= h.base {
                done = true;
                break;
            }
            ids.clear();
            cache
                .assoc
                .walk_bucket(&cache.slabs, h.base, h.next_bucket, &mut ids);
            h.next_bucket += 1;
            for &id in &ids {
                visited += 1;
                // A hash walk counts in no class's crawler_items_checked,
                // as memcached's does not.
                let cls = cache.item_clsid(id);
                if cache.is_dead(cache.slabs.chunk(id)) {
                    continue;
                }
                if run.kind == CrawlKind::Mgdump {
                    mgdump_line(cache, id, &mut buf);
                } else {
                    metadump_line(cache, id, cls, &mut buf);
                }
            }
        }
    }
    while run.hash.is_none() && visited < CRAWLS_PER_STEP && buf.len() < DUMP_HIGH_WATER {
        let Some(&lid) = run.lists.get(run.pos) else {
            done = true;
            break;
        };
        let cls = lid & CLSID_MASK;
        if !run.started {
            run.started = true;
            cache.lru.crawl_cursor = cache.lru.tail(lid);
            // Dumps show every item, whatever tocrawl says (as memcached).
            run.remaining = match settings.lru_crawler_tocrawl {
                n if n != 0 && run.kind == CrawlKind::Expired => n as u64,
                _ => u64::MAX,
            };
        }
        let id = cache.lru.crawl_cursor;
        if id == NONE || run.remaining == 0 {
            if id != NONE {
                run.cut_short[cls as usize] = true;
            }
            run.pos += 1;
            run.started = false;
            cache.lru.crawl_cursor = NONE;
            continue;
        }
        run.remaining -= 1;
        visited += 1;
        // Move on first: what happens to this item below cannot lose the
        // place.
        cache.lru.crawl_cursor = item::prev(cache.slabs.chunk(id));
        cache.lru.itemstats[cls as usize].crawler_items_checked += 1;
        let c = cache.slabs.chunk(id);
        let dead = cache.is_dead(c);
        match run.kind {
            CrawlKind::Expired => {
                if dead {
                    cache.crawler_reclaim(id, cls);
                } else {
                    let e = item::exptime(c);
                    let m = &mut crawler.scan_min_exp[cls as usize];
                    if e != 0 && e < *m {
                        *m = e;
                    }
                }
            }
            CrawlKind::Metadump if !dead => metadump_line(cache, id, cls, &mut buf),
            CrawlKind::Mgdump if !dead => mgdump_line(cache, id, &mut buf),
            _ => {}
        }
    }
    crawler.next_step_us = now_us + settings.lru_crawler_sleep as u64;
    if done {
        let run = crawler.run.take().expect("a crawl is running");
        cache.lru.crawl_cursor = NONE;
        if run.kind == CrawlKind::Expired {
            let mut seen = [false; 64];
            for &lid in &run.lists {
                let i = (lid & CLSID_MASK) as usize;
                if !seen[i] {
                    seen[i] = true;
                    crawler.last_crawl[i] = now;
                    crawler.next_expiry[i] = if run.cut_short[i] {
                        0
                    } else {
                        crawler.scan_min_exp[i]
                    };
                }
            }
        }
        match run.kind {
            CrawlKind::Metadump => buf.extend_from_slice(b"END\r\n"),
            CrawlKind::Mgdump => buf.extend_from_slice(b"EN\r\n"),
            CrawlKind::Expired => {}
        }
    }
    if let Some(c) = client {
        if !buf.is_empty() {
            c.add_bytes(&buf);
        }
        let token = c.token;
        if done {
            c.crawler_dump = false;
        }
        conn::drive_machine(server, token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flat LRU (one list shows the whole order; the cursor works the
    /// same on every list).
    use super::super::items::tests::flat_cache as cache;

    fn put(c: &mut Cache, key: &[u8], exptime: u32) -> u32 {
        let id = c.alloc(key, 0, exptime, 1).unwrap();
        c.value_segment_mut(id, 0)[0] = b'x';
        c.store_item(-1, id, crate::cache::StoreCmd::Set, 0);
        id
    }

    /// Walks list `lid` from the cursor to the head, as a crawl does.
    fn walk_rest(c: &mut Cache) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        while c.lru.crawl_cursor != NONE {
            let id = c.lru.crawl_cursor;
            c.lru.crawl_cursor = item::prev(c.slabs.chunk(id));
            seen.push(item::key_of(c.slabs.chunk(id)).to_vec());
        }
        seen
    }

    #[test]
    fn cursor_survives_unlink_of_its_item() {
        let mut c = cache();
        let ids: Vec<u32> = (0..5)
            .map(|i| put(&mut c, format!("k{}", i).as_bytes(), 0))
            .collect();
        let lid = c.item_clsid(ids[0]) | COLD_LRU;
        // The tail is the oldest: k0. Stand on k2, then delete it.
        c.lru.crawl_cursor = ids[2];
        c.delete(-1, b"k2");
        assert_eq!(c.lru.crawl_cursor, ids[3]);
        assert_eq!(walk_rest(&mut c), vec![b"k3".to_vec(), b"k4".to_vec()]);
        assert_eq!(c.lru.tail(lid), ids[0]);
    }

    #[test]
    fn cursor_survives_unlink_of_the_head_and_of_others() {
        let mut c = cache();
        let ids: Vec<u32> = (0..3)
            .map(|i| put(&mut c, format!("k{}", i).as_bytes(), 0))
            .collect();
        c.lru.crawl_cursor = ids[1];
        // Unlinking items around the cursor leaves it alone.
        c.delete(-1, b"k0");
        c.delete(-1, b"k2");
        assert_eq!(c.lru.crawl_cursor, ids[1]);
        // The head itself: the crawl has nothing left.
        c.delete(-1, b"k1");
        assert_eq!(c.lru.crawl_cursor, NONE);
    }

    #[test]
    fn cursor_survives_its_item_moving_to_the_head() {
        let mut c = cache();
        let ids: Vec<u32> = (0..4)
            .map(|i| put(&mut c, format!("k{}", i).as_bytes(), 0))
            .collect();
        let lid = c.item_clsid(ids[0]) | COLD_LRU;
        c.lru.crawl_cursor = ids[1];
        c.lru.bump(&mut c.slabs, ids[1], lid);
        // The walk goes on from k2 and meets k1 again at the head.
        assert_eq!(
            walk_rest(&mut c),
            vec![b"k2".to_vec(), b"k3".to_vec(), b"k1".to_vec()]
        );
    }

    #[test]
    fn cursor_survives_a_replace() {
        let mut c = cache();
        let ids: Vec<u32> = (0..3)
            .map(|i| put(&mut c, format!("k{}", i).as_bytes(), 0))
            .collect();
        c.lru.crawl_cursor = ids[1];
        // A set of the same key unlinks the old item and links a new one
        // at the head.
        put(&mut c, b"k1", 0);
        assert_eq!(c.lru.crawl_cursor, ids[2]);
        assert_eq!(walk_rest(&mut c), vec![b"k2".to_vec(), b"k1".to_vec()]);
    }

    #[test]
    fn class_lists() {
        assert_eq!(parse_classes(b"1,3"), Some(vec![1, 3]));
        assert_eq!(parse_classes(b",3,,1,3,"), Some(vec![1, 3]));
        assert_eq!(parse_classes(b"63"), Some(vec![63]));
        assert_eq!(parse_classes(b"+1"), Some(vec![1]));
        // safe_strtoul keeps the low 32 bits on a 64-bit machine.
        assert_eq!(parse_classes(b"4294967297"), Some(vec![1]));
        assert_eq!(parse_classes(b"all").map(|v| v.len()), Some(63));
        for bad in [
            &b"0"[..],
            b"64",
            b"x",
            b"1,x",
            b"-1",
            b"1x",
            b"ALL",
            b"hash",
            b"4294967296",
        ] {
            assert_eq!(parse_classes(bad), None, "{:?}", bad);
        }
    }

    /// A walk of the hash table in logical buckets sees every item once,
    /// though the table doubles (more than once) while it runs.
    #[test]
    fn hash_walk_survives_expansion() {
        let mut c = cache();
        let n = 20;
        for i in 0..n {
            put(&mut c, format!("w{}", i).as_bytes(), 0);
        }
        let base = c.assoc.walk_base();
        let mut seen = Vec::new();
        let mut ids = Vec::new();
        let mut saw_expanding = false;
        for lb in 0..base {
            ids.clear();
            c.assoc.walk_bucket(&c.slabs, base, lb, &mut ids);
            seen.extend(
                ids.iter()
                    .map(|&id| item::key_of(c.slabs.chunk(id)).to_vec()),
            );
            // Inserts between buckets: expansions start and move buckets
            // (two per insert) while the walk goes on.
            for i in 0..10 {
                put(&mut c, format!("new{}.{}", lb, i).as_bytes(), 0);
            }
            saw_expanding |= c.assoc.expanding;
        }
        assert!(saw_expanding, "the walk went on during an expansion");
        assert!(
            c.assoc.hashpower > 5,
            "the table grew twice during the walk"
        );
        let mut old: Vec<Vec<u8>> = seen.into_iter().filter(|k| k.starts_with(b"w")).collect();
        old.sort();
        let mut want: Vec<Vec<u8>> = (0..n).map(|i| format!("w{}", i).into_bytes()).collect();
        want.sort();
        assert_eq!(old, want);
    }
}
