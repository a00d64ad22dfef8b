//! The meta commands: mg, ms, md, ma, mn, me (memcached 1.6's proto_text.c
//! meta half). One key per command, behaviour chosen by single-letter flags,
//! some carrying a token (`T30`, `Oabc`), replies with two-letter codes:
//!
//! ```text
//!   mg <key> <flags>*            VA <len> <flags>*\r\n<data>\r\n | HD <flags>* | EN
//!   ms <key> <datalen> <flags>*  HD | NS | EX | NF   (then <flags>*)
//!   md <key> <flags>*            HD | NF | EX
//!   ma <key> <flags>*            HD | VA <len> ... <number> | NF | NS | EX
//!   mn                           MN
//!   me <key> [b]                 ME <key> exp= la= cas= fetch= cls= size= | EN
//! ```
//!
//! Return flags come back in the order the request gave them, followed by
//! W (this client won the right to recache), X (item is stale) and Z (some
//! other client already won). `q` hides the reply that means "as expected"
//! (EN for mg, HD for ms/md/ma); errors always show.

use crate::cache::item::{ITEM_FETCHED, ITEM_KEY_BINARY, KEY_MAX_LENGTH};
use crate::cache::slabs::NONE;
use crate::cache::{
    DeltaResult, MarithArgs, MdeleteArgs, MdeleteResult, MgetArgs, MsetArgs, StoreCmd,
    StoreItemType,
};
use crate::conn::{Conn, ConnState};
use crate::proto_text::{emit_value_bytes, start_nread, tokenize, MAX_TOKENS};
use crate::server::Core;
use crate::util;
use crate::util::push_u64;

/// Longest opaque flag, its `O` included (memcached's limit).
const MAX_OPAQUE: usize = 32;

/// Which error strings a command uses for bad flags: memcached 1.6 gives
/// mg and ms specific messages, md and ma one message for every flag error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Get,
    Set,
    Delete,
    Arith,
}

/// Flags of one meta command, parsed.
#[derive(Default)]
struct MetaFlags {
    seen: u64,
    base64: bool,
    q: bool,
    value: bool,
    no_bump: bool,
    invalidate: bool,
    remove_value: bool,
    cas_check: Option<u64>,
    new_cas: Option<u64>,
    client_flags: Option<u32>,
    ttl: Option<i32>,
    vivify: Option<i32>,
    recache: Option<i32>,
    mode: Option<u8>,
    initial: Option<u64>,
    delta: Option<u64>,
    /// An opaque longer than memcached's limit: each command reports it
    /// at its own point.
    long_opaque: bool,
    /// N came after T.
    vivify_last: bool,
}

impl MetaFlags {
    fn has(&self, f: u8) -> bool {
        self.seen & bit(f) != 0
    }
}

fn bit(f: u8) -> u64 {
    1u64 << ((f & 0x3f) as u64)
}

/// The flag letters memcached 1.6.45 knows. Every meta command accepts
/// all of them and ignores those it has no use for.
const KNOWN_FLAGS: &[u8] = b"bNTRlOPLkstcfvhuqxFCEMJDI";

/// The most tokens, command and key included, a meta command may have.
const MAX_META_TOKENS: usize = 20;

