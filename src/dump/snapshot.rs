//! The cache as records and back: `write_cache` walks the cache hottest
//! first and hands each item to format.rs's `Writer`; `load` reads a file
//! with its `Reader` and puts each live record back through the cache's
//! restore door (`Cache::begin_restore`, `Cache::restore_item`), counting
//! what it left out in the `LoadReport` that `stats` shows. `write_file`
//! and `load` add the file's safety: the `.tmp` and rename, the fsyncs,
//! moving a damaged file aside.
//!
//! Nothing here knows about processes: mod.rs decides when to write (in a
//! forked child, or in the server itself at a stop).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::time::Instant;

use super::format::{Damage, Header, Reader, Record, RecordHead, ReplPosition, Totals, Writer};
use super::format::{RECORD_HEADER_LEN, R_ACTIVE, R_FETCHED, R_KEY_BINARY, R_STALE, R_TOKEN_SENT};
use crate::cache::item;
use crate::cache::{Cache, RestoreError, Restored};

/// Item flag bits and the record flag bits they map to.
const FLAG_MAP: [(u8, u8); 5] = [
    (item::ITEM_KEY_BINARY, R_KEY_BINARY),
    (item::ITEM_FETCHED, R_FETCHED),
    (item::ITEM_ACTIVE, R_ACTIVE),
    (item::ITEM_STALE, R_STALE),
    (item::ITEM_TOKEN_SENT, R_TOKEN_SENT),
];

/// Items between two progress lines while loading (`-v`).
const PROGRESS_EVERY: u64 = 1_000_000;

// ======================== writing ========================

/// The header and records of the cache as it is now, written to `out`,
/// with the replication position the data stands at.
pub fn write_cache<W: Write>(
    cache: &Cache,
    repl: Option<ReplPosition>,
    out: W,
) -> io::Result<(W, Totals)> {
    let clock = cache.clock();
    let now = clock.current_time;
    let header = Header {
        created: clock.now_unix(),
        cas: cache.cas_counter(),
        flush_at: cache.flush_at(),
        items: cache.item_stats().curr_items,
        item_size_max: cache.item_size_max() as u32,
        repl,
    };
    let mut w = Writer::new(out, &header)?;
    let mut result = Ok(());
    cache.for_each_hottest_first(|id| {
        let it = cache.item(id);
        let f = it.iflags();
        let mut rflags = 0;
        for (ibit, rbit) in FLAG_MAP {
            if f & ibit != 0 {
                rflags |= rbit;
            }
        }
        let h = RecordHead {
            rflags,
            flags: it.flags(),
            idle: now.saturating_sub(it.time()),
            exptime: clock.to_unix(it.exptime()),
            cas: it.cas(),
        };
        let n = it.nbytes();
        result = w.record(&h, it.key(), n, |b| {
            let mut off = 0;
            while off < n {
                let s = cache.value_segment(id, off);
                b.extend_from_slice(s);
                off += s.len();
            }
        });
        result.is_ok()
    });
    result?;
    w.finish()
}

pub(super) fn tmp_path(path: &str) -> String {
    format!("{}.tmp", path)
}

/// Writes the cache to `path` the safe way: `path.tmp` (mode 0600, a
/// leftover one replaced), fsync, rename over `path`, fsync the directory.
/// On failure `path` is untouched and the `.tmp` removed.
pub fn write_file(cache: &Cache, repl: Option<ReplPosition>, path: &str) -> Result<Totals, String> {
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot replace {}: {}", tmp, e)),
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot create {}: {}", tmp, e))?;
    let written = write_cache(cache, repl, file)
        .map_err(|e| format!("writing {}: {}", tmp, e))
        .and_then(|(file, totals)| {
            file.sync_all()
                .map_err(|e| format!("fsync of {}: {}", tmp, e))?;
            fs::rename(&tmp, path).map_err(|e| format!("renaming {} to {}: {}", tmp, path, e))?;
            Ok(totals)
        });
    let totals = match written {
        Ok(t) => t,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The rename is durable once the directory is.
    let dir = dir_of(path);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("fsync of directory {}: {}", dir, e))?;
    Ok(totals)
}

pub(super) fn dir_of(path: &str) -> String {
    match std::path::Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    }
}

