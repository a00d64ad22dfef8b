//! The server: `Core` and `Server`, the event loop's turn, accepting
//! connections, signals, the one-second timer, idle close, and handing the
//! change records of each batch to their listeners (memcached's
//! memcached.c around drive_machine, and Redis's ae.c/networking.c split).
//!
//! main.rs builds a `Server` in memcached's start-up order and calls
//! `event_loop`; from then on everything happens on this loop's turns:
//!
//! ```text
//!  epoll_wait(timeout = min over subsystems of when they next need a turn)
//!    -> signals, accepts, drive_machine for each ready connection
//!    -> connections that yielded (-R) get another turn
//!    -> cache background work (hash expansion, page move, LRU juggles,
//!       the automove policy's looks)
//!    -> crawler step -> change records to listeners -> watcher output
//!    -> once a second: clock, autocrawl, idle close, dump timer
//! ```

use std::os::unix::io::RawFd;

use crate::auth::AuthFile;
use crate::bufpool::BufPool;
use crate::cache::{self, Cache};
use crate::conn::{self, Conn, ConnState, Transport};
use crate::event::{self, EventLoop, Interest, Timer};
use crate::settings::Settings;
use crate::stats::{self, Stats};
use crate::sys::{self, EX_OSERR};
use crate::{dump, logger, repl};

/// Tokens at and above this are not connections.
pub(crate) const TOKEN_LISTENER_BASE: u64 = 1 << 40;
pub(crate) const TOKEN_SIGNAL: u64 = 1 << 41;

/// Connections accepted per listener wake-up, so a connection storm cannot
/// hold the loop.
const ACCEPTS_PER_EVENT: usize = 64;

/// Descriptors memcached keeps back from `-c` for itself (listeners, logs,
/// files); reported as `reserved_fds`.
pub(crate) const RESERVED_FDS: u64 = 20;

/// Why the server is stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownKind {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// The `shutdown` command.
    Command,
    /// `shutdown graceful` or SIGUSR1.
    Graceful,
}

/// Everything but the connection table, so a connection can be borrowed
/// from the table while commands use the rest.
pub struct Core {
    pub settings: Settings,
    /// The `-Y` credentials; None without `-Y`, when every connection
    /// starts authenticated.
    pub auth: Option<AuthFile>,
    pub cache: Cache,
    pub stats: Stats,
    pub ev: EventLoop,
    pub pool: BufPool,
    /// Connections that yielded with work left (`-R`): driven again on the
    /// next loop iteration without waiting for the socket.
    pub ready: Vec<usize>,
    /// Set when the server should exit after this loop iteration.
    pub shutdown: Option<ShutdownKind>,
    /// False while new connections are refused (never, yet: `-c` rejects).
    pub accepting: bool,
    pub reserved_fds: u64,
    /// The dump file and the dump being written.
    pub dump: dump::DumpState,
    /// Per-prefix counters of `stats detail`.
    pub prefixes: stats::PrefixStats,
    /// The LRU crawler: the crawl or dump in progress and its counters.
    pub crawler: cache::crawler::Crawler,
    /// Replication: this server's history, its replicas, its master.
    pub repl: repl::Repl,
}

impl Core {
    /// Changes the log level at run time (`verbosity`).
    pub fn set_verbosity(&mut self, level: u8) {
        self.settings.verbose = level;
        log::set_max_level(crate::level_filter(level));
    }
}

pub(crate) struct Listener {
    pub(crate) fd: RawFd,
    pub(crate) transport: Transport,
    /// Server time the listener started serving (`stats conns` shows the
    /// seconds since, as memcached does for a listener).
    pub(crate) opened: u32,
}

pub struct Server {
    pub conns: slab::Slab<Conn>,
    pub core: Core,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) sigfd: RawFd,
}

