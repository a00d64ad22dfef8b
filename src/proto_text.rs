//! The classic text protocol: tokenizing a command line, dispatching it,
//! and the storage, retrieval, arithmetic and admin commands, with the
//! exact replies memcached 1.6 sends (memcached's proto_text.c).
//!
//! A command line arrives without its "\r\n". Storage commands leave the
//! connection in Nread with an allocated item; `complete_nread` stores it
//! once the value and its "\r\n" have been read.
//!
//! With `-Y`, a connection reads its first commands through
//! `try_read_command_asciiauth` instead, until a `set` carries a user and
//! password the auth file knows.

use crate::bufpool::READ_SIZE;
use crate::cache::item::KEY_MAX_LENGTH;
use crate::cache::slabs::{ReassignResult, NONE};
use crate::cache::{AllocError, DeltaResult, StoreCmd, StoreItemType};
use crate::conn::{Conn, ConnState, OutPiece, COPY_MAX, LINE_MAX_NON_GET, OUT_HIGH_WATER};
use crate::server::{Core, ShutdownKind};
use crate::stats::append_stat;
use crate::util::{self, push_u64};

/// Most tokens of a command line that are split out (memcached's
/// MAX_TOKENS less the terminating one); the last holds the rest.
pub const MAX_TOKENS: usize = 24;

/// Splits a line at spaces (runs of spaces count as one, as memcached's
/// tokenize_command). Returns the number of tokens; when the line has
/// more than MAX_TOKENS, the last token is the untokenized rest.
pub fn tokenize<'a>(line: &'a [u8], toks: &mut [&'a [u8]; MAX_TOKENS]) -> usize {
    let mut n = 0;
    let mut i = 0;
    let len = line.len();
    while i < len {
        while i < len && line[i] == b' ' {
            i += 1;
        }
        if i >= len {
            break;
        }
        if n == MAX_TOKENS - 1 {
            toks[n] = &line[i..];
            return n + 1;
        }
        let start = i;
        while i < len && line[i] != b' ' {
            i += 1;
        }
        toks[n] = &line[start..i];
        n += 1;
    }
    n
}

/// Client flags as memcached 1.6 reads them: an unsigned long, kept to
/// its low 32 bits (so 4294967296 stores flags 0).
fn parse_flags(t: &[u8]) -> Option<u32> {
    util::parse_u64_c(t).map(|v| v as u32)
}

/// A 32-bit unsigned decimal (cache_memlimit), read strictly as memcached
/// 1.6.45 reads it: digits only.
fn parse_u32(t: &[u8]) -> Option<u32> {
    util::parse_tok_u32(t)
}

/// memcached's safe_strtol as 1.6 uses it: a signed decimal read as a
/// long, whitespace after it allowed, nothing else, then kept to 32 bits
/// (so 4294967297 reads as 1, and 4102444800 as a negative number).
pub fn parse_i32(t: &[u8]) -> Option<i32> {
    let (neg, v) = util::parse_c_number(t)?;
    // strtol's range is that of a 64-bit long.
    let v = if neg {
        0i64.checked_sub_unsigned(v)?
    } else {
        i64::try_from(v).ok()?
    };
    Some(v as i32)
}

/// Sets `noreply` if the last token is "noreply" (memcached's
/// set_noreply_maybe).
fn set_noreply_maybe(c: &mut Conn, toks: &[&[u8]]) -> bool {
    if toks.last() == Some(&&b"noreply"[..]) {
        c.noreply = true;
    }
    c.noreply
}

/// Runs one command line. Sets the connection's next state (NewCmd unless
/// the command reads a value, closes, or must flush first).
pub fn process_command(c: &mut Conn, core: &mut Core, line: &[u8]) {
    if log::log_enabled!(log::Level::Debug) {
        log::debug!("<{} {}", c.fd, String::from_utf8_lossy(line));
    }
    let mut toks: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
    let n = tokenize(line, &mut toks);
    if n > 1 {
        toks[1] = full_subcommand(toks[0], toks[1]);
    }
    let toks = &toks[..n];
    if n == 0 {
        c.out_string("ERROR");
        return;
    }
    // As memcached 1.6.45: its parser's commands are what comes before
    // the first space, so a line starting with a space names none of
    // them; the admin commands it looks up after (flush_all, verbosity,
    // lru, ...) are the first word, leading spaces or not.
    let name = if line[0] == b' ' && parsed_by_memcached(toks[0]) {
        &b""[..]
    } else {
        toks[0]
    };
    if n < min_tokens(name) {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    }
    // memcached 1.6.45 reads a last `noreply` for every command its
    // parser does not know itself (the admin commands, and unknown ones,
    // whose ERROR it silences); ours (`rep_*`) are left as they were.
    if !parsed_by_memcached(name) && !name.starts_with(b"rep_") {
        set_noreply_maybe(c, toks);
    }
    match name {
        b"get" => process_get(c, core, line, false, false),
        b"gets" => process_get(c, core, line, true, false),
        // Writes on a replica (storage commands check in process_update).
        b"incr" | b"decr" | b"delete" | b"touch" | b"flush_all" | b"gat" | b"gats"
            if core.repl.is_replica() =>
        {
            set_noreply_maybe(c, toks);
            read_only(c, core);
        }
        b"gat" => process_get(c, core, line, false, true),
        b"gats" => process_get(c, core, line, true, true),
        b"set" => process_update(c, core, toks, StoreCmd::Set),
        b"add" => process_update(c, core, toks, StoreCmd::Add),
        b"replace" => process_update(c, core, toks, StoreCmd::Replace),
        b"append" => process_update(c, core, toks, StoreCmd::Append),
        b"prepend" => process_update(c, core, toks, StoreCmd::Prepend),
        b"cas" => process_update(c, core, toks, StoreCmd::Cas),
        b"incr" => process_arithmetic(c, core, toks, true),
        b"decr" => process_arithmetic(c, core, toks, false),
        b"delete" => process_delete(c, core, toks),
        b"touch" => process_touch(c, core, toks),
        b"stats" => process_stats(c, core, toks),
        b"flush_all" => process_flush_all(c, core, toks),
        b"version" => c.out_string(concat!("VERSION ", env!("CARGO_PKG_VERSION"))),
        b"quit" => {
            c.close_reason = "normal";
            c.write_and_go = ConnState::Closing;
            c.set_state(ConnState::Mwrite);
        }
        b"shutdown" => process_shutdown(c, core, toks),
        b"verbosity" => process_verbosity(c, core, toks),
        b"cache_memlimit" if n >= 2 => process_memlimit(c, core, toks),
        b"slabs" if n == 4 && toks[1] == b"reassign" => process_slabs_reassign(c, core, toks),
        b"slabs" if n >= 3 && toks[1] == b"automove" => process_slabs_automove(c, core, toks),
        b"lru" if n >= 2 => process_lru(c, core, toks),
        b"lru_crawler" if n == 2 || n == 3 => process_lru_crawler(c, core, toks),
        b"watch" => process_watch(c, core, toks),
        b"mg" | b"ms" | b"md" | b"ma" | b"mn" | b"me" => {
            crate::proto_meta::process_meta_command(c, core, toks)
        }
        b"rep_sync" if n == 3 || n == 5 => process_rep_sync(c, core, toks),
        b"rep_wait" if n == 3 => process_rep_wait(c, core, toks),
        t if t.starts_with(b"rep_") => {
            let reply = crate::repl::command(core, toks);
            c.out_string(&reply);
        }
        #[cfg(feature = "debug-commands")]
        b"debugtime" if n == 2 => process_debugtime(c, core, toks),
        #[cfg(feature = "debug-commands")]
        b"debugdigest" if n == 1 => {
            let (items, sum) = core.cache.digest();
            c.out_string(&format!("DIGEST {} {:016x}", items, sum));
        }
        // As memcached 1.6.45 (and 1.6.18): an unknown command whose last
        // word starts with "HTTP/" is an HTTP request; the connection is
        // closed without a reply.
        _ if n > 1 && toks[n - 1].starts_with(b"HTTP/") => {
            c.close_reason = "error";
            c.set_state(ConnState::Closing);
        }
        _ => c.out_string("ERROR"),
    }
}

