//! MASTER side: the replicas attached to this server ("feeds").
//!
//! A client that sends `rep_sync` leaves the connection table and becomes
//! a feed: from then on this file writes to its socket and reads its
//! `rep_ack` lines. A feed whose replication id and offset the backlog
//! covers gets `REP_CONTINUE` and the stream from there; any other gets a
//! full sync: a forked child writes the cache to a snapshot file in the
//! dump format while the loop goes on, the changes made meanwhile wait in
//! the feed's buffer, and once the child is done the loop sends
//! `REP_FULLSYNC <replid> <offset> <bytes>`, the file in pieces as the
//! socket takes them, then the waiting stream. Every feed that asks while
//! a snapshot is being made shares it.
//!
//! The stream itself is held once, in `Repl::buf` (buffer.rs): a feed is
//! a position in it, and its bytes go from there straight to the socket.
//! What a feed has still to be sent is bounded (`repl_buffer_limit`); a
//! replica that falls further behind is dropped and will resync. A feed
//! silent for `repl_timeout` is dropped too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::RawFd;

use super::{Repl, TOKEN_FEED_BASE};
use crate::child::{self, Child};
use crate::conn::{ConnState, OutMark};
use crate::event::Interest;
use crate::server::{Core, Server};
use crate::sys;

/// Bytes of snapshot file read into a feed's buffer at a time.
const SNAPSHOT_PIECE: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedState {
    /// Waiting for the snapshot child.
    WaitSnapshot,
    /// Sending the snapshot file.
    SendSnapshot,
    /// Receiving the live stream.
    Online,
}

struct Feed {
    fd: RawFd,
    addr: String,
    /// The replica's own address (`repl_self`, as it announced it in
    /// `rep_sync`), else `addr`: the name it is known by in `known`.
    id: String,
    /// Its priority (0: never to be master, so not an electable peer).
    priority: u32,
    state: FeedState,
    /// Bytes to send before any more of the stream, from `out_pos` on:
    /// the answer to `rep_sync`, a piece of snapshot, a keepalive.
    out: Vec<u8>,
    out_pos: usize,
    /// The stream offset it is sent from next (None: it waits for a
    /// snapshot not started yet). The stream buffer keeps everything
    /// from here on.
    sent: Option<u64>,
    /// Whether the loop watches its socket for room to write.
    want_write: bool,
    /// It attached while a snapshot was being made and the backlog no
    /// longer held the stream since that snapshot's offset: it waits for
    /// the next one.
    next_snapshot: bool,
    snapshot: Option<(File, u64)>,
    /// The offset the replica has acknowledged.
    ack: u64,
    last_heard_ms: u64,
    rbuf: Vec<u8>,
}

impl Feed {
    /// Bytes waiting to be sent to it, `end` being the stream's end.
    fn buffered(&self, end: u64) -> usize {
        self.out.len() - self.out_pos + self.sent.map_or(0, |s| (end - s) as usize)
    }

    /// The memory held for it alone: its own bytes, and the stream it has
    /// yet to be sent past what the backlog (`backlog` bytes) keeps for
    /// everyone anyway. A replica behind by less than the backlog costs
    /// nothing, so one that resumed from the backlog is never dropped
    /// for being where the backlog let it resume.
    fn held(&self, end: u64, backlog: usize) -> usize {
        let stream = self.sent.map_or(0, |s| (end - s) as usize);
        self.out.len() - self.out_pos + stream.saturating_sub(backlog)
    }
}

/// The snapshot child and the offset its snapshot stands at.
struct SnapshotChild {
    child: Option<Child>,
    path: String,
    offset: u64,
}

/// A connection in `rep_wait`, or holding a write's reply under an ack
/// policy.
struct Waiter {
    token: usize,
    /// The stream offset its writes end at.
    target: u64,
    /// `rep_wait`: the replicas it waits for. A held write asks the ack
    /// policy each time instead, as replicas come and go.
    want: u64,
    /// Monotonic ms when it gives up (None: never).
    deadline: Option<u64>,
    /// A held write: where its reply starts in the connection's output,
    /// replaced by an error if the deadline passes first.
    hold: Option<OutMark>,
}

