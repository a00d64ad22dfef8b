//! Small helpers shared by the protocol, the cache and the dump: C-style
//! number parsing (memcached's safe_strtoull and friends), decimal
//! formatting, base64 (meta `b` keys) and URI encoding (watch lines,
//! crawler dumps).

/// Reads a decimal the way C's strtoul family does: leading whitespace,
/// an optional sign, at least one digit, no overflow of 64 bits, then
/// whitespace or the end. Returns (negative, magnitude).
pub fn parse_c_number(s: &[u8]) -> Option<(bool, u64)> {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add((s[i] - b'0') as u64)?;
        i += 1;
    }
    if i == start || (i < s.len() && !is_c_space(s[i])) {
        return None;
    }
    Some((neg, v))
}

/// Parses an unsigned decimal the way memcached's safe_strtoull does; a
/// negative number is refused.
pub fn parse_u64_c(s: &[u8]) -> Option<u64> {
    match parse_c_number(s)? {
        (false, v) => Some(v),
        // strtoull negates; memcached refuses results that look negative.
        (true, v) => {
            let r = v.wrapping_neg();
            if (r as i64) < 0 {
                None
            } else {
                Some(r)
            }
        }
    }
}

/// Reads a whole token as an unsigned decimal the way memcached 1.6.45's
/// command parser does: digits only (no sign, no spaces), at most
/// `max_len` bytes, no overflow of `max`. An empty token reads as 0.
fn parse_tok_unsigned(t: &[u8], max_len: usize, max: u64) -> Option<u64> {
    if t.len() > max_len {
        return None;
    }
    let mut v: u64 = 0;
    for &b in t {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
        if v > max {
            return None;
        }
    }
    Some(v)
}

/// A token read strictly as a 32-bit unsigned number (at most 11 bytes),
/// as memcached 1.6.45 reads verbosity, lru_crawler sleep and the like.
pub fn parse_tok_u32(t: &[u8]) -> Option<u32> {
    parse_tok_unsigned(t, 11, u32::MAX as u64).map(|v| v as u32)
}

/// A token read strictly as a 64-bit unsigned number (at most 22 bytes):
/// memcached 1.6.45's incr/decr delta and cas unique.
pub fn parse_tok_u64(t: &[u8]) -> Option<u64> {
    parse_tok_unsigned(t, 22, u64::MAX)
}

/// A token read strictly as a 32-bit signed number (at most 11 bytes, a
/// leading `-` allowed, no `+`): memcached 1.6.45's value lengths and the
/// exptime of touch, gat and flush_all.
pub fn parse_tok_i32(t: &[u8]) -> Option<i32> {
    if t.len() > 11 {
        return None;
    }
    match t.strip_prefix(b"-") {
        Some(rest) => {
            let v = parse_tok_unsigned(rest, 11, 1 << 31)?;
            Some((v as i64).wrapping_neg() as i32)
        }
        None => parse_tok_unsigned(t, 11, i32::MAX as u64).map(|v| v as i32),
    }
}

/// C's isspace.
#[inline]
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// "00" to "99", for writing numbers two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal form of `v` (two digits per division: reply
/// lines and the replication stream write several numbers each).
#[inline]
pub fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while v >= 100 {
        let p = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[p..p + 2]);
    }
    if v >= 10 {
        let p = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[p..p + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Decimal digits of `v`.
pub fn itoa_u64(v: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_u64(&mut out, v);
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with padding) into `out`.
pub fn base64_encode(input: &[u8], out: &mut Vec<u8>) {
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

/// URI-encodes `key` as memcached's log and dump lines show keys: letters,
/// digits and "-._~" as they are, every other byte as %XX (upper-case hex).
/// Every byte handed to `push` is ASCII.
pub fn uri_encode(key: &[u8], mut push: impl FnMut(u8)) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            push(b);
        } else {
            push(b'%');
            push(HEX[(b >> 4) as usize]);
            push(HEX[(b & 15) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_u64_writes_decimal() {
        let mut probes = vec![0u64, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, u64::MAX];
        let mut p = 1u64;
        while let Some(q) = p.checked_mul(10) {
            probes.extend([p - 1, p, p + 1]);
            p = q;
        }
        for v in probes {
            let mut b = b"x".to_vec();
            push_u64(&mut b, v);
            assert_eq!(b, format!("x{}", v).into_bytes(), "{}", v);
        }
    }

    #[test]
    fn strict_token_numbers() {
        assert_eq!(parse_tok_u32(b"12"), Some(12));
        assert_eq!(parse_tok_u32(b"+12"), None);
        assert_eq!(parse_tok_u32(b"-1"), None);
        assert_eq!(parse_tok_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_tok_u32(b"4294967296"), None);
        assert_eq!(parse_tok_u32(b"000000000001"), None);
        assert_eq!(parse_tok_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_tok_u64(b"18446744073709551616"), None);
        assert_eq!(parse_tok_u64(b"1x"), None);
        assert_eq!(parse_tok_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_tok_i32(b"-2147483649"), None);
        assert_eq!(parse_tok_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_tok_i32(b"2147483648"), None);
        assert_eq!(parse_tok_i32(b"-0"), Some(0));
        assert_eq!(parse_tok_i32(b"-"), Some(0));
        assert_eq!(parse_tok_i32(b"+3"), None);
        assert_eq!(parse_tok_i32(b" 3"), None);
    }

    #[test]
    fn strtoull_semantics() {
        assert_eq!(parse_u64_c(b"12"), Some(12));
        assert_eq!(parse_u64_c(b"  12 "), Some(12));
        assert_eq!(parse_u64_c(b"+7"), Some(7));
        assert_eq!(parse_u64_c(b"-1"), None);
        assert_eq!(parse_u64_c(b"12a"), None);
        assert_eq!(parse_u64_c(b""), None);
        assert_eq!(parse_u64_c(b"18446744073709551616"), None);
        assert_eq!(parse_u64_c(b"18446744073709551615"), Some(u64::MAX));
    }

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
}
