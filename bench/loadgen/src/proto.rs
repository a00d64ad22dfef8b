//! The memcached protocol as the load generator speaks it: encoders that
//! append a request to a connection's write buffer, and `Parser`, which
//! reads the reply to one request at a time straight out of the read
//! buffer, with no copy and no allocation unless the reply is wrong.
//!
//! Replies it expects, per request:
//!
//! ```text
//!   get k1 .. kK        (VALUE <key> 0 <value_size>\r\n <data>\r\n)* END\r\n
//!                       keys in request order, each one requested
//!   set ..              STORED\r\n | NOT_STORED\r\n
//!   mg <key> v f        VA <value_size> f0\r\n <data>\r\n | EN\r\n
//!   ms <key> <len>      HD\r\n | NS\r\n
//!   version             VERSION <anything>\r\n
//!   binary get <key>    header (status 0, 4 bytes of flags 0) <data>
//!                       | header (status 1) "Not found"
//!   binary set <key>    header (status 0, no body)
//! ```
//!
//! A binary reply's 24-byte header must be whole (with the extras of a
//! hit, or the body of a miss) before it is read, as a text line must.
//!
//! Everything else (ERROR, CLIENT_ERROR, SERVER_ERROR, a wrong key, flag or
//! length, a value that differs from the key's, a bare \n) is a
//! `ProtoError` that quotes what arrived. NOT_STORED and NS are legal
//! answers and only counted.

use crate::keyspace::Keyspace;

/// A reply line longer than this without its \r\n is garbage. The longest
/// legal line, a VALUE line with a 250-byte key, is under 300 bytes.
pub const MAX_LINE: usize = 1024;

/// Check the content of every this many hits per connection (the length
/// and the trailing \r\n of every hit are always checked).
pub const VERIFY_EVERY: u32 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `get` with one key or, for multiget, several.
    Get,
    Set,
    MetaGet,
    MetaSet,
    Version,
    /// The binary protocol's get (opcode 0x00) and set (0x01).
    BinGet,
    BinSet,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::MetaGet => "mg",
            Op::MetaSet => "ms",
            Op::Version => "version",
            Op::BinGet => "binary get",
            Op::BinSet => "binary set",
        }
    }
}

/// What one complete reply said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub hits: u32,
    pub misses: u32,
    /// The store was refused (NOT_STORED, NS).
    pub not_stored: bool,
}

/// The result of feeding bytes to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The reply is not complete; the first `usize` bytes were consumed and
    /// the rest (a partial line) must be fed again with more after it.
    More(usize),
    /// The reply is complete after `usize` bytes; the bytes after it
    /// belong to the next request.
    Done(usize, Outcome),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoError(pub String);

pub fn put_get(w: &mut Vec<u8>, ks: &Keyspace, keys: &[u32]) {
    w.extend_from_slice(b"get");
    for &k in keys {
        w.push(b' ');
        ks.put_key(w, k);
    }
    w.extend_from_slice(b"\r\n");
}

pub fn put_set(w: &mut Vec<u8>, ks: &Keyspace, key: u32, noreply: bool) {
    w.extend_from_slice(b"set ");
    ks.put_key(w, key);
    w.extend_from_slice(b" 0 0 ");
    w.extend_from_slice(ks.value_len());
    if noreply {
        w.extend_from_slice(b" noreply");
    }
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(ks.value(key));
    w.extend_from_slice(b"\r\n");
}

pub fn put_mg(w: &mut Vec<u8>, ks: &Keyspace, key: u32) {
    w.extend_from_slice(b"mg ");
    ks.put_key(w, key);
    w.extend_from_slice(b" v f\r\n");
}

pub fn put_ms(w: &mut Vec<u8>, ks: &Keyspace, key: u32) {
    w.extend_from_slice(b"ms ");
    ks.put_key(w, key);
    w.push(b' ');
    w.extend_from_slice(ks.value_len());
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(ks.value(key));
    w.extend_from_slice(b"\r\n");
}