/// memcachedb's ack policies (`rep_set_ack_policy`, `repl_ack_policy`).
pub const ACK_ALL: u32 = 1;
pub const ACK_ALL_PEERS: u32 = 2;
pub const ACK_NONE: u32 = 3;
pub const ACK_ONE: u32 = 4;
pub const ACK_ONE_PEER: u32 = 5;
pub const ACK_QUORUM: u32 = 6;

/// A replica this master has served since it became a master: the group
/// the ack policies count, whether it is connected now or not.
struct Known {
    id: String,
    priority: u32,
}

/// The feeds of this server.
#[derive(Default)]
pub struct Feeds {
    feeds: slab::Slab<Feed>,
    child: Option<SnapshotChild>,
    waiters: Vec<Waiter>,
    known: Vec<Known>,
    /// Connections that asked for a sync this turn.
    pub handoffs: Vec<Handoff>,
}

/// A `rep_sync` request: the connection, the replication id and offset
/// the replica asks from, and its own address and priority if it gave
/// them.
pub struct Handoff {
    pub token: usize,
    pub replid: String,
    pub offset: i64,
    pub id: Option<String>,
    pub priority: u32,
}

impl Feeds {
    /// Replicas online (receiving the live stream).
    pub fn online(&self) -> usize {
        self.feeds
            .iter()
            .filter(|(_, f)| f.state == FeedState::Online)
            .count()
    }

    /// Replicas that have acknowledged the stream up to `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.acked_by(offset, false)
    }

    /// As `acked`, counting only electable peers (priority above 0) if
    /// `peers`.
    fn acked_by(&self, offset: u64, peers: bool) -> usize {
        self.feeds
            .iter()
            .filter(|(_, f)| {
                f.state == FeedState::Online && f.ack >= offset && (!peers || f.priority > 0)
            })
            .count()
    }

    /// Replicas known to this master (connected or not), and how many of
    /// them are electable peers.
    pub fn known(&self) -> (usize, usize) {
        let peers = self.known.iter().filter(|k| k.priority > 0).count();
        (self.known.len(), peers)
    }

    /// Whether `policy` is met for the stream up to `offset`: the
    /// acknowledgements it needs and whether they have come. `sites`, if
    /// not 0, is the group's size, master included (`repl_sites`).
    pub fn policy_met(&self, policy: u32, sites: u32, offset: u64) -> bool {
        let (all, peers) = self.known();
        // The replicas a majority needs besides the master.
        let others = match sites {
            0 => peers,
            n => n as usize - 1,
        };
        let (need, peers_only) = match policy {
            ACK_ALL => (all, false),
            ACK_ALL_PEERS => (peers, true),
            ACK_ONE => (1, false),
            ACK_ONE_PEER => (1, true),
            // A majority of the group, the master included.
            ACK_QUORUM => (others.div_ceil(2), true),
            _ => (0, false),
        };
        need == 0 || self.acked_by(offset, peers_only) >= need
    }

    /// Forgets the replicas known so far (this server stops being a
    /// master, or starts a new group).
    pub fn forget_known(&mut self) {
        self.known.clear();
    }

    /// Forgets the known replica `id` (`rep_forget`); false if unknown.
    pub fn forget(&mut self, id: &str) -> bool {
        let before = self.known.len();
        self.known.retain(|k| k.id != id);
        self.known.len() != before
    }

    /// One line per known replica for `stats replication`.
    fn append_known(&self, out: &mut Vec<u8>) {
        for (i, k) in self.known.iter().enumerate() {
            let connected = self.feeds.iter().any(|(_, f)| f.id == k.id);
            let v = format!(
                "id={},priority={},connected={}",
                k.id,
                k.priority,
                if connected { "yes" } else { "no" }
            );
            crate::stats::append_stat(out, &format!("known{}", i), v);
        }
    }

    /// Connection `token` waits until `want` replicas acknowledge
    /// `target`, or `timeout_ms` passes (0: no timeout).
    pub fn wait_for(&mut self, token: usize, target: u64, want: u64, timeout_ms: u64) {
        let deadline = (timeout_ms > 0).then(|| crate::event::monotonic_ms() + timeout_ms);
        self.waiters.push(Waiter {
            token,
            target,
            want,
            deadline,
            hold: None,
        });
    }

    /// Drops connection `token`'s waiter (it is closing).
    pub fn forget_waiter(&mut self, token: usize) {
        if !self.waiters.is_empty() {
            self.waiters.retain(|w| w.token != token);
        }
    }

    /// Milliseconds until the next `rep_wait` gives up, if one waits.
    pub fn next_deadline_ms(&self, now_ms: u64) -> Option<u64> {
        self.waiters
            .iter()
            .filter_map(|w| w.deadline)
            .min()
            .map(|d| d.saturating_sub(now_ms))
    }

    /// Stream bytes waiting to be sent, over every replica.
    pub fn queued(&self, end: u64) -> usize {
        self.feeds.iter().map(|(_, f)| f.buffered(end)).sum()
    }

    /// The memcachedb-style site lines of `stats repms` for the known
    /// replicas, numbered from `first`.
    pub fn site_lines(&self, first: usize, out: &mut Vec<u8>) {
        for (i, k) in self.known.iter().enumerate() {
            let connected = self.feeds.iter().any(|(_, f)| f.id == k.id);
            let v = format!(
                "{}/CLIENT/{}",
                k.id,
                if connected {
                    "CONNECTED"
                } else {
                    "DISCONNECTED"
                }
            );
            crate::stats::append_stat(out, &format!("site-{:02}", first + i), v);
        }
    }

    /// True if any replica is attached.
    pub fn any(&self) -> bool {
        !self.feeds.is_empty()
    }

    /// One line per replica: `replicaN:addr=...,state=...,ack=...,lag=...`.
    pub fn append_stats(&self, offset: u64, out: &mut Vec<u8>) {
        for (i, (_, f)) in self.feeds.iter().enumerate() {
            let state = match f.state {
                FeedState::WaitSnapshot => "wait_snapshot",
                FeedState::SendSnapshot => "send_snapshot",
                FeedState::Online => "online",
            };
            let v = format!(
                "addr={},id={},priority={},state={},ack={},lag={}",
                f.addr,
                f.id,
                f.priority,
                state,
                f.ack,
                offset.saturating_sub(f.ack)
            );
            crate::stats::append_stat(out, &format!("replica{}", i), v);
        }
        self.append_known(out);
    }
}

