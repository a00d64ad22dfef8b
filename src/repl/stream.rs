//! The replication stream's commands: how a change record is written for
//! replicas, and how a replica reads it back. The stream is text a person
//! can follow in telnet; each command carries everything a replica needs
//! to become exact (the master's CAS, the absolute expiry, the meta
//! state), so replaying it is idempotent:
//!
//! ```text
//!  rep_set <key> <flags> <exptime> <cas> <meta> <bytes>\r\n<data>\r\n
//!  rep_del <key> <reason>[ b]\r\n
//!  rep_flush <unix time> <cas>\r\n    (cas: the cut-off, 0 for a later flush)
//!  rep_ping\r\n
//! ```
//!
//! `exptime` is unix time (0: never); `meta` the item's meta bits (4: the
//! key was given in base64, 64: stale, 128: win token sent). A key whose
//! item has the base64 bit, or any byte a text key cannot hold, is written
//! in base64 (`rep_set`: meta bit 4; `rep_del`: a trailing `b`).

use std::borrow::Cow;

use crate::cache::item::ITEM_KEY_BINARY;
use crate::cache::{Change, Reason};
use crate::util::{base64_decode, base64_encode, push_u64};

/// The longest value a `rep_set` may carry: `-I`'s upper bound.
const MAX_VALUE: u64 = crate::settings::ITEM_SIZE_MAX_UPPER as u64;

/// True if `key` can stand as a token on a text line.
fn text_safe(key: &[u8]) -> bool {
    // Every byte in 0x21..=0x7e; written without an early exit so the
    // compiler can check many bytes at once.
    !key.is_empty()
        && key
            .iter()
            .fold(true, |ok, &b| ok & (b.wrapping_sub(0x21) < 0x5e))
}

/// The name a removal's reason goes by in `rep_del`.
fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::Deleted => "deleted",
        Reason::Expired => "expired",
        Reason::Flushed => "flushed",
        Reason::Evicted => "evicted",
        Reason::Reclaimed => "reclaimed",
        Reason::Moved => "moved",
        _ => "deleted",
    }
}

/// Appends the stream command for `ch` to `out`.
pub fn encode(ch: &Change<'_>, out: &mut Vec<u8>) {
    match ch.reason {
        Reason::FlushAll => {
            out.extend_from_slice(b"rep_flush ");
            push_i64(out, ch.exptime);
            out.push(b' ');
            push_u64(out, ch.cas);
            out.extend_from_slice(b"\r\n");
        }
        r if is_removal(r) => {
            out.extend_from_slice(b"rep_del ");
            let b64 = !text_safe(ch.key);
            push_key(out, ch.key, b64);
            out.push(b' ');
            out.extend_from_slice(reason_name(r).as_bytes());
            if b64 {
                out.extend_from_slice(b" b");
            }
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            let mut meta = ch.meta;
            let b64 = meta & ITEM_KEY_BINARY != 0 || !text_safe(ch.key);
            if b64 {
                meta |= ITEM_KEY_BINARY;
            }
            out.extend_from_slice(b"rep_set ");
            push_key(out, ch.key, b64);
            out.push(b' ');
            push_u64(out, ch.flags as u64);
            out.push(b' ');
            push_i64(out, ch.exptime);
            out.push(b' ');
            push_u64(out, ch.cas);
            out.push(b' ');
            push_u64(out, meta as u64);
            out.push(b' ');
            push_u64(out, ch.value.len() as u64);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(ch.value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn is_removal(r: Reason) -> bool {
    matches!(
        r,
        Reason::Deleted
            | Reason::Expired
            | Reason::Flushed
            | Reason::Evicted
            | Reason::Reclaimed
            | Reason::Moved
    )
}

fn push_key(out: &mut Vec<u8>, key: &[u8], b64: bool) {
    if b64 {
        base64_encode(key, out);
    } else {
        out.extend_from_slice(key);
    }
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// One command read off the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Cmd<'a> {
    Set {
        key: Cow<'a, [u8]>,
        flags: u32,
        exptime: i64,
        cas: u64,
        meta: u8,
        value: &'a [u8],
    },
    Del {
        key: Cow<'a, [u8]>,
    },
    Flush {
        at: i64,
        cas: u64,
    },
    Ping,
}

/// What `decode` found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole command, and the bytes it took.
    Cmd(Cmd<'a>, usize),
    /// Not all of the next command is in yet.
    More,
    /// Not a stream command: the link is broken.
    Bad(String),
}

/// Reads the command at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > 8192 {
            Decoded::Bad("a stream line longer than 8192 bytes".into())
        } else {
            Decoded::More
        };
    };
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let mut toks = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let bad = |what: &str| {
        Decoded::Bad(format!(
            "{}: {}",
            what,
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ))
    };
    match toks.next() {
        Some(b"rep_ping") => Decoded::Cmd(Cmd::Ping, nl + 1),
        Some(b"rep_flush") => match (toks.next().and_then(parse_i64), toks.next()) {
            (Some(at), None) => Decoded::Cmd(Cmd::Flush { at, cas: 0 }, nl + 1),
            (Some(at), Some(c)) => match parse_u64(c) {
                Some(cas) => Decoded::Cmd(Cmd::Flush { at, cas }, nl + 1),
                None => bad("bad rep_flush"),
            },
            _ => bad("bad rep_flush"),
        },
        Some(b"rep_del") => {
            let (Some(k), Some(_reason)) = (toks.next(), toks.next()) else {
                return bad("bad rep_del");
            };
            let b64 = toks.next() == Some(b"b");
            match key_of(k, b64) {
                Some(key) => Decoded::Cmd(Cmd::Del { key }, nl + 1),
                None => bad("bad key in rep_del"),
            }
        }
        Some(b"rep_set") => {
            // Exactly six words: a fixed array, no allocation per record.
            let mut f: [&[u8]; 6] = [b""; 6];
            for slot in f.iter_mut() {
                match toks.next() {
                    Some(t) => *slot = t,
                    None => return bad("bad rep_set"),
                }
            }
            if toks.next().is_some() {
                return bad("bad rep_set");
            }
            let nums = (
                parse_u64(f[1]),
                parse_i64(f[2]),
                parse_u64(f[3]),
                parse_u64(f[4]),
                parse_u64(f[5]),
            );
            let (Some(flags), Some(exptime), Some(cas), Some(meta), Some(len)) = nums else {
                return bad("bad rep_set");
            };
            if flags > u32::MAX as u64 || meta > 255 {
                return bad("bad rep_set");
            }
            let Some(key) = key_of(f[0], meta as u8 & ITEM_KEY_BINARY != 0) else {
                return bad("bad key in rep_set");
            };
            // No item is larger than -I allows (at most 1 GiB): a longer
            // value is a damaged stream, not one to wait for.
            if len > MAX_VALUE {
                return bad("rep_set value too long");
            }
            let start = nl + 1;
            let end = start + len as usize;
            if buf.len() < end + 2 {
                return Decoded::More;
            }
            if &buf[end..end + 2] != b"\r\n" {
                return bad("rep_set data not ended by \\r\\n");
            }
            Decoded::Cmd(
                Cmd::Set {
                    key,
                    flags: flags as u32,
                    exptime,
                    cas,
                    meta: meta as u8,
                    value: &buf[start..end],
                },
                end + 2,
            )
        }
        _ => bad("unknown stream command"),
    }
}

/// A key as the stream carries it: the word itself, or decoded from
/// base64 (a binary key).
fn key_of(tok: &[u8], b64: bool) -> Option<Cow<'_, [u8]>> {
    if b64 {
        let mut k = Vec::new();
        (base64_decode(tok, &mut k) && !k.is_empty()).then_some(Cow::Owned(k))
    } else {
        Some(Cow::Borrowed(tok))
    }
}

