//! The store door (the storage half of memcached.c: do_store_item,
//! do_add_delta, process_touch, process_delete, process_flush_all, and the
//! meta commands' semantics). Every logical change to the cache goes
//! through a function here, and each change leaves one record (change.rs)
//! saying what the item now is, or that it is gone, and why.

use std::os::unix::io::RawFd;

use super::change::{Change, ChangeLog, Reason};
use super::clock::ITEM_UPDATE_INTERVAL;
use super::item::*;
use super::slabs::NONE;
use super::{AllocError, Cache};
use crate::logger::{LOG_DELETIONS, LOG_FETCHERS, LOG_MUTATIONS};
use crate::util::{itoa_u64, parse_u64_c};

/// Outcome of a store (memcached's store_item_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreItemType {
    Stored,
    NotStored,
    Exists,
    NotFound,
}

/// The storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCmd {
    Add,
    Set,
    Replace,
    Append,
    Prepend,
    Cas,
}

/// Outcome of incr/decr (memcached's delta_result_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaResult {
    Ok(u64),
    NonNumeric,
    Eom,
    NotFound,
    /// The meta C flag's CAS did not match.
    Exists,
}

/// The meta state a record carries and `md x` keeps.
const META_BITS: u8 = ITEM_STALE | ITEM_TOKEN_SENT | ITEM_KEY_BINARY;

/// The item flags a restored item keeps.
const RESTORED_BITS: u8 =
    ITEM_KEY_BINARY | ITEM_FETCHED | ITEM_ACTIVE | ITEM_STALE | ITEM_TOKEN_SENT;

/// One item of a snapshot, to restore.
#[derive(Debug, Clone, Copy)]
pub struct Restored<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    /// Absolute expiry, unix time (0: never).
    pub exptime: i64,
    /// Seconds since its last access.
    pub idle: u32,
    /// Its CAS (0: take a fresh one).
    pub cas: u64,
    /// ITEM_KEY_BINARY, ITEM_FETCHED, ITEM_ACTIVE, ITEM_STALE and
    /// ITEM_TOKEN_SENT bits.
    pub iflags: u8,
}

/// Why a snapshot's item was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreError {
    /// Larger than `-I` allows now.
    TooLarge,
    /// No memory left (a restore never evicts).
    NoMemory,
    /// The key was restored already.
    Duplicate,
}

/// What `mg` asks of the door besides the lookup.
#[derive(Debug, Default, Clone, Copy)]
pub struct MgetArgs {
    /// N: create a stub item with this TTL on a miss, and win it.
    pub vivify: Option<i32>,
    /// T: a new TTL (counts as a touch).
    pub ttl: Option<i32>,
    /// N came after T in the request: memcached applies them in flag
    /// order, so an item N creates then keeps N's TTL, not T's.
    pub vivify_last: bool,
    /// R: win the recache token when the TTL left is below this.
    pub recache: Option<i32>,
    /// E: the CAS a won or created item takes.
    pub new_cas: Option<u64>,
    /// u: do not bump the item in its LRU.
    pub no_bump: bool,
    /// A replica's read: no win token is handed out (the item's meta
    /// state is its master's to change).
    pub read_only: bool,
}

/// What `mg` found and did.
#[derive(Debug, Clone, Copy)]
pub struct MgetResult {
    /// The item, or NONE on a miss.
    pub id: u32,
    /// This request was handed the win token (W).
    pub won: bool,
    /// Another request had won it before (Z).
    pub already_sent: bool,
    /// The item is stale (X).
    pub stale: bool,
    /// The item was created by N.
    pub created: bool,
    /// Fetched flag and last access before this request (h and l).
    pub fetched_before: bool,
    pub time_before: u32,
    /// The expiry before this request's T (0 for an item N created, which
    /// memcached links without one and gives N's TTL afterwards): a `t`
    /// flag before the T (or N) shows this one.
    pub exptime_before: u32,
}

/// What `ms` asks of the door besides storing.
#[derive(Debug, Default, Clone, Copy)]
pub struct MsetArgs {
    /// C: the CAS the stored item must match (0: none).
    pub req_cas: u64,
    /// I: a lower CAS still stores, marked stale.
    pub invalidate: bool,
    /// N: append/prepend on a miss store the value as a new item.
    pub vivify: Option<i32>,
    /// E: the CAS the stored item takes.
    pub new_cas: Option<u64>,
    /// b: the key was given in base64.
    pub base64: bool,
}

/// What `md` asks of the door.
#[derive(Debug, Default, Clone, Copy)]
pub struct MdeleteArgs {
    /// C: the CAS the item must match.
    pub cas_check: Option<u64>,
    /// I: mark stale (and give up the win token) instead of deleting.
    pub invalidate: bool,
    /// T: with I or x, the TTL of the item kept.
    pub ttl: Option<i32>,
    /// x: replace the item by an empty one.
    pub remove_value: bool,
    /// F: with x, the client flags of the empty item.
    pub client_flags: Option<u32>,
    /// E: the CAS a kept item takes.
    pub new_cas: Option<u64>,
}

/// Outcome of `md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdeleteResult {
    NotFound,
    /// The C flag's CAS did not match.
    Exists,
    /// Deleted, invalidated or emptied.
    Done,
    /// x: no memory for the empty item.
    NoMemory,
}

/// What `ma` asks of the door besides the delta.
#[derive(Debug, Default, Clone, Copy)]
pub struct MarithArgs {
    /// C: the CAS the item must match (0: none).
    pub req_cas: u64,
    /// E: the CAS the item takes.
    pub new_cas: Option<u64>,
    /// N: create the item with this TTL on a miss.
    pub vivify: Option<i32>,
    /// J: the value a created item starts with.
    pub initial: u64,
    /// T: a new TTL for the item after the change.
    pub ttl: Option<i32>,
    /// N came after T in the request: an item N creates keeps N's TTL
    /// (memcached applies them in flag order), else T's.
    pub vivify_last: bool,
}

/// What `ma` did.
#[derive(Debug, Clone, Copy)]
pub struct MarithResult {
    pub result: DeltaResult,
    /// N was given but the item could not be created (`NS`).
    pub vivify_failed: bool,
    /// The item after the change (NONE unless Ok, or if it is already
    /// gone).
    pub id: u32,
    /// An item N created: its CAS and expiry (server time), which the
    /// reply shows even when that expiry is already past and `id` is NONE
    /// (memcached answers from the item it just linked).
    pub created_cas: u64,
    pub created_exptime: u32,
    /// N created the item.
    pub created: bool,
    /// The expiry before this request's T (0 for a created item, which
    /// memcached links without one): a `t` before the T (or N) shows it.
    pub exptime_before: u32,
}

impl Cache {
    // ---- change records ----

    /// Writes every change record with `encode` as it is made, into
    /// blocks taken with `ChangeLog::take_encoded`, instead of keeping it
    /// (change.rs): the replication stream's form, set once at start.
    pub fn encode_changes(&mut self, encode: Option<super::change::Encode>) {
        self.changes.set_encoder(encode);
    }

    /// Starts or stops keeping change records (a listener came or went).
    pub fn listen_changes(&mut self, on: bool) {
        self.changes.on = on;
        if !on {
            self.changes.clear();
        }
    }

    /// The records made since the last `clear_changes`, oldest first.
    pub fn changes(&self) -> &ChangeLog {
        &self.changes
    }

    /// The records, to take encoded blocks from (`ChangeLog::take_encoded`).
    pub fn changes_mut(&mut self) -> &mut ChangeLog {
        &mut self.changes
    }

    /// Forgets the records once every listener has had them.
    pub fn clear_changes(&mut self) {
        self.changes.clear();
    }

    /// Records linked item `id` as it now stands. One flag test when
    /// nobody listens.
    #[inline]
    pub(super) fn note(&mut self, reason: Reason, id: u32) {
        if self.changes.on {
            self.note_item(reason, id);
        }
    }

    #[cold]
    fn note_item(&mut self, reason: Reason, id: u32) {
        let mut log = std::mem::take(&mut self.changes);
        let c = self.slabs.chunk(id);
        let mut ch = Change {
            reason,
            key: key_of(c),
            value: self.value_segment(id, 0),
            flags: flags(c),
            exptime: self.clock.to_unix(exptime(c)),
            cas: cas(c),
            meta: iflags(c) & META_BITS,
        };
        if ch.value.len() == nbytes(c) {
            log.push(ch);
        } else {
            // A chunked value, gathered in one piece first.
            let mut whole = std::mem::take(&mut log.scratch);
            whole.clear();
            self.value_to_vec(id, &mut whole);
            ch.value = &whole;
            log.push(ch);
            log.scratch = whole;
        }
        self.changes = log;
    }

    /// Records that `id` is going away. Called before it is unlinked.
    #[inline]
    pub(super) fn note_removal(&mut self, reason: Reason, id: u32) {
        if self.changes.on {
            let mut log = std::mem::take(&mut self.changes);
            log.push_removal(reason, key_of(self.slabs.chunk(id)));
            self.changes = log;
        }
    }

    // ---- the classic commands ----

    /// get, gets: looks `key` up for connection `cfd`, records the access
    /// (LRU bump, the class's hit counter) and tells the fetchers'
    /// watchers. Returns the item or NONE.
    pub fn fetch(&mut self, cfd: RawFd, key: &[u8]) -> u32 {
        let id = self.get(key);
        self.log_get(cfd, key, id);
        if id != NONE {
            self.count_get_hit(id);
        }
        id
    }