/// The indexes of the feeds `keep` selects (to act on them one by one,
/// as acting may close a feed).
fn feed_ids(core: &Core, keep: impl Fn(&Feed) -> bool) -> Vec<usize> {
    core.repl
        .master
        .feeds
        .iter()
        .filter(|(_, f)| keep(f))
        .map(|(i, _)| i)
        .collect()
}

/// Takes the connections that sent `rep_sync` this turn out of the
/// connection table and attaches them as feeds.
pub fn take_handoffs(server: &mut Server) {
    let hs = std::mem::take(&mut server.core.repl.master.handoffs);
    for h in hs {
        let Some((fd, peer)) = crate::conn::hand_over(server, h.token) else {
            continue;
        };
        let addr = peer
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unix".to_string());
        attach(&mut server.core, fd, addr, h);
    }
}

/// Adds replica `id` to the group the ack policies count, or updates its
/// priority. A feed of the same replica still attached (its old link,
/// not yet found dead) is closed: one replica, one acknowledgement.
fn know(core: &mut Core, id: &str, priority: u32) {
    let m = &mut core.repl.master;
    match m.known.iter_mut().find(|k| k.id == id) {
        Some(k) => k.priority = priority,
        None => m.known.push(Known {
            id: id.to_string(),
            priority,
        }),
    }
    for i in feed_ids(core, |f| f.id == id) {
        close_feed(core, i, "replaced by its new link");
    }
}

