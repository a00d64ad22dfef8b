//! The binary protocol (memcached's proto_bin.c and protocol_binary.h):
//! framing a request, dispatching it to the store door, and the replies
//! memcached 1.6 sends, status codes and error bodies included. The
//! storage semantics are the door's (cache/store.rs) and the text
//! protocol's counters and `stats` producers are reused; only the framing
//! is this file's.
//!
//! Every request and every reply starts with a 24-byte header, numbers
//! big-endian:
//!
//! ```text
//!  0        1        2        3        4        5        6        7
//!  +--------+--------+-----------------+--------+--------+-----------------+
//!  | magic  | opcode |     key len     | extlen |datatype| vbucket/status  |
//!  +--------+--------+-----------------+--------+--------+-----------------+
//!  |          total body len           |      opaque (echoed as sent)      |
//!  +-----------------------------------+-----------------------------------+
//!  |                                 CAS                                   |
//!  +-----------------------------------------------------------------------+
//!  then the body: extras (extlen), key (key len), value (the rest)
//! ```
//!
//! A request's magic is 0x80, a reply's 0x81. A connection speaks the
//! binary protocol when its first byte is 0x80 (`-B auto`), always
//! (`-B binary`) or never (`-B ascii`); a UDP datagram picks by its own
//! first byte, after the frame header (udp.rs), as memcached does.
//!
//! The header, extras and key must be in the read buffer before a command
//! runs; a value is read straight into its item by the connection's Nread
//! state (no "\r\n" follows it, so none is awaited), and a value that will
//! not be stored is dropped by Swallow. Quiet commands (getq, setq, ...)
//! send nothing when they succeed (getq/getkq: nothing on a miss) but
//! always send their errors; as on the text protocol, replies are written
//! once no complete request is left in the read buffer, and `noop` writes
//! at once.
//!
//! SASL is not served (as without memcached's `-S`): its three opcodes get
//! "Unknown command", as memcached answers them when SASL is off.

use crate::cache::item::KEY_MAX_LENGTH;
use crate::cache::slabs::NONE;
use crate::cache::{AllocError, DeltaResult, MarithArgs, StoreCmd, StoreItemType};
use crate::conn::{Conn, ConnState, Transport};
use crate::proto_text::{emit_value_data, start_update};
use crate::server::Core;
use crate::settings::ITEM_SIZE_MAX_UPPER;
use crate::stats::append_stat;

/// First byte of a request.
pub const REQ_MAGIC: u8 = 0x80;
/// First byte of a reply.
const RES_MAGIC: u8 = 0x81;
/// Bytes of the header of a request or reply.
pub const HEADER_LEN: usize = 24;

// Opcodes memcached 1.6 knows (protocol_binary.h).
const GET: u8 = 0x00;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const REPLACE: u8 = 0x03;
const DELETE: u8 = 0x04;
const INCREMENT: u8 = 0x05;
const DECREMENT: u8 = 0x06;
const QUIT: u8 = 0x07;
const FLUSH: u8 = 0x08;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const VERSION: u8 = 0x0b;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const APPEND: u8 = 0x0e;
const PREPEND: u8 = 0x0f;
const STAT: u8 = 0x10;
const SETQ: u8 = 0x11;
const ADDQ: u8 = 0x12;
const REPLACEQ: u8 = 0x13;
const DELETEQ: u8 = 0x14;
const INCREMENTQ: u8 = 0x15;
const DECREMENTQ: u8 = 0x16;
const QUITQ: u8 = 0x17;
const FLUSHQ: u8 = 0x18;
const APPENDQ: u8 = 0x19;
const PREPENDQ: u8 = 0x1a;
const TOUCH: u8 = 0x1c;
const GAT: u8 = 0x1d;
const GATQ: u8 = 0x1e;
const SASL_LIST_MECHS: u8 = 0x20;
const SASL_AUTH: u8 = 0x21;
const SASL_STEP: u8 = 0x22;
const GATK: u8 = 0x23;
const GATKQ: u8 = 0x24;

// Reply status codes.
const SUCCESS: u16 = 0x00;
const KEY_ENOENT: u16 = 0x01;
const KEY_EEXISTS: u16 = 0x02;
const E2BIG: u16 = 0x03;
const EINVAL: u16 = 0x04;
const NOT_STORED: u16 = 0x05;
const DELTA_BADVAL: u16 = 0x06;
const AUTH_ERROR: u16 = 0x20;
const UNKNOWN_COMMAND: u16 = 0x81;
const ENOMEM: u16 = 0x82;
/// Temporary failure: a write sent to a replica (it goes to the master).
const ETMPFAIL: u16 = 0x86;