    /// get for a command that does not bump nor count a hit (mg, me):
    /// the item or NONE, told to the fetchers' watchers.
    pub fn lookup(&mut self, cfd: RawFd, key: &[u8]) -> u32 {
        let id = self.peek(key);
        self.log_get(cfd, key, id);
        id
    }

    /// touch, gat, gats: fetches `key` and gives it the new expiry
    /// `exptime` (server time). Returns the item or NONE.
    pub fn touch(&mut self, cfd: RawFd, key: &[u8], exptime: u32) -> u32 {
        let id = self.get(key);
        self.log_get(cfd, key, id);
        if id != NONE {
            set_exptime(self.slabs.chunk_mut(id), exptime);
            let cls = self.item_clsid(id);
            self.stats.slab_stats[cls].touch_hits += 1;
            self.note(Reason::Touched, id);
        }
        id
    }

    /// Stores item `id`, read off the wire for connection `cfd`, with
    /// `cmd` (`req_cas` for cas). The item is done with afterwards
    /// whatever the outcome. memcached's complete_nread_ascii after the
    /// data check, and do_store_item. (The protocols call
    /// `store_item_as`; tests use this.)
    #[cfg(test)]
    pub fn store_item(
        &mut self,
        cfd: RawFd,
        id: u32,
        cmd: StoreCmd,
        req_cas: u64,
    ) -> StoreItemType {
        self.store_item_cas(cfd, id, cmd, req_cas).0
    }

    /// `store_item` that also returns the CAS the stored item now has (0
    /// unless Stored), which the binary protocol's reply carries. A
    /// non-zero `req_cas` with append or prepend must match the item's
    /// CAS, as memcached's do_store_item checks it.
    pub fn store_item_cas(
        &mut self,
        cfd: RawFd,
        id: u32,
        cmd: StoreCmd,
        req_cas: u64,
    ) -> (StoreItemType, u64) {
        self.store_item_as(cfd, id, cmd, req_cas, None)
    }

    /// `store_item_cas` whose stored item takes `new_cas` (when given)
    /// instead of a fresh CAS unique.
    pub fn store_item_as(
        &mut self,
        cfd: RawFd,
        id: u32,
        cmd: StoreCmd,
        req_cas: u64,
        new_cas: Option<u64>,
    ) -> (StoreItemType, u64) {
        self.count_set(id);
        // Watchers see the lookup the store makes, then its result.
        if self.log.eflags & LOG_FETCHERS != 0 {
            let key = key_of(self.slabs.chunk(id)).to_vec();
            self.log_lookup(cfd, &key);
        }
        let (ret, stored) = self.do_store(id, cmd, req_cas, new_cas);
        self.log_store(cfd, id, cmd, ret);
        let mut new_cas = 0;
        if stored != NONE {
            new_cas = cas(self.slabs.chunk(stored));
            self.note(Reason::Stored, stored);
        }
        // Unless it was linked, the item read off the wire is done with.
        self.free_unlinked(id);
        (ret, new_cas)
    }

    /// An item read off the wire that will not be stored (its data did not
    /// end in "\r\n"): counted as a set, as memcached counts it, and freed.
    pub fn discard_item(&mut self, id: u32) {
        self.count_set(id);
        self.free_unlinked(id);
    }

    /// Counts a set command in the class of item `id`.
    fn count_set(&mut self, id: u32) {
        let cls = self.item_clsid(id);
        self.stats.slab_stats[cls].set_cmds += 1;
    }

    /// A set whose item could not be allocated: as memcached, it must not
    /// leave the value it meant to replace visible, so `key` is deleted.
    /// `watched`: the classic command tells the fetchers' watchers of the
    /// lookup (ms does not).
    pub fn store_failed(&mut self, cfd: RawFd, key: &[u8], watched: bool) {
        if watched {
            self.log_lookup(cfd, key);
        }
        self.do_delete(key);
    }

    /// delete: removes `key`. True if it was there (counted as a hit in
    /// its class).
    pub fn delete(&mut self, cfd: RawFd, key: &[u8]) -> bool {
        self.delete_shown(cfd, key, 0, true) == StoreItemType::Stored
    }

    /// delete with the binary protocol's CAS: as `delete`, but when
    /// `req_cas` is not 0 the item is only removed if its CAS matches.
    /// Stored: deleted; NotFound: no such key; Exists: the CAS differs
    /// (counted as nothing, as memcached's process_bin_delete).
    /// Deletion watchers are not told: memcached 1.6.45 logs the text
    /// protocol's deletions only.
    pub fn delete_cas(&mut self, cfd: RawFd, key: &[u8], req_cas: u64) -> StoreItemType {
        self.delete_shown(cfd, key, req_cas, false)
    }

    /// `delete_cas`, telling deletion watchers when `shown`.
    fn delete_shown(&mut self, cfd: RawFd, key: &[u8], req_cas: u64, shown: bool) -> StoreItemType {
        self.log_lookup(cfd, key);
        if req_cas != 0 {
            let id = self.peek(key);
            if id != NONE && cas(self.slabs.chunk(id)) != req_cas {
                return StoreItemType::Exists;
            }
        }
        if shown && self.log.eflags & LOG_DELETIONS != 0 {
            let id = self.peek(key);
            self.log_deleted(id, "delete");
        }
        match self.do_delete(key) {
            Some(cls) => {
                self.stats.slab_stats[cls].delete_hits += 1;
                StoreItemType::Stored
            }
            None => StoreItemType::NotFound,
        }
    }

    /// Deletes a key, recording it. Returns the class the deleted item
    /// counted in (`item_clsid`), or None if the key was not there.
    fn do_delete(&mut self, key: &[u8]) -> Option<u8> {
        let (id, hv) = self.peek_hv(key);
        if id == NONE {
            return None;
        }
        let cls = self.item_clsid(id);
        self.note_removal(Reason::Deleted, id);
        self.unlink_hv(id, hv);
        Some(cls)
    }

    /// incr, decr: adds `delta` to (or takes it from) the number under
    /// `key`. Hits are counted in the item's class; misses are the
    /// protocol's to count.
    pub fn add_delta(&mut self, cfd: RawFd, key: &[u8], incr: bool, delta: u64) -> DeltaResult {
        self.log_lookup(cfd, key);
        let (r, id) = self.do_add_delta(key, incr, delta, 0, None);
        if id != NONE {
            self.note(Reason::Arith, id);
        }
        r
    }

    /// flush_all [delay]: items stored before now (or before `exptime`)
    /// become invisible. Returns the server time before which items are
    /// gone (for `stats settings`' oldest_live).
    pub fn flush_all(&mut self, exptime: i64) -> u32 {
        let cancelled = !self.do_flush_all(exptime);
        if self.changes.on {
            // A flush that cancels any (a delay before the server started)
            // is streamed as time 0: a replica cancels its own likewise.
            let at = if cancelled {
                0
            } else {
                self.clock.to_unix(self.oldest_live.max(1))
            };
            // The CAS cut-off this flush set, if it took effect now: a
            // replica takes it as it is rather than minting its own.
            let cas = if self.use_cas && self.oldest_live <= self.clock.current_time {
                self.oldest_cas
            } else {
                0
            };
            self.changes.push_flush(at, cas);
        }
        self.oldest_live
    }

    // ---- the meta commands ----

    /// mg: looks `key` up and applies what the flags ask: vivify on miss
    /// (N), a new TTL (T), the win token for a stale item or one close to
    /// expiry (R), a new CAS for a winner (E), the LRU bump (unless u).
    /// Counts the hit in the item's class (a touch hit with T).
    pub fn mget(&mut self, cfd: RawFd, key: &[u8], a: &MgetArgs) -> MgetResult {
        let mut id = self.lookup(cfd, key);
        let mut r = MgetResult {
            id,
            won: false,
            already_sent: false,
            stale: false,
            created: false,
            fetched_before: false,
            time_before: 0,
            exptime_before: 0,
        };
        if id == NONE {
            let Some(ttl) = a.vivify else {
                return r;
            };
            // Vivify: a stub item with no value, whose creator wins.
            let ttl = if a.vivify_last {
                ttl
            } else {
                a.ttl.unwrap_or(ttl)
            };
            let exp = self.clock.realtime(ttl as i64);
            let Ok(new) = self.alloc(key, 0, exp, 0) else {
                return r;
            };
            if self.do_store(new, StoreCmd::Add, 0, a.new_cas).0 != StoreItemType::Stored {
                self.free_unlinked(new);
                return r;
            }
            id = new;
            // As memcached's, an item created by N does not remember that
            // its key came in base64: `k` shows it decoded.
            let f = iflags(self.slabs.chunk(id)) | ITEM_TOKEN_SENT;
            set_iflags(self.slabs.chunk_mut(id), f);
            r.id = id;
            r.created = true;
            r.won = true;
        }
        // The header, read once: mg changes no flag the reply shows but
        // the win token, which it sets below.
        let (f, t, e, cls, seg) = {
            let c = self.slabs.chunk(id);
            let (cls, seg) = (self.lru_clsid(c), (lru_seg(c) >> 6) as usize);
            (iflags(c), time(c), exptime(c), cls, seg)
        };
        r.already_sent = !r.created && f & ITEM_TOKEN_SENT != 0;
        r.fetched_before = f & ITEM_FETCHED != 0;
        r.time_before = t;
        r.exptime_before = if r.created { 0 } else { e };
        r.stale = f & ITEM_STALE != 0;
        // As memcached 1.6.18 counts mg: a found (or just created) item is
        // a touch hit when T is given, else a get hit.
        let st = &mut self.stats.slab_stats[cls];
        if a.ttl.is_some() {
            st.touch_hits += 1;
        } else {
            st.lru_hits[seg] += 1;
        }
        if r.created {
            // As memcached's, N locks the item, and a locked fetch bumps
            // it afterwards: the item just made counts as fetched.
            if !a.no_bump {
                self.bump(id);
            }
            self.note(Reason::Stored, id);
            return r;
        }
        let mut changed = None;
        if let Some(rc) = a.recache {
            // memcached compares the expiry before this request's T with
            // R read as an expiry (so R of an absolute time in the past,
            // or a negative one, is never above it).
            if e != 0 && e < self.clock.realtime(rc as i64) && f & ITEM_TOKEN_SENT == 0 {
                r.won = true;
            }
        }
        if let Some(ttl) = a.ttl {
            let exp = self.clock.realtime(ttl as i64);
            set_exptime(self.slabs.chunk_mut(id), exp);
            changed = Some(Reason::Touched);
        }
        if r.stale && f & ITEM_TOKEN_SENT == 0 {
            r.won = true;
        }
        r.won &= !a.read_only;
        if r.won {
            let c = self.slabs.chunk_mut(id);
            set_iflags(c, f | ITEM_TOKEN_SENT);
            if let Some(v) = a.new_cas {
                set_cas(c, v);
            }
            changed = changed.or(Some(Reason::Meta));
        }
        if !a.no_bump {
            self.bump(id);
        }
        if let Some(reason) = changed {
            self.note(reason, id);
        }
        r
    }