/// As memcached 1.6.45 reads the subcommands of lru_crawler, slabs and
/// lru: any start of a subcommand's name names it, the first in
/// memcached's order winning (`lru_crawler c 1` is a crawl).
fn full_subcommand<'a>(cmd: &[u8], sub: &'a [u8]) -> &'a [u8] {
    let names: &[&'static [u8]] = match cmd {
        b"lru_crawler" => &[
            b"crawl",
            b"metadump",
            b"mgdump",
            b"tocrawl",
            b"sleep",
            b"enable",
            b"disable",
        ],
        b"slabs" => &[b"reassign", b"automove"],
        b"lru" => &[b"tune", b"mode", b"temp_ttl"],
        _ => return sub,
    };
    names
        .iter()
        .copied()
        .find(|name| name.starts_with(sub))
        .unwrap_or(sub)
}

/// The commands memcached 1.6.45's request parser knows by name; the
/// others it hands to a table of admin commands, or answers ERROR.
fn parsed_by_memcached(name: &[u8]) -> bool {
    matches!(
        name,
        b"get"
            | b"gets"
            | b"gat"
            | b"gats"
            | b"set"
            | b"add"
            | b"cas"
            | b"replace"
            | b"append"
            | b"prepend"
            | b"incr"
            | b"decr"
            | b"touch"
            | b"delete"
            | b"stats"
            | b"watch"
            | b"version"
            | b"quit"
            | b"mg"
            | b"ms"
            | b"md"
            | b"mn"
            | b"ma"
            | b"me"
    )
}

/// The fewest tokens, the command's name included, a command line needs
/// before memcached 1.6.45 looks at it; fewer is `CLIENT_ERROR bad command
/// line format`. Tokens past those a command reads are ignored (a last
/// `noreply` still counts).
fn min_tokens(name: &[u8]) -> usize {
    match name {
        b"get" | b"gets" | b"delete" | b"mg" | b"md" | b"ma" | b"me" => 2,
        b"gat" | b"gats" | b"incr" | b"decr" | b"touch" | b"ms" => 3,
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => 5,
        _ => 0,
    }
}

/// The error every write gets on a replica: writes go to its master.
pub fn read_only(c: &mut Conn, core: &Core) {
    let msg = format!(
        "SERVER_ERROR read-only replica of {}",
        core.repl.master_addr().unwrap_or("?")
    );
    c.out_string(&msg);
}

/// rep_sync <replid> <offset> [<self host:port> <priority>]: a replica
/// asks for the stream, and says who it is for the ack policies. The
/// reply and everything after it come from repl/master.rs, which takes
/// the socket over at the end of this turn.
fn process_rep_sync(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if !core.repl.enabled {
        c.out_string("REP_DISABLE");
        return;
    }
    let offset = std::str::from_utf8(toks[2])
        .ok()
        .and_then(|v| v.parse::<i64>().ok());
    let (Ok(replid), Some(offset)) = (std::str::from_utf8(toks[1]), offset) else {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    };
    let (id, priority) = match toks.get(3..5) {
        Some([id, prio]) => {
            let id = std::str::from_utf8(id).ok().filter(|v| v.contains(':'));
            let prio = std::str::from_utf8(prio).ok().and_then(|v| v.parse().ok());
            let (Some(id), Some(prio)) = (id, prio) else {
                c.out_string("CLIENT_ERROR bad command line format");
                return;
            };
            (Some(id.to_string()), prio)
        }
        _ => (None, 100),
    };
    core.repl
        .master
        .handoffs
        .push(crate::repl::master::Handoff {
            token: c.token,
            replid: replid.to_string(),
            offset,
            id,
            priority,
        });
    c.set_state(ConnState::Handoff);
}

/// rep_wait <replicas> <timeout ms> (Redis's WAIT): answers how many
/// replicas have acknowledged every write made so far, as soon as that is
/// at least <replicas>, or when the timeout passes (0: no timeout).
fn process_rep_wait(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if !core.repl.enabled {
        c.out_string("REP_DISABLE");
        return;
    }
    let num = |t: &[u8]| std::str::from_utf8(t).ok()?.parse::<u64>().ok();
    let (Some(want), Some(timeout)) = (num(toks[1]), num(toks[2])) else {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    };
    if core.repl.is_replica() {
        c.out_string("0");
        return;
    }
    // The writes of this batch go into the stream first, so the offset to
    // wait for covers every write this connection made.
    crate::repl::master::stream_changes(core);
    let target = core.repl.offset;
    let acked = core.repl.master.acked(target);
    if acked as u64 >= want {
        c.out_string(&acked.to_string());
        return;
    }
    core.repl.master.wait_for(c.token, target, want, timeout);
    c.write_and_go = ConnState::WaitAck;
    c.set_state(ConnState::Mwrite);
}

