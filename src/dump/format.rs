//! The dump file's bytes (doc/dump-format.md): the header, records
//! gathered into checksummed blocks, the trailer; `Writer` writes them,
//! `Reader` checks every length and checksum before handing a record out,
//! and `Damage` says where a file stopped being trustworthy. It knows
//! nothing of the cache: snapshot.rs turns the cache into records and back,
//! so a replica's full sync can speak the same format over a socket.
//!
//! ```text
//!   header  96 B   MEMCDUMP, version, created, cas, flush_at, items, -I,
//!                  replication flags, offset and id, crc (version 1: 64 B,
//!                  no replication fields; still read)
//!   block   24 B   MCBK, seq, payload length, records, payload crc, crc
//!           payload: records back to back
//!   ...
//!   trailer 32 B   MCEN, blocks, records, payload bytes, crc
//!
//!   record  0 nkey | 1 rflags | 2 0 0 | 4 client flags | 8 value length
//!           12 idle | 16 exptime (unix, i64) | 24 cas | 32 key | value
//! ```

use std::io::{self, Read, Write};

use crate::cache::item;
use crate::crc32c::crc32c;

pub const MAGIC: [u8; 8] = *b"MEMCDUMP";
pub const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 96;
/// The header of version 1 files (no replication position), still read.
pub const HEADER_LEN_V1: usize = 64;
/// Replication flag bits of the header.
pub const REPL_POSITION: u32 = 1;
pub const REPL_BY_REPLICA: u32 = 2;
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

pub(super) fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(super) fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

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
    /// The replication history the data belongs to and how far into it
    /// (None in version 1 files, or when replication was off).
    pub repl: Option<ReplPosition>,
}

/// Where a dump's data stands in a replication history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplPosition {
    /// 40 hex digits.
    pub replid: String,
    pub offset: u64,
    /// Written by a replica (its master's history) rather than a master.
    pub by_replica: bool,
}