    /// ms: stores item `id`, read off the wire for connection `cfd`, with
    /// `cmd` and the meta flags. A CAS turns a set or replace into a cas
    /// store (an add stays an add; append and prepend check it here), and
    /// with I a lower CAS still stores, marked stale, keeping the old TTL
    /// and the winner's token. Returns the outcome, the item now linked
    /// under the key (NONE unless stored and still live), the size of
    /// the value sent (ms's `s` when nothing was stored) and the CAS the
    /// stored item took (0 unless stored; kept when the item expired at
    /// once).
    pub fn mset(
        &mut self,
        cfd: RawFd,
        id: u32,
        cmd: StoreCmd,
        a: &MsetArgs,
    ) -> (StoreItemType, u32, usize, u64) {
        self.count_set(id);
        let sent = nbytes(self.slabs.chunk(id));
        if a.base64 {
            let f = iflags(self.slabs.chunk(id));
            set_iflags(self.slabs.chunk_mut(id), f | ITEM_KEY_BINARY);
        }
        let key = key_of(self.slabs.chunk(id)).to_vec();
        let old = self.lookup(cfd, &key);
        let mut cmd = cmd;
        let mut req_cas = a.req_cas;
        let mut stale = false;
        let mut token_sent = false;
        if req_cas != 0 && matches!(cmd, StoreCmd::Set | StoreCmd::Replace) {
            if old != NONE && a.invalidate && req_cas < cas(self.slabs.chunk(old)) {
                // It counts as a CAS hit.
                stale = true;
                let oc = self.slabs.chunk(old);
                token_sent = iflags(oc) & ITEM_TOKEN_SENT != 0;
                let exp = exptime(oc);
                set_exptime(self.slabs.chunk_mut(id), exp);
                let old_cls = self.item_clsid(old);
                self.stats.slab_stats[old_cls].cas_hits += 1;
                req_cas = 0;
            } else {
                cmd = StoreCmd::Cas;
            }
        }
        let (mut result, mut stored) =
            if req_cas != 0 && matches!(cmd, StoreCmd::Append | StoreCmd::Prepend) {
                // A miss is NS, CAS or not, as memcached answers it.
                if old == NONE {
                    (StoreItemType::NotStored, NONE)
                } else if cas(self.slabs.chunk(old)) != req_cas {
                    (StoreItemType::Exists, NONE)
                } else {
                    self.do_store(id, cmd, 0, a.new_cas)
                }
            } else {
                self.do_store(id, cmd, req_cas, a.new_cas)
            };
        if result == StoreItemType::NotStored
            && matches!(cmd, StoreCmd::Append | StoreCmd::Prepend)
            && old == NONE
        {
            if let Some(ttl) = a.vivify {
                // Append/prepend with N: the value becomes a new item.
                let exp = self.clock.realtime(ttl as i64);
                set_exptime(self.slabs.chunk_mut(id), exp);
                (result, stored) = self.do_store(id, StoreCmd::Add, 0, a.new_cas);
            }
        }
        self.log_store(cfd, id, cmd, result);
        // The CAS the stored item took, which `c` shows even when its TTL
        // already ran out (memcached answers from the item it stored).
        let stored_cas = if stored != NONE {
            cas(self.slabs.chunk(stored))
        } else {
            0
        };
        // Done with the item read off the wire unless it was linked; this
        // must come before the lookup below, which may reap an item that
        // expired at once.
        self.free_unlinked(id);
        let live = if result == StoreItemType::Stored {
            self.peek(&key)
        } else {
            NONE
        };
        if live != NONE {
            let f = iflags(self.slabs.chunk(live)) & !(ITEM_STALE | ITEM_TOKEN_SENT);
            let f = f
                | if stale { ITEM_STALE } else { 0 }
                | if token_sent { ITEM_TOKEN_SENT } else { 0 };
            set_iflags(self.slabs.chunk_mut(live), f);
            self.note(Reason::Stored, live);
        }
        (result, live, sent, stored_cas)
    }

    /// md: deletes `key`, or with I marks it stale (giving up the win
    /// token, taking a new CAS and perhaps a new TTL), or with x replaces
    /// it by an empty item, as memcached 1.6.45 does: the md's client
    /// flags (F, else 0) and TTL (T, else none), the old item's CAS (E's
    /// if given) and no meta state; I then marks that one stale. A removal
    /// or an x without I counts as a delete hit and is shown to deletion
    /// watchers.
    pub fn mdelete(&mut self, cfd: RawFd, key: &[u8], a: &MdeleteArgs) -> MdeleteResult {
        let mut id = self.lookup(cfd, key);
        if id == NONE {
            return MdeleteResult::NotFound;
        }
        if a.cas_check.is_some_and(|v| v != cas(self.slabs.chunk(id))) {
            return MdeleteResult::Exists;
        }
        if a.remove_value {
            id = match self.empty_value(cfd, id, key, a) {
                Some(new) => new,
                None => return MdeleteResult::NoMemory,
            };
        }
        if a.invalidate {
            let f = iflags(self.slabs.chunk(id));
            set_iflags(
                self.slabs.chunk_mut(id),
                (f | ITEM_STALE) & !ITEM_TOKEN_SENT,
            );
            let v = a.new_cas.unwrap_or_else(|| self.next_cas());
            set_cas(self.slabs.chunk_mut(id), v);
            if let Some(ttl) = a.ttl {
                let exp = self.clock.realtime(ttl as i64);
                set_exptime(self.slabs.chunk_mut(id), exp);
            }
        } else {
            let cls = self.item_clsid(id);
            self.stats.slab_stats[cls].delete_hits += 1;
            self.log_deleted(id, "md");
            if !a.remove_value {
                self.do_delete(key);
            }
        }
        if a.remove_value {
            self.note(Reason::Stored, id);
        } else if a.invalidate {
            self.note(Reason::Meta, id);
        }
        MdeleteResult::Done
    }

    /// md x: stores an empty item in place of item `id` (for connection
    /// `cfd`, whose fetch and mutation watchers see the set's lookup and
    /// store, as memcached stores it with a set). Returns the new item,
    /// None when it could not be allocated. No record: `mdelete` makes it.
    fn empty_value(&mut self, cfd: RawFd, id: u32, key: &[u8], a: &MdeleteArgs) -> Option<u32> {
        let old_cas = cas(self.slabs.chunk(id));
        let exp = a.ttl.map_or(0, |t| self.clock.realtime(t as i64));
        let new = self.alloc(key, a.client_flags.unwrap_or(0), exp, 0).ok()?;
        self.log_lookup(cfd, key);
        let (r, _) = self.do_store(new, StoreCmd::Set, 0, Some(a.new_cas.unwrap_or(old_cas)));
        self.log_store(cfd, new, StoreCmd::Set, r);
        // A set always stores.
        debug_assert_eq!(r, StoreItemType::Stored);
        Some(new)
    }