/// Parses a meta command's key and flags, as memcached 1.6.45's
/// _meta_flag_preparse: `raw_key` is the key as sent, `flags` the flag
/// tokens, `ntokens` the number of tokens of the whole line. A key over 250 bytes, more
/// than 20 tokens, a repeated or unknown flag stop at once, in that order;
/// a bad number or a key `b` cannot decode is remembered and reported once
/// every flag was looked at (the last such message wins, and a bad `F`
/// leaves the message as it is). ma answers every error with the same
/// line. `key` gets the key to use: decoded with `b`, else as sent.
fn parse_flags(
    raw_key: &[u8],
    flags: &[&[u8]],
    ntokens: usize,
    cmd: Cmd,
    key: &mut Vec<u8>,
) -> Result<MetaFlags, &'static str> {
    let err = |specific: &'static str| -> &'static str {
        if cmd == Cmd::Arith {
            "CLIENT_ERROR invalid or duplicate flag"
        } else {
            specific
        }
    };
    if raw_key.len() > KEY_MAX_LENGTH {
        return Err(err("CLIENT_ERROR bad command line format"));
    }
    if ntokens > MAX_META_TOKENS {
        return Err(err("CLIENT_ERROR options flags are too long"));
    }
    let bad_token = "CLIENT_ERROR bad token in command line format";
    // A flag's number: digits only (a leading `-` for the signed ones),
    // at least one.
    let nonempty = |t: &[u8]| if t.is_empty() { None } else { Some(()) };
    let u64_tok = |t: &[u8]| nonempty(t).and_then(|()| util::parse_tok_u64(t));
    let i32_tok = |t: &[u8]| nonempty(t).and_then(|()| util::parse_tok_i32(t));
    let mut m = MetaFlags::default();
    let mut seen = [false; 128];
    // The message of the last bad number (memcached's errstr, which starts
    // as a bad command line), and whether there was one.
    let mut msg = "CLIENT_ERROR bad command line format";
    let mut failed = false;
    let mut long_opaque = false;
    key.clear();
    for t in flags {
        let f = t[0];
        let tok = &t[1..];
        if f >= 127 || seen[f as usize] {
            return Err(err("CLIENT_ERROR duplicate flag"));
        }
        seen[f as usize] = true;
        if !KNOWN_FLAGS.contains(&f) {
            return Err(err("CLIENT_ERROR invalid flag"));
        }
        m.seen |= bit(f);
        long_opaque |= f == b'O' && t.len() > MAX_OPAQUE;
        let mut bad = |e: &'static str| {
            msg = e;
            failed = true;
        };
        match f {
            b'b' => {
                m.base64 = true;
                key.clear();
                if !util::base64_decode(raw_key, key) || key.is_empty() {
                    bad("CLIENT_ERROR error decoding key");
                }
            }
            b'q' => m.q = true,
            b'v' => m.value = true,
            b'u' => m.no_bump = true,
            b'I' => m.invalidate = true,
            b'x' => m.remove_value = true,
            b'C' => match u64_tok(tok) {
                Some(v) => m.cas_check = Some(v),
                None => bad(bad_token),
            },
            b'E' => match u64_tok(tok) {
                Some(v) => m.new_cas = Some(v),
                None => bad(bad_token),
            },
            b'F' => match nonempty(tok).and_then(|()| util::parse_tok_u32(tok)) {
                Some(v) => m.client_flags = Some(v),
                None => failed = true,
            },
            b'T' => match i32_tok(tok) {
                Some(v) => m.ttl = Some(v),
                None => bad(bad_token),
            },
            b'N' => match i32_tok(tok) {
                Some(v) => {
                    m.vivify = Some(v);
                    m.vivify_last = m.ttl.is_some();
                }
                None => bad(bad_token),
            },
            b'R' => match i32_tok(tok) {
                Some(v) => m.recache = Some(v),
                None => bad(bad_token),
            },
            b'J' => match u64_tok(tok) {
                Some(v) => m.initial = Some(v),
                None => bad("CLIENT_ERROR invalid numeric initial value"),
            },
            b'D' => match u64_tok(tok) {
                Some(v) => m.delta = Some(v),
                None => bad("CLIENT_ERROR invalid numeric delta value"),
            },
            // Only the letter after M counts (none: an invalid mode).
            b'M' => m.mode = Some(tok.first().copied().unwrap_or(0)),
            _ => {}
        }
    }
    if failed {
        return Err(err(msg));
    }
    if !m.base64 {
        key.extend_from_slice(raw_key);
    }
    m.long_opaque = long_opaque;
    Ok(m)
}

/// As memcached 1.6.45's tokenizer: every flag token among the first 23
/// tokens (it reads no more) must start with a letter (or one of
/// ``[\]^_` ``) or a digit, else the line is a bad command line.
pub fn check_meta_line(toks: &[&[u8]]) -> Result<(), &'static str> {
    let first_flag = if toks[0] == b"ms" { 3 } else { 2 };
    let ok = |t: &&[u8]| (65..123).contains(&t[0]) || t[0].is_ascii_digit();
    if !toks.iter().take(23).skip(first_flag).all(ok) {
        return Err("CLIENT_ERROR bad command line format");
    }
    Ok(())
}

