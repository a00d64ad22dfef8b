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
//! A feed's buffered bytes are bounded (`FEED_MAX_BUFFER`); a replica that
//! falls further behind is dropped and will resync. A feed silent for
//! `repl_timeout` is dropped too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::RawFd;

use super::{stream, Repl, TOKEN_FEED_BASE};
use crate::child::{self, Child};
use crate::event::Interest;
use crate::server::{Core, Server};
use crate::sys;

/// A replica whose buffered stream passes this many bytes is dropped.
const FEED_MAX_BUFFER: usize = 256 * 1024 * 1024;
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
    state: FeedState,
    /// Bytes to send, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// Stream made while the snapshot is prepared or sent.
    pending: Vec<u8>,
    snapshot: Option<(File, u64)>,
    /// The offset the replica has acknowledged.
    ack: u64,
    last_heard_ms: u64,
    rbuf: Vec<u8>,
}

impl Feed {
    fn buffered(&self) -> usize {
        self.out.len() - self.out_pos + self.pending.len()
    }
}

/// The snapshot child and the offset its snapshot stands at.
struct SnapshotChild {
    child: Option<Child>,
    path: String,
    offset: u64,
}

/// A connection in `rep_wait`.
struct Waiter {
    token: usize,
    /// The stream offset its writes end at.
    target: u64,
    /// Replicas it waits for.
    want: u64,
    /// Monotonic ms when it gives up (None: never).
    deadline: Option<u64>,
}

/// The feeds of this server.
#[derive(Default)]
pub struct Feeds {
    feeds: slab::Slab<Feed>,
    child: Option<SnapshotChild>,
    waiters: Vec<Waiter>,
    /// Connections that asked for a sync this turn: (token, replid, offset).
    pub handoffs: Vec<(usize, String, i64)>,
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
        self.feeds
            .iter()
            .filter(|(_, f)| f.state == FeedState::Online && f.ack >= offset)
            .count()
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
        });
    }

    /// Milliseconds until the next `rep_wait` gives up, if one waits.
    pub fn next_deadline_ms(&self, now_ms: u64) -> Option<u64> {
        self.waiters
            .iter()
            .filter_map(|w| w.deadline)
            .min()
            .map(|d| d.saturating_sub(now_ms))
    }

    /// True if any replica is attached.
    pub fn any(&self) -> bool {
        !self.feeds.is_empty()
    }

    /// Queues stream bytes for every feed.
    pub fn append(&mut self, bytes: &[u8]) {
        for (_, f) in self.feeds.iter_mut() {
            if f.state == FeedState::Online {
                f.out.extend_from_slice(bytes);
            } else {
                f.pending.extend_from_slice(bytes);
            }
        }
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
                "addr={},state={},ack={},lag={}",
                f.addr,
                state,
                f.ack,
                offset.saturating_sub(f.ack)
            );
            crate::stats::append_stat(out, &format!("replica{}", i), v);
        }
    }
}

/// Takes the connections that sent `rep_sync` this turn out of the
/// connection table and attaches them as feeds.
pub fn take_handoffs(server: &mut Server) {
    let hs = std::mem::take(&mut server.core.repl.master.handoffs);
    for (token, replid, offset) in hs {
        let Some((fd, peer)) = crate::conn::hand_over(server, token) else {
            continue;
        };
        let addr = peer
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unix".to_string());
        attach(&mut server.core, fd, addr, &replid, offset);
    }
}

