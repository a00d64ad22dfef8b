//! ASCII authentication (`-Y FILE`): the file of `user:password` lines and
//! the check of a client's credentials against it (memcached's authfile.c).
//! The wire side, the `set` whose data block carries "user pass", is
//! `proto_text::try_read_command_asciiauth`; `main` loads the file at start
//! and again on SIGHUP.
//!
//! The file is read as bytes, one entry per line:
//!
//! ```text
//!   alice:s3cret\n        user "alice", password "s3cret"
//!   bob:a:b\r\n           user "bob", password "a:b" (a '\r' ends it)
//!   carol:x\0junk\n       user "carol", password "x" (a NUL ends the line)
//! ```
//!
//! The user is everything before the first ':', the password everything
//! after it up to the end of the line or a '\r'. A line with no ':' is an
//! error, and so is an empty line (memcached refuses both), and so is an
//! empty file (memcached 1.6.45 refuses it too: nobody could log in).
//!
//! Every entry is kept whole. memcached uses only the first 8, and
//! cuts a line of 255 bytes or more short and ignores the rest of the file,
//! without a word; see doc/compatibility.md.

use std::fmt;
use std::io;

/// One `user:password` line.
struct Entry {
    user: Vec<u8>,
    pass: Vec<u8>,
}

/// The credentials of an auth file, in file order.
pub struct AuthFile {
    entries: Vec<Entry>,
}

/// Why an auth file cannot be used.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// Line `line` (counting from 1) is not `user:password`; `empty` says
    /// whether it was a blank line.
    Malformed { line: usize, empty: bool },
    /// The file is empty.
    Empty,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "cannot read the auth file: {}", e),
            LoadError::Malformed { line, empty: true } => write!(
                f,
                "line {} is empty; every line must be user:password",
                line
            ),
            LoadError::Malformed { line, empty: false } => write!(
                f,
                "line {} has no ':'; every line must be user:password",
                line
            ),
            LoadError::Empty => write!(f, "no user:password line"),
        }
    }
}

impl AuthFile {
    /// Reads and parses the file at `path`. Called at start (a failure
    /// stops the server) and on SIGHUP (a failure keeps the entries loaded
    /// before).
    pub fn load(path: &str) -> Result<AuthFile, LoadError> {
        let data = std::fs::read(path).map_err(LoadError::Io)?;
        AuthFile::parse(&data)
    }

