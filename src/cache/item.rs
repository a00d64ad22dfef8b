//! The item header: its byte layout inside a slab chunk, the item flag
//! bits, and `ItemView`, the typed read-only view every reader outside the
//! item engine goes through (memcached's item struct in memcached.h).

//! An item is one chunk holding a header, the key and the value:

//! ```text
//!  0        4        8        12       16       20       24       28   29   30   31   32
//! +--------+--------+--------+--------+--------+--------+--------+----+----+----+----+
//! |  prev  |  next  | h_next |  time  |exptime | nbytes | flags  |nkey|iflg|clid|refc|
//! +--------+--------+--------+--------+--------+--------+--------+----+----+----+----+
//! |      cas (8 bytes, only when ITEM_CAS)     |  key (nkey)  |  value (nbytes)  ...
//! +--------------------------------------------+--------------+------------------
//! ```

//! 40 bytes with CAS, 32 without (`-C`), against memcached's 48 + 8: list
//! links are 32-bit chunk ids instead of pointers, the key needs no NUL and
//! the value no trailing "\r\n" (the protocol layer adds it when sending).
//! `time` and `exptime` are server-relative seconds (see `Clock`).

//! Values too big for the largest class (`slab_chunk_max`) are chunked: the
//! head chunk (flag ITEM_CHUNKED) holds header, key and then one 32-bit chunk
//! id per data chunk; the value lies in those chunks, every one full
//! (`slab_chunk_max` bytes) but the last, which comes from the smallest
//! class that fits the rest (or from the largest class when that one
//! cannot give a chunk).

use super::lru::{CLSID_MASK, SEG_MASK};
use super::slabs::{read_u32, write_u32};

pub const OFF_PREV: usize = 0;
pub const OFF_NEXT: usize = 4;
pub const OFF_HNEXT: usize = 8;
pub const OFF_TIME: usize = 12;
pub const OFF_EXPTIME: usize = 16;
pub const OFF_NBYTES: usize = 20;
pub const OFF_FLAGS: usize = 24;
pub const OFF_NKEY: usize = 28;
pub const OFF_IFLAGS: usize = 29;
pub const OFF_CLSID: usize = 30;
pub const OFF_REFCOUNT: usize = 31;
pub const OFF_CAS: usize = 32;
/// Header size without and with the CAS field.
pub const HDR_NOCAS: usize = 32;
pub const HDR_CAS: usize = 40;

/// Item is in the hash table and an LRU.
pub const ITEM_LINKED: u8 = 1;
/// Item carries a CAS field.
pub const ITEM_CAS: u8 = 2;
/// The key was given in base64 (meta `b`): meta replies show it encoded.
pub const ITEM_KEY_BINARY: u8 = 4;
/// Item was fetched at least once since it was stored.
pub const ITEM_FETCHED: u8 = 8;
/// Item was fetched twice (segmented LRU: active).
pub const ITEM_ACTIVE: u8 = 16;
/// Value lives in separate chunks.
pub const ITEM_CHUNKED: u8 = 32;
/// Marked stale by a meta invalidation (`md I`, `ms I`).
pub const ITEM_STALE: u8 = 64;
/// A meta client was handed the win flag (W) for this item.
pub const ITEM_TOKEN_SENT: u8 = 128;

/// Longest key (memcached's KEY_MAX_LENGTH).
pub const KEY_MAX_LENGTH: usize = 250;

// ---- header field access (on a chunk's bytes) ----

