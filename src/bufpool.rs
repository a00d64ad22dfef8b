//! The memory connections use to read requests and to queue replies, and
//! its bound, `-o read_buf_mem_limit`: memcached's read buffer cache
//! (cache.c, with `rbuf_alloc` and `resp_start` in memcached.c), which
//! hands out both its read buffers and the bundles its response objects
//! live in.
//!
//! A connection holds two kinds of buffer here, each only while it needs
//! it, so an idle connection holds neither:
//!
//! - a read buffer (`Conn::rbuf`, READ_SIZE bytes, doubled for a long
//!   `get` line or a large pipelined batch), from its first read until it
//!   has no unprocessed byte left;
//! - a reply buffer: the bytes of its queued replies (`wbuf`), the pieces
//!   to send (`out`) and the items those pieces pin (`pinned`), from the
//!   first command it runs until all it queued is written.
//!
//! Buffers given back are kept for the next connection (at most POOL_MAX
//! of each kind, none larger than a busy connection needs), so a running
//! server does not allocate per request.
//!
//! The pool counts what it hands out, and `stats` shows the counts under
//! memcached's names (the refusals are counted in `Stats`):
//!
//! ```text
//!  read_buf_count        buffers, read and reply, held or kept free
//!  read_buf_bytes        their bytes: a read buffer's length, a reply
//!                        buffer's capacity (its three vectors)
//!  read_buf_bytes_free   the bytes of those kept free
//!  response_obj_count    replies not yet all written: one per command,
//!                        and one per further key of a multi-key get
//!  response_obj_bytes    the bytes of the reply buffers held
//!  read_buf_oom          a read buffer refused for the limit
//!  response_obj_oom      a reply refused for the limit
//! ```
//!
//! A reply buffer grows while commands write into it; `sync_reply` brings
//! its count up to date (the connection calls it after each command), and
//! `Conn::reply_counted` is what the pool has counted for it.
//!
//! With a limit, the buffers held stay within it: a read buffer is taken
//! or doubled only if it fits, and a reply is refused once the buffers
//! held reach the limit (the check is made before each reply, not each
//! byte, so the last reply admitted may take them past it by what it
//! adds). Buffers are kept free only while held and free together fit, so
//! `read_buf_bytes` stays within the limit too, as memcached's does. What
//! a refusal does to the connection (close it, or answer a multi-key get
//! with `SERVER_ERROR out of memory writing get response`) is decided by
//! conn.rs and proto_text.rs, as memcached 1.6.45 decides it.

use std::mem::size_of;

use crate::conn::{Conn, OutPiece};

/// Size of a read buffer taken from the pool (memcached's READ_BUFFER_SIZE).
pub const READ_SIZE: usize = 16 * 1024;
/// Capacity of a new reply buffer's bytes: room for a `stats` reply, or a
/// few replies with small values.
const REPLY_SIZE: usize = 4 * 1024;
/// Capacity of a new reply buffer's piece and pin lists.
const REPLY_PIECES: usize = 32;
/// Read buffers and reply bytes larger than this are not kept free.
const POOL_BUF_MAX: usize = 64 * 1024;
/// Piece and pin lists longer than this are not kept free.
const POOL_PIECES_MAX: usize = 2048;
/// Free buffers kept, of each kind.
const POOL_MAX: usize = 64;

/// Bytes a reply buffer made of these vectors holds.
#[inline]
fn reply_bytes(wbuf: &Vec<u8>, out: &Vec<OutPiece>, pinned: &Vec<u32>) -> usize {
    wbuf.capacity() + out.capacity() * size_of::<OutPiece>() + pinned.capacity() * size_of::<u32>()
}

/// Bytes of the reply buffer connection `c` holds now (0: none).
#[inline]
pub fn reply_mem(c: &Conn) -> usize {
    reply_bytes(&c.wbuf, &c.out, &c.pinned)
}

/// Frees `c`'s reply buffer (one too large to keep).
#[cold]
fn drop_reply(c: &mut Conn) {
    c.wbuf = Vec::new();
    c.out = Vec::new();
    c.pinned = Vec::new();
}

/// A free reply buffer: the three vectors a connection queues replies in,
/// kept empty with their capacity, and the bytes they hold.
struct ReplyBuf {
    wbuf: Vec<u8>,
    out: Vec<OutPiece>,
    pinned: Vec<u32>,
    bytes: usize,
}

