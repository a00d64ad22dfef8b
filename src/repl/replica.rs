//! REPLICA side: the link to the master.
//!
//! The link connects to the master's client port, asks `rep_sync` with
//! the replication id and offset it has (`?` and -1 the first time), and
//! then reads either `REP_CONTINUE`, after which the stream follows, or
//! `REP_FULLSYNC <replid> <offset> <bytes>` and a snapshot in the dump
//! format. The snapshot is collected whole and its checksums verified
//! before the cache is cleared and loaded from it, so a failed sync never
//! leaves the replica empty or half-loaded: until then it serves what it
//! had. Stream commands are applied through the store door; every byte
//! applied moves the offset. Once a second the link sends `rep_ack
//! <offset>`; a link silent for `repl_timeout` is dropped, and a dropped
//! link reconnects by itself, waiting longer after each failure (up to
//! 5 s).

use std::io;
use std::net::ToSocketAddrs;
use std::os::unix::io::RawFd;

use super::stream::{self, Cmd, Decoded};
use super::TOKEN_LINK;
use crate::event::{monotonic_ms, Interest};
use crate::server::{Core, Server};
use crate::sys;

/// The most a snapshot's buffer is sized for before its bytes arrive.
const SNAPSHOT_PREALLOC_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Down,
    Connecting,
    /// Waiting for the answer to `rep_sync`.
    Handshake,
    /// Receiving a snapshot.
    Snapshot,
    /// Applying the stream.
    Streaming,
}

/// The link to the master.
pub struct Link {
    /// The master, `host:port`.
    pub addr: String,
    fd: RawFd,
    state: LinkState,
    rbuf: Vec<u8>,
    out: Vec<u8>,
    /// A snapshot being received: its bytes, its size, the id and offset
    /// it stands at.
    snap: Vec<u8>,
    snap_len: usize,
    snap_at: (String, u64),
    last_heard_ms: u64,
    /// When the link last stopped streaming (or was made): how long a
    /// replica has been without its master's live stream.
    down_since_ms: u64,
    next_attempt_ms: u64,
    backoff_ms: u64,
    /// True once a first sync has given this replica its master's history.
    synced: bool,
}

impl Link {
    pub fn new(addr: String) -> Link {
        Link {
            addr,
            fd: -1,
            state: LinkState::Down,
            rbuf: Vec::new(),
            out: Vec::new(),
            snap: Vec::new(),
            snap_len: 0,
            snap_at: (String::new(), 0),
            last_heard_ms: 0,
            down_since_ms: monotonic_ms(),
            next_attempt_ms: 0,
            backoff_ms: 0,
            synced: false,
        }
    }

    /// True once this replica holds its master's history (a sync, or a
    /// dump file that says so): it asks for a partial sync.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The data loaded at start is this history's (`repl::resume`).
    pub fn mark_synced(&mut self) {
        self.synced = true;
    }

    /// `master_link_status`: up, down or sync.
    pub fn status(&self) -> &'static str {
        match self.state {
            LinkState::Streaming => "up",
            LinkState::Snapshot | LinkState::Handshake => "sync",
            LinkState::Down | LinkState::Connecting => "down",
        }
    }

    /// The link's lines of `stats replication`, after `master_link_status`:
    /// how long ago the master was last heard from (while connected), how
    /// long the live stream has been missing (while not up), and how much
    /// of a snapshot has arrived (while one does).
    pub fn append_stats(&self, out: &mut Vec<u8>) {
        use crate::stats::append_stat;
        let now = monotonic_ms();
        if !matches!(self.state, LinkState::Down | LinkState::Connecting) {
            append_stat(
                out,
                "master_last_io_ms",
                now.saturating_sub(self.last_heard_ms),
            );
        }
        if self.state != LinkState::Streaming {
            append_stat(
                out,
                "master_link_down_ms",
                now.saturating_sub(self.down_since_ms),
            );
        }
        if self.state == LinkState::Snapshot {
            append_stat(out, "master_sync_total_bytes", self.snap_len);
            append_stat(out, "master_sync_read_bytes", self.snap.len());
        }
    }
}

