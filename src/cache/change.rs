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
//! A listener that turns every record into bytes of its own (the
//! replication stream) sets an encoder instead (`Cache::encode_changes`):
//! each record is then written in that form as it is made, straight from
//! the item into blocks the listener takes whole after the batch. A value
//! is so copied once on its way to the stream, not into the arena first;
//! with 1 KiB values that copy and the arena's memory traffic were a
//! tenth of a master's time.
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

/// Writes one record in a listener's own form (see the module's text).
pub type Encode = fn(&Change<'_>, &mut Vec<u8>);

/// An encoded block's size: a new block starts once the last one is this
/// full (a record is never split, so a block can be larger).
pub const BLOCK: usize = 64 * 1024;
/// Emptied blocks kept for reuse (1 MiB): a busy master encodes about
/// that much per turn of its loop.
const SPARE_BLOCKS: usize = 16;
/// The most an encoded record takes besides its key and value: the
/// command's name and five numbers, spaces and line ends.
const ENCODED_WORDS_MAX: usize = 128;

/// The records of the current batch.
#[derive(Debug, Default)]
pub struct ChangeLog {
    /// Records are kept only while this is set (someone listens).
    pub on: bool,
    recs: Vec<Rec>,
    /// Keys and values of `recs`, back to back.
    bytes: Vec<u8>,
    /// Set: records are encoded into `blocks` instead of kept in `recs`.
    encode: Option<Encode>,
    blocks: Vec<Vec<u8>>,
    /// Records in `blocks`.
    encoded: usize,
    spare: Vec<Vec<u8>>,
    /// A chunked item's value gathered in one piece for the encoder.
    pub(super) scratch: Vec<u8>,
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

    /// Records `ch`: encoded into the blocks, or kept in the arena.
    pub(super) fn push(&mut self, ch: Change<'_>) {
        self.writes += ch.reason.by_client() as u64;
        if let Some(encode) = self.encode {
            // The most the record can take: its key (in base64 at worst),
            // its value and the command's words. A block that cannot hold
            // that is left as it is, never grown (a grown block is a copy
            // of it).
            let need = ch.key.len().div_ceil(3) * 4 + ch.value.len() + ENCODED_WORDS_MAX;
            if self
                .blocks
                .last()
                .is_none_or(|b| b.capacity() - b.len() < need)
            {
                let mut b = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(BLOCK));
                b.reserve(need);
                self.blocks.push(b);
            }
            encode(
                &ch,
                self.blocks.last_mut().expect("a block was just ensured"),
            );
            self.encoded += 1;
            return;
        }
        let k0 = self.bytes.len();
        self.bytes.extend_from_slice(ch.key);
        let v0 = self.bytes.len();
        self.bytes.extend_from_slice(ch.value);
        self.recs.push(Rec {
            reason: ch.reason,
            key: k0..v0,
            value: v0..self.bytes.len(),
            flags: ch.flags,
            exptime: ch.exptime,
            cas: ch.cas,
            meta: ch.meta,
        });
    }

    /// Records a removal of `key`.
    pub(super) fn push_removal(&mut self, reason: Reason, key: &[u8]) {
        self.push(Change {
            reason,
            key,
            value: b"",
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
        self.push(Change {
            reason: Reason::FlushAll,
            key: b"",
            value: b"",
            flags: 0,
            exptime: at,
            cas,
            meta: 0,
        });
    }

    /// Encodes every record from now on with `encode` (None: keeps them).
    pub(super) fn set_encoder(&mut self, encode: Option<Encode>) {
        self.clear();
        self.encode = encode;
    }

    /// True if no record is held.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty() && self.encoded == 0
    }

    /// The number of records encoded, and their blocks, oldest first; the
    /// caller keeps the blocks (and may give emptied ones back with
    /// `give_block`).
    pub fn take_encoded(&mut self) -> (usize, std::vec::Drain<'_, Vec<u8>>) {
        let n = std::mem::take(&mut self.encoded);
        (n, self.blocks.drain(..))
    }

    /// True while fewer than the blocks kept for reuse are spare.
    pub fn wants_block(&self) -> bool {
        self.spare.len() < SPARE_BLOCKS
    }

    /// An emptied block to encode into again.
    pub fn give_block(&mut self, mut b: Vec<u8>) {
        if self.wants_block() && b.capacity() >= BLOCK && b.capacity() <= 2 * BLOCK {
            b.clear();
            self.spare.push(b);
        }
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
        self.encoded = 0;
        while let Some(b) = self.blocks.pop() {
            self.give_block(b);
        }
    }
}