#[inline]
pub fn prev(c: &[u8]) -> u32 {
    read_u32(c, OFF_PREV)
}
#[inline]
pub fn next(c: &[u8]) -> u32 {
    read_u32(c, OFF_NEXT)
}
#[inline]
pub fn h_next(c: &[u8]) -> u32 {
    read_u32(c, OFF_HNEXT)
}
#[inline]
pub fn time(c: &[u8]) -> u32 {
    read_u32(c, OFF_TIME)
}
#[inline]
pub fn exptime(c: &[u8]) -> u32 {
    read_u32(c, OFF_EXPTIME)
}
#[inline]
pub fn nbytes(c: &[u8]) -> usize {
    read_u32(c, OFF_NBYTES) as usize
}
#[inline]
pub fn flags(c: &[u8]) -> u32 {
    read_u32(c, OFF_FLAGS)
}
#[inline]
pub fn nkey(c: &[u8]) -> usize {
    c[OFF_NKEY] as usize
}
#[inline]
pub fn iflags(c: &[u8]) -> u8 {
    c[OFF_IFLAGS]
}
/// The class of the item's own chunk (the low bits of the class byte).
#[inline]
pub fn clsid(c: &[u8]) -> u8 {
    c[OFF_CLSID] & CLSID_MASK
}
/// The LRU segment the item is on (the top bits of the class byte).
#[inline]
pub fn lru_seg(c: &[u8]) -> u8 {
    c[OFF_CLSID] & SEG_MASK
}
/// Puts the item on segment `seg` (top bits of the class byte).
#[inline]
pub fn set_lru_seg(c: &mut [u8], seg: u8) {
    c[OFF_CLSID] = (c[OFF_CLSID] & CLSID_MASK) | seg;
}
/// Bytes the item takes: header, key and value (the unit of `bytes` and
/// of the LRU byte totals).
#[inline]
pub fn ntotal(c: &[u8]) -> usize {
    hdr_size(c) + nkey(c) + nbytes(c)
}
#[inline]
pub fn refcount(c: &[u8]) -> u8 {
    c[OFF_REFCOUNT]
}
#[inline]
pub fn hdr_size(c: &[u8]) -> usize {
    if c[OFF_IFLAGS] & ITEM_CAS != 0 {
        HDR_CAS
    } else {
        HDR_NOCAS
    }
}
#[inline]
pub fn cas(c: &[u8]) -> u64 {
    if c[OFF_IFLAGS] & ITEM_CAS != 0 {
        u64::from_ne_bytes(c[OFF_CAS..OFF_CAS + 8].try_into().unwrap())
    } else {
        0
    }
}
#[inline]
pub fn key_of(c: &[u8]) -> &[u8] {
    let h = hdr_size(c);
    &c[h..h + nkey(c)]
}
#[inline]
pub(super) fn set_prev(c: &mut [u8], v: u32) {
    write_u32(c, OFF_PREV, v)
}
#[inline]
pub(super) fn set_next(c: &mut [u8], v: u32) {
    write_u32(c, OFF_NEXT, v)
}
#[inline]
pub(super) fn set_h_next(c: &mut [u8], v: u32) {
    write_u32(c, OFF_HNEXT, v)
}
#[inline]
pub(super) fn set_time(c: &mut [u8], v: u32) {
    write_u32(c, OFF_TIME, v)
}
#[inline]
pub fn set_exptime(c: &mut [u8], v: u32) {
    write_u32(c, OFF_EXPTIME, v)
}
#[inline]
pub(super) fn set_cas(c: &mut [u8], v: u64) {
    if c[OFF_IFLAGS] & ITEM_CAS != 0 {
        c[OFF_CAS..OFF_CAS + 8].copy_from_slice(&v.to_ne_bytes());
    }
}
#[inline]
pub(super) fn set_iflags(c: &mut [u8], v: u8) {
    c[OFF_IFLAGS] = v;
}

/// A read-only view of one item: its header, key and value length, read
/// from the chunk found once (`Cache::item`). Code outside the cache reads
/// items only through this; writing a header is the cache's alone.
#[derive(Clone, Copy)]
pub struct ItemView<'a> {
    c: &'a [u8],
}

impl<'a> ItemView<'a> {
    /// A view of the item whose head chunk is `c`.
    #[inline]
    pub fn new(c: &'a [u8]) -> ItemView<'a> {
        ItemView { c }
    }
    /// Client flags.
    #[inline]
    pub fn flags(&self) -> u32 {
        flags(self.c)
    }
    /// Value length in bytes.
    #[inline]
    pub fn nbytes(&self) -> usize {
        nbytes(self.c)
    }
    /// The CAS unique (always 0 with `-C`).
    #[inline]
    pub fn cas(&self) -> u64 {
        cas(self.c)
    }
    /// Expiry in server time (0: never).
    #[inline]
    pub fn exptime(&self) -> u32 {
        exptime(self.c)
    }
    /// Last access in server time.
    #[inline]
    pub fn time(&self) -> u32 {
        time(self.c)
    }
    /// The ITEM_* flag bits.
    #[inline]
    pub fn iflags(&self) -> u8 {
        iflags(self.c)
    }
    /// The class of the item's own chunk.
    #[inline]
    pub fn clsid(&self) -> u8 {
        clsid(self.c)
    }
    /// The key.
    #[inline]
    pub fn key(&self) -> &'a [u8] {
        key_of(self.c)
    }
    /// Bytes the item takes: header, key and value.
    #[inline]
    pub fn ntotal(&self) -> usize {
        ntotal(self.c)
    }
}