/// A binary request header: magic 0x80, opcode, key length, extras
/// length, data type and vbucket 0, body length, opaque and CAS 0.
fn put_bin_header(w: &mut Vec<u8>, opcode: u8, keylen: usize, extlen: usize, bodylen: usize) {
    w.extend_from_slice(&[0x80, opcode]);
    w.extend_from_slice(&(keylen as u16).to_be_bytes());
    w.extend_from_slice(&[extlen as u8, 0, 0, 0]);
    w.extend_from_slice(&(bodylen as u32).to_be_bytes());
    w.extend_from_slice(&[0; 12]);
}

pub fn put_bin_get(w: &mut Vec<u8>, ks: &Keyspace, key: u32) {
    let start = w.len();
    put_bin_header(w, 0x00, 0, 0, 0);
    ks.put_key(w, key);
    let klen = w.len() - start - BIN_HEADER;
    w[start + 2..start + 4].copy_from_slice(&(klen as u16).to_be_bytes());
    w[start + 8..start + 12].copy_from_slice(&(klen as u32).to_be_bytes());
}

/// A binary set with flags 0 and no expiry.
pub fn put_bin_set(w: &mut Vec<u8>, ks: &Keyspace, key: u32) {
    let start = w.len();
    put_bin_header(w, 0x01, 0, 8, 0);
    w.extend_from_slice(&[0; 8]);
    ks.put_key(w, key);
    let klen = w.len() - start - BIN_HEADER - 8;
    w.extend_from_slice(ks.value(key));
    let body = 8 + klen + ks.value_size();
    w[start + 2..start + 4].copy_from_slice(&(klen as u16).to_be_bytes());
    w[start + 8..start + 12].copy_from_slice(&(body as u32).to_be_bytes());
}

/// Bytes of a binary protocol header.
const BIN_HEADER: usize = 24;

pub fn put_version(w: &mut Vec<u8>) {
    w.extend_from_slice(b"version\r\n");
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Waiting for a whole reply line.
    Line,
    /// Inside a value: `left` bytes to go, `at` bytes already seen.
    Data {
        left: usize,
        at: usize,
        verify: bool,
    },
    /// After a value: its \r\n must follow.
    DataEnd,
}

/// Parses the replies of one connection, in order. It keeps the state of
/// the reply in progress between calls, so a reply may arrive in any
/// number of pieces; only a partial line is handed back to be fed again,
/// never value bytes, so a huge value needs no huge buffer.
pub struct Parser {
    state: State,
    /// VALUE blocks seen so far in the current get reply.
    hits: u32,
    /// Get: index into the request's keys of the first key that may still
    /// come back (replies follow request order).
    cursor: usize,
    /// The key index whose value is being read.
    key: u32,
    /// Hits seen by this parser; every `verify_every`-th is checked byte
    /// by byte.
    seen: u32,
    verify_every: u32,
}

impl Parser {
    pub fn new(verify_every: u32) -> Parser {
        Parser {
            state: State::Line,
            hits: 0,
            cursor: 0,
            key: 0,
            seen: 0,
            verify_every: verify_every.max(1),
        }
    }

