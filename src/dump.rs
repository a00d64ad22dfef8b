//! The dump file (`-F FILE`, and `-e FILE` for memcached's restartable
//! cache): its format, writing it from a forked child, and loading it at
//! start. doc/dump-format.md describes the bytes; doc/dump.md the
//! behaviour an operator sees.
//!
//! ```text
//!   SIGUSR2 / dump_interval        fork()                 child
//!   request_dump ──> start_dump ─────────> write_file(FILE.tmp), fsync,
//!        │ (child running:                 rename over FILE, fsync dir,
//!        │  one more later)                "ok N B" or "error ..." on a pipe,
//!        ▼                                 _exit
//!   SIGCHLD ──> reap: waitpid, read the pipe, record the outcome,
//!               remove FILE.tmp after a failure, start the pending dump
//! ```
//!
//! The child sees the cache as it was at the instant of the fork
//! (copy-on-write), so the dump is point-in-time while the parent goes on
//! serving. Records go hottest first, so a restart with a smaller `-m`
//! keeps the items most worth keeping.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::RawFd;
use std::time::Instant;

use crate::cache::item;
use crate::cache::{Cache, RestoreError, Restored};
use crate::crc32c::crc32c;
use crate::server::Core;
use crate::sys;

pub const MAGIC: [u8; 8] = *b"MEMCDUMP";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 64;
pub const BLOCK_MAGIC: [u8; 4] = *b"MCBK";
pub const BLOCK_HEADER_LEN: usize = 24;
pub const TRAILER_MAGIC: [u8; 4] = *b"MCEN";
pub const TRAILER_LEN: usize = 32;
pub const RECORD_HEADER_LEN: usize = 32;
/// Records are gathered into blocks of about this many payload bytes.
pub const BLOCK_TARGET: usize = 256 * 1024;
/// The largest payload a block may declare: one record with the longest
/// key and the largest value any `-I` allows (1024m).
pub const BLOCK_MAX: u64 = (RECORD_HEADER_LEN + item::KEY_MAX_LENGTH) as u64 + (1 << 30);

/// Record flag bits (the item's state worth keeping).
pub const R_KEY_BINARY: u8 = 1;
pub const R_FETCHED: u8 = 2;
pub const R_ACTIVE: u8 = 4;
pub const R_STALE: u8 = 8;
pub const R_TOKEN_SENT: u8 = 16;
const R_ALL: u8 = 31;

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

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

// ======================== format ========================

/// The file header: what the cache was at the dump's instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Unix time of the instant the dump shows.
    pub created: i64,
    /// The CAS counter then (the last CAS unique handed out).
    pub cas: u64,
    /// Unix time of a pending `flush_all <delay>`, 0 if none.
    pub flush_at: i64,
    /// Items in the cache then: at least the number of records (sizes the
    /// hash table on load).
    pub items: u64,
    /// The writer's `-I`.
    pub item_size_max: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.created.to_le_bytes());
        b[24..32].copy_from_slice(&self.cas.to_le_bytes());
        b[32..40].copy_from_slice(&self.flush_at.to_le_bytes());
        b[40..48].copy_from_slice(&self.items.to_le_bytes());
        b[48..52].copy_from_slice(&self.item_size_max.to_le_bytes());
        let crc = crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, String> {
        if b[0..8] != MAGIC {
            return Err("not a dump file (bad magic)".to_string());
        }
        let version = le32(b, 8);
        if version != VERSION {
            return Err(format!("unknown format version {}", version));
        }
        if le32(b, 60) != crc32c(&b[..60]) {
            return Err("header checksum mismatch".to_string());
        }
        if le32(b, 12) as usize != HEADER_LEN || b[52..60].iter().any(|&x| x != 0) {
            return Err("malformed header".to_string());
        }
        Ok(Header {
            created: le64(b, 16) as i64,
            cas: le64(b, 24),
            flush_at: le64(b, 32) as i64,
            items: le64(b, 40),
            item_size_max: le32(b, 48),
        })
    }
}

/// One item as the file keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub key: &'a [u8],
    /// R_* bits.
    pub rflags: u8,
    /// The client flags.
    pub flags: u32,
    /// Seconds since the last access, at the dump's instant.
    pub idle: u32,
    /// Unix time the item expires, 0 for never.
    pub exptime: i64,
    /// 0 when the writer ran with -C.
    pub cas: u64,
    pub value: &'a [u8],
}

/// A record without its key and value (what the writer is given).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordHead {
    pub rflags: u8,
    pub flags: u32,
    pub idle: u32,
    pub exptime: i64,
    pub cas: u64,
}

/// What a written file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub records: u64,
    /// Bytes of the whole file.
    pub file_bytes: u64,
}