    /// ma: incr or decr with the meta flags; on a miss with N, creates the
    /// item holding `initial`.
    pub fn marith(
        &mut self,
        cfd: RawFd,
        key: &[u8],
        incr: bool,
        delta: u64,
        a: &MarithArgs,
    ) -> MarithResult {
        self.log_lookup(cfd, key);
        let (mut result, _) = self.do_add_delta(key, incr, delta, a.req_cas, a.new_cas);
        let mut created = false;
        let mut vivify_failed = false;
        let (mut created_cas, mut created_exptime) = (0, 0);
        if result == DeltaResult::NotFound {
            if let Some(ttl) = a.vivify {
                let digits = itoa_u64(a.initial);
                // The TTL of N and T that comes last in the request.
                let ttl = match a.ttl {
                    Some(t) if !a.vivify_last => t,
                    _ => ttl,
                };
                let exp = self.clock.realtime(ttl as i64);
                result = match self.alloc(key, 0, exp, digits.len()) {
                    Ok(new) => {
                        self.value_segment_mut(new, 0).copy_from_slice(&digits);
                        // As memcached's, the add looks the key up again.
                        self.log_lookup(cfd, key);
                        let (r, _) = self.do_store(new, StoreCmd::Add, 0, a.new_cas);
                        self.log_store(cfd, new, StoreCmd::Add, r);
                        self.free_unlinked(new);
                        if r == StoreItemType::Stored {
                            created = true;
                            created_cas = cas(self.slabs.chunk(new));
                            created_exptime = exp;
                            DeltaResult::Ok(a.initial)
                        } else {
                            DeltaResult::Eom
                        }
                    }
                    Err(_) => DeltaResult::Eom,
                };
                vivify_failed = result == DeltaResult::Eom;
            }
        }
        let mut id = NONE;
        let mut exptime_before = 0;
        if let DeltaResult::Ok(_) = result {
            // The item as the reply reports it (a created one is looked
            // up again; it may already be gone if its TTL was in the past).
            id = self.peek(key);
            if id != NONE {
                if !created {
                    exptime_before = exptime(self.slabs.chunk(id));
                }
                // (A created item already has its TTL.)
                if let Some(ttl) = a.ttl.filter(|_| !created) {
                    let exp = self.clock.realtime(ttl as i64);
                    set_exptime(self.slabs.chunk_mut(id), exp);
                }
                self.note(
                    if created {
                        Reason::Stored
                    } else {
                        Reason::Arith
                    },
                    id,
                );
            }
        }
        MarithResult {
            result,
            vivify_failed,
            id,
            created_cas,
            created_exptime,
            created,
            exptime_before,
        }
    }

    // ---- applying a master's stream (replicas) ----

    /// A replica applies its master's record of `key`: the item becomes
    /// exactly this value, flags, absolute expiry (unix time), CAS and
    /// meta bits, replacing any item under the key. The CAS is the
    /// master's: a replica never mints its own, but keeps its counter
    /// above every CAS it holds so a promoted replica goes on without
    /// reusing one. Leaves a Stored record (a replica's own replicas get
    /// the same change). Returns false if the item could not be allocated.
    pub fn apply_set(
        &mut self,
        key: &[u8],
        hv: u32,
        value: &[u8],
        flags: u32,
        exptime: i64,
        cas: u64,
        meta: u8,
    ) -> bool {
        let exp = self.clock.from_unix(exptime);
        let Ok(id) = self.alloc(key, flags, exp, value.len()) else {
            self.do_delete(key);
            return false;
        };
        let mut off = 0;
        while off < value.len() {
            let seg = self.value_segment_mut(id, off);
            let n = seg.len();
            seg.copy_from_slice(&value[off..off + n]);
            off += n;
        }
        let old = self.assoc.find(&self.slabs, key, hv);
        if old != NONE {
            self.unlink_hv(old, hv);
        }
        self.bump_cas_floor(cas);
        let cas = if cas == 0 { None } else { Some(cas) };
        self.link_hv(id, hv, cas);
        let f = iflags(self.slabs.chunk(id)) | (meta & META_BITS);
        set_iflags(self.slabs.chunk_mut(id), f);
        self.note(Reason::Stored, id);
        true
    }

    /// A replica applies its master's removal of `key` (whatever the
    /// master's reason: deleted, expired, evicted, ...).
    pub fn apply_delete(&mut self, key: &[u8], hv: u32) {
        let id = self.assoc.find(&self.slabs, key, hv);
        if id != NONE {
            self.note_removal(Reason::Deleted, id);
            self.unlink_hv(id, hv);
        }
    }

    /// A replica applies its master's flush_all: items last updated before
    /// unix time `at` are gone, and, if `cas` is not 0, items whose CAS is
    /// below it (the master's cut-off: a replica never takes a CAS of its
    /// own, so its cut-off agrees with the master's whatever its clock).
    /// `at` 0: the master cancelled every flush, and so does the replica.
    pub fn apply_flush(&mut self, at: i64, cas: u64) {
        if at == 0 {
            // The master's flush cancelled every flush (flush_all with a
            // time before it started).
            self.oldest_live = 0;
            self.oldest_cas = 0;
            if self.changes.on {
                self.changes.push_flush(0, 0);
            }
            return;
        }
        self.oldest_live = self.clock.from_unix(at);
        self.sweep_flushed(self.oldest_live);
        if cas != 0 {
            self.oldest_cas = cas;
            self.bump_cas_floor(cas);
        }
        if self.changes.on {
            self.changes.push_flush(at, cas);
        }
    }

    /// Removes every item (a replica about to load its master's
    /// snapshot). Items still referenced by a reply are freed once it is
    /// written. No record: a full sync starts a new history.
    pub fn clear_all(&mut self) {
        let mut ids = Vec::new();
        for lid in 0..super::lru::LRU_LISTS {
            let mut id = self.lru.head(lid as u8);
            while id != NONE {
                ids.push(id);
                id = next(self.slabs.chunk(id));
            }
        }
        for id in ids {
            let hv = self.assoc.hash(key_of(self.slabs.chunk(id)));
            self.unlink_hv(id, hv);
        }
        self.oldest_live = 0;
        self.oldest_cas = 0;
    }

    /// An order-independent digest of the live items: the count and the
    /// wrapping sum of a 64-bit FNV-1a hash of each item's key, value,
    /// flags, CAS, absolute expiry and meta bits (stale, win token sent,
    /// base64 key). Equal digests on a master and its
    /// replica (at equal offsets) mean equal data. Debug builds serve it
    /// as `debugdigest`.
    #[cfg_attr(not(feature = "debug-commands"), allow(dead_code))]
    pub fn digest(&self) -> (u64, u64) {
        let (mut n, mut sum) = (0u64, 0u64);
        let mut buf = Vec::new();
        for lid in 0..super::lru::LRU_LISTS {
            let mut id = self.lru.head(lid as u8);
            while id != NONE {
                let c = self.slabs.chunk(id);
                let nx = next(c);
                if !self.is_dead(c) {
                    buf.clear();
                    buf.extend_from_slice(key_of(c));
                    buf.push(0);
                    self.value_to_vec(id, &mut buf);
                    buf.extend_from_slice(&flags(c).to_le_bytes());
                    buf.extend_from_slice(&cas(c).to_le_bytes());
                    buf.extend_from_slice(&self.clock.to_unix(exptime(c)).to_le_bytes());
                    buf.push(iflags(c) & META_BITS);
                    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                    for &b in &buf {
                        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                    }
                    sum = sum.wrapping_add(h);
                    n += 1;
                }
                id = nx;
            }
        }
        (n, sum)
    }

    // ---- restoring a snapshot (dump load) ----

    /// Prepares for restoring a snapshot: a flush_all due at unix time
    /// `flush_at` (0: none) still pending, the CAS counter raised to at
    /// least `cas`, the hash table sized for `items`.
    pub fn begin_restore(&mut self, flush_at: i64, cas: u64, items: u64) {
        if flush_at > self.clock.now_unix() {
            self.oldest_live = self.clock.from_unix(flush_at);
        }
        self.bump_cas_floor(cas);
        self.assoc.presize(items);
    }

    /// Puts one item of a snapshot back, at the tail of its LRU (records
    /// come hottest first) with the CAS, last access and item flags it
    /// had. Not a change: it rebuilds a state, so it leaves no record.
    pub fn restore_item(&mut self, r: &Restored) -> Result<(), RestoreError> {
        if !self.size_ok(r.key.len(), r.value.len()) {
            return Err(RestoreError::TooLarge);
        }
        let hv = self.assoc.hash(r.key);
        if self.assoc.find(&self.slabs, r.key, hv) != NONE {
            return Err(RestoreError::Duplicate);
        }
        let exptime = self.clock.from_unix(r.exptime);
        let time = self.clock.current_time.saturating_sub(r.idle).max(1);
        let id = match self.alloc(r.key, r.flags, exptime, r.value.len()) {
            Ok(id) => id,
            Err(AllocError::TooLarge) => return Err(RestoreError::TooLarge),
            Err(AllocError::NoMemory) => return Err(RestoreError::NoMemory),
        };
        let mut off = 0;
        while off < r.value.len() {
            let seg = self.value_segment_mut(id, off);
            let n = seg.len();
            seg.copy_from_slice(&r.value[off..off + n]);
            off += n;
        }
        self.link_restored(id, hv, r.cas, time, r.iflags & RESTORED_BITS);
        Ok(())
    }