fn attach(core: &mut Core, fd: RawFd, addr: String, replid: &str, offset: i64) {
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
        state: FeedState::WaitSnapshot,
        out: Vec::new(),
        out_pos: 0,
        pending: Vec::new(),
        snapshot: None,
        ack: 0,
        last_heard_ms: now,
        rbuf: Vec::new(),
    };
    let r = &mut core.repl;
    let partial = (replid == r.replid && offset >= 0)
        .then(|| r.backlog.since(offset as u64, r.offset))
        .flatten();
    match partial {
        Some(bytes) => {
            log::info!(
                "replica {} continues at offset {} ({} bytes from the backlog)",
                feed.addr,
                offset,
                bytes.len()
            );
            r.stats.sync_partial_ok += 1;
            feed.out = format!("REP_CONTINUE {} {}\r\n", r.replid, offset).into_bytes();
            feed.out.extend_from_slice(&bytes);
            feed.state = FeedState::Online;
            feed.ack = offset as u64;
        }
        None => {
            if replid != "?" {
                r.stats.sync_partial_err += 1;
            }
            r.stats.sync_full += 1;
            log::info!("replica {} needs a full sync", feed.addr);
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
        let (mut out, t) = crate::dump::snapshot::write_cache(cache, out)
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
    core.repl.master.child = Some(SnapshotChild {
        child: Some(c),
        path,
        offset: core.repl.offset,
    });
}

/// The feeds waiting for the snapshot being made.
fn waiting_for_snapshot(core: &Core) -> Vec<usize> {
    core.repl
        .master
        .feeds
        .iter()
        .filter(|(_, f)| f.state == FeedState::WaitSnapshot)
        .map(|(i, _)| i)
        .collect()
}

/// Drops every feed waiting for a snapshot (the snapshot failed); they
/// reconnect and ask again.
fn drop_waiting(core: &mut Core) {
    let ids = waiting_for_snapshot(core);
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
    let mut buf = [0u8; 4096];
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

/// Writes what feed `idx` has buffered, refilling from its snapshot file.
fn flush(core: &mut Core, idx: usize) {
    loop {
        let f = &mut core.repl.master.feeds[idx];
        if f.out_pos == f.out.len() {
            f.out.clear();
            f.out_pos = 0;
            if f.state == FeedState::SendSnapshot {
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
                    let held = f.pending.len() as u64;
                    let peak = &mut core.repl.stats.sync_buffer_peak;
                    *peak = (*peak).max(held);
                    f.out = std::mem::take(&mut f.pending);
                    log::info!("replica {} is online", f.addr);
                }
                continue;
            }
            let _ = core
                .ev
                .modify(f.fd, TOKEN_FEED_BASE + idx as u64, Interest::Read);
            return;
        }
        match sys::write(f.fd, &f.out[f.out_pos..]) {
            Ok(n) => f.out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = core
                    .ev
                    .modify(f.fd, TOKEN_FEED_BASE + idx as u64, Interest::Write);
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return close_feed(core, idx, "write error"),
        }
    }
}

fn close_feed(core: &mut Core, idx: usize, why: &str) {
    let f = core.repl.master.feeds.remove(idx);
    core.ev.del(f.fd);
    sys::close(f.fd);
    log::info!("replica {} detached: {}", f.addr, why);
}

/// After a batch: sends each feed what the batch added, and drops the
/// replicas that fell too far behind.
pub fn after_batch(core: &mut Core) {
    let ids: Vec<usize> = core.repl.master.feeds.iter().map(|(i, _)| i).collect();
    for i in ids {
        if core.repl.master.feeds[i].buffered() > FEED_MAX_BUFFER {
            core.repl.stats.replicas_dropped += 1;
            close_feed(core, i, "too far behind");
            continue;
        }
        let f = &core.repl.master.feeds[i];
        if f.state == FeedState::Online && f.out_pos < f.out.len() {
            flush(core, i);
        }
    }
}

/// Once a second: a ping into the stream (it keeps an idle link alive
/// and moves the offset, as Redis's does) on a master, and silent
/// replicas dropped.
pub fn on_timer(core: &mut Core, now_ms: u64) {
    reap(core);
    if !core.repl.master.any() {
        return;
    }
    // A replica forwards its master's pings; its own would make its
    // offsets differ from the master's.
    if !core.repl.is_replica() {
        core.repl.feed(b"rep_ping\r\n");
    }
    let timeout = core.repl.timeout_ms;
    let silent: Vec<usize> = core
        .repl
        .master
        .feeds
        .iter()
        .filter(|(_, f)| {
            f.state == FeedState::Online && now_ms.saturating_sub(f.last_heard_ms) > timeout
        })
        .map(|(i, _)| i)
        .collect();
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
    let mut bytes = Vec::new();
    for ch in core.cache.changes().iter() {
        stream::encode(&ch, &mut bytes);
    }
    core.cache.clear_changes();
    let r: &mut Repl = &mut core.repl;
    r.feed(&bytes);
    after_batch(core);
}

/// Answers the `rep_wait` connections whose replicas have acknowledged
/// enough, or whose timeout has passed, and lets them go on.
pub fn release_waiters(server: &mut Server) {
    if server.core.repl.master.waiters.is_empty() {
        return;
    }
    let now = crate::event::monotonic_ms();
    let waiters = std::mem::take(&mut server.core.repl.master.waiters);
    for w in waiters {
        let acked = server.core.repl.master.acked(w.target);
        let done = acked as u64 >= w.want || w.deadline.is_some_and(|d| now >= d);
        let Some(c) = server.conns.get_mut(w.token) else {
            continue;
        };
        if c.state != crate::conn::ConnState::WaitAck {
            continue;
        }
        if !done {
            server.core.repl.master.waiters.push(w);
            continue;
        }
        c.out_string(&acked.to_string());
        c.set_state(crate::conn::ConnState::NewCmd);
        server.core.ready.push(w.token);
    }
}

/// Detaches every replica (this server stops being a master).
pub fn detach_all(core: &mut Core) {
    let ids: Vec<usize> = core.repl.master.feeds.iter().map(|(i, _)| i).collect();
    for i in ids {
        close_feed(core, i, "this server is now a replica");
    }
}