/// The key of `me`, base64-decoded with `b`. The length limit applies to
/// the key as sent.
fn meta_key(
    raw: &[u8],
    base64: bool,
    buf: &mut Vec<u8>,
    decode_err: &'static str,
) -> Result<(), &'static str> {
    buf.clear();
    if raw.len() > KEY_MAX_LENGTH {
        return Err("CLIENT_ERROR bad command line format");
    }
    if base64 {
        if !util::base64_decode(raw, buf) || buf.is_empty() {
            return Err(decode_err);
        }
    } else {
        buf.extend_from_slice(raw);
    }
    Ok(())
}

/// What return flags report of an item.
#[derive(Clone, Copy)]
struct Shown {
    cas: u64,
    flags: u32,
    size: usize,
    /// The expiry less the server time (signed; -1 with `never`).
    ttl: i64,
    never: bool,
    /// What a `t` before this request's T flag (or N, when N created the
    /// item) shows: memcached applies those in flag order.
    early: Option<(i64, bool)>,
    created: bool,
    fetched: bool,
    la: u32,
}

const NO_ITEM: Shown = Shown {
    cas: 0,
    flags: 0,
    size: 0,
    ttl: -1,
    never: true,
    early: None,
    created: false,
    fetched: false,
    la: 0,
};

fn view(core: &Core, id: u32) -> Shown {
    let it = core.cache.item(id);
    let now = core.cache.now();
    let exp = it.exptime();
    Shown {
        cas: it.cas(),
        flags: it.flags(),
        size: it.nbytes(),
        ttl: if exp == 0 {
            -1
        } else {
            exp as i64 - now as i64
        },
        never: exp == 0,
        early: None,
        created: false,
        fetched: it.iflags() & ITEM_FETCHED != 0,
        la: now.saturating_sub(it.time()),
    }
}

/// The (time left, never) pair of an expiry `exp` at server time `now`.
fn early_ttl(exp: u32, now: u32) -> (i64, bool) {
    (exp as i64 - now as i64, exp == 0)
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// How `k` shows the key: the bytes, and whether they are base64 (then a
/// `b` flag follows the others).
struct KeyEcho<'a> {
    key: &'a [u8],
    b64: bool,
}

/// Appends the return flags the request asked for, in request order,
/// limited to those in `returns`; a base64 key is followed by ` b`.
fn return_flags(out: &mut Vec<u8>, toks: &[&[u8]], returns: &[u8], key: &KeyEcho, v: &Shown) {
    let (mut ttl, mut never) = v.early.unwrap_or((v.ttl, v.never));
    for t in toks {
        let f = t[0];
        if f == b'T' || (f == b'N' && v.created) {
            (ttl, never) = (v.ttl, v.never);
        }
        if !returns.contains(&f) {
            continue;
        }
        match f {
            b'k' => {
                out.extend_from_slice(b" k");
                out.extend_from_slice(key.key);
                if key.b64 {
                    out.extend_from_slice(b" b");
                }
            }
            b'O' => {
                out.extend_from_slice(b" O");
                out.extend_from_slice(&t[1..]);
            }
            b'c' => {
                out.extend_from_slice(b" c");
                push_u64(out, v.cas);
            }
            b'f' => {
                out.extend_from_slice(b" f");
                push_u64(out, v.flags as u64);
            }
            b'h' => out.extend_from_slice(if v.fetched { b" h1" } else { b" h0" }),
            b'l' => {
                out.extend_from_slice(b" l");
                push_u64(out, v.la as u64);
            }
            b's' => {
                out.extend_from_slice(b" s");
                push_u64(out, v.size as u64);
            }
            // As memcached's, the time left is an unsigned 32-bit
            // difference: an expiry already past shows as a huge number.
            b't' if never => out.extend_from_slice(b" t-1"),
            b't' => {
                out.extend_from_slice(b" t");
                push_u64(out, ttl as u32 as u64);
            }
            _ => {}
        }
    }
}

/// Queues a reply line: code, return flags, extra flags, "\r\n".
fn reply_line(
    c: &mut Conn,
    code: &[u8],
    toks: &[&[u8]],
    returns: &[u8],
    key: &KeyEcho,
    v: &Shown,
    extra: &[u8],
) {
    let start = c.wbuf.len();
    c.wbuf.extend_from_slice(code);
    return_flags(&mut c.wbuf, toks, returns, key, v);
    c.wbuf.extend_from_slice(extra);
    c.wbuf.extend_from_slice(b"\r\n");
    c.extend_buf_piece(start);
}