/// A number as the stream writes it: decimal digits only, no sign, at
/// most 20 of them, no overflow.
fn parse_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in t {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// As `parse_u64`, with a leading `-` allowed (an expiry before 1970).
fn parse_i64(t: &[u8]) -> Option<i64> {
    match t.strip_prefix(b"-") {
        Some(d) => parse_u64(d)
            .filter(|&v| v <= 1 << 63)
            .map(|v| (v as i64).wrapping_neg()),
        None => parse_u64(t).and_then(|v| i64::try_from(v).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change<'a>(reason: Reason, key: &'a [u8], value: &'a [u8], meta: u8) -> Change<'a> {
        Change {
            reason,
            key,
            value,
            flags: 7,
            exptime: 1_800_000_000,
            cas: 42,
            meta,
        }
    }

    #[test]
    fn commands_read_back_as_written() {
        let mut out = Vec::new();
        encode(&change(Reason::Stored, b"k", b"va\r\nl", 64), &mut out);
        encode(&change(Reason::Evicted, b"k", b"", 0), &mut out);
        encode(&change(Reason::Stored, b"a b", b"", 0), &mut out);
        encode(&change(Reason::FlushAll, b"", b"", 0), &mut out);
        assert_eq!(
            out,
            b"rep_set k 7 1800000000 42 64 5\r\nva\r\nl\r\n\
              rep_del k evicted\r\n\
              rep_set YSBi 7 1800000000 42 4 0\r\n\r\n\
              rep_flush 1800000000 42\r\n"
        );
        let mut at = 0;
        let mut got = Vec::new();
        loop {
            match decode(&out[at..]) {
                Decoded::Cmd(c, n) => {
                    got.push(format!("{:?}", c));
                    at += n;
                }
                Decoded::More => break,
                Decoded::Bad(e) => panic!("{}", e),
            }
        }
        assert_eq!(at, out.len());
        assert_eq!(got.len(), 4);
        assert!(got[2].contains("key: [97, 32, 98]"));
        // A command cut anywhere asks for more.
        for cut in 0..31 {
            assert_eq!(decode(&out[..cut]), Decoded::More, "cut at {}", cut);
        }
        assert!(matches!(decode(b"set k 0 0 1\r\n"), Decoded::Bad(_)));
        // A length no item can have is damage, whatever follows it.
        assert!(matches!(
            decode(b"rep_set k 0 0 1 0 18446744073709551615\r\n"),
            Decoded::Bad(_)
        ));
        assert!(matches!(
            decode(b"rep_set k 0 0 1 0 1073741825\r\n"),
            Decoded::Bad(_)
        ));
        assert_eq!(decode(b"rep_set k 0 0 1 0 1073741824\r\n"), Decoded::More);
    }

    #[test]
    fn numbers_are_digits_only() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"007"), Some(7));
        for bad in [&b""[..], b"+1", b" 1", b"1a", b"-1"] {
            assert_eq!(parse_u64(bad), None, "{:?}", bad);
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b"-0"), Some(0));
        assert_eq!(parse_i64(b"--1"), None);
    }
}