    /// Turns evictions on or off (a load never evicts what it loaded);
    /// returns the previous setting.
    pub fn set_evict_to_free(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.evict_to_free, on)
    }

    // ---- the primitives under the door ----

    /// Stores a fully written, unlinked item according to `cmd`; `req_cas`
    /// is the client's CAS for `cas` (and, when not 0, the CAS append and
    /// prepend must match), `new_cas` the meta E flag's CAS for the stored
    /// item. Returns the outcome and the item now linked under
    /// the key (for append/prepend a new one; NONE unless Stored). On
    /// anything but Stored the caller still owns `id`. memcached's
    /// do_store_item; no record: the door's callers make it.
    fn do_store(
        &mut self,
        id: u32,
        cmd: StoreCmd,
        req_cas: u64,
        new_cas: Option<u64>,
    ) -> (StoreItemType, u32) {
        let (old, hv) = {
            let key = key_of(self.slabs.chunk(id));
            let hv = self.assoc.hash(key);
            (self.assoc.find(&self.slabs, key, hv), hv)
        };
        let old = if old != NONE && self.check_live(old, hv) {
            old
        } else {
            NONE
        };
        let mut stored = id;
        let result = match cmd {
            StoreCmd::Add => {
                if old != NONE {
                    // As memcached: a failed add still counts as an access.
                    self.refresh_time(old);
                    StoreItemType::NotStored
                } else {
                    self.link_hv(id, hv, new_cas);
                    StoreItemType::Stored
                }
            }
            StoreCmd::Set => {
                if old != NONE {
                    self.replace_hv(old, id, hv, new_cas);
                } else {
                    self.link_hv(id, hv, new_cas);
                }
                StoreItemType::Stored
            }
            StoreCmd::Replace => {
                if old == NONE {
                    StoreItemType::NotStored
                } else {
                    self.replace_hv(old, id, hv, new_cas);
                    StoreItemType::Stored
                }
            }
            // The CAS counters count here, in the class of the item the
            // store would replace, as memcached's do_store_item does.
            StoreCmd::Cas => {
                if old == NONE {
                    self.stats.cas_misses += 1;
                    StoreItemType::NotFound
                } else if req_cas != 0 && cas(self.slabs.chunk(old)) == req_cas {
                    let cls = self.item_clsid(old);
                    self.stats.slab_stats[cls].cas_hits += 1;
                    self.replace_hv(old, id, hv, new_cas);
                    StoreItemType::Stored
                } else {
                    let cls = self.item_clsid(old);
                    self.stats.slab_stats[cls].cas_badval += 1;
                    StoreItemType::Exists
                }
            }
            StoreCmd::Append | StoreCmd::Prepend => {
                if old == NONE {
                    StoreItemType::NotStored
                } else if req_cas != 0 && cas(self.slabs.chunk(old)) != req_cas {
                    StoreItemType::Exists
                } else {
                    match self.concat(old, id, cmd == StoreCmd::Append) {
                        Ok(new) => {
                            self.replace_hv(old, new, hv, new_cas);
                            stored = new;
                            StoreItemType::Stored
                        }
                        // memcached answers NOT_STORED when the joined
                        // value cannot be allocated, whatever the reason.
                        Err(_) => StoreItemType::NotStored,
                    }
                }
            }
        };
        if result != StoreItemType::Stored {
            stored = NONE;
        }
        (result, stored)
    }

    fn refresh_time(&mut self, id: u32) {
        if self.lru.cfg.segmented {
            self.item_update(id);
            return;
        }
        let now = self.clock.current_time;
        let c = self.slabs.chunk_mut(id);
        if time(c) < now.saturating_sub(ITEM_UPDATE_INTERVAL) {
            set_time(c, now);
        }
    }

    /// A new item holding `old`'s value with `add`'s value appended (or
    /// prepended), keeping `old`'s flags and expiry.
    fn concat(&mut self, old: u32, add: u32, append: bool) -> Result<u32, AllocError> {
        let (key, fl, exp, n_old) = {
            let c = self.slabs.chunk(old);
            (key_of(c).to_vec(), flags(c), exptime(c), nbytes(c))
        };
        let n_add = nbytes(self.slabs.chunk(add));
        let new = self.alloc(&key, fl, exp, n_old + n_add)?;
        let (first, second) = if append { (old, add) } else { (add, old) };
        let mut off = 0;
        off = self.copy_value(first, new, off);
        self.copy_value(second, new, off);
        Ok(new)
    }

    /// incr/decr on a key (memcached's do_add_delta). Rewrites the value in
    /// place when the new number is not longer than the old value and no
    /// reply points at it (padding with spaces as memcached does), or
    /// replaces the item otherwise. `req_cas` (0: none) must match the
    /// item's CAS (meta C), `new_cas` replaces the next CAS unique (meta
    /// E). Returns the result and the item now holding the number.
    fn do_add_delta(
        &mut self,
        key: &[u8],
        incr: bool,
        delta: u64,
        req_cas: u64,
        new_cas: Option<u64>,
    ) -> (DeltaResult, u32) {
        // As memcached: arithmetic is not a fetch and does not bump.
        let id = self.peek(key);
        if id == NONE {
            return (DeltaResult::NotFound, NONE);
        }
        let (n, chunked, pinned) = {
            let c = self.slabs.chunk(id);
            (nbytes(c), iflags(c) & ITEM_CHUNKED != 0, refcount(c) > 0)
        };
        // As memcached's do_add_delta: an empty or chunked value is not a
        // number whatever the CAS; then the CAS is checked, then the digits.
        if n == 0 || chunked {
            return (DeltaResult::NonNumeric, NONE);
        }
        if req_cas != 0 && cas(self.slabs.chunk(id)) != req_cas {
            return (DeltaResult::Exists, NONE);
        }
        let value = match parse_u64_c(self.value_segment(id, 0)) {
            Some(v) => v,
            None => return (DeltaResult::NonNumeric, NONE),
        };
        let value = if incr {
            value.wrapping_add(delta)
        } else {
            value.saturating_sub(delta)
        };
        // Counted in the class of the item as it was (memcached's
        // do_add_delta); misses are the protocol layer's to count.
        let cls = self.item_clsid(id);
        if incr {
            self.stats.slab_stats[cls].incr_hits += 1;
        } else {
            self.stats.slab_stats[cls].decr_hits += 1;
        }
        let mut buf = itoa_u64(value);
        let digits = buf.len();
        if digits <= n && !pinned {
            let cas = new_cas.unwrap_or_else(|| self.next_cas());
            {
                let v = self.value_segment_mut(id, 0);
                v[..digits].copy_from_slice(&buf);
                v[digits..].fill(b' ');
            }
            set_cas(self.slabs.chunk_mut(id), cas);
            return (DeltaResult::Ok(value), id);
        }
        let (fl, exp) = {
            let c = self.slabs.chunk(id);
            (flags(c), exptime(c))
        };
        let key = key.to_vec();
        let new = match self.alloc(&key, fl, exp, digits) {
            Ok(new) => new,
            Err(_) => return (DeltaResult::Eom, NONE),
        };
        self.value_segment_mut(new, 0).copy_from_slice(&buf);
        buf.clear();
        let hv = self.assoc.hash(&key);
        self.replace_hv(id, new, hv, new_cas);
        (DeltaResult::Ok(value), new)
    }

    /// flush_all: items stored before now (or before `exptime`, if given)
    /// become invisible. memcached's process_flush_all semantics.
    /// False if the flush cancels any flush instead (see below).
    fn do_flush_all(&mut self, exptime: i64) -> bool {
        let new_oldest = if exptime > 0 {
            self.clock.realtime(exptime)
        } else {
            self.clock.current_time
        };
        if exptime > 0 && new_oldest <= 1 {
            // A delay that is an absolute time before the server started:
            // memcached's cut-off becomes 0, which means no flush at all
            // (and cancels a delayed one still to come).
            self.oldest_live = 0;
            self.oldest_cas = 0;
            return false;
        }
        self.sweep_flushed(new_oldest.saturating_sub(1));
        if self.use_cas {
            self.oldest_live = new_oldest.saturating_sub(1);
            if self.oldest_live <= self.clock.current_time {
                // The first CAS unique not flushed: the next one minted.
                // memcached's flush takes no CAS unique, so neither does
                // this cut-off (`gets` shows the same numbers after it).
                self.oldest_cas = self.cas_id + 1;
            }
        } else {
            self.oldest_live = new_oldest;
        }
        true
    }

    /// The eager half of a flush_all, as memcached's item_flush_expired:
    /// unlinks, from the head of every LRU list down, the items last used
    /// at or after `from` (the second before the flush), stopping at the
    /// first older one; nothing when `from` is still to come. The older
    /// items, and any recent one further down a list, are left for
    /// lookups, the LRU and the crawler to find flushed. So right after
    /// a flush `curr_items` no longer counts the items just used, and
    /// their lookups find nothing, as in memcached. No records: the
    /// flush's own record stands for them (a replica sweeps its copy when
    /// it applies the flush).
    fn sweep_flushed(&mut self, from: u32) {
        if from > self.clock.current_time {
            return;
        }
        for lid in 0..super::lru::LRU_LISTS {
            let mut id = self.lru.head(lid as u8);
            while id != NONE {
                let c = self.slabs.chunk(id);
                if time(c) < from {
                    break;
                }
                let nx = next(c);
                let hv = self.assoc.hash(key_of(c));
                self.unlink_hv(id, hv);
                id = nx;
            }
        }
    }

    // ---- what the watchers see (logger.rs formats the lines) ----

    /// `item_get` for connection `cfd`'s lookup of `key`, which found `id`
    /// (NONE for a miss). One bit test without a watcher.
    #[inline]
    fn log_get(&mut self, cfd: RawFd, key: &[u8], id: u32) {
        if self.log.eflags & LOG_FETCHERS != 0 {
            self.log_get_line(cfd, key, id);
        }
    }

    /// `item_get` for a command that looks its key up inside the door
    /// (store, delete, incr/decr): does the same lookup first, when
    /// someone watches fetches.
    #[inline]
    fn log_lookup(&mut self, cfd: RawFd, key: &[u8]) {
        if self.log.eflags & LOG_FETCHERS != 0 {
            let id = self.peek(key);
            self.log_get_line(cfd, key, id);
        }
    }

    #[cold]
    fn log_get_line(&mut self, cfd: RawFd, key: &[u8], id: u32) {
        let found = if id != NONE {
            Ok((self.item_clsid(id), nbytes(self.slabs.chunk(id))))
        } else {
            Err(self.last_miss)
        };
        self.log.item_get(cfd, key, found);
    }

    /// `item_store`: connection `cfd` stored item `id` (read off the wire,
    /// not yet freed) with `cmd`, with `result`. A stored line shows the
    /// item now linked under the key (for append, the joined one), live
    /// or not (a stored item with a past expiry is still shown, as
    /// memcached shows it).
    #[inline]
    fn log_store(&mut self, cfd: RawFd, id: u32, cmd: StoreCmd, result: StoreItemType) {
        if self.log.eflags & LOG_MUTATIONS != 0 {
            self.log_store_line(cfd, id, cmd, result);
        }
    }

    #[cold]
    fn log_store_line(&mut self, cfd: RawFd, id: u32, cmd: StoreCmd, result: StoreItemType) {
        let key = key_of(self.slabs.chunk(id)).to_vec();
        let mut shown = id;
        if result == StoreItemType::Stored {
            let hv = self.assoc.hash(&key);
            let linked = self.assoc.find(&self.slabs, &key, hv);
            if linked != NONE {
                shown = linked;
            }
        }
        let c = self.slabs.chunk(shown);
        let (exp, size) = (exptime(c), nbytes(c));
        let clsid = self.item_clsid(shown);
        let now = self.clock.current_time;
        self.log
            .item_store(cfd, &key, cmd, result, exp, now, clsid, size);
    }

    /// `deleted`: a client's `cmd` ("delete", "md") removes item `id`
    /// (nothing when NONE). One bit test without a watcher.
    #[inline]
    fn log_deleted(&mut self, id: u32, cmd: &str) {
        if self.log.eflags & LOG_DELETIONS != 0 && id != NONE {
            self.log_deleted_line(id, cmd);
        }
    }

    #[cold]
    fn log_deleted_line(&mut self, id: u32, cmd: &str) {
        let c = self.slabs.chunk(id);
        let (key, size) = (key_of(c).to_vec(), nbytes(c));
        let clsid = self.item_clsid(id);
        self.log.deleted(&key, cmd, clsid, size);
    }

    /// `eviction`: item `id` is being evicted from the LRU tail.
    #[cold]
    pub(super) fn log_eviction(&mut self, id: u32) {
        let now = self.clock.current_time;
        let c = self.slabs.chunk(id);
        let e = exptime(c);
        let ttl = if e == 0 { -1 } else { e as i64 - now as i64 };
        let la = now.wrapping_sub(time(c)) as i32;
        let fetched = iflags(c) & ITEM_FETCHED != 0;
        let size = nbytes(c);
        let key = key_of(c).to_vec();
        let clsid = self.item_clsid(id);
        self.log.eviction(&key, fetched, ttl, la, clsid, size);
    }
}