/// Runs mg, ms, md, ma, mn or me. `toks[0]` is the command.
pub fn process_meta_command(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if toks[0] != b"mn" {
        if let Err(e) = check_meta_line(toks) {
            return c.out_errstring(e);
        }
    }
    match toks[0] {
        b"mn" => {
            c.add_bytes(b"MN\r\n");
            // As memcached's, mn writes out what is queued at once (a
            // datagram's replies still leave together).
            if c.transport != crate::conn::Transport::Udp {
                c.write_and_go = ConnState::NewCmd;
                c.set_state(ConnState::Mwrite);
            }
        }
        b"me" => process_mdebug(c, core, toks),
        _ if toks.len() < 2 => c.out_errstring("CLIENT_ERROR bad command line format"),
        b"mg" => process_mget(c, core, toks),
        b"ms" => process_mset(c, core, toks),
        b"md" => process_mdelete(c, core, toks),
        b"ma" => process_marith(c, core, toks),
        _ => c.out_string("ERROR"),
    }
}

/// Parses the flags and the key of mg, md or ma. On an error its reply is
/// queued and None returned; the caller must hand the key buffer back to
/// `c.meta_key` when done.
fn request(c: &mut Conn, toks: &[&[u8]], cmd: Cmd) -> Option<(MetaFlags, Vec<u8>)> {
    let mut key = std::mem::take(&mut c.meta_key);
    match parse_flags(toks[1], &toks[2..], toks.len(), cmd, &mut key) {
        // mg, md and ma look at the opaque's length after the flags.
        Ok(m) if !m.long_opaque => Some((m, key)),
        Ok(_) => {
            c.meta_key = key;
            c.out_errstring("CLIENT_ERROR opaque token too long");
            None
        }
        Err(e) => {
            c.meta_key = key;
            c.out_errstring(e);
            None
        }
    }
}

/// The key as a hit shows it: base64 again if it was stored from base64.
fn stored_key_echo(core: &Core, id: u32, out: &mut Vec<u8>) -> bool {
    let it = core.cache.item(id);
    out.clear();
    if it.iflags() & ITEM_KEY_BINARY != 0 {
        util::base64_encode(it.key(), out);
        true
    } else {
        out.extend_from_slice(it.key());
        false
    }
}

/// mg <key> <flags>*
fn process_mget(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    const RETURNS: &[u8] = b"cfhklOst";
    let flags = &toks[2..];
    let Some((m, key)) = request(c, toks, Cmd::Get) else {
        return;
    };
    // On a replica, mg may read but not change the item.
    if core.repl.is_replica()
        && (m.ttl.is_some() || m.vivify.is_some() || m.recache.is_some() || m.new_cas.is_some())
    {
        c.meta_key = key;
        return crate::proto_text::read_only(c, core);
    }
    let r = core.cache.mget(
        c.fd,
        &key,
        &MgetArgs {
            vivify: m.vivify,
            ttl: m.ttl,
            recache: m.recache,
            new_cas: m.new_cas,
            no_bump: m.no_bump,
            vivify_last: m.vivify_last,
            read_only: core.repl.is_replica(),
        },
    );
    let id = r.id;
    if id == NONE {
        core.stats.get_cmds += 1;
        core.stats.get_misses += 1;
        if !m.q {
            let echo = KeyEcho {
                key: toks[1],
                b64: m.base64,
            };
            reply_line(c, b"EN", flags, b"kO", &echo, &NO_ITEM, b"");
        }
        c.meta_key = key;
        return;
    }
    // As memcached 1.6.18 counts mg: a found (or just created) item is a
    // touch when T is given, else a get; only misses count as gets
    // whatever the flags. The door counts the hit in the item's class.
    if m.ttl.is_some() {
        core.stats.touch_cmds += 1;
    } else {
        core.stats.get_cmds += 1;
    }
    // h and l report the item as it was before this access.
    let after = view(core, id);
    let now = core.cache.now();
    let shown = Shown {
        fetched: r.fetched_before,
        la: now.saturating_sub(r.time_before),
        early: (m.ttl.is_some() || r.created).then(|| early_ttl(r.exptime_before, now)),
        created: r.created,
        ..after
    };
    let extra: &[u8] = match (r.already_sent, r.stale, r.won) {
        (true, true, _) => b" Z X",
        (true, false, _) => b" Z",
        (false, true, true) => b" X W",
        (false, true, false) => b" X",
        (false, false, true) => b" W",
        (false, false, false) => b"",
    };
    let mut echo_buf = std::mem::take(&mut c.meta_line);
    let b64 = m.has(b'k') && stored_key_echo(core, id, &mut echo_buf);
    let echo = KeyEcho {
        key: &echo_buf,
        b64,
    };
    let send_value = m.value && m.cas_check != Some(shown.cas);
    let start = c.wbuf.len();
    if send_value {
        c.wbuf.extend_from_slice(b"VA ");
        push_u64(&mut c.wbuf, shown.size as u64);
    } else {
        c.wbuf.extend_from_slice(b"HD");
    }
    return_flags(&mut c.wbuf, flags, RETURNS, &echo, &shown);
    c.wbuf.extend_from_slice(extra);
    c.wbuf.extend_from_slice(b"\r\n");
    c.extend_buf_piece(start);
    if send_value {
        emit_value_bytes(c, core, id);
    }
    c.meta_line = echo_buf;
    c.meta_key = key;
}