/// A request header, numbers in host order. The opaque is kept as its
/// four bytes: it is only ever echoed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReqHeader {
    pub opcode: u8,
    pub keylen: u16,
    pub extlen: u8,
    pub bodylen: u32,
    pub opaque: [u8; 4],
    pub cas: u64,
}

impl ReqHeader {
    /// Reads the 24 bytes of a header (the magic is checked by the caller;
    /// datatype and vbucket are not looked at, as in memcached).
    pub fn decode(b: &[u8; HEADER_LEN]) -> ReqHeader {
        ReqHeader {
            opcode: b[1],
            keylen: u16::from_be_bytes([b[2], b[3]]),
            extlen: b[4],
            bodylen: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            opaque: [b[12], b[13], b[14], b[15]],
            cas: u64::from_be_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
        }
    }
}

/// The command a quiet opcode is the quiet form of, and whether it is
/// quiet (memcached's translation at the top of dispatch_bin_command).
fn base_opcode(op: u8) -> (u8, bool) {
    match op {
        SETQ => (SET, true),
        ADDQ => (ADD, true),
        REPLACEQ => (REPLACE, true),
        DELETEQ => (DELETE, true),
        INCREMENTQ => (INCREMENT, true),
        DECREMENTQ => (DECREMENT, true),
        QUITQ => (QUIT, true),
        FLUSHQ => (FLUSH, true),
        APPENDQ => (APPEND, true),
        PREPENDQ => (PREPEND, true),
        GETQ => (GET, true),
        GETKQ => (GETK, true),
        GATQ => (GAT, true),
        GATKQ => (GATK, true),
        op => (op, false),
    }
}

/// Looks for a complete request (header, extras and key) in rbuf and runs
/// it. False when more bytes are needed. A first byte other than 0x80
/// closes the connection without a reply, as memcached does.
/// memcached's try_read_command_binary.
pub fn try_read_command(c: &mut Conn, core: &mut Core) -> bool {
    if c.rbytes < HEADER_LEN {
        return false;
    }
    let mut hb = [0u8; HEADER_LEN];
    hb.copy_from_slice(&c.rbuf[c.rcurr..c.rcurr + HEADER_LEN]);
    if hb[0] != REQ_MAGIC {
        log::info!("{}: invalid binary magic 0x{:02x}, closing", c.fd, hb[0]);
        c.set_state(ConnState::Closing);
        return true;
    }
    let h = ReqHeader::decode(&hb);
    let need = HEADER_LEN + h.extlen as usize + h.keylen as usize;
    if c.rbytes < need {
        return false;
    }
    log::debug!(
        "<{} binary opcode 0x{:02x} key {} extras {} body {}",
        c.fd,
        h.opcode,
        h.keylen,
        h.extlen,
        h.bodylen
    );
    let start = c.rcurr + HEADER_LEN;
    c.rcurr += need;
    c.rbytes -= need;
    c.nreqs -= 1;
    c.last_cmd_time = core.cache.now();
    c.bin_header = h;
    if !crate::conn::start_command(c, core) {
        return true;
    }
    // As for a text line: the request stays in rbuf while it runs.
    let rbuf = std::mem::take(&mut c.rbuf);
    let ext = &rbuf[start..start + h.extlen as usize];
    let key = &rbuf[start + h.extlen as usize..start + need - HEADER_LEN];
    dispatch(c, core, ext, key);
    c.rbuf = rbuf;
    if c.state == ConnState::ParseCmd {
        c.set_state(ConnState::NewCmd);
    }
    true
}

/// The keys of the requests whose header and key are whole in `data`
/// (the lookups a batch will make), at most `keys.len()`, for the
/// connection's batch prefetch (conn.rs). Returns how many it found; it
/// stops at the first bytes that are not a request.
pub fn batch_keys<'a>(mut data: &'a [u8], keys: &mut [&'a [u8]]) -> usize {
    let mut n = 0;
    while n < keys.len() && data.len() >= HEADER_LEN && data[0] == REQ_MAGIC {
        let Ok(hb) = <&[u8; HEADER_LEN]>::try_from(&data[..HEADER_LEN]) else {
            break;
        };
        let h = ReqHeader::decode(hb);
        let start = HEADER_LEN + h.extlen as usize;
        let end = start + h.keylen as usize;
        if end > data.len() {
            break;
        }
        if h.keylen > 0 && end - start <= KEY_MAX_LENGTH && h.opcode != STAT {
            keys[n] = &data[start..end];
            n += 1;
        }
        let total = HEADER_LEN + h.bodylen as usize;
        if total > data.len() {
            break;
        }
        data = &data[total..];
    }
    n
}