/// watch [names...]: makes the connection a watcher (see logger.rs) of
/// the named event kinds, fetchers when none is named; a name may be
/// shortened to any start of it (`logger::watch_flag`). Replies, as
/// memcached 1.6.45: `CLIENT_ERROR watch commands not allowed` with -W,
/// `ERROR cannot pipeline other commands before watch` when replies of
/// earlier commands of the same batch are still to be sent, `ERROR` for
/// a name it does not know (noreply among them: memcached does not read
/// it here), `WATCHER_TOO_MANY log watcher limit reached` past 20
/// watchers, else `OK`, after which the connection runs no more commands:
/// what it sends later, or sent after `watch` in the same batch, is
/// dropped.
fn process_watch(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if !core.settings.watch_enabled {
        c.out_string("CLIENT_ERROR watch commands not allowed");
        return;
    }
    if c.transport == crate::conn::Transport::Udp {
        c.out_string("ERROR");
        return;
    }
    if c.unflushed_cmds > 1 {
        c.out_string("ERROR cannot pipeline other commands before watch");
        return;
    }
    let mut flags = 0;
    for name in &toks[1..] {
        match crate::logger::watch_flag(name) {
            Some(f) => flags |= f,
            None => {
                c.out_string("ERROR");
                return;
            }
        }
    }
    if toks.len() == 1 {
        flags = crate::logger::LOG_FETCHERS;
    }
    if !core.cache.logger_mut().add_watcher(c.token, c.fd, flags) {
        c.out_string("WATCHER_TOO_MANY log watcher limit reached");
        return;
    }
    // Pipelined commands after `watch` are dropped, as memcached drops
    // them.
    c.rcurr += c.rbytes;
    c.rbytes = 0;
    c.write_and_go = ConnState::Watch;
    c.set_state(ConnState::Mwrite);
}

/// A line shorter than this (without its "\n") cannot be an
/// authentication request (`set a`): it closes the connection, as in
/// memcached 1.6.45 (MIN_AUTH_REQ_LEN).
const AUTH_LINE_MIN: usize = 6;
/// The largest data block memcached 1.6.45 reads for authentication
/// (MAX_AUTH_REQ_LEN); a longer one is refused with
/// `CLIENT_ERROR auth token too long`.
const AUTH_BLOCK_MAX: u32 = 16384;

/// Reads the commands of a connection that has not authenticated yet
/// (`-Y`), straight from its read buffer (memcached's
/// try_read_command_asciiauth, as 1.6.45 has it). Returns false when more
/// bytes are needed.
///
/// The only command is a line starting with `set` that has at least five
/// tokens, the fifth the length of a data block "user pass\r\n"; the
/// rest of the line is ignored (`noreply` too). The user is what precedes
/// the block's first space, the password everything after it (spaces
/// included). Replies: `STORED` (authenticated from now on),
/// `CLIENT_ERROR authentication failure`, `CLIENT_ERROR bad
/// authentication token format` (no space in the block), `CLIENT_ERROR bad
/// command line termination` (the block does not end in "\r\n"),
/// `CLIENT_ERROR auth token too long` (a length over 16384; the block is
/// not read, what follows is read as commands), and `CLIENT_ERROR
/// unauthenticated` for every other line. Only the first two count in
/// `auth_cmds` (and a failure in `auth_errors`). The connection is closed
/// without a reply for a line shorter than `AUTH_LINE_MIN` (`quit`, `mn`,
/// an empty line), a line of over 2048 bytes without a newline (a long
/// `get` included, unlike after authentication), or a length of 16383 or
/// 16384, whose block memcached's read buffer cannot hold (it closes when
/// the bytes arrive; we do at the command line). Every request gets its
/// own reply, however many come in one read (memcached sends only the
/// last one's: doc/compatibility.md).
pub fn try_read_command_asciiauth(c: &mut Conn, core: &mut Core) -> bool {
    if c.rlbytes == 0 {
        let data = &c.rbuf[c.rcurr..c.rcurr + c.rbytes];
        let el = match memchr::memchr(b'\n', data) {
            Some(i) => i,
            None => {
                if c.rbytes > LINE_MAX_NON_GET {
                    log::info!("{}: command line too long, closing", c.fd);
                    close_after_replies(c);
                    return true;
                }
                return false;
            }
        };
        if el < AUTH_LINE_MIN {
            log::info!("{}: line too short to authenticate, closing", c.fd);
            close_after_replies(c);
            return true;
        }
        // memcached hands its tokenizer the line without its "\n", which
        // the tokenizer takes for a line still ending in one: the last
        // byte is dropped, and the one before it too if it is a "\r".
        // So "set k 0 0 12\n", with no "\r", has a length of 1.
        let end = if data[el - 2] == b'\r' {
            el - 2
        } else {
            el - 1
        };
        let mut toks: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
        let n = tokenize(&data[..end], &mut toks);
        let size = if n >= 5 && data.starts_with(b"set") {
            util::parse_tok_u32(toks[4])
        } else {
            None
        };
        c.rcurr += el + 1;
        c.rbytes -= el + 1;
        c.nreqs -= 1;
        c.unflushed_cmds = c.unflushed_cmds.saturating_add(1);
        c.last_cmd_time = core.cache.now();
        c.set_state(ConnState::NewCmd);
        let Some(size) = size else {
            if crate::conn::start_command(c, core) {
                c.out_string("CLIENT_ERROR unauthenticated");
            }
            return true;
        };
        if size > AUTH_BLOCK_MAX {
            c.out_string("CLIENT_ERROR auth token too long");
            return true;
        }
        let need = size as usize + 2;
        if need > READ_SIZE {
            log::info!("{}: authentication data too long, closing", c.fd);
            close_after_replies(c);
            return true;
        }
        c.rlbytes = need;
    }
    if c.rbytes < c.rlbytes {
        return false;
    }
    let block = &c.rbuf[c.rcurr..c.rcurr + c.rlbytes];
    let verdict = auth_verdict(core, block);
    c.rcurr += c.rlbytes;
    c.rbytes -= c.rlbytes;
    c.rlbytes = 0;
    c.set_state(ConnState::NewCmd);
    if !crate::conn::start_command(c, core) {
        return true;
    }
    match verdict {
        AuthVerdict::BadTermination => c.out_string("CLIENT_ERROR bad command line termination"),
        AuthVerdict::BadFormat => c.out_string("CLIENT_ERROR bad authentication token format"),
        AuthVerdict::Failure => {
            log::debug!("<{} authentication failed", c.fd);
            core.stats.auth_cmds += 1;
            core.stats.auth_errors += 1;
            c.out_string("CLIENT_ERROR authentication failure");
        }
        AuthVerdict::Success => {
            log::debug!("<{} authenticated", c.fd);
            core.stats.auth_cmds += 1;
            c.authenticated = true;
            c.out_string("STORED");
        }
    }
    true
}