impl ReplyBuf {
    fn new() -> ReplyBuf {
        let wbuf = Vec::with_capacity(REPLY_SIZE);
        let out = Vec::with_capacity(REPLY_PIECES);
        let pinned = Vec::with_capacity(REPLY_PIECES);
        let bytes = reply_bytes(&wbuf, &out, &pinned);
        ReplyBuf {
            wbuf,
            out,
            pinned,
            bytes,
        }
    }
}

/// Bytes of a reply buffer made by `ReplyBuf::new`.
fn new_reply_bytes() -> usize {
    REPLY_SIZE + REPLY_PIECES * (size_of::<OutPiece>() + size_of::<u32>())
}

/// The buffers of all connections, free and held, and their counts.
pub struct BufPool {
    /// Free read buffers, each at least READ_SIZE long (exactly, under a
    /// limit).
    rbufs: Vec<Vec<u8>>,
    /// Free reply buffers.
    replies: Vec<ReplyBuf>,
    /// `read_buf_mem_limit` in bytes; 0: no limit.
    limit: u64,
    /// Read buffers held by connections, and the sum of their lengths.
    rbufs_held: u64,
    rbuf_bytes_held: u64,
    /// Reply buffers held by connections, and the sum of what is counted
    /// for them (`Conn::reply_counted`).
    replies_held: u64,
    reply_bytes_held: u64,
    /// Bytes of the free buffers in `rbufs` and `replies`.
    free_bytes: u64,
    /// Replies counted by `reply_queued` and not yet released
    /// (`response_obj_count`): the sum of `Conn::replies`.
    replies_queued: u64,
}

impl BufPool {
    /// An empty pool; `limit` is `read_buf_mem_limit` in bytes (0: none).
    pub fn new(limit: u64) -> BufPool {
        BufPool {
            rbufs: Vec::new(),
            replies: Vec::new(),
            limit,
            rbufs_held: 0,
            rbuf_bytes_held: 0,
            replies_held: 0,
            reply_bytes_held: 0,
            free_bytes: 0,
            replies_queued: 0,
        }
    }

    /// Bytes held by connections.
    #[inline]
    fn held(&self) -> u64 {
        self.rbuf_bytes_held + self.reply_bytes_held
    }

    /// True if connections may hold `extra` more bytes.
    #[inline]
    fn fits(&self, extra: u64) -> bool {
        self.limit == 0 || self.held() + extra <= self.limit
    }

    /// True when the buffers held have reached the limit (as last
    /// counted): a connection with replies queued should write them
    /// before it runs more commands.
    #[inline]
    pub fn full(&self) -> bool {
        self.limit != 0 && self.held() >= self.limit
    }

    /// Before `extra` bytes are allocated: drops free buffers until held,
    /// free and new bytes together fit the limit, or nothing free is left.
    fn make_room(&mut self, extra: u64) {
        if self.limit == 0 {
            return;
        }
        while self.held() + self.free_bytes + extra > self.limit {
            if let Some(r) = self.replies.pop() {
                self.free_bytes -= r.bytes as u64;
            } else if let Some(b) = self.rbufs.pop() {
                self.free_bytes -= b.len() as u64;
            } else {
                break;
            }
        }
    }

    // ---- read buffers ----

    /// A read buffer of at least READ_SIZE bytes, or None when one does
    /// not fit the limit (memcached's rbuf_alloc failing).
    pub fn take_rbuf(&mut self) -> Option<Vec<u8>> {
        if !self.fits(READ_SIZE as u64) {
            return None;
        }
        let b = match self.rbufs.pop() {
            Some(b) => {
                self.free_bytes -= b.len() as u64;
                b
            }
            None => {
                self.make_room(READ_SIZE as u64);
                vec![0; READ_SIZE]
            }
        };
        self.rbufs_held += 1;
        self.rbuf_bytes_held += b.len() as u64;
        Some(b)
    }

    /// Doubles a held read buffer, keeping its bytes; false (the buffer
    /// unchanged) when the larger buffer does not fit the limit.
    pub fn grow_rbuf(&mut self, b: &mut Vec<u8>) -> bool {
        let extra = b.len() as u64;
        if !self.fits(extra) {
            return false;
        }
        self.make_room(extra);
        b.resize(b.len() * 2, 0);
        self.rbuf_bytes_held += extra;
        true
    }