/// Queues a reply header for the current request.
fn add_header(c: &mut Conn, status: u16, extlen: u8, keylen: usize, bodylen: usize, cas: u64) {
    let h = &c.bin_header;
    let mut b = [0u8; HEADER_LEN];
    b[0] = RES_MAGIC;
    b[1] = h.opcode;
    b[2..4].copy_from_slice(&(keylen as u16).to_be_bytes());
    b[4] = extlen;
    b[6..8].copy_from_slice(&status.to_be_bytes());
    b[8..12].copy_from_slice(&(bodylen as u32).to_be_bytes());
    b[12..16].copy_from_slice(&h.opaque);
    b[16..24].copy_from_slice(&cas.to_be_bytes());
    c.add_bytes(&b);
}

/// Queues an error reply, quiet or not; its body is `msg` or the
/// status's usual text. `swallow`: value bytes to drop after it.
/// memcached's write_bin_error.
fn write_error(c: &mut Conn, status: u16, msg: Option<&str>, swallow: usize) {
    let msg = msg.unwrap_or(match status {
        ENOMEM => "Out of memory",
        UNKNOWN_COMMAND => "Unknown command",
        KEY_ENOENT => "Not found",
        EINVAL => "Invalid arguments",
        KEY_EEXISTS => "Data exists for key.",
        E2BIG => "Too large.",
        DELTA_BADVAL => "Non-numeric server-side value for incr or decr",
        NOT_STORED => "Not stored.",
        AUTH_ERROR => "Auth failure.",
        _ => "UNHANDLED ERROR",
    });
    log::debug!(">{} Writing an error: {}", c.fd, msg);
    add_header(c, status, 0, 0, msg.len(), 0);
    c.add_bytes(msg.as_bytes());
    if swallow > 0 {
        c.sbytes = swallow;
        c.set_state(ConnState::Swallow);
    } else if c.transport == Transport::Udp {
        c.set_state(ConnState::NewCmd);
    } else {
        // As memcached's: an error is written out before the next request
        // is read, so a request that closes the connection after it (a
        // bad magic byte) does not lose it.
        c.write_and_go = ConnState::NewCmd;
        c.set_state(ConnState::Mwrite);
    }
}

/// Queues a "temporary failure" reply with `msg` for the current request,
/// quiet or not (a held write whose replicas did not acknowledge it).
pub fn write_tmpfail(c: &mut Conn, msg: &str) {
    add_header(c, ETMPFAIL, 0, 0, msg.len(), 0);
    c.add_bytes(msg.as_bytes());
}

/// Queues a success reply with `body`, unless the command is quiet.
/// memcached's write_bin_response.
fn write_response(c: &mut Conn, body: &[u8], cas: u64) {
    if !c.noreply {
        add_header(c, SUCCESS, 0, 0, body.len(), cas);
        c.add_bytes(body);
    }
    c.set_state(ConnState::NewCmd);
}

/// Sends what is queued, then closes.
fn close_after_write(c: &mut Conn) {
    c.write_and_go = ConnState::Closing;
    c.set_state(ConnState::Mwrite);
}

/// A request whose lengths do not fit its opcode: "Invalid arguments",
/// then the connection is closed (memcached's
/// handle_binary_protocol_error).
fn protocol_error(c: &mut Conn) {
    log::info!(
        "{}: binary protocol error (opcode 0x{:02x}), closing",
        c.fd,
        c.bin_header.opcode
    );
    write_error(c, EINVAL, None, 0);
    close_after_write(c);
}