#[cfg(test)]
mod tests {
    use super::super::items::tests::{cache, flat_cache};
    use super::*;
    use crate::settings::Settings;

    /// One record, owned, for comparing.
    #[derive(Debug, PartialEq, Eq)]
    struct R {
        reason: Reason,
        key: Vec<u8>,
        value: Vec<u8>,
        flags: u32,
        exptime: i64,
        cas: u64,
        meta: u8,
    }

    /// The records made since the last call, and forgets them.
    fn take(c: &mut Cache) -> Vec<R> {
        let v = c
            .changes()
            .iter()
            .map(|ch| R {
                reason: ch.reason,
                key: ch.key.to_vec(),
                value: ch.value.to_vec(),
                flags: ch.flags,
                exptime: ch.exptime,
                cas: ch.cas,
                meta: ch.meta,
            })
            .collect();
        c.clear_changes();
        v
    }

    /// The item record `reason` of `key` as the cache now holds it.
    fn now_rec(c: &Cache, reason: Reason, key: &[u8]) -> R {
        let hv = c.assoc.hash(key);
        let id = c.assoc.find(&c.slabs, key, hv);
        assert_ne!(id, NONE, "{:?} is linked", key);
        let mut value = Vec::new();
        c.value_to_vec(id, &mut value);
        let it = c.item(id);
        R {
            reason,
            key: key.to_vec(),
            value,
            flags: it.flags(),
            exptime: c.clock.to_unix(it.exptime()),
            cas: it.cas(),
            meta: it.iflags() & META_BITS,
        }
    }

    fn removal(reason: Reason, key: &[u8]) -> R {
        R {
            reason,
            key: key.to_vec(),
            value: Vec::new(),
            flags: 0,
            exptime: 0,
            cas: 0,
            meta: 0,
        }
    }

    /// A listening cache (the flat LRU, so no maintainer moves items).
    fn listening() -> Cache {
        let mut c = flat_cache();
        c.listen_changes(true);
        c
    }

    /// An unlinked item for `key` holding `val`.
    fn wire(c: &mut Cache, key: &[u8], val: &[u8], flags: u32, exptime: u32) -> u32 {
        let id = c.alloc(key, flags, exptime, val.len()).unwrap();
        if !val.is_empty() {
            c.value_segment_mut(id, 0).copy_from_slice(val);
        }
        id
    }

