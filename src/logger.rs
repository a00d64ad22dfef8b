//! Watchers: the `watch` command's live log stream (memcached's logger.c).
//!
//! A connection that sends `watch [names...]` stops being a client and
//! becomes a watcher: from then on it receives one text line per event of
//! the kinds it chose, and whatever it sends is read and thrown away.
//! memcached writes log entries into a per-worker buffer that a logger
//! thread drains into per-watcher buffers; with one thread there is no
//! hand-off to make, so an event is formatted once and copied straight
//! into the buffer of every watcher that wants it. The event loop writes
//! those buffers out when their sockets take bytes.
//!
//! Cost when nobody watches: every hook tests one bit of `Logger::eflags`
//! (the union of what the watchers want), which is 0 then.
//!
//! A watcher's buffer is bounded (`-o watcher_logbuf_size`): a line that
//! does not fit is dropped and counted, and once room comes back the
//! watcher first gets `skipped=<n>\n` saying how many it lost, as
//! memcached prints it. The server never blocks on, nor grows for, a slow
//! watcher.
//!
//! Line shapes (all end in a bare "\n"; `ts` is the wall clock as seconds
//! and microseconds, the microseconds not zero-padded, `gid` a counter of
//! log entries; keys are URI-encoded):
//!
//! ```text
//! ts=S.U gid=N type=item_get key=K status=found|not_found|expired|flushed clsid=C cfd=F size=V
//! ts=S.U gid=N type=item_store key=K status=stored|not_stored|exists|not_found cmd=set|add|replace|append|prepend|cas ttl=T clsid=C cfd=F size=V
//! ts=S.U gid=N type=eviction key=K fetch=yes|no ttl=T la=A clsid=C size=V
//! ts=S.U gid=N type=conn_new rip=IP rport=P transport=tcp|local cfd=F
//! ts=S.U gid=N type=conn_close rip=IP rport=P transport=tcp|local reason=normal|error|idle_timeout cfd=F
//! ts=S.U gid=N type=deleted key=K cmd=delete|md clsid=C size=V
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::RawFd;

use crate::cache::{StoreCmd, StoreItemType};
use crate::conn::Transport;

/// Event kinds, as bits of a watcher's filter (memcached's LOG_* flags).
pub const LOG_FETCHERS: u16 = 1 << 0;
pub const LOG_MUTATIONS: u16 = 1 << 1;
pub const LOG_EVICTIONS: u16 = 1 << 2;
pub const LOG_CONNEVENTS: u16 = 1 << 3;
/// Accepted names whose events this server never produces: memcached's
/// raw command, system event (crawler, slab mover) and proxy streams.
pub const LOG_RAWCMDS: u16 = 1 << 4;
pub const LOG_SYSEVENTS: u16 = 1 << 5;
pub const LOG_PROXYREQS: u16 = 1 << 6;
pub const LOG_PROXYEVENTS: u16 = 1 << 7;
pub const LOG_PROXYUSER: u16 = 1 << 8;
/// Items removed by a client's `delete` or `md` (memcached 1.6.45's
/// `deletions`).
pub const LOG_DELETIONS: u16 = 1 << 9;

/// At most this many watchers at once (memcached's WATCHER_LIMIT).
pub const WATCHER_LIMIT: usize = 20;

/// The names `watch` accepts, in the order memcached 1.6.45 tries them.
const WATCH_NAMES: [(&[u8], u16); 10] = [
    (b"rawcmds", LOG_RAWCMDS),
    (b"evictions", LOG_EVICTIONS),
    (b"fetchers", LOG_FETCHERS),
    (b"mutations", LOG_MUTATIONS),
    (b"sysevents", LOG_SYSEVENTS),
    (b"connevents", LOG_CONNEVENTS),
    (b"proxyreqs", LOG_PROXYREQS),
    (b"proxyevents", LOG_PROXYEVENTS),
    (b"proxyuser", LOG_PROXYUSER),
    (b"deletions", LOG_DELETIONS),
];

/// The event kind a word of `watch` names, or None. memcached 1.6.45
/// compares each name with the word's length (C's strncmp), so any start
/// of a name is that name, the first in `WATCH_NAMES` order winning
/// (`watch f` is fetchers, `watch p` proxyreqs); and since a C string
/// ends at a NUL, a word holding a NUL matches a name that ends where the
/// NUL stands (`fetchers\0junk` is fetchers, `f\0` nothing).
pub fn watch_flag(word: &[u8]) -> Option<u16> {
    let matches = |name: &[u8]| match memchr::memchr(0, word) {
        Some(z) => &word[..z] == name,
        None => name.starts_with(word),
    };
    WATCH_NAMES
        .iter()
        .find(|(name, _)| matches(name))
        .map(|&(_, flag)| flag)
}