impl Server {
    /// The server around a loaded cache, its listeners and the signal fd.
    pub(crate) fn new(
        settings: Settings,
        auth: Option<AuthFile>,
        mut cache: Cache,
        dump: dump::DumpState,
        ev: EventLoop,
        listeners: Vec<Listener>,
        sigfd: RawFd,
    ) -> Server {
        let prefixes = stats::PrefixStats::new(
            settings.prefix_delimiter,
            cache::hash::hash_fn(settings.hash_algorithm),
        );
        let crawler = cache::crawler::Crawler::new(cache.now());
        let repl = repl::Repl::new(&settings);
        // Change records go straight into the replication stream's form.
        cache.encode_changes(Some(repl::stream::encode));
        let pool = BufPool::new(settings.read_buf_mem_limit);
        Server {
            conns: slab::Slab::with_capacity(64),
            core: Core {
                settings,
                auth,
                cache,
                stats: Stats::default(),
                ev,
                pool,
                ready: Vec::new(),
                shutdown: None,
                accepting: true,
                reserved_fds: RESERVED_FDS,
                dump,
                prefixes,
                crawler,
                repl,
            },
            listeners,
            sigfd,
        }
    }
}

/// The main loop: wait for events, drive the connections they concern,
/// run the one-second timer, stop when asked.
/// Returns the exit status.
pub(crate) fn event_loop(server: &mut Server) -> i32 {
    let mut clock_timer = Timer::every(1000, event::monotonic_ms());
    let mut events = Vec::with_capacity(1024);
    loop {
        let now = event::monotonic_ms();
        // Do not sleep while connections yielded with work left; else ask
        // the cache and the crawler when they next need a turn.
        let timeout = if !server.core.ready.is_empty() {
            0
        } else {
            let mut t = server
                .core
                .cache
                .timeout_ms(clock_timer.remaining(now), event::monotonic_us());
            if let Some(d) = server.core.repl.master.next_deadline_ms(now) {
                t = t.min(d);
            }
            match server
                .core
                .crawler
                .timeout_ms(&server.conns, event::monotonic_us())
            {
                Some(c) => t.min(c) as i32,
                None => t as i32,
            }
        };
        events.clear();
        match server.core.ev.wait(timeout) {
            Ok(evs) => events.extend_from_slice(evs),
            Err(e) => {
                log::error!("epoll_wait failed: {}", e);
                return EX_OSERR;
            }
        }
        let ready = std::mem::take(&mut server.core.ready);
        for ev in &events {
            if ev.token == TOKEN_SIGNAL {
                handle_signals(server);
            } else if ev.token == repl::TOKEN_LINK {
                repl::replica::on_event(server);
            } else if ev.token >= repl::TOKEN_FEED_BASE {
                repl::master::on_event(server, (ev.token - repl::TOKEN_FEED_BASE) as usize);
            } else if ev.token >= TOKEN_LISTENER_BASE {
                accept_conns(server, (ev.token - TOKEN_LISTENER_BASE) as usize);
            } else {
                let token = ev.token as usize;
                if ev.hup && !ev.readable && !ev.writable {
                    if let Some(c) = server.conns.get_mut(token) {
                        c.set_state(ConnState::Closing);
                    }
                }
                conn::drive_machine(server, token);
            }
        }
        for token in ready {
            conn::drive_machine(server, token);
        }
        if !server.core.repl.master.handoffs.is_empty() {
            // Changes made before the sync request belong in the stream
            // before the snapshot is taken.
            dispatch_changes(server);
            repl::master::take_handoffs(server);
        }
        server.core.cache.background_work();
        server.core.cache.automove_work(event::monotonic_ms());
        if server.core.crawler.running() {
            cache::crawler::run_step(server, event::monotonic_us());
        }
        dispatch_changes(server);
        repl::master::release_waiters(server);
        if server.core.cache.has_watchers() {
            flush_watchers(server);
        }
        let now = event::monotonic_ms();
        if clock_timer.fire(now) {
            server.core.cache.tick();
            let auto =
                server.core.settings.lru_crawler && server.core.settings.lru_maintainer_thread;
            server.core.crawler.autocrawl(&server.core.cache, auto);
            close_idle_conns(server);
            dump::on_timer(&mut server.core, now);
            repl::master::on_timer(&mut server.core, now);
            repl::replica::on_timer(&mut server.core, now);
        }
        if let Some(kind) = server.core.shutdown {
            match kind {
                // memcached 1.6.18 prints nothing on stdout here; the
                // reason goes to the log with -v.
                ShutdownKind::Signal(sig) => log::info!("{}, exiting", signal_name(sig)),
                ShutdownKind::Command => log::info!("shutdown command received, exiting"),
                ShutdownKind::Graceful => log::info!("graceful shutdown, exiting"),
            }
            if !dump::at_stop(&mut server.core, kind == ShutdownKind::Graceful) {
                return sys::EX_IOERR;
            }
            return 0;
        }
    }
}