    /// Parses the contents of an auth file (see the module doc).
    pub fn parse(data: &[u8]) -> Result<AuthFile, LoadError> {
        let mut entries = Vec::new();
        if data.is_empty() {
            return Err(LoadError::Empty);
        }
        // A final newline ends the last line; it does not start another.
        let data = data.strip_suffix(b"\n").unwrap_or(data);
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            // memcached reads lines as C strings: a NUL ends the text.
            let text = match memchr::memchr(0, line) {
                Some(z) => &line[..z],
                None => line,
            };
            let colon = match memchr::memchr(b':', text) {
                Some(p) => p,
                None => {
                    let empty = text.is_empty() || text == b"\r";
                    return Err(LoadError::Malformed { line: i + 1, empty });
                }
            };
            let pass = &text[colon + 1..];
            let pass = match memchr::memchr(b'\r', pass) {
                Some(r) => &pass[..r],
                None => pass,
            };
            entries.push(Entry {
                user: text[..colon].to_vec(),
                pass: pass.to_vec(),
            });
        }
        Ok(AuthFile { entries })
    }

    /// The first entry's user and password (a replica's credentials for
    /// its master, `-o repl_auth_file`).
    pub fn first(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.entries
            .first()
            .map(|e| (e.user.clone(), e.pass.clone()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if `user` and `pass` are those of an entry. Every entry is
    /// compared, and a comparison does not stop at the first differing
    /// byte, so the time taken says little about how close a guess was
    /// (only lengths show through).
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let mut found = false;
        for e in &self.entries {
            found |= same_bytes(&e.user, user) & same_bytes(&e.pass, pass);
        }
        found
    }
}

/// Compares two byte strings without stopping at the first difference.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Only the folded result is tested, once, after the loop.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &[u8]) -> AuthFile {
        AuthFile::parse(data).unwrap()
    }

    fn malformed(data: &[u8]) -> (usize, bool) {
        match AuthFile::parse(data) {
            Err(LoadError::Malformed { line, empty }) => (line, empty),
            Err(e) => panic!("{:?}: expected a malformed line, got {}", data, e),
            Ok(a) => panic!("{:?}: accepted with {} entries", data, a.len()),
        }
    }

    #[test]
    fn user_and_password_per_line() {
        let a = parse(b"alice:secret\nbob:hunter2\n");
        assert_eq!(a.len(), 2);
        assert!(a.check(b"alice", b"secret"));
        assert!(a.check(b"bob", b"hunter2"));
        assert!(!a.check(b"alice", b"hunter2"), "passwords are per user");
        assert!(!a.check(b"bob", b"secret"));
        assert!(!a.check(b"carol", b"secret"), "unknown user");
        assert!(!a.check(b"alice", b"secre"), "prefix of the password");
        assert!(!a.check(b"alice", b"secretX"), "password plus a byte");
        assert!(
            !a.check(b"Alice", b"secret"),
            "user names are case sensitive"
        );
        assert!(!a.check(b"alic", b"secret"));
    }

    #[test]
    fn last_line_without_newline() {
        let a = parse(b"a:b\nc:d");
        assert_eq!(a.len(), 2);
        assert!(a.check(b"c", b"d"));
    }

    #[test]
    fn carriage_return_ends_the_password() {
        let a = parse(b"a:b\r\nc:d\r\ne:f\rjunk\n");
        assert_eq!(a.len(), 3);
        assert!(a.check(b"a", b"b"));
        assert!(!a.check(b"a", b"b\r"));
        assert!(a.check(b"c", b"d"));
        assert!(a.check(b"e", b"f"));
    }

    #[test]
    fn password_keeps_colons_and_spaces() {
        let a = parse(b"a:b:c\nd:e f\n");
        assert!(a.check(b"a", b"b:c"));
        assert!(!a.check(b"a", b"b"));
        assert!(a.check(b"d", b"e f"));
    }

    #[test]
    fn empty_user_or_password_match_only_empty_ones() {
        // Accepted as memcached does; a client sends an empty user or
        // password with a block that starts or ends with its space.
        let a = parse(b":pw\nuser:\n");
        assert_eq!(a.len(), 2);
        assert!(a.check(b"", b"pw"));
        assert!(a.check(b"user", b""));
        assert!(!a.check(b"user", b"pw"));
        assert!(!a.check(b"pw", b"user"));
    }

    #[test]
    fn nul_ends_a_line() {
        let a = parse(b"a:b\0junk\nc:d\n");
        assert!(a.check(b"a", b"b"));
        assert!(a.check(b"c", b"d"));
        assert_eq!(malformed(b"a\0:b\n"), (1, false));
    }

    #[test]
    fn empty_file_is_refused() {
        assert!(matches!(AuthFile::parse(b""), Err(LoadError::Empty)));
        assert_eq!(LoadError::Empty.to_string(), "no user:password line");
        assert_eq!(malformed(b"\n"), (1, true));
    }

    #[test]
    fn blank_and_colonless_lines_are_refused() {
        assert_eq!(malformed(b"\na:b\n"), (1, true));
        assert_eq!(malformed(b"a:b\n\nc:d\n"), (2, true));
        assert_eq!(malformed(b"a:b\n\n"), (2, true));
        assert_eq!(malformed(b"a:b\r\n\r\n"), (2, true));
        assert_eq!(malformed(b"a:b\nhello\n"), (2, false));
        assert_eq!(malformed(b"# users\na:b\n"), (1, false));
        assert_eq!(malformed(b"a:b\n \n"), (2, false));
    }

    #[test]
    fn long_lines_and_many_entries_are_kept_whole() {
        let pass = vec![b'p'; 300];
        let mut data = b"u:".to_vec();
        data.extend_from_slice(&pass);
        data.push(b'\n');
        for i in 0..100 {
            data.extend_from_slice(format!("user{}:pass{}\n", i, i).as_bytes());
        }
        let a = parse(&data);
        assert_eq!(a.len(), 101);
        assert!(a.check(b"u", &pass));
        assert!(!a.check(b"u", &pass[..253]));
        assert!(a.check(b"user0", b"pass0"));
        assert!(a.check(b"user8", b"pass8"));
        assert!(a.check(b"user99", b"pass99"));
    }

    #[test]
    fn load_reports_unreadable_files() {
        match AuthFile::load("/nonexistent/auth/file") {
            Err(LoadError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            _ => panic!("a missing file must fail"),
        }
        assert!(matches!(AuthFile::load("/"), Err(LoadError::Io(_))));
        let path = std::env::temp_dir().join(format!("mc-auth-test.{}", std::process::id()));
        std::fs::write(&path, b"alice:secret\n").unwrap();
        let a = AuthFile::load(path.to_str().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(a.check(b"alice", b"secret"));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            AuthFile::parse(b"a:b\n\n").err().unwrap().to_string(),
            "line 2 is empty; every line must be user:password"
        );
        assert_eq!(
            AuthFile::parse(b"nocolon").err().unwrap().to_string(),
            "line 1 has no ':'; every line must be user:password"
        );
    }

    #[test]
    fn same_bytes_compares_exactly() {
        assert!(same_bytes(b"", b""));
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
        assert!(!same_bytes(b"\x80", b"\x00"));
    }
}