/// Writes the format to `out`: the header at once, records gathered into
/// checksummed blocks, the trailer on `finish`.
pub struct Writer<W: Write> {
    out: W,
    /// The block being filled: its header's room, then records.
    block: Vec<u8>,
    block_records: u32,
    seq: u32,
    records: u64,
    payload: u64,
    written: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, header: &Header) -> io::Result<Writer<W>> {
        out.write_all(&header.encode())?;
        let mut block = Vec::with_capacity(BLOCK_HEADER_LEN + BLOCK_TARGET + 4096);
        block.resize(BLOCK_HEADER_LEN, 0);
        Ok(Writer {
            out,
            block,
            block_records: 0,
            seq: 0,
            records: 0,
            payload: 0,
            written: HEADER_LEN as u64,
        })
    }

    /// Adds one record; `fill` appends exactly `value_len` value bytes.
    pub fn record(
        &mut self,
        h: &RecordHead,
        key: &[u8],
        value_len: usize,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<()> {
        let size = RECORD_HEADER_LEN + key.len() + value_len;
        if self.block_records > 0 && self.block.len() - BLOCK_HEADER_LEN + size > BLOCK_TARGET {
            self.flush_block()?;
        }
        let b = &mut self.block;
        b.push(key.len() as u8);
        b.push(h.rflags);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&h.flags.to_le_bytes());
        b.extend_from_slice(&(value_len as u32).to_le_bytes());
        b.extend_from_slice(&h.idle.to_le_bytes());
        b.extend_from_slice(&h.exptime.to_le_bytes());
        b.extend_from_slice(&h.cas.to_le_bytes());
        b.extend_from_slice(key);
        let before = b.len();
        fill(b);
        debug_assert_eq!(b.len() - before, value_len);
        self.block_records += 1;
        self.records += 1;
        if self.block.len() - BLOCK_HEADER_LEN >= BLOCK_TARGET {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.block_records == 0 {
            return Ok(());
        }
        let len = self.block.len() - BLOCK_HEADER_LEN;
        let pcrc = crc32c(&self.block[BLOCK_HEADER_LEN..]);
        let h = &mut self.block[..BLOCK_HEADER_LEN];
        h[0..4].copy_from_slice(&BLOCK_MAGIC);
        h[4..8].copy_from_slice(&self.seq.to_le_bytes());
        h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&self.block_records.to_le_bytes());
        h[16..20].copy_from_slice(&pcrc.to_le_bytes());
        let hcrc = crc32c(&h[..20]);
        h[20..24].copy_from_slice(&hcrc.to_le_bytes());
        self.out.write_all(&self.block)?;
        self.written += self.block.len() as u64;
        self.payload += len as u64;
        self.seq += 1;
        self.block_records = 0;
        self.block.truncate(BLOCK_HEADER_LEN);
        Ok(())
    }

    /// Writes the last block and the trailer; returns the output and what
    /// was written.
    pub fn finish(mut self) -> io::Result<(W, Totals)> {
        self.flush_block()?;
        let mut t = [0u8; TRAILER_LEN];
        t[0..4].copy_from_slice(&TRAILER_MAGIC);
        t[4..8].copy_from_slice(&self.seq.to_le_bytes());
        t[8..16].copy_from_slice(&self.records.to_le_bytes());
        t[16..24].copy_from_slice(&self.payload.to_le_bytes());
        let crc = crc32c(&t[..28]);
        t[28..32].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&t)?;
        self.written += TRAILER_LEN as u64;
        let totals = Totals {
            records: self.records,
            file_bytes: self.written,
        };
        Ok((self.out, totals))
    }
}

/// Where and why a file stopped being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the part that failed its check.
    pub offset: u64,
    pub what: String,
}

/// Reads the format back, checking every length against the bytes left
/// and every block against its checksum before handing out a record.
pub struct Reader<R: Read> {
    inp: R,
    offset: u64,
    len: u64,
    seq: u32,
    records: u64,
    payload: u64,
    pub header: Header,
    buf: Vec<u8>,
    block_records: u32,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header of a file of `len` bytes.
    pub fn open(mut inp: R, len: u64) -> Result<Reader<R>, Damage> {
        let damage = |what: String| Damage { offset: 0, what };
        if len < HEADER_LEN as u64 {
            return Err(damage(format!("truncated: {} bytes, no header", len)));
        }
        let mut h = [0u8; HEADER_LEN];
        inp.read_exact(&mut h)
            .map_err(|e| damage(format!("read error: {}", e)))?;
        let header = Header::decode(&h).map_err(damage)?;
        Ok(Reader {
            inp,
            offset: HEADER_LEN as u64,
            len,
            seq: 0,
            records: 0,
            payload: 0,
            header,
            buf: Vec::new(),
            block_records: 0,
        })
    }