/// Hands the change records of the batch just done to their listeners,
/// then forgets them. Records are kept only while a listener is
/// registered (`Cache::listen_changes`): the replication stream, from the
/// first replica on; with none this is one length test per turn.
fn dispatch_changes(server: &mut Server) {
    if !server.core.cache.changes().is_empty() {
        repl::master::stream_changes(&mut server.core);
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "Interrupt",
        libc::SIGTERM => "Terminated",
        libc::SIGUSR1 => "User defined signal 1",
        _ => "signal",
    }
}

/// The owners of forked children (child.rs), each asked on SIGCHLD to
/// reap its own child: a waitpid on that pid with WNOHANG, never a
/// waitpid(-1) that could take another owner's child and its exit status.
/// SIGCHLDs coalesce, so every owner is asked each time. A new owner (a
/// replica's full sync) adds its reaper here.
const CHILD_REAPERS: &[fn(&mut Core)] = &[dump::reap, repl::master::reap];

/// Reads pending signals: INT and TERM stop the server, USR1 stops it
/// gracefully, HUP reloads the auth file, USR2 asks for a dump, CHLD
/// goes to the owners of child processes; the others are noted.
fn handle_signals(server: &mut Server) {
    while let Ok(Some(sig)) = sys::read_signal(server.sigfd) {
        match sig {
            libc::SIGINT | libc::SIGTERM => server.core.shutdown = Some(ShutdownKind::Signal(sig)),
            libc::SIGUSR1 => server.core.shutdown = Some(ShutdownKind::Graceful),
            libc::SIGHUP => reload_auth_file(&mut server.core),
            libc::SIGUSR2 => dump::request_dump(&mut server.core),
            libc::SIGCHLD => {
                for reap in CHILD_REAPERS {
                    reap(&mut server.core);
                }
            }
            _ => {}
        }
    }
}

/// SIGHUP with `-Y`: reads the auth file again, as memcached does, so
/// users can be added or removed without a restart. Connections that have
/// authenticated stay so. A file that cannot be used leaves the entries
/// loaded before in force; the reason is logged (memcached says nothing).
///
/// This works under `-d` too, as in memcached 1.6.45 (1.6.18's did not):
/// `daemonize` sets SIGHUP to be ignored, but the signal is blocked for
/// the signalfd and the kernel never discards a blocked signal, so it
/// still arrives here.
fn reload_auth_file(core: &mut Core) {
    let Some(path) = core.settings.auth_file.as_deref() else {
        return;
    };
    match AuthFile::load(path) {
        Ok(a) => {
            log::info!("-Y {}: reloaded, {} entries", path, a.len());
            core.auth = Some(a);
        }
        Err(e) => log::error!(
            "-Y {}: not reloaded, the entries loaded before stay: {}",
            path,
            e
        ),
    }
}

/// Accepts pending connections on listener `i`, applying `-c`.
fn accept_conns(server: &mut Server, i: usize) {
    let (lfd, transport) = match server.listeners.get(i) {
        Some(l) => (l.fd, l.transport),
        None => return,
    };
    for _ in 0..ACCEPTS_PER_EVENT {
        let full = server.core.stats.curr_conns as usize >= server.core.settings.maxconns;
        if full && !server.core.settings.maxconns_fast {
            // Leave new clients waiting in the backlog until one leaves.
            set_accepting(server, false);
            return;
        }
        let (fd, peer) = match sys::accept(lfd) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and friends: leave the rest in the backlog. Only
                // with -v, as memcached's "Too many open connections": it
                // can repeat on every turn of the loop.
                log::info!("accept(): {}", e);
                return;
            }
        };
        let core = &mut server.core;
        if full {
            // maxconns_fast: say why, then close at once.
            core.stats.rejected_conns += 1;
            let msg = b"ERROR Too many open connections\r\n";
            let iov = [libc::iovec {
                iov_base: msg.as_ptr() as *mut libc::c_void,
                iov_len: msg.len(),
            }];
            let _ = sys::writev(fd, &iov);
            sys::close(fd);
            continue;
        }
        let entry = server.conns.vacant_entry();
        let token = entry.key();
        let now = core.cache.now();
        let conn = entry.insert(Conn::new(fd, token, transport, now));
        conn.peer = peer;
        // With -Y a client must authenticate before anything else.
        conn.authenticated = core.auth.is_none();
        if let Err(e) = core.ev.add(fd, token as u64, Interest::Read) {
            log::warn!("failed to watch new connection: {}", e);
            server.conns.remove(token);
            sys::close(fd);
            continue;
        }
        if core.cache.logger().eflags & logger::LOG_CONNEVENTS != 0 {
            core.cache.logger_mut().conn_new(fd, transport, peer);
        }
        core.stats.curr_conns += 1;
        core.stats.total_conns += 1;
        core.stats.conn_structs = core.stats.conn_structs.max(server.conns.len() as u64);
        match core.settings.binding_protocol {
            crate::settings::Protocol::Auto => {
                log::debug!("<{} new auto-negotiating client connection", fd)
            }
            p => log::debug!("<{} new {} client connection.", fd, p.name()),
        }
    }
}