/// ms <key> <datalen> <flags>*: parses, allocates and starts reading the
/// value; `complete_mset` answers once it is in.
fn process_mset(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if toks.len() < 3 {
        return c.out_errstring("CLIENT_ERROR bad command line format");
    }
    // As memcached 1.6.45: the length is read strictly (digits only).
    let vlen = match util::parse_tok_i32(toks[2]) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => return c.out_errstring("CLIENT_ERROR bad command line format"),
    };
    // From here on the client will send the value whatever we answer:
    // an error swallows it so the connection stays in step.
    let swallow_err = |c: &mut Conn, e: &str| {
        c.out_errstring(e);
        c.sbytes = vlen + 2;
        c.set_state(ConnState::Swallow);
    };
    let flags = &toks[3..];
    let mut key = std::mem::take(&mut c.meta_key);
    let m = match parse_flags(toks[1], flags, toks.len(), Cmd::Set, &mut key) {
        Ok(m) => m,
        Err(e) => {
            c.meta_key = key;
            return swallow_err(c, e);
        }
    };
    let cmd = match m.mode.unwrap_or(b'S') {
        b'S' => StoreCmd::Set,
        b'E' => StoreCmd::Add,
        b'A' => StoreCmd::Append,
        b'P' => StoreCmd::Prepend,
        b'R' => StoreCmd::Replace,
        _ => {
            c.meta_key = key;
            return swallow_err(c, "CLIENT_ERROR invalid mode for ms M token");
        }
    };
    if core.repl.is_replica() {
        c.meta_key = key;
        let msg = format!(
            "SERVER_ERROR read-only replica of {}",
            core.repl.master_addr().unwrap_or("?")
        );
        return swallow_err(c, &msg);
    }
    let client_flags = m.client_flags.unwrap_or(0);
    // Keep what the reply needs: the raw key and the flag tokens.
    c.meta_line.clear();
    c.meta_line.extend_from_slice(toks[1]);
    for t in flags {
        c.meta_line.push(b' ');
        c.meta_line.extend_from_slice(t);
    }
    let exptime = m.ttl.unwrap_or(0) as i64;
    let req_cas = m.cas_check.unwrap_or(0);
    // As memcached's, C0 still makes a set or replace a CAS store (which
    // no item's CAS matches).
    let cmd = match cmd {
        StoreCmd::Set | StoreCmd::Replace if m.cas_check == Some(0) => StoreCmd::Cas,
        cmd => cmd,
    };
    match start_nread(c, core, &key, client_flags, exptime, vlen, cmd, req_cas) {
        Ok(()) if m.long_opaque => {
            // memcached looks at the opaque once the item is allocated and
            // its CAS unique taken (which the connection keeps for its next
            // store, as after a bad data chunk).
            let id = std::mem::replace(&mut c.item, NONE);
            core.cache.discard_item(id);
            c.carried_cas = match m.new_cas {
                Some(v) => v,
                None => core.cache.next_cas(),
            };
            swallow_err(c, "CLIENT_ERROR opaque token too long");
        }
        Ok(()) => c.nread_meta = true,
        Err(e) => {
            if e == crate::cache::AllocError::TooLarge {
                core.stats.store_too_large += 1;
                swallow_err(c, "SERVER_ERROR object too large for cache");
            } else {
                core.stats.store_no_memory += 1;
                swallow_err(c, "SERVER_ERROR out of memory storing object");
            }
            if cmd == StoreCmd::Set {
                core.cache.store_failed(c.fd, &key, false);
            }
        }
    }
    c.meta_key = key;
}