    /// Feeds `buf`, the unconsumed reply bytes, for the oldest request in
    /// flight, `op` on `keys`. Returns how far it got, or the error that
    /// ends the run.
    pub fn feed(
        &mut self,
        buf: &[u8],
        op: Op,
        keys: &[u32],
        ks: &Keyspace,
    ) -> Result<Step, ProtoError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Line if matches!(op, Op::BinGet | Op::BinSet) => {
                    let rest = &buf[pos..];
                    match self.bin_header(rest, op, keys, ks)? {
                        None => return Ok(Step::More(pos)),
                        Some((n, None)) => pos += n,
                        Some((n, Some(outcome))) => return Ok(Step::Done(pos + n, outcome)),
                    }
                }
                State::Line => {
                    let rest = &buf[pos..];
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() > MAX_LINE || !plausible(op, rest) {
                            return Err(unexpected(op, rest));
                        }
                        return Ok(Step::More(pos));
                    };
                    if nl == 0 || rest[nl - 1] != b'\r' {
                        return Err(unexpected(op, &rest[..nl + 1]));
                    }
                    let line = &rest[..nl - 1];
                    pos += nl + 1;
                    if let Some(outcome) = self.line(line, op, keys, ks)? {
                        self.hits = 0;
                        self.cursor = 0;
                        return Ok(Step::Done(pos, outcome));
                    }
                }
                State::Data { left, at, verify } => {
                    let n = left.min(buf.len() - pos);
                    if n == 0 {
                        return Ok(Step::More(pos));
                    }
                    let got = &buf[pos..pos + n];
                    if verify && got != &ks.value(self.key)[at..at + n] {
                        return Err(ProtoError(format!(
                            "value of {} differs from what was stored at byte {}: got \"{}\"",
                            show(&ks.key(self.key)),
                            at,
                            show(got)
                        )));
                    }
                    pos += n;
                    if n == left && op == Op::BinGet {
                        // No \r\n after a binary value.
                        self.state = State::Line;
                        return Ok(Step::Done(
                            pos,
                            Outcome {
                                hits: 1,
                                ..Outcome::default()
                            },
                        ));
                    }
                    self.state = if n == left {
                        State::DataEnd
                    } else {
                        State::Data {
                            left: left - n,
                            at: at + n,
                            verify,
                        }
                    };
                }
                State::DataEnd => {
                    if buf.len() - pos < 2 {
                        // A lone byte that cannot begin \r\n is already wrong.
                        if buf.len() > pos && buf[pos] != b'\r' {
                            return Err(data_end(op, &buf[pos..]));
                        }
                        return Ok(Step::More(pos));
                    }
                    if &buf[pos..pos + 2] != b"\r\n" {
                        return Err(data_end(op, &buf[pos..]));
                    }
                    pos += 2;
                    self.state = State::Line;
                    if op == Op::MetaGet {
                        return Ok(Step::Done(
                            pos,
                            Outcome {
                                hits: 1,
                                ..Outcome::default()
                            },
                        ));
                    }
                }
            }
        }
    }

    /// Handles one reply line (without its \r\n). Returns the outcome when
    /// the line ends the reply, None when a value follows.
    fn line(
        &mut self,
        line: &[u8],
        op: Op,
        keys: &[u32],
        ks: &Keyspace,
    ) -> Result<Option<Outcome>, ProtoError> {
        let done = |hits, misses, not_stored| {
            Ok(Some(Outcome {
                hits,
                misses,
                not_stored,
            }))
        };
        match op {
            Op::Get => {
                if line == b"END" {
                    return done(self.hits, keys.len() as u32 - self.hits, false);
                }
                let Some(rest) = line.strip_prefix(b"VALUE ") else {
                    return Err(unexpected(op, line));
                };
                let mut tok = rest.split(|&b| b == b' ');
                let (Some(key), Some(flags), Some(bytes), None) =
                    (tok.next(), tok.next(), tok.next(), tok.next())
                else {
                    return Err(unexpected(op, line));
                };
                let Some(j) = (self.cursor..keys.len()).find(|&j| ks.is_key(keys[j], key)) else {
                    return Err(ProtoError(format!(
                        "reply to get returned key \"{}\", which was not requested (or came out of order)",
                        show(key)
                    )));
                };
                if parse_u64(flags) != Some(0) || parse_u64(bytes) != Some(ks.value_size() as u64) {
                    return Err(wrong_value(op, line, ks));
                }
                self.cursor = j + 1;
                self.hits += 1;
                self.begin_value(keys[j], ks);
                Ok(None)
            }
            Op::Set => match line {
                b"STORED" => done(0, 0, false),
                b"NOT_STORED" => done(0, 0, true),
                _ => Err(unexpected(op, line)),
            },
            Op::MetaGet => {
                if line == b"EN" {
                    return done(0, 1, false);
                }
                let Some(rest) = line.strip_prefix(b"VA ") else {
                    return Err(unexpected(op, line));
                };
                let mut tok = rest.split(|&b| b == b' ');
                let (Some(len), Some(flags), None) = (tok.next(), tok.next(), tok.next()) else {
                    return Err(unexpected(op, line));
                };
                if parse_u64(len) != Some(ks.value_size() as u64) || flags != b"f0" {
                    return Err(wrong_value(op, line, ks));
                }
                self.begin_value(keys[0], ks);
                Ok(None)
            }
            Op::MetaSet => match line {
                b"HD" => done(0, 0, false),
                b"NS" => done(0, 0, true),
                _ => Err(unexpected(op, line)),
            },
            Op::Version => match line.strip_prefix(b"VERSION ") {
                Some(_) => done(0, 0, false),
                None => Err(unexpected(op, line)),
            },
            Op::BinGet | Op::BinSet => Err(unexpected(op, line)),
        }
    }

    /// Reads a binary reply's header from `rest`. None: not all of it is
    /// there yet. Otherwise the bytes it took and, if the reply ends
    /// there, its outcome (else the value follows, in State::Data).
    #[allow(clippy::type_complexity)]
    fn bin_header(
        &mut self,
        rest: &[u8],
        op: Op,
        keys: &[u32],
        ks: &Keyspace,
    ) -> Result<Option<(usize, Option<Outcome>)>, ProtoError> {
        if rest.len() < BIN_HEADER {
            if !rest.is_empty() && rest[0] != 0x81 {
                return Err(unexpected(op, rest));
            }
            return Ok(None);
        }
        let h = &rest[..BIN_HEADER];
        let opcode = if op == Op::BinGet { 0x00 } else { 0x01 };
        let status = u16::from_be_bytes([h[6], h[7]]);
        let (keylen, extlen) = (u16::from_be_bytes([h[2], h[3]]), h[4]);
        let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        if h[0] != 0x81 || h[1] != opcode {
            return Err(unexpected(op, h));
        }
        let whole = |n: usize| (rest.len() >= BIN_HEADER + n).then_some(BIN_HEADER + n);
        let done = |o: Outcome| Ok(Some((BIN_HEADER + body, Some(o))));
        match (op, status) {
            (Op::BinSet, 0) if body == 0 => done(Outcome::default()),
            (Op::BinGet, 1) => {
                // "Not found": the body must be in too.
                if whole(body).is_none() {
                    return Ok(None);
                }
                done(Outcome {
                    misses: 1,
                    ..Outcome::default()
                })
            }
            (Op::BinGet, 0) => {
                let Some(n) = whole(4) else {
                    return Ok(None);
                };
                if keylen != 0
                    || extlen != 4
                    || body != 4 + ks.value_size()
                    || rest[24..28] != [0; 4]
                {
                    return Err(wrong_value(op, h, ks));
                }
                self.begin_value(keys[0], ks);
                if ks.value_size() == 0 {
                    self.state = State::Line;
                    return Ok(Some((
                        n,
                        Some(Outcome {
                            hits: 1,
                            ..Outcome::default()
                        }),
                    )));
                }
                Ok(Some((n, None)))
            }
            _ => {
                let n = whole(body).unwrap_or(rest.len());
                Err(unexpected(op, &rest[..n]))
            }
        }
    }

    fn begin_value(&mut self, key: u32, ks: &Keyspace) {
        self.key = key;
        self.seen = self.seen.wrapping_add(1);
        let verify = self.seen.is_multiple_of(self.verify_every);
        self.state = if ks.value_size() == 0 {
            State::DataEnd
        } else {
            State::Data {
                left: ks.value_size(),
                at: 0,
                verify,
            }
        };
    }
}

