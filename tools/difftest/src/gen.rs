//! Request sequences generated from a seed: text, meta and binary commands,
//! well formed most of the time, mutated the rest.

/// splitmix64: small, fast, and the same sequence for a seed everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6d63_6469_6666_7465)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn one<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Text,
    Binary,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub conn: usize,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Sequence {
    pub conns: Vec<Proto>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Text,
    Meta,
    Binary,
    Mixed,
}

impl Family {
    pub fn parse(s: &str) -> Option<Vec<Family>> {
        Some(match s {
            "text" => vec![Family::Text],
            "meta" => vec![Family::Meta],
            "binary" | "bin" => vec![Family::Binary],
            "mixed" => vec![Family::Mixed],
            "all" => vec![Family::Text, Family::Meta, Family::Binary, Family::Mixed],
            _ => return None,
        })
    }
}

/// The sequence for `seed`, from one of `families` (picked by the seed).
pub fn sequence(seed: u64, families: &[Family], max_steps: usize) -> Sequence {
    let mut r = Rng::new(seed);
    let family = r.one(families);
    let nsteps = 1 + r.below(max_steps as u64) as usize;
    let conns: Vec<Proto> = match family {
        Family::Text | Family::Meta => vec![Proto::Text; 1 + r.below(2) as usize],
        Family::Binary => vec![Proto::Binary; 1 + r.below(2) as usize],
        Family::Mixed => vec![Proto::Text, Proto::Binary, Proto::Text],
    };
    let mut steps = Vec::with_capacity(nsteps);
    for _ in 0..nsteps {
        let conn = r.below(conns.len() as u64) as usize;
        let nreq = if r.chance(25) { 2 + r.below(4) } else { 1 };
        let mut bytes = Vec::new();
        for _ in 0..nreq {
            match conns[conn] {
                Proto::Binary => binary_request(&mut r, &mut bytes),
                Proto::Text => {
                    let meta = match family {
                        Family::Meta => r.chance(85),
                        Family::Text => r.chance(5),
                        _ => r.chance(50),
                    };
                    if meta {
                        meta_request(&mut r, &mut bytes)
                    } else {
                        text_request(&mut r, &mut bytes)
                    }
                }
            }
        }
        // Rarely, bytes of the other protocol on a connection.
        if r.chance(2) {
            match conns[conn] {
                Proto::Binary => text_request(&mut r, &mut bytes),
                Proto::Text => {
                    if !bytes.is_empty() {
                        binary_request(&mut r, &mut bytes);
                        bytes.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        steps.push(Step { conn, bytes });
    }
    Sequence { conns, steps }
}

// ---------------------------------------------------------------------------
// Pieces shared by the text and meta generators.

const SHORT_KEYS: &[&str] = &["a", "b", "c", "foo", "num", "k1"];

fn key(r: &mut Rng) -> Vec<u8> {
    match r.below(100) {
        // A 251-byte key in a get ends a sequence on a known difference:
        // rare, so sequences get further.
        0..=82 => r.one(SHORT_KEYS).as_bytes().to_vec(),
        83..=86 => vec![b'k'; 250],
        87 => vec![b'k'; 251],
        88..=89 => vec![b'k'; 200 + r.below(100) as usize],
        90..=94 => {
            let n = 1 + r.below(12) as usize;
            (0..n).map(|_| b'!' + r.below(94) as u8).collect()
        }
        95..=96 => b"a\x01b".to_vec(),
        _ => b"\xc3\xa9t\xc3\xa9".to_vec(),
    }
}

fn alnum(r: &mut Rng, n: usize) -> Vec<u8> {
    const CH: &[u8] = b"abcdefghijklopqrsuwxyz0123456789";
    (0..n).map(|_| r.one(CH)).collect()
}

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "9",
    "10",
    "99",
    "100",
    "00012",
    "18446744073709551615",
    "18446744073709551614",
    "4294967295",
    "-1",
    "abc",
    "12a",
];

fn value(r: &mut Rng) -> Vec<u8> {
    match r.below(100) {
        0..=39 => {
            let n = r.below(10) as usize;
            alnum(r, n)
        }
        40..=69 => r.one(NUMBERS).as_bytes().to_vec(),
        70..=89 => {
            let n = 10 + r.below(290) as usize;
            alnum(r, n)
        }
        90..=98 => {
            let n = 300 + r.below(6000) as usize;
            alnum(r, n)
        }
        _ => {
            let n = 6000 + r.below(100_000) as usize;
            alnum(r, n)
        }
    }
}

/// Expiry times. No small positive relative time: a sequence must not
/// depend on when a second ticks.
fn ttl(r: &mut Rng) -> String {
    r.one(&[
        "0",
        "0",
        "0",
        "0",
        "100",
        "3600",
        "-1",
        "2592000",
        "2592001",
        "4294967295",
        "4294967296",
        "-2147483648",
        "2147483648",
        "abc",
        "+100",
        "0100",
        "99999999999999999999",
        "1x",
    ])
    .to_string()
}

fn flags(r: &mut Rng) -> String {
    r.one(&[
        "0",
        "0",
        "0",
        "1",
        "123",
        "65535",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "x",
        "+5",
    ])
    .to_string()
}

fn cas_unique(r: &mut Rng) -> String {
    if r.chance(80) {
        return r.below(12).to_string();
    }
    r.one(&[
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "x",
        "+3",
        "0003",
    ])
    .to_string()
}

fn delta(r: &mut Rng) -> String {
    r.one(&[
        "1",
        "1",
        "5",
        "0",
        "100",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "x",
        "+1",
        "4294967296",
    ])
    .to_string()
}

fn junk_token(r: &mut Rng) -> Vec<u8> {
    match r.below(8) {
        0 => b"noreply".to_vec(),
        1 => b"x".to_vec(),
        2 => b"-5".to_vec(),
        3 => b"99999999999999999999999".to_vec(),
        4 => vec![b'z'; 300],
        5 => b"\x00".to_vec(),
        6 => b"\xff\xfe".to_vec(),
        _ => b"0".to_vec(),
    }
}

/// Turns a command's words into a line, sometimes damaged: a word dropped,
/// doubled, replaced or added, spaces moved, the end of line changed.
fn line(r: &mut Rng, mut words: Vec<Vec<u8>>, out: &mut Vec<u8>) {
    if r.chance(15) && !words.is_empty() {
        let i = r.below(words.len() as u64) as usize;
        match r.below(6) {
            0 => {
                words.remove(i);
            }
            1 => {
                let w = words[i].clone();
                words.insert(i, w);
            }
            2 => words[i] = junk_token(r),
            3 => {
                let j = junk_token(r);
                words.push(j)
            }
            4 => words[0] = words[0].to_ascii_uppercase(),
            _ => words.truncate(1),
        }
    }
    let sep: &[u8] = if r.chance(3) { b"  " } else { b" " };
    if r.chance(2) {
        out.push(b' ');
    }
    for (n, w) in words.iter().enumerate() {
        if n > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(w);
    }
    if r.chance(2) {
        out.push(b' ');
    }
    out.extend_from_slice(if r.chance(8) { b"\n" } else { b"\r\n" });
}

fn words(ws: &[&[u8]]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| w.to_vec()).collect()
}

/// A data block: usually the value and `\r\n`; sometimes the declared
/// length says otherwise, or the block's end is wrong.
fn data_len_and_block(r: &mut Rng, val: &[u8]) -> (String, Vec<u8>) {
    let mut block = val.to_vec();
    let len = match r.below(100) {
        0..=87 => val.len().to_string(),
        88..=90 => (val.len() + 1 + r.below(3) as usize).to_string(),
        91..=93 if !val.is_empty() => (val.len() - 1).to_string(),
        94 => "-1".into(),
        95 => "abc".into(),
        96 => "4294967296".into(),
        97 => {
            // Over the item size limit: memcached reads and drops the whole
            // block, so it is sent.
            let n = 1_048_577 + r.below(1000) as usize;
            block = alnum(r, 7).repeat(n / 7 + 1);
            block.truncate(n);
            n.to_string()
        }
        _ => val.len().to_string(),
    };
    let end: &[u8] = match r.below(100) {
        0..=92 => b"\r\n",
        93..=95 => b"\n",
        96..=97 => b"xx",
        _ => b"\r",
    };
    block.extend_from_slice(end);
    (len, block)
}

fn maybe_noreply(r: &mut Rng, w: &mut Vec<Vec<u8>>) {
    if r.chance(15) {
        w.push(b"noreply".to_vec());
    }
}

// ---------------------------------------------------------------------------
// Classic text commands.

fn text_request(r: &mut Rng, out: &mut Vec<u8>) {
    match r.below(100) {
        0..=34 => {
            let cmd: &[u8] = r.one(&[
                b"set" as &[u8],
                b"set",
                b"add",
                b"replace",
                b"append",
                b"prepend",
                b"cas",
                b"cas",
            ]);
            let k = key(r);
            let v = value(r);
            let (len, block) = data_len_and_block(r, &v);
            let mut w = vec![
                cmd.to_vec(),
                k,
                flags(r).into_bytes(),
                ttl(r).into_bytes(),
                len.into_bytes(),
            ];
            if cmd == b"cas" {
                w.push(cas_unique(r).into_bytes());
            }
            maybe_noreply(r, &mut w);
            line(r, w, out);
            out.extend_from_slice(&block);
        }
        35..=59 => {
            let cmd: &[u8] = r.one(&[b"get" as &[u8], b"get", b"gets", b"gat", b"gats"]);
            let mut w = vec![cmd.to_vec()];
            if cmd.starts_with(b"ga") {
                w.push(ttl(r).into_bytes());
            }
            let n = if r.chance(70) { 1 } else { r.below(5) };
            for _ in 0..n {
                w.push(key(r));
            }
            line(r, w, out);
        }
        60..=66 => {
            let mut w = vec![b"delete".to_vec(), key(r)];
            if r.chance(10) {
                w.push(r.one(&[b"0" as &[u8], b"1", b"x"]).to_vec());
            }
            maybe_noreply(r, &mut w);
            line(r, w, out);
        }
        67..=74 => {
            let cmd: &[u8] = r.one(&[b"incr" as &[u8], b"decr"]);
            let k = if r.chance(60) {
                b"num".to_vec()
            } else {
                key(r)
            };
            let mut w = vec![cmd.to_vec(), k, delta(r).into_bytes()];
            maybe_noreply(r, &mut w);
            line(r, w, out);
        }
        75..=78 => {
            let mut w = vec![b"touch".to_vec(), key(r), ttl(r).into_bytes()];
            maybe_noreply(r, &mut w);
            line(r, w, out);
        }
        79..=80 => {
            let mut w = vec![b"flush_all".to_vec()];
            if r.chance(40) {
                w.push(
                    r.one(&[
                        b"0" as &[u8],
                        b"100",
                        b"-1",
                        b"x",
                        b"2592001",
                        b"99999999999",
                    ])
                    .to_vec(),
                );
            }
            maybe_noreply(r, &mut w);
            line(r, w, out);
        }
        81..=91 => misc_request(r, out),
        92..=95 => garbage(r, out),
        _ => out.extend_from_slice(r.one(&[b"\r\n" as &[u8], b"\n", b" \r\n", b"\r\r\n"])),
    }
}

fn misc_request(r: &mut Rng, out: &mut Vec<u8>) {
    let w: Vec<Vec<u8>> = match r.below(17) {
        0 => words(&[b"version"]),
        1 => {
            let mut w = words(&[b"verbosity"]);
            if r.chance(90) {
                w.push(r.one(&[b"0" as &[u8], b"1", b"x", b"-1", b"99"]).to_vec());
            }
            maybe_noreply(r, &mut w);
            w
        }
        2 => {
            let mut w = words(&[b"cache_memlimit"]);
            if r.chance(90) {
                w.push(
                    r.one(&[
                        b"64" as &[u8],
                        b"100",
                        b"7",
                        b"8",
                        b"x",
                        b"-1",
                        b"4294967296",
                        b"0",
                    ])
                    .to_vec(),
                );
            }
            maybe_noreply(r, &mut w);
            w
        }
        3 => {
            let mut w = words(&[b"shutdown"]);
            if r.chance(50) {
                w.push(r.one(&[b"graceful" as &[u8], b"x", b"noreply"]).to_vec());
            }
            w
        }
        4 => {
            let sub: &[&[u8]] = r.one(&[
                &[b"lru" as &[u8], b"mode", b"flat"] as &[&[u8]],
                &[b"lru", b"mode", b"segmented"],
                &[b"lru", b"mode", b"x"],
                &[b"lru", b"tune", b"10", b"20", b"0.5", b"2"],
                &[b"lru", b"tune", b"x"],
                &[b"lru", b"temp_ttl", b"100"],
                &[b"lru", b"temp_ttl", b"-1"],
                &[b"lru", b"bogus"],
                &[b"lru"],
            ]);
            words(sub)
        }
        5 => {
            let sub: &[&[u8]] = r.one(&[
                &[b"slabs" as &[u8], b"automove", b"0"] as &[&[u8]],
                &[b"slabs", b"automove", b"x"],
                &[b"slabs", b"automove", b"3"],
                &[b"slabs", b"reassign", b"x", b"1"],
                &[b"slabs", b"reassign", b"1", b"1"],
                &[b"slabs", b"reassign", b"99", b"1"],
                &[b"slabs", b"bogus"],
                &[b"slabs"],
            ]);
            words(sub)
        }
        6 => {
            let sub: &[&[u8]] = r.one(&[
                &[b"lru_crawler" as &[u8], b"sleep", b"10"] as &[&[u8]],
                &[b"lru_crawler", b"sleep", b"x"],
                &[b"lru_crawler", b"tocrawl", b"5"],
                &[b"lru_crawler", b"tocrawl", b"-1"],
                &[b"lru_crawler", b"bogus"],
                &[b"lru_crawler"],
                &[b"lru_crawler", b"crawl"],
            ]);
            words(sub)
        }
        7 => words(&[b"mn"]),
        8 => {
            if r.chance(30) {
                words(&[b"quit"])
            } else {
                words(&[b"version"])
            }
        }
        9 => words(&[r.one(&[
            b"stats sizes_enable" as &[u8],
            b"stats bogus",
            b"stats cachedump",
            b"stats cachedump x 1",
            b"stats cachedump 99 1",
            b"stats detail",
            b"stats detail bogus",
        ])]),
        10 => words(&[b"watch", b"bogus"]),
        11 => words(&[b"misbehave"]),
        12 => words(&[b"debugtime", b"1"]),
        13 => {
            let mut w = words(&[b"touch"]);
            w.push(key(r));
            w
        }
        14 => words(&[b"gets"]),
        15 => words(&[b"get", b"a", b"b", b"c", b"foo", b"num", b"k1", b"a"]),
        _ => words(&[b"GET", b"a"]),
    };
    line(r, w, out);
}

fn garbage(r: &mut Rng, out: &mut Vec<u8>) {
    match r.below(5) {
        0 => {
            let n = 1 + r.below(20) as usize;
            for _ in 0..n {
                // Any byte but a newline or 0x80 (which would make a new
                // connection binary).
                let b = loop {
                    let b = r.below(256) as u8;
                    if b != b'\n' && b != 0x80 {
                        break b;
                    }
                };
                out.push(b);
            }
            out.extend_from_slice(b"\r\n");
        }
        1 => out.extend_from_slice(r.one(&[b"x\r\n" as &[u8], b"ab\r\n", b"\x00\r\n", b"get\r\n"])),
        2 => {
            let n = 2040 + r.below(20) as usize;
            out.extend_from_slice(b"get ");
            out.extend(std::iter::repeat(b'a').take(n));
            out.extend_from_slice(b"\r\n");
        }
        3 => out.extend_from_slice(b"bogus command HTTP/1.1\r\n"),
        _ => out.extend_from_slice(b"bogus\r\n"),
    }
}

// ---------------------------------------------------------------------------
// Meta commands.

fn meta_key(r: &mut Rng, b64: bool) -> Vec<u8> {
    if b64 && r.chance(75) {
        return r
            .one(&[
                b"YQ==" as &[u8],
                b"Yg==",
                b"Zm9v",
                b"bnVt",
                b"YQ",
                b"!!!!",
                b"AA==",
                b"a2V5MQ==",
            ])
            .to_vec();
    }
    key(r)
}

/// A flag token for a meta command: letters that command reads (with their
/// arguments), sometimes any letter, a bad token or a bad argument.
fn meta_flag(r: &mut Rng, letters: &[u8]) -> Vec<u8> {
    let c = if r.chance(88) {
        r.one(letters)
    } else {
        r.one(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    };
    let mut t = vec![c];
    match c {
        b'N' | b'T' | b'R' => {
            if r.chance(90) {
                t.extend_from_slice(r.one(&[
                    b"0" as &[u8],
                    b"100",
                    b"3600",
                    b"-1",
                    b"x",
                    b"2592001",
                    b"99999999999",
                ]));
            }
        }
        b'E' | b'C' => {
            if r.chance(90) {
                t.extend_from_slice(cas_unique(r).as_bytes());
            }
        }
        b'F' => {
            if r.chance(90) {
                t.extend_from_slice(flags(r).as_bytes());
            }
        }
        b'O' => {
            let n = match r.below(10) {
                0 => 31 + r.below(4) as usize,
                1 => 0,
                _ => 1 + r.below(8) as usize,
            };
            t.extend(alnum(r, n));
        }
        b'M' => {
            if r.chance(90) {
                t.extend_from_slice(r.one(&[
                    b"S" as &[u8],
                    b"E",
                    b"A",
                    b"P",
                    b"R",
                    b"I",
                    b"D",
                    b"+",
                    b"-",
                    b"i",
                    b"a",
                    b"x",
                    b"SS",
                ]));
            }
        }
        b'J' | b'D' => {
            if r.chance(90) {
                t.extend_from_slice(delta(r).as_bytes());
            }
        }
        b'P' | b'L' => {
            if r.chance(50) {
                t.extend_from_slice(b"x");
            }
        }
        _ => {
            if r.chance(3) {
                t.extend_from_slice(b"1");
            }
        }
    }
    t
}

fn meta_flags(r: &mut Rng, letters: &[u8], w: &mut Vec<Vec<u8>>) -> bool {
    let n = match r.below(10) {
        0..=1 => 0,
        2..=8 => 1 + r.below(5),
        _ => 5 + r.below(20),
    };
    let mut b64 = false;
    for _ in 0..n {
        let f = meta_flag(r, letters);
        if f == b"b" {
            b64 = true;
        }
        w.push(f);
    }
    if r.chance(3) {
        w.push(r.one(&[b"-x" as &[u8], b"!", b"\x00", b"=1"]).to_vec());
    }
    b64
}

fn meta_request(r: &mut Rng, out: &mut Vec<u8>) {
    match r.below(100) {
        0..=29 => {
            let mut w = vec![b"mg".to_vec(), Vec::new()];
            let b64 = meta_flags(r, b"bcfhklOqstuvENRTxPL", &mut w);
            w[1] = meta_key(r, b64);
            line(r, w, out);
        }
        30..=59 => {
            let v = value(r);
            let (len, block) = data_len_and_block(r, &v);
            let mut w = vec![b"ms".to_vec(), Vec::new(), len.into_bytes()];
            let b64 = meta_flags(r, b"bcCEFIkOqsSTMNPL", &mut w);
            w[1] = meta_key(r, b64);
            line(r, w, out);
            out.extend_from_slice(&block);
        }
        60..=71 => {
            let mut w = vec![b"md".to_vec(), Vec::new()];
            let b64 = meta_flags(r, b"bCEIkOqTxPL", &mut w);
            w[1] = meta_key(r, b64);
            line(r, w, out);
        }
        72..=87 => {
            let mut w = vec![b"ma".to_vec(), Vec::new()];
            let b64 = meta_flags(r, b"bCENJDTMqOtcvkPL", &mut w);
            w[1] = if r.chance(50) {
                b"num".to_vec()
            } else {
                meta_key(r, b64)
            };
            line(r, w, out);
        }
        88..=91 => line(r, words(&[b"mn"]), out),
        92..=96 => {
            let mut w = vec![b"me".to_vec()];
            let b64 = r.chance(20);
            w.push(meta_key(r, b64));
            if b64 {
                w.push(b"b".to_vec());
            }
            line(r, w, out);
        }
        _ => text_request(r, out),
    }
}

// ---------------------------------------------------------------------------
// The binary protocol.

pub const BIN_KNOWN_OPCODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e, 0x23, 0x24,
];

pub fn bin_header(op: u8, keylen: u16, extlen: u8, bodylen: u32, opaque: u32, cas: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.push(0x80);
    h.push(op);
    h.extend_from_slice(&keylen.to_be_bytes());
    h.push(extlen);
    h.push(0);
    h.extend_from_slice(&0u16.to_be_bytes());
    h.extend_from_slice(&bodylen.to_be_bytes());
    h.extend_from_slice(&opaque.to_be_bytes());
    h.extend_from_slice(&cas.to_be_bytes());
    h
}

fn bin_ttl(r: &mut Rng) -> u32 {
    r.one(&[0u32, 0, 0, 100, 3600, 0xffff_ffff, 2_592_001, 0x8000_0000])
}

fn binary_request(r: &mut Rng, out: &mut Vec<u8>) {
    // Unknown opcodes (verbosity is one in memcached 1.6) are rare: one
    // with extras ends a sequence on a known difference.
    let op: u8 = if r.below(1000) < 3 {
        0x1b
    } else if r.below(1000) >= 3 {
        r.one(&[
            0x00u8, 0x00, 0x09, 0x0c, 0x0d, // get getq getk getkq
            0x01, 0x01, 0x02, 0x03, 0x0e, 0x0f, // set add replace append prepend
            0x11, 0x12, 0x13, 0x19, 0x1a, // quiet stores
            0x04, 0x14, // delete
            0x05, 0x06, 0x15, 0x16, // incr decr
            0x1c, 0x1d, 0x1e, 0x23, 0x24, // touch gat gatq gatk gatkq
            0x08, 0x18, // flush
            0x0a, 0x0b, 0x10, // noop version stat
            0x07, 0x17, // quit
        ])
    } else {
        r.below(256) as u8
    };
    if (op == 0x07 || op == 0x17) && r.chance(70) {
        // quit is rare: it ends the connection.
        return binary_request(r, out);
    }
    let mut key = match op {
        0x0a | 0x0b | 0x08 | 0x18 | 0x1b => Vec::new(),
        0x10 => {
            if r.chance(50) {
                Vec::new()
            } else {
                r.one(&[
                    b"bogus" as &[u8],
                    b"detail on",
                    b"detail off",
                    b"reset",
                    b"conns",
                ])
                .to_vec()
            }
        }
        _ => key(r),
    };
    if op == 0x10 && key.is_empty() {
        // The general group's values depend on time and pid.
        key = b"bogus".to_vec();
    }
    let mut extras = Vec::new();
    let mut value = Vec::new();
    let mut cas = 0u64;
    match op {
        0x01 | 0x02 | 0x03 | 0x11 | 0x12 | 0x13 => {
            extras.extend_from_slice(&(r.below(3) as u32 * 7).to_be_bytes());
            extras.extend_from_slice(&bin_ttl(r).to_be_bytes());
            value = self::value(r);
        }
        0x0e | 0x0f | 0x19 | 0x1a => value = self::value(r),
        0x05 | 0x06 | 0x15 | 0x16 => {
            let d: u64 = r.one(&[1u64, 1, 5, 0, u64::MAX, 1 << 32]);
            let init: u64 = r.one(&[0u64, 10, u64::MAX]);
            extras.extend_from_slice(&d.to_be_bytes());
            extras.extend_from_slice(&init.to_be_bytes());
            extras.extend_from_slice(&bin_ttl(r).to_be_bytes());
        }
        0x1c | 0x1d | 0x1e | 0x23 | 0x24 => extras.extend_from_slice(&bin_ttl(r).to_be_bytes()),
        0x08 | 0x18 => {
            if r.chance(40) {
                extras.extend_from_slice(&r.one(&[0u32, 100, 0xffff_ffff]).to_be_bytes());
            }
        }
        0x1b => extras.extend_from_slice(&1u32.to_be_bytes()),
        _ => {}
    }
    if r.chance(15) {
        cas = r.below(12);
    }
    let opaque = r.below(1000) as u32;
    let mut keylen = key.len() as u16;
    let mut extlen = extras.len() as u8;
    let mut bodylen = (key.len() + extras.len() + value.len()) as u32;
    let mut magic = 0x80u8;
    let mut datatype = 0u8;
    let mut vbucket = 0u16;
    if r.chance(12) {
        match r.below(9) {
            0 => keylen = keylen.wrapping_add(1 + r.below(3) as u16),
            1 => keylen = keylen.saturating_sub(1),
            2 => extlen = extlen.wrapping_add(4),
            3 => extlen = 0,
            4 => bodylen = bodylen.saturating_sub(1 + r.below(4) as u32),
            5 => bodylen += 1 + r.below(4) as u32,
            6 => magic = r.one(&[0x81u8, 0x00, 0x7f, b'g']),
            7 => datatype = 1,
            _ => vbucket = 1,
        }
    }
    let mut h = bin_header(op, keylen, extlen, bodylen, opaque, cas);
    h[0] = magic;
    h[5] = datatype;
    h[6..8].copy_from_slice(&vbucket.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&extras);
    out.extend_from_slice(&key);
    out.extend_from_slice(&value);
}