/// Sends the watchers their new log lines: drives each watcher that has
/// bytes buffered and is not already waiting for its socket to drain.
fn flush_watchers(server: &mut Server) {
    let tokens: Vec<usize> = server
        .core
        .cache
        .logger()
        .watchers
        .iter()
        .filter(|w| !w.buf.is_empty())
        .map(|w| w.token)
        .collect();
    for token in tokens {
        let waiting = match server.conns.get(token) {
            Some(c) => c.state != ConnState::Watch || c.interest == Interest::Write,
            None => true,
        };
        if !waiting {
            conn::drive_machine(server, token);
        }
    }
}

/// Stops or resumes watching the listeners (`-c` without maxconns_fast).
pub fn set_accepting(server: &mut Server, on: bool) {
    if server.core.accepting == on {
        return;
    }
    server.core.accepting = on;
    if !on {
        server.core.stats.listen_disabled_num += 1;
    }
    let want = if on { Interest::Read } else { Interest::None };
    for (i, l) in server.listeners.iter().enumerate() {
        log::debug!(
            "<{} server listening ({})",
            l.fd,
            server.core.settings.binding_protocol.name()
        );
        if let Err(e) = server
            .core
            .ev
            .modify(l.fd, TOKEN_LISTENER_BASE + i as u64, want)
        {
            log::warn!("failed to change listener watch: {}", e);
        }
    }
}