/// Whether a partial line can still become a legal reply to `op`. It lets
/// garbage without a newline fail at once instead of stalling the run.
fn plausible(op: Op, partial: &[u8]) -> bool {
    let starts: &[&[u8]] = match op {
        Op::Get => &[b"VALUE ", b"END\r"],
        Op::Set => &[b"STORED\r", b"NOT_STORED\r"],
        Op::MetaGet => &[b"VA ", b"EN\r"],
        Op::MetaSet => &[b"HD\r", b"NS\r"],
        Op::Version => &[b"VERSION "],
        Op::BinGet | Op::BinSet => &[b"\x81"],
    };
    starts.iter().any(|s| {
        let n = partial.len().min(s.len());
        partial[..n] == s[..n]
    })
}

/// Reads a decimal number of digits only, as the server writes them.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + (b - b'0') as u64)
    })
}

fn unexpected(op: Op, got: &[u8]) -> ProtoError {
    ProtoError(format!(
        "unexpected reply to {}: \"{}\"",
        op.name(),
        show(got)
    ))
}

fn wrong_value(op: Op, line: &[u8], ks: &Keyspace) -> ProtoError {
    ProtoError(format!(
        "reply to {} has the wrong flags or length (want flags 0, {} bytes): \"{}\"",
        op.name(),
        ks.value_size(),
        show(line)
    ))
}