// ======================== loading ========================

/// How the load at start went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadStatus {
    /// No file configured.
    #[default]
    None,
    /// The file did not exist: started empty.
    Missing,
    Ok,
    /// Damaged: the verified part was loaded, the file moved aside.
    Damaged,
}

impl LoadStatus {
    pub fn name(self) -> &'static str {
        match self {
            LoadStatus::None => "none",
            LoadStatus::Missing => "missing",
            LoadStatus::Ok => "ok",
            LoadStatus::Damaged => "damaged",
        }
    }
}

/// The load's counts (reported by `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub status: LoadStatus,
    /// Items restored.
    pub items: u64,
    /// Bytes of the file read and verified.
    pub bytes: u64,
    /// Records whose item had expired (or was flushed) meanwhile.
    pub expired: u64,
    /// Records larger than this server's `-I`.
    pub too_large: u64,
    /// Records left out because memory was full.
    pub no_memory: u64,
    /// Records whose key was already loaded (only a bad writer makes them).
    pub duplicates: u64,
    pub duration_us: u64,
}

/// Loads `path` into an empty cache. Err means the server must not start
/// (the file exists but cannot be read, so a later dump would destroy it).
/// The replication position comes back only when the cache now holds
/// exactly what the file does (every live record loaded).
pub fn load(cache: &mut Cache, path: &str) -> Result<(LoadReport, Option<ReplPosition>), String> {
    let started = Instant::now();
    let mut report = LoadReport::default();
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!(
                "dump file {} does not exist: starting with an empty cache",
                path
            );
            report.status = LoadStatus::Missing;
            return Ok((report, None));
        }
        Err(e) => return Err(format!("cannot read dump file {}: {}", path, e)),
    };
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() || ft.is_socket() || ft.is_char_device() || ft.is_block_device() {
            "a device, pipe or socket"
        } else {
            "not a regular file"
        };
        return Err(format!("dump file {} is {}, not a dump file", path, kind));
    }
    let file = File::open(path).map_err(|e| format!("cannot read dump file {}: {}", path, e))?;
    log::info!("loading dump file {} ({} bytes)", path, meta.len());
    let result = load_from(
        cache,
        BufReader::with_capacity(1 << 20, file),
        meta.len(),
        &mut report,
    );
    report.duration_us = started.elapsed().as_micros() as u64;
    let mut position = None;
    match result {
        Ok(pos) => {
            if report.too_large == 0 && report.no_memory == 0 && report.duplicates == 0 {
                position = pos;
            }
            report.status = LoadStatus::Ok;
            // Whatever the verbosity, as memcached's own restart messages:
            // the operator wants to see what came back.
            eprintln!(
                "loaded {} items ({} bytes) from {} in {:.3} s; left out: {} expired, {} too large, {} for lack of memory",
                report.items,
                report.bytes,
                path,
                report.duration_us as f64 / 1e6,
                report.expired,
                report.too_large,
                report.no_memory
            );
        }
        Err(d) => {
            report.status = LoadStatus::Damaged;
            let aside = move_aside(path)?;
            eprintln!(
                "dump file {} is damaged at byte {}: {}; loaded the {} items before it; the file is kept as {}",
                path, d.offset, d.what, report.items, aside
            );
        }
    }
    if report.duplicates > 0 {
        log::warn!(
            "dump file {}: {} records repeated a key and were skipped",
            path,
            report.duplicates
        );
    }
    Ok((report, position))
}

/// Loads every verified record; stops at the first damage. Never evicts:
/// what does not fit is left out and counted. Returns the replication
/// position the header gives.
pub fn load_from<R: Read>(
    cache: &mut Cache,
    inp: R,
    len: u64,
    report: &mut LoadReport,
) -> Result<Option<ReplPosition>, Damage> {
    let saved = cache.set_evict_to_free(false);
    let result = load_records(cache, inp, len, report);
    cache.set_evict_to_free(saved);
    result
}