/// Checks the request's lengths and runs it. memcached's
/// dispatch_bin_command.
fn dispatch(c: &mut Conn, core: &mut Core, ext: &[u8], key: &[u8]) {
    let h = c.bin_header;
    let (extlen, keylen, bodylen) = (h.extlen as u32, h.keylen as u32, h.bodylen);
    if keylen + extlen > bodylen {
        write_error(c, UNKNOWN_COMMAND, None, 0);
        close_after_write(c);
        return;
    }
    // memcached's ITEM_SIZE_MAX_UPPER_LIMIT, the largest -I too.
    if bodylen > ITEM_SIZE_MAX_UPPER {
        write_error(c, EINVAL, None, 0);
        close_after_write(c);
        return;
    }
    let (op, quiet) = base_opcode(h.opcode);
    c.noreply = quiet;
    if keylen as usize > KEY_MAX_LENGTH {
        return protocol_error(c);
    }
    // The body after the extras and the key (a value, for the commands
    // that take one).
    let rest = (bodylen - keylen - extlen) as usize;
    let write = matches!(
        op,
        SET | ADD
            | REPLACE
            | APPEND
            | PREPEND
            | DELETE
            | INCREMENT
            | DECREMENT
            | FLUSH
            | TOUCH
            | GAT
            | GATK
    );
    if write && core.repl.is_replica() {
        let msg = format!(
            "read-only replica of {}",
            core.repl.master_addr().unwrap_or("?")
        );
        c.noreply = false;
        return write_error(c, ETMPFAIL, Some(&msg), rest);
    }
    let ok = match op {
        VERSION if extlen == 0 && keylen == 0 && bodylen == 0 => {
            write_response(c, env!("CARGO_PKG_VERSION").as_bytes(), 0);
            true
        }
        FLUSH if keylen == 0 && bodylen == extlen && (extlen == 0 || extlen == 4) => {
            process_flush(c, core, ext);
            true
        }
        NOOP if extlen == 0 && keylen == 0 && bodylen == 0 => {
            write_response(c, &[], 0);
            // noop sends what the quiet commands before it queued (a UDP
            // reply leaves at the end of its datagram anyway).
            if c.transport != Transport::Udp {
                c.write_and_go = ConnState::NewCmd;
                c.set_state(ConnState::Mwrite);
            }
            true
        }
        SET | ADD | REPLACE if extlen == 8 && keylen != 0 => {
            let flags = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            let exptime = u32::from_be_bytes([ext[4], ext[5], ext[6], ext[7]]);
            let cmd = match (op, h.cas != 0) {
                (_, true) => StoreCmd::Cas,
                (ADD, false) => StoreCmd::Add,
                (REPLACE, false) => StoreCmd::Replace,
                _ => StoreCmd::Set,
            };
            process_update(c, core, key, flags, exptime, rest, cmd, op == SET);
            true
        }
        GET | GETK if extlen == 0 && bodylen == keylen && keylen > 0 => {
            process_get_or_touch(c, core, op, ext, key);
            true
        }
        DELETE if keylen > 0 && extlen == 0 && bodylen == keylen => {
            process_delete(c, core, key);
            true
        }
        INCREMENT | DECREMENT if keylen > 0 && extlen == 20 && bodylen == keylen + extlen => {
            process_arithmetic(c, core, op == INCREMENT, ext, key);
            true
        }
        APPEND | PREPEND if keylen > 0 && extlen == 0 => {
            let cmd = if op == APPEND {
                StoreCmd::Append
            } else {
                StoreCmd::Prepend
            };
            process_update(c, core, key, 0, 0, rest, cmd, false);
            true
        }
        STAT if extlen == 0 => {
            process_stat(c, core, key);
            true
        }
        QUIT if keylen == 0 && extlen == 0 && bodylen == 0 => {
            write_response(c, &[], 0);
            c.close_reason = "normal";
            close_after_write(c);
            true
        }
        // No SASL here, as memcached without -S: "Unknown command", the
        // body after the key dropped.
        SASL_LIST_MECHS if extlen == 0 && keylen == 0 && bodylen == 0 => {
            write_error(c, UNKNOWN_COMMAND, None, 0);
            true
        }
        SASL_AUTH | SASL_STEP if extlen == 0 && keylen != 0 => {
            write_error(c, UNKNOWN_COMMAND, None, rest);
            true
        }
        TOUCH | GAT | GATK if extlen == 4 && keylen != 0 => {
            process_get_or_touch(c, core, op, ext, key);
            true
        }
        VERSION | FLUSH | NOOP | SET | ADD | REPLACE | GET | GETK | DELETE | INCREMENT
        | DECREMENT | APPEND | PREPEND | STAT | QUIT | SASL_LIST_MECHS | SASL_AUTH | SASL_STEP
        | TOUCH | GAT | GATK => false,
        // Unknown: dropping the rest of the body keeps the connection in
        // step (memcached drops the whole body length again after the
        // extras and key it already read; see doc/compatibility.md).
        _ => {
            write_error(c, UNKNOWN_COMMAND, None, rest);
            true
        }
    };
    if !ok {
        protocol_error(c);
    }
}