    /// Takes back a read buffer. One that grew (pipelined large values) is
    /// kept as it is up to POOL_BUF_MAX, so the next batch does not pay for
    /// growing and zeroing it again.
    #[inline]
    pub fn give_rbuf(&mut self, b: Vec<u8>) {
        let len = b.len();
        self.rbufs_held -= 1;
        self.rbuf_bytes_held -= len as u64;
        if self.rbufs.len() < POOL_MAX
            && (READ_SIZE..=POOL_BUF_MAX).contains(&len)
            && (self.limit == 0 || self.keeps_limited(len))
        {
            self.free_bytes += len as u64;
            self.rbufs.push(b);
        }
    }

    /// Under a limit: true if a read buffer of `len` bytes may be kept
    /// free (only READ_SIZE ones are, so a connection taking one holds no
    /// more than it needs).
    #[cold]
    #[inline(never)]
    fn keeps_limited(&self, len: usize) -> bool {
        len == READ_SIZE && self.keeps(len)
    }

    /// True if `bytes` more may be kept free within the limit.
    #[inline]
    fn keeps(&self, bytes: usize) -> bool {
        self.limit == 0 || self.held() + self.free_bytes + bytes as u64 <= self.limit
    }

    // ---- reply buffers ----

    /// True if connection `c` may queue another reply: always without a
    /// limit; with one, if the buffers held (with what `c` added since it
    /// was last counted) are below it, and if a reply buffer fits when
    /// `c` has none (memcached's resp_start finding a response object).
    #[inline]
    pub fn reply_room(&self, c: &Conn) -> bool {
        self.limit == 0 || self.reply_room_limited(c)
    }

    /// `reply_room` under a limit.
    fn reply_room_limited(&self, c: &Conn) -> bool {
        let mem = reply_mem(c) as u64;
        if mem == 0 {
            let fresh = self.replies.last().map_or(new_reply_bytes(), |r| r.bytes);
            return self.held() + fresh as u64 <= self.limit;
        }
        self.held() - c.reply_counted as u64 + mem < self.limit
    }

    /// Gives `c` a reply buffer if it has none, from the free ones when
    /// there is one. (One it holds is counted already: the connection
    /// syncs after each command.)
    #[inline]
    pub fn start_reply(&mut self, c: &mut Conn) {
        if c.reply_counted != 0 {
            return;
        }
        if reply_mem(c) == 0 {
            if let Some(r) = self.replies.pop() {
                self.free_bytes -= r.bytes as u64;
                return self.install_reply(c, r);
            }
        }
        self.start_reply_slow(c);
    }

    /// `start_reply` when no free buffer is at hand, or `c` made one
    /// outside the pool (output queued with no command).
    #[cold]
    fn start_reply_slow(&mut self, c: &mut Conn) {
        if reply_mem(c) != 0 {
            return self.sync_reply(c);
        }
        self.make_room(new_reply_bytes() as u64);
        self.install_reply(c, ReplyBuf::new());
    }

    /// Hands reply buffer `r` to `c`, which holds none, and counts it.
    #[inline]
    fn install_reply(&mut self, c: &mut Conn, r: ReplyBuf) {
        c.wbuf = r.wbuf;
        c.out = r.out;
        c.pinned = r.pinned;
        c.reply_counted = r.bytes;
        self.replies_held += 1;
        self.reply_bytes_held += r.bytes as u64;
    }

    /// Brings the count of `c`'s reply buffer up to date (it grows as
    /// replies are queued, or a connection that had none may have made
    /// one). Called after each command; cheap when nothing changed.
    #[inline]
    pub fn sync_reply(&mut self, c: &mut Conn) {
        let mem = reply_mem(c);
        if mem != c.reply_counted {
            self.recount_reply(c, mem);
        }
    }

    /// Counts `mem` bytes for `c`'s reply buffer instead of what was
    /// counted.
    #[cold]
    fn recount_reply(&mut self, c: &mut Conn, mem: usize) {
        let was = c.reply_counted;
        if was == 0 && mem != 0 {
            self.replies_held += 1;
        } else if was != 0 && mem == 0 {
            self.replies_held -= 1;
        }
        self.reply_bytes_held = self.reply_bytes_held - was as u64 + mem as u64;
        c.reply_counted = mem;
        if mem > was {
            self.make_room(0);
        }
    }