/// Why a key lookup found no item, as an `item_get` line's `status=`
/// says it: memcached tells a key that is not there from an item the
/// lookup itself found expired or flushed (and removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    NotFound,
    Flushed,
    Expired,
}

/// One watcher: a connection and the lines waiting for it.
pub struct Watcher {
    /// The connection's token and socket.
    pub token: usize,
    pub fd: RawFd,
    /// The event kinds it asked for.
    pub eflags: u16,
    /// Bytes not yet written; never more than `Logger::bufsize`.
    pub buf: VecDeque<u8>,
    /// Lines dropped since the last `skipped=` notice.
    pub skipped: u64,
}

/// The log streams: watchers and counters. Lives in `Cache` because
/// evictions are noticed deep inside item allocation.
pub struct Logger {
    /// The union of the watchers' filters: a hook does work only if its
    /// bit is set here.
    pub eflags: u16,
    pub watchers: Vec<Watcher>,
    /// Byte bound of each watcher's buffer (`watcher_logbuf_size`).
    pub bufsize: usize,
    /// Id of the last entry (`gid=`).
    gid: u64,
    /// Entries produced (`log_worker_written`).
    pub worker_written: u64,
    /// Lines a watcher lost to a full buffer (`log_watcher_skipped`).
    pub watcher_skipped: u64,
    /// Lines placed in a watcher's buffer (`log_watcher_sent`).
    pub watcher_sent: u64,
    /// Scratch line, kept to avoid an allocation per entry.
    line: String,
}

impl Logger {
    pub fn new(bufsize: usize) -> Logger {
        Logger {
            eflags: 0,
            watchers: Vec::new(),
            bufsize: bufsize.max(64),
            gid: 0,
            worker_written: 0,
            watcher_skipped: 0,
            watcher_sent: 0,
            line: String::new(),
        }
    }

    /// Makes connection `token` a watcher of `eflags`. Its buffer starts
    /// with the "OK" reply so that nothing can come before it. False when
    /// WATCHER_LIMIT watchers already exist.
    pub fn add_watcher(&mut self, token: usize, fd: RawFd, eflags: u16) -> bool {
        if self.watchers.len() >= WATCHER_LIMIT {
            return false;
        }
        let mut buf = VecDeque::new();
        buf.extend(b"OK\r\n");
        self.watchers.push(Watcher {
            token,
            fd,
            eflags,
            buf,
            skipped: 0,
        });
        self.eflags |= eflags;
        true
    }

    /// Forgets a watcher (its connection is closing).
    pub fn remove_watcher(&mut self, token: usize) {
        self.watchers.retain(|w| w.token != token);
        self.eflags = self.watchers.iter().fold(0, |f, w| f | w.eflags);
    }

    /// Starts an entry: the `ts=... gid=... ` prefix in the scratch line.
    fn begin(&mut self) -> &mut String {
        self.gid += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.line.clear();
        let _ = write!(
            self.line,
            "ts={}.{} gid={} ",
            now.as_secs(),
            now.subsec_micros(),
            self.gid
        );
        &mut self.line
    }

    /// Hands the scratch line (of kind `flag`) to every watcher that wants
    /// it, dropping it for those whose buffer is full.
    fn commit(&mut self, flag: u16) {
        self.line.push('\n');
        self.worker_written += 1;
        let line = self.line.as_bytes();
        for w in self.watchers.iter_mut().filter(|w| w.eflags & flag != 0) {
            let room = self.bufsize - w.buf.len();
            let notice = if w.skipped > 0 {
                format!("skipped={}\n", w.skipped)
            } else {
                String::new()
            };
            if notice.len() + line.len() > room {
                w.skipped += 1;
                self.watcher_skipped += 1;
                continue;
            }
            w.buf.extend(notice.as_bytes());
            w.buf.extend(line);
            w.skipped = 0;
            self.watcher_sent += 1;
        }
    }

    /// `conn_new`: a client connected.
    pub fn conn_new(&mut self, fd: RawFd, transport: Transport, addr: Option<SocketAddr>) {
        let (rip, rport, tname) = peer(transport, addr);
        let l = self.begin();
        let _ = write!(
            l,
            "type=conn_new rip={} rport={} transport={} cfd={}",
            rip, rport, tname, fd
        );
        self.commit(LOG_CONNEVENTS);
    }