fn data_end(op: Op, got: &[u8]) -> ProtoError {
    ProtoError(format!(
        "value in reply to {} is not followed by \\r\\n: \"{}\"",
        op.name(),
        show(got)
    ))
}

/// Shows received bytes for an error message: printable ASCII as is, the
/// rest escaped, at most 200 bytes.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(200) {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 200 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> Keyspace {
        Keyspace::new(100, 8, 5).unwrap()
    }

    /// Feeds `wire` one byte at a time, as the slowest network would, and
    /// returns the outcome of each request in `reqs` in turn, or the error.
    fn feed_bytewise(
        p: &mut Parser,
        wire: &[u8],
        reqs: &[(Op, Vec<u32>)],
        ks: &Keyspace,
    ) -> Result<Vec<Outcome>, ProtoError> {
        let mut pending: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut next = 0;
        for &b in wire {
            pending.push(b);
            loop {
                let Some((op, keys)) = reqs.get(next) else {
                    return Err(ProtoError(format!(
                        "bytes after the last reply: {}",
                        show(&pending)
                    )));
                };
                match p.feed(&pending, *op, keys, ks)? {
                    Step::More(n) => {
                        pending.drain(..n);
                        break;
                    }
                    Step::Done(n, o) => {
                        pending.drain(..n);
                        out.push(o);
                        next += 1;
                        if pending.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
        assert!(pending.is_empty(), "left over: {}", show(&pending));
        Ok(out)
    }

    /// Feeds `wire` whole, as one big read would.
    fn feed_whole(
        p: &mut Parser,
        wire: &[u8],
        reqs: &[(Op, Vec<u32>)],
        ks: &Keyspace,
    ) -> Result<Vec<Outcome>, ProtoError> {
        let mut pos = 0;
        let mut out = Vec::new();
        for (op, keys) in reqs {
            match p.feed(&wire[pos..], *op, keys, ks)? {
                Step::Done(n, o) => {
                    pos += n;
                    out.push(o);
                }
                Step::More(_) => panic!("reply to {op:?} incomplete"),
            }
        }
        assert_eq!(pos, wire.len());
        Ok(out)
    }

    fn both(wire: &[u8], reqs: &[(Op, Vec<u32>)]) -> Result<Vec<Outcome>, ProtoError> {
        let ks = ks();
        let a = feed_bytewise(&mut Parser::new(1), wire, reqs, &ks);
        let b = feed_whole(&mut Parser::new(1), wire, reqs, &ks);
        // Errors may quote less when found early, byte by byte; their kind agrees.
        match (&a, &b) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "byte-wise and whole feeding disagree"),
            (Err(x), Err(y)) => assert_eq!(x.0.split(':').next(), y.0.split(':').next()),
            _ => panic!("byte-wise {a:?} but whole {b:?}"),
        }
        b
    }

    fn value_block(ks: &Keyspace, k: u32) -> Vec<u8> {
        let mut v = b"VALUE ".to_vec();
        v.extend_from_slice(&ks.key(k));
        v.extend_from_slice(b" 0 5\r\n");
        v.extend_from_slice(ks.value(k));
        v.extend_from_slice(b"\r\n");
        v
    }

    fn hit(h: u32, m: u32) -> Outcome {
        Outcome {
            hits: h,
            misses: m,
            not_stored: false,
        }
    }

    #[test]
    fn pipelined_gets_sets_and_misses() {
        let ks = ks();
        let mut wire = value_block(&ks, 3);
        wire.extend_from_slice(b"END\r\nEND\r\nSTORED\r\nNOT_STORED\r\n");
        let reqs = [
            (Op::Get, vec![3]),
            (Op::Get, vec![4]),
            (Op::Set, vec![5]),
            (Op::Set, vec![6]),
        ];
        let out = both(&wire, &reqs).unwrap();
        assert_eq!(
            out,
            vec![
                hit(1, 0),
                hit(0, 1),
                hit(0, 0),
                Outcome {
                    not_stored: true,
                    ..hit(0, 0)
                }
            ]
        );
    }

    #[test]
    fn multiget_counts_hits_and_misses_in_order() {
        let ks = ks();
        let mut wire = value_block(&ks, 1);
        wire.extend_from_slice(&value_block(&ks, 7));
        wire.extend_from_slice(&value_block(&ks, 7));
        wire.extend_from_slice(b"END\r\n");
        let out = both(&wire, &[(Op::Get, vec![1, 2, 7, 7])]).unwrap();
        assert_eq!(out, vec![hit(3, 1)]);
    }

    #[test]
    fn multiget_key_out_of_order_is_an_error() {
        let ks = ks();
        let mut wire = value_block(&ks, 7);
        wire.extend_from_slice(&value_block(&ks, 1));
        wire.extend_from_slice(b"END\r\n");
        let e = both(&wire, &[(Op::Get, vec![1, 7])]).unwrap_err();
        assert!(e.0.contains("not requested"), "{}", e.0);
    }

    #[test]
    fn wrong_key_is_an_error() {
        let ks = ks();
        let mut wire = value_block(&ks, 8);
        wire.extend_from_slice(b"END\r\n");
        let e = both(&wire, &[(Op::Get, vec![9])]).unwrap_err();
        assert!(e.0.contains("key:0008"), "{}", e.0);
    }

    #[test]
    fn wrong_length_or_flags_is_an_error() {
        let e = both(
            b"VALUE key:0001 0 6\r\nabcdef\r\nEND\r\n",
            &[(Op::Get, vec![1])],
        )
        .unwrap_err();
        assert!(e.0.contains("wrong flags or length"), "{}", e.0);
        let e = both(b"VALUE key:0001 3 5\r\n", &[(Op::Get, vec![1])]).unwrap_err();
        assert!(e.0.contains("wrong flags or length"), "{}", e.0);
    }

    #[test]
    fn corrupted_value_is_caught_when_verified() {
        let ks = ks();
        let mut wire = value_block(&ks, 3);
        let at = wire.len() - 4;
        wire[at] ^= 1;
        wire.extend_from_slice(b"END\r\n");
        let e = both(&wire, &[(Op::Get, vec![3])]).unwrap_err();
        assert!(e.0.contains("differs"), "{}", e.0);
        // Unverified hits (not the 64th) pass on length alone.
        let out = feed_whole(&mut Parser::new(64), &wire, &[(Op::Get, vec![3])], &ks).unwrap();
        assert_eq!(out, vec![hit(1, 0)]);
    }

    #[test]
    fn value_without_crlf_is_an_error() {
        let ks = ks();
        let mut wire = b"VALUE key:0001 0 5\r\n".to_vec();
        wire.extend_from_slice(ks.value(1));
        wire.extend_from_slice(b"XX");
        let e = both(&wire, &[(Op::Get, vec![1])]).unwrap_err();
        assert!(e.0.contains("not followed"), "{}", e.0);
    }

    #[test]
    fn server_errors_are_errors() {
        for (wire, op) in [
            (&b"ERROR\r\n"[..], Op::Get),
            (b"SERVER_ERROR out of memory storing object\r\n", Op::Set),
            (b"CLIENT_ERROR bad data chunk\r\n", Op::MetaSet),
            (b"END\n", Op::Get),
            (b"EXISTS\r\n", Op::Set),
            (b"garbage", Op::MetaGet),
        ] {
            let e = both(wire, &[(op, vec![1])]).unwrap_err();
            assert!(e.0.starts_with("unexpected reply"), "{}", e.0);
        }
    }

    #[test]
    fn meta_get_and_set() {
        let ks = ks();
        let mut wire = b"VA 5 f0\r\n".to_vec();
        wire.extend_from_slice(ks.value(4));
        wire.extend_from_slice(b"\r\nEN\r\nHD\r\nNS\r\n");
        let reqs = [
            (Op::MetaGet, vec![4]),
            (Op::MetaGet, vec![5]),
            (Op::MetaSet, vec![6]),
            (Op::MetaSet, vec![6]),
        ];
        let out = both(&wire, &reqs).unwrap();
        assert_eq!(
            out,
            vec![
                hit(1, 0),
                hit(0, 1),
                hit(0, 0),
                Outcome {
                    not_stored: true,
                    ..hit(0, 0)
                }
            ]
        );
        let e = both(b"VA 5 f7\r\n", &[(Op::MetaGet, vec![4])]).unwrap_err();
        assert!(e.0.contains("wrong flags"), "{}", e.0);
    }

    #[test]
    fn version_reply() {
        assert_eq!(
            both(b"VERSION 1.6.21\r\n", &[(Op::Version, vec![])]).unwrap(),
            vec![hit(0, 0)]
        );
    }

    #[test]
    fn overlong_line_is_an_error() {
        let mut wire = b"VALUE ".to_vec();
        wire.extend(std::iter::repeat(b'x').take(MAX_LINE + 10));
        assert!(both(&wire, &[(Op::Get, vec![1])]).is_err());
    }

    #[test]
    fn encoders_write_the_commands() {
        let ks = ks();
        let mut w = Vec::new();
        put_get(&mut w, &ks, &[1, 2]);
        put_set(&mut w, &ks, 3, true);
        put_mg(&mut w, &ks, 4);
        put_ms(&mut w, &ks, 5);
        let want = format!(
            "get key:0001 key:0002\r\nset key:0003 0 0 5 noreply\r\n{}\r\nmg key:0004 v f\r\nms key:0005 5\r\n{}\r\n",
            String::from_utf8_lossy(ks.value(3)),
            String::from_utf8_lossy(ks.value(5))
        );
        assert_eq!(String::from_utf8_lossy(&w), want);
    }

    /// A binary reply header (magic 0x81), CAS 7.
    fn bin_reply(opcode: u8, status: u16, extlen: u8, body: &[u8]) -> Vec<u8> {
        let mut w = vec![0x81, opcode, 0, 0, extlen, 0];
        w.extend_from_slice(&status.to_be_bytes());
        w.extend_from_slice(&(body.len() as u32).to_be_bytes());
        w.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        w.extend_from_slice(body);
        w
    }

    #[test]
    fn binary_get_and_set() {
        let ks = ks();
        let mut hitbody = vec![0, 0, 0, 0];
        hitbody.extend_from_slice(ks.value(3));
        let mut wire = bin_reply(0x00, 0, 4, &hitbody);
        wire.extend(bin_reply(0x00, 1, 0, b"Not found"));
        wire.extend(bin_reply(0x01, 0, 0, b""));
        wire.extend(bin_reply(0x00, 0, 4, &hitbody));
        let reqs = [
            (Op::BinGet, vec![3]),
            (Op::BinGet, vec![4]),
            (Op::BinSet, vec![4]),
            (Op::BinGet, vec![3]),
        ];
        assert_eq!(
            both(&wire, &reqs).unwrap(),
            vec![hit(1, 0), hit(0, 1), hit(0, 0), hit(1, 0)]
        );
        // Flags other than 0, a wrong value, an error status: errors.
        let mut bad = hitbody.clone();
        bad[3] = 1;
        assert!(both(&bin_reply(0x00, 0, 4, &bad), &reqs[..1]).is_err());
        let mut bad = hitbody.clone();
        bad[5] ^= 1;
        assert!(both(&bin_reply(0x00, 0, 4, &bad), &reqs[..1]).is_err());
        let e = both(&bin_reply(0x01, 0x82, 0, b"Out of memory"), &reqs[2..3]).unwrap_err();
        assert!(e.0.contains("binary set"), "{}", e.0);
        assert!(both(b"STORED\r\n", &reqs[2..3]).is_err());
    }

    #[test]
    fn binary_encoders() {
        let ks = ks();
        let mut w = Vec::new();
        put_bin_get(&mut w, &ks, 1);
        let mut want = vec![0x80, 0x00, 0, 8, 0, 0, 0, 0, 0, 0, 0, 8];
        want.extend_from_slice(&[0; 12]);
        want.extend_from_slice(b"key:0001");
        assert_eq!(w, want);
        w.clear();
        put_bin_set(&mut w, &ks, 2);
        let mut want = vec![0x80, 0x01, 0, 8, 8, 0, 0, 0, 0, 0, 0, 21];
        want.extend_from_slice(&[0; 20]);
        want.extend_from_slice(b"key:0002");
        want.extend_from_slice(ks.value(2));
        assert_eq!(w, want);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"100"), Some(100));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b"-1"), None);
    }
}