fn attach(core: &mut Core, fd: RawFd, addr: String, h: Handoff) {
    let (replid, offset) = (h.replid.as_str(), h.offset);
    let id = h.id.unwrap_or_else(|| addr.clone());
    know(core, &id, h.priority);
    // A master keeps records from its first replica on: the backlog fills
    // from here (Redis makes its backlog at the same moment). A replica
    // forwards its master's stream instead (replica.rs).
    if !core.repl.is_replica() {
        core.cache.listen_changes(true);
    }
    let now = crate::event::monotonic_ms();
    let mut feed = Feed {
        fd,
        addr,
        id,
        priority: h.priority,
        state: FeedState::WaitSnapshot,
        out: Vec::new(),
        out_pos: 0,
        sent: None,
        want_write: false,
        next_snapshot: false,
        snapshot: None,
        ack: 0,
        last_heard_ms: now,
        rbuf: Vec::new(),
    };
    let r = &mut core.repl;
    match r.same_history(replid, offset) && r.buf.covers(offset as u64) {
        true => {
            log::info!(
                "replica {} continues at offset {} ({} bytes from the backlog)",
                feed.addr,
                offset,
                r.offset - offset as u64
            );
            r.stats.sync_partial_ok += 1;
            feed.out = format!("REP_CONTINUE {} {}\r\n", r.replid, offset).into_bytes();
            feed.sent = Some(offset as u64);
            feed.state = FeedState::Online;
            feed.ack = offset as u64;
        }
        false => {
            if replid != "?" {
                r.stats.sync_partial_err += 1;
            }
            r.stats.sync_full += 1;
            log::info!("replica {} needs a full sync", feed.addr);
            // A snapshot already being made stands at an older offset:
            // this replica shares it if the backlog still holds the
            // stream since then, else it waits for the next one.
            if let Some(child) = &r.master.child {
                match r.buf.covers(child.offset) {
                    true => feed.sent = Some(child.offset),
                    false => feed.next_snapshot = true,
                }
            }
        }
    }
    let online = feed.state == FeedState::Online;
    let idx = core.repl.master.feeds.insert(feed);
    let fd = core.repl.master.feeds[idx].fd;
    let _ = core
        .ev
        .add(fd, TOKEN_FEED_BASE + idx as u64, Interest::Read);
    if online {
        flush(core, idx);
    } else if core.repl.master.child.is_none() {
        start_snapshot(core);
    }
}

/// Forks the child that writes the snapshot file. Feeds waiting for a
/// snapshot get it when the child is done (`reap`).
fn start_snapshot(core: &mut Core) {
    let path = std::env::temp_dir()
        .join(format!(
            "memcached-repl-{}-{}.snapshot",
            sys::getpid(),
            core.repl.offset
        ))
        .to_string_lossy()
        .into_owned();
    core.cache.tick();
    let position = core.repl.position();
    let cache = &core.cache;
    // A scratch file read back at once: no fsync, no rename (the dump's
    // write_file keeps those for the -F file, which must survive a crash).
    let spawned = child::spawn(|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {}", path, e))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let (mut out, t) = crate::dump::snapshot::write_cache(cache, position, out)
            .map_err(|e| format!("{}: {}", path, e))?;
        out.flush().map_err(|e| format!("{}: {}", path, e))?;
        Ok(format!("{} {}", t.records, t.file_bytes))
    });
    let c = match spawned {
        Ok(c) => c,
        Err(e) => {
            log::warn!("replication snapshot: {}", e);
            drop_waiting(core);
            return;
        }
    };
    core.repl.stats.latest_fork_usec = c.fork_us;
    log::info!(
        "replication snapshot at offset {} started (child {}, fork took {} us)",
        core.repl.offset,
        c.pid,
        c.fork_us
    );
    // The feeds waiting for it are sent the stream from its offset on.
    let offset = core.repl.offset;
    for (_, f) in core.repl.master.feeds.iter_mut() {
        if f.state == FeedState::WaitSnapshot && !f.next_snapshot && f.sent.is_none() {
            f.sent = Some(offset);
        }
    }
    core.repl.master.child = Some(SnapshotChild {
        child: Some(c),
        path,
        offset,
    });
}

/// The feeds waiting for the snapshot being made.
fn waiting_for_snapshot(core: &Core) -> Vec<usize> {
    feed_ids(core, |f| {
        f.state == FeedState::WaitSnapshot && !f.next_snapshot
    })
}

