//! The stream buffer: one copy of the replication stream, shared by the
//! backlog and every attached replica.
//!
//! The stream is written once, into blocks of about `BLOCK` bytes. The
//! buffer keeps every byte some replica has still to be sent, and at least
//! the last `repl_backlog_size` bytes for replicas that come back
//! (a partial sync). Each replica is a position in it, not a copy of it,
//! so a master's memory for N replicas is the stream's, not N times it,
//! and each byte is copied from here straight into the socket.
//!
//! ```text
//!   start                                   end (= the stream's offset)
//!     |  block 0  |  block 1  |  block 2  ... |
//!          ^ replica B's position    ^ replica A's position
//!     <-- trimmed to min(end - backlog, oldest replica position)
//! ```

use std::collections::VecDeque;

/// A block's size: a new block starts once the last one is this full (a
/// record is never split, so a block can be larger).
const BLOCK: usize = 64 * 1024;
/// Emptied blocks kept for reuse (1 MiB; they go on to the change log,
/// which encodes into them).
const SPARE_BLOCKS: usize = 16;

pub struct StreamBuf {
    blocks: VecDeque<Vec<u8>>,
    /// Bytes at the front of `blocks[0]` already trimmed.
    head: usize,
    /// The stream offset of the first byte held.
    start: u64,
    /// The stream offset after the last byte held.
    end: u64,
    /// Bytes kept for partial syncs (`repl_backlog_size`).
    pub backlog: usize,
    spare: Vec<Vec<u8>>,
}

impl StreamBuf {
    pub fn new(backlog: usize) -> StreamBuf {
        StreamBuf {
            blocks: VecDeque::new(),
            head: 0,
            start: 0,
            end: 0,
            backlog,
            spare: Vec::new(),
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// The offset after the last byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Empties the buffer; the stream continues at `offset`.
    pub fn reset(&mut self, offset: u64) {
        while let Some(b) = self.blocks.pop_front() {
            self.recycle(b);
        }
        self.head = 0;
        self.start = offset;
        self.end = offset;
    }

    /// True if the buffer holds the stream from `from` to its end.
    pub fn covers(&self, from: u64) -> bool {
        from >= self.start && from <= self.end
    }

    /// Appends stream bytes written by `write` into the last block (a
    /// new one if it is full).
    #[inline]
    pub fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.blocks.back().is_none_or(|b| b.len() >= BLOCK) {
            let b = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(BLOCK));
            self.blocks.push_back(b);
        }
        let b = self.blocks.back_mut().expect("a block was just ensured");
        let before = b.len();
        write(b);
        self.end += (b.len() - before) as u64;
    }

    /// Appends a whole block of stream bytes (change records encoded as
    /// they were made), without copying them.
    pub fn adopt(&mut self, b: Vec<u8>) {
        if b.is_empty() {
            return self.recycle(b);
        }
        self.end += b.len() as u64;
        if self.blocks.is_empty() {
            self.head = 0;
        }
        self.blocks.push_back(b);
    }

    /// An emptied block, if one is kept for reuse.
    pub fn spare_block(&mut self) -> Option<Vec<u8>> {
        self.spare.pop()
    }