/// Closes a connection that has not authenticated once the replies to
/// its earlier requests are sent.
fn close_after_replies(c: &mut Conn) {
    if c.has_output() {
        c.write_and_go = ConnState::Closing;
        c.set_state(ConnState::Mwrite);
    } else {
        c.set_state(ConnState::Closing);
    }
}

/// What an authentication data block comes to.
enum AuthVerdict {
    BadTermination,
    BadFormat,
    Failure,
    Success,
}

/// Checks a data block "user pass\r\n" against the auth file: the user
/// is what precedes the first space, the password the rest (memcached
/// 1.6.45; a NUL is a byte like any other).
fn auth_verdict(core: &Core, block: &[u8]) -> AuthVerdict {
    let Some(payload) = block.strip_suffix(b"\r\n") else {
        return AuthVerdict::BadTermination;
    };
    let Some(mid) = memchr::memchr(b' ', payload) else {
        return AuthVerdict::BadFormat;
    };
    match &core.auth {
        Some(a) if a.check(&payload[..mid], &payload[mid + 1..]) => AuthVerdict::Success,
        _ => AuthVerdict::Failure,
    }
}

/// Queues one VALUE line and the value of item `id`.
fn emit_value(c: &mut Conn, core: &mut Core, id: u32, key: &[u8], return_cas: bool) {
    let (fl, nb, cas) = {
        let it = core.cache.item(id);
        (it.flags(), it.nbytes(), it.cas())
    };
    let start = c.wbuf.len();
    c.wbuf.extend_from_slice(b"VALUE ");
    c.wbuf.extend_from_slice(key);
    c.wbuf.push(b' ');
    push_u64(&mut c.wbuf, fl as u64);
    c.wbuf.push(b' ');
    push_u64(&mut c.wbuf, nb as u64);
    if return_cas {
        c.wbuf.push(b' ');
        push_u64(&mut c.wbuf, cas);
    }
    c.wbuf.extend_from_slice(b"\r\n");
    c.extend_buf_piece(start);
    emit_value_bytes(c, core, id);
}

/// Queues an item's value and the "\r\n" after it.
pub fn emit_value_bytes(c: &mut Conn, core: &mut Core, id: u32) {
    emit_value_data(c, core, id);
    c.add_bytes(b"\r\n");
}

/// Queues an item's value bytes (the binary protocol sends them without
/// "\r\n"): copied when small (or when the item cannot take another
/// reference), else sent from item memory with the item pinned until
/// written.
pub fn emit_value_data(c: &mut Conn, core: &mut Core, id: u32) {
    let nb = core.cache.item(id).nbytes();
    let start = c.wbuf.len();
    // Small values are copied, unless this connection already has a lot
    // queued (a multiget of many keys): then pinning keeps its memory
    // bounded by the number of keys, not their bytes.
    let copy = nb <= COPY_MAX && c.out_bytes < OUT_HIGH_WATER;
    if copy || !core.cache.pin(id) {
        core.cache.value_to_vec(id, &mut c.wbuf);
        if c.wbuf.len() > start {
            c.extend_buf_piece(start);
        }
    } else {
        c.pinned.push(id);
        c.out.push(OutPiece::Item {
            id,
            off: 0,
            len: nb,
        });
        c.out_bytes += nb;
    }
}

/// get, gets, gat, gats: one VALUE block per hit, then END.
fn process_get(c: &mut Conn, core: &mut Core, line: &[u8], return_cas: bool, touch: bool) {
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    words.next();
    let mut exptime = 0;
    if touch {
        let t = words.next().unwrap_or(b"");
        match util::parse_tok_i32(t) {
            Some(v) => exptime = core.cache.realtime(v as i64),
            None => {
                c.out_string("CLIENT_ERROR invalid exptime argument");
                return;
            }
        }
    }
    let mark = c.mark();
    let mut keys = 0;
    for key in words {
        // Each key after the first is a reply of its own, as memcached
        // takes a response object for it; under read_buf_mem_limit one
        // may be refused, and the whole get is answered with the error.
        if keys != 0 && !core.pool.reply_room(c) {
            return get_out_of_memory(c, core, mark);
        }
        keys += 1;
        if key.len() > KEY_MAX_LENGTH {
            c.rollback(mark, &mut core.cache);
            c.out_string("CLIENT_ERROR bad command line format");
            return;
        }
        let id = if touch {
            core.cache.touch(c.fd, key, exptime)
        } else {
            core.cache.fetch(c.fd, key)
        };
        if touch {
            core.stats.touch_cmds += 1;
        } else {
            core.stats.get_cmds += 1;
        }
        if core.settings.detail_enabled {
            core.prefixes.record_get(key, id != NONE);
        }
        if id == NONE {
            if touch {
                core.stats.touch_misses += 1;
            } else {
                core.stats.get_misses += 1;
            }
            continue;
        }
        log::debug!(">{} sending key {}", c.fd, String::from_utf8_lossy(key));
        emit_value(c, core, id, key, return_cas);
    }
    log::debug!(">{} END", c.fd);
    c.add_bytes(b"END\r\n");
    if keys > 1 {
        core.pool.replies_queued(c, keys - 1);
    }
}

/// A multi-key get refused a reply for a further key under
/// read_buf_mem_limit: what it queued is dropped and the error is its
/// whole reply (memcached's process_get_command_err).
#[cold]
#[inline(never)]
fn get_out_of_memory(c: &mut Conn, core: &mut Core, mark: crate::conn::OutMark) {
    c.rollback(mark, &mut core.cache);
    core.stats.response_obj_oom += 1;
    c.out_string("SERVER_ERROR out of memory writing get response");
}