/// get, getk, touch, gat, gatk (and their quiet forms). A hit sends the
/// client flags as extras, the key for the k forms, and the value except
/// for touch; a miss sends "Not found" (the k forms: the key), or nothing
/// when quiet. memcached's process_bin_get_or_touch.
fn process_get_or_touch(c: &mut Conn, core: &mut Core, op: u8, ext: &[u8], key: &[u8]) {
    let touch = matches!(op, TOUCH | GAT | GATK);
    let return_key = matches!(op, GETK | GATK);
    let return_value = op != TOUCH;
    let id = if touch {
        let exptime = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
        let exptime = core.cache.realtime(exptime as i64);
        core.stats.touch_cmds += 1;
        core.cache.touch(c.fd, key, exptime)
    } else {
        core.stats.get_cmds += 1;
        core.cache.fetch(c.fd, key)
    };
    if core.settings.detail_enabled {
        core.prefixes.record_get(key, id != NONE);
    }
    c.set_state(ConnState::NewCmd);
    if id == NONE {
        if touch {
            core.stats.touch_misses += 1;
        } else {
            core.stats.get_misses += 1;
        }
        if c.noreply {
            return;
        }
        if return_key {
            add_header(c, KEY_ENOENT, 0, key.len(), key.len(), 0);
            c.add_bytes(key);
        } else {
            write_error(c, KEY_ENOENT, None, 0);
        }
        return;
    }
    let (flags, nbytes, cas) = {
        let it = core.cache.item(id);
        (it.flags(), it.nbytes(), it.cas())
    };
    let keylen = if return_key { key.len() } else { 0 };
    let vlen = if return_value { nbytes } else { 0 };
    add_header(c, SUCCESS, 4, keylen, 4 + keylen + vlen, cas);
    c.add_bytes(&flags.to_be_bytes());
    if return_key {
        c.add_bytes(key);
    }
    if return_value {
        emit_value_data(c, core, id);
    }
}

/// set, add, replace (a CAS in the header makes any of them a cas),
/// append, prepend: allocates the item and reads the value into it
/// (`complete_nread` stores it). A value refused for its size or for
/// memory is dropped; a set refused so also removes the value it meant to
/// replace, as on the text protocol. memcached's process_bin_update and
/// process_bin_append_prepend.
#[allow(clippy::too_many_arguments)]
fn process_update(
    c: &mut Conn,
    core: &mut Core,
    key: &[u8],
    flags: u32,
    exptime: u32,
    vlen: usize,
    cmd: StoreCmd,
    is_set: bool,
) {
    let req_cas = c.bin_header.cas;
    match start_update(c, core, key, flags, exptime as i64, vlen, cmd, req_cas) {
        Ok(()) => {
            // No "\r\n" follows a binary value: count it as read.
            c.crlf = *b"\r\n";
            c.crlf_got = 2;
        }
        Err(e) => {
            if e == AllocError::TooLarge {
                write_error(c, E2BIG, None, vlen);
            } else {
                write_error(c, ENOMEM, Some("Out of memory allocating item"), vlen);
            }
            if is_set {
                core.cache.store_failed(c.fd, key, true);
            }
        }
    }
}

/// Called by the connection when a binary value is in: stores it through
/// the door and replies, the new CAS in the header. memcached's
/// complete_update_bin.
pub fn complete_nread(c: &mut Conn, core: &mut Core) {
    let id = c.item;
    c.item = NONE;
    c.set_state(ConnState::NewCmd);
    let (ret, cas) = core.cache.store_item_cas(c.fd, id, c.nread_cmd, c.req_cas);
    if ret != StoreItemType::Stored {
        // As memcached 1.6.45, a failed store uses up a CAS unique too.
        core.cache.next_cas();
    }
    match ret {
        StoreItemType::Stored => write_response(c, &[], cas),
        StoreItemType::Exists => write_error(c, KEY_EEXISTS, None, 0),
        StoreItemType::NotFound => write_error(c, KEY_ENOENT, None, 0),
        StoreItemType::NotStored => {
            let status = match c.nread_cmd {
                StoreCmd::Add => KEY_EEXISTS,
                StoreCmd::Replace => KEY_ENOENT,
                _ => NOT_STORED,
            };
            write_error(c, status, None, 0);
        }
    }
}