/// Bytes of stream a replica reads per wake-up of its link.
const READ_TURN: usize = 1024 * 1024;
/// Room made in the link's buffer for each read.
const READ_PIECE: usize = 64 * 1024;
/// A read goes into the room the link's buffer has if there is this much.
const READ_ROOM_MIN: usize = 8 * 1024;
/// Applied stream bytes from this many on, filling at least half of the
/// read buffer, become a block of the replica's own stream buffer as they
/// are (its backlog, and what its own replicas are sent): the read buffer
/// is handed over, not copied. Fewer are copied, so small reads make
/// neither small blocks nor blocks mostly empty.
const HAND_OVER_MIN: usize = 16 * 1024;
/// Stream commands decoded at a time, then applied through a pipeline
/// of prefetches: while one command is applied, the CPU already loads
/// the LRU neighbours of the item the command AHEAD after it replaces,
/// the item (header and key) of the one 2 * AHEAD after it, and the hash
/// bucket of the one 3 * AHEAD after it. Each load has had the time of
/// AHEAD commands to arrive when it is needed, and about 5 * AHEAD cache
/// lines are in flight: fewer than the CPU can track, so the prefetches
/// themselves do not wait.
const APPLY_WINDOW: usize = 64;
const AHEAD: usize = 4;

/// At start with `-o replicaof`: connects at once rather than on the
/// first timer tick. A replica never evicts (see `become_replica`).
pub fn start(core: &mut Core) {
    if core.repl.link.is_some() {
        core.cache.set_evict_to_free(false);
        connect(core);
    }
}

/// `rep_replicaof HOST PORT`: this server follows that master from now on.
/// Its own replicas are detached (they reconnect and sync again from it);
/// from now on the stream it forwards is its master's, byte for byte, not
/// its own records.
pub fn become_replica(core: &mut Core, addr: String) {
    super::master::detach_all(core);
    core.cache.listen_changes(false);
    if let Some(l) = core.repl.link.take() {
        close_link(core, l);
    }
    log::info!("replica of {}", addr);
    core.repl.stats.master_changes += 1;
    // A replica holds what its master holds: it never evicts by its own
    // choice (an item that does not fit is left out, and logged).
    core.cache.set_evict_to_free(false);
    // It asks to continue its own history (the new master may share it:
    // a sibling promoted, or its own former replica); a master that does
    // not know it answers with a full sync.
    let mut link = Link::new(addr);
    link.mark_synced();
    core.repl.link = Some(link);
    connect(core);
}

/// `rep_replicaof no one`: this server is a master again. Its data goes
/// on at the same offset under a new replication id, the old one kept
/// as `replid2` up to that offset (see below).
pub fn become_master(core: &mut Core) {
    if let Some(l) = core.repl.link.take() {
        core.repl.stats.master_changes += 1;
        log::info!("no longer a replica of {}", l.addr);
        core.cache.set_evict_to_free(core.settings.evict_to_free);
        close_link(core, l);
        // Its writes from now on are a new history. The old id stays good
        // up to here: replicas of the old master that have no more than
        // this server continue from it, and one that has more (the old
        // master's writes this server never got) syncs in full instead
        // of grafting this server's future onto them. Its own replicas
        // reconnect to learn the new id.
        let old = std::mem::replace(&mut core.repl.replid, super::new_replid());
        core.repl.replid2 = Some((old, core.repl.offset));
        super::master::reconnect_all(core);
    }
    // Its own changes go into its stream from now on, replicas or not:
    // a replica of its history that connects later continues from the
    // backlog and must find every change made since.
    core.cache.listen_changes(true);
}

fn close_link(core: &mut Core, mut l: Link) {
    if l.fd >= 0 {
        core.ev.del(l.fd);
        sys::close(l.fd);
        l.fd = -1;
    }
}

/// Drops the link after an error; the timer reconnects it.
fn link_down(core: &mut Core, why: &str) {
    let (lo, hi) = core.repl.request;
    let Some(l) = core.repl.link.as_mut() else {
        return;
    };
    if l.fd >= 0 {
        core.ev.del(l.fd);
        sys::close(l.fd);
        l.fd = -1;
    }
    if l.state == LinkState::Streaming {
        l.down_since_ms = monotonic_ms();
        core.repl.stats.links_dropped += 1;
        log::warn!("link to master {} down: {}", l.addr, why);
    } else {
        log::info!("link to master {}: {}", l.addr, why);
    }
    l.state = LinkState::Down;
    l.rbuf.clear();
    l.out.clear();
    l.snap = Vec::new();
    // rep_set_request MIN MAX: the first retry after MIN ms, each next
    // one twice as late, never later than MAX.
    let wait = l.backoff_ms.clamp(lo as u64, hi as u64);
    l.next_attempt_ms = monotonic_ms() + wait;
    l.backoff_ms = wait.saturating_mul(2);
}