/// Called when an ms value and its "\r\n" are in: stores and answers.
pub fn complete_mset(c: &mut Conn, core: &mut Core) {
    const RETURNS: &[u8] = b"bckOs";
    let id = c.item;
    c.item = NONE;
    c.nread_meta = false;
    c.set_state(ConnState::NewCmd);
    let line = std::mem::take(&mut c.meta_line);
    // The line was "key flag flag ..." as tokenized before: re-split it
    // without allocating.
    let mut toks: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
    let n = tokenize(&line, &mut toks);
    let raw_key = toks[0];
    let flags = &toks[1..n.max(1)];
    // Parsed once already when the command arrived.
    let mut scratch = std::mem::take(&mut c.meta_key);
    let m = parse_flags(raw_key, flags, n + 2, Cmd::Set, &mut scratch).unwrap_or_default();
    c.meta_key = scratch;
    // memcached 1.6.45 takes the CAS unique of an ms without E when its
    // command line is read, so a bad chunk or a failed store uses one up.
    // After a bad chunk it stays with the connection (E's value too), and
    // the next text store completed there takes it.
    if &c.crlf != b"\r\n" {
        core.cache.discard_item(id);
        c.carried_cas = match m.new_cas {
            Some(v) => v,
            None => core.cache.next_cas(),
        };
        c.out_errstring("CLIENT_ERROR bad data chunk");
        c.meta_line = line;
        return;
    }
    c.carried_cas = 0;
    // E0 is no E: memcached mints a CAS unique when the one it holds is 0.
    let new_cas = m.new_cas.filter(|&v| v != 0);
    let (result, live, sent, stored_cas) = core.cache.mset(
        c.fd,
        id,
        c.nread_cmd,
        &MsetArgs {
            req_cas: c.req_cas,
            invalidate: m.invalidate,
            vivify: m.vivify,
            new_cas,
            base64: m.base64,
        },
    );
    if result != StoreItemType::Stored && new_cas.is_none() {
        core.cache.next_cas();
    }
    // memcached 1.6.45's s is the stored size (after an append, the
    // joined one), or the size of the value sent when it was not stored.
    let v = if live != NONE {
        view(core, live)
    } else {
        Shown {
            size: sent,
            cas: stored_cas,
            ..NO_ITEM
        }
    };
    let code: &[u8] = match result {
        StoreItemType::Stored => b"HD",
        StoreItemType::NotStored => b"NS",
        StoreItemType::Exists => b"EX",
        StoreItemType::NotFound => b"NF",
    };
    if !(m.q && result == StoreItemType::Stored) {
        let echo = KeyEcho {
            key: raw_key,
            b64: m.base64,
        };
        reply_line(c, code, flags, RETURNS, &echo, &v, b"");
    }
    c.meta_line = line;
}

/// md <key> <flags>*
fn process_mdelete(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let flags = &toks[2..];
    let Some((m, key)) = request(c, toks, Cmd::Delete) else {
        return;
    };
    if core.repl.is_replica() {
        c.meta_key = key;
        return crate::proto_text::read_only(c, core);
    }
    let r = core.cache.mdelete(
        c.fd,
        &key,
        &MdeleteArgs {
            cas_check: m.cas_check,
            invalidate: m.invalidate,
            ttl: m.ttl,
            remove_value: m.remove_value,
            client_flags: m.client_flags,
            new_cas: m.new_cas,
        },
    );
    if r == MdeleteResult::NoMemory {
        c.meta_key = key;
        return c.out_errstring("SERVER_ERROR out of memory");
    }
    // As memcached 1.6.45 counts md: a CAS mismatch is a miss, and a
    // delete or an x without I a hit (the door counts hits).
    let code: &[u8] = match r {
        MdeleteResult::NotFound => {
            core.stats.delete_misses += 1;
            b"NF"
        }
        MdeleteResult::Exists => {
            core.stats.delete_misses += 1;
            b"EX"
        }
        MdeleteResult::Done | MdeleteResult::NoMemory => b"HD",
    };
    if !(m.q && code == b"HD") {
        let echo = KeyEcho {
            key: toks[1],
            b64: m.base64,
        };
        reply_line(c, code, flags, b"kO", &echo, &NO_ITEM, b"");
    }
    c.meta_key = key;
}