/// delete, with the header's CAS (when not 0) to match.
fn process_delete(c: &mut Conn, core: &mut Core, key: &[u8]) {
    if core.settings.detail_enabled {
        core.prefixes.record_delete(key);
    }
    match core.cache.delete_cas(c.fd, key, c.bin_header.cas) {
        StoreItemType::Stored => write_response(c, &[], 0),
        StoreItemType::Exists => write_error(c, KEY_EEXISTS, None, 0),
        _ => {
            core.stats.delete_misses += 1;
            write_error(c, KEY_ENOENT, None, 0);
        }
    }
}

/// incr, decr: extras are the delta, the initial value and an expiry; on
/// a miss the item is created holding the initial value unless the expiry
/// is 0xffffffff. The reply is the new value as 8 bytes and the item's
/// new CAS. The door's `marith` is exactly this (ma with N and J).
/// memcached's complete_incr_bin.
fn process_arithmetic(c: &mut Conn, core: &mut Core, incr: bool, ext: &[u8], key: &[u8]) {
    let delta = u64::from_be_bytes(ext[0..8].try_into().unwrap_or([0; 8]));
    let initial = u64::from_be_bytes(ext[8..16].try_into().unwrap_or([0; 8]));
    let exptime = u32::from_be_bytes([ext[16], ext[17], ext[18], ext[19]]);
    let args = MarithArgs {
        req_cas: c.bin_header.cas,
        new_cas: None,
        // The door reads a TTL as a signed 32-bit number; an absolute time
        // past 2038 is kept to the largest it can hold.
        vivify: (exptime != u32::MAX).then(|| exptime.min(i32::MAX as u32) as i32),
        initial,
        ttl: None,
        vivify_last: false,
    };
    let r = core.cache.marith(c.fd, key, incr, delta, &args);
    match r.result {
        DeltaResult::Ok(v) => {
            let cas = if r.id != NONE {
                core.cache.item(r.id).cas()
            } else {
                // Created already expired: memcached still reports the CAS
                // it linked the item with.
                r.created_cas
            };
            write_response(c, &v.to_be_bytes(), cas);
        }
        DeltaResult::NonNumeric => write_error(c, DELTA_BADVAL, None, 0),
        DeltaResult::Eom if r.vivify_failed => {
            write_error(c, ENOMEM, Some("Out of memory allocating new item"), 0)
        }
        DeltaResult::Eom => write_error(c, ENOMEM, Some("Out of memory incrementing value"), 0),
        DeltaResult::Exists => write_error(c, KEY_EEXISTS, None, 0),
        DeltaResult::NotFound => {
            if incr {
                core.stats.incr_misses += 1;
            } else {
                core.stats.decr_misses += 1;
            }
            write_error(c, KEY_ENOENT, None, 0);
        }
    }
}

/// flush, with an optional delay in its extras. Refused with "Auth
/// failure." under `-F` (flush disabled), as memcached does.
fn process_flush(c: &mut Conn, core: &mut Core, ext: &[u8]) {
    if !core.settings.flush_enabled {
        write_error(c, AUTH_ERROR, None, 0);
        return;
    }
    let exptime = if ext.len() == 4 {
        u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]) as i64
    } else {
        0
    };
    core.settings.oldest_live = core.cache.flush_all(exptime);
    core.stats.flush_cmds += 1;
    write_response(c, &[], 0);
}

