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

use crate::conn::{Conn, ConnState};
use crate::items::{
    self, DeltaResult, StoreCmd, StoreItemType, ITEM_FETCHED, ITEM_STALE, ITEM_TOKEN_SENT,
    KEY_MAX_LENGTH,
};
use crate::proto_text::{emit_value_bytes, parse_i32, push_u64};
use crate::slabs::NONE;
use crate::Core;

/// Longest opaque token (memcached's MFLAG_MAX_OPAQUE_LENGTH).
const MAX_OPAQUE: usize = 32;

/// Flags of one meta command, parsed. Token-less flags are bits; token
/// flags keep their parsed value.
#[derive(Default)]
struct MetaFlags<'a> {
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
    opaque: Option<&'a [u8]>,
}

fn bit(f: u8) -> u64 {
    1u64 << ((f & 0x3f) as u64)
}

fn num_u64(t: &[u8]) -> Result<u64, &'static str> {
    items::parse_u64_c(t).ok_or("CLIENT_ERROR bad token in command line format")
}

fn num_i32(t: &[u8]) -> Result<i32, &'static str> {
    parse_i32(t).ok_or("CLIENT_ERROR bad token in command line format")
}

/// Parses the flag tokens of a meta command; `allowed` lists the flag
/// letters this command takes.
fn parse_flags<'a>(toks: &[&'a [u8]], allowed: &[u8]) -> Result<MetaFlags<'a>, &'static str> {
    let mut m = MetaFlags::default();
    for t in toks {
        let f = t[0];
        let tok = &t[1..];
        if !allowed.contains(&f) {
            return Err("CLIENT_ERROR invalid flag");
        }
        if m.seen & bit(f) != 0 && f.is_ascii() && f != b'P' && f != b'L' {
            return Err("CLIENT_ERROR duplicate flag");
        }
        m.seen |= bit(f);
        match f {
            b'b' => m.base64 = true,
            b'q' => m.q = true,
            b'v' => m.value = true,
            b'u' => m.no_bump = true,
            b'I' => m.invalidate = true,
            b'x' => m.remove_value = true,
            b'C' => m.cas_check = Some(num_u64(tok)?),
            b'E' => m.new_cas = Some(num_u64(tok)?),
            b'F' => {
                m.client_flags = Some(
                    items::parse_u64_c(tok)
                        .ok_or("CLIENT_ERROR bad token in command line format")?
                        as u32,
                )
            }
            b'T' => m.ttl = Some(num_i32(tok)?),
            b'N' => m.vivify = Some(num_i32(tok)?),
            b'R' => m.recache = Some(num_i32(tok)?),
            b'J' => m.initial = Some(num_u64(tok)?),
            b'D' => m.delta = Some(num_u64(tok)?),
            b'M' => {
                if tok.len() != 1 {
                    return Err("CLIENT_ERROR incorrect length for M token");
                }
                m.mode = Some(tok[0]);
            }
            b'O' => {
                if tok.len() > MAX_OPAQUE {
                    return Err("CLIENT_ERROR opaque token too long");
                }
                m.opaque = Some(tok);
            }
            _ => {}
        }
    }
    Ok(m)
}

/// The key of a meta command, base64-decoded with `b`. Errors are the
/// replies memcached gives.
fn meta_key(raw: &[u8], base64: bool, buf: &mut Vec<u8>) -> Result<(), &'static str> {
    buf.clear();
    if raw.len() > KEY_MAX_LENGTH {
        return Err("CLIENT_ERROR bad command line format");
    }
    if base64 {
        if !base64_decode(raw, buf) || buf.is_empty() {
            return Err("CLIENT_ERROR error decoding key");
        }
        if buf.len() > KEY_MAX_LENGTH {
            return Err("CLIENT_ERROR bad command line format");
        }
    } else {
        buf.extend_from_slice(raw);
    }
    Ok(())
}

/// What return flags report of an item.
struct ItemView {
    cas: u64,
    flags: u32,
    size: usize,
    ttl: i64,
    fetched: bool,
    la: u32,
}