    /// Takes back `c`'s reply buffer once everything it queued is written
    /// or dropped (its pieces and pins already cleared), keeping it free
    /// when it is not too large, and releases its replies.
    pub fn end_reply(&mut self, c: &mut Conn) {
        debug_assert!(c.out.is_empty() && c.pinned.is_empty());
        self.replies_written(c);
        if c.reply_counted != 0 {
            self.replies_held -= 1;
            self.reply_bytes_held -= c.reply_counted as u64;
            c.reply_counted = 0;
        }
        let bytes = reply_mem(c);
        if bytes == 0 {
            return;
        }
        let keep = c.wbuf.capacity() <= POOL_BUF_MAX
            && c.out.capacity() <= POOL_PIECES_MAX
            && c.pinned.capacity() <= POOL_PIECES_MAX
            && self.replies.len() < POOL_MAX
            && (self.limit == 0 || self.keeps(bytes));
        if !keep {
            return drop_reply(c);
        }
        c.wbuf.clear();
        self.free_bytes += bytes as u64;
        self.replies.push(ReplyBuf {
            wbuf: std::mem::take(&mut c.wbuf),
            out: std::mem::take(&mut c.out),
            pinned: std::mem::take(&mut c.pinned),
            bytes,
        });
    }

    /// Counts one more reply for `c` (a command).
    #[inline]
    pub fn reply_queued(&mut self, c: &mut Conn) {
        self.replies_queued(c, 1);
    }

    /// Counts `n` more replies for `c` (the further keys of a multi-key
    /// get).
    #[inline]
    pub fn replies_queued(&mut self, c: &mut Conn, n: u64) {
        c.replies += n;
        self.replies_queued += n;
    }

    /// `c` has written (or dropped) all it queued: its replies are no
    /// longer counted.
    #[inline]
    pub fn replies_written(&mut self, c: &mut Conn) {
        self.replies_queued -= c.replies;
        c.replies = 0;
    }

    // ---- stats ----

    /// `read_buf_count`: read and reply buffers, held or free.
    pub fn read_buf_count(&self) -> u64 {
        self.rbufs_held + self.replies_held + self.rbufs.len() as u64 + self.replies.len() as u64
    }

    /// `read_buf_bytes`: the bytes of those buffers.
    pub fn read_buf_bytes(&self) -> u64 {
        self.held() + self.free_bytes
    }

    /// `read_buf_bytes_free`: the bytes of the free ones.
    pub fn read_buf_bytes_free(&self) -> u64 {
        self.free_bytes
    }

    /// `response_obj_count`: replies not yet all written.
    pub fn response_obj_count(&self) -> u64 {
        self.replies_queued
    }