/// ma <key> <flags>*
fn process_marith(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    const RETURNS: &[u8] = b"tckO";
    let flags = &toks[2..];
    let Some((m, key)) = request(c, toks, Cmd::Arith) else {
        return;
    };
    if core.repl.is_replica() {
        c.meta_key = key;
        return crate::proto_text::read_only(c, core);
    }
    let echo = KeyEcho {
        key: toks[1],
        b64: m.base64,
    };
    let incr = match m.mode.unwrap_or(b'I') {
        b'I' | b'+' => true,
        b'D' | b'-' => false,
        _ => {
            c.meta_key = key;
            return c.out_errstring("CLIENT_ERROR invalid mode for ma M token");
        }
    };
    let delta = m.delta.unwrap_or(1);
    let r = core.cache.marith(
        c.fd,
        &key,
        incr,
        delta,
        &MarithArgs {
            req_cas: m.cas_check.unwrap_or(0),
            new_cas: m.new_cas,
            vivify: m.vivify,
            initial: m.initial.unwrap_or(0),
            ttl: m.ttl,
            vivify_last: m.vivify_last,
        },
    );
    if r.vivify_failed {
        reply_line(c, b"NS", flags, b"kO", &echo, &NO_ITEM, b"");
        c.meta_key = key;
        return;
    }
    let (result, id) = (r.result, r.id);
    match result {
        // Hits were counted by add_delta_ex (an item created by N is
        // not one, as in memcached).
        DeltaResult::Ok(value) => {
            let now = core.cache.now();
            let mut v = if id != NONE {
                view(core, id)
            } else if r.created_cas != 0 {
                // Created with an expiry already past: gone, but the reply
                // shows it as made.
                Shown {
                    cas: r.created_cas,
                    ttl: r.created_exptime as i64 - now as i64,
                    never: r.created_exptime == 0,
                    ..NO_ITEM
                }
            } else {
                NO_ITEM
            };
            if m.ttl.is_some() || r.created {
                v.early = Some(early_ttl(r.exptime_before, now));
                v.created = r.created;
            }
            // q hides the success reply, for an item just created too
            // (memcached 1.6.45; 1.6.18 sent that one).
            if m.q {
                // nothing
            } else if m.value {
                let digits = crate::util::itoa_u64(value);
                let mut code = b"VA ".to_vec();
                push_u64(&mut code, digits.len() as u64);
                reply_line(c, &code, flags, RETURNS, &echo, &v, b"");
                c.add_bytes(&digits);
                c.add_bytes(b"\r\n");
            } else {
                reply_line(c, b"HD", flags, RETURNS, &echo, &v, b"");
            }
        }
        DeltaResult::NotFound => {
            if incr {
                core.stats.incr_misses += 1;
            } else {
                core.stats.decr_misses += 1;
            }
            reply_line(c, b"NF", flags, b"kO", &echo, &NO_ITEM, b"");
        }
        DeltaResult::Exists => reply_line(c, b"EX", flags, b"kO", &echo, &NO_ITEM, b""),
        DeltaResult::NonNumeric => {
            c.out_errstring("CLIENT_ERROR cannot increment or decrement non-numeric value")
        }
        DeltaResult::Eom => c.out_errstring("SERVER_ERROR out of memory"),
    }
    c.meta_key = key;
}