fn view(core: &Core, id: u32) -> ItemView {
    let c = core.cache.slabs.chunk(id);
    let now = core.cache.clock.current_time;
    let exp = items::exptime(c);
    ItemView {
        cas: items::cas(c),
        flags: items::flags(c),
        size: items::nbytes(c),
        ttl: if exp == 0 {
            -1
        } else {
            exp as i64 - now as i64
        },
        fetched: items::iflags(c) & ITEM_FETCHED != 0,
        la: now.saturating_sub(items::time(c)),
    }
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends the return flags the request asked for, in request order
/// (c, f, h, k, l, O, s, t), then `b` if a base64 key was returned.
fn return_flags(out: &mut Vec<u8>, toks: &[&[u8]], raw_key: &[u8], v: Option<&ItemView>) {
    for t in toks {
        let f = t[0];
        match f {
            b'k' => {
                out.extend_from_slice(b" k");
                out.extend_from_slice(raw_key);
            }
            b'O' => {
                out.extend_from_slice(b" O");
                out.extend_from_slice(&t[1..]);
            }
            _ => {
                let Some(v) = v else { continue };
                match f {
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
                    b't' => {
                        out.extend_from_slice(b" t");
                        push_i64(out, v.ttl);
                    }
                    _ => {}
                }
            }
        }
    }
    // A returned key is marked as base64 after the other flags.
    let has = |f: u8| toks.iter().any(|t| t[0] == f);
    if has(b'b') && has(b'k') {
        out.extend_from_slice(b" b");
    }
}

/// Runs mg, ms, md, ma, mn or me. `toks[0]` is the command.
pub fn process_meta_command(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    core.stats.meta_cmds += 1;
    if toks[0] == b"mn" {
        c.add_bytes(b"MN\r\n");
        return;
    }
    if toks.len() < 2 {
        c.out_errstring("ERROR");
        return;
    }
    match toks[0] {
        b"mg" => process_mget(c, core, toks),
        b"ms" => process_mset(c, core, toks),
        b"md" => process_mdelete(c, core, toks),
        b"ma" => process_marith(c, core, toks),
        b"me" => process_mdebug(c, core, toks),
        _ => c.out_string("ERROR"),
    }
}

/// Queues a finished reply line ("HD", "VA 3", ...) with its flags.
fn reply_line(
    c: &mut Conn,
    code: &[u8],
    toks: &[&[u8]],
    raw_key: &[u8],
    v: Option<&ItemView>,
    extra: &[u8],
) {
    let start = c.wbuf.len();
    c.wbuf.extend_from_slice(code);
    return_flags(&mut c.wbuf, toks, raw_key, v);
    c.wbuf.extend_from_slice(extra);
    c.wbuf.extend_from_slice(b"\r\n");
    c.extend_buf_piece(start);
}

/// mg <key> <flags>*
fn process_mget(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let flags = &toks[2..];
    let m = match parse_flags(flags, b"bcfhklOqstuvENRTPL") {
        Ok(m) => m,
        Err(e) => return c.out_errstring(e),
    };
    let mut key = std::mem::take(&mut c.meta_key);
    if let Err(e) = meta_key(toks[1], m.base64, &mut key) {
        c.meta_key = key;
        return c.out_errstring(e);
    }
    let mut id = core.cache.peek(&key);
    let mut won = false;
    let mut created = false;
    // Some other client won before this request (Z).
    let already_sent =
        id != NONE && items::iflags(core.cache.slabs.chunk(id)) & ITEM_TOKEN_SENT != 0;
    if id == NONE {
        core.stats.get_cmds += 1;
        core.stats.get_misses += 1;
        if let Some(ttl) = m.vivify {
            // Vivify: a stub item with no value, whose creator wins.
            let exp = core.cache.clock.realtime(ttl as i64);
            if let Ok(new) = core.cache.alloc(&key, 0, exp, 0) {
                c.crlf_got = 0;
                if core.cache.store(new, StoreCmd::Add, 0).0 == StoreItemType::Stored {
                    id = new;
                    created = true;
                    won = true;
                    core.cache.set_iflag(id, ITEM_TOKEN_SENT, true);
                } else {
                    core.cache.free_unlinked(new);
                }
            }
        }
        if id == NONE {
            c.meta_key = key;
            if !m.q {
                c.add_bytes(b"EN\r\n");
            }
            return;
        }
    } else {
        core.stats.get_cmds += 1;
        core.stats.get_hits += 1;
    }
    let before = view(core, id);
    if !created {
        if let Some(ttl) = m.ttl {
            let exp = core.cache.clock.realtime(ttl as i64);
            core.cache.touch(id, exp);
            core.stats.touch_cmds += 1;
            core.stats.touch_hits += 1;
        }
        let f = items::iflags(core.cache.slabs.chunk(id));
        if let Some(r) = m.recache {
            if before.ttl != -1 && before.ttl < r as i64 && f & ITEM_TOKEN_SENT == 0 {
                won = true;
                core.cache.set_iflag(id, ITEM_TOKEN_SENT, true);
            }
        }
        if f & ITEM_STALE != 0 && f & ITEM_TOKEN_SENT == 0 && !won {
            won = true;
            core.cache.set_iflag(id, ITEM_TOKEN_SENT, true);
        }
        if !m.no_bump {
            core.cache.bump(id);
        }
    }
    let after = view(core, id);
    let shown = ItemView {
        fetched: before.fetched,
        la: before.la,
        ..after
    };
    let f = items::iflags(core.cache.slabs.chunk(id));
    let mut extra: Vec<u8> = Vec::new();
    if already_sent {
        extra.extend_from_slice(b" Z");
    }
    if f & ITEM_STALE != 0 {
        extra.extend_from_slice(b" X");
    }
    if won {
        extra.extend_from_slice(b" W");
    }
    let send_value = m.value && m.cas_check != Some(shown.cas);
    if send_value {
        let mut code = b"VA ".to_vec();
        push_u64(&mut code, shown.size as u64);
        reply_line(c, &code, flags, toks[1], Some(&shown), &extra);
        emit_value_bytes(c, core, id);
    } else {
        reply_line(c, b"HD", flags, toks[1], Some(&shown), &extra);
    }
    c.meta_key = key;
}

/// ms <key> <datalen> <flags>*: parses, allocates and starts reading the
/// value; `complete_mset` answers once it is in.
fn process_mset(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    if toks.len() < 3 {
        return c.out_errstring("CLIENT_ERROR bad command line format");
    }
    let vlen = match parse_i32(toks[2]) {
        Some(v) if v >= 0 => v as usize,
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
    let m = match parse_flags(flags, b"bcCEFIkOqsTMNPL") {
        Ok(m) => m,
        Err(e) => return swallow_err(c, e),
    };
    let mut key = std::mem::take(&mut c.meta_key);
    if let Err(e) = meta_key(toks[1], m.base64, &mut key) {
        c.meta_key = key;
        return swallow_err(c, e);
    }
    let cmd = match m.mode.unwrap_or(b'S') {
        b'S' | b's' => StoreCmd::Set,
        b'E' | b'e' => StoreCmd::Add,
        b'A' | b'a' => StoreCmd::Append,
        b'P' | b'p' => StoreCmd::Prepend,
        b'R' | b'r' => StoreCmd::Replace,
        _ => {
            c.meta_key = key;
            return swallow_err(c, "CLIENT_ERROR invalid mode for ms M token");
        }
    };
    let exptime = core.cache.clock.realtime(m.ttl.unwrap_or(0) as i64);
    let client_flags = m.client_flags.unwrap_or(0);
    // Keep what the reply needs: the raw key and the flag tokens.
    c.meta_line.clear();
    c.meta_line.extend_from_slice(toks[1]);
    for t in flags {
        c.meta_line.push(b' ');
        c.meta_line.extend_from_slice(t);
    }
    match core.cache.alloc(&key, client_flags, exptime, vlen) {
        Ok(id) => {
            c.item = id;
            c.rlbytes = vlen;
            c.ritem_off = 0;
            c.crlf_got = 0;
            c.nread_cmd = cmd;
            c.req_cas = m.cas_check.unwrap_or(0);
            c.nread_meta = true;
            c.set_state(ConnState::Nread);
        }
        Err(e) => {
            if e == items::AllocError::TooLarge {
                core.stats.store_too_large += 1;
                c.out_errstring("SERVER_ERROR object too large for cache");
            } else {
                core.stats.store_no_memory += 1;
                c.out_errstring("SERVER_ERROR out of memory storing object");
            }
            c.sbytes = vlen + 2;
            c.set_state(ConnState::Swallow);
            if cmd == StoreCmd::Set {
                core.cache.delete(&key);
            }
        }
    }
    c.meta_key = key;
}

/// Called when an ms value and its "\r\n" are in: stores and answers.
pub fn complete_mset(c: &mut Conn, core: &mut Core) {
    let id = c.item;
    c.item = NONE;
    c.nread_meta = false;
    c.set_state(ConnState::NewCmd);
    let line = std::mem::take(&mut c.meta_line);
    let mut parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let raw_key = parts.remove(0);
    let flags = &parts[..];
    // Parsed once already; cannot fail now.
    let m = parse_flags(flags, b"bcCEFIkOqsTMNPL").unwrap_or_default();
    core.stats.set_cmds += 1;
    if &c.crlf != b"\r\n" {
        core.cache.free_unlinked(id);
        c.out_errstring("CLIENT_ERROR bad data chunk");
        c.meta_line = line;
        return;
    }
    let mut cmd = c.nread_cmd;
    let mut req_cas = c.req_cas;
    let key = items::key_of(core.cache.slabs.chunk(id)).to_vec();
    let old = core.cache.peek(&key);
    let mut stale = false;
    let mut token_sent = false;
    if req_cas != 0 {
        if old != NONE && m.invalidate && req_cas < items::cas(core.cache.slabs.chunk(old)) {
            // Invalidation: an older CAS may still store, marked stale,
            // and whoever won the recache keeps that right.
            stale = true;
            token_sent = items::iflags(core.cache.slabs.chunk(old)) & ITEM_TOKEN_SENT != 0;
            req_cas = 0;
        } else if matches!(cmd, StoreCmd::Set | StoreCmd::Replace | StoreCmd::Add) {
            cmd = StoreCmd::Cas;
        }
    }
    let mut result;
    if req_cas != 0
        && matches!(cmd, StoreCmd::Append | StoreCmd::Prepend)
        && old != NONE
        && items::cas(core.cache.slabs.chunk(old)) != req_cas
    {
        result = (StoreItemType::Exists, 0);
    } else {
        result = core.cache.store_ex(id, cmd, req_cas, m.new_cas);
    }
    if result.0 == StoreItemType::NotStored
        && matches!(cmd, StoreCmd::Append | StoreCmd::Prepend)
        && old == NONE
    {
        if let Some(ttl) = m.vivify {
            // Append/prepend with N: the value becomes a new item.
            let exp = core.cache.clock.realtime(ttl as i64);
            items::set_exptime(core.cache.slabs.chunk_mut(id), exp);
            result = core.cache.store_ex(id, StoreCmd::Add, 0, m.new_cas);
        }
    }
    if stale && result.0 == StoreItemType::Stored {
        let live = core.cache.peek(&key);
        if live != NONE {
            core.cache.set_iflag(live, ITEM_STALE, true);
            core.cache.set_iflag(live, ITEM_TOKEN_SENT, token_sent);
        }
    }
    core.cache.free_unlinked(id);
    let live = if result.0 == StoreItemType::Stored {
        core.cache.peek(&key)
    } else {
        NONE
    };
    let v = if live != NONE {
        Some(view(core, live))
    } else {
        None
    };
    let code: &[u8] = match result.0 {
        StoreItemType::Stored => b"HD",
        StoreItemType::NotStored => b"NS",
        StoreItemType::Exists => b"EX",
        StoreItemType::NotFound => b"NF",
        StoreItemType::TooLarge => b"SERVER_ERROR object too large for cache",
        StoreItemType::NoMemory => b"SERVER_ERROR out of memory storing object",
    };
    if !(m.q && result.0 == StoreItemType::Stored) {
        // c is reported only on success; 0 otherwise, as memcached.
        let shown = v.unwrap_or(ItemView {
            cas: 0,
            flags: 0,
            size: 0,
            ttl: -1,
            fetched: false,
            la: 0,
        });
        reply_line(c, code, flags, raw_key, Some(&shown), b"");
    }
    c.meta_line = line;
}

/// md <key> <flags>*
fn process_mdelete(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let flags = &toks[2..];
    let m = match parse_flags(flags, b"bCEIkOqTxPL") {
        Ok(m) => m,
        Err(e) => return c.out_errstring(e),
    };
    let mut key = std::mem::take(&mut c.meta_key);
    if let Err(e) = meta_key(toks[1], m.base64, &mut key) {
        c.meta_key = key;
        return c.out_errstring(e);
    }
    let id = core.cache.peek(&key);
    let code: &[u8] = if id == NONE {
        core.stats.delete_misses += 1;
        b"NF"
    } else if m
        .cas_check
        .is_some_and(|v| v != items::cas(core.cache.slabs.chunk(id)))
    {
        b"EX"
    } else {
        core.stats.delete_hits += 1;
        if m.invalidate {
            core.cache.set_iflag(id, ITEM_STALE, true);
            core.cache.set_iflag(id, ITEM_TOKEN_SENT, false);
            core.cache.set_item_cas(id, m.new_cas);
            if let Some(ttl) = m.ttl {
                let exp = core.cache.clock.realtime(ttl as i64);
                core.cache.touch(id, exp);
            }
            if m.remove_value {
                empty_value(core, id, &key, m.new_cas);
            }
        } else if m.remove_value {
            empty_value(core, id, &key, m.new_cas);
        } else {
            core.cache.delete(&key);
        }
        b"HD"
    };
    if !(m.q && code == b"HD") {
        reply_line(c, code, flags, toks[1], None, b"");
    }
    c.meta_key = key;
}

/// Replaces an item's value with an empty one, keeping its key, flags,
/// expiry and item flags (md x).
fn empty_value(core: &mut Core, id: u32, key: &[u8], new_cas: Option<u64>) {
    let (fl, exp, f) = {
        let ch = core.cache.slabs.chunk(id);
        (items::flags(ch), items::exptime(ch), items::iflags(ch))
    };
    if let Ok(new) = core.cache.alloc(key, fl, exp, 0) {
        if core.cache.store_ex(new, StoreCmd::Set, 0, new_cas).0 == StoreItemType::Stored {
            core.cache
                .set_iflag(new, f & (ITEM_STALE | ITEM_TOKEN_SENT), true);
        } else {
            core.cache.free_unlinked(new);
        }
    }
}

/// ma <key> <flags>*
fn process_marith(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let flags = &toks[2..];
    let m = match parse_flags(flags, b"bCENJDTMOqtcvkPL") {
        Ok(m) => m,
        Err(e) => return c.out_errstring(e),
    };
    let mut key = std::mem::take(&mut c.meta_key);
    if let Err(e) = meta_key(toks[1], m.base64, &mut key) {
        c.meta_key = key;
        return c.out_errstring(e);
    }
    let incr = match m.mode.unwrap_or(b'I') {
        b'I' | b'i' | b'+' => true,
        b'D' | b'd' | b'-' => false,
        _ => {
            c.meta_key = key;
            return c.out_errstring("CLIENT_ERROR invalid mode for ma");
        }
    };
    let delta = m.delta.unwrap_or(1);
    let mut result =
        core.cache
            .add_delta_ex(&key, incr, delta, m.cas_check.unwrap_or(0), m.new_cas);
    if result == DeltaResult::NotFound {
        if let Some(ttl) = m.vivify {
            let initial = m.initial.unwrap_or(0);
            let digits = crate::items::itoa_u64(initial);
            let exp = core.cache.clock.realtime(ttl as i64);
            result = match core.cache.alloc(&key, 0, exp, digits.len()) {
                Ok(new) => {
                    core.cache
                        .value_segment_mut(new, 0)
                        .copy_from_slice(&digits);
                    let r = core.cache.store_ex(new, StoreCmd::Add, 0, m.new_cas).0;
                    core.cache.free_unlinked(new);
                    if r == StoreItemType::Stored {
                        DeltaResult::Ok(initial)
                    } else {
                        DeltaResult::Eom
                    }
                }
                Err(_) => DeltaResult::Eom,
            };
            if result == DeltaResult::Eom {
                c.meta_key = key;
                return reply_line(c, b"NS", flags, toks[1], None, b"");
            }
        }
    }
    match result {
        DeltaResult::Ok(value) => {
            if incr {
                core.stats.incr_hits += 1;
            } else {
                core.stats.decr_hits += 1;
            }
            let id = core.cache.peek(&key);
            if let Some(ttl) = m.ttl {
                if id != NONE {
                    let exp = core.cache.clock.realtime(ttl as i64);
                    core.cache.touch(id, exp);
                }
            }
            let v = if id != NONE {
                Some(view(core, id))
            } else {
                None
            };
            if m.value {
                let digits = crate::items::itoa_u64(value);
                let mut code = b"VA ".to_vec();
                push_u64(&mut code, digits.len() as u64);
                reply_line(c, &code, flags, toks[1], v.as_ref(), b"");
                c.add_bytes(&digits);
                c.add_bytes(b"\r\n");
            } else if !m.q {
                reply_line(c, b"HD", flags, toks[1], v.as_ref(), b"");
            }
        }
        DeltaResult::NotFound => {
            if incr {
                core.stats.incr_misses += 1;
            } else {
                core.stats.decr_misses += 1;
            }
            reply_line(c, b"NF", flags, toks[1], None, b"");
        }
        DeltaResult::Exists => reply_line(c, b"EX", flags, toks[1], None, b""),
        DeltaResult::NonNumeric => {
            c.out_errstring("CLIENT_ERROR cannot increment or decrement non-numeric value")
        }
        DeltaResult::Eom => c.out_errstring("SERVER_ERROR out of memory"),
    }
    c.meta_key = key;
}

/// me <key> [b]: the item's metadata in memcached's words.
fn process_mdebug(c: &mut Conn, core: &mut Core, toks: &[&[u8]]) {
    let base64 = toks.len() > 2 && toks[2] == b"b";
    let mut key = std::mem::take(&mut c.meta_key);
    if let Err(e) = meta_key(toks[1], base64, &mut key) {
        c.meta_key = key;
        return c.out_errstring(e);
    }
    let id = core.cache.peek(&key);
    if id == NONE {
        c.add_bytes(b"EN\r\n");
    } else {
        let v = view(core, id);
        let cls = items::clsid(core.cache.slabs.chunk(id));
        let size = core.cache.item_total(id);
        let start = c.wbuf.len();
        c.wbuf.extend_from_slice(b"ME ");
        c.wbuf.extend_from_slice(toks[1]);
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
    }
    c.meta_key = key;
}

#[cfg(test)]
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with padding) into `out`. Keys are echoed
/// as they came, so only the tests encode.
#[cfg(test)]
fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63]);
        out.push(B64[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63]
        } else {
            b'='
        });
    }
}