fn load_records<R: Read>(
    cache: &mut Cache,
    inp: R,
    len: u64,
    report: &mut LoadReport,
) -> Result<Option<ReplPosition>, Damage> {
    let mut reader = Reader::open(inp, len)?;
    let h = reader.header.clone();
    let now_unix = cache.clock().now_unix();
    // A flush_all due at a time that passed while the server was down has
    // flushed every item in the file.
    let flushed_meanwhile = h.flush_at != 0 && h.flush_at <= now_unix;
    // The header's count sizes the table, but no more than the file can
    // hold: a record takes at least RECORD_HEADER_LEN + 1 bytes.
    cache.begin_restore(
        h.flush_at,
        h.cas,
        h.items.min(len / (RECORD_HEADER_LEN as u64 + 1)),
    );
    loop {
        // A damage's offset is where the verified part ends.
        let block = match reader.next_block() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(d) => {
                report.bytes = d.offset;
                return Err(d);
            }
        };
        for rec in block {
            if flushed_meanwhile || (rec.exptime != 0 && rec.exptime <= now_unix) {
                report.expired += 1;
                continue;
            }
            if restore(cache, &rec, report) && report.items.is_multiple_of(PROGRESS_EVERY) {
                log::info!("{} items loaded so far", report.items);
            }
        }
    }
    report.bytes = reader.offset();
    Ok(h.repl)
}

/// Puts one live record back into the cache; false if it was left out.
fn restore(cache: &mut Cache, rec: &Record, report: &mut LoadReport) -> bool {
    let mut extra = 0;
    for (ibit, rbit) in FLAG_MAP {
        if rec.rflags & rbit != 0 {
            extra |= ibit;
        }
    }
    let r = cache.restore_item(&Restored {
        key: rec.key,
        value: rec.value,
        flags: rec.flags,
        exptime: rec.exptime,
        idle: rec.idle,
        cas: rec.cas,
        iflags: extra,
    });
    match r {
        Ok(()) => {
            report.items += 1;
            return true;
        }
        Err(RestoreError::TooLarge) => report.too_large += 1,
        Err(RestoreError::NoMemory) => report.no_memory += 1,
        Err(RestoreError::Duplicate) => report.duplicates += 1,
    }
    false
}