/// After a snapshot: the feeds that waited for the next one get one.
fn start_next_snapshot(core: &mut Core) {
    let mut any = false;
    for (_, f) in core.repl.master.feeds.iter_mut() {
        if f.next_snapshot {
            f.next_snapshot = false;
            f.sent = None;
            any = true;
        }
    }
    if any && core.repl.master.child.is_none() {
        start_snapshot(core);
    }
}

/// Drops every feed waiting for a snapshot (the snapshot failed); they
/// reconnect and ask again.
fn drop_waiting(core: &mut Core) {
    let ids = feed_ids(core, |f| f.state == FeedState::WaitSnapshot);
    for i in ids {
        close_feed(core, i, "no snapshot");
    }
}

/// SIGCHLD: if the snapshot child ended, hands its file to the feeds that
/// wait for it.
pub fn reap(core: &mut Core) {
    let Some(snap) = core.repl.master.child.as_mut() else {
        return;
    };
    let ended = match child::reap(&mut snap.child) {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(e) => {
            log::warn!("waitpid on the replication snapshot child: {}", e);
            return;
        }
    };
    let child = core.repl.master.child.take().expect("checked above");
    let ms = ended.duration_us / 1000;
    if let Err(e) = ended.outcome("replication snapshot") {
        log::warn!("replication snapshot failed: {}", e);
        let _ = std::fs::remove_file(&child.path);
        drop_waiting(core);
        return;
    }
    let ids = waiting_for_snapshot(core);
    let replid = core.repl.replid.clone();
    for i in ids {
        let opened = File::open(&child.path).and_then(|f| {
            let len = f.metadata()?.len();
            Ok((f, len))
        });
        match opened {
            Ok((file, len)) => {
                let f = &mut core.repl.master.feeds[i];
                f.out =
                    format!("REP_FULLSYNC {} {} {}\r\n", replid, child.offset, len).into_bytes();
                f.out_pos = 0;
                f.snapshot = Some((file, len));
                f.state = FeedState::SendSnapshot;
                log::info!(
                    "replica {}: sending a snapshot of {} bytes (made in {} ms)",
                    f.addr,
                    len,
                    ms
                );
                flush(core, i);
            }
            Err(e) => {
                log::warn!("replication snapshot {}: {}", child.path, e);
                close_feed(core, i, "snapshot unreadable");
            }
        }
    }
    // Open files keep the data; the name goes now.
    let _ = std::fs::remove_file(&child.path);
    start_next_snapshot(core);
}

/// The loop saw feed `idx`'s socket ready.
pub fn on_event(server: &mut Server, idx: usize) {
    let core = &mut server.core;
    if !core.repl.master.feeds.contains(idx) {
        return;
    }
    read_acks(core, idx);
    if core.repl.master.feeds.contains(idx) {
        flush(core, idx);
    }
}