/// set/add/replace/append/prepend/cas: parse, allocate, read the value.
fn process_update(c: &mut Conn, core: &mut Core, toks: &[&[u8]], cmd: StoreCmd) {
    // As memcached 1.6.45: the length is read first, strictly (an error
    // there is sent even with noreply); once it is known, any other error
    // swallows the value that follows.
    let vlen = match util::parse_tok_i32(toks[4]) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => {
            c.out_string("CLIENT_ERROR bad command line format");
            return;
        }
    };
    set_noreply_maybe(c, toks);
    let key = toks[1];
    let flags_exptime = match (parse_flags(toks[2]), parse_i32(toks[3])) {
        (Some(f), Some(e)) if key.len() <= KEY_MAX_LENGTH => Some((f, e)),
        _ => None,
    };
    let req_cas = match cmd {
        StoreCmd::Cas => toks.get(5).and_then(|t| util::parse_tok_u64(t)),
        _ => Some(0),
    };
    let (Some((flags, exptime)), Some(req_cas)) = (flags_exptime, req_cas) else {
        c.out_string("CLIENT_ERROR bad command line format");
        c.sbytes = vlen + 2;
        c.set_state(ConnState::Swallow);
        return;
    };
    if core.repl.is_replica() {
        read_only(c, core);
        c.sbytes = vlen + 2;
        c.set_state(ConnState::Swallow);
        return;
    }
    match start_update(c, core, key, flags, exptime as i64, vlen, cmd, req_cas) {
        Ok(()) => {}
        Err(e) => {
            if e == AllocError::TooLarge {
                core.stats.store_too_large += 1;
                c.out_string("SERVER_ERROR object too large for cache");
            } else {
                core.stats.store_no_memory += 1;
                c.out_string("SERVER_ERROR out of memory storing object");
            }
            // Swallow the value and its "\r\n" so the connection stays in
            // step with the client.
            c.sbytes = vlen + 2;
            // As memcached: a set that failed must not leave the value it
            // meant to replace visible to others.
            if cmd == StoreCmd::Set {
                core.cache.store_failed(c.fd, key, true);
            }
            c.set_state(ConnState::Swallow);
        }
    }
}

/// The start of a text or binary storage command: records the set for
/// `stats detail` (ms does not, as memcached's), then `start_nread`.
#[allow(clippy::too_many_arguments)]
pub fn start_update(
    c: &mut Conn,
    core: &mut Core,
    key: &[u8],
    flags: u32,
    exptime: i64,
    vlen: usize,
    cmd: StoreCmd,
    req_cas: u64,
) -> Result<(), AllocError> {
    if core.settings.detail_enabled {
        core.prefixes.record_set(key);
    }
    start_nread(c, core, key, flags, exptime, vlen, cmd, req_cas)
}

/// Allocates the unlinked item for `key` (expiry `exptime` as the client
/// gave it) that `vlen` value bytes and a "\r\n" are read into, and sets
/// the connection to read them (Nread); the store door links the item
/// once it is in. The caller replies to an allocation error. Every
/// storage command's value, text, meta or binary, starts here.
#[allow(clippy::too_many_arguments)]
pub fn start_nread(
    c: &mut Conn,
    core: &mut Core,
    key: &[u8],
    flags: u32,
    exptime: i64,
    vlen: usize,
    cmd: StoreCmd,
    req_cas: u64,
) -> Result<(), AllocError> {
    let exptime = core.cache.realtime(exptime);
    let id = core.cache.alloc(key, flags, exptime, vlen)?;
    c.item = id;
    c.rlbytes = vlen;
    c.ritem_off = 0;
    c.crlf_got = 0;
    c.nread_cmd = cmd;
    c.req_cas = req_cas;
    c.set_state(ConnState::Nread);
    Ok(())
}

/// Called when a value and the two bytes after it are in: checks the
/// "\r\n" and stores the item. memcached's complete_nread_ascii.
pub fn complete_nread(c: &mut Conn, core: &mut Core) {
    let id = c.item;
    c.item = NONE;
    c.set_state(ConnState::NewCmd);
    if &c.crlf != b"\r\n" {
        core.cache.discard_item(id);
        c.out_string("CLIENT_ERROR bad data chunk");
        return;
    }
    // The store counts set commands and cas hits, misses and bad values.
    // A CAS unique an earlier ms left on the connection is used instead
    // of a new one (memcached 1.6.45's c->cas).
    let carried = std::mem::take(&mut c.carried_cas);
    let new_cas = (carried != 0).then_some(carried);
    let (ret, _) = core
        .cache
        .store_item_as(c.fd, id, c.nread_cmd, c.req_cas, new_cas);
    if ret != StoreItemType::Stored && new_cas.is_none() {
        // memcached 1.6.45 takes the new item's CAS unique before it tries
        // the store, so a store that fails uses one up too.
        core.cache.next_cas();
    }
    c.out_string(match ret {
        StoreItemType::Stored => "STORED",
        StoreItemType::NotStored => "NOT_STORED",
        StoreItemType::Exists => "EXISTS",
        StoreItemType::NotFound => "NOT_FOUND",
    });
}

/// incr/decr.
fn process_arithmetic(c: &mut Conn, core: &mut Core, toks: &[&[u8]], incr: bool) {
    set_noreply_maybe(c, toks);
    let key = toks[1];
    if key.len() > KEY_MAX_LENGTH {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    }
    let delta = match util::parse_tok_u64(toks[2]) {
        Some(d) => d,
        None => {
            c.out_string("CLIENT_ERROR invalid numeric delta argument");
            return;
        }
    };
    match core.cache.add_delta(c.fd, key, incr, delta) {
        // Hits are counted by add_delta, per class.
        DeltaResult::Ok(v) => {
            if c.noreply {
                c.noreply = false;
            } else {
                let start = c.wbuf.len();
                push_u64(&mut c.wbuf, v);
                c.wbuf.extend_from_slice(b"\r\n");
                c.extend_buf_piece(start);
            }
        }
        DeltaResult::NonNumeric => {
            c.out_string("CLIENT_ERROR cannot increment or decrement non-numeric value")
        }
        DeltaResult::Eom => c.out_string("SERVER_ERROR out of memory"),
        // Only the meta C flag can ask for a CAS match.
        DeltaResult::Exists => c.out_string("EXISTS"),
        DeltaResult::NotFound => {
            if incr {
                core.stats.incr_misses += 1;
            } else {
                core.stats.decr_misses += 1;
            }
            c.out_string("NOT_FOUND");
        }
    }
}

