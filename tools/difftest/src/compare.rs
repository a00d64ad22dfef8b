//! Deciding whether two replies are the same, and recognising the
//! differences that are deliberate (doc/compatibility.md).

use crate::gen::{Proto, Step, BIN_KNOWN_OPCODES};
use crate::wire::Reply;

pub struct Options {
    /// Compare CAS uniques as equal whatever their value.
    pub normalize_cas: bool,
}

/// Whether `a` (the reference's) and `b` (ours) are the same reply.
pub fn same(proto: Proto, a: &Reply, b: &Reply, o: &Options) -> bool {
    if a == b {
        return true;
    }
    if a.end != b.end {
        return false;
    }
    match proto {
        Proto::Text => same_text(&a.bytes, &b.bytes, o),
        Proto::Binary => o.normalize_cas && bin_without_cas(&a.bytes) == bin_without_cas(&b.bytes),
    }
}

fn is_meta_reply(line: &[u8]) -> bool {
    [&b"VA "[..], b"HD", b"EN", b"NS", b"EX", b"NF"]
        .iter()
        .any(|p| line.starts_with(p))
}

fn number(t: &[u8]) -> Option<i64> {
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// Two numbers that may differ by a second because the servers' clocks
/// tick at different instants.
fn close(a: &[u8], b: &[u8]) -> bool {
    matches!((number(a), number(b)), (Some(x), Some(y)) if (x - y).abs() <= 1)
}

fn same_text(a: &[u8], b: &[u8], o: &Options) -> bool {
    let la: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
    let lb: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    if la.len() != lb.len() {
        return false;
    }
    for (x, y) in la.iter().zip(lb.iter()) {
        if x == y {
            continue;
        }
        let tx: Vec<&[u8]> = x.split(|&c| c == b' ').collect();
        let ty: Vec<&[u8]> = y.split(|&c| c == b' ').collect();
        if tx.len() != ty.len() || tx[0] != ty[0] {
            return false;
        }
        let meta = is_meta_reply(x);
        let me = x.starts_with(b"ME ");
        let value = x.starts_with(b"VALUE ");
        for (i, (p, q)) in tx.iter().zip(ty.iter()).enumerate() {
            if p == q {
                continue;
            }
            let ok = if meta && i > 0 {
                let (p0, q0) = (p.first(), q.first());
                p0 == q0
                    && match p0 {
                        Some(b't') | Some(b'l') => close(&p[1..], &q[1..]),
                        Some(b'c') => o.normalize_cas,
                        _ => false,
                    }
            } else if me && i > 1 {
                let pe = p.iter().position(|&c| c == b'=');
                let qe = q.iter().position(|&c| c == b'=');
                match (pe, qe) {
                    (Some(i), Some(j)) if p[..i] == q[..j] => match &p[..i] {
                        // Our item header is smaller (item-memory.md), so
                        // the size and the slab class differ.
                        b"size" | b"cls" => true,
                        b"exp" | b"la" => close(&p[i + 1..], &q[j + 1..]),
                        b"cas" => o.normalize_cas,
                        _ => false,
                    },
                    _ => false,
                }
            } else {
                value && i == 4 && o.normalize_cas
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// The replies with each header's CAS field zeroed, as far as they parse.
fn bin_without_cas(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    let mut at = 0;
    while at + 24 <= v.len() && v[at] == 0x81 {
        v[at + 16..at + 24].fill(0);
        let body = u32::from_be_bytes([v[at + 8], v[at + 9], v[at + 10], v[at + 11]]) as usize;
        at += 24 + body;
    }
    v
}

/// The binary requests in a step's bytes, as (opcode, extlen, keylen,
/// bodylen), as far as they can be walked.
fn bin_requests(b: &[u8]) -> Vec<(u8, u8, u16, u32)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at + 24 <= b.len() && b[at] == 0x80 {
        let op = b[at + 1];
        let keylen = u16::from_be_bytes([b[at + 2], b[at + 3]]);
        let extlen = b[at + 4];
        let body = u32::from_be_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]);
        out.push((op, extlen, keylen, body));
        at += 24 + body as usize;
    }
    out
}

/// Names the documented difference that explains this divergence, if one
/// does. `before` are the steps sent before `step` on any connection.
pub fn known(
    protos: &[Proto],
    before: &[Step],
    step: &Step,
    a: &Reply,
    b: &Reply,
) -> Option<&'static str> {
    let proto = protos[step.conn];
    if proto == Proto::Text {
        // A 251-byte key in get/gets/gat/gats: 1.6.45 sends an empty line
        // after the error, which a client would read as the next reply,
        // and drops the replies still queued before it in the same read.
        const E: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
        const EB: &[u8] = b"CLIENT_ERROR bad command line format\r\n\r\n";
        let parts = split_on(&a.bytes, EB);
        if a.end == b.end && parts.len() > 1 && dropped_match(&parts, &b.bytes, E) {
            return Some(
                "251-byte key in a get: no empty line after the error, earlier replies kept",
            );
        }
        // `me <key> b` with nothing after the b: 1.6.45 does not decode.
        // (The `me` may follow bytes a data block swallowed.)
        for l in step.bytes.split(|&c| c == b'\n') {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let w: Vec<&[u8]> = l.split(|&c| c == b' ').filter(|w| !w.is_empty()).collect();
            if w.len() == 3 && w[0].ends_with(b"me") && w[2] == b"b" {
                return Some("me <key> b decodes the key");
            }
        }
    }
    // mg or ma with an opaque over 32 bytes: 1.6.45 answers the error after
    // it looked the item up (a bump), made it (N) and applied the flags
    // before the O; we answer it without touching the item.
    let long_opaque_mg = before
        .iter()
        .chain(std::iter::once(step))
        .filter(|s| protos[s.conn] == Proto::Text)
        .flat_map(|s| s.bytes.split(|&c| c == b'\n'))
        .any(|l| {
            let mut w = l
                .split(|&c| c == b' ' || c == b'\r')
                .filter(|w| !w.is_empty());
            let cmd = w.next();
            (cmd == Some(b"mg") || cmd == Some(b"ma"))
                && w.skip(1).any(|t| t[0] == b'O' && t.len() > 32)
        });
    if long_opaque_mg {
        return Some("mg or ma with a long opaque: 1.6.45 acts on the item before the error");
    }
    // An unknown binary opcode with extras or a key: 1.6.45 drops the body
    // length again after them, eating the start of the next request.
    let tainted = before
        .iter()
        .chain(std::iter::once(step))
        .filter(|s| s.conn == step.conn && protos[s.conn] == Proto::Binary)
        .flat_map(|s| bin_requests(&s.bytes))
        .any(|(op, ext, key, _)| !BIN_KNOWN_OPCODES.contains(&op) && (ext > 0 || key > 0));
    if tainted {
        return Some("binary unknown opcode with extras or key eats the next request");
    }
    None
}

/// `b` cut at each occurrence of `sep` (which is left out).
fn split_on<'a>(b: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= b.len() {
        if &b[i..i + sep.len()] == sep {
            parts.push(&b[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(&b[start..]);
    parts
}

/// Whether `ours` is what the reference sent (`parts`, cut at each get
/// error) with, before each of those errors, replies the reference dropped:
/// each part but the last a prefix of ours up to one of our `err` lines,
/// the last part all that remains.
fn dropped_match(parts: &[&[u8]], ours: &[u8], err: &[u8]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return ours.is_empty();
    };
    if rest.is_empty() {
        return *first == ours;
    }
    if !ours.starts_with(first) {
        return false;
    }
    let mut i = first.len();
    while i + err.len() <= ours.len() {
        if &ours[i..i + err.len()] == err && dropped_match(rest, &ours[i + err.len()..], err) {
            return true;
        }
        i += 1;
    }
    false
}