    /// `conn_close`: a client is being closed, for `reason`.
    pub fn conn_close(
        &mut self,
        fd: RawFd,
        transport: Transport,
        addr: Option<SocketAddr>,
        reason: &str,
    ) {
        let (rip, rport, tname) = peer(transport, addr);
        let l = self.begin();
        let _ = write!(
            l,
            "type=conn_close rip={} rport={} transport={} reason={} cfd={}",
            rip, rport, tname, reason, fd
        );
        self.commit(LOG_CONNEVENTS);
    }
}

/// The peer address, port and transport name a connection event shows:
/// memcached prints "unix" and port 0 for a unix socket client.
fn peer(transport: Transport, addr: Option<SocketAddr>) -> (String, u16, &'static str) {
    match (transport, addr) {
        (Transport::Unix, _) => ("unix".to_string(), 0, "local"),
        (Transport::Udp, _) => (String::new(), 0, "udp"),
        (Transport::Tcp, Some(a)) => (a.ip().to_string(), a.port(), "tcp"),
        (Transport::Tcp, None) => (String::new(), 0, "tcp"),
    }
}

/// Appends `key` URI-encoded to a log line.
fn uriencode(out: &mut String, key: &[u8]) {
    crate::util::uri_encode(key, |b| out.push(b as char));
}

/// The TTL a line shows: seconds left, 0 for an item that never expires;
/// like memcached, computed in unsigned arithmetic for one already past.
fn ttl_of(exptime: u32, now: u32) -> u32 {
    if exptime == 0 {
        0
    } else {
        exptime.wrapping_sub(now)
    }
}

/// memcached's name for a store command in `cmd=`.
fn cmd_name(cmd: StoreCmd) -> &'static str {
    match cmd {
        StoreCmd::Set => "set",
        StoreCmd::Add => "add",
        StoreCmd::Replace => "replace",
        StoreCmd::Append => "append",
        StoreCmd::Prepend => "prepend",
        StoreCmd::Cas => "cas",
    }
}

/// The lines the store door writes (store.rs decides when and with which
/// values; it tests `eflags` first, so without a watcher nothing here runs).
impl Logger {
    /// `item_get`: connection `cfd` looked `key` up; `found` gives the
    /// item's class and value size on a hit, why there was none on a miss.
    #[cold]
    pub fn item_get(&mut self, cfd: RawFd, key: &[u8], found: Result<(u8, usize), Miss>) {
        let (status, clsid, size) = match found {
            Ok((clsid, size)) => ("found", clsid, size),
            Err(Miss::NotFound) => ("not_found", 0, 0),
            Err(Miss::Flushed) => ("flushed", 0, 0),
            Err(Miss::Expired) => ("expired", 0, 0),
        };
        let l = self.begin();
        l.push_str("type=item_get key=");
        uriencode(l, key);
        let _ = write!(
            l,
            " status={} clsid={} cfd={} size={}",
            status, clsid, cfd, size
        );
        self.commit(LOG_FETCHERS);
    }

    /// `item_store`: connection `cfd` stored `key` with `cmd`, with
    /// `result`; `exptime` (server time, now `now`), class and size are
    /// those of the item shown.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    pub fn item_store(
        &mut self,
        cfd: RawFd,
        key: &[u8],
        cmd: StoreCmd,
        result: StoreItemType,
        exptime: u32,
        now: u32,
        clsid: u8,
        size: usize,
    ) {
        let status = match result {
            StoreItemType::Stored => "stored",
            StoreItemType::NotStored => "not_stored",
            StoreItemType::Exists => "exists",
            StoreItemType::NotFound => "not_found",
        };
        let ttl = ttl_of(exptime, now);
        let l = self.begin();
        l.push_str("type=item_store key=");
        uriencode(l, key);
        let _ = write!(
            l,
            " status={} cmd={} ttl={} clsid={} cfd={} size={}",
            status,
            cmd_name(cmd),
            ttl,
            clsid,
            cfd,
            size
        );
        self.commit(LOG_MUTATIONS);
    }

    /// `deleted`: a client's `cmd` ("delete" or "md") removed `key`, an
    /// item of class `clsid` with a value of `size` bytes.
    #[cold]
    pub fn deleted(&mut self, key: &[u8], cmd: &str, clsid: u8, size: usize) {
        let l = self.begin();
        l.push_str("type=deleted key=");
        uriencode(l, key);
        let _ = write!(l, " cmd={} clsid={} size={}", cmd, clsid, size);
        self.commit(LOG_DELETIONS);
    }

    /// `eviction`: `key` is being evicted from the LRU tail; `ttl` is -1
    /// for an item that never expires, `la` seconds since its last access.
    #[cold]
    pub fn eviction(
        &mut self,
        key: &[u8],
        fetched: bool,
        ttl: i64,
        la: i32,
        clsid: u8,
        size: usize,
    ) {
        let l = self.begin();
        l.push_str("type=eviction key=");
        uriencode(l, key);
        let _ = write!(
            l,
            " fetch={} ttl={} la={} clsid={} size={}",
            if fetched { "yes" } else { "no" },
            ttl,
            la,
            clsid,
            size
        );
        self.commit(LOG_EVICTIONS);
    }
}