/// Decodes standard base64 with padding; false on any invalid input.
pub fn base64_decode(input: &[u8], out: &mut Vec<u8>) -> bool {
    if !input.len().is_multiple_of(4) {
        return false;
    }
    let val = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let quads = input.len() / 4;
    for (i, q) in input.chunks(4).enumerate() {
        let last = i + 1 == quads;
        let pad = if last {
            q.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return false;
        }
        let mut n: u32 = 0;
        for &ch in &q[..4 - pad] {
            match val(ch) {
                Some(v) => n = (n << 6) | v,
                None => return false,
            }
        }
        n <<= 6 * pad as u32;
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for input in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            b"\x00\xff\x10",
        ] {
            let mut enc = Vec::new();
            base64_encode(input, &mut enc);
            let mut dec = Vec::new();
            assert!(base64_decode(&enc, &mut dec));
            assert_eq!(dec, input);
        }
        let mut enc = Vec::new();
        base64_encode(b"foobar", &mut enc);
        assert_eq!(enc, b"Zm9vYmFy");
        let mut dec = Vec::new();
        assert!(!base64_decode(b"Zm9", &mut dec));
        assert!(!base64_decode(b"Zm9v!A==", &mut dec));
    }

    #[test]
    fn flag_parsing() {
        let toks: Vec<&[u8]> = vec![b"v", b"T30", b"Oabc", b"k"];
        let m = parse_flags(&toks, b"bcfhklOqstuvENRTPL").ok().unwrap();
        assert!(m.value);
        assert_eq!(m.ttl, Some(30));
        assert_eq!(m.opaque, Some(&b"abc"[..]));
        let dup: Vec<&[u8]> = vec![b"v", b"v"];
        assert_eq!(
            parse_flags(&dup, b"v").err(),
            Some("CLIENT_ERROR duplicate flag")
        );
        let bad: Vec<&[u8]> = vec![b"Tabc"];
        assert_eq!(
            parse_flags(&bad, b"T").err(),
            Some("CLIENT_ERROR bad token in command line format")
        );
        let unknown: Vec<&[u8]> = vec![b"z"];
        assert_eq!(
            parse_flags(&unknown, b"v").err(),
            Some("CLIENT_ERROR invalid flag")
        );
    }
}