    fn set(c: &mut Cache, key: &[u8], val: &[u8]) {
        let id = wire(c, key, val, 0, 0);
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Set, 0),
            StoreItemType::Stored
        );
    }

    /// What the first watcher (it has no socket) has been sent, with
    /// the `ts=... gid=... ` prefixes taken out.
    fn watched(c: &mut Cache) -> Vec<String> {
        let buf: Vec<u8> = c.log.watchers[0].buf.drain(..).collect();
        String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| l.splitn(3, ' ').nth(2).unwrap_or(l).to_string())
            .collect()
    }

    #[test]
    fn deletion_watchers_see_delete_and_md_only() {
        let mut c = cache();
        assert!(c.log.add_watcher(1, -1, crate::logger::LOG_DELETIONS));
        c.log.watchers[0].buf.clear();
        set(&mut c, b"a", b"123");
        assert!(c.delete(7, b"a"));
        assert!(!c.delete(7, b"a"));
        set(&mut c, b"b", b"12");
        assert_eq!(c.delete_cas(7, b"b", 0), StoreItemType::Stored);
        set(&mut c, b"m", b"1234");
        let stale = MdeleteArgs {
            invalidate: true,
            ..MdeleteArgs::default()
        };
        assert_eq!(c.mdelete(7, b"m", &stale), MdeleteResult::Done);
        let x = MdeleteArgs {
            remove_value: true,
            ..MdeleteArgs::default()
        };
        assert_eq!(c.mdelete(7, b"m", &x), MdeleteResult::Done);
        assert_eq!(
            c.mdelete(7, b"m", &MdeleteArgs::default()),
            MdeleteResult::Done
        );
        assert_eq!(
            watched(&mut c),
            vec![
                "type=deleted key=a cmd=delete clsid=1 size=3",
                "type=deleted key=m cmd=md clsid=1 size=0",
                "type=deleted key=m cmd=md clsid=1 size=0",
            ]
        );
    }

    #[test]
    fn nobody_listening_keeps_nothing() {
        let mut c = cache();
        set(&mut c, b"a", b"1");
        assert!(c.delete(-1, b"a"));
        c.flush_all(0);
        assert!(c.changes().is_empty());
    }

    #[test]
    fn storage_commands_record_the_item_as_stored() {
        let mut c = listening();
        let exp = c.realtime(100);
        let id = wire(&mut c, b"k", b"abc", 7, exp);
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Set, 0),
            StoreItemType::Stored
        );
        let r = take(&mut c);
        assert_eq!(r, vec![now_rec(&c, Reason::Stored, b"k")]);
        assert_eq!(r[0].value, b"abc");
        assert_eq!(r[0].flags, 7);
        assert_eq!(r[0].exptime, c.clock.now_unix() + 100);
        assert_eq!(r[0].cas, c.cas_counter());
        // add of a present key, replace of a missing one: no change.
        let id = wire(&mut c, b"k", b"x", 0, 0);
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Add, 0),
            StoreItemType::NotStored
        );
        let id = wire(&mut c, b"nope", b"x", 0, 0);
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Replace, 0),
            StoreItemType::NotStored
        );
        assert_eq!(take(&mut c), vec![]);
        // append and prepend record the joined value, keeping flags.
        let id = wire(&mut c, b"k", b"Z", 0, 0);
        c.store_item(-1, id, StoreCmd::Append, 0);
        let id = wire(&mut c, b"k", b"A", 0, 0);
        c.store_item(-1, id, StoreCmd::Prepend, 0);
        let r = take(&mut c);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].reason, &r[0].value[..]),
            (Reason::Stored, &b"abcZ"[..])
        );
        assert_eq!(r[1], now_rec(&c, Reason::Stored, b"k"));
        assert_eq!((r[1].value.as_slice(), r[1].flags), (&b"AabcZ"[..], 7));
        // cas: a bad CAS changes nothing, the right one stores.
        let cur = r[1].cas;
        let id = wire(&mut c, b"k", b"new", 1, 0);
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Cas, cur + 1),
            StoreItemType::Exists
        );
        assert_eq!(take(&mut c), vec![]);
        let id = wire(&mut c, b"k", b"new", 1, 0);
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Cas, cur),
            StoreItemType::Stored
        );
        assert_eq!(take(&mut c), vec![now_rec(&c, Reason::Stored, b"k")]);
    }

    #[test]
    fn arithmetic_records_the_resulting_value() {
        let mut c = listening();
        set(&mut c, b"n", b"10");
        take(&mut c);
        // In place (padded with a space), then by a new item (longer).
        assert_eq!(c.add_delta(-1, b"n", false, 1), DeltaResult::Ok(9));
        let r = take(&mut c);
        assert_eq!(r, vec![now_rec(&c, Reason::Arith, b"n")]);
        assert_eq!(r[0].value, b"9 ");
        assert_eq!(c.add_delta(-1, b"n", true, 991), DeltaResult::Ok(1000));
        let r = take(&mut c);
        assert_eq!(r, vec![now_rec(&c, Reason::Arith, b"n")]);
        assert_eq!(r[0].value, b"1000");
        // Misses and non-numbers change nothing.
        assert_eq!(c.add_delta(-1, b"zz", true, 1), DeltaResult::NotFound);
        set(&mut c, b"s", b"abc");
        take(&mut c);
        assert_eq!(c.add_delta(-1, b"s", true, 1), DeltaResult::NonNumeric);
        assert_eq!(take(&mut c), vec![]);
    }

    #[test]
    fn touch_delete_and_flush_all() {
        let mut c = listening();
        set(&mut c, b"t", b"v");
        take(&mut c);
        let exp = c.realtime(50);
        assert_ne!(c.touch(-1, b"t", exp), NONE);
        let r = take(&mut c);
        assert_eq!(r, vec![now_rec(&c, Reason::Touched, b"t")]);
        assert_eq!(r[0].exptime, c.clock.now_unix() + 50);
        assert_eq!(c.touch(-1, b"none", exp), NONE);
        // A plain fetch is no change.
        assert_ne!(c.fetch(-1, b"t"), NONE);
        assert_eq!(take(&mut c), vec![]);
        assert!(c.delete(-1, b"t"));
        assert!(!c.delete(-1, b"t"));
        assert_eq!(take(&mut c), vec![removal(Reason::Deleted, b"t")]);
        // flush_all with a delay says when; the items go later.
        set(&mut c, b"f", b"v");
        take(&mut c);
        c.flush_all(10);
        let r = take(&mut c);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reason, Reason::FlushAll);
        assert_eq!(r[0].exptime, c.clock.now_unix() + 10 - 1);
        // flush_all now: the items of its last second are unlinked at
        // once (the flush's record stands for them); older ones are found
        // flushed later.
        c.flush_all(0);
        assert_eq!(take(&mut c)[0].exptime, c.clock.now_unix() - 1);
        assert_eq!(c.item_stats().curr_items, 0);
        assert_eq!(c.fetch(-1, b"f"), NONE);
        assert_eq!(take(&mut c), vec![]);
        set(&mut c, b"old", b"v");
        c.advance_clock(2);
        set(&mut c, b"new", b"v");
        take(&mut c);
        c.flush_all(0);
        take(&mut c);
        assert_eq!(c.item_stats().curr_items, 1);
        assert_eq!(c.fetch(-1, b"new"), NONE);
        assert_eq!(c.fetch(-1, b"old"), NONE);
        assert_eq!(take(&mut c), vec![removal(Reason::Flushed, b"old")]);
    }

    /// A listener's own form of a record, for the encoded mode's tests.
    fn enc(ch: &Change<'_>, out: &mut Vec<u8>) {
        let head = format!(
            "{:?} {} {} ",
            ch.reason,
            String::from_utf8_lossy(ch.key),
            ch.value.len()
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(ch.value);
        out.push(b'\n');
    }

    #[test]
    fn encoded_records_go_straight_into_whole_blocks() {
        use crate::cache::change::BLOCK;
        let mut c = listening();
        c.encode_changes(Some(enc));
        let mut want = Vec::new();
        set(&mut c, b"a", b"xyz");
        assert!(c.delete(-1, b"a"));
        want.extend_from_slice(b"Stored a 3 xyz\nDeleted a 0 \n");
        // A chunked value (over slab_chunk_max): gathered in one piece.
        let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let id = c.alloc(b"big", 0, 0, big.len()).unwrap();
        assert_ne!(iflags(c.slabs.chunk(id)) & ITEM_CHUNKED, 0);
        let mut off = 0;
        while off < big.len() {
            let seg = c.value_segment_mut(id, off);
            let n = seg.len();
            seg.copy_from_slice(&big[off..off + n]);
            off += n;
        }
        assert_eq!(
            c.store_item(-1, id, StoreCmd::Set, 0),
            StoreItemType::Stored
        );
        want.extend_from_slice(b"Stored big 600000 ");
        want.extend_from_slice(&big);
        want.push(b'\n');
        // Enough 1000-byte values for several blocks.
        let v = [b'v'; 1000];
        for i in 0..300 {
            let k = format!("k{}", i);
            set(&mut c, k.as_bytes(), &v);
            want.extend_from_slice(format!("Stored {} 1000 ", k).as_bytes());
            want.extend_from_slice(&v);
            want.push(b'\n');
        }
        assert!(!c.changes().is_empty());
        assert_eq!(c.changes().iter().count(), 0, "no record is kept as well");
        let (n, blocks) = c.changes_mut().take_encoded();
        let blocks: Vec<Vec<u8>> = blocks.collect();
        assert_eq!(n, 303);
        assert!(blocks.len() >= 5, "{} blocks", blocks.len());
        for b in &blocks {
            // Whole records only, and never grown past what it was given.
            assert_eq!(b.last(), Some(&b'\n'));
            assert!(b.starts_with(b"Stored ") || b.starts_with(b"Deleted "));
            if b.len() < 600_000 {
                assert_eq!(b.capacity(), BLOCK);
            }
        }
        assert_eq!(blocks.concat(), want);
        assert!(c.changes().is_empty());
        // Blocks given back are encoded into again.
        for b in blocks {
            c.changes_mut().give_block(b);
        }
        set(&mut c, b"z", b"1");
        let (n, blocks) = c.changes_mut().take_encoded();
        let blocks: Vec<Vec<u8>> = blocks.collect();
        assert_eq!((n, blocks.concat()), (1, b"Stored z 1 1\n".to_vec()));
        assert_eq!(blocks[0].capacity(), BLOCK);
    }

    #[test]
    fn flush_all_before_start_cancels_and_replicates_as_zero() {
        let mut c = listening();
        c.flush_all(100);
        take(&mut c);
        set(&mut c, b"k", b"v");
        take(&mut c);
        // An absolute time before the server started: no flush, and the
        // delayed one is cancelled.
        assert_eq!(c.flush_all(2_592_001), 0);
        let r = take(&mut c);
        assert_eq!(
            (r.len(), r[0].reason, r[0].exptime, r[0].cas),
            (1, Reason::FlushAll, 0, 0)
        );
        c.advance_clock(200);
        assert_ne!(c.fetch(-1, b"k"), NONE);
        // A replica applying it cancels its own pending flush the same way.
        let mut rep = listening();
        rep.flush_all(100);
        set(&mut rep, b"k", b"v");
        take(&mut rep);
        rep.apply_flush(0, 0);
        let r = take(&mut rep);
        assert_eq!((r.len(), r[0].exptime, r[0].cas), (1, 0, 0));
        rep.advance_clock(200);
        assert_ne!(rep.fetch(-1, b"k"), NONE);
    }

    #[test]
    fn binary_protocol_cas_on_delete_and_append() {
        let mut c = listening();
        let id = wire(&mut c, b"b", b"v", 0, 0);
        let (ret, cas) = c.store_item_cas(-1, id, StoreCmd::Set, 0);
        assert_eq!((ret, cas), (StoreItemType::Stored, c.cas_counter()));
        take(&mut c);
        // A wrong CAS refuses append and delete, and changes nothing.
        let id = wire(&mut c, b"b", b"+", 0, 0);
        assert_eq!(
            c.store_item_cas(-1, id, StoreCmd::Append, cas + 1),
            (StoreItemType::Exists, 0)
        );
        assert_eq!(c.delete_cas(-1, b"b", cas + 1), StoreItemType::Exists);
        assert_eq!(take(&mut c), vec![]);
        // The right one: the reply's CAS is the joined item's.
        let id = wire(&mut c, b"b", b"+", 0, 0);
        let (ret, cas) = c.store_item_cas(-1, id, StoreCmd::Append, cas);
        assert_eq!(ret, StoreItemType::Stored);
        let r = take(&mut c);
        assert_eq!((r[0].value.as_slice(), r[0].cas), (&b"v+"[..], cas));
        assert_eq!(c.delete_cas(-1, b"b", cas), StoreItemType::Stored);
        assert_eq!(c.delete_cas(-1, b"b", 0), StoreItemType::NotFound);
        assert_eq!(take(&mut c), vec![removal(Reason::Deleted, b"b")]);
    }

    #[test]
    fn a_failed_set_deletes_the_old_value() {
        let mut c = listening();
        set(&mut c, b"k", b"v");
        take(&mut c);
        c.store_failed(-1, b"k", true);
        assert_eq!(take(&mut c), vec![removal(Reason::Deleted, b"k")]);
    }

    #[test]
    fn meta_get_records_vivify_touch_and_win() {
        let mut c = listening();
        // N on a miss: a stub item that its creator wins.
        let a = MgetArgs {
            vivify: Some(30),
            ..MgetArgs::default()
        };
        let r = c.mget(-1, b"v", &a);
        assert!(r.created && r.won);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Stored, b"v")]);
        assert_eq!(recs[0].meta, ITEM_TOKEN_SENT);
        assert_eq!(recs[0].value, b"");
        // A hit without T nor a win changes nothing.
        set(&mut c, b"k", b"val");
        take(&mut c);
        let r = c.mget(-1, b"k", &MgetArgs::default());
        assert!(!r.won);
        assert_eq!(take(&mut c), vec![]);
        // T: touched.
        let t = MgetArgs {
            ttl: Some(100),
            ..MgetArgs::default()
        };
        c.mget(-1, b"k", &t);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Touched, b"k")]);
        assert_eq!(recs[0].exptime, c.clock.now_unix() + 100);
        // R with little TTL left: the win token, and E's CAS.
        let w = MgetArgs {
            recache: Some(1000),
            new_cas: Some(777),
            ..MgetArgs::default()
        };
        assert!(c.mget(-1, b"k", &w).won);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Meta, b"k")]);
        assert_eq!((recs[0].meta, recs[0].cas), (ITEM_TOKEN_SENT, 777));
        // The token is handed out once.
        assert!(!c.mget(-1, b"k", &w).won);
        assert_eq!(take(&mut c), vec![]);
    }

    #[test]
    fn meta_set_invalidation_and_meta_delete() {
        let mut c = listening();
        set(&mut c, b"k", b"v1");
        set(&mut c, b"k", b"v2");
        let cur = take(&mut c)[1].cas;
        assert_eq!(cur, 2);
        // ms with I and an older CAS: stored, stale.
        let id = wire(&mut c, b"k", b"v0", 0, 0);
        let a = MsetArgs {
            req_cas: cur - 1,
            invalidate: true,
            ..MsetArgs::default()
        };
        let (res, live, _, _) = c.mset(-1, id, StoreCmd::Set, &a);
        assert_eq!(res, StoreItemType::Stored);
        assert_ne!(live, NONE);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Stored, b"k")]);
        assert_eq!(
            (recs[0].value.as_slice(), recs[0].meta),
            (&b"v0"[..], ITEM_STALE)
        );
        // md with a wrong CAS: nothing; with I: stale, new CAS; with x:
        // an empty item in its place (md's flags and TTL, the old CAS, no
        // meta state); plain: deleted.
        let bad = MdeleteArgs {
            cas_check: Some(1),
            ..MdeleteArgs::default()
        };
        assert_eq!(c.mdelete(-1, b"k", &bad), MdeleteResult::Exists);
        assert_eq!(take(&mut c), vec![]);
        let inv = MdeleteArgs {
            invalidate: true,
            new_cas: Some(4242),
            ttl: Some(30),
            ..MdeleteArgs::default()
        };
        assert_eq!(c.mdelete(-1, b"k", &inv), MdeleteResult::Done);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Meta, b"k")]);
        assert_eq!((recs[0].cas, recs[0].meta), (4242, ITEM_STALE));
        assert_eq!(recs[0].exptime, c.clock.now_unix() + 30);
        let x = MdeleteArgs {
            remove_value: true,
            client_flags: Some(9),
            ..MdeleteArgs::default()
        };
        assert_eq!(c.mdelete(-1, b"k", &x), MdeleteResult::Done);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Stored, b"k")]);
        assert_eq!(
            (
                recs[0].value.as_slice(),
                recs[0].meta,
                recs[0].cas,
                recs[0].flags,
                recs[0].exptime
            ),
            (&b""[..], 0, 4242, 9, 0)
        );
        let ix = MdeleteArgs {
            invalidate: true,
            remove_value: true,
            new_cas: Some(77),
            ttl: Some(30),
            ..MdeleteArgs::default()
        };
        assert_eq!(c.mdelete(-1, b"k", &ix), MdeleteResult::Done);
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Stored, b"k")]);
        assert_eq!(
            (
                recs[0].value.as_slice(),
                recs[0].meta,
                recs[0].cas,
                recs[0].flags
            ),
            (&b""[..], ITEM_STALE, 77, 0)
        );
        assert_eq!(recs[0].exptime, c.clock.now_unix() + 30);
        assert_eq!(
            c.mdelete(-1, b"k", &MdeleteArgs::default()),
            MdeleteResult::Done
        );
        assert_eq!(take(&mut c), vec![removal(Reason::Deleted, b"k")]);
        assert_eq!(
            c.mdelete(-1, b"k", &MdeleteArgs::default()),
            MdeleteResult::NotFound
        );
        assert_eq!(take(&mut c), vec![]);
    }

    #[test]
    fn meta_arithmetic_creates_and_touches() {
        let mut c = listening();
        let a = MarithArgs {
            vivify: Some(0),
            initial: 5,
            ..MarithArgs::default()
        };
        let r = c.marith(-1, b"n", true, 1, &a);
        assert_eq!(r.result, DeltaResult::Ok(5));
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Stored, b"n")]);
        assert_eq!(recs[0].value, b"5");
        let t = MarithArgs {
            ttl: Some(60),
            ..MarithArgs::default()
        };
        let r = c.marith(-1, b"n", true, 10, &t);
        assert_eq!(r.result, DeltaResult::Ok(15));
        let recs = take(&mut c);
        assert_eq!(recs, vec![now_rec(&c, Reason::Arith, b"n")]);
        assert_eq!(recs[0].value, b"15");
        assert_eq!(recs[0].exptime, c.clock.now_unix() + 60);
    }

    #[test]
    fn the_cache_records_its_own_removals() {
        let mut c = listening();
        // Stores `key` with a 5 s TTL and lets 10 s pass; returns the
        // (expired, still linked) item and its class.
        let expired = |c: &mut Cache, key: &[u8]| {
            let exp = c.realtime(5);
            let id = wire(c, key, b"v", 0, exp);
            c.store_item(-1, id, StoreCmd::Set, 0);
            take(c);
            c.advance_clock(10);
            (id, c.item_clsid(id))
        };
        // Lazy expiry: found expired when looked up.
        expired(&mut c, b"e");
        assert_eq!(c.fetch(-1, b"e"), NONE);
        assert_eq!(take(&mut c), vec![removal(Reason::Expired, b"e")]);
        // The crawler reclaims an expired item it meets.
        let (id, cls) = expired(&mut c, b"r");
        c.crawler_reclaim(id, cls);
        assert_eq!(take(&mut c), vec![removal(Reason::Reclaimed, b"r")]);
        // An allocation that finds an expired item on the LRU tail.
        let (_, cls) = expired(&mut c, b"t");
        assert!(c.pull_tail(cls));
        assert_eq!(take(&mut c), vec![removal(Reason::Reclaimed, b"t")]);
    }

    #[test]
    fn evictions_are_recorded_with_their_reason() {
        let mut c = Cache::new(&Settings {
            maxbytes: 1024 * 1024,
            lru_segmented: false,
            lru_maintainer_thread: false,
            ..Settings::default()
        });
        c.listen_changes(true);
        let val = vec![b'x'; 1000];
        let mut evicted = Vec::new();
        for i in 0..3000 {
            let key = format!("k{}", i);
            set(&mut c, key.as_bytes(), &val);
            for r in take(&mut c) {
                if r.reason == Reason::Evicted {
                    assert_eq!((r.value.len(), r.cas), (0, 0));
                    evicted.push(r.key);
                } else {
                    assert_eq!((r.reason, r.key), (Reason::Stored, key.as_bytes().to_vec()));
                }
            }
        }
        assert_eq!(evicted.len() as u64, c.itemstats_total().evicted);
        // The oldest go first.
        assert_eq!(evicted[0], b"k0");
        assert_eq!(evicted[1], b"k1");
    }

    #[test]
    fn a_page_move_records_the_evictions_it_makes() {
        let mut c = flat_cache();
        let per = c.slabs.classes[1].perslab as usize;
        // Fill exactly the pages of class 1 so no chunk is free to rescue
        // into: the mover evicts from the LRU tail to make room, and those
        // evictions are recorded as any other.
        for i in 0..2 * per {
            set(&mut c, format!("k{}", i).as_bytes(), b"v");
        }
        c.listen_changes(true);
        assert_eq!(
            c.slabs.reassign(1, 5, true),
            crate::cache::slabs::ReassignResult::Ok
        );
        while c.slabs.rebal.is_some() {
            c.rebalance_work(512, u64::MAX);
        }
        let recs = take(&mut c);
        // Every item of the page, and one more to hold a chunk for the
        // next rescue.
        assert_eq!(recs.len(), per + 1);
        assert_eq!(c.itemstats_total().evicted, per as u64 + 1);
        for r in &recs {
            assert_eq!(r.reason, Reason::Evicted);
            assert_eq!(c.peek(&r.key), NONE);
        }
    }
}