/// stat [group]: one reply per statistic, its name as key and its value
/// as value, then one with neither. The groups are memcached's binary
/// ones: none (general), `reset`, `settings`, `detail on|off|dump`,
/// `items`, `slabs`, `sizes`; any other is "Not found" (`conns` too: it
/// is a text-only group in memcached). `reset`, `settings` and `detail`
/// match as prefixes, as memcached compares them. The lines come from the
/// text protocol's producers (stats.rs) and are reframed here.
fn process_stat(c: &mut Conn, core: &mut Core, key: &[u8]) {
    let mut text = Vec::new();
    if key.is_empty() {
        crate::stats::server_stats(core, &mut text);
    } else if key.starts_with(b"reset") {
        crate::stats::reset(core);
    } else if key.starts_with(b"settings") {
        for (name, value) in core.settings.stats_settings() {
            append_stat(&mut text, name, value);
        }
    } else if let Some(sub) = key.strip_prefix(b"detail") {
        if !core.settings.dump_enabled {
            return write_error(c, KEY_ENOENT, None, 0);
        }
        if sub.starts_with(b" dump") {
            let mut dump = Vec::new();
            core.prefixes.dump(&mut dump);
            add_stat_packet(c, b"detailed", &dump);
        } else if sub.starts_with(b" on") {
            core.settings.detail_enabled = true;
        } else if sub.starts_with(b" off") {
            core.settings.detail_enabled = false;
        } else {
            return write_error(c, KEY_ENOENT, None, 0);
        }
    } else if key == b"items" {
        crate::stats::items_stats(&core.cache, &mut text);
    } else if key == b"slabs" {
        crate::stats::slabs_stats(&core.cache, &mut text);
    } else if key == b"sizes" {
        crate::stats::sizes_stats(&core.cache, &mut text);
    } else {
        return write_error(c, KEY_ENOENT, None, 0);
    }
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(stat) = line.strip_prefix(b"STAT ") else {
            continue;
        };
        let (name, value) = match stat.iter().position(|&b| b == b' ') {
            Some(sp) => (&stat[..sp], &stat[sp + 1..]),
            None => (stat, &b""[..]),
        };
        add_stat_packet(c, name, value);
    }
    add_stat_packet(c, b"", b"");
    c.set_state(ConnState::NewCmd);
}

/// Queues one stat reply (memcached's append_bin_stats).
fn add_stat_packet(c: &mut Conn, name: &[u8], value: &[u8]) {
    let value = if name.is_empty() { &b""[..] } else { value };
    add_header(c, SUCCESS, 0, name.len(), name.len() + value.len(), 0);
    c.add_bytes(name);
    c.add_bytes(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_decodes_big_endian() {
        let mut b = [0u8; HEADER_LEN];
        b[0] = REQ_MAGIC;
        b[1] = SETQ;
        b[2..4].copy_from_slice(&3u16.to_be_bytes());
        b[4] = 8;
        b[8..12].copy_from_slice(&16u32.to_be_bytes());
        b[12..16].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        b[16..24].copy_from_slice(&0x0102030405060708u64.to_be_bytes());
        let h = ReqHeader::decode(&b);
        assert_eq!(
            h,
            ReqHeader {
                opcode: SETQ,
                keylen: 3,
                extlen: 8,
                bodylen: 16,
                opaque: [0xde, 0xad, 0xbe, 0xef],
                cas: 0x0102030405060708,
            }
        );
    }

    #[test]
    fn batch_keys_stops_at_an_incomplete_request() {
        let req = |op: u8, key: &[u8], ext: usize, val: usize| {
            let mut b = vec![REQ_MAGIC, op];
            b.extend_from_slice(&(key.len() as u16).to_be_bytes());
            b.extend_from_slice(&[ext as u8, 0, 0, 0]);
            b.extend_from_slice(&((ext + key.len() + val) as u32).to_be_bytes());
            b.extend_from_slice(&[0; 12]);
            b.extend(std::iter::repeat_n(0, ext));
            b.extend_from_slice(key);
            b.extend(std::iter::repeat_n(b'v', val));
            b
        };
        let mut data = req(GETQ, b"a", 0, 0);
        data.extend(req(NOOP, b"", 0, 0));
        data.extend(req(SET, b"bb", 8, 5));
        data.extend(req(GET, b"ccc", 0, 0));
        let mut keys: [&[u8]; 8] = [&[]; 8];
        assert_eq!(batch_keys(&data, &mut keys), 3);
        assert_eq!(&keys[..3], &[&b"a"[..], b"bb", b"ccc"]);
        // The last request's key cut short: the ones before it.
        assert_eq!(batch_keys(&data[..data.len() - 1], &mut keys), 2);
        assert_eq!(batch_keys(b"get a\r\n", &mut keys), 0);
    }

    #[test]
    fn quiet_opcodes_map_to_their_commands() {
        assert_eq!(base_opcode(GETKQ), (GETK, true));
        assert_eq!(base_opcode(GATQ), (GAT, true));
        assert_eq!(base_opcode(FLUSHQ), (FLUSH, true));
        assert_eq!(base_opcode(GET), (GET, false));
        assert_eq!(base_opcode(TOUCH), (TOUCH, false));
        assert_eq!(base_opcode(0x1b), (0x1b, false));
    }
}