/// me <key> [b]: the item's metadata in memcached's words.
fn process_mdebug(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    // As memcached 1.6.45, words after the key and `b` are ignored.
    if toks.len() < 2 {
        return c.out_errstring("CLIENT_ERROR bad command line format");
    }
    let base64 = toks.len() >= 3 && toks[2] == b"b";
    let mut key = std::mem::take(&mut c.meta_key);
    if let Err(e) = meta_key(
        toks[1],
        base64,
        &mut key,
        "CLIENT_ERROR bad command line format",
    ) {
        c.meta_key = key;
        return c.out_errstring(e);
    }
    // `cmd_meta` counts the `me` commands with a usable key, as memcached's.
    core.stats.meta_cmds += 1;
    let id = core.cache.lookup(c.fd, &key);
    if id == NONE {
        c.add_bytes(b"EN\r\n");
    } else {
        let v = view(core, id);
        let (cls, size) = {
            let it = core.cache.item(id);
            (it.clsid(), it.ntotal())
        };
        let mut echo = std::mem::take(&mut c.meta_line);
        stored_key_echo(core, id, &mut echo);
        let start = c.wbuf.len();
        c.wbuf.extend_from_slice(b"ME ");
        c.wbuf.extend_from_slice(&echo);
        // The time left (memcached 1.6.18 printed it negated; 1.6.45 not).
        c.wbuf.extend_from_slice(b" exp=");
        push_i64(&mut c.wbuf, v.ttl);
        c.wbuf.extend_from_slice(b" la=");
        push_u64(&mut c.wbuf, v.la as u64);
        c.wbuf.extend_from_slice(b" cas=");
        push_u64(&mut c.wbuf, v.cas);
        c.wbuf.extend_from_slice(if v.fetched {
            b" fetch=yes"
        } else {
            b" fetch=no"
        });
        c.wbuf.extend_from_slice(b" cls=");
        push_u64(&mut c.wbuf, cls as u64);
        c.wbuf.extend_from_slice(b" size=");
        push_u64(&mut c.wbuf, size as u64);
        c.wbuf.extend_from_slice(b"\r\n");
        c.extend_buf_piece(start);
        c.meta_line = echo;
    }
    c.meta_key = key;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_parsing() {
        let toks: Vec<&[u8]> = vec![b"v", b"T30", b"Oabc", b"k"];
        let m = parse_flags(b"k", &toks, 2 + toks.len(), Cmd::Get, &mut Vec::new())
            .ok()
            .unwrap();
        assert!(m.value);
        assert_eq!(m.ttl, Some(30));
        assert!(m.has(b'O') && m.has(b'k'));
        let dup: Vec<&[u8]> = vec![b"v", b"v"];
        assert_eq!(
            parse_flags(b"k", &dup, 2 + dup.len(), Cmd::Get, &mut Vec::new()).err(),
            Some("CLIENT_ERROR duplicate flag")
        );
        assert_eq!(
            parse_flags(b"k", &dup, 2 + dup.len(), Cmd::Arith, &mut Vec::new()).err(),
            Some("CLIENT_ERROR invalid or duplicate flag")
        );
        let bad: Vec<&[u8]> = vec![b"Tabc"];
        assert_eq!(
            parse_flags(b"k", &bad, 2 + bad.len(), Cmd::Get, &mut Vec::new()).err(),
            Some("CLIENT_ERROR bad token in command line format")
        );
        let unknown: Vec<&[u8]> = vec![b"z"];
        assert_eq!(
            parse_flags(b"k", &unknown, 2 + unknown.len(), Cmd::Set, &mut Vec::new()).err(),
            Some("CLIENT_ERROR invalid flag")
        );
        // The opaque limit counts the O itself.
        let long: Vec<&[u8]> = vec![b"O12345678901234567890123456789012"];
        let m = parse_flags(b"k", &long, 2 + long.len(), Cmd::Get, &mut Vec::new());
        assert!(m.ok().unwrap().long_opaque);
        let max: Vec<&[u8]> = vec![b"O1234567890123456789012345678901"];
        let m = parse_flags(b"k", &max, 2 + max.len(), Cmd::Get, &mut Vec::new());
        assert!(!m.ok().unwrap().long_opaque);
        // A long key, then too many tokens, come before any flag error.
        let dup: Vec<&[u8]> = vec![b"v", b"v"];
        let long_key = [b'k'; 251];
        assert_eq!(
            parse_flags(&long_key, &dup, 4, Cmd::Get, &mut Vec::new()).err(),
            Some("CLIENT_ERROR bad command line format")
        );
        assert_eq!(
            parse_flags(b"k", &dup, 21, Cmd::Get, &mut Vec::new()).err(),
            Some("CLIENT_ERROR options flags are too long")
        );
        // A bad F keeps the message of an earlier bad number.
        let nf: Vec<&[u8]> = vec![b"Nx", b"Fx"];
        assert_eq!(
            parse_flags(b"k", &nf, 4, Cmd::Get, &mut Vec::new()).err(),
            Some("CLIENT_ERROR bad token in command line format")
        );
    }
}