/// delete <key> [0] [noreply].
fn process_delete(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    // As memcached 1.6.45: words after the key are ignored, but for a
    // last `noreply`.
    set_noreply_maybe(c, toks);
    let key = toks[1];
    if key.len() > KEY_MAX_LENGTH {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    }
    if core.settings.detail_enabled {
        core.prefixes.record_delete(key);
    }
    if core.cache.delete(c.fd, key) {
        c.out_string("DELETED");
    } else {
        core.stats.delete_misses += 1;
        c.out_string("NOT_FOUND");
    }
}

/// touch <key> <exptime> [noreply].
fn process_touch(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    set_noreply_maybe(c, toks);
    let key = toks[1];
    if key.len() > KEY_MAX_LENGTH {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    }
    let exptime = match util::parse_tok_i32(toks[2]) {
        Some(e) => core.cache.realtime(e as i64),
        None => {
            c.out_string("CLIENT_ERROR invalid exptime argument");
            return;
        }
    };
    core.stats.touch_cmds += 1;
    if core.cache.touch(c.fd, key, exptime) == NONE {
        core.stats.touch_misses += 1;
        c.out_string("NOT_FOUND");
    } else {
        c.out_string("TOUCHED");
    }
}

/// flush_all [delay] [noreply].
fn process_flush_all(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let noreply = set_noreply_maybe(c, toks);
    core.stats.flush_cmds += 1;
    if !core.settings.flush_enabled {
        c.out_string("CLIENT_ERROR flush_all not allowed");
        return;
    }
    let mut exptime = 0i64;
    if toks.len() != if noreply { 2 } else { 1 } {
        match util::parse_tok_i32(toks[1]) {
            Some(v) => exptime = v as i64,
            None => {
                c.out_string("CLIENT_ERROR invalid exptime argument");
                return;
            }
        }
    }
    core.settings.oldest_live = core.cache.flush_all(exptime);
    c.out_string("OK");
}

/// shutdown [graceful] (only with -A).
fn process_shutdown(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if !core.settings.shutdown_command {
        c.out_string("SERVER_ERROR: shutdown not enabled");
        return;
    }
    match toks.len() {
        1 => core.shutdown = Some(ShutdownKind::Command),
        2 if toks[1] == b"graceful" => core.shutdown = Some(ShutdownKind::Graceful),
        _ => {
            c.out_string("CLIENT_ERROR invalid shutdown mode");
            return;
        }
    }
    c.set_state(ConnState::Closing);
}

/// verbosity <level> [noreply].
fn process_verbosity(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    set_noreply_maybe(c, toks);
    match toks.get(1).and_then(|t| util::parse_tok_u32(t)) {
        Some(level) => {
            core.set_verbosity(level.min(3) as u8);
            c.out_string("OK");
        }
        None => c.out_string("CLIENT_ERROR bad command line format"),
    }
}