    /// `response_obj_bytes`: the bytes of the reply buffers held.
    pub fn response_obj_bytes(&self) -> u64 {
        self.reply_bytes_held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Transport;

    const MB: u64 = 1024 * 1024;

    fn conn() -> Conn {
        Conn::new(-1, 0, Transport::Tcp, 0)
    }

    #[test]
    fn read_buffers_are_counted_held_and_free() {
        let mut p = BufPool::new(0);
        let a = p.take_rbuf().unwrap();
        let mut b = p.take_rbuf().unwrap();
        assert_eq!(p.read_buf_count(), 2);
        assert_eq!(p.read_buf_bytes(), 2 * READ_SIZE as u64);
        assert!(p.grow_rbuf(&mut b));
        assert_eq!(b.len(), 2 * READ_SIZE);
        assert_eq!(p.read_buf_bytes(), 3 * READ_SIZE as u64);
        p.give_rbuf(a);
        p.give_rbuf(b);
        assert_eq!(p.read_buf_count(), 2);
        assert_eq!(p.read_buf_bytes(), 3 * READ_SIZE as u64);
        assert_eq!(p.read_buf_bytes_free(), 3 * READ_SIZE as u64);
        // A free buffer is reused: nothing new is counted.
        let c = p.take_rbuf().unwrap();
        assert_eq!(p.read_buf_bytes(), 3 * READ_SIZE as u64);
        assert_eq!(
            p.read_buf_bytes_free(),
            3 * READ_SIZE as u64 - c.len() as u64
        );
    }

    #[test]
    fn read_buffers_stop_at_the_limit() {
        let mut p = BufPool::new(MB);
        let n = MB as usize / READ_SIZE;
        let mut held: Vec<Vec<u8>> = (0..n).map(|_| p.take_rbuf().unwrap()).collect();
        assert_eq!(p.read_buf_bytes(), MB);
        assert!(
            p.take_rbuf().is_none(),
            "a 65th 16 KiB buffer does not fit 1 MiB"
        );
        p.give_rbuf(held.pop().unwrap());
        assert_eq!(p.read_buf_bytes_free(), READ_SIZE as u64);
        let mut b = held.pop().unwrap();
        assert!(
            p.grow_rbuf(&mut b),
            "doubling fits in the room one buffer left"
        );
        assert_eq!(p.read_buf_bytes_free(), 0, "the free buffer made way");
        assert!(!p.grow_rbuf(&mut b), "doubling again does not");
        assert_eq!(b.len(), 2 * READ_SIZE);
        p.give_rbuf(b);
        assert_eq!(
            p.read_buf_bytes_free(),
            0,
            "a grown buffer is not kept under a limit"
        );
        assert!(p.take_rbuf().is_some());
    }

    #[test]
    fn free_buffers_give_way_to_held_ones_under_a_limit() {
        let mut p = BufPool::new(MB);
        let n = MB as usize / READ_SIZE;
        let held: Vec<Vec<u8>> = (0..n).map(|_| p.take_rbuf().unwrap()).collect();
        for b in held {
            p.give_rbuf(b);
        }
        assert_eq!(p.read_buf_bytes_free(), MB);
        let mut c = conn();
        p.start_reply(&mut c);
        // The reply buffer was made by dropping a free read buffer, so
        // the total stays within the limit.
        assert!(p.read_buf_bytes() <= MB);
        assert_eq!(p.response_obj_bytes(), new_reply_bytes() as u64);
        assert_eq!(p.read_buf_bytes_free(), MB - READ_SIZE as u64);
    }

    #[test]
    fn reply_buffers_are_counted_as_they_grow() {
        let mut p = BufPool::new(0);
        let mut c = conn();
        assert!(p.reply_room(&c));
        p.start_reply(&mut c);
        p.reply_queued(&mut c);
        assert_eq!(c.wbuf.capacity(), REPLY_SIZE);
        assert_eq!(p.response_obj_count(), 1);
        assert_eq!(p.response_obj_bytes(), new_reply_bytes() as u64);
        assert_eq!(p.read_buf_count(), 1);
        c.add_bytes(&[b'x'; REPLY_SIZE + 1]);
        p.sync_reply(&mut c);
        assert_eq!(p.response_obj_bytes(), reply_mem(&c) as u64);
        assert!(p.response_obj_bytes() > new_reply_bytes() as u64);
        // Starting another reply on the same connection keeps its buffer.
        p.start_reply(&mut c);
        p.reply_queued(&mut c);
        assert_eq!(p.response_obj_count(), 2);
        assert_eq!(p.read_buf_count(), 1);
        let grown = reply_mem(&c) as u64;
        // As conn::release_output does once all is written.
        c.out.clear();
        p.end_reply(&mut c);
        assert_eq!(reply_mem(&c), 0);
        assert_eq!(p.response_obj_count(), 0);
        assert_eq!(p.response_obj_bytes(), 0);
        assert_eq!(p.read_buf_bytes_free(), grown);
        assert_eq!(p.read_buf_count(), 1);
        // The next connection gets it, empty.
        let mut d = conn();
        p.start_reply(&mut d);
        assert!(d.wbuf.is_empty());
        assert_eq!(p.read_buf_bytes_free(), 0);
        assert_eq!(p.response_obj_bytes(), grown);
    }

    #[test]
    fn replies_are_refused_at_the_limit() {
        let mut p = BufPool::new(MB);
        let mut held = Vec::new();
        while let Some(b) = p.take_rbuf() {
            held.push(b);
            if p.read_buf_bytes() + READ_SIZE as u64 > MB - 2 * new_reply_bytes() as u64 {
                break;
            }
        }
        let mut c = conn();
        assert!(p.reply_room(&c));
        p.start_reply(&mut c);
        assert!(p.reply_room(&c), "room left below the limit");
        let left = (MB - p.read_buf_bytes()) as usize;
        c.wbuf.reserve_exact(c.wbuf.capacity() + left);
        assert!(!p.reply_room(&c), "growth not yet counted is seen");
        p.sync_reply(&mut c);
        assert!(p.full());
        let d = conn();
        assert!(!p.reply_room(&d), "no reply buffer for another connection");
        p.end_reply(&mut c);
        assert!(!p.full());
        assert!(p.reply_room(&d));
    }
}