/// Reads what the replica sent: `rep_ack <offset>` lines.
fn read_acks(core: &mut Core, idx: usize) {
    // Acknowledgements are short lines: a small buffer, read until empty.
    let mut buf = [0u8; 256];
    let f = &mut core.repl.master.feeds[idx];
    loop {
        match sys::read(f.fd, &mut buf) {
            Ok(0) => return close_feed(core, idx, "closed by the replica"),
            Ok(n) => {
                f.rbuf.extend_from_slice(&buf[..n]);
                f.last_heard_ms = crate::event::monotonic_ms();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return close_feed(core, idx, "read error"),
        }
    }
    while let Some(nl) = memchr::memchr(b'\n', &f.rbuf) {
        let line: Vec<u8> = f.rbuf.drain(..=nl).collect();
        let line = String::from_utf8_lossy(&line);
        let mut t = line.split_whitespace();
        if let (Some("rep_ack"), Some(v)) = (t.next(), t.next()) {
            if let Ok(v) = v.parse::<u64>() {
                f.ack = f.ack.max(v);
            }
        }
    }
    if f.rbuf.len() > 4096 {
        close_feed(core, idx, "garbage from the replica");
    }
}

/// Pieces of stream written to a socket in one call.
const IOV_PIECES: usize = 16;

/// Writes what feed `idx` has to be sent: its own bytes, refilled from
/// its snapshot file while it gets one, then the stream from its position.
fn flush(core: &mut Core, idx: usize) {
    loop {
        let r = &mut core.repl;
        let f = &mut r.master.feeds[idx];
        let written = if f.out_pos < f.out.len() {
            sys::write(f.fd, &f.out[f.out_pos..]).map(|n| f.out_pos += n)
        } else if f.state == FeedState::SendSnapshot {
            f.out.clear();
            f.out_pos = 0;
            let (file, left) = f.snapshot.as_mut().expect("sending a snapshot");
            if *left > 0 {
                let want = (*left as usize).min(SNAPSHOT_PIECE);
                f.out.resize(want, 0);
                match file.read_exact(&mut f.out) {
                    Ok(()) => *left -= want as u64,
                    Err(_) => return close_feed(core, idx, "snapshot read error"),
                }
            } else {
                f.snapshot = None;
                f.state = FeedState::Online;
                let held = r.offset - f.sent.expect("a feed getting a snapshot has a position");
                let peak = &mut r.stats.sync_buffer_peak;
                *peak = (*peak).max(held);
                log::info!("replica {} is online", f.addr);
            }
            continue;
        } else if let Some(sent) = f
            .sent
            .filter(|&s| f.state == FeedState::Online && s < r.offset)
        {
            let mut iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; IOV_PIECES];
            let n = r.buf.slices_from(sent, &mut iov);
            sys::writev(f.fd, &iov[..n]).map(|n| f.sent = Some(sent + n as u64))
        } else {
            f.out.clear();
            f.out_pos = 0;
            return watch_write(core, idx, false);
        };
        match written {
            Ok(_) => {}
            // Still reading: a replica that is slow to take the stream
            // goes on acknowledging what it applied.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return watch_write(core, idx, true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return close_feed(core, idx, "write error"),
        }
    }
}

/// Has the loop watch feed `idx` for room to write, or stop watching.
fn watch_write(core: &mut Core, idx: usize, on: bool) {
    let f = &mut core.repl.master.feeds[idx];
    if f.want_write != on {
        f.want_write = on;
        let interest = if on {
            Interest::ReadWrite
        } else {
            Interest::Read
        };
        let _ = core.ev.modify(f.fd, TOKEN_FEED_BASE + idx as u64, interest);
    }
}

fn close_feed(core: &mut Core, idx: usize, why: &str) {
    let f = core.repl.master.feeds.remove(idx);
    core.ev.del(f.fd);
    sys::close(f.fd);
    log::info!("replica {} detached: {}", f.addr, why);
}

/// After a batch: sends each feed what the batch added, drops the
/// replicas that fell too far behind, and lets the stream buffer go of
/// what no feed needs and the backlog does not keep.
pub fn after_batch(core: &mut Core) {
    let ids = feed_ids(core, |_| true);
    let end = core.repl.offset;
    let backlog = core.repl.buf.backlog;
    for i in ids {
        let f = &core.repl.master.feeds[i];
        if f.held(end, backlog) > core.repl.buffer_limit {
            core.repl.stats.replicas_dropped += 1;
            close_feed(core, i, "too far behind");
            continue;
        }
        if f.state == FeedState::Online
            && (f.out_pos < f.out.len() || f.sent.is_some_and(|s| s < end))
        {
            flush(core, i);
        }
    }
    let r = &mut core.repl;
    let oldest = r.master.feeds.iter().filter_map(|(_, f)| f.sent).min();
    r.buf.trim(oldest.unwrap_or(u64::MAX));
}

/// Once a second: a ping into the stream (it keeps an idle link alive
/// and moves the offset, as Redis's does) on a master, and silent
/// replicas dropped.
pub fn on_timer(core: &mut Core, now_ms: u64) {
    reap(core);
    if !core.repl.master.any() {
        return;
    }
    // A replica waiting for its snapshot hears a blank line each second
    // (outside the stream, as Redis's newline): a snapshot slower than
    // repl_timeout does not look like a dead link.
    let waiting = feed_ids(core, |f| f.state == FeedState::WaitSnapshot);
    for i in waiting {
        core.repl.master.feeds[i].out.extend_from_slice(b"\n");
        flush(core, i);
    }
    // A replica forwards its master's pings; its own would make its
    // offsets differ from the master's.
    if !core.repl.is_replica() {
        core.repl.feed(b"rep_ping\r\n");
    }
    let timeout = core.repl.timeout_ms;
    let silent = feed_ids(core, |f| {
        f.state == FeedState::Online && now_ms.saturating_sub(f.last_heard_ms) > timeout
    });
    for i in silent {
        core.repl.stats.replicas_dropped += 1;
        close_feed(core, i, "timed out");
    }
    after_batch(core);
}