/// Renames a damaged file out of the way of later dumps:
/// `FILE.damaged-<unix time>`, with `-<n>` added if that name is taken.
fn move_aside(path: &str) -> Result<String, String> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for n in 0..1000 {
        let aside = if n == 0 {
            format!("{}.damaged-{}", path, secs)
        } else {
            format!("{}.damaged-{}-{}", path, secs, n)
        };
        if fs::symlink_metadata(&aside).is_ok() {
            continue;
        }
        return match fs::rename(path, &aside) {
            Ok(()) => Ok(aside),
            Err(e) => Err(format!(
                "dump file {} is damaged and cannot be moved aside to {}: {}; refusing to start, since a later dump would replace it",
                path, aside, e
            )),
        };
    }
    Err(format!(
        "dump file {} is damaged and no free name was found to move it aside",
        path
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::slabs::NONE;
    use crate::cache::{StoreCmd, StoreItemType};
    use crate::dump::format::{le32, le64, BLOCK_HEADER_LEN, HEADER_LEN, TRAILER_LEN};
    use crate::settings::Settings;

    fn cache_with(settings: Settings) -> Cache {
        Cache::new(&settings)
    }

    /// A cache that takes items of up to 2 MiB (`-I 2m`).
    fn large_item_cache() -> Cache {
        cache_with(Settings {
            hashpower_init: 4,
            item_size_max: 2 << 20,
            ..Settings::default()
        })
    }

    fn cache() -> Cache {
        cache_with(Settings {
            hashpower_init: 4,
            ..Settings::default()
        })
    }

    fn put(c: &mut Cache, key: &[u8], flags: u32, exptime: u32, val: &[u8]) -> u64 {
        let id = c.alloc(key, flags, exptime, val.len()).unwrap();
        let mut off = 0;
        while off < val.len() {
            let seg = c.value_segment_mut(id, off);
            let n = seg.len();
            seg.copy_from_slice(&val[off..off + n]);
            off += n;
        }
        let r = c.store_item(-1, id, StoreCmd::Set, 0);
        let cas = c.item(id).cas();
        assert_eq!(r, StoreItemType::Stored);
        cas
    }

    /// Key, flags, exptime, CAS and value of an item.
    type Item = (Vec<u8>, u32, u32, u64, Vec<u8>);

    /// Every live item, hottest first.
    fn contents(c: &Cache) -> Vec<Item> {
        let mut out = Vec::new();
        c.for_each_hottest_first(|id| {
            let ch = c.slabs().chunk(id);
            let mut v = Vec::new();
            c.value_to_vec(id, &mut v);
            out.push((
                item::key_of(ch).to_vec(),
                item::flags(ch),
                item::exptime(ch),
                item::cas(ch),
                v,
            ));
            true
        });
        out
    }

    fn dump_bytes(c: &Cache) -> Vec<u8> {
        write_cache(c, None, Vec::new()).unwrap().0
    }

    fn load_bytes(c: &mut Cache, bytes: &[u8]) -> (LoadReport, Result<(), Damage>) {
        let mut r = LoadReport::default();
        let res = load_from(c, bytes, bytes.len() as u64, &mut r);
        (r, res.map(|_| ()))
    }

    #[test]
    fn empty_cache_file_layout() {
        let c = cache();
        let b = dump_bytes(&c);
        // Header, no block, trailer.
        assert_eq!(b.len(), HEADER_LEN + TRAILER_LEN);
        assert_eq!(&b[HEADER_LEN..HEADER_LEN + 4], b"MCEN");
        assert_eq!(le32(&b, HEADER_LEN + 4), 0);
        assert_eq!(le64(&b, HEADER_LEN + 8), 0);
        let mut d = cache();
        let (r, res) = load_bytes(&mut d, &b);
        assert_eq!(res, Ok(()));
        assert_eq!((r.items, r.bytes), (0, b.len() as u64));
    }

    #[test]
    fn record_layout_is_as_documented() {
        let mut c = cache();
        let cas = put(&mut c, b"k1", 0xA1B2_C3D4, 0, b"hello");
        let b = dump_bytes(&c);
        let blk = HEADER_LEN;
        assert_eq!(&b[blk..blk + 4], b"MCBK");
        assert_eq!(le32(&b, blk + 4), 0);
        assert_eq!(le32(&b, blk + 8) as usize, RECORD_HEADER_LEN + 2 + 5);
        assert_eq!(le32(&b, blk + 12), 1);
        let r = blk + BLOCK_HEADER_LEN;
        assert_eq!(b[r], 2);
        assert_eq!(b[r + 1], 0);
        assert_eq!(le32(&b, r + 4), 0xA1B2_C3D4);
        assert_eq!(le32(&b, r + 8), 5);
        assert_eq!(le64(&b, r + 16), 0);
        assert_eq!(le64(&b, r + 24), cas);
        assert_eq!(&b[r + 32..r + 39], b"k1hello");
        assert_eq!(le64(&b, 24), cas, "header CAS counter");
    }

    #[test]
    fn round_trip_keeps_everything() {
        let mut c = large_item_cache();
        put(&mut c, b"never", 0, 0, b"v1");
        let exp = c.now() + 1000;
        put(&mut c, b"ttl", u32::MAX, exp, b"");
        let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        put(&mut c, b"big", 5, 0, &big);
        let bin: Vec<u8> = (0..=255u8).collect();
        put(&mut c, b"bin", 1, 0, &bin);
        let want = contents(&c);
        let b = dump_bytes(&c);
        let mut d = large_item_cache();
        let (r, res) = load_bytes(&mut d, &b);
        assert_eq!(res, Ok(()));
        assert_eq!((r.items, r.expired, r.too_large, r.no_memory), (4, 0, 0, 0));
        let got = contents(&d);
        assert_eq!(got.len(), 4);
        for (w, g) in want.iter().zip(&got) {
            // Same key, flags, CAS, value; exptime in the new clock's terms.
            assert_eq!((&w.0, w.1, w.3, &w.4), (&g.0, g.1, g.3, &g.4));
            let abs = |c: &Cache, e: u32| c.clock().to_unix(e);
            assert_eq!(abs(&c, w.2), abs(&d, g.2));
        }
        // The CAS counter goes on above the loaded ones.
        assert_eq!(d.next_cas(), c.cas_counter() + 1);
    }

    #[test]
    fn hottest_first_and_restored_in_that_order() {
        let mut c = cache();
        for k in [b"a", b"b", b"c"] {
            put(&mut c, k, 0, 0, b"small");
        }
        // A value of another class, stored last: the hottest of all.
        put(&mut c, b"d", 0, 0, &[7u8; 3000]);
        let keys = |c: &Cache| contents(c).into_iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(
            keys(&c),
            [b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        let b = dump_bytes(&c);
        let mut d = cache();
        assert_eq!(load_bytes(&mut d, &b).1, Ok(()));
        assert_eq!(keys(&d), keys(&c));
    }

    #[test]
    fn expired_records_are_skipped() {
        let mut c = cache();
        let now = c.now();
        put(&mut c, b"soon", 0, now + 100, b"x");
        put(&mut c, b"late", 0, now + 10_000, b"y");
        let b = dump_bytes(&c);
        let mut d = cache();
        // Started 1000 s later.
        d.advance_clock(1000);
        let (r, res) = load_bytes(&mut d, &b);
        assert_eq!(res, Ok(()));
        assert_eq!((r.items, r.expired), (1, 1));
        assert_ne!(d.peek(b"late"), NONE);
        assert_eq!(d.peek(b"soon"), NONE);
    }

    #[test]
    fn pending_flush_survives_or_flushes_all() {
        let mut c = cache();
        put(&mut c, b"k", 0, 0, b"v");
        c.flush_all(600);
        let b = dump_bytes(&c);
        let flush_at = le64(&b, 32) as i64;
        assert_eq!(flush_at, c.flush_at());
        let mut d = cache();
        let (r, _) = load_bytes(&mut d, &b);
        assert_eq!(r.items, 1);
        assert_eq!(d.flush_at(), flush_at);
        let mut e = cache();
        e.advance_clock(700);
        let (r, _) = load_bytes(&mut e, &b);
        assert_eq!((r.items, r.expired), (0, 1));
    }

    #[test]
    fn smaller_memory_keeps_the_hottest() {
        let settings = |mb: u64| Settings {
            hashpower_init: 4,
            maxbytes: mb << 20,
            ..Settings::default()
        };
        let mut c = cache_with(settings(16));
        let v = [1u8; 10_000];
        for i in 0..1000 {
            put(&mut c, format!("k{}", i).as_bytes(), 0, 0, &v);
        }
        let b = dump_bytes(&c);
        let mut d = cache_with(settings(2));
        let (r, res) = load_bytes(&mut d, &b);
        assert_eq!(res, Ok(()));
        assert!(r.items > 0 && r.no_memory > 0, "{:?}", r);
        assert_eq!(r.items + r.no_memory, 1000);
        // The most recently stored keys are the ones kept.
        for i in 0..1000u64 {
            let present = d.peek(format!("k{}", i).as_bytes()) != NONE;
            assert_eq!(present, i >= 1000 - r.items, "k{}", i);
        }
        assert_eq!(d.itemstats_total().evicted, 0);
    }

    #[test]
    fn damage_keeps_the_items_before_it() {
        let mut c = cache();
        for i in 0..600 {
            put(&mut c, format!("k{}", i).as_bytes(), 0, 0, &[1u8; 1000]);
        }
        let b = dump_bytes(&c);
        // Cut short inside the second block.
        let blk1 = HEADER_LEN + BLOCK_HEADER_LEN + le32(&b, HEADER_LEN + 8) as usize;
        let first = le32(&b, HEADER_LEN + 12) as u64;
        let mut d = cache();
        let (r, res) = load_bytes(&mut d, &b[..blk1 + 100]);
        assert_eq!(res.unwrap_err().offset, blk1 as u64);
        assert_eq!((r.items, r.bytes), (first, blk1 as u64));
        assert!(first > 0 && first < 600, "{} items in block 0", first);
    }

    #[test]
    fn too_large_records_are_skipped() {
        let mut c = large_item_cache();
        put(&mut c, b"big", 0, 0, &vec![3u8; 1_500_000]);
        put(&mut c, b"small", 0, 0, b"s");
        let b = dump_bytes(&c);
        let mut d = cache();
        let (r, res) = load_bytes(&mut d, &b);
        assert_eq!(res, Ok(()));
        assert_eq!((r.items, r.too_large), (1, 1));
    }
}