    /// Reads the next `n` bytes of the unit (block or trailer) that starts
    /// at `unit`; a damage is reported at the unit's start, where the
    /// verified part of the file ends.
    fn take(&mut self, unit: u64, n: usize, what: &str) -> Result<(), Damage> {
        let at = unit;
        if self.len - self.offset < n as u64 {
            return Err(Damage {
                offset: at,
                what: format!("truncated in {}", what),
            });
        }
        self.buf.resize(n, 0);
        self.inp.read_exact(&mut self.buf).map_err(|e| Damage {
            offset: at,
            what: format!("read error in {}: {}", what, e),
        })?;
        self.offset += n as u64;
        Ok(())
    }

    /// The records of the next block, all checked; None after a good
    /// trailer that ends the file.
    pub fn next_block(&mut self) -> Result<Option<Records<'_>>, Damage> {
        let at = self.offset;
        let damage = |what: String| Damage { offset: at, what };
        if self.offset == self.len {
            return Err(damage("truncated: no trailer".to_string()));
        }
        self.take(at, 4, "a block header")?;
        if self.buf[..] == TRAILER_MAGIC {
            self.take(at, TRAILER_LEN - 4, "the trailer")?;
            let mut t = TRAILER_MAGIC.to_vec();
            t.extend_from_slice(&self.buf);
            if le32(&t, 28) != crc32c(&t[..28]) {
                return Err(damage("trailer checksum mismatch".to_string()));
            }
            if le32(&t, 4) != self.seq
                || le64(&t, 8) != self.records
                || le64(&t, 16) != self.payload
            {
                return Err(damage(format!(
                    "trailer counts ({} blocks, {} records) differ from the file's ({}, {})",
                    le32(&t, 4),
                    le64(&t, 8),
                    self.seq,
                    self.records
                )));
            }
            if le32(&t, 24) != 0 {
                return Err(damage("malformed trailer".to_string()));
            }
            if self.offset != self.len {
                return Err(Damage {
                    offset: self.offset,
                    what: format!("{} bytes after the trailer", self.len - self.offset),
                });
            }
            return Ok(None);
        }
        if self.buf[..] != BLOCK_MAGIC {
            return Err(damage("bad block magic".to_string()));
        }
        self.take(at, BLOCK_HEADER_LEN - 4, "a block header")?;
        let mut h = BLOCK_MAGIC.to_vec();
        h.extend_from_slice(&self.buf);
        if le32(&h, 20) != crc32c(&h[..20]) {
            return Err(damage("block header checksum mismatch".to_string()));
        }
        if le32(&h, 4) != self.seq {
            return Err(damage(format!(
                "block {} where block {} was due",
                le32(&h, 4),
                self.seq
            )));
        }
        let plen = le32(&h, 8) as u64;
        let nrec = le32(&h, 12);
        if plen == 0 || plen > BLOCK_MAX || nrec == 0 {
            return Err(damage(format!(
                "absurd block size {} / {} records",
                plen, nrec
            )));
        }
        self.take(at, plen as usize, "a block")?;
        if crc32c(&self.buf) != le32(&h, 16) {
            return Err(damage("block checksum mismatch".to_string()));
        }
        check_records(&self.buf, nrec)
            .map_err(|what| damage(format!("block {}: {}", self.seq, what)))?;
        self.seq += 1;
        self.records += nrec as u64;
        self.payload += plen;
        self.block_records = nrec;
        Ok(Some(Records {
            buf: &self.buf,
            pos: 0,
        }))
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// Checks that a verified payload holds exactly `nrec` well-formed records.
fn check_records(p: &[u8], nrec: u32) -> Result<(), String> {
    let mut pos = 0usize;
    for i in 0..nrec {
        if p.len() - pos < RECORD_HEADER_LEN {
            return Err(format!("record {} runs past the block", i));
        }
        let nkey = p[pos] as usize;
        let rflags = p[pos + 1];
        let vlen = le32(p, pos + 8) as usize;
        if nkey == 0 || nkey > item::KEY_MAX_LENGTH {
            return Err(format!("record {}: key length {}", i, nkey));
        }
        if rflags & !R_ALL != 0 || p[pos + 2] != 0 || p[pos + 3] != 0 {
            return Err(format!("record {}: unknown flags", i));
        }
        let end = pos + RECORD_HEADER_LEN + nkey;
        if end > p.len() || p.len() - end < vlen {
            return Err(format!("record {} runs past the block", i));
        }
        let key = &p[pos + RECORD_HEADER_LEN..end];
        if rflags & R_KEY_BINARY == 0 && key.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(format!("record {}: key with a space or control byte", i));
        }
        pos = end + vlen;
    }
    if pos != p.len() {
        return Err(format!("{} bytes after the last record", p.len() - pos));
    }
    Ok(())
}