/// The batch's change records, written into the stream.
pub fn stream_changes(core: &mut Core) {
    if core.cache.changes().is_empty() {
        return;
    }
    let r: &mut Repl = &mut core.repl;
    let log = core.cache.changes_mut();
    let (n, blocks) = log.take_encoded();
    for b in blocks {
        r.buf.adopt(b);
    }
    r.stats.records_sent += n as u64;
    // The server sets the stream's encoder at start (server.rs), so the
    // log keeps no record of its own.
    debug_assert_eq!(log.iter().count(), 0);
    while log.wants_block() {
        match r.buf.spare_block() {
            Some(b) => log.give_block(b),
            None => break,
        }
    }
    r.offset = r.buf.end();
    core.cache.clear_changes();
    after_batch(core);
}

/// Under an ack policy, after a command of connection `token` wrote:
/// puts the write into the stream and, unless the policy is met already,
/// holds the connection (its reply from `mark` on, and everything after
/// it) until the replicas acknowledge or `repl_ack_timeout` passes.
/// True if the connection must wait.
pub fn hold_write(core: &mut Core, token: usize, mark: OutMark) -> bool {
    stream_changes(core);
    let r = &mut core.repl;
    let target = r.offset;
    if r.master.policy_met(r.ack_policy, r.sites, target) {
        return false;
    }
    let timeout_ms = (r.ack_timeout as u64).div_ceil(1000);
    let deadline = (timeout_ms > 0).then(|| crate::event::monotonic_ms() + timeout_ms);
    r.master.waiters.push(Waiter {
        token,
        target,
        want: 0,
        deadline,
        hold: Some(mark),
    });
    true
}

/// Lets go the connections waiting on replicas whose acknowledgements
/// have come or whose timeout has passed: a `rep_wait` gets its count, a
/// held write its reply (or, timed out, an error in its place).
pub fn release_waiters(server: &mut Server) {
    if server.core.repl.master.waiters.is_empty() {
        return;
    }
    let now = crate::event::monotonic_ms();
    let waiters = std::mem::take(&mut server.core.repl.master.waiters);
    for w in waiters {
        let core = &mut server.core;
        let met = match w.hold {
            Some(_) => core
                .repl
                .master
                .policy_met(core.repl.ack_policy, core.repl.sites, w.target),
            None => core.repl.master.acked(w.target) as u64 >= w.want,
        };
        let late = w.deadline.is_some_and(|d| now >= d);
        let Some(c) = server.conns.get_mut(w.token) else {
            continue;
        };
        if c.state != ConnState::WaitAck {
            continue;
        }
        if !met && !late {
            core.repl.master.waiters.push(w);
            continue;
        }
        match w.hold {
            None => c.out_string(&core.repl.master.acked(w.target).to_string()),
            Some(_) if met => {}
            Some(mark) => {
                core.repl.stats.ack_timeouts += 1;
                c.rollback(mark, &mut core.cache);
                let msg = "replicas did not acknowledge the write in time";
                if c.binary {
                    crate::proto_bin::write_tmpfail(c, msg);
                } else {
                    c.out_errstring(&format!("SERVER_ERROR {}", msg));
                }
            }
        }
        c.set_state(ConnState::NewCmd);
        core.ready.push(w.token);
    }
}

/// Closes every replica's link so each reconnects and continues under
/// this server's new replication id (its known replicas stay known).
pub fn reconnect_all(core: &mut Core) {
    let ids = feed_ids(core, |_| true);
    for i in ids {
        close_feed(core, i, "a new replication id");
    }
}

/// Detaches every replica (this server stops being a master).
pub fn detach_all(core: &mut Core) {
    let ids = feed_ids(core, |_| true);
    for i in ids {
        close_feed(core, i, "this server is now a replica");
    }
    core.repl.master.forget_known();
}