/// Starts connecting to the master.
fn connect(core: &mut Core) {
    let Some(l) = core.repl.link.as_mut() else {
        return;
    };
    let addr = match l.addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => return link_down(core, "cannot resolve the address"),
    };
    match sys::tcp_connect(&addr) {
        Ok(fd) => {
            l.fd = fd;
            l.state = LinkState::Connecting;
            l.last_heard_ms = monotonic_ms();
            let _ = core.ev.add(fd, TOKEN_LINK, Interest::Write);
        }
        Err(e) => {
            core.repl.stats.connect_fail += 1;
            link_down(core, &format!("connect: {}", e))
        }
    }
}

/// The loop saw the link's socket ready.
pub fn on_event(server: &mut Server) {
    let core = &mut server.core;
    let Some(l) = core.repl.link.as_mut() else {
        return;
    };
    if l.fd < 0 {
        return;
    }
    if l.state == LinkState::Connecting {
        if let Err(e) = sys::socket_error(l.fd) {
            core.repl.stats.connect_fail += 1;
            return link_down(core, &format!("connect: {}", e));
        }
        let (id, off) = if l.synced {
            (core.repl.replid.clone(), core.repl.offset as i64)
        } else {
            ("?".to_string(), -1)
        };
        // A master with -Y asks for credentials first, in the ascii
        // form: a set whose data is "user password".
        l.out.clear();
        if let Some((user, pass)) = &core.repl.auth {
            let n = user.len() + 1 + pass.len();
            l.out.extend_from_slice(b"set ");
            l.out.extend_from_slice(user);
            l.out
                .extend_from_slice(format!(" 0 0 {}\r\n", n).as_bytes());
            l.out.extend_from_slice(user);
            l.out.push(b' ');
            l.out.extend_from_slice(pass);
            l.out.extend_from_slice(b"\r\n");
        }
        // Its own address and priority name it in the master's group
        // (the ack policies count it).
        l.out.extend_from_slice(
            format!(
                "rep_sync {} {} {} {}\r\n",
                id, off, core.repl.self_addr, core.repl.priority
            )
            .as_bytes(),
        );
        l.state = LinkState::Handshake;
        let _ = core.ev.modify(l.fd, TOKEN_LINK, Interest::Read);
    }
    if !flush(core) {
        return;
    }
    // At most READ_TURN bytes per wake-up: a master streaming faster than
    // this replica applies must not keep the loop from its clients (the
    // socket stays readable and the loop comes back to it).
    let mut taken = 0;
    let applied_from = core.repl.offset;
    let failed = loop {
        if taken >= READ_TURN {
            break None;
        }
        let l = core.repl.link.as_mut().expect("link checked above");
        // Read straight into the link's buffer, after what it holds (it
        // grows only when a command does not fit in it).
        if l.rbuf.capacity() - l.rbuf.len() < READ_ROOM_MIN {
            l.rbuf.reserve(READ_PIECE);
        }
        let held = l.rbuf.len();
        let room = l.rbuf.capacity() - held;
        // SAFETY: the bytes from `held` to the capacity are allocated;
        // the kernel writes them and only the `n` it wrote are kept.
        let spare = unsafe { std::slice::from_raw_parts_mut(l.rbuf.as_mut_ptr().add(held), room) };
        match sys::read(l.fd, spare) {
            Ok(0) => break Some("closed by the master".to_string()),
            Ok(n) => {
                taken += n;
                // SAFETY: read() filled `n` bytes after `held`.
                unsafe { l.rbuf.set_len(held + n) };
                l.last_heard_ms = monotonic_ms();
                if !process(core) {
                    break None;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(format!("read: {}", e)),
        }
    };
    if let Some(why) = failed {
        link_down(core, &why);
        // What the turn applied before the link broke still goes on.
        super::master::after_batch(core);
        return;
    }
    let offset = core.repl.offset;
    let Some(l) = core.repl.link.as_mut() else {
        return;
    };
    if l.state == LinkState::Streaming && offset != applied_from {
        // Acknowledge what this turn applied at once (rep_wait and the
        // ack policies on the master wait for it), besides the
        // once-a-second ack: one ack for the turn's reads, not one per
        // read, so the master is woken once.
        l.out
            .extend_from_slice(format!("rep_ack {}\r\n", offset).as_bytes());
        if !flush(core) {
            return;
        }
    }
    // What the turn applied goes on to this replica's own replicas.
    super::master::after_batch(core);
}

/// Writes what the link has to say; false if the link went down.
fn flush(core: &mut Core) -> bool {
    let l = core.repl.link.as_mut().expect("a link");
    while !l.out.is_empty() {
        match sys::write(l.fd, &l.out) {
            Ok(n) => {
                l.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                link_down(core, &format!("write: {}", e));
                return false;
            }
        }
    }
    true
}

/// Handles what has arrived; false if the link went down.
fn process(core: &mut Core) -> bool {
    loop {
        let l = core.repl.link.as_mut().expect("a link");
        match l.state {
            LinkState::Handshake => {
                let Some(nl) = memchr::memchr(b'\n', &l.rbuf) else {
                    return true;
                };
                let line: Vec<u8> = l.rbuf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                // A blank line is a keepalive: a master may send one while
                // its snapshot is being made (as Redis's does), so a slow
                // snapshot does not look like a silent link. Reading it
                // has already moved last_heard_ms.
                if line.is_empty() {
                    continue;
                }
                let t: Vec<&str> = line.split(' ').collect();
                match t.as_slice() {
                    // The master accepted the credentials.
                    ["STORED"] if core.repl.auth.is_some() => {}
                    ["REP_CONTINUE", id, off] => {
                        let Ok(off) = off.parse::<u64>() else {
                            link_down(core, &format!("bad answer: {}", line));
                            return false;
                        };
                        if *id != core.repl.replid {
                            // The master took a new id (it restarted): the
                            // old one stays good up to here for this
                            // server's own replicas.
                            let old = std::mem::replace(&mut core.repl.replid, id.to_string());
                            core.repl.replid2 = Some((old, core.repl.offset));
                        }
                        if off != core.repl.offset {
                            core.repl.buf.reset(off);
                        }
                        core.repl.offset = off;
                        let l = core.repl.link.as_mut().expect("a link");
                        l.state = LinkState::Streaming;
                        l.backoff_ms = 0;
                        log::info!("link to master {} up: continuing at offset {}", l.addr, off);
                    }
                    ["REP_FULLSYNC", id, off, len] => {
                        let (Ok(off), Ok(len)) = (off.parse::<u64>(), len.parse::<usize>()) else {
                            link_down(core, &format!("bad answer: {}", line));
                            return false;
                        };
                        l.snap_at = (id.to_string(), off);
                        l.snap_len = len;
                        // The length is the master's word: the buffer
                        // grows as the bytes come, from at most 64 MiB.
                        l.snap = Vec::with_capacity(len.min(SNAPSHOT_PREALLOC_MAX));
                        l.state = LinkState::Snapshot;
                        log::info!("full sync from {}: {} bytes at offset {}", l.addr, len, off);
                    }
                    _ => {
                        link_down(core, &format!("refused: {}", line));
                        return false;
                    }
                }
            }
            LinkState::Snapshot => {
                let want = l.snap_len - l.snap.len();
                let n = want.min(l.rbuf.len());
                l.snap.extend(l.rbuf.drain(..n));
                if l.snap.len() < l.snap_len {
                    return true;
                }
                if let Err(e) = load_snapshot(core) {
                    link_down(core, &format!("snapshot refused: {}", e));
                    return false;
                }
            }
            LinkState::Streaming => return apply_stream(core),
            LinkState::Down | LinkState::Connecting => return true,
        }
    }
}

/// Verifies the received snapshot, then replaces the cache's contents
/// with it.
fn load_snapshot(core: &mut Core) -> Result<(), String> {
    let l = core.repl.link.as_mut().expect("a link");
    let snap = std::mem::take(&mut l.snap);
    let (id, off) = l.snap_at.clone();
    let started = monotonic_ms();
    crate::dump::format::verify(&snap)?;
    // A new history: this replica's own replicas must sync again from it.
    super::master::detach_all(core);
    core.cache.clear_all();
    let mut report = crate::dump::LoadReport::default();
    crate::dump::snapshot::load_from(
        &mut core.cache,
        std::io::Cursor::new(&snap),
        snap.len() as u64,
        &mut report,
    )
    .map_err(|d| d.what)?;
    core.repl.replid = id;
    core.repl.offset = off;
    core.repl.buf.reset(off);
    let l = core.repl.link.as_mut().expect("a link");
    l.state = LinkState::Streaming;
    l.synced = true;
    l.backoff_ms = 0;
    log::info!(
        "full sync from {} done: {} items loaded in {} ms; streaming from offset {}",
        l.addr,
        report.items,
        monotonic_ms().saturating_sub(started),
        off
    );
    let left_out = report.no_memory + report.too_large;
    if left_out > 0 {
        // Whatever the verbosity: this replica is no longer an exact copy.
        log::warn!(
            "full sync from {}: {} items left out ({} for lack of memory, {} larger than -I)",
            l.addr,
            left_out,
            report.no_memory,
            report.too_large
        );
    }
    Ok(())
}

/// Applies every whole stream command received; false if the link broke.
fn apply_stream(core: &mut Core) -> bool {
    let mut rbuf = std::mem::take(&mut core.repl.link.as_mut().expect("a link").rbuf);
    let mut at = 0;
    let mut broken = None;
    let mut window: Vec<(Cmd, u32)> = Vec::with_capacity(APPLY_WINDOW);
    while broken.is_none() {
        window.clear();
        let mut end = at;
        while window.len() < APPLY_WINDOW {
            match stream::decode(&rbuf[end..]) {
                Decoded::Cmd(cmd, n) => {
                    let hv = match &cmd {
                        Cmd::Set { key, .. } | Cmd::Del { key } => core.cache.assoc().hash(key),
                        _ => 0,
                    };
                    window.push((cmd, hv));
                    end += n;
                }
                Decoded::More => break,
                Decoded::Bad(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        if window.is_empty() {
            break;
        }
        let n = window.len();
        for i in 0..n + 3 * AHEAD {
            if let Some((Cmd::Set { .. } | Cmd::Del { .. }, hv)) = window.get(i) {
                core.cache.assoc().prefetch_bucket(*hv);
            }
            if let Some((Cmd::Set { key, .. } | Cmd::Del { key }, hv)) =
                i.checked_sub(AHEAD).and_then(|j| window.get(j))
            {
                core.cache.prefetch_chain_head(*hv, key.len());
            }
            if let Some((Cmd::Set { key, .. } | Cmd::Del { key }, hv)) =
                i.checked_sub(2 * AHEAD).and_then(|j| window.get(j))
            {
                core.cache.prefetch_neighbours(key, *hv);
            }
            let Some((cmd, hv)) = i.checked_sub(3 * AHEAD).and_then(|j| window.get(j)) else {
                continue;
            };
            match cmd {
                Cmd::Set {
                    key,
                    flags,
                    exptime,
                    cas,
                    meta,
                    value,
                } => {
                    if !core
                        .cache
                        .apply_set(key, *hv, value, *flags, *exptime, *cas, *meta)
                    {
                        log::warn!("replica: no memory for an item of {} bytes", value.len());
                    }
                }
                Cmd::Del { key } => core.cache.apply_delete(key, *hv),
                Cmd::Flush { at, cas } => core.cache.apply_flush(*at, *cas),
                Cmd::Ping => {}
            }
            core.repl.stats.records_applied += 1;
        }
        let full = n == APPLY_WINDOW;
        at = end;
        if !full {
            break;
        }
    }
    // The exact bytes go on to this replica's own replicas, so offsets
    // agree down a chain.
    if at >= HAND_OVER_MIN && at >= rbuf.capacity() / 2 && broken.is_none() {
        // The buffer itself becomes a stream block; the start of the next
        // command moves to a new one.
        let mut next = core.repl.buf.spare_block().unwrap_or_default();
        next.reserve(READ_PIECE.max(rbuf.len() - at + READ_ROOM_MIN));
        next.extend_from_slice(&rbuf[at..]);
        rbuf.truncate(at);
        core.repl.feed_block(rbuf);
        core.repl.link.as_mut().expect("a link").rbuf = next;
        return true;
    }
    core.repl.feed(&rbuf[..at]);
    if let Some(e) = broken {
        link_down(core, &format!("bad stream: {}", e));
        return false;
    }
    rbuf.drain(..at);
    core.repl.link.as_mut().expect("a link").rbuf = rbuf;
    true
}

/// Once a second: acknowledge the offset, notice a silent master,
/// reconnect a dropped link.
pub fn on_timer(core: &mut Core, now_ms: u64) {
    let timeout = core.repl.timeout_ms;
    let offset = core.repl.offset;
    let Some(l) = core.repl.link.as_mut() else {
        return;
    };
    match l.state {
        LinkState::Down => {
            if now_ms >= l.next_attempt_ms {
                connect(core);
            }
        }
        _ if now_ms.saturating_sub(l.last_heard_ms) > timeout => {
            link_down(core, "timed out");
        }
        LinkState::Streaming => {
            l.out
                .extend_from_slice(format!("rep_ack {}\r\n", offset).as_bytes());
            flush(core);
        }
        _ => {}
    }
}
