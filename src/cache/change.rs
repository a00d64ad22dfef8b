//! Change records: what the store door did to the cache, and why (the
//! role of Redis's propagate() and of memcached's do_item_unlink with a
//! reason).
//!
//! Every change to the cache's contents passes through store.rs or through
//! one of the removals the cache makes by itself (lazy expiry, the LRU
//! tail, the crawler, the page mover), and each leaves one record here:
//! the key, and either the item as it now stands (value, client flags,
//! absolute expiry, CAS, meta flags) or its removal, with the reason.
//! After each batch of work the event loop hands the records to whoever
//! listens (`Cache::take_changes`) and clears them.
//!
//! Records are kept only while someone listens (`ChangeLog::on`): with
//! nobody listening a change costs one test of that flag. Keys and values
//! are copied into one byte arena, so a batch of records makes no
//! allocation once the arena has grown to its working size.
//!
//! ```text
//!  recs:  [ Rec { reason, key: 0..3, value: 3..8, flags, exptime, cas, meta } | ... ]
//!  bytes: [ k e y v a l u e | ... ]
//! ```

use std::ops::Range;

/// Why an item changed or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A storage command stored the item: set, add, replace, cas, append,
    /// prepend, ms (also its invalidation and vivify on miss), mg's vivify
    /// on miss, ma's creation on miss, md x (value emptied).
    Stored,
    /// incr, decr, ma: the record carries the resulting value.
    Arith,
    /// touch, gat, gats, mg T: a new expiry.
    Touched,
    /// Meta state only: mg handed out the win token (perhaps with a new
    /// CAS), md I marked the item stale.
    Meta,
    /// delete, md, or a set that failed and must not leave the old value.
    Deleted,
    /// Found expired when looked up (lazy expiry).
    Expired,
    /// Found flushed by flush_all when looked up.
    Flushed,
    /// Evicted from an LRU tail to free memory.
    Evicted,
    /// An expired or flushed item taken off by the crawler, the LRU
    /// maintainer or an allocation looking at the LRU tail.
    Reclaimed,
    /// Unlinked by the slab page mover: a chunked item a reply still
    /// pointed into after the mover's last pass (the evictions the mover
    /// makes to find room for the page's items are `Evicted`).
    Moved,
    /// flush_all: every item stored before `exptime` (unix time) is gone.
    /// The items themselves leave later, as `Flushed` or `Reclaimed`.
    FlushAll,
}

/// One record as the arena keeps it.
#[derive(Debug, Clone)]
struct Rec {
    reason: Reason,
    key: Range<usize>,
    value: Range<usize>,
    flags: u32,
    exptime: i64,
    cas: u64,
    meta: u8,
}

/// One change, as a listener reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<'a> {
    pub reason: Reason,
    /// The key (empty for FlushAll).
    pub key: &'a [u8],
    /// The value as it now is (empty for removals).
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// Absolute expiry as unix time, 0 for never. For FlushAll, the unix
    /// time before which items are gone.
    pub exptime: i64,
    /// The item's CAS (the master's, for a replica to keep).
    pub cas: u64,
    /// Meta state bits of the item: ITEM_STALE, ITEM_TOKEN_SENT,
    /// ITEM_KEY_BINARY (item.rs).
    pub meta: u8,
}

/// The records of the current batch.
#[derive(Debug, Default)]
pub struct ChangeLog {
    /// Records are kept only while this is set (someone listens).
    pub on: bool,
    recs: Vec<Rec>,
    /// Keys and values of `recs`, back to back.
    bytes: Vec<u8>,
    /// Records a client's command caused (every reason but the cache's
    /// own removals), counted since start and never cleared: a
    /// connection compares it before and after a command to learn
    /// whether the command wrote (acknowledged writes, repl/master.rs).
    writes: u64,
}

impl Reason {
    /// True for the changes a client's command makes, false for the
    /// removals the cache makes by itself.
    pub fn by_client(self) -> bool {
        !matches!(
            self,
            Reason::Expired | Reason::Flushed | Reason::Evicted | Reason::Reclaimed | Reason::Moved
        )
    }
}

impl ChangeLog {
    /// How many records clients' commands have caused so far.
    #[inline]
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn push(&mut self, rec: Rec) {
        self.writes += rec.reason.by_client() as u64;
        self.recs.push(rec);
    }

    /// Records an item as it now stands. `value` is filled by the caller
    /// through the closure, which appends the value's bytes.
    pub(super) fn push_item(
        &mut self,
        reason: Reason,
        key: &[u8],
        flags: u32,
        exptime: i64,
        cas: u64,
        meta: u8,
        value: impl FnOnce(&mut Vec<u8>),
    ) {
        let k0 = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let v0 = self.bytes.len();
        value(&mut self.bytes);
        let v1 = self.bytes.len();
        self.push(Rec {
            reason,
            key: k0..v0,
            value: v0..v1,
            flags,
            exptime,
            cas,
            meta,
        });
    }

    /// Records a removal of `key`.
    pub(super) fn push_removal(&mut self, reason: Reason, key: &[u8]) {
        let k0 = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let k1 = self.bytes.len();
        self.push(Rec {
            reason,
            key: k0..k1,
            value: k1..k1,
            flags: 0,
            exptime: 0,
            cas: 0,
            meta: 0,
        });
    }

    /// Records a flush_all taking effect at unix time `at`; `cas` is the
    /// CAS below which items are gone from now on (0: the flush is for
    /// later and cuts by time only).
    pub(super) fn push_flush(&mut self, at: i64, cas: u64) {
        let n = self.bytes.len();
        self.push(Rec {
            reason: Reason::FlushAll,
            key: n..n,
            value: n..n,
            flags: 0,
            exptime: at,
            cas,
            meta: 0,
        });
    }

    /// True if no record is held.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Change<'_>> {
        self.recs.iter().map(move |r| Change {
            reason: r.reason,
            key: &self.bytes[r.key.clone()],
            value: &self.bytes[r.value.clone()],
            flags: r.flags,
            exptime: r.exptime,
            cas: r.cas,
            meta: r.meta,
        })
    }

    /// Forgets the records, keeping the memory for the next batch.
    pub fn clear(&mut self) {
        self.recs.clear();
        self.bytes.clear();
    }
}