/// Writes what watcher `i` has buffered. Ok(true) when the buffer is
/// empty, Ok(false) when the socket is full (wait for it to drain).
pub fn flush_watcher(log: &mut Logger, i: usize) -> io::Result<bool> {
    let w = &mut log.watchers[i];
    while !w.buf.is_empty() {
        let (a, b) = w.buf.as_slices();
        let iov = [
            libc::iovec {
                iov_base: a.as_ptr() as *mut libc::c_void,
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            },
        ];
        let n = if b.is_empty() { 1 } else { 2 };
        match crate::sys::writev(w.fd, &iov[..n]) {
            Ok(k) => {
                w.buf.drain(..k);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uri_encoded_as_memcached_shows_them() {
        let mut s = String::new();
        uriencode(&mut s, b"a%20b,c\x01\x7f~!-._Z9\xc3\xa9");
        assert_eq!(s, "a%2520b%2Cc%01%7F~%21-._Z9%C3%A9");
        let mut out = Vec::new();
        crate::util::uri_encode(b"a%b/c&d=e~f-g_h.i+j\xc3\xbc\0", |b| out.push(b));
        assert_eq!(out, b"a%25b%2Fc%26d%3De~f-g_h.i%2Bj%C3%BC%00");
    }

    #[test]
    fn watch_words_are_names_or_starts_of_names() {
        assert_eq!(watch_flag(b"fetchers"), Some(LOG_FETCHERS));
        assert_eq!(watch_flag(b"deletions"), Some(LOG_DELETIONS));
        assert_eq!(watch_flag(b"f"), Some(LOG_FETCHERS));
        assert_eq!(watch_flag(b"d"), Some(LOG_DELETIONS));
        assert_eq!(watch_flag(b"p"), Some(LOG_PROXYREQS));
        assert_eq!(watch_flag(b"proxye"), Some(LOG_PROXYEVENTS));
        assert_eq!(watch_flag(b"fetchersx"), None);
        assert_eq!(watch_flag(b"FETCHERS"), None);
        assert_eq!(watch_flag(b"noreply"), None);
        assert_eq!(watch_flag(b"fetchers\0junk"), Some(LOG_FETCHERS));
        assert_eq!(watch_flag(b"f\0"), None);
    }

    #[test]
    fn a_full_watcher_skips_lines_then_says_how_many() {
        // A line is 29 to 35 bytes (the microseconds are not padded, as
        // memcached's are not): one fits in 50, never two.
        let mut log = Logger::new(50);
        assert!(log.add_watcher(1, -1, LOG_CONNEVENTS));
        assert_eq!(log.eflags, LOG_CONNEVENTS);
        log.watchers[0].buf.clear();
        for _ in 0..3 {
            log.begin().push_str("type=x");
            log.commit(LOG_CONNEVENTS);
        }
        // One fits, two are skipped.
        assert_eq!((log.watcher_sent, log.watcher_skipped), (1, 2));
        log.watchers[0].buf.clear();
        log.begin().push_str("type=y");
        log.commit(LOG_CONNEVENTS);
        let text: Vec<u8> = log.watchers[0].buf.iter().copied().collect();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("skipped=2\nts="), "{}", text);
        assert!(text.ends_with(" gid=4 type=y\n"), "{}", text);
        // A line of a kind nobody watches goes nowhere.
        log.begin().push_str("type=z");
        log.commit(LOG_FETCHERS);
        assert_eq!(log.watcher_sent, 2);
        log.remove_watcher(1);
        assert_eq!(log.eflags, 0);
    }
}