/// Closes client connections idle for longer than `idle_timeout` (a UDP
/// socket is not a client).
fn close_idle_conns(server: &mut Server) {
    let timeout = server.core.settings.idle_timeout;
    if timeout == 0 {
        return;
    }
    let now = server.core.cache.now();
    let idle: Vec<usize> = server
        .conns
        .iter()
        .filter(|(_, c)| {
            c.transport != Transport::Udp
                && matches!(
                    c.state,
                    ConnState::Read | ConnState::Waiting | ConnState::NewCmd
                )
                && now.saturating_sub(c.last_cmd_time) > timeout
        })
        .map(|(k, _)| k)
        .collect();
    for token in idle {
        log::info!("closing idle connection {}", token);
        server.core.stats.idle_kicks += 1;
        server.conns[token].close_reason = "idle_timeout";
        conn::close_conn(server, token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server with no listeners and one connection on a socketpair; the
    /// test holds the other end.
    fn server_with_client(settings: Settings) -> (Server, usize, RawFd) {
        server_with_auth_client(settings, None)
    }

    /// The same with `-Y` credentials: the connection starts
    /// unauthenticated when `auth` is given.
    fn server_with_auth_client(
        settings: Settings,
        auth: Option<AuthFile>,
    ) -> (Server, usize, RawFd) {
        let cache = Cache::new(&settings);
        let ev = EventLoop::new().unwrap();
        let authenticated = auth.is_none();
        let dump = dump::DumpState::new(&settings);
        let mut server = Server::new(settings, auth, cache, dump, ev, Vec::new(), -1);
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints for socketpair to fill.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0);
        let token = server
            .conns
            .insert(Conn::new(fds[0], 0, Transport::Unix, 1));
        server.conns[token].token = token;
        server.conns[token].authenticated = authenticated;
        server
            .core
            .ev
            .add(fds[0], token as u64, Interest::Read)
            .unwrap();
        server.core.stats.curr_conns += 1;
        // A new connection starts in NewCmd; its first turn, with nothing
        // buffered yet, leaves it reading (conn_read), as in the server.
        conn::drive_machine(&mut server, token);
        assert_eq!(server.conns[token].state, ConnState::Read);
        (server, token, fds[1])
    }

    fn send(fd: RawFd, bytes: &[u8]) {
        let iov = [libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        }];
        assert_eq!(sys::writev(fd, &iov).unwrap(), bytes.len());
    }

    fn recv_all(fd: RawFd) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = sys::read(fd, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// Runs `script` twice on fresh servers, once a byte per read and once
    /// all at once; both must answer exactly `expect`.
    fn assert_same_reply_bytewise(script: &[u8], expect: &[u8]) {
        assert_same_reply_bytewise_auth(script, expect, None);
    }

    /// The same, on servers started with the auth file `auth` (`-Y`).
    fn assert_same_reply_bytewise_auth(script: &[u8], expect: &[u8], auth: Option<&[u8]>) {
        let auth_file = || auth.map(|a| AuthFile::parse(a).unwrap());
        let (mut server, token, peer) = server_with_auth_client(Settings::default(), auth_file());
        let mut got = Vec::new();
        for b in script {
            send(peer, std::slice::from_ref(b));
            conn::drive_machine(&mut server, token);
            got.extend(recv_all(peer));
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expect),
            "byte by byte"
        );
        let (mut server, token, peer) = server_with_auth_client(Settings::default(), auth_file());
        send(peer, script);
        conn::drive_machine(&mut server, token);
        assert_eq!(
            String::from_utf8_lossy(&recv_all(peer)),
            String::from_utf8_lossy(expect),
            "whole batch"
        );
    }

    /// The parser fed one byte at a time: every command, its value and the
    /// bytes after it arrive in separate reads, and the replies are the
    /// same bytes as when the whole batch arrives at once.
    #[test]
    fn commands_fed_one_byte_at_a_time() {
        let script: &[u8] = b"set foo 5 0 3\r\nbar\r\nget foo\r\nappend foo 0 0 2\r\nzz\r\n\
gets foo\r\nincr n 1\r\nset n 0 0 2\r\n41\r\nincr n 1\r\ndelete foo\r\nbogus\r\n\
set bad 0 0 1\r\nxy\r\nversion\r\n";
        let expect: &[u8] = b"STORED\r\nVALUE foo 5 3\r\nbar\r\nEND\r\nSTORED\r\n\
VALUE foo 5 5 2\r\nbarzz\r\nEND\r\nNOT_FOUND\r\nSTORED\r\n42\r\nDELETED\r\nERROR\r\n\
CLIENT_ERROR bad data chunk\r\nCLIENT_ERROR bad command line format\r\nVERSION 1.6.45\r\n";

        assert_same_reply_bytewise(script, expect);
    }

    /// Each meta command fed one byte at a time gives the same bytes as the
    /// whole batch at once.
    #[test]
    fn meta_commands_fed_one_byte_at_a_time() {
        let script: &[u8] =
            b"ms foo 3 T0 F5 c\r\nbar\r\nmg foo v f t s k Oab\r\nmg nope v q\r\nmn\r\n\
ma n N0 J10 v\r\nma n MD D3 v\r\nmd foo I\r\nmg foo c v\r\nmg foo\r\nme n\r\nmd foo q\r\n\
ms Zm9v 2 b\r\nzz\r\nmg Zm9v b k v\r\nmg foo zz\r\nmn\r\n";
        let expect: &[u8] = b"HD c1\r\nVA 3 f5 t-1 s3 kfoo Oab\r\nbar\r\nMN\r\nVA 2\r\n10\r\n\
VA 1\r\n7\r\nHD\r\nVA 3 c4 X W\r\nbar\r\nHD Z X\r\nME n exp=-1 la=0 cas=3 fetch=no cls=1 size=43\r\n\
HD\r\nVA 2 kZm9v b\r\nzz\r\nCLIENT_ERROR invalid flag\r\nMN\r\n";
        assert_same_reply_bytewise(script, expect);
    }

    /// Authentication (`-Y`) fed one byte at a time: the command line and
    /// the credentials block may arrive in pieces; every request before the
    /// successful one gets its own reply, and the commands after it are
    /// served normally.
    #[test]
    fn auth_fed_one_byte_at_a_time() {
        let script: &[u8] = b"get a\r\nset a 0 0 12\r\nalice wrong!\r\nset a 0 0 5\r\nalice\r\n\
set a 0 0 12\r\nalice secretXXstats\r\nset a 0 0 12\r\nalice secret\r\nget a\r\nmn\r\n";
        let expect: &[u8] = b"CLIENT_ERROR unauthenticated\r\n\
CLIENT_ERROR authentication failure\r\nCLIENT_ERROR bad authentication token format\r\n\
CLIENT_ERROR bad command line termination\r\nCLIENT_ERROR unauthenticated\r\n\
STORED\r\nEND\r\nMN\r\n";
        assert_same_reply_bytewise_auth(script, expect, Some(b"alice:secret\n"));
    }

    /// Before authentication a line too short to be a request closes the
    /// connection (memcached 1.6.45), after the replies to the requests
    /// before it, whether it comes whole or a byte at a time.
    #[test]
    fn auth_short_line_closes_after_replies() {
        let script: &[u8] = b"get a\r\nset a 0 0 1\r\nx\r\nquit\r\n";
        let expect: &[u8] = b"CLIENT_ERROR unauthenticated\r\n\
CLIENT_ERROR bad authentication token format\r\n";
        assert_same_reply_bytewise_auth(script, expect, Some(b"alice:secret\n"));
    }

    /// The auth counters: a failure counts in both, a success in
    /// auth_cmds only, malformed attempts and other commands in neither.
    #[test]
    fn auth_counters() {
        let auth = AuthFile::parse(b"alice:secret\n").unwrap();
        let (mut server, token, peer) = server_with_auth_client(Settings::default(), Some(auth));
        send(
            peer,
            b"version\r\nset a 0 0 3\r\nabc\r\nset a 0 0 3\r\nabc\n\nset a 0 0 7\r\nalice x\r\n\
set a 0 0 12\r\nalice secret\r\n",
        );
        conn::drive_machine(&mut server, token);
        assert_eq!(
            recv_all(peer),
            b"CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR bad authentication token format\r\n\
CLIENT_ERROR bad command line termination\r\nCLIENT_ERROR authentication failure\r\nSTORED\r\n"
        );
        assert_eq!(server.core.stats.auth_cmds, 2);
        assert_eq!(server.core.stats.auth_errors, 1);
        assert!(server.conns[token].authenticated);
    }

    /// `stats conns` pauses the state machine so the server can list the
    /// connections; its reply keeps its place among pipelined replies, and
    /// the asking connection shows itself in conn_parse_cmd.
    #[test]
    fn stats_conns_in_a_pipeline() {
        let (mut server, token, peer) = server_with_client(Settings::default());
        let fd = server.conns[token].fd;
        send(peer, b"version\r\nstats conns\r\nversion\r\n");
        conn::drive_machine(&mut server, token);
        let expect = format!(
            "VERSION 1.6.45\r\nSTAT {fd}:addr ?:<AF 0>\r\nSTAT {fd}:listen_addr unix:<AF 1>\r\n\
             STAT {fd}:state conn_parse_cmd\r\nSTAT {fd}:secs_since_last_cmd 0\r\nEND\r\n\
             VERSION 1.6.45\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&recv_all(peer)), expect);
        assert!(!server.conns[token].stats_conns);
        assert_eq!(server.conns[token].state, ConnState::Read);
    }

    /// With -R 1 a pipelined batch is served one command per turn; the
    /// connection is put on the ready list instead of waiting for bytes.
    #[test]
    fn reqs_per_event_yields_and_resumes() {
        let settings = Settings {
            reqs_per_event: 1,
            ..Settings::default()
        };
        let (mut server, token, peer) = server_with_client(settings);
        send(peer, b"version\r\nversion\r\nversion\r\n");
        conn::drive_machine(&mut server, token);
        assert_eq!(server.core.ready, vec![token]);
        assert_eq!(recv_all(peer), b"VERSION 1.6.45\r\n");
        let mut turns = 1;
        while !server.core.ready.is_empty() {
            server.core.ready.clear();
            conn::drive_machine(&mut server, token);
            turns += 1;
        }
        assert_eq!(recv_all(peer), b"VERSION 1.6.45\r\nVERSION 1.6.45\r\n");
        assert_eq!(turns, 3);
        assert_eq!(server.core.stats.conn_yields, 2);
    }
}