    /// Appends `bytes`, filling blocks to their size (a replica forwards
    /// what it reads in pieces of any length).
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.write(|b| {
                let n = bytes.len().min(BLOCK - b.len());
                b.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
            });
        }
    }

    /// Drops what is before `keep` (the oldest position a replica still
    /// needs) and not within the last `backlog` bytes.
    pub fn trim(&mut self, keep: u64) {
        let keep = keep.min(self.end.saturating_sub(self.backlog as u64));
        if keep <= self.start {
            return;
        }
        let mut drop = (keep - self.start) as usize;
        while let Some(front) = self.blocks.front() {
            let left = front.len() - self.head;
            if drop < left {
                self.head += drop;
                break;
            }
            drop -= left;
            self.head = 0;
            let b = self.blocks.pop_front().expect("front exists");
            self.recycle(b);
        }
        self.start = keep;
        if self.blocks.is_empty() {
            self.head = 0;
        }
    }

    fn recycle(&mut self, mut b: Vec<u8>) {
        // A block grown past its size by a large record is not kept.
        if self.spare.len() < SPARE_BLOCKS && b.capacity() <= 2 * BLOCK {
            b.clear();
            self.spare.push(b);
        }
    }

    /// The held stream from `from` on, as at most `iov.len()` pieces
    /// filled into `iov`; the number of pieces.
    pub fn slices_from(&self, from: u64, iov: &mut [libc::iovec]) -> usize {
        debug_assert!(self.covers(from));
        let mut skip = (from - self.start) as usize + self.head;
        let mut n = 0;
        for b in &self.blocks {
            if n == iov.len() {
                break;
            }
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            let piece = &b[skip..];
            skip = 0;
            iov[n] = libc::iovec {
                iov_base: piece.as_ptr() as *mut libc::c_void,
                iov_len: piece.len(),
            };
            n += 1;
        }
        n
    }

    /// A copy of the stream from `from` to the end (tests).
    #[cfg(test)]
    fn copy_from(&self, from: u64) -> Vec<u8> {
        let mut iov = vec![
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0
            };
            self.blocks.len()
        ];
        let n = self.slices_from(from, &mut iov);
        let mut out = Vec::new();
        for v in &iov[..n] {
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn keeps_the_backlog_and_what_replicas_need() {
        let data = stream(300_000);
        let mut b = StreamBuf::new(10_000);
        b.reset(1000);
        for piece in data.chunks(7_000) {
            b.push(piece);
        }
        assert_eq!(b.end(), 301_000);
        assert_eq!(b.len(), 300_000);
        assert_eq!(b.copy_from(1000), data);
        // A replica at 150,000 pins the stream from there.
        b.trim(150_000);
        assert!(!b.covers(149_999));
        assert!(b.covers(150_000));
        assert_eq!(b.copy_from(150_000), &data[149_000..]);
        assert_eq!(b.copy_from(200_123), &data[199_123..]);
        // No replica: the backlog only.
        b.trim(u64::MAX);
        assert_eq!(b.len(), 10_000);
        assert!(b.covers(291_000) && !b.covers(290_999));
        assert_eq!(b.copy_from(291_000), &data[290_000..]);
        assert_eq!(b.copy_from(301_000), b"");
        // Trimming never goes back.
        b.trim(0);
        assert_eq!(b.len(), 10_000);
    }

    #[test]
    fn no_backlog_and_no_replica_keeps_nothing() {
        let mut b = StreamBuf::new(0);
        b.push(b"rep_ping\r\n");
        b.trim(u64::MAX);
        assert_eq!(b.len(), 0);
        assert!(b.covers(10) && !b.covers(9));
        b.push(b"rep_ping\r\n");
        assert_eq!(b.copy_from(10), b"rep_ping\r\n");
        b.reset(5);
        assert_eq!((b.len(), b.end()), (0, 5));
    }

    #[test]
    fn a_record_is_never_split_and_raw_bytes_fill_blocks() {
        let mut b = StreamBuf::new(1 << 30);
        b.push(&vec![1u8; BLOCK - 1]);
        b.write(|v| v.extend_from_slice(&[2u8; 10]));
        b.write(|v| v.extend_from_slice(&[3u8; 5]));
        assert_eq!(b.blocks.len(), 2);
        assert_eq!(b.blocks[0].len(), BLOCK + 9);
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 1];
        assert_eq!(b.slices_from(BLOCK as u64 + 9, &mut iov), 1);
        assert_eq!(iov[0].iov_len, 5);
        // Forwarded bytes fill the last block, then new ones.
        b.push(&vec![4u8; 2 * BLOCK]);
        let sizes: Vec<usize> = b.blocks.iter().map(|v| v.len()).collect();
        assert_eq!(sizes, vec![BLOCK + 9, BLOCK, BLOCK, 5]);
        assert_eq!(b.len(), 3 * BLOCK + 14);
    }
}