/// cache_memlimit <megabytes> [noreply].
fn process_memlimit(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    set_noreply_maybe(c, toks);
    let mb = match parse_u32(toks[1]) {
        Some(v) => v,
        None => {
            c.out_string("ERROR");
            return;
        }
    };
    if mb < 8 {
        c.out_string("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
    } else if mb > 1_000_000_000 {
        c.out_string("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
    } else {
        let bytes = mb as u64 * 1024 * 1024;
        core.cache.set_memlimit(bytes);
        core.settings.maxbytes = bytes;
        c.out_string("OK");
    }
}

/// slabs reassign <src> <dst>: starts a page move (slabs::reassign).
/// As memcached, no `noreply` here (five words are an ERROR), and the
/// numbers are read as 32-bit signed values.
fn process_slabs_reassign(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if !core.settings.slab_reassign {
        c.out_string("CLIENT_ERROR slab reassignment disabled");
        return;
    }
    let (src, dst) = match (util::parse_tok_i32(toks[2]), util::parse_tok_i32(toks[3])) {
        (Some(s), Some(d)) => (s, d),
        _ => {
            c.out_string("CLIENT_ERROR bad command line format");
            return;
        }
    };
    c.out_string(match core.cache.slabs_reassign(src, dst) {
        ReassignResult::Ok => "OK",
        ReassignResult::Running => "BUSY currently processing reassign request",
        ReassignResult::BadClass => "BADCLASS invalid src or dst class id",
        ReassignResult::NoSpare => "NOSPARE source class has no spare pages",
        ReassignResult::SrcDstSame => "SAME src and dst class are identical",
    });
}

/// slabs automove <0|1|2> [anything...]: sets the automove mode. Words
/// after the mode are ignored, a last `noreply` silences the reply.
/// slabs automove ratio|freeratio <f>, slabs automove window <n> (any
/// start of those names, `ratio` first): the automove policy's settings,
/// as memcached 1.6.45 takes them; the policy starts over with them.
fn process_slabs_automove(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    set_noreply_maybe(c, toks);
    let sub = toks[2];
    let s = &mut core.settings;
    if b"ratio".starts_with(sub) || b"freeratio".starts_with(sub) {
        // memcached's mc_toktod: a double as strtod reads it, in a
        // 32-byte buffer.
        let v = match toks.get(3) {
            Some(t) if t.len() < 32 => crate::sys::safe_strtod(t),
            _ => None,
        };
        let Some(v) = v else {
            return c.out_string("ERROR");
        };
        if b"ratio".starts_with(sub) {
            s.slab_automove_ratio = v;
        } else {
            s.slab_automove_freeratio = v;
        }
    } else if b"window".starts_with(sub) {
        let Some(w) = toks.get(3).and_then(|t| util::parse_tok_u32(t)) else {
            return c.out_string("CLIENT_ERROR bad command line format");
        };
        if !(3..=1800).contains(&w) {
            return c.out_string("CLIENT_ERROR automove window too low or too high");
        }
        s.slab_automove_window = w;
    } else {
        let level = match util::parse_tok_u32(sub) {
            Some(v) => v,
            None => {
                c.out_string("CLIENT_ERROR bad command line format");
                return;
            }
        };
        if level > 2 {
            c.out_string("ERROR");
            return;
        }
        s.slab_automove = level;
        if s.slab_reassign {
            core.cache.set_automove(level);
        }
        return c.out_string("OK");
    }
    let (ratio, window) = (s.slab_automove_ratio, s.slab_automove_window);
    core.cache.set_automove_tuning(ratio, window);
    c.out_string("OK");
}

/// lru tune <hot_pct> <warm_pct> <hot_max_factor> <warm_max_factor>,
/// lru mode <flat|segmented>, lru temp_ttl <ttl>, each with an optional
/// noreply: memcached 1.6.18's process_lru_command, replies included
/// (bad numbers get a bare ERROR there). The percentages are read as
/// safe_strtoul reads them (kept to 32 bits, so their sum may wrap), the
/// factors as strtod, the TTL as safe_strtol; a negative TTL turns the TEMP
/// LRU off. `mode` and `temp_ttl` need the maintainer. Extra words are
/// ignored.
fn process_lru(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    set_noreply_maybe(c, toks);
    let n = toks.len();
    let maint = core.settings.lru_maintainer_thread;
    let s = &mut core.settings;
    match toks[1] {
        b"tune" if n >= 6 => {
            // The percentages read strictly, as memcached 1.6.45 does.
            let nums = (
                util::parse_tok_u32(toks[2]),
                util::parse_tok_u32(toks[3]),
                crate::sys::safe_strtod(toks[4]),
                crate::sys::safe_strtod(toks[5]),
            );
            let (hot, warm, hot_f, warm_f) = match nums {
                (Some(a), Some(b), Some(x), Some(y)) => (a, b, x, y),
                _ => return c.out_string("ERROR"),
            };
            if hot.wrapping_add(warm) > 80 {
                c.out_string("ERROR hot and warm pcts must not exceed 80");
            } else if warm_f <= 0.0 || hot_f <= 0.0 {
                c.out_string("ERROR hot/warm age factors must be greater than 0");
            } else {
                s.hot_lru_pct = hot;
                s.warm_lru_pct = warm;
                s.hot_max_factor = hot_f;
                s.warm_max_factor = warm_f;
                c.out_string("OK");
            }
        }
        // Any start of flat or segmented names it (memcached 1.6.45).
        b"mode" if n >= 3 && maint => {
            if b"flat".starts_with(toks[2]) {
                s.lru_segmented = false;
                c.out_string("OK");
            } else if b"segmented".starts_with(toks[2]) {
                s.lru_segmented = true;
                c.out_string("OK");
            } else {
                c.out_string("ERROR");
            }
        }
        b"temp_ttl" if n >= 3 && maint => match util::parse_tok_i32(toks[2]) {
            Some(ttl) => {
                if ttl < 0 {
                    s.temp_lru = false;
                } else {
                    s.temp_lru = true;
                    s.temporary_ttl = ttl as u32;
                }
                c.out_string("OK");
            }
            None => c.out_string("ERROR"),
        },
        _ => c.out_string("ERROR"),
    }
    core.cache
        .set_lru_config(crate::cache::lru::LruConfig::from_settings(&core.settings));
}

/// debugtime <seconds>: moves the server clock forward (debug builds).
#[cfg(feature = "debug-commands")]
fn process_debugtime(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    match parse_i32(toks[1]) {
        Some(s) if s >= 0 => {
            core.cache.advance_clock(s as i64);
            c.out_string("OK");
        }
        _ => c.out_string("CLIENT_ERROR bad command line format"),
    }
}

/// stats [group]: the general group, or the group named (memcached's
/// process_stat). Words after a group's name are ignored, as memcached
/// ignores them; `detail` and `cachedump` read theirs.
fn process_stats(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let start = c.wbuf.len();
    if toks.len() == 1 {
        crate::stats::server_stats(core, &mut c.wbuf);
        c.wbuf.extend_from_slice(b"END\r\n");
        c.extend_buf_piece(start);
        return;
    }
    // As memcached 1.6.45: reset, detail, settings, cachedump and conns
    // answer to any start of their name, in that order ("stats s" is
    // settings); the other groups only to their whole name.
    let sub = toks[1];
    let group: &[u8] = match [
        &b"reset"[..],
        b"detail",
        b"settings",
        b"cachedump",
        b"conns",
    ]
    .into_iter()
    .find(|g| g.starts_with(sub))
    {
        Some(g) => g,
        None => sub,
    };
    match group {
        b"reset" => {
            crate::stats::reset(core);
            c.out_string("RESET");
            return;
        }
        b"detail" if !core.settings.dump_enabled => {
            c.out_string("CLIENT_ERROR stats detail not allowed");
            return;
        }
        b"detail" => return process_stats_detail(c, core, toks.get(2).copied()),
        b"cachedump" => return process_cachedump(c, core, toks),
        b"conns" => {
            // Listing every connection needs the whole server: the state
            // machine pauses after this command and the server writes the
            // list (stats::conns_stats) into this connection's reply.
            c.stats_conns = true;
            return;
        }
        b"settings" => {
            for (name, value) in core.settings.stats_settings() {
                append_stat(&mut c.wbuf, name, value);
            }
        }
        b"slabs" => crate::stats::slabs_stats(&core.cache, &mut c.wbuf),
        b"sizes" => crate::stats::sizes_stats(&core.cache, &mut c.wbuf),
        // memcached 1.6.45 has no sizes_enable or sizes_disable (ERROR):
        // the histogram is kept only with -o track_sizes.
        b"items" => crate::stats::items_stats(&core.cache, &mut c.wbuf),
        b"replication" => crate::repl::append_stats(core, &mut c.wbuf),
        g if crate::repl::append_group(core, g, &mut c.wbuf) => {}
        _ => {
            c.out_string("ERROR");
            return;
        }
    }
    c.wbuf.extend_from_slice(b"END\r\n");
    c.extend_buf_piece(start);
}

/// stats detail on|off|dump: per-prefix statistics (stats::PrefixStats).
/// on and off only change whether requests are recorded; the counters
/// stay until `stats reset`.
fn process_stats_detail(c: &mut Conn, core: &mut Core, arg: Option<&[u8]>) {
    // As memcached 1.6.45, any start of on, off or dump names it (on
    // first, so "o" is on).
    let arg = arg.and_then(|a| {
        [&b"on"[..], b"off", b"dump"]
            .into_iter()
            .find(|w| w.starts_with(a))
    });
    match arg {
        Some(b"on") => {
            core.settings.detail_enabled = true;
            c.out_string("OK");
        }
        Some(b"off") => {
            core.settings.detail_enabled = false;
            c.out_string("OK");
        }
        Some(b"dump") => {
            let start = c.wbuf.len();
            core.prefixes.dump(&mut c.wbuf);
            c.extend_buf_piece(start);
        }
        _ => c.out_string("CLIENT_ERROR usage: stats detail on|off|dump"),
    }
}

/// lru_crawler enable|disable, sleep <us>, tocrawl <n>, crawl <classes>,
/// metadump <classes|hash>, mgdump <classes|hash> (see crawler.rs). Any
/// other word or number of words is ERROR.
fn process_lru_crawler(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    use crate::cache::crawler::{self, CrawlKind};
    if toks.len() == 2 {
        match toks[1] {
            b"enable" => {
                if core.settings.lru_crawler {
                    // As memcached, whose crawler thread is already running.
                    c.out_string("ERROR failed to start lru crawler thread");
                } else {
                    core.settings.lru_crawler = true;
                    c.out_string("OK");
                }
            }
            b"disable" => {
                core.settings.lru_crawler = false;
                core.crawler.abort(&mut core.cache);
                c.out_string("OK");
            }
            _ => c.out_string("ERROR"),
        }
        return;
    }
    let kind = match toks[1] {
        b"sleep" => {
            match util::parse_tok_u32(toks[2]) {
                None => c.out_string("CLIENT_ERROR bad command line format"),
                Some(v) if v > 1_000_000 => {
                    c.out_string("CLIENT_ERROR sleep must be one second or less")
                }
                Some(v) => {
                    core.settings.lru_crawler_sleep = v;
                    c.out_string("OK");
                }
            }
            return;
        }
        b"tocrawl" => {
            match util::parse_tok_u32(toks[2]) {
                None => c.out_string("CLIENT_ERROR bad command line format"),
                Some(v) => {
                    core.settings.lru_crawler_tocrawl = v;
                    c.out_string("OK");
                }
            }
            return;
        }
        b"crawl" => CrawlKind::Expired,
        b"metadump" => CrawlKind::Metadump,
        b"mgdump" => CrawlKind::Mgdump,
        _ => {
            c.out_string("ERROR");
            return;
        }
    };
    if !core.settings.lru_crawler {
        c.out_string("CLIENT_ERROR lru crawler disabled");
        return;
    }
    match kind {
        CrawlKind::Metadump if !core.settings.dump_enabled => {
            c.out_string("ERROR metadump not allowed");
            return;
        }
        CrawlKind::Mgdump if !core.settings.dump_enabled => {
            c.out_string("ERROR key dump not allowed");
            return;
        }
        // A dump's lines go straight after the command's own place in the
        // output: replies still queued from earlier commands of the same
        // batch would have to go first, and memcached refuses instead.
        CrawlKind::Metadump if c.has_output() => {
            c.out_string("ERROR cannot pipeline other commands before metadump");
            return;
        }
        CrawlKind::Mgdump if c.has_output() => {
            c.out_string("ERROR cannot pipeline other commands before mgdump");
            return;
        }
        CrawlKind::Expired if toks[2] == b"hash" => {
            // memcached's answer: a hash walk has no meaning for a crawl.
            c.out_string("ERROR an unknown error happened");
            return;
        }
        _ => {}
    }
    // `hash` (dumps only) walks the hash table instead of the LRU lists.
    let hash = kind != CrawlKind::Expired && toks[2] == b"hash";
    let classes = if hash {
        Vec::new()
    } else {
        match crawler::parse_classes(toks[2]) {
            Some(v) => v,
            None => {
                c.out_string("BADCLASS invalid class id");
                return;
            }
        }
    };
    if kind != CrawlKind::Expired && c.transport == crate::conn::Transport::Udp {
        c.out_string("CLIENT_ERROR dumps need a stream connection");
        return;
    }
    let client = if kind == CrawlKind::Expired {
        None
    } else {
        Some(c.token)
    };
    let hash_base = hash.then(|| core.cache.assoc().walk_base());
    match core.crawler.start(kind, &classes, client, hash_base) {
        Err(crawler::StartError::Busy) => c.out_string("BUSY currently processing crawler request"),
        Ok(()) if kind == CrawlKind::Expired => c.out_string("OK"),
        Ok(()) => {
            // As memcached 1.6.45: a dump starts with OK.
            c.add_bytes(b"OK\r\n");
            c.crawler_dump = true;
        }
    }
}

/// stats cachedump <class> <limit> (refused with -X).
fn process_cachedump(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if !core.settings.dump_enabled {
        c.out_string("CLIENT_ERROR stats cachedump not allowed");
        return;
    }
    if toks.len() < 4 {
        c.out_string("CLIENT_ERROR bad command line");
        return;
    }
    let (Some(cls), Some(limit)) = (util::parse_tok_u32(toks[2]), util::parse_tok_u32(toks[3]))
    else {
        c.out_string("CLIENT_ERROR bad command line format");
        return;
    };
    if cls as usize > crate::cache::slabs::MAX_CLASSES {
        c.out_string("CLIENT_ERROR Illegal slab id");
        return;
    }
    let start = c.wbuf.len();
    crate::stats::cachedump(&core.cache, cls as u8, limit, &mut c.wbuf);
    c.extend_buf_piece(start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_splits_on_spaces() {
        let mut t: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
        let n = tokenize(b"set  foo 0 0   3", &mut t);
        assert_eq!(n, 5);
        assert_eq!(t[0], b"set");
        assert_eq!(t[1], b"foo");
        assert_eq!(t[4], b"3");
        assert_eq!(tokenize(b"   ", &mut t), 0);
        let many: Vec<u8> = (0..30)
            .map(|i| format!("k{} ", i))
            .collect::<String>()
            .into_bytes();
        let n = tokenize(&many, &mut t);
        assert_eq!(n, MAX_TOKENS);
        assert_eq!(t[MAX_TOKENS - 1], b"k23 k24 k25 k26 k27 k28 k29 ");
    }

    #[test]
    fn number_parsing_matches_memcached() {
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"4294967297"), Some(1));
        assert_eq!(parse_i32(b"4102444800"), Some(-192522496));
        assert_eq!(parse_i32(b"9223372036854775808"), None);
        assert_eq!(parse_i32(b"1x"), None);
        assert_eq!(parse_i32(b""), None);
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_flags(b"4294967296"), Some(0));
        assert_eq!(parse_flags(b"18446744073709551616"), None);
    }
}