/// 40 hex digits as 20 bytes; None if that is not what `id` is.
fn replid_bytes(id: &str) -> Option<[u8; 20]> {
    let b = id.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in b.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
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
        if let Some(r) = &self.repl {
            if let Some(id) = replid_bytes(&r.replid) {
                let flags = REPL_POSITION | if r.by_replica { REPL_BY_REPLICA } else { 0 };
                b[52..56].copy_from_slice(&flags.to_le_bytes());
                b[56..64].copy_from_slice(&r.offset.to_le_bytes());
                b[64..84].copy_from_slice(&id);
            }
        }
        let crc = crc32c(&b[..92]);
        b[92..96].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// The header's length for the version its first 16 bytes name.
    pub fn len_of(first: &[u8]) -> Result<usize, String> {
        if first[0..8] != MAGIC {
            return Err("not a dump file (bad magic)".to_string());
        }
        match le32(first, 8) {
            1 => Ok(HEADER_LEN_V1),
            VERSION => Ok(HEADER_LEN),
            v => Err(format!("unknown format version {}", v)),
        }
    }

    /// Decodes a whole header, of `len_of` bytes.
    pub fn decode(b: &[u8]) -> Result<Header, String> {
        let len = Self::len_of(b)?;
        let crc_at = len - 4;
        if b.len() != len || le32(b, crc_at) != crc32c(&b[..crc_at]) {
            return Err("header checksum mismatch".to_string());
        }
        let reserved = if len == HEADER_LEN_V1 {
            &b[52..60]
        } else {
            &b[84..92]
        };
        if le32(b, 12) as usize != len || reserved.iter().any(|&x| x != 0) {
            return Err("malformed header".to_string());
        }
        let repl = if len == HEADER_LEN_V1 {
            None
        } else {
            let flags = le32(b, 52);
            if flags & !(REPL_POSITION | REPL_BY_REPLICA) != 0
                || (flags & REPL_POSITION == 0 && b[52..84].iter().any(|&x| x != 0))
            {
                return Err("malformed header".to_string());
            }
            (flags & REPL_POSITION != 0).then(|| ReplPosition {
                replid: b[64..84].iter().map(|x| format!("{:02x}", x)).collect(),
                offset: le64(b, 56),
                by_replica: flags & REPL_BY_REPLICA != 0,
            })
        };
        Ok(Header {
            created: le64(b, 16) as i64,
            cas: le64(b, 24),
            flush_at: le64(b, 32) as i64,
            items: le64(b, 40),
            item_size_max: le32(b, 48),
            repl,
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
        let truncated = || damage(format!("truncated: {} bytes, no header", len));
        if len < 16 {
            return Err(truncated());
        }
        let mut h = vec![0u8; 16];
        inp.read_exact(&mut h)
            .map_err(|e| damage(format!("read error: {}", e)))?;
        let hlen = Header::len_of(&h).map_err(damage)?;
        if len < hlen as u64 {
            return Err(truncated());
        }
        h.resize(hlen, 0);
        inp.read_exact(&mut h[16..])
            .map_err(|e| damage(format!("read error: {}", e)))?;
        let header = Header::decode(&h).map_err(damage)?;
        Ok(Reader {
            inp,
            offset: hlen as u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `n` records with `size`-byte values, written as the dump
    /// writes them but without a cache.
    fn sample(n: usize, size: usize) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &Header::default()).unwrap();
        for i in 0..n {
            let v: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            let h = RecordHead {
                flags: i as u32 * 7,
                ..RecordHead::default()
            };
            w.record(&h, format!("key:{}", i).as_bytes(), size, |b| {
                b.extend_from_slice(&v)
            })
            .unwrap();
        }
        w.finish().unwrap().0
    }

    /// What a loader takes from `bytes`: the records of every block that
    /// passed its checks, the bytes verified, and the damage that stopped
    /// it.
    fn read_all(bytes: &[u8]) -> (u64, u64, Result<(), Damage>) {
        let mut reader = match Reader::open(bytes, bytes.len() as u64) {
            Ok(r) => r,
            Err(d) => return (0, 0, Err(d)),
        };
        let mut records = 0;
        loop {
            match reader.next_block() {
                Ok(Some(block)) => records += block.count() as u64,
                Ok(None) => return (records, reader.offset(), Ok(())),
                Err(d) => return (records, d.offset, Err(d)),
            }
        }
    }

    #[test]
    fn header_round_trip_and_checks() {
        let h = Header {
            created: 1_795_000_000,
            cas: 42,
            flush_at: -1,
            items: 7,
            item_size_max: 1 << 20,
            repl: Some(ReplPosition {
                replid: "00ff".repeat(10),
                offset: 123_456,
                by_replica: true,
            }),
        };
        let b = h.encode();
        assert_eq!(&b[..8], b"MEMCDUMP");
        assert_eq!(le32(&b, 8), 2);
        assert_eq!(le32(&b, 52), 3);
        assert_eq!(Header::decode(&b), Ok(h.clone()));
        let none = Header {
            repl: None,
            ..h.clone()
        };
        assert_eq!(Header::decode(&none.encode()), Ok(none.clone()));
        // Version 1: 64 bytes, no replication position.
        let mut v1 = none.encode()[..64].to_vec();
        v1[8] = 1;
        v1[12] = 64;
        v1[52..64].fill(0);
        let crc = crc32c(&v1[..60]);
        v1[60..64].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Header::decode(&v1), Ok(none));
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(
            Header::decode(&bad).unwrap_err(),
            "not a dump file (bad magic)"
        );
        let mut bad = b;
        bad[8] = 3;
        assert_eq!(
            Header::decode(&bad).unwrap_err(),
            "unknown format version 3"
        );
        let mut bad = b;
        bad[30] ^= 1;
        assert_eq!(
            Header::decode(&bad).unwrap_err(),
            "header checksum mismatch"
        );
    }

    #[test]
    fn records_round_trip() {
        let h = RecordHead {
            rflags: R_KEY_BINARY | R_STALE,
            flags: 0xA1B2_C3D4,
            idle: 9,
            exptime: 1_795_000_000,
            cas: 77,
        };
        let mut w = Writer::new(Vec::new(), &Header::default()).unwrap();
        w.record(&h, b"k \x01", 3, |b| b.extend_from_slice(b"v\r\n"))
            .unwrap();
        w.record(&RecordHead::default(), b"e", 0, |_| {}).unwrap();
        let (b, totals) = w.finish().unwrap();
        assert_eq!(totals.records, 2);
        assert_eq!(totals.file_bytes, b.len() as u64);
        let mut reader = Reader::open(&b[..], b.len() as u64).unwrap();
        let got: Vec<Record> = reader.next_block().unwrap().unwrap().collect();
        let want = Record {
            key: b"k \x01",
            rflags: h.rflags,
            flags: h.flags,
            idle: h.idle,
            exptime: h.exptime,
            cas: h.cas,
            value: b"v\r\n",
        };
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], want);
        assert_eq!((got[1].key, got[1].value), (&b"e"[..], &b""[..]));
        assert!(reader.next_block().unwrap().is_none());
    }

    #[test]
    fn every_truncation_is_detected() {
        let b = sample(5, 40);
        for cut in 0..b.len() {
            let (records, _, res) = read_all(&b[..cut]);
            let dmg = res.expect_err(&format!("cut at {}", cut));
            assert!(dmg.what.starts_with("truncated"), "cut {}: {:?}", cut, dmg);
            // Nothing is handed out from a block that was cut.
            let full_block = cut >= b.len() - TRAILER_LEN;
            assert_eq!(records, if full_block { 5 } else { 0 }, "cut {}", cut);
        }
        assert_eq!(read_all(&b).2, Ok(()));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let b = sample(3, 20);
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            assert!(read_all(&bad).2.is_err(), "flip at {} not detected", at);
        }
    }

    #[test]
    fn damage_hands_out_the_blocks_before_it() {
        // Big enough for several blocks.
        let b = sample(1200, 1000);
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
        let (records, bytes, res) = read_all(&bad);
        assert_eq!(
            res,
            Err(Damage {
                offset: blk2 as u64,
                what: "block checksum mismatch".to_string()
            })
        );
        assert_eq!(records, before);
        assert_eq!(bytes, blk2 as u64);
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
            let (records, _, res) = read_all(&bad);
            let what = res.unwrap_err().what;
            assert!(what.starts_with(want), "{}", what);
            assert_eq!(records, before);
        }
        // Bytes after the trailer.
        let mut bad = b.clone();
        bad.push(0);
        let (records, bytes, res) = read_all(&bad);
        assert_eq!(res.unwrap_err().what, "1 bytes after the trailer");
        assert_eq!(records, 1200);
        assert_eq!(bytes, b.len() as u64);
    }

    #[test]
    fn malformed_records_in_a_valid_block_are_refused() {
        let b = sample(2, 10);
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
            let (records, _, res) = read_all(&bad);
            assert_eq!(res.unwrap_err().what, want);
            assert_eq!(records, 0);
        }
        // A value length running past the block.
        let mut bad = b.clone();
        bad[rec + 8..rec + 12].copy_from_slice(&1000u32.to_le_bytes());
        reseal(&mut bad);
        assert_eq!(
            read_all(&bad).2.unwrap_err().what,
            "block 0: record 0 runs past the block"
        );
    }
}