/// The records of one checked block.
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let p = self.buf;
        let pos = self.pos;
        if pos >= p.len() {
            return None;
        }
        let nkey = p[pos] as usize;
        let vlen = le32(p, pos + 8) as usize;
        let kstart = pos + RECORD_HEADER_LEN;
        let vstart = kstart + nkey;
        self.pos = vstart + vlen;
        Some(Record {
            key: &p[kstart..vstart],
            rflags: p[pos + 1],
            flags: le32(p, pos + 4),
            idle: le32(p, pos + 12),
            exptime: le64(p, pos + 16) as i64,
            cas: le64(p, pos + 24),
            value: &p[vstart..vstart + vlen],
        })
    }
}

// ======================== writing ========================

/// The header and records of the cache as it is now, written to `out`.
pub fn write_cache<W: Write>(cache: &Cache, out: W) -> io::Result<(W, Totals)> {
    let clock = cache.clock();
    let now = clock.current_time;
    let header = Header {
        created: clock.now_unix(),
        cas: cache.cas_counter(),
        flush_at: cache.flush_at(),
        items: cache.item_stats().curr_items,
        item_size_max: cache.item_size_max() as u32,
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

fn tmp_path(path: &str) -> String {
    format!("{}.tmp", path)
}

/// Writes the cache to `path` the safe way: `path.tmp` (mode 0600, a
/// leftover one replaced), fsync, rename over `path`, fsync the directory.
/// On failure `path` is untouched and the `.tmp` removed.
pub fn write_file(cache: &Cache, path: &str) -> Result<Totals, String> {
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
    let written = write_cache(cache, file)
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

fn dir_of(path: &str) -> String {
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
pub fn load(cache: &mut Cache, path: &str) -> Result<LoadReport, String> {
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
            return Ok(report);
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
    match result {
        Ok(()) => {
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
    Ok(report)
}

/// Checks a whole dump held in memory (a replica's snapshot) without
/// loading it: the header, every block's checksum and every record.
pub fn verify(bytes: &[u8]) -> Result<(), String> {
    let mut reader = Reader::open(bytes, bytes.len() as u64).map_err(|d| d.what)?;
    loop {
        match reader.next_block() {
            Ok(Some(block)) => block.for_each(drop),
            Ok(None) => return Ok(()),
            Err(d) => return Err(format!("at byte {}: {}", d.offset, d.what)),
        }
    }
}

/// Loads every verified record; stops at the first damage. Never evicts:
/// what does not fit is left out and counted.
pub fn load_from<R: Read>(
    cache: &mut Cache,
    inp: R,
    len: u64,
    report: &mut LoadReport,
) -> Result<(), Damage> {
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
) -> Result<(), Damage> {
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
    Ok(())
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

// ======================== dumping from the event loop ========================

/// A dump being written by a child process.
struct Child {
    pid: i32,
    /// Read end of the pipe the child reports on.
    report_fd: RawFd,
    started: Instant,
    /// Unix time of the dump's instant.
    at: i64,
}

/// Dump outcomes, reported by `stats`.
#[derive(Debug, Default, Clone)]
pub struct DumpStats {
    /// Dumps finished, ok or not.
    pub total: u64,
    pub failed: u64,
    /// "none", "ok" or "failed".
    pub last_status: &'static str,
    pub last_time: i64,
    pub last_duration_us: u64,
    pub last_items: u64,
    pub last_bytes: u64,
    pub last_fork_us: u64,
    pub load: LoadReport,
}

/// Which file the cache is kept in, and when it is written.
pub struct DumpState {
    /// Absolute path of the `-F` or `-e` file; None: no dump file.
    pub path: Option<String>,
    /// `-F`: SIGUSR2 and dump_interval write the file.
    pub on_signal: bool,
    /// `-F` without no_dump_on_shutdown: every stop writes the file;
    /// `-e`: only a graceful stop (SIGUSR1, `shutdown graceful`) does.
    pub on_stop: bool,
    pub on_graceful_stop_only: bool,
    /// `dump_interval` in seconds.
    pub interval: u32,
    child: Option<Child>,
    /// A dump was asked for while one ran: start one more after it.
    pending: bool,
    /// Monotonic ms of the last dump started (or of the start).
    last_start_ms: u64,
    /// Debug builds: the child sleeps this long before writing (tests).
    pub child_delay_ms: u64,
    pub stats: DumpStats,
}

impl DumpState {
    pub fn new(settings: &crate::settings::Settings) -> DumpState {
        let (path, on_signal, on_stop, graceful_only) =
            match (&settings.dump_file, &settings.memory_file) {
                (Some(f), _) => (Some(f.clone()), true, settings.dump_on_shutdown, false),
                (None, Some(e)) => (Some(e.clone()), false, true, true),
                (None, None) => (None, false, false, false),
            };
        DumpState {
            path: path.map(|p| absolute(&p)),
            on_signal,
            on_stop,
            on_graceful_stop_only: graceful_only,
            interval: settings.dump_interval,
            child: None,
            pending: false,
            last_start_ms: crate::event::monotonic_ms(),
            child_delay_ms: 0,
            stats: DumpStats {
                last_status: "none",
                ..DumpStats::default()
            },
        }
    }

    pub fn in_progress(&self) -> bool {
        self.child.is_some()
    }
}

/// The path made absolute against the current directory, so a daemon's
/// chdir("/") does not move the file.
fn absolute(path: &str) -> String {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        return path.to_string();
    }
    match std::env::current_dir() {
        Ok(d) => d.join(p).display().to_string(),
        Err(_) => path.to_string(),
    }
}

/// Checks at start, as the user the server runs as (after `-u`) and before
/// anything is loaded, that the dump file's directory exists and that this
/// user may create and remove files in it: otherwise every dump would fail
/// hours later (and `-e` could not remove its file), with nothing said at
/// start. A missing directory is EX_USAGE, an unwritable one EX_CANTCREAT.
pub fn check_dir(path: &str) -> Result<(), sys::Fatal> {
    let dir = dir_of(path);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(sys::Fatal::new(
                sys::EX_USAGE,
                format!("dump file {}: {} is not a directory", path, dir),
            ))
        }
        Err(e) => {
            return Err(sys::Fatal::new(
                sys::EX_USAGE,
                format!("dump file {}: directory {}: {}", path, dir, e),
            ))
        }
    }
    sys::check_writable_dir(&dir).map_err(|e| {
        sys::Fatal::new(
            sys::EX_CANTCREAT,
            format!(
                "dump file {}: directory {} is not writable by user {}: {}",
                path,
                dir,
                sys::user_name(),
                e.desc()
            ),
        )
    })
}

/// SIGUSR2: dump now, or once more after the running dump.
pub fn request_dump(core: &mut Core) {
    if core.dump.path.is_none() || !core.dump.on_signal {
        log::warn!("SIGUSR2: no dump file configured (-F FILE)");
        return;
    }
    if core.dump.child.is_some() {
        core.dump.pending = true;
        return;
    }
    start_dump(core);
}

/// The one-second timer: a periodic dump when `dump_interval` is due.
pub fn on_timer(core: &mut Core, now_ms: u64) {
    let d = &core.dump;
    if d.interval == 0 || d.child.is_some() {
        return;
    }
    if now_ms.saturating_sub(d.last_start_ms) >= d.interval as u64 * 1000 {
        start_dump(core);
    }
}

fn start_dump(core: &mut Core) {
    let path = match &core.dump.path {
        Some(p) => p.clone(),
        None => return,
    };
    core.cache.tick();
    core.dump.last_start_ms = crate::event::monotonic_ms();
    let (rd, wr) = match sys::pipe() {
        Ok(p) => p,
        Err(e) => {
            record_failure(core, 0, &format!("cannot create a pipe: {}", e));
            return;
        }
    };
    let parent = sys::getpid();
    let delay = core.dump.child_delay_ms;
    let started = Instant::now();
    let pid = match sys::fork() {
        Ok(pid) => pid,
        Err(e) => {
            sys::close(rd);
            sys::close(wr);
            record_failure(core, 0, &format!("fork failed: {}", e));
            return;
        }
    };
    if pid == 0 {
        // The child: write the snapshot, report, exit.
        sys::detach_child(parent, wr);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        let (msg, status) = match write_file(&core.cache, &path) {
            Ok(t) => (format!("ok {} {}\n", t.records, t.file_bytes), 0),
            Err(e) => (format!("error {}\n", e), 1),
        };
        let mut f = unsafe_file(wr);
        let _ = f.write_all(msg.as_bytes());
        sys::exit_now(status);
    }
    core.dump.stats.last_fork_us = started.elapsed().as_micros() as u64;
    sys::close(wr);
    log::info!(
        "dump to {} started (child {}, fork took {} us)",
        path,
        pid,
        core.dump.stats.last_fork_us
    );
    core.dump.child = Some(Child {
        pid,
        report_fd: rd,
        started,
        at: core.cache.clock().now_unix(),
    });
}

/// A File over a descriptor this process owns and gives up.
fn unsafe_file(fd: RawFd) -> File {
    use std::os::unix::io::FromRawFd;
    // SAFETY: `fd` is an open descriptor owned by the caller, handed over.
    unsafe { File::from_raw_fd(fd) }
}

/// SIGCHLD: reaps the dump child if it ended, records how it went, starts
/// the dump asked for meanwhile.
pub fn reap(core: &mut Core) {
    let pid = match &core.dump.child {
        Some(c) => c.pid,
        None => return,
    };
    let exit = match sys::try_wait(pid) {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(e) => {
            log::warn!("waitpid on dump child {}: {}", pid, e);
            return;
        }
    };
    let child = core.dump.child.take().expect("child checked above");
    finish_child(core, child, exit);
    if core.dump.pending {
        core.dump.pending = false;
        start_dump(core);
    }
}

fn finish_child(core: &mut Core, child: Child, exit: sys::ChildExit) {
    let mut msg = String::new();
    let _ = unsafe_file(child.report_fd).read_to_string(&mut msg);
    let duration = child.started.elapsed().as_micros() as u64;
    let path = core.dump.path.clone().unwrap_or_default();
    let mut words = msg.split_whitespace();
    let ok = match (exit, words.next()) {
        (sys::ChildExit::Exited(0), Some("ok")) => {
            let items = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let bytes = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            Some((items, bytes))
        }
        _ => None,
    };
    match ok {
        Some((items, bytes)) => record_success(core, child.at, duration, items, bytes, false),
        None => {
            let why = match exit {
                _ if msg.starts_with("error ") => msg["error ".len()..].trim_end().to_string(),
                sys::ChildExit::Signaled(s) => {
                    format!("the dump process was killed by signal {}", s)
                }
                sys::ChildExit::Exited(s) => format!("the dump process exited with status {}", s),
            };
            // A child that died mid-write leaves its .tmp behind.
            remove_tmp(&path);
            record_failure(core, duration, &why);
        }
    }
}

/// Removes the `.tmp` a dead child left, if it is a file (never a
/// directory or anything else someone put there).
fn remove_tmp(path: &str) {
    let tmp = tmp_path(path);
    if fs::symlink_metadata(&tmp)
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        let _ = fs::remove_file(&tmp);
    }
}

/// Records a dump that succeeded and logs it: with `-v` for a dump made
/// while serving, whatever the verbosity for the final dump at a stop
/// (`at_stop`), so the log shows what a stop cost.
fn record_success(
    core: &mut Core,
    at: i64,
    duration_us: u64,
    items: u64,
    bytes: u64,
    at_stop: bool,
) {
    let s = &mut core.dump.stats;
    s.total += 1;
    s.last_status = "ok";
    s.last_time = at;
    s.last_duration_us = duration_us;
    s.last_items = items;
    s.last_bytes = bytes;
    let line = format!(
        "{}dump to {}: {} items, {} bytes in {:.3} s",
        if at_stop { "final " } else { "" },
        core.dump.path.as_deref().unwrap_or(""),
        items,
        bytes,
        duration_us as f64 / 1e6
    );
    if at_stop {
        eprintln!("{}", line);
    } else {
        log::info!("{}", line);
    }
}

fn record_failure(core: &mut Core, duration_us: u64, why: &str) {
    let s = &mut core.dump.stats;
    s.total += 1;
    s.failed += 1;
    s.last_status = "failed";
    s.last_duration_us = duration_us;
    log::error!(
        "dump to {} failed: {}",
        core.dump.path.as_deref().unwrap_or(""),
        why
    );
}

/// The stop. If this kind of stop writes a final dump, a running dump is
/// abandoned (its snapshot is older than the cache now) and the final one
/// written in this process; otherwise a running dump is waited for, since
/// it was asked for. Returns false if the final dump failed.
pub fn at_stop(core: &mut Core, graceful: bool) -> bool {
    let d = &core.dump;
    let final_dump = d.path.is_some() && d.on_stop && (graceful || !d.on_graceful_stop_only);
    if let Some(child) = core.dump.child.take() {
        if final_dump {
            sys::kill(child.pid, libc::SIGKILL);
            let _ = sys::wait(child.pid);
            sys::close(child.report_fd);
            remove_tmp(core.dump.path.as_deref().unwrap_or(""));
            log::info!("running dump abandoned for the final dump");
        } else {
            log::info!("waiting for the running dump to finish");
            let exit = sys::wait(child.pid).unwrap_or(sys::ChildExit::Signaled(0));
            finish_child(core, child, exit);
        }
    }
    if !final_dump {
        return true;
    }
    core.cache.tick();
    let path = core.dump.path.clone().unwrap_or_default();
    let at = core.cache.clock().now_unix();
    let started = Instant::now();
    match write_file(&core.cache, &path) {
        Ok(t) => {
            let us = started.elapsed().as_micros() as u64;
            record_success(core, at, us, t.records, t.file_bytes, true);
            true
        }
        Err(e) => {
            record_failure(core, started.elapsed().as_micros() as u64, &e);
            false
        }
    }
}

/// The dump and load lines of `stats` (only when a dump file is set).
pub fn append_stats(core: &Core, out: &mut Vec<u8>) {
    use crate::stats::append_stat;
    let d = &core.dump;
    if d.path.is_none() {
        return;
    }
    let s = &d.stats;
    append_stat(out, "dump_in_progress", d.in_progress() as u8);
    append_stat(out, "dumps_total", s.total);
    append_stat(out, "dumps_failed", s.failed);
    append_stat(out, "last_dump_status", s.last_status);
    append_stat(out, "last_dump_time", s.last_time);
    append_stat(out, "last_dump_duration_us", s.last_duration_us);
    append_stat(out, "last_dump_items", s.last_items);
    append_stat(out, "last_dump_bytes", s.last_bytes);
    append_stat(out, "last_fork_us", s.last_fork_us);
    let l = &s.load;
    append_stat(out, "load_status", l.status.name());
    append_stat(out, "load_items", l.items);
    append_stat(out, "load_bytes", l.bytes);
    append_stat(out, "load_expired", l.expired);
    append_stat(out, "load_too_large", l.too_large);
    append_stat(out, "load_no_memory", l.no_memory);
    append_stat(out, "load_duration_us", l.duration_us);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::slabs::NONE;
    use crate::cache::{StoreCmd, StoreItemType};
    use crate::settings::Settings;

    fn cache_with(settings: Settings) -> Cache {
        Cache::new(&settings)
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
        write_cache(c, Vec::new()).unwrap().0
    }

    fn load_bytes(c: &mut Cache, bytes: &[u8]) -> (LoadReport, Result<(), Damage>) {
        let mut r = LoadReport::default();
        let res = load_from(c, bytes, bytes.len() as u64, &mut r);
        (r, res)
    }

    /// A small file: `n` items of `size`-byte values.
    fn sample(n: usize, size: usize) -> (Cache, Vec<u8>) {
        let mut c = cache();
        for i in 0..n {
            let v: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            put(&mut c, format!("key:{}", i).as_bytes(), i as u32 * 7, 0, &v);
        }
        let b = dump_bytes(&c);
        (c, b)
    }

    #[test]
    fn header_round_trip_and_checks() {
        let h = Header {
            created: 1_795_000_000,
            cas: 42,
            flush_at: -1,
            items: 7,
            item_size_max: 1 << 20,
        };
        let b = h.encode();
        assert_eq!(&b[..8], b"MEMCDUMP");
        assert_eq!(le32(&b, 8), 1);
        assert_eq!(Header::decode(&b), Ok(h.clone()));
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(
            Header::decode(&bad).unwrap_err(),
            "not a dump file (bad magic)"
        );
        let mut bad = b;
        bad[8] = 2;
        assert_eq!(
            Header::decode(&bad).unwrap_err(),
            "unknown format version 2"
        );
        let mut bad = b;
        bad[30] ^= 1;
        assert_eq!(
            Header::decode(&bad).unwrap_err(),
            "header checksum mismatch"
        );
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
        let mut c = cache_with(Settings {
            hashpower_init: 4,
            item_size_max: 2 << 20,
            ..Settings::default()
        });
        put(&mut c, b"never", 0, 0, b"v1");
        let exp = c.now() + 1000;
        put(&mut c, b"ttl", u32::MAX, exp, b"");
        let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        put(&mut c, b"big", 5, 0, &big);
        let bin: Vec<u8> = (0..=255u8).collect();
        put(&mut c, b"bin", 1, 0, &bin);
        let want = contents(&c);
        let b = dump_bytes(&c);
        let mut d = cache_with(Settings {
            hashpower_init: 4,
            item_size_max: 2 << 20,
            ..Settings::default()
        });
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
    fn every_truncation_is_detected() {
        let (_, b) = sample(5, 40);
        for cut in 0..b.len() {
            let mut d = cache();
            let (r, res) = load_bytes(&mut d, &b[..cut]);
            let dmg = res.expect_err(&format!("cut at {}", cut));
            assert!(dmg.what.starts_with("truncated"), "cut {}: {:?}", cut, dmg);
            // Nothing is loaded from a block that was cut.
            let full_block = cut >= b.len() - TRAILER_LEN;
            assert_eq!(r.items, if full_block { 5 } else { 0 }, "cut {}", cut);
        }
        let mut d = cache();
        assert_eq!(load_bytes(&mut d, &b).1, Ok(()));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let (_, b) = sample(3, 20);
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            let mut d = cache();
            let (_, res) = load_bytes(&mut d, &bad);
            assert!(res.is_err(), "flip at {} not detected", at);
        }
    }

    #[test]
    fn damage_loads_the_blocks_before_it() {
        // Big enough for several blocks.
        let (_, b) = sample(1200, 1000);
        let mut offsets = Vec::new();
        let mut pos = HEADER_LEN;
        while &b[pos..pos + 4] == b"MCBK" {
            offsets.push((pos, le32(&b, pos + 12) as u64));
            pos += BLOCK_HEADER_LEN + le32(&b, pos + 8) as usize;
        }
        assert!(offsets.len() >= 4, "{} blocks", offsets.len());
        let (blk2, _) = offsets[2];
        let before: u64 = offsets[..2].iter().map(|x| x.1).sum();
        // Payload checksum mismatch in block 2.
        let mut bad = b.clone();
        bad[blk2 + BLOCK_HEADER_LEN + 100] ^= 1;
        let mut d = cache();
        let (r, res) = load_bytes(&mut d, &bad);
        assert_eq!(
            res,
            Err(Damage {
                offset: blk2 as u64,
                what: "block checksum mismatch".to_string()
            })
        );
        assert_eq!(r.items, before);
        assert_eq!(r.bytes, blk2 as u64);
        // An absurd length with a valid header checksum: refused before
        // any allocation.
        for (len, want) in [
            (0xFFFF_FFF0u32, "absurd block size 4294967280"),
            (0x3000_0000, "truncated in a block"),
        ] {
            let mut bad = b.clone();
            bad[blk2 + 8..blk2 + 12].copy_from_slice(&len.to_le_bytes());
            let hcrc = crc32c(&bad[blk2..blk2 + 20]);
            bad[blk2 + 20..blk2 + 24].copy_from_slice(&hcrc.to_le_bytes());
            let mut d = cache();
            let (r, res) = load_bytes(&mut d, &bad);
            let what = res.unwrap_err().what;
            assert!(what.starts_with(want), "{}", what);
            assert_eq!(r.items, before);
        }
        // Bytes after the trailer.
        let mut bad = b.clone();
        bad.push(0);
        let mut d = cache();
        let (r, res) = load_bytes(&mut d, &bad);
        assert_eq!(res.unwrap_err().what, "1 bytes after the trailer");
        assert_eq!(r.items, 1200);
        assert_eq!(r.bytes, b.len() as u64);
    }

    #[test]
    fn malformed_records_in_a_valid_block_are_refused() {
        let (_, b) = sample(2, 10);
        let blk = HEADER_LEN;
        let rec = blk + BLOCK_HEADER_LEN;
        let reseal = |bad: &mut Vec<u8>| {
            let plen = le32(bad, blk + 8) as usize;
            let pcrc = crc32c(&bad[blk + BLOCK_HEADER_LEN..blk + BLOCK_HEADER_LEN + plen]);
            bad[blk + 16..blk + 20].copy_from_slice(&pcrc.to_le_bytes());
            let hcrc = crc32c(&bad[blk..blk + 20]);
            bad[blk + 20..blk + 24].copy_from_slice(&hcrc.to_le_bytes());
        };
        let cases: [(usize, u8, &str); 4] = [
            (rec, 0, "block 0: record 0: key length 0"),
            (rec + 1, 0x20, "block 0: record 0: unknown flags"),
            (rec + 2, 1, "block 0: record 0: unknown flags"),
            (
                rec + 32,
                b' ',
                "block 0: record 0: key with a space or control byte",
            ),
        ];
        for (at, v, want) in cases {
            let mut bad = b.clone();
            bad[at] = v;
            reseal(&mut bad);
            let mut d = cache();
            let (r, res) = load_bytes(&mut d, &bad);
            assert_eq!(res.unwrap_err().what, want);
            assert_eq!(r.items, 0);
        }
        // A value length running past the block.
        let mut bad = b.clone();
        bad[rec + 8..rec + 12].copy_from_slice(&1000u32.to_le_bytes());
        reseal(&mut bad);
        let mut d = cache();
        assert_eq!(
            load_bytes(&mut d, &bad).1.unwrap_err().what,
            "block 0: record 0 runs past the block"
        );
    }

    #[test]
    fn too_large_records_are_skipped() {
        let mut c = cache_with(Settings {
            hashpower_init: 4,
            item_size_max: 2 << 20,
            ..Settings::default()
        });
        put(&mut c, b"big", 0, 0, &vec![3u8; 1_500_000]);
        put(&mut c, b"small", 0, 0, b"s");
        let b = dump_bytes(&c);
        let mut d = cache();
        let (r, res) = load_bytes(&mut d, &b);
        assert_eq!(res, Ok(()));
        assert_eq!((r.items, r.too_large), (1, 1));
    }
}
