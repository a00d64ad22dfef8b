//! Server settings: memcached's `settings_init` defaults, the command line
//! (short and long flags of memcached 1.6, parsed with getopts), the `-o`
//! extended options, the `-h` help page and the values `stats settings`
//! reports. Nothing here touches a socket or the cache: `main` turns the
//! returned `Settings` into listeners and slab classes.
//!
//! Every flag is one row of `FLAGS` and every `-o` option one row of
//! `EXTENDED`. A row holds all that is said about its option: how it is
//! read and checked, what it sets, its `-h` lines and its `stats settings`
//! lines. getopts' table (`options`), `apply_flags`, `apply_extended`,
//! `help_text` and `Settings::stats_settings` only walk the rows. What
//! needs several options at once (`-I` against `-m`, `dump_interval`
//! without `-F`) is checked in `check`, after every row has been applied.
//!
//! # Adding an option
//!
//! An `-o` option (the usual kind: memcached gives new settings no letter)
//! is one row plus a field:
//!
//! 1. A field in `Settings`, with a `///` line saying what it holds, and
//!    its default in `Settings::default` (memcached's `settings_init`).
//! 2. A row in `EXTENDED`, where `-h` should list it: new options go after
//!    `dump_on_shutdown`, before those accepted without effect.
//!
//! ```text
//! Extended {
//!     key: "repl_timeout",
//!     value: whole_in(|s| &mut s.repl_timeout, 1, u32::MAX,
//!                     "must be at least 1 millisecond (got {v})"),
//!     also: None,
//!     help: Help::Listed(&[
//!         "milliseconds without word from the master before a",
//!         "replica calls it lost (default: {default})",
//!     ]),
//!     stats: &[stat(74, "repl_timeout", |s| s.repl_timeout.to_string())],
//! },
//! ```
//!
//! `value` says how the text after `=` is read: `Toggle` for an on/off
//! option, which also takes `no_<key>` (`no_replication` is the `no_` form
//! of a `replication` toggle); `Switch` for a word alone with an effect of
//! its own; `whole`/`whole_in` for a whole number (with `bare` when the
//! name alone means a number); `Float`; `Kilobytes`/`Megabytes` for sizes
//! kept in bytes; `Text` for anything else (`HOST:PORT`, a name from a
//! list), whose function parses the text and sets the field. Every error
//! starts with `-o <key>:` and exits 64. `also` sets what else the option
//! implies. In `-h`, `{default}` is replaced by the field's value in
//! `Settings::default`, written as the user would give it. A new `stats
//! settings` line takes the next free place (the unit test
//! `stats_places_run_without_gaps` says which); memcached's lines keep
//! memcached's order. A check against other options goes in `check`.
//! Then give the option its line in doc/options.md.
//!
//! A new flag is the same: a field, and a row in `FLAGS` with its getopts
//! names, an `apply` that reads it from getopts' matches, its `-h` lines as
//! they stand (memcached's columns vary) and its `stats settings` lines.

/// How the server should treat a connection's first byte (`-B`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Ascii,
    Binary,
    Auto,
}

impl Protocol {
    /// memcached's name for it (`stats settings`, `-vv` lines).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ascii => "ascii",
            Protocol::Binary => "binary",
            Protocol::Auto => "auto-negotiate",
        }
    }
}

/// Hash function for the item hash table (`-o hash_algorithm=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Murmur3,
    Jenkins,
}

/// Every setting a user can give, with memcached 1.6's defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `-p`: TCP port; 0 disables TCP.
    pub port: u16,
    /// `-U`: UDP port; 0 (default) disables UDP.
    pub udpport: u16,
    /// `-s`: unix socket path; when set, no network listeners are opened.
    pub socketpath: Option<String>,
    /// `-a`: permission bits of the unix socket (octal on the command line).
    pub access: u32,
    /// `-A`: the `shutdown` command is allowed.
    pub shutdown_command: bool,
    /// `-l`: addresses to listen on, split at commas; empty means any.
    pub inter: Vec<String>,
    /// `-d`: run as a daemon.
    pub daemonize: bool,
    /// `-r`: raise the core file limit to its maximum.
    pub maxcore: bool,
    /// `-u`: user to become when started as root.
    pub username: Option<String>,
    /// `-m`: item memory limit in bytes (given in megabytes).
    pub maxbytes: u64,
    /// `-M` clears this: evict LRU tail items to make room.
    pub evict_to_free: bool,
    /// `-c`: maximum simultaneous connections.
    pub maxconns: usize,
    /// `-k`: mlockall the process memory.
    pub lock_memory: bool,
    /// `-v` count: 0 errors and warnings, 1 info, 2 commands and replies, 3 state changes.
    pub verbose: u8,
    /// `-P`: pid file.
    pub pid_file: Option<String>,
    /// `-f`: slab chunk size growth factor.
    pub factor: f64,
    /// `-n`: minimum space for key + value + flags in the smallest class.
    pub chunk_size: u32,
    /// `-L`: try large memory pages (accepted; a hint only).
    pub large_pages: bool,
    /// `-D`: key prefix delimiter for `stats detail`.
    pub prefix_delimiter: u8,
    /// `-D` given: detailed stats collection starts enabled.
    pub detail_enabled: bool,
    /// `-t`: accepted for compatibility; the server has one thread.
    pub num_threads: u32,
    /// `-R`: requests handled per connection per event-loop turn.
    pub reqs_per_event: u32,
    /// `-C` clears this: CAS values are kept and reported.
    pub use_cas: bool,
    /// `-b`: listen backlog.
    pub backlog: i32,
    /// `-B`: protocol.
    pub binding_protocol: Protocol,
    /// `-I`: largest item (key + value + header) in bytes.
    pub item_size_max: u32,
    /// `-F` alone clears this: `flush_all` is allowed.
    pub flush_enabled: bool,
    /// `-F FILE` / `--dump-file=FILE`: the dump file.
    pub dump_file: Option<String>,
    /// `-X` clears this: cachedump and metadump are allowed.
    pub dump_enabled: bool,
    /// `-W` clears this: `watch` is allowed.
    pub watch_enabled: bool,
    /// `-Y`: authentication file.
    pub auth_file: Option<String>,
    /// `-e`: memory file (restartable cache).
    pub memory_file: Option<String>,

    // ---- -o extended options ----
    /// `hashpower`: initial hash table size as a power of two (0: default 16).
    pub hashpower_init: u32,
    /// `no_hashexpand` clears this.
    pub hash_expand: bool,
    /// `hash_algorithm`.
    pub hash_algorithm: HashAlgorithm,
    /// `slab_page_size` in bytes (1 MiB).
    pub slab_page_size: u32,
    /// `slab_chunk_max`: largest slab chunk, in bytes; larger items are
    /// chained from chunks of this size. memcached's `-h` says kilobytes, but
    /// 1.6 reads the value as bytes, and so do we (default page size / 2).
    pub slab_chunk_size_max: u32,
    /// `slab_sizes`: explicit class sizes, overriding `-n`/`-f`.
    pub slab_sizes: Option<Vec<u32>>,
    /// `idle_timeout` in seconds; 0 disables.
    pub idle_timeout: u32,
    /// `maxconns_fast`: close connections over the limit at once.
    pub maxconns_fast: bool,
    /// `lru_maintainer` / `no_lru_maintainer`.
    pub lru_maintainer_thread: bool,
    /// `modern`/`no_modern`, `lru_segmented`: segmented HOT/WARM/COLD LRU.
    pub lru_segmented: bool,
    /// `lru_crawler` / `no_lru_crawler`.
    pub lru_crawler: bool,
    /// `lru_crawler_sleep` in microseconds.
    pub lru_crawler_sleep: u32,
    /// `lru_crawler_tocrawl`.
    pub lru_crawler_tocrawl: u32,
    /// `slab_reassign` / `no_slab_reassign`.
    pub slab_reassign: bool,
    /// `slab_automove` 0, 1 or 2.
    pub slab_automove: u32,
    /// `slab_automove_ratio`.
    pub slab_automove_ratio: f64,
    /// `slab_automove_window`.
    pub slab_automove_window: u32,
    /// `slab_automove_freeratio`.
    pub slab_automove_freeratio: f64,
    /// `hot_lru_pct`.
    pub hot_lru_pct: u32,
    /// `warm_lru_pct`.
    pub warm_lru_pct: u32,
    /// `hot_max_factor`.
    pub hot_max_factor: f64,
    /// `warm_max_factor`.
    pub warm_max_factor: f64,
    /// `temp_lru`: TTLs below `temporary_ttl` go to the TEMP LRU.
    pub temp_lru: bool,
    /// `temporary_ttl` in seconds.
    pub temporary_ttl: u32,
    /// `tail_repair_time` in seconds; 0 disables.
    pub tail_repair_time: u32,
    /// `track_sizes`: keep `stats sizes` histogram.
    pub track_sizes: bool,
    /// `watcher_logbuf_size` in bytes (given in kilobytes).
    pub watcher_logbuf_size: u32,
    /// `worker_logbuf_size` in bytes (given in kilobytes).
    pub worker_logbuf_size: u32,
    /// `read_buf_mem_limit` in bytes (given in megabytes); 0 unlimited.
    pub read_buf_mem_limit: u64,
    /// `relaxed_privileges`: accepted (no sandbox is applied anyway).
    pub relaxed_privileges: bool,
    /// `sock_cookie_id`.
    pub sock_cookie_id: u32,
    /// `dump_interval`: seconds between periodic dumps to the `-F` file;
    /// 0 (default) dumps only on SIGUSR2 and at shutdown.
    pub dump_interval: u32,
    /// `no_dump_on_shutdown` clears this: a graceful stop writes a last
    /// dump to the `-F` file.
    pub dump_on_shutdown: bool,
    /// `no_replication` clears this: the server serves replicas and takes
    /// the `rep_*` commands (doc/replication.md).
    pub replication: bool,
    /// `replicaof=HOST:PORT`: start as a replica of that master.
    pub replicaof: Option<String>,
    /// `repl_self=HOST:PORT`: the address peers and clients know this
    /// server by; None: the first `-l` address and `-p`.
    pub repl_self: Option<String>,
    /// `repl_backlog_size`: bytes of recent stream a master keeps for
    /// replicas that reconnect (partial resync).
    pub repl_backlog_size: u32,
    /// `repl_timeout`: milliseconds without traffic after which a
    /// replication link is declared dead.
    pub repl_timeout: u32,
    /// `repl_priority`: this server's priority in elections (0: never a
    /// master); replicas announce it to their master.
    pub repl_priority: u32,
    /// `repl_ack_policy`: memcachedb's ack policy number (3: NONE).
    pub repl_ack_policy: u32,
    /// `repl_ack_timeout`: microseconds a write's reply waits for the
    /// acknowledgements its ack policy needs.
    pub repl_ack_timeout: u32,
    /// `repl_auth_file`: a replica's credentials for a master with -Y.
    pub repl_auth_file: Option<String>,
    /// `repl_buffer_limit`: stream bytes a master holds for one replica
    /// before it drops that replica.
    pub repl_buffer_limit: u32,
    /// `repl_sites`: servers in the replication group, master included
    /// (0: count the replicas the master knows).
    pub repl_sites: u32,

    // ---- runtime state memcached keeps in `settings` ----
    /// Items stored at or before this relative time are dead (set by
    /// `flush_all`; 0 means none). Reported as `oldest` by `stats settings`.
    pub oldest_live: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            port: 11211,
            udpport: 0,
            socketpath: None,
            access: 0o700,
            shutdown_command: false,
            inter: Vec::new(),
            daemonize: false,
            maxcore: false,
            username: None,
            maxbytes: 64 * 1024 * 1024,
            evict_to_free: true,
            maxconns: 1024,
            lock_memory: false,
            verbose: 0,
            pid_file: None,
            factor: 1.25,
            chunk_size: 48,
            large_pages: false,
            prefix_delimiter: b':',
            detail_enabled: false,
            num_threads: 4,
            reqs_per_event: 20,
            use_cas: true,
            backlog: 1024,
            binding_protocol: Protocol::Auto,
            item_size_max: 1024 * 1024,
            flush_enabled: true,
            dump_file: None,
            dump_enabled: true,
            watch_enabled: true,
            auth_file: None,
            memory_file: None,
            hashpower_init: 0,
            hash_expand: true,
            hash_algorithm: HashAlgorithm::Murmur3,
            slab_page_size: 1024 * 1024,
            slab_chunk_size_max: 512 * 1024,
            slab_sizes: None,
            idle_timeout: 0,
            maxconns_fast: true,
            lru_maintainer_thread: true,
            lru_segmented: true,
            lru_crawler: true,
            lru_crawler_sleep: 100,
            lru_crawler_tocrawl: 0,
            slab_reassign: true,
            slab_automove: 1,
            slab_automove_ratio: 0.8,
            slab_automove_window: 10,
            slab_automove_freeratio: 0.01,
            hot_lru_pct: 20,
            warm_lru_pct: 40,
            hot_max_factor: 0.2,
            warm_max_factor: 2.0,
            temp_lru: false,
            temporary_ttl: 61,
            tail_repair_time: 0,
            track_sizes: false,
            watcher_logbuf_size: 256 * 1024,
            worker_logbuf_size: 64 * 1024,
            read_buf_mem_limit: 0,
            relaxed_privileges: false,
            sock_cookie_id: 0,
            dump_interval: 0,
            dump_on_shutdown: true,
            replication: true,
            replicaof: None,
            repl_self: None,
            repl_backlog_size: 1024 * 1024,
            repl_timeout: 10_000,
            repl_priority: 100,
            repl_ack_policy: 3,
            repl_ack_timeout: 1_000_000,
            repl_auth_file: None,
            repl_buffer_limit: 256 * 1024 * 1024,
            repl_sites: 0,
            oldest_live: 0,
        }
    }
}

/// What `parse_args` decided.
pub enum Action {
    /// Start the server with these settings.
    Run(Box<Settings>),
    /// Exit at once with this status (after `-h`, `-V` or `-i` printed their text).
    Exit(i32),
}

// ---- limits, as memcached 1.6 enforces them ----

/// `-I` may not go below this many bytes.
const ITEM_SIZE_MAX_LOWER: u32 = 1024;
/// `-I` may not go above this many bytes (1024m).
pub const ITEM_SIZE_MAX_UPPER: u32 = 1024 * 1024 * 1024;
/// Largest `-o slab_chunk_max`, in kilobytes (memcached 1.6.45 refuses
/// more, taking it for a value given in bytes).
const SLAB_CHUNK_MAX_KB_UPPER: u32 = 1024;
/// Most classes `slab_sizes` may list (memcached keeps one class slot spare).
const SLAB_SIZES_MAX: usize = 62;
/// Range of `-o hashpower`. memcached also wants it above its item lock
/// table's power, which grows with `-t`; we have no lock table.
const HASHPOWER_MIN: u32 = 12;
const HASHPOWER_MAX: u32 = 32;
/// `lru_crawler_sleep` is at most one second, in microseconds.
const LRU_CRAWLER_SLEEP_MAX: u32 = 1_000_000;
/// HOT plus WARM may take at most this percentage of a class.
const LRU_PCT_TOTAL_MAX: u32 = 80;

/// Facts about the command line that matter to checks made after all flags
/// are read, but are not settings themselves.
#[derive(Default)]
struct ParseState {
    /// `-B` was given (so `-Y` must not silently override it).
    protocol_specified: bool,
    /// `-o slab_chunk_max` was given (so `-I` above 1m keeps it).
    slab_chunk_max_changed: bool,
}

/// Parses the command line (`args[0]` is the program name). Returns the
/// settings to run with, or `Exit` after printing help/version/license, or
/// `Err` with one line naming what is wrong (main prints it and exits 64).
///
/// Flags are read in a fixed order rather than command-line order, so when a
/// line has several mistakes the one reported is the first in that order.
/// A flag given twice keeps its last value (`-l` and `-o` accumulate).
/// `-h`, `-V` and `-i` win over every other flag, but not over a flag
/// getopts cannot parse.
pub fn parse_args(args: &[String]) -> Result<Action, String> {
    // memcached's --verbose takes an optional value it ignores; getopts
    // would refuse `--verbose=2`, so drop the value the same way.
    let argv: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| {
            if a.starts_with("--verbose=") {
                "--verbose".to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let m = options().parse(&argv).map_err(getopts_error)?;
    if let Some(extra) = m.free.first() {
        return Err(format!(
            "unexpected argument '{extra}': options start with '-' (see -h)"
        ));
    }
    if m.opt_present("h") {
        print!("{}", help_text());
        return Ok(Action::Exit(0));
    }
    if m.opt_present("V") {
        println!("memcached {}", env!("CARGO_PKG_VERSION"));
        return Ok(Action::Exit(0));
    }
    if m.opt_present("i") {
        print!("{}", license_text());
        return Ok(Action::Exit(0));
    }

    let mut s = Settings::default();
    let mut st = ParseState::default();
    apply_flags(&mut s, &mut st, &m)?;
    for arg in m.opt_strs("o") {
        apply_extended(&mut s, &mut st, &arg)?;
    }
    check(&mut s, &st)?;
    Ok(Action::Run(Box::new(s)))
}

/// Spells an option name the way the user typed it: `-p` or `--port`.
fn dashed(name: &str) -> String {
    if name.chars().count() == 1 {
        format!("-{name}")
    } else {
        format!("--{name}")
    }
}

/// Turns a getopts failure into our one-line message.
fn getopts_error(f: getopts::Fail) -> String {
    use getopts::Fail;
    match f {
        Fail::UnrecognizedOption(n) => format!("{}: unknown option (see -h)", dashed(&n)),
        Fail::ArgumentMissing(n) => format!("{}: missing value", dashed(&n)),
        Fail::UnexpectedArgument(n) => format!("{}: takes no value", dashed(&n)),
        other => other.to_string(),
    }
}

/// The last value given for a flag, if any.
fn last(m: &getopts::Matches, name: &str) -> Option<String> {
    m.opt_strs(name).pop()
}

/// Parses a whole number, naming the flag and the value when it is not one.
fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .map_err(|_| format!("{flag}: invalid number '{value}'"))
}

/// Parses a finite decimal number, naming the flag and the value otherwise.
fn float(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{flag}: invalid number '{value}'")),
    }
}

/// Parses `-I`: bytes, or kilobytes/megabytes with a `k`/`m` suffix (either
/// case). memcached reads the digits with atoi, so `1.5m` or `2mb` would be
/// silently misread there; here they are errors.
fn parse_item_size(value: &str) -> Result<u32, String> {
    let bad = || format!("-I: invalid size '{value}' (bytes, or a number with a k or m suffix)");
    let (digits, unit): (&str, u64) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 1024),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 1024 * 1024),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(unit).ok_or_else(bad)?;
    if bytes < ITEM_SIZE_MAX_LOWER as u64 {
        return Err(format!(
            "-I: item size {value} is below the minimum of 1k (1024 bytes)"
        ));
    }
    if bytes > ITEM_SIZE_MAX_UPPER as u64 {
        return Err(format!(
            "-I: item size {value} is above the maximum of 1024m"
        ));
    }
    Ok(bytes as u32)
}

/// Checks one `-l` entry: `<host>`, `<host>:<port>`, `[<ipv6>]`,
/// `[<ipv6>]:<port>` or a bare IPv6 address. IP literals are checked here;
/// anything else must look like a host name and resolve (memcached hands the
/// string to getaddrinfo too, so `-l localhost` works in both).
fn check_listen_addr(entry: &str) -> Result<(), String> {
    use std::net::{Ipv4Addr, Ipv6Addr, ToSocketAddrs};
    let bad = |why: &str| format!("-l {entry}: {why}");
    let check_port = |p: &str| -> Result<(), String> {
        p.parse::<u16>()
            .map(|_| ())
            .map_err(|_| bad(&format!("invalid port '{p}'")))
    };
    if entry.is_empty() {
        return Err("-l: empty address".to_string());
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(bad("not a valid IPv6 address"));
        }
        if after.is_empty() {
            return Ok(());
        }
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':<port>' after ']'"))?;
        return check_port(port);
    }
    let host = match entry.matches(':').count() {
        0 => entry,
        1 => {
            let (host, port) = entry.split_once(':').unwrap_or((entry, ""));
            check_port(port)?;
            host
        }
        _ => {
            // Several colons and no brackets: a bare IPv6 address.
            return match entry.parse::<Ipv6Addr>() {
                Ok(_) => Ok(()),
                Err(_) => Err(bad("not a valid IPv6 address")),
            };
        }
    };
    if host.is_empty() {
        return Err(bad("missing address before the port"));
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if !is_host_name(host) {
        return Err(bad("not a valid IP address or host name"));
    }
    let resolved = (host, 0u16)
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.next().is_some());
    if resolved {
        Ok(())
    } else {
        Err(bad("cannot resolve this host name"))
    }
}

/// True if `s` is a syntactically valid DNS name whose last label is not all
/// digits (so a mistyped IPv4 address such as `999.1.1.1` is rejected here
/// instead of being sent to the resolver).
fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels_ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let last_numeric = s
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !last_numeric
}

// ---- the flag table: one row per command-line flag ----

/// What may follow a flag on the command line.
enum Arg {
    /// Nothing: a switch (switches may repeat and bundle, `-vvv`).
    No,
    /// A value, attached or the next word; getopts names it so in usage.
    Value(&'static str),
    /// An optional value: attached, or the next word unless it starts with
    /// `-` (`-F` alone or `-F FILE`).
    Maybe(&'static str),
}

/// What a flag's `apply` gets: the settings being built, the parse notes
/// for `check`, and everything getopts read.
type ApplyFlag = fn(&mut Settings, &mut ParseState, &getopts::Matches) -> Result<(), String>;

/// One command-line flag: how getopts reads it, how it changes
/// `Settings`, and its lines of `-h`.
struct Flag {
    /// getopts' short name (`p`); empty for a flag with a long name only.
    short: &'static str,
    /// getopts' long name (`port`); empty for a flag with a short name only.
    long: &'static str,
    /// What may follow it.
    arg: Arg,
    /// For a memcached feature this server does not have: giving the flag
    /// is refused with this message, before any other flag is read.
    refused: Option<&'static str>,
    /// Reads the flag from the matches into the settings. Flags apply in
    /// the table's order whatever the command line's, so of several
    /// mistakes the first in this order is the one reported. A value flag
    /// given twice keeps its last value (`last`).
    apply: ApplyFlag,
    /// Its lines of `-h`, as they stand (memcached's columns vary from flag
    /// to flag); the table's order is the page's order.
    help: &'static [&'static str],
    /// The `stats settings` lines that report it.
    stats: &'static [Stat],
}

/// `apply` of a flag read elsewhere (`-h`, `-o`, ...) or refused.
fn nothing(_: &mut Settings, _: &mut ParseState, _: &getopts::Matches) -> Result<(), String> {
    Ok(())
}

/// Every memcached 1.6 flag, short and long, in the order of `-h`. To add
/// one, see the module's documentation.
static FLAGS: &[Flag] = &[
    Flag {
        short: "p",
        long: "port",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "p") {
                s.port = number("-p", &v)?;
            }
            Ok(())
        },
        help: &["-p, --port=<num>          TCP port to accept connections on (default: 11211)"],
        stats: &[
            stat(3, "tcpport", |s| s.port.to_string()),
        ],
    },
    Flag {
        short: "U",
        long: "udp-port",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "U") {
                s.udpport = number("-U", &v)?;
            }
            Ok(())
        },
        help: &["-U, --udp-port=<num>      UDP port to accept requests on (default: 0, off)"],
        stats: &[
            stat(4, "udpport", |s| s.udpport.to_string()),
        ],
    },
    Flag {
        short: "s",
        long: "unix-socket",
        arg: Arg::Value("FILE"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "s") {
                if v.is_empty() {
                    return Err("-s: empty socket path".to_string());
                }
                s.socketpath = Some(v);
            }
            Ok(())
        },
        help: &["-s, --unix-socket=<file>  listen on this UNIX socket only (turns TCP and UDP off)"],
        stats: &[
            stat(9, "domain_socket", |s| or_null(&s.socketpath, "NULL")),
        ],
    },
    Flag {
        short: "a",
        long: "unix-mask",
        arg: Arg::Value("MASK"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "a") {
                match u32::from_str_radix(&v, 8) {
                    Ok(mask) if mask <= 0o7777 && !v.starts_with('+') => s.access = mask,
                    _ => return Err(format!("-a: invalid octal mask '{v}'")),
                }
            }
            Ok(())
        },
        help: &["-a, --unix-mask=<mask>    permissions of the UNIX socket, in octal (default: 700)"],
        stats: &[
            stat(10, "umask", |s| format!("{:o}", s.access)),
        ],
    },
    Flag {
        short: "A",
        long: "enable-shutdown",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            s.shutdown_command |= m.opt_present("A");
            Ok(())
        },
        help: &["-A, --enable-shutdown     allow the ascii \"shutdown\" command"],
        stats: &[
            stat(11, "shutdown_command", |s| yes_no(s.shutdown_command)),
        ],
    },
    Flag {
        short: "l",
        long: "listen",
        arg: Arg::Value("ADDR"),
        refused: None,
        // Every -l counts, each a comma separated list; duplicates are
        // dropped, as memcached does.
        apply: |s, _, m| {
            for v in m.opt_strs("l") {
                for entry in v.split(',') {
                    check_listen_addr(entry)?;
                    if !s.inter.iter().any(|e| e == entry) {
                        s.inter.push(entry.to_string());
                    }
                }
            }
            Ok(())
        },
        help: &[
            "-l, --listen=<addr>       addresses to listen on, comma separated (default: all)",
            "                          each <ip>, <ip>:<port>, [<ipv6>]:<port> or a host name",
        ],
        stats: &[
            stat(5, "inter", |s| if s.inter.is_empty() { "NULL".to_string() } else { s.inter.join(",") }),
        ],
    },
    Flag {
        short: "d",
        long: "daemon",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            s.daemonize |= m.opt_present("d");
            Ok(())
        },
        help: &["-d, --daemon              detach from the terminal and run in the background"],
        stats: &[],
    },
    Flag {
        short: "r",
        long: "enable-coredumps",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            s.maxcore |= m.opt_present("r");
            Ok(())
        },
        help: &["-r, --enable-coredumps    raise the core file size limit as far as allowed"],
        stats: &[],
    },
    Flag {
        short: "u",
        long: "user",
        arg: Arg::Value("USER"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "u") {
                if v.is_empty() {
                    return Err("-u: empty user name".to_string());
                }
                s.username = Some(v);
            }
            Ok(())
        },
        help: &["-u, --user=<user>         become <user> after start (required when run as root)"],
        stats: &[],
    },
    Flag {
        short: "m",
        long: "memory-limit",
        arg: Arg::Value("MB"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "m") {
                // memcached reads -m with atoi: "64k" means 64 MB and "1g"
                // means 1 MB there. Rather than misread a suffix, refuse it.
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "-m: invalid memory limit '{v}' (a whole number of megabytes, no suffix)"
                    ));
                }
                let mb: u64 = number("-m", &v)?;
                if mb == 0 {
                    return Err("-m: memory limit must be at least 1 megabyte".to_string());
                }
                s.maxbytes = mb
                    .checked_mul(1024 * 1024)
                    .ok_or_else(|| format!("-m: memory limit '{v}' is too large"))?;
            }
            Ok(())
        },
        help: &["-m, --memory-limit=<num>  megabytes of memory for items (default: 64)"],
        stats: &[
            stat(1, "maxbytes", |s| s.maxbytes.to_string()),
        ],
    },
    Flag {
        short: "M",
        long: "disable-evictions",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            if m.opt_present("M") {
                s.evict_to_free = false;
            }
            Ok(())
        },
        help: &["-M, --disable-evictions   fail stores when memory is full instead of evicting"],
        stats: &[
            stat(8, "evictions", |s| if s.evict_to_free { "on" } else { "off" }.to_string()),
        ],
    },
    Flag {
        short: "c",
        long: "conn-limit",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "c") {
                let n: i64 = number("-c", &v)?;
                if n <= 0 {
                    return Err(format!(
                        "-c: connection limit must be greater than 0 (got {v})"
                    ));
                }
                s.maxconns = usize::try_from(n)
                    .map_err(|_| format!("-c: connection limit '{v}' is too large"))?;
            }
            Ok(())
        },
        help: &["-c, --conn-limit=<num>    most connections open at once (default: 1024)"],
        stats: &[
            stat(2, "maxconns", |s| s.maxconns.to_string()),
        ],
    },
    Flag {
        short: "k",
        long: "lock-memory",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            s.lock_memory |= m.opt_present("k");
            Ok(())
        },
        help: &["-k, --lock-memory         lock all pages of the process in memory"],
        stats: &[],
    },
    Flag {
        short: "v",
        long: "verbose",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            s.verbose = m.opt_count("v").min(u8::MAX as usize) as u8;
            Ok(())
        },
        help: &[
            "-v, --verbose             log errors and warnings from the event loop",
            "-vv                       also log each client command and reply",
            "-vvv                      also log connection state transitions",
        ],
        stats: &[
            stat(6, "verbosity", |s| s.verbose.to_string()),
        ],
    },
    // -h, -i and -V print their page in parse_args and exit.
    Flag {
        short: "h",
        long: "help",
        arg: Arg::No,
        refused: None,
        apply: nothing,
        help: &["-h, --help                show this help and exit"],
        stats: &[],
    },
    Flag {
        short: "i",
        long: "license",
        arg: Arg::No,
        refused: None,
        apply: nothing,
        help: &["-i, --license             show the license and exit"],
        stats: &[],
    },
    Flag {
        short: "V",
        long: "version",
        arg: Arg::No,
        refused: None,
        apply: nothing,
        help: &["-V, --version             show the version and exit"],
        stats: &[],
    },
    Flag {
        short: "P",
        long: "pidfile",
        arg: Arg::Value("FILE"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "P") {
                if v.is_empty() {
                    return Err("-P: empty pid file path".to_string());
                }
                s.pid_file = Some(v);
            }
            Ok(())
        },
        help: &["-P, --pidfile=<file>      write the process id to <file> (only with -d)"],
        stats: &[],
    },
    Flag {
        short: "f",
        long: "slab-growth-factor",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "f") {
                s.factor = float("-f", &v)?;
                if s.factor <= 1.0 {
                    return Err(format!(
                        "-f: growth factor must be greater than 1.0 (got {v})"
                    ));
                }
            }
            Ok(())
        },
        help: &["-f, --slab-growth-factor=<num> size ratio between slab classes (default: 1.25)"],
        stats: &[
            stat(12, "growth_factor", |s| format!("{:.2}", s.factor)),
        ],
    },
    Flag {
        short: "n",
        long: "slab-min-size",
        arg: Arg::Value("BYTES"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "n") {
                s.chunk_size = number("-n", &v)?;
                if s.chunk_size == 0 {
                    return Err("-n: minimum slab size must be greater than 0".to_string());
                }
            }
            Ok(())
        },
        help: &["-n, --slab-min-size=<bytes> least room for key+value+flags (default: 48)"],
        stats: &[
            stat(13, "chunk_size", |s| s.chunk_size.to_string()),
        ],
    },
    Flag {
        short: "L",
        long: "enable-largepages",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            s.large_pages |= m.opt_present("L");
            Ok(())
        },
        help: &["-L, --enable-largepages  ask for large memory pages where the system has them"],
        stats: &[],
    },
    Flag {
        short: "D",
        long: "",
        arg: Arg::Value("CHAR"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "D") {
                match v.as_bytes() {
                    [c] if c.is_ascii() => s.prefix_delimiter = *c,
                    [] => return Err("-D: no delimiter given".to_string()),
                    _ => {
                        return Err(format!(
                            "-D: delimiter must be a single ASCII character (got '{v}')"
                        ))
                    }
                }
                s.detail_enabled = true;
            }
            Ok(())
        },
        help: &[
            "-D <char>     character that ends a key's prefix, for statistics kept",
            "              per prefix (default: \":\" colon). Giving -D also turns",
            "              those statistics on; without it, \"stats detail on\"",
            "              turns them on at run time.",
        ],
        stats: &[
            stat(16, "stat_key_prefix", |s| (s.prefix_delimiter as char).to_string()),
            stat(17, "detail_enabled", |s| yes_no(s.detail_enabled)),
        ],
    },
    Flag {
        short: "t",
        long: "threads",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "t") {
                let n: i64 = number("-t", &v)?;
                if n <= 0 {
                    return Err(format!(
                        "-t: number of threads must be greater than 0 (got {v})"
                    ));
                }
                s.num_threads = u32::try_from(n)
                    .map_err(|_| format!("-t: number of threads '{v}' is too large"))?;
            }
            Ok(())
        },
        help: &[
            "-t, --threads=<num>       accepted for compatibility, no effect: this server",
            "                          runs one thread (default: 4, as stats reports)",
        ],
        stats: &[
            stat(14, "num_threads", |s| s.num_threads.to_string()),
            stat(15, "num_threads_per_udp", |s| s.num_threads.to_string()),
        ],
    },
    Flag {
        short: "R",
        long: "max-reqs-per-event",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "R") {
                let n: i64 = number("-R", &v)?;
                if n <= 0 {
                    return Err(format!(
                        "-R: requests per event must be greater than 0 (got {v})"
                    ));
                }
                s.reqs_per_event = u32::try_from(n)
                    .map_err(|_| format!("-R: requests per event '{v}' is too large"))?;
            }
            Ok(())
        },
        help: &[
            "-R, --max-reqs-per-event  requests served from one connection before the",
            "                          others get a turn, so none starves (default: 20)",
        ],
        stats: &[
            stat(18, "reqs_per_event", |s| s.reqs_per_event.to_string()),
        ],
    },
    Flag {
        short: "C",
        long: "disable-cas",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            if m.opt_present("C") {
                s.use_cas = false;
            }
            Ok(())
        },
        help: &["-C, --disable-cas         do not keep CAS unique values"],
        stats: &[
            stat(19, "cas_enabled", |s| yes_no(s.use_cas)),
        ],
    },
    Flag {
        short: "b",
        long: "listen-backlog",
        arg: Arg::Value("NUM"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "b") {
                s.backlog = number("-b", &v)?;
            }
            Ok(())
        },
        help: &["-b, --listen-backlog=<num> length of the pending connection queue (default: 1024)"],
        stats: &[
            stat(20, "tcp_backlog", |s| s.backlog.to_string()),
        ],
    },
    Flag {
        short: "B",
        long: "protocol",
        arg: Arg::Value("NAME"),
        refused: None,
        apply: |s, st, m| {
            if let Some(v) = last(m, "B") {
                s.binding_protocol = match v.as_str() {
                    "ascii" => Protocol::Ascii,
                    "binary" => Protocol::Binary,
                    "auto" => Protocol::Auto,
                    _ => {
                        return Err(format!(
                            "-B: unknown protocol '{v}' (one of ascii, binary, auto)"
                        ))
                    }
                };
                st.protocol_specified = true;
            }
            Ok(())
        },
        help: &["-B, --protocol=<name>     ascii, binary or auto (default: auto-negotiate)"],
        stats: &[
            stat(21, "binding_protocol", |s| s.binding_protocol.name().to_string()),
        ],
    },
    Flag {
        short: "I",
        long: "max-item-size",
        arg: Arg::Value("SIZE"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "I") {
                s.item_size_max = parse_item_size(&v)?;
            }
            Ok(())
        },
        help: &[
            "-I, --max-item-size=<num> largest item, in bytes or with a k or m suffix",
            "                          (default: 1m, min: 1k, max: 1024m)",
        ],
        stats: &[
            stat(24, "item_size_max", |s| s.item_size_max.to_string()),
        ],
    },
    Flag {
        short: "S",
        long: "enable-sasl",
        arg: Arg::No,
        refused: Some(
            "-S (--enable-sasl): SASL authentication is not supported (-Y gives ASCII authentication)",
        ),
        apply: nothing,
        help: &["-S, --enable-sasl         not supported (SASL); see -Y"],
        stats: &[
            stat(22, "auth_enabled_sasl", |_| yes_no(false)),
        ],
    },
    // -F alone disables flush_all, -F FILE names the dump file. The long
    // forms are rows of their own so `--disable-flush-all=x` stays an error.
    Flag {
        short: "F",
        long: "",
        arg: Arg::Maybe("FILE"),
        refused: None,
        apply: |s, _, m| {
            if m.opt_count("F") > m.opt_strs("F").len() || m.opt_present("disable-flush-all") {
                s.flush_enabled = false;
            }
            Ok(())
        },
        help: &["-F, --disable-flush-all   refuse the flush_all command"],
        stats: &[
            stat(36, "flush_enabled", |s| yes_no(s.flush_enabled)),
        ],
    },
    Flag {
        short: "",
        long: "disable-flush-all",
        arg: Arg::No,
        refused: None,
        apply: nothing, // read with -F
        help: &[],
        stats: &[],
    },
    Flag {
        short: "",
        long: "dump-file",
        arg: Arg::Value("FILE"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = m.opt_strs("F").into_iter().chain(m.opt_strs("dump-file")).last() {
                if v.is_empty() {
                    return Err("--dump-file: empty file name".to_string());
                }
                s.dump_file = Some(v);
            }
            Ok(())
        },
        help: &[
            "-F <file>, --dump-file=<file>",
            "                          keep the cache in a dump file: load <file> at start,",
            "                          rewrite it on SIGUSR2 and at shutdown",
        ],
        stats: &[
            stat(67, "dump_file", |s| or_null(&s.dump_file, "NULL")),
        ],
    },
    Flag {
        short: "X",
        long: "disable-dumping",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            if m.opt_present("X") {
                s.dump_enabled = false;
            }
            Ok(())
        },
        help: &["-X, --disable-dumping     refuse stats cachedump and lru_crawler metadump"],
        stats: &[
            stat(37, "dump_enabled", |s| yes_no(s.dump_enabled)),
        ],
    },
    Flag {
        short: "W",
        long: "disable-watch",
        arg: Arg::No,
        refused: None,
        apply: |s, _, m| {
            if m.opt_present("W") {
                s.watch_enabled = false;
            }
            Ok(())
        },
        help: &["-W, --disable-watch       refuse the watch command (live logging)"],
        stats: &[],
    },
    Flag {
        short: "Y",
        long: "auth-file",
        arg: Arg::Value("FILE"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "Y") {
                if v.is_empty() {
                    return Err("-Y: empty auth file name".to_string());
                }
                s.auth_file = Some(v);
            }
            Ok(())
        },
        help: &[
            "-Y, --auth-file=<file>    (EXPERIMENTAL) require ASCII authentication with the",
            "                          user:password lines of <file>",
        ],
        stats: &[
            // memcached shows the file's name, or "no".
            stat(23, "auth_enabled_ascii", |s| s.auth_file.clone().unwrap_or_else(|| "no".to_string())),
        ],
    },
    Flag {
        short: "e",
        long: "memory-file",
        arg: Arg::Value("FILE"),
        refused: None,
        apply: |s, _, m| {
            if let Some(v) = last(m, "e") {
                if v.is_empty() {
                    return Err("-e: empty file name".to_string());
                }
                s.memory_file = Some(v);
            }
            Ok(())
        },
        help: &[
            "-e, --memory-file=<file>  restartable cache: load <file> at start, write it",
            "                          when stopped with SIGUSR1 or \"shutdown graceful\"",
        ],
        stats: &[
            stat(65, "memory_file", |s| or_null(&s.memory_file, "(null)")),
        ],
    },
    Flag {
        short: "Z",
        long: "enable-ssl",
        arg: Arg::No,
        refused: Some("-Z (--enable-ssl): TLS is not supported"),
        apply: nothing,
        help: &["-Z, --enable-ssl          not supported (TLS)"],
        stats: &[],
    },
    // The -o options are applied after every flag, one row each of
    // EXTENDED, and listed in -h under these lines.
    Flag {
        short: "o",
        long: "extended",
        arg: Arg::Value("OPTIONS"),
        refused: None,
        apply: nothing,
        help: &[
            "-o, --extended            extended options, comma separated; most of them can",
            "                          be turned off with a 'no_' prefix",
        ],
        stats: &[],
    },
    Flag {
        short: "N",
        long: "napi_ids",
        arg: Arg::Value("NUM"),
        refused: Some(
            "-N (--napi_ids): not supported (NAPI ids steer worker threads; this server has one thread)",
        ),
        apply: nothing,
        help: &["-N, --napi_ids            not supported (needs worker threads)"],
        // memcached 1.6.45 shows the count given to -N, 0 without it
        // (1.6.18 showed "(null)").
        stats: &[stat(64, "num_napi_ids", |_| "0".to_string())],
    },
];

/// The getopts table, from FLAGS. Every flag may repeat (a repeated value
/// flag keeps its last value, as with memcached's getopt loop), so nothing
/// fails with "given more than once".
fn options() -> getopts::Options {
    use getopts::{HasArg, Occur};
    let mut o = getopts::Options::new();
    for f in FLAGS {
        match f.arg {
            Arg::No => o.optflagmulti(f.short, f.long, ""),
            Arg::Value(hint) => o.optmulti(f.short, f.long, "", hint),
            Arg::Maybe(hint) => o.opt(f.short, f.long, "", hint, HasArg::Maybe, Occur::Multi),
        };
    }
    o
}

/// Applies every flag except `-o` to `s`: first the refusals of memcached
/// features this server does not have, then each row in the table's order.
fn apply_flags(s: &mut Settings, st: &mut ParseState, m: &getopts::Matches) -> Result<(), String> {
    for f in FLAGS {
        let name = if f.short.is_empty() { f.long } else { f.short };
        if let Some(why) = f.refused {
            if m.opt_present(name) {
                return Err(why.to_string());
            }
        }
    }
    for f in FLAGS {
        (f.apply)(s, st, m)?;
    }
    Ok(())
}

/// The `-h` page: memcached 1.6's flags in memcached's order and column
/// layout, described in our words, with what this server does not do said
/// plainly; the `-o` options follow the `-o` line.
fn help_text() -> String {
    let mut out = format!(
        "memcached {} (Rust server, memcached-compatible)\n",
        env!("CARGO_PKG_VERSION")
    );
    for f in FLAGS {
        for line in f.help {
            out.push_str(line);
            out.push('\n');
        }
        if f.short == "o" {
            out.push_str(&extended_help());
        }
    }
    out
}

// ---- the -o table: one row per extended option ----

/// How an `-o` option reads its value and where it stores it. The field
/// accessors (`|s| &mut s.idle_timeout`) both store the value and, read
/// from `Settings::default()`, give the default that `-h` shows.
enum Value {
    /// `name` turns it on and `no_name` off (memcached's convention); no
    /// value may follow either.
    Toggle(fn(&mut Settings) -> &mut bool),
    /// `name` alone, with no value: does what the function does.
    Switch(fn(&mut Settings, &mut ParseState)),
    /// `name=<n>`: a whole number that fits 32 bits, at least `min` and at
    /// most `max`; outside that, `refuse` is the error (`{v}` stands for
    /// the value as given). With `bare`, `name` alone means that number.
    Whole {
        field: fn(&mut Settings) -> &mut u32,
        min: u32,
        max: u32,
        refuse: &'static str,
        bare: Option<u32>,
    },
    /// `name=<f>`: a finite decimal number for which `ok` holds, or the
    /// error `refuse`; `-h` shows it with `digits` decimals.
    Float {
        field: fn(&mut Settings) -> &mut f64,
        ok: fn(f64) -> bool,
        refuse: &'static str,
        digits: usize,
    },
    /// `name=<n>` kilobytes (up to 32 bits), kept in bytes.
    Kilobytes(fn(&mut Settings) -> &mut u32),
    /// `name=<n>` megabytes (up to 64 bits), kept in bytes.
    Megabytes(fn(&mut Settings) -> &mut u64),
    /// `name=<text>`, read by `set` (which gets the option's name for its
    /// errors); `show` gives the value as `-h` writes it.
    Text {
        set: fn(&mut Settings, &str, &str) -> Result<(), String>,
        show: Option<fn(&Settings) -> String>,
    },
    /// Accepted with or without a value, ignored, with a warning that
    /// names the option to use instead.
    Deprecated { instead: &'static str },
    /// Every option whose name starts with the row's key (`ext_`) is
    /// refused for this reason.
    Family { why: &'static str },
}

/// How an `-o` option shows in `-h`, under the `-o` line.
enum Help {
    /// Not listed.
    Unlisted,
    /// `   - <key>:` then the lines, the first beside the name and the rest
    /// under it. `{default}` in a line is replaced by the option's value in
    /// `Settings::default()`, as the user would write it.
    Listed(&'static [&'static str]),
    /// The same, under `no_<key>`: for options users mostly turn off.
    ListedNo(&'static [&'static str]),
    /// Lines printed as they stand: one entry that speaks for several
    /// options, listed on the first of them.
    Lines(&'static [&'static str]),
}

/// One `-o` extended option: everything the server knows about it except
/// the `Settings` field it fills and the checks that need other options
/// (those are in `check`).
struct Extended {
    /// The name after `-o`.
    key: &'static str,
    /// How the value is read and stored.
    value: Value,
    /// Run after the value is stored, for options that set more than their
    /// own field (or note something for `check`).
    also: Option<fn(&mut Settings, &mut ParseState)>,
    /// Its `-h` entry; the table's order is the page's order.
    help: Help,
    /// The `stats settings` lines that report it.
    stats: &'static [Stat],
}

/// A `Whole` value with no bounds but its 32 bits.
const fn whole(field: fn(&mut Settings) -> &mut u32) -> Value {
    Value::Whole {
        field,
        min: 0,
        max: u32::MAX,
        refuse: "",
        bare: None,
    }
}

/// A `Whole` value between `min` and `max`, or the error `refuse`.
const fn whole_in(
    field: fn(&mut Settings) -> &mut u32,
    min: u32,
    max: u32,
    refuse: &'static str,
) -> Value {
    Value::Whole {
        field,
        min,
        max,
        refuse,
        bare: None,
    }
}

/// A row with nothing but a key and a value: accepted, not in `-h`.
const fn quiet(key: &'static str, value: Value) -> Extended {
    Extended {
        key,
        value,
        also: None,
        help: Help::Unlisted,
        stats: &[],
    }
}

/// Every `-o` option, in the order `-h` lists them. To add one, see the
/// module's documentation.
static EXTENDED: &[Extended] = &[
    Extended {
        key: "maxconns_fast",
        value: Value::Toggle(|s| &mut s.maxconns_fast),
        also: None,
        help: Help::Listed(&["close connections over the -c limit at once (default: {default})"]),
        stats: &[stat(25, "maxconns_fast", |s| yes_no(s.maxconns_fast))],
    },
    Extended {
        key: "hashpower",
        value: whole_in(
            |s| &mut s.hashpower_init,
            HASHPOWER_MIN,
            HASHPOWER_MAX,
            "must be between 12 and 32 (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "starting hash table size as a power of two, 12 to 32;",
            "the table grows by itself (default: {default}, meaning 16)",
            "see \"STAT hash_power_level\" of a running server",
        ]),
        stats: &[stat(26, "hashpower_init", |s| s.hashpower_init.to_string())],
    },
    Extended {
        key: "tail_repair_time",
        value: whole_in(
            |s| &mut s.tail_repair_time,
            10,
            u32::MAX,
            "must be at least 10 seconds (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "seconds before an LRU tail item that seems stuck is",
            "reclaimed, at least 10 (default: {default}, off; risky)",
        ]),
        stats: &[stat(35, "tail_repair_time", |s| {
            s.tail_repair_time.to_string()
        })],
    },
    Extended {
        key: "hash_algorithm",
        value: Value::Text {
            set: |s, flag, v| {
                s.hash_algorithm = match v {
                    "murmur3" => HashAlgorithm::Murmur3,
                    "jenkins" => HashAlgorithm::Jenkins,
                    "xxh3" => {
                        return Err(format!(
                            "{flag}: xxh3 is not supported (use murmur3 or jenkins)"
                        ))
                    }
                    v => {
                        return Err(format!(
                            "{flag}: unknown algorithm '{v}' (murmur3 or jenkins)"
                        ))
                    }
                };
                Ok(())
            },
            show: Some(|s| hash_algorithm_name(s.hash_algorithm).to_string()),
        },
        also: None,
        help: Help::Listed(&["murmur3 or jenkins (default: {default}; no xxh3)"]),
        stats: &[stat(38, "hash_algorithm", |s| {
            hash_algorithm_name(s.hash_algorithm).to_string()
        })],
    },
    Extended {
        key: "lru_crawler",
        value: Value::Toggle(|s| &mut s.lru_crawler),
        also: None,
        help: Help::ListedNo(&["do not run the LRU crawler"]),
        stats: &[stat(32, "lru_crawler", |s| yes_no(s.lru_crawler))],
    },
    Extended {
        key: "lru_crawler_sleep",
        value: whole_in(
            |s| &mut s.lru_crawler_sleep,
            0,
            LRU_CRAWLER_SLEEP_MAX,
            "must be between 0 and 1000000 microseconds (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "microseconds of rest after every 1000 crawled",
            "items, up to 1000000 (default: {default})",
        ]),
        stats: &[stat(33, "lru_crawler_sleep", |s| {
            s.lru_crawler_sleep.to_string()
        })],
    },
    Extended {
        key: "lru_crawler_tocrawl",
        value: whole(|s| &mut s.lru_crawler_tocrawl),
        also: None,
        help: Help::Listed(&[
            "most items crawled per LRU list per run",
            "(default: {default}, no limit)",
        ]),
        stats: &[stat(34, "lru_crawler_tocrawl", |s| {
            s.lru_crawler_tocrawl.to_string()
        })],
    },
    Extended {
        key: "read_buf_mem_limit",
        value: Value::Megabytes(|s| &mut s.read_buf_mem_limit),
        also: None,
        help: Help::Listed(&[
            "megabytes all connection buffers may use together;",
            "only worth setting for very high -c (default: {default}, no limit)",
        ]),
        stats: &[stat(50, "read_buf_mem_limit", |s| {
            s.read_buf_mem_limit.to_string()
        })],
    },
    Extended {
        key: "lru_maintainer",
        value: Value::Toggle(|s| &mut s.lru_maintainer_thread),
        // The segmented LRU needs the maintainer, and comes with it.
        also: Some(|s, _| s.lru_segmented = s.lru_maintainer_thread),
        help: Help::ListedNo(&["one plain LRU per class, no HOT/WARM/COLD segments"]),
        stats: &[
            stat(39, "lru_maintainer_thread", |s| {
                yes_no(s.lru_maintainer_thread)
            }),
            stat(40, "lru_segmented", |s| yes_no(s.lru_segmented)),
        ],
    },
    Extended {
        key: "hot_lru_pct",
        value: whole_in(
            |s| &mut s.hot_lru_pct,
            1,
            LRU_PCT_TOTAL_MAX - 1,
            "must be between 1 and 79 (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "percent of a class's item bytes kept on the HOT LRU,",
            "1 to 79 (default: {default})",
        ]),
        stats: &[
            // memcached keeps it in an int: `lru tune` may store a value
            // above i32::MAX, shown negative.
            stat(41, "hot_lru_pct", |s| (s.hot_lru_pct as i32).to_string()),
        ],
    },
    Extended {
        key: "warm_lru_pct",
        value: whole_in(
            |s| &mut s.warm_lru_pct,
            1,
            LRU_PCT_TOTAL_MAX - 1,
            "must be between 1 and 79 (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "percent kept for the WARM LRU, 1 to 79; HOT plus",
            "WARM at most 80 (default: {default})",
        ]),
        stats: &[
            // An int in memcached, as hot_lru_pct.
            stat(42, "warm_lru_pct", |s| (s.warm_lru_pct as i32).to_string()),
        ],
    },
    Extended {
        key: "hot_max_factor",
        value: Value::Float {
            field: |s| &mut s.hot_max_factor,
            ok: |f| f > 0.0,
            refuse: "must be greater than 0 (got {v})",
            digits: 2,
        },
        also: None,
        help: Help::Listed(&[
            "items idle longer than the COLD age times this leave",
            "HOT (default: {default})",
        ]),
        stats: &[stat(43, "hot_max_factor", |s| c_fixed2(s.hot_max_factor))],
    },
    Extended {
        key: "warm_max_factor",
        value: Value::Float {
            field: |s| &mut s.warm_max_factor,
            ok: |f| f > 0.0,
            refuse: "must be greater than 0 (got {v})",
            digits: 2,
        },
        also: None,
        help: Help::Listed(&[
            "items idle longer than the COLD age times this leave",
            "WARM (default: {default})",
        ]),
        stats: &[stat(44, "warm_max_factor", |s| c_fixed2(s.warm_max_factor))],
    },
    Extended {
        key: "temporary_ttl",
        value: whole(|s| &mut s.temporary_ttl),
        // Giving a TTL is what turns the TEMP LRU on.
        also: Some(|s, _| s.temp_lru = true),
        help: Help::Listed(&[
            "items with a TTL up to this many seconds go to a",
            "TEMP LRU and are never evicted; needs the LRU",
            "maintainer (default: {default}, off unless given)",
        ]),
        stats: &[
            stat(45, "temp_lru", |s| yes_no(s.temp_lru)),
            stat(46, "temporary_ttl", |s| s.temporary_ttl.to_string()),
        ],
    },
    Extended {
        key: "idle_timeout",
        value: whole(|s| &mut s.idle_timeout),
        also: None,
        help: Help::Listed(&[
            "seconds before an idle connection is closed",
            "(default: {default}, never)",
        ]),
        stats: &[stat(47, "idle_timeout", |s| s.idle_timeout.to_string())],
    },
    Extended {
        key: "slab_chunk_max",
        // In kilobytes, as memcached reads it since 1.6.24 (1.6.18 read
        // bytes); kept in bytes. `check` refuses 0 and over 1024.
        value: Value::Kilobytes(|s| &mut s.slab_chunk_size_max),
        // A chosen chunk size survives no_modern, no_chunked_items and -I.
        also: Some(|_, st| st.slab_chunk_max_changed = true),
        help: Help::Listed(&[
            "(EXPERIMENTAL) largest slab chunk, in kilobytes;",
            "larger items are chained from chunks of this size",
            "(default: {default})",
        ]),
        stats: &[stat(31, "slab_chunk_max", |s| {
            s.slab_chunk_size_max.to_string()
        })],
    },
    Extended {
        key: "slab_sizes",
        value: Value::Text {
            set: |s, flag, v| {
                let mut sizes = Vec::new();
                // Empty pieces ("100--200", a trailing '-') are skipped.
                for piece in v.split('-').filter(|p| !p.is_empty()) {
                    sizes.push(number::<u32>(flag, piece)?);
                }
                if sizes.is_empty() {
                    return Err(format!("{flag}: no sizes given"));
                }
                s.slab_sizes = Some(sizes);
                Ok(())
            },
            show: None,
        },
        also: None,
        help: Help::Listed(&[
            "explicit slab class sizes, dash separated, in place",
            "of -n and -f (for example 128-256-512-1024)",
        ]),
        stats: &[],
    },
    Extended {
        key: "slab_reassign",
        value: Value::Toggle(|s| &mut s.slab_reassign),
        also: None,
        help: Help::Listed(&["let memory pages move between slab classes (default: {default})"]),
        stats: &[stat(27, "slab_reassign", |s| yes_no(s.slab_reassign))],
    },
    Extended {
        key: "slab_automove",
        // A bare `slab_automove` means mode 1, as in memcached.
        value: Value::Whole {
            field: |s| &mut s.slab_automove,
            min: 0,
            max: 2,
            refuse: "must be 0, 1 or 2 (got {v})",
            bare: Some(1),
        },
        also: None,
        help: Help::Listed(&[
            "0 never move pages, 1 move them with care,",
            "2 move them eagerly (default: {default})",
        ]),
        stats: &[stat(28, "slab_automove", |s| s.slab_automove.to_string())],
    },
    quiet(
        "no_slab_automove",
        Value::Switch(|s, _| s.slab_automove = 0),
    ),
    Extended {
        key: "slab_automove_ratio",
        value: Value::Float {
            field: |s| &mut s.slab_automove_ratio,
            // memcached refuses "<= 0 || > 1": 1 itself is taken.
            ok: |r| r > 0.0 && r <= 1.0,
            refuse: "must be above 0 and at most 1 (got {v})",
            digits: 2,
        },
        also: None,
        help: Help::Listed(&[
            "age ratio under which a class counts as short of",
            "memory, between 0 and 1 (default: {default})",
        ]),
        stats: &[stat(29, "slab_automove_ratio", |s| {
            format!("{:.2}", s.slab_automove_ratio)
        })],
    },
    Extended {
        key: "slab_automove_window",
        value: whole_in(
            |s| &mut s.slab_automove_window,
            3,
            1800,
            "must be from 3 to 1800 (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "looks (about seconds) of history automove",
            "averages, 3 to 1800 (default: {default})",
        ]),
        stats: &[stat(30, "slab_automove_window", |s| {
            s.slab_automove_window.to_string()
        })],
    },
    Extended {
        key: "slab_automove_freeratio",
        value: Value::Float {
            field: |s| &mut s.slab_automove_freeratio,
            ok: |r| (0.0..1.0).contains(&r),
            refuse: "must be at least 0 and below 1 (got {v})",
            digits: 3,
        },
        also: None,
        help: Help::Listed(&[
            "accepted for memcached's external storage",
            "automover; not used (default: {default})",
        ]),
        stats: &[stat(62, "slab_automove_freeratio", |s| {
            format!("{:.3}", s.slab_automove_freeratio)
        })],
    },
    Extended {
        key: "watcher_logbuf_size",
        value: Value::Kilobytes(|s| &mut s.watcher_logbuf_size),
        also: None,
        help: Help::Listed(&["kilobytes of log buffer per watcher (default: {default})"]),
        stats: &[stat(48, "watcher_logbuf_size", |s| {
            s.watcher_logbuf_size.to_string()
        })],
    },
    Extended {
        key: "worker_logbuf_size",
        value: Value::Kilobytes(|s| &mut s.worker_logbuf_size),
        also: None,
        help: Help::Listed(&[
            "accepted, no effect: log lines go straight to the",
            "watchers (default: {default})",
        ]),
        stats: &[stat(49, "worker_logbuf_size", |s| {
            s.worker_logbuf_size.to_string()
        })],
    },
    Extended {
        key: "track_sizes",
        value: Value::Switch(|s, _| s.track_sizes = true),
        also: None,
        help: Help::Listed(&["keep the item size histogram of 'stats sizes'"]),
        stats: &[stat(51, "track_sizes", |s| yes_no(s.track_sizes))],
    },
    Extended {
        key: "no_hashexpand",
        value: Value::Switch(|s, _| s.hash_expand = false),
        also: None,
        help: Help::Listed(&["never grow the hash table (risky)"]),
        stats: &[],
    },
    Extended {
        key: "modern",
        // memcached 1.6 already runs with the "modern" defaults.
        value: Value::Switch(|_, _| {}),
        also: None,
        help: Help::Listed(&["accepted; its defaults are already the defaults"]),
        stats: &[],
    },
    Extended {
        key: "no_modern",
        // memcached 1.4's defaults.
        value: Value::Switch(|s, st| {
            if !st.slab_chunk_max_changed {
                s.slab_chunk_size_max = s.slab_page_size;
            }
            s.slab_reassign = false;
            s.slab_automove = 0;
            s.maxconns_fast = false;
            s.lru_segmented = false;
            s.lru_maintainer_thread = false;
            s.lru_crawler = false;
            s.hash_algorithm = HashAlgorithm::Jenkins;
        }),
        also: None,
        help: Help::Listed(&[
            "memcached 1.4's defaults: no segmented LRU, no LRU",
            "maintainer or crawler, no slab reassign, jenkins",
            "hash, no maxconns_fast, whole-page chunks",
        ]),
        stats: &[],
    },
    Extended {
        key: "no_chunked_items",
        value: Value::Switch(|s, st| {
            if !st.slab_chunk_max_changed {
                s.slab_chunk_size_max = s.slab_page_size;
            }
        }),
        also: None,
        help: Help::Listed(&["chunks as large as a slab page"]),
        stats: &[],
    },
    Extended {
        key: "sock_cookie_id",
        value: whole(|s| &mut s.sock_cookie_id),
        also: None,
        help: Help::Listed(&[
            "mark (SO_MARK) set on listening sockets, for",
            "firewall rules (default: {default}, none)",
        ]),
        stats: &[],
    },
    Extended {
        key: "dump_interval",
        value: whole(|s| &mut s.dump_interval),
        also: None,
        help: Help::Listed(&[
            "seconds between dumps to the -F file (default: {default},",
            "only on SIGUSR2 and at shutdown)",
        ]),
        stats: &[stat(68, "dump_interval", |s| s.dump_interval.to_string())],
    },
    Extended {
        key: "dump_on_shutdown",
        value: Value::Toggle(|s| &mut s.dump_on_shutdown),
        also: None,
        help: Help::ListedNo(&["stop without writing a last dump to the -F file"]),
        stats: &[stat(69, "dump_on_shutdown", |s| yes_no(s.dump_on_shutdown))],
    },
    Extended {
        key: "replication",
        value: Value::Toggle(|s| &mut s.replication),
        also: None,
        help: Help::ListedNo(&["refuse replicas and the rep_* commands"]),
        stats: &[stat(70, "replication", |s| yes_no(s.replication))],
    },
    Extended {
        key: "replicaof",
        value: Value::Text {
            set: |s, flag, v| {
                check_host_port(flag, v)?;
                s.replicaof = Some(v.to_string());
                Ok(())
            },
            show: None,
        },
        also: None,
        help: Help::Listed(&["HOST:PORT: start as a replica of that master"]),
        stats: &[stat(71, "replicaof", |s| or_null(&s.replicaof, "NULL"))],
    },
    Extended {
        key: "repl_self",
        value: Value::Text {
            set: |s, flag, v| {
                check_host_port(flag, v)?;
                s.repl_self = Some(v.to_string());
                Ok(())
            },
            show: None,
        },
        also: None,
        help: Help::Listed(&[
            "HOST:PORT this server is known by to replicas",
            "and clients (default: the first -l address and -p)",
        ]),
        stats: &[stat(72, "repl_self", |s| or_null(&s.repl_self, "NULL"))],
    },
    Extended {
        key: "repl_backlog_size",
        value: whole_in(
            |s| &mut s.repl_backlog_size,
            16 * 1024,
            u32::MAX,
            "must be at least 16384 bytes (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "bytes of recent changes kept for replicas that",
            "reconnect (default: {default})",
        ]),
        stats: &[stat(73, "repl_backlog_size", |s| {
            s.repl_backlog_size.to_string()
        })],
    },
    Extended {
        key: "repl_timeout",
        value: whole_in(
            |s| &mut s.repl_timeout,
            2000,
            u32::MAX,
            "must be at least 2000 milliseconds, twice the ping period (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "milliseconds without traffic before a replication",
            "link is declared dead (default: {default})",
        ]),
        stats: &[stat(74, "repl_timeout", |s| s.repl_timeout.to_string())],
    },
    Extended {
        key: "repl_priority",
        value: whole(|s| &mut s.repl_priority),
        also: None,
        help: Help::Listed(&[
            "priority in master elections, 0 for never a master",
            "(default: {default})",
        ]),
        stats: &[stat(75, "repl_priority", |s| s.repl_priority.to_string())],
    },
    Extended {
        key: "repl_ack_policy",
        value: whole_in(
            |s| &mut s.repl_ack_policy,
            1,
            6,
            "must be 1 ALL, 2 ALL_PEERS, 3 NONE, 4 ONE, 5 ONE_PEER or 6 QUORUM (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "replicas a write's reply waits for: 1 ALL, 2 ALL_PEERS,",
            "3 NONE, 4 ONE, 5 ONE_PEER, 6 QUORUM (default: {default})",
        ]),
        stats: &[stat(76, "repl_ack_policy", |s| {
            s.repl_ack_policy.to_string()
        })],
    },
    Extended {
        key: "repl_ack_timeout",
        value: whole_in(
            |s| &mut s.repl_ack_timeout,
            1,
            u32::MAX,
            "must be at least 1 microsecond (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "microseconds a write's reply waits for its",
            "acknowledgements (default: {default})",
        ]),
        stats: &[stat(77, "repl_ack_timeout", |s| {
            s.repl_ack_timeout.to_string()
        })],
    },
    Extended {
        key: "repl_auth_file",
        value: Value::Text {
            set: |s, _, v| {
                s.repl_auth_file = Some(v.to_string());
                Ok(())
            },
            show: None,
        },
        also: None,
        help: Help::Listed(&[
            "FILE: user:password a replica gives a master",
            "started with -Y",
        ]),
        stats: &[stat(78, "repl_auth_file", |s| {
            or_null(&s.repl_auth_file, "NULL")
        })],
    },
    Extended {
        key: "repl_buffer_limit",
        value: whole_in(
            |s| &mut s.repl_buffer_limit,
            64 * 1024,
            u32::MAX,
            "must be at least 65536 bytes (got {v})",
        ),
        also: None,
        help: Help::Listed(&[
            "bytes of stream held for a replica that reads too",
            "slowly, past the backlog, before it is dropped to",
            "resync (default: {default})",
        ]),
        stats: &[stat(79, "repl_buffer_limit", |s| {
            s.repl_buffer_limit.to_string()
        })],
    },
    Extended {
        key: "repl_sites",
        value: whole(|s| &mut s.repl_sites),
        also: None,
        help: Help::Listed(&[
            "servers in the replication group, master included: QUORUM",
            "waits for a majority of them (default: 0, the known replicas)",
        ]),
        stats: &[stat(80, "repl_sites", |s| s.repl_sites.to_string())],
    },
    // Accepted by memcached 1.6 without effect here: no sandbox is applied
    // and responses are never inlined.
    Extended {
        key: "relaxed_privileges",
        value: Value::Switch(|s, _| s.relaxed_privileges = true),
        also: None,
        help: Help::Lines(&[
            "   - relaxed_privileges, drop_privileges, no_drop_privileges,",
            "     inline_ascii_resp, no_inline_ascii_resp: accepted, no effect",
        ]),
        stats: &[],
    },
    quiet("drop_privileges", Value::Switch(|_, _| {})),
    quiet("no_drop_privileges", Value::Switch(|_, _| {})),
    Extended {
        key: "inline_ascii_resp",
        value: Value::Switch(|_, _| {}),
        also: None,
        help: Help::Unlisted,
        stats: &[stat(52, "inline_ascii_response", |_| yes_no(false))],
    },
    quiet("no_inline_ascii_resp", Value::Switch(|_, _| {})),
    Extended {
        key: "ext_",
        value: Value::Family {
            why: "external storage (ext_* options) is not supported",
        },
        also: None,
        help: Help::Lines(&[
            "   - ext_* (external storage) and ssl_* (TLS) options are not supported",
        ]),
        // memcached 1.6.45 (built with external storage, as it is by
        // default) lists these settings whether or not a store is in use;
        // they show its defaults, which nothing here can change.
        stats: &[
            stat(53, "ext_item_size", |_| "512".to_string()),
            stat(54, "ext_item_age", |_| u32::MAX.to_string()),
            stat(55, "ext_low_ttl", |_| "0".to_string()),
            stat(56, "ext_recache_rate", |_| "2000".to_string()),
            stat(57, "ext_wbuf_size", |_| (4 * 1024 * 1024).to_string()),
            stat(58, "ext_compact_under", |_| "0".to_string()),
            stat(59, "ext_drop_under", |_| "0".to_string()),
            stat(60, "ext_max_sleep", |_| "1000000".to_string()),
            stat(61, "ext_max_frag", |_| "0.80".to_string()),
            stat(63, "ext_drop_unread", |_| yes_no(false)),
        ],
    },
    quiet(
        "ssl_",
        Value::Family {
            why: "TLS (ssl_* options) is not supported",
        },
    ),
    quiet(
        "resp_obj_mem_limit",
        Value::Deprecated {
            instead: "read_buf_mem_limit",
        },
    ),
];

/// Rejects a value given to an `-o` option that is a plain switch.
fn no_value(flag: &str, value: Option<&str>) -> Result<(), String> {
    match value {
        Some(_) => Err(format!("{flag}: takes no value")),
        None => Ok(()),
    }
}

/// The value of an `-o name=value` option, or an error if it is missing.
fn need<'a>(flag: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("{flag}: missing value ({}=<value>)", &flag[3..])),
    }
}

/// The row of the `-o` option called `name`, and whether it is turned on
/// (false for the `no_` form of a toggle). A key is matched whole, then as
/// the `no_` form of a toggle, then as the start of a refused family.
fn find_extended(name: &str) -> Option<(&'static Extended, bool)> {
    let named = |e: &&Extended| e.key == name && !matches!(e.value, Value::Family { .. });
    if let Some(e) = EXTENDED.iter().find(named) {
        return Some((e, true));
    }
    if let Some(key) = name.strip_prefix("no_") {
        let toggle = EXTENDED
            .iter()
            .find(|e| e.key == key && matches!(e.value, Value::Toggle(_)));
        if let Some(e) = toggle {
            return Some((e, false));
        }
    }
    EXTENDED
        .iter()
        .find(|e| matches!(e.value, Value::Family { .. }) && name.starts_with(e.key))
        .map(|e| (e, true))
}

impl Value {
    /// Reads `value` (what followed `name=`, if anything) and stores it in
    /// `s`. `flag` is `-o name` for the error messages; `on` is false for
    /// the `no_` form of a toggle.
    fn apply(
        &self,
        s: &mut Settings,
        st: &mut ParseState,
        flag: &str,
        value: Option<&str>,
        on: bool,
    ) -> Result<(), String> {
        let refused = |refuse: &str, v: &str| format!("{flag}: {}", refuse.replace("{v}", v));
        match *self {
            Value::Toggle(field) => {
                no_value(flag, value)?;
                *field(s) = on;
            }
            Value::Switch(set) => {
                no_value(flag, value)?;
                set(s, st);
            }
            Value::Whole {
                field,
                min,
                max,
                refuse,
                bare,
            } => {
                let v = match (value, bare) {
                    (None, Some(n)) => {
                        *field(s) = n;
                        return Ok(());
                    }
                    // With a bare form, `name=` is a bad number, not a
                    // missing value.
                    (Some(v), Some(_)) => v,
                    (_, None) => need(flag, value)?,
                };
                let n: u32 = number(flag, v)?;
                if n < min || n > max {
                    return Err(refused(refuse, v));
                }
                *field(s) = n;
            }
            Value::Float {
                field, ok, refuse, ..
            } => {
                let v = need(flag, value)?;
                let f = float(flag, v)?;
                if !ok(f) {
                    return Err(refused(refuse, v));
                }
                *field(s) = f;
            }
            Value::Kilobytes(field) => {
                let v = need(flag, value)?;
                let kb: u32 = number(flag, v)?;
                *field(s) = kb
                    .checked_mul(1024)
                    .ok_or_else(|| format!("{flag}: '{v}' kilobytes is too large"))?;
            }
            Value::Megabytes(field) => {
                let v = need(flag, value)?;
                let mb: u64 = number(flag, v)?;
                *field(s) = mb
                    .checked_mul(1024 * 1024)
                    .ok_or_else(|| format!("{flag}: '{v}' megabytes is too large"))?;
            }
            Value::Text { set, .. } => set(s, flag, need(flag, value)?)?,
            Value::Deprecated { instead } => {
                eprintln!("warning: {flag} is deprecated and ignored; see {instead}");
            }
            Value::Family { why } => return Err(format!("{flag}: {why}")),
        }
        Ok(())
    }

    /// The value in `s` as a user would give it after `name=` (`on`/`off`
    /// for a toggle), for the `{default}` of `-h`; None for options that
    /// have no value to show.
    /// (The accessors lend the field mutably; nothing is changed.)
    fn show(&self, s: &mut Settings) -> Option<String> {
        Some(match *self {
            Value::Toggle(field) => if *field(s) { "on" } else { "off" }.to_string(),
            Value::Whole { field, .. } => field(s).to_string(),
            Value::Float { field, digits, .. } => format!("{:.*}", digits, *field(s)),
            Value::Kilobytes(field) => (*field(s) / 1024).to_string(),
            Value::Megabytes(field) => (*field(s) / (1024 * 1024)).to_string(),
            Value::Text {
                show: Some(show), ..
            } => show(s),
            _ => return None,
        })
    }
}

/// Applies one `-o` argument: a comma separated list of `name` or
/// `name=value`. Options apply in order, so `no_modern,slab_reassign` ends
/// with slab_reassign on, as in memcached.
fn apply_extended(s: &mut Settings, st: &mut ParseState, arg: &str) -> Result<(), String> {
    if arg.is_empty() {
        return Ok(());
    }
    for item in arg.split(',') {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() {
            return Err(format!("-o '{item}': empty option name"));
        }
        let flag = format!("-o {name}");
        let (opt, on) = find_extended(name)
            .ok_or_else(|| format!("{flag}: unknown extended option (see -h)"))?;
        opt.value.apply(s, st, &flag, value, on)?;
        if let Some(also) = opt.also {
            also(s, st);
        }
    }
    Ok(())
}

/// The `-o` entries of `-h`, one per listed row, in the table's order: the
/// name and its first line in memcached's columns, the rest under it.
fn extended_help() -> String {
    let mut defaults = Settings::default();
    let mut out = String::new();
    for e in EXTENDED {
        let (name, lines) = match e.help {
            Help::Unlisted => continue,
            Help::Listed(lines) => (e.key.to_string(), lines),
            Help::ListedNo(lines) => (format!("no_{}", e.key), lines),
            Help::Lines(lines) => {
                for line in lines {
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            }
        };
        let default = e.value.show(&mut defaults).unwrap_or_default();
        for (i, line) in lines.iter().enumerate() {
            let line = line.replace("{default}", &default);
            if i == 0 {
                out.push_str(&format!("{:<25} {line}\n", format!("   - {name}:")));
            } else {
                out.push_str(&format!("{:26}{line}\n", ""));
            }
        }
    }
    out
}

/// Checks that need every flag read first, in memcached's order, and settles
/// the values that depend on several flags.
fn check(s: &mut Settings, st: &ParseState) -> Result<(), String> {
    if s.item_size_max as u64 > s.maxbytes / 2 {
        return Err(format!(
            "-I/-m: item size limit ({} bytes) cannot exceed half of the memory limit ({} bytes)",
            s.item_size_max, s.maxbytes
        ));
    }
    if st.slab_chunk_max_changed
        && !(1..=SLAB_CHUNK_MAX_KB_UPPER * 1024).contains(&s.slab_chunk_size_max)
    {
        return Err(format!(
            "-o slab_chunk_max: must be 1 to {SLAB_CHUNK_MAX_KB_UPPER} kilobytes (got {} bytes); the value is in kilobytes",
            s.slab_chunk_size_max
        ));
    }
    if s.item_size_max > 1024 * 1024 && !st.slab_chunk_max_changed {
        // Chunked items: keep chunks at half a page rather than growing them
        // with -I.
        s.slab_chunk_size_max = s.slab_page_size / 2;
    }
    if s.slab_chunk_size_max > s.item_size_max {
        return Err(if st.slab_chunk_max_changed {
            format!(
                "-o slab_chunk_max: {} bytes is larger than the item size limit -I ({} bytes)",
                s.slab_chunk_size_max, s.item_size_max
            )
        } else {
            format!(
                "-I: item size limit ({} bytes) is below slab_chunk_max ({} bytes); lower it with -o slab_chunk_max=<kilobytes>",
                s.item_size_max, s.slab_chunk_size_max
            )
        });
    }
    if !s.item_size_max.is_multiple_of(s.slab_chunk_size_max) {
        return Err(format!(
            "-I: item size limit ({} bytes) must be a multiple of slab_chunk_max ({} bytes)",
            s.item_size_max, s.slab_chunk_size_max
        ));
    }
    if !s.slab_page_size.is_multiple_of(s.slab_chunk_size_max) {
        return Err(format!(
            "-o slab_chunk_max: {} bytes does not divide the slab page size ({} bytes)",
            s.slab_chunk_size_max, s.slab_page_size
        ));
    }
    if let Some(sizes) = &s.slab_sizes {
        if sizes.len() > SLAB_SIZES_MAX {
            return Err(format!(
                "-o slab_sizes: {} classes given, at most {SLAB_SIZES_MAX} allowed",
                sizes.len()
            ));
        }
        let mut prev = 0;
        for &size in sizes {
            if size < s.chunk_size || size > s.slab_chunk_size_max {
                return Err(format!(
                    "-o slab_sizes: size {size} is outside {}..{} (-n to slab_chunk_max)",
                    s.chunk_size, s.slab_chunk_size_max
                ));
            }
            if size <= prev {
                return Err(format!(
                    "-o slab_sizes: size {size} is not larger than the size before it"
                ));
            }
            prev = size;
        }
    }
    if s.hot_lru_pct + s.warm_lru_pct > LRU_PCT_TOTAL_MAX {
        return Err(format!(
            "-o hot_lru_pct/warm_lru_pct: together they may not exceed 80 (got {} + {})",
            s.hot_lru_pct, s.warm_lru_pct
        ));
    }
    if s.temp_lru && !s.lru_maintainer_thread {
        return Err(
            "-o temporary_ttl: needs the LRU maintainer (drop no_lru_maintainer/no_modern)"
                .to_string(),
        );
    }
    if let (Some(f), Some(e)) = (&s.dump_file, &s.memory_file) {
        return Err(format!(
            "-F {f} and -e {e} both name a file to keep the cache in; give one of them"
        ));
    }
    if s.replicaof.is_some() && !s.replication {
        return Err("-o replicaof: replication is off (no_replication)".to_string());
    }
    if s.dump_interval != 0 && s.dump_file.is_none() {
        return Err("-o dump_interval: needs a dump file (-F FILE)".to_string());
    }
    if s.auth_file.is_some() {
        if !st.protocol_specified {
            s.binding_protocol = Protocol::Ascii;
        } else if s.binding_protocol != Protocol::Ascii {
            return Err(
                "-Y: ASCII authentication needs -B ascii (the binary protocol cannot carry it)"
                    .to_string(),
            );
        }
        if s.udpport != 0 {
            return Err("-Y: ASCII authentication cannot be used with UDP (give -U 0)".to_string());
        }
    }
    Ok(())
}

/// The name `-o hash_algorithm` takes and `stats settings` shows.
fn hash_algorithm_name(h: HashAlgorithm) -> &'static str {
    match h {
        HashAlgorithm::Murmur3 => "murmur3",
        HashAlgorithm::Jenkins => "jenkins",
    }
}

/// Formats a flag as memcached's `stats settings` does.
fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

// ---- stats settings ----

/// One line of `stats settings`, held by the row of the flag or `-o`
/// option it reports.
struct Stat {
    /// Its place in the reply, counting from 1: memcached 1.6.18's order,
    /// then ours. The places of all the rows run 1, 2, 3, ... without a gap
    /// (a unit test checks), so a new line takes the next free number.
    at: u8,
    /// The name after `STAT`.
    name: &'static str,
    /// The value, formatted as memcached formats it.
    show: fn(&Settings) -> String,
}

/// A `Stat`, written on one line in the tables.
const fn stat(at: u8, name: &'static str, show: fn(&Settings) -> String) -> Stat {
    Stat { at, name, show }
}

/// Lines of `stats settings` that no option sets: state memcached keeps
/// among its settings.
static REPORTED: &[Stat] = &[
    stat(7, "oldest", |s| s.oldest_live.to_string()),
    // Bytes of client flags an item keeps: 32 bits, as memcached built
    // without large client flags.
    stat(66, "client_flags_size", |_| "4".to_string()),
];

/// Every line of `stats settings`, in the reply's order.
fn stats_lines() -> Vec<&'static Stat> {
    let mut lines: Vec<&'static Stat> = FLAGS
        .iter()
        .flat_map(|f| f.stats)
        .chain(EXTENDED.iter().flat_map(|e| e.stats))
        .chain(REPORTED)
        .collect();
    lines.sort_by_key(|l| l.at);
    lines
}

impl Settings {
    /// The name/value pairs of `stats settings`, in memcached 1.6.45's order
    /// and with its formatting, from the `stats` of the flag and `-o` rows.
    /// The external storage (`ext_*`) lines show 1.6.45's defaults, as it
    /// shows them with no store in use; TLS (`ssl_*`) lines, which 1.6.45
    /// shows only when built with TLS, are left out. Ours (`dump_file`,
    /// NULL when unset as memcached shows an unset string, the dump and
    /// replication options) come last.
    pub fn stats_settings(&self) -> Vec<(&'static str, String)> {
        stats_lines()
            .into_iter()
            .map(|l| (l.name, (l.show)(self)))
            .collect()
    }
}

/// A file name setting as `stats settings` shows it, `null` when unset.
/// Checks a `HOST:PORT` value (an IPv6 address in brackets): a host, and
/// a port from 1 to 65535.
fn check_host_port(flag: &str, v: &str) -> Result<(), String> {
    let bad = || format!("{flag}: '{v}' is not HOST:PORT");
    let (host, port) = v.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(()),
        _ => Err(bad()),
    }
}

fn or_null(v: &Option<String>, null: &str) -> String {
    v.clone().unwrap_or_else(|| null.to_string())
}

/// A factor as C's printf "%.2f" shows it (`lru tune` accepts inf and
/// nan, which C spells in lower case).
fn c_fixed2(v: f64) -> String {
    if v.is_nan() {
        if v.is_sign_negative() { "-nan" } else { "nan" }.to_string()
    } else {
        format!("{:.2}", v)
    }
}

/// The `-i` page.
fn license_text() -> String {
    let head = format!(
        "memcached {} (Rust server, memcached-compatible)\n",
        env!("CARGO_PKG_VERSION")
    );
    head + r#"
This program is free software under the BSD 3-Clause License
(SPDX-License-Identifier: BSD-3-Clause).

In short: you may use it and pass it on, changed or not, in source or in
binary form, provided that copies of the source keep the copyright notice,
these conditions and the disclaimer; binary copies repeat them in their
documentation or other material; and the names of the authors are not used
to promote a derived product without their written permission.

It comes with NO WARRANTY of any kind, express or implied, not even of
merchantability or fitness for a particular purpose, and its authors are not
liable for any damage that comes from using it.

It speaks the protocol and takes the command line of memcached, a separate
BSD-licensed project; it contains no memcached code.
"#
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a command line given as one string split on spaces.
    fn parse(line: &str) -> Result<Action, String> {
        let mut args = vec!["memcached".to_string()];
        args.extend(line.split_whitespace().map(String::from));
        parse_args(&args)
    }

    /// Parses a line that must yield settings to run with.
    fn run(line: &str) -> Settings {
        match parse(line) {
            Ok(Action::Run(s)) => *s,
            Ok(Action::Exit(n)) => panic!("{line:?}: exit {n} instead of settings"),
            Err(e) => panic!("{line:?}: unexpected error: {e}"),
        }
    }

    /// Parses a line that must fail; returns the message.
    fn fail(line: &str) -> String {
        match parse(line) {
            Ok(_) => panic!("{line:?}: accepted, expected an error"),
            Err(e) => {
                assert!(!e.contains('\n'), "{line:?}: message is not one line: {e}");
                e
            }
        }
    }

    /// Asserts that a line fails with a message containing `what`.
    /// The value of one `stats settings` line.
    fn setting<'a>(stats: &'a [(&'static str, String)], name: &str) -> &'a str {
        let found = stats.iter().find(|(n, _)| *n == name);
        found.map(|(_, v)| v.as_str()).unwrap()
    }

    fn fails_with(line: &str, what: &str) {
        let e = fail(line);
        assert!(e.contains(what), "{line:?}: message {e:?} lacks {what:?}");
    }

    #[test]
    fn defaults_match_memcached() {
        let s = run("");
        assert_eq!(s.port, 11211);
        assert_eq!(s.udpport, 0);
        assert_eq!(s.socketpath, None);
        assert_eq!(s.access, 0o700);
        assert!(!s.shutdown_command);
        assert!(s.inter.is_empty());
        assert_eq!(s.maxbytes, 64 * 1024 * 1024);
        assert!(s.evict_to_free);
        assert_eq!(s.maxconns, 1024);
        assert_eq!(s.verbose, 0);
        assert_eq!(s.factor, 1.25);
        assert_eq!(s.chunk_size, 48);
        assert_eq!(s.prefix_delimiter, b':');
        assert!(!s.detail_enabled);
        assert_eq!(s.num_threads, 4);
        assert_eq!(s.reqs_per_event, 20);
        assert!(s.use_cas);
        assert_eq!(s.backlog, 1024);
        assert_eq!(s.binding_protocol, Protocol::Auto);
        assert_eq!(s.item_size_max, 1024 * 1024);
        assert!(s.flush_enabled);
        assert_eq!(s.dump_file, None);
        assert!(s.dump_enabled && s.watch_enabled);
        assert_eq!(s.slab_chunk_size_max, 512 * 1024);
        assert_eq!(s.hash_algorithm, HashAlgorithm::Murmur3);
        assert!(s.lru_segmented && s.lru_maintainer_thread && s.lru_crawler);
        assert!(s.slab_reassign);
        assert_eq!(s.slab_automove, 1);
        assert!(s.maxconns_fast);
    }

    #[test]
    fn network_flags() {
        let s = run("-p 1234 -U 4321 -l 127.0.0.1 -b 10");
        assert_eq!((s.port, s.udpport, s.backlog), (1234, 4321, 10));
        assert_eq!(s.inter, vec!["127.0.0.1"]);
        let s = run("--port=99 --udp-port=98 --listen-backlog=5");
        assert_eq!((s.port, s.udpport, s.backlog), (99, 98, 5));
        let s = run("-p 0");
        assert_eq!(s.port, 0);
        // The last of a repeated flag wins.
        assert_eq!(run("-p 1 -p 2").port, 2);
    }

    #[test]
    fn listen_addresses() {
        let s = run("-l 127.0.0.1,::1 -l [::1]:11212 -l 10.0.0.1:5 -l localhost");
        assert_eq!(
            s.inter,
            vec!["127.0.0.1", "::1", "[::1]:11212", "10.0.0.1:5", "localhost"]
        );
        // Duplicates are dropped, as memcached does.
        assert_eq!(run("-l 127.0.0.1 -l 127.0.0.1").inter, vec!["127.0.0.1"]);
        assert_eq!(run("--listen=0.0.0.0").inter, vec!["0.0.0.0"]);
        fails_with("-l 999.1.1.1", "-l 999.1.1.1");
        fails_with("-l 127.0.0.1:abc", "invalid port");
        fails_with("-l 127.0.0.1:70000", "invalid port");
        fails_with("-l [::1", "-l [::1");
        fails_with("-l [zz::1]:5", "IPv6");
        fails_with("-l 1:2:3:zz", "IPv6");
        fails_with("-l 127.0.0.1,", "-l");
        fails_with("-l :11211", "-l :11211");
        fails_with("-l bad_name!", "-l bad_name!");
        fails_with("-l no-such-host.invalid", "resolve");
    }

    #[test]
    fn host_name_syntax() {
        assert!(is_host_name("localhost"));
        assert!(is_host_name("cache-1.example.com."));
        assert!(!is_host_name("999.1.1.1"));
        assert!(!is_host_name("-a.b"));
        assert!(!is_host_name("a..b"));
        assert!(!is_host_name(""));
    }

    #[test]
    fn unix_socket_flags() {
        let s = run("-s /tmp/mc.sock -a 755");
        assert_eq!(s.socketpath.as_deref(), Some("/tmp/mc.sock"));
        assert_eq!(s.access, 0o755);
        let s = run("--unix-socket=/tmp/x --unix-mask=0777");
        assert_eq!(s.socketpath.as_deref(), Some("/tmp/x"));
        assert_eq!(s.access, 0o777);
        fails_with("-a 999", "-a");
        fails_with("-a abc", "-a");
        fails_with("-a 17777", "-a");
    }

    #[test]
    fn switches() {
        let s = run("-A -d -r -M -k -L -C -X -W");
        assert!(s.shutdown_command && s.daemonize && s.maxcore && s.lock_memory);
        assert!(s.large_pages);
        assert!(!s.evict_to_free && !s.use_cas && !s.dump_enabled && !s.watch_enabled);
        let s = run(
            "--enable-shutdown --daemon --enable-coredumps --disable-evictions \
             --lock-memory --enable-largepages --disable-cas --disable-dumping --disable-watch",
        );
        assert!(s.shutdown_command && s.daemonize && s.maxcore && s.lock_memory);
        assert!(!s.evict_to_free && !s.use_cas && !s.dump_enabled && !s.watch_enabled);
    }

    #[test]
    fn verbosity_counts() {
        assert_eq!(run("-v").verbose, 1);
        assert_eq!(run("-vv").verbose, 2);
        assert_eq!(run("-vvv").verbose, 3);
        assert_eq!(run("-v -v").verbose, 2);
        assert_eq!(run("--verbose --verbose -v").verbose, 3);
        // memcached ignores the value of --verbose=N.
        assert_eq!(run("--verbose=3").verbose, 1);
    }

    #[test]
    fn user_pidfile_auth() {
        let s = run("-u nobody -P /run/mc.pid");
        assert_eq!(s.username.as_deref(), Some("nobody"));
        assert_eq!(s.pid_file.as_deref(), Some("/run/mc.pid"));
        let s = run("--user=memcache --pidfile=/x");
        assert_eq!(s.username.as_deref(), Some("memcache"));
        assert_eq!(s.pid_file.as_deref(), Some("/x"));
        fails_with("-P", "-P: missing value");
        fails_with("-u", "-u: missing value");
    }

    #[test]
    fn memory_limit() {
        assert_eq!(run("-m 100").maxbytes, 100 * 1024 * 1024);
        assert_eq!(run("--memory-limit=4096").maxbytes, 4096 << 20);
        fails_with("-m 0", "-m");
        fails_with("-m abc", "-m");
        fails_with("-m 64k", "-m");
        fails_with("-m 1g", "-m");
        fails_with("-m -1", "-m");
        fails_with("-m 99999999999999999", "-m");
    }

    #[test]
    fn connection_limit() {
        assert_eq!(run("-c 10").maxconns, 10);
        assert_eq!(run("--conn-limit=20000").maxconns, 20000);
        fails_with("-c 0", "-c");
        fails_with("-c -1", "-c");
        fails_with("-c abc", "-c: invalid number 'abc'");
    }

    #[test]
    fn slab_flags() {
        let s = run("-f 1.5 -n 64");
        assert_eq!((s.factor, s.chunk_size), (1.5, 64));
        let s = run("--slab-growth-factor=2 --slab-min-size=100");
        assert_eq!((s.factor, s.chunk_size), (2.0, 100));
        fails_with("-f 1.0", "-f");
        fails_with("-f 0.5", "-f");
        fails_with("-f abc", "-f");
        fails_with("-f inf", "-f");
        fails_with("-n 0", "-n");
        fails_with("-n -5", "-n");
    }

    #[test]
    fn delimiter() {
        let s = run("-D #");
        assert_eq!(s.prefix_delimiter, b'#');
        assert!(s.detail_enabled);
        fails_with("-D ab", "-D");
        let e = parse_args(&["memcached".into(), "-D".into(), String::new()]);
        assert!(matches!(e, Err(m) if m.starts_with("-D")));
    }

    #[test]
    fn threads_and_requests() {
        let s = run("-t 8 -R 5");
        assert_eq!((s.num_threads, s.reqs_per_event), (8, 5));
        let s = run("--threads=1 --max-reqs-per-event=1");
        assert_eq!((s.num_threads, s.reqs_per_event), (1, 1));
        fails_with("-t 0", "-t");
        fails_with("-t -1", "-t");
        fails_with("-t abc", "-t");
        fails_with("-R 0", "-R");
        fails_with("-R -1", "-R");
    }

    #[test]
    fn protocol() {
        assert_eq!(run("-B ascii").binding_protocol, Protocol::Ascii);
        assert_eq!(run("-B binary").binding_protocol, Protocol::Binary);
        assert_eq!(run("--protocol=auto").binding_protocol, Protocol::Auto);
        fails_with("-B bogus", "-B: unknown protocol 'bogus'");
        fails_with("-B ASCII", "-B");
    }

    #[test]
    fn item_size() {
        assert_eq!(run("-I 2m").item_size_max, 2 << 20);
        assert_eq!(run("-I 2M").item_size_max, 2 << 20);
        assert_eq!(run("-I 1048576").item_size_max, 1 << 20);
        assert_eq!(run("--max-item-size=1536k").item_size_max, 1536 << 10);
        assert_eq!(run("-I 1024m -m 4096").item_size_max, 1 << 30);
        // Above 1m the chunks stay at half a page.
        assert_eq!(run("-I 4m").slab_chunk_size_max, 512 * 1024);
        // Small items need a smaller chunk limit, as in memcached.
        let s = run("-I 256k -o slab_chunk_max=128");
        assert_eq!(s.item_size_max, 256 << 10);
        assert_eq!(s.slab_chunk_size_max, 128 << 10);
        let s = run("-I 1k -m 1 -o slab_chunk_max=1");
        assert_eq!(s.item_size_max, 1024);
        // Kilobytes since memcached 1.6.24: a number of bytes is refused.
        fails_with("-o slab_chunk_max=131072", "slab_chunk_max");
        fails_with("-o slab_chunk_max=0", "slab_chunk_max");
        fails_with("-I 512", "-I");
        fails_with("-I 1023", "-I");
        fails_with("-I 1025m -m 4096", "-I");
        fails_with("-I 2000m", "-I");
        fails_with("-I 40m", "-I");
        fails_with("-I 1m -m 1", "-I");
        fails_with("-I 256k", "-I");
        fails_with("-I 1500k", "-I");
        fails_with("-I 1.5m", "-I");
        fails_with("-I 2mb", "-I");
        fails_with("-I 1g", "-I");
        fails_with("-I abc", "-I");
        fails_with("-I m", "-I");
    }

    #[test]
    fn flush_and_dump_file() {
        // -F alone: memcached 1.6's "disable flush_all".
        let s = run("-F");
        assert!(!s.flush_enabled);
        assert_eq!(s.dump_file, None);
        let s = run("-F -p 1");
        assert!(!s.flush_enabled);
        assert_eq!(s.port, 1);
        assert!(!run("--disable-flush-all").flush_enabled);
        assert!(!run("-vF").flush_enabled);
        // -F FILE and --dump-file=FILE name the dump file and leave
        // flush_all on.
        for args in [
            "-F /tmp/cache.dump",
            "-F/tmp/cache.dump",
            "--dump-file=/tmp/cache.dump",
        ] {
            let s = run(args);
            assert_eq!(s.dump_file.as_deref(), Some("/tmp/cache.dump"), "{}", args);
            assert!(s.flush_enabled, "{}", args);
        }
        let s = run("-F -F /d");
        assert!(!s.flush_enabled);
        assert_eq!(s.dump_file.as_deref(), Some("/d"));
        fails_with("--dump-file", "--dump-file: missing value");
        fails_with("--dump-file=", "--dump-file: empty file name");
        let s = run("-F /d -o dump_interval=30,no_dump_on_shutdown");
        assert_eq!((s.dump_interval, s.dump_on_shutdown), (30, false));
        let s = run("-F /d");
        assert_eq!((s.dump_interval, s.dump_on_shutdown), (0, true));
        fails_with(
            "-o dump_interval=30",
            "-o dump_interval: needs a dump file (-F FILE)",
        );
        fails_with(
            "-F /d -o dump_interval=x",
            "dump_interval: invalid number 'x'",
        );
        fails_with("-F /d -o dump_interval", "dump_interval");
        fails_with(
            "-F /d -o no_dump_on_shutdown=1",
            "no_dump_on_shutdown: takes no value",
        );
        fails_with("-F /d -e /m", "-F /d and -e /m both name a file");
        fails_with(
            "--disable-flush-all=x",
            "--disable-flush-all: takes no value",
        );
    }

    #[test]
    fn memory_file_and_unsupported_flags() {
        assert_eq!(run("-e /tmp/mem").memory_file.as_deref(), Some("/tmp/mem"));
        assert_eq!(run("--memory-file=/m").memory_file.as_deref(), Some("/m"));
        fails_with("--memory-file=", "-e: empty file name");
        fails_with("-S", "-S");
        fails_with("--enable-sasl", "SASL");
        fails_with("-Z", "-Z");
        fails_with("-N 2", "-N");
    }

    #[test]
    fn auth_file() {
        let s = run("-Y /etc/mc.auth");
        assert_eq!(s.auth_file.as_deref(), Some("/etc/mc.auth"));
        assert_eq!(s.binding_protocol, Protocol::Ascii);
        assert_eq!(
            run("--auth-file=/x -B ascii").binding_protocol,
            Protocol::Ascii
        );
        fails_with("-Y /x -B binary", "-Y");
        fails_with("-Y /x -B auto", "-Y");
        fails_with("-Y /x -U 11211", "-Y");
    }

    #[test]
    fn bad_command_lines() {
        fails_with("--bogus", "--bogus: unknown option");
        fails_with("-Q", "-Q: unknown option");
        fails_with("-p", "-p: missing value");
        fails_with("-p abc", "-p: invalid number 'abc'");
        fails_with("-p 70000", "-p");
        fails_with("-p -1", "-p");
        fails_with("-U 70000", "-U");
        fails_with("-b abc", "-b");
        fails_with("-d extra", "unexpected argument 'extra'");
        fails_with("--daemon=yes", "--daemon: takes no value");
    }

    #[test]
    fn help_version_license_exit_zero() {
        for line in [
            "-h",
            "--help",
            "-V",
            "--version",
            "-i",
            "--license",
            "-h -c 0",
        ] {
            assert!(matches!(parse(line), Ok(Action::Exit(0))), "{line}");
        }
        let help = help_text();
        assert!(help.starts_with("memcached 1.6.45 (Rust server"));
        assert!(help.contains("-s, --unix-socket=<file>"));
        assert!(help.contains("--dump-file=<file>"));
        assert!(help.contains("-F, --disable-flush-all"));
        assert!(help.contains("no effect"));
        for opt in [
            "maxconns_fast",
            "hashpower",
            "tail_repair_time",
            "hash_algorithm",
            "lru_crawler_sleep",
            "lru_crawler_tocrawl",
            "read_buf_mem_limit",
            "no_lru_maintainer",
            "hot_lru_pct",
            "warm_lru_pct",
            "hot_max_factor",
            "warm_max_factor",
            "temporary_ttl",
            "idle_timeout",
            "slab_chunk_max",
            "slab_sizes",
            "slab_reassign",
            "slab_automove",
            "slab_automove_ratio",
            "slab_automove_window",
            "slab_automove_freeratio",
            "watcher_logbuf_size",
            "worker_logbuf_size",
            "track_sizes",
            "no_hashexpand",
            "no_modern",
            "no_chunked_items",
            "sock_cookie_id",
            "relaxed_privileges",
        ] {
            assert!(
                help.contains(&format!("   - {opt}")) || help.contains(opt),
                "{opt}"
            );
        }
        assert!(license_text().contains("BSD-3-Clause"));
    }

    #[test]
    fn extended_switches() {
        let s =
            run("-o no_maxconns_fast,no_hashexpand,no_slab_reassign,no_lru_crawler,track_sizes");
        assert!(!s.maxconns_fast && !s.hash_expand && !s.slab_reassign && !s.lru_crawler);
        assert!(s.track_sizes);
        let s = run("-o no_lru_maintainer");
        assert!(!s.lru_maintainer_thread && !s.lru_segmented);
        let s = run("-o no_lru_maintainer -o lru_maintainer");
        assert!(s.lru_maintainer_thread && s.lru_segmented);
        let s = run("--extended=no_slab_automove,relaxed_privileges");
        assert_eq!(s.slab_automove, 0);
        assert!(s.relaxed_privileges);
        // Accepted without effect.
        run("-o modern,inline_ascii_resp,no_inline_ascii_resp,drop_privileges,no_drop_privileges");
        run("-o resp_obj_mem_limit=5");
        // An empty -o is nothing at all.
        let empty = parse_args(&["memcached".into(), "-o".into(), String::new()]);
        assert!(matches!(empty, Ok(Action::Run(_))));
        fails_with("-o track_sizes=0", "-o track_sizes: takes no value");
        fails_with("-o ,", "-o");
        fails_with("-o hashpower=20,,", "-o");
        fails_with("-o =5", "-o");
    }

    #[test]
    fn extended_modern() {
        let s = run("-o no_modern");
        assert!(!s.maxconns_fast && !s.slab_reassign && !s.lru_segmented);
        assert!(!s.lru_maintainer_thread && !s.lru_crawler);
        assert_eq!(s.slab_automove, 0);
        assert_eq!(s.hash_algorithm, HashAlgorithm::Jenkins);
        assert_eq!(s.slab_chunk_size_max, 1024 * 1024);
        // Later options win.
        let s = run("-o no_modern,slab_reassign,slab_automove=2");
        assert!(s.slab_reassign);
        assert_eq!(s.slab_automove, 2);
        // A chosen slab_chunk_max survives no_modern.
        assert_eq!(
            run("-o slab_chunk_max=2,no_modern").slab_chunk_size_max,
            2048
        );
        assert_eq!(run("-o no_chunked_items").slab_chunk_size_max, 1024 * 1024);
        // no_modern with -I above a page goes back to half-page chunks.
        assert_eq!(run("-o no_modern -I 1536k").slab_chunk_size_max, 512 * 1024);
    }

    #[test]
    fn extended_numbers() {
        let s = run(
            "-o hashpower=20,slab_automove=2,slab_automove_ratio=0.5,slab_automove_window=10 \
             -o slab_automove_freeratio=0.02,tail_repair_time=30,lru_crawler_sleep=50 \
             -o lru_crawler_tocrawl=7,hot_lru_pct=10,warm_lru_pct=30,hot_max_factor=0.5 \
             -o warm_max_factor=1.5,temporary_ttl=30,idle_timeout=60,watcher_logbuf_size=16 \
             -o worker_logbuf_size=32,read_buf_mem_limit=8,sock_cookie_id=42",
        );
        assert_eq!(s.hashpower_init, 20);
        assert_eq!(s.slab_automove, 2);
        assert_eq!(s.slab_automove_ratio, 0.5);
        assert_eq!(s.slab_automove_window, 10);
        // memcached takes a ratio of 1 and windows up to 1800.
        let top = run("-o slab_automove_ratio=1,slab_automove_window=1800");
        assert_eq!(top.slab_automove_ratio, 1.0);
        assert_eq!(top.slab_automove_window, 1800);
        assert_eq!(s.slab_automove_freeratio, 0.02);
        assert_eq!(s.tail_repair_time, 30);
        assert_eq!(s.lru_crawler_sleep, 50);
        assert_eq!(s.lru_crawler_tocrawl, 7);
        assert_eq!((s.hot_lru_pct, s.warm_lru_pct), (10, 30));
        assert_eq!((s.hot_max_factor, s.warm_max_factor), (0.5, 1.5));
        assert!(s.temp_lru);
        assert_eq!(s.temporary_ttl, 30);
        assert_eq!(s.idle_timeout, 60);
        assert_eq!(s.watcher_logbuf_size, 16 * 1024);
        assert_eq!(s.worker_logbuf_size, 32 * 1024);
        assert_eq!(s.read_buf_mem_limit, 8 * 1024 * 1024);
        assert_eq!(s.sock_cookie_id, 42);
        assert_eq!(run("-o slab_automove").slab_automove, 1);
        assert_eq!(
            run("-o hash_algorithm=jenkins").hash_algorithm,
            HashAlgorithm::Jenkins
        );
        assert_eq!(
            run("-o hash_algorithm=murmur3").hash_algorithm,
            HashAlgorithm::Murmur3
        );
        assert_eq!(run("-o hot_lru_pct=40,warm_lru_pct=40").hot_lru_pct, 40);
    }

    #[test]
    fn extended_slab_sizes() {
        let s = run("-o slab_sizes=100-200-400");
        assert_eq!(s.slab_sizes, Some(vec![100, 200, 400]));
        assert_eq!(
            run("-o slab_sizes=100--200-").slab_sizes,
            Some(vec![100, 200])
        );
        assert_eq!(
            run("-o slab_sizes=48-524288").slab_sizes,
            Some(vec![48, 524288])
        );
        let many: Vec<String> = (1..=62).map(|i| (i * 100).to_string()).collect();
        run(&format!("-o slab_sizes={}", many.join("-")));
        let too_many: Vec<String> = (1..=63).map(|i| (i * 100).to_string()).collect();
        fails_with(
            &format!("-o slab_sizes={}", too_many.join("-")),
            "-o slab_sizes",
        );
        fails_with("-o slab_sizes=47", "-o slab_sizes");
        fails_with("-n 100 -o slab_sizes=60", "-o slab_sizes");
        fails_with("-o slab_sizes=524289", "-o slab_sizes");
        fails_with("-o slab_chunk_max=2,slab_sizes=3000", "-o slab_sizes");
        fails_with("-o slab_sizes=100-100", "-o slab_sizes");
        fails_with("-o slab_sizes=200-100", "-o slab_sizes");
        fails_with(
            "-o slab_sizes=100-abc",
            "-o slab_sizes: invalid number 'abc'",
        );
        fails_with("-o slab_sizes", "-o slab_sizes: missing value");
        fails_with("-o slab_sizes=-", "-o slab_sizes");
    }

    #[test]
    fn extended_chunk_max() {
        // Kilobytes, as memcached 1.6.45 reads it.
        assert_eq!(run("-o slab_chunk_max=1024").slab_chunk_size_max, 1 << 20);
        assert_eq!(run("-I 2m -o slab_chunk_max=4").slab_chunk_size_max, 4096);
        fails_with("-o slab_chunk_max", "-o slab_chunk_max");
        fails_with("-o slab_chunk_max=abc", "-o slab_chunk_max");
        fails_with("-o slab_chunk_max=0", "-o slab_chunk_max");
        fails_with("-o slab_chunk_max=1025", "slab_chunk_max");
        fails_with(
            "-o slab_chunk_max=3",
            "must be a multiple of slab_chunk_max",
        );
        fails_with("-I 4k -m 1 -o slab_chunk_max=8", "-o slab_chunk_max");
    }

    #[test]
    fn extended_rejections() {
        for (line, what) in [
            ("-o bogus", "-o bogus: unknown extended option"),
            ("-o temp_lru", "-o temp_lru"),
            ("-o lru_segmented", "-o lru_segmented"),
            ("-o slab_page_size=1", "-o slab_page_size"),
            ("-o hashpower", "-o hashpower: missing value"),
            ("-o hashpower=", "-o hashpower: missing value"),
            ("-o hashpower=abc", "-o hashpower: invalid number 'abc'"),
            ("-o hashpower=11", "-o hashpower"),
            ("-o hashpower=33", "-o hashpower"),
            ("-o slab_automove=3", "-o slab_automove"),
            ("-o slab_automove=abc", "-o slab_automove"),
            ("-o slab_automove_ratio=0", "-o slab_automove_ratio"),
            ("-o slab_automove_ratio=1.5", "-o slab_automove_ratio"),
            ("-o slab_automove_window=2", "-o slab_automove_window"),
            ("-o slab_automove_window=1801", "-o slab_automove_window"),
            (
                "-o slab_automove_freeratio=abc",
                "-o slab_automove_freeratio",
            ),
            ("-o tail_repair_time=5", "-o tail_repair_time"),
            ("-o hash_algorithm=xxh3", "not supported"),
            ("-o hash_algorithm=foo", "-o hash_algorithm"),
            ("-o hash_algorithm", "-o hash_algorithm: missing value"),
            ("-o lru_crawler_sleep=1000001", "-o lru_crawler_sleep"),
            ("-o lru_crawler_tocrawl=abc", "-o lru_crawler_tocrawl"),
            ("-o hot_lru_pct=0", "-o hot_lru_pct"),
            ("-o hot_lru_pct=80", "-o hot_lru_pct"),
            ("-o warm_lru_pct=80", "-o warm_lru_pct"),
            ("-o hot_lru_pct=41,warm_lru_pct=40", "hot_lru_pct"),
            ("-o hot_max_factor=0", "-o hot_max_factor"),
            ("-o warm_max_factor=-1", "-o warm_max_factor"),
            ("-o temporary_ttl=abc", "-o temporary_ttl"),
            ("-o no_lru_maintainer,temporary_ttl=5", "-o temporary_ttl"),
            ("-o no_modern -o temporary_ttl=5", "-o temporary_ttl"),
            ("-o idle_timeout=abc", "-o idle_timeout"),
            ("-o watcher_logbuf_size=abc", "-o watcher_logbuf_size"),
            ("-o worker_logbuf_size=-1", "-o worker_logbuf_size"),
            ("-o read_buf_mem_limit=abc", "-o read_buf_mem_limit"),
            ("-o sock_cookie_id", "-o sock_cookie_id"),
            ("-o ext_path=/mnt/x:1G", "-o ext_path"),
            ("-o ext_threads=2", "ext_*"),
            ("-o ssl_key=/k", "-o ssl_key"),
        ] {
            fails_with(line, what);
        }
    }

    #[test]
    fn stats_settings_order_and_values() {
        let s = run("-l 127.0.0.1,::1 -D # -F -o hash_algorithm=jenkins");
        let stats = s.stats_settings();
        let names: Vec<&str> = stats.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            &names[..6],
            &[
                "maxbytes",
                "maxconns",
                "tcpport",
                "udpport",
                "inter",
                "verbosity"
            ]
        );
        assert_eq!(
            names[names.len() - 12..],
            [
                "dump_on_shutdown",
                "replication",
                "replicaof",
                "repl_self",
                "repl_backlog_size",
                "repl_timeout",
                "repl_priority",
                "repl_ack_policy",
                "repl_ack_timeout",
                "repl_auth_file",
                "repl_buffer_limit",
                "repl_sites",
            ]
        );
        let get = |k: &str| setting(&stats, k);
        assert_eq!(get("maxbytes"), "67108864");
        assert_eq!(get("inter"), "127.0.0.1,::1");
        assert_eq!(get("stat_key_prefix"), "#");
        assert_eq!(get("detail_enabled"), "yes");
        assert_eq!(get("flush_enabled"), "no");
        assert_eq!(get("hash_algorithm"), "jenkins");
        assert_eq!(get("dump_file"), "NULL");
        let d = Settings::default();
        let stats = d.stats_settings();
        let get = |k: &str| setting(&stats, k);
        assert_eq!(get("inter"), "NULL");
        assert_eq!(get("domain_socket"), "NULL");
        assert_eq!(get("umask"), "700");
        assert_eq!(get("evictions"), "on");
        assert_eq!(get("growth_factor"), "1.25");
        assert_eq!(get("binding_protocol"), "auto-negotiate");
        assert_eq!(get("slab_automove_ratio"), "0.80");
        assert_eq!(get("slab_automove_window"), "10");
        assert_eq!(get("hot_max_factor"), "0.20");
        assert_eq!(get("warm_max_factor"), "2.00");
        assert_eq!(get("slab_automove_freeratio"), "0.010");
        assert_eq!(get("memory_file"), "(null)");
        assert_eq!(get("slab_chunk_max"), "524288");
        // memcached 1.6.45's last lines, in its order, before ours.
        let names: Vec<&str> = stats.iter().map(|(n, _)| *n).collect();
        let at = names
            .iter()
            .position(|n| *n == "inline_ascii_response")
            .unwrap();
        let tail: Vec<(&str, &str)> = stats[at..at + 15]
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        assert_eq!(
            tail,
            [
                ("inline_ascii_response", "no"),
                ("ext_item_size", "512"),
                ("ext_item_age", "4294967295"),
                ("ext_low_ttl", "0"),
                ("ext_recache_rate", "2000"),
                ("ext_wbuf_size", "4194304"),
                ("ext_compact_under", "0"),
                ("ext_drop_under", "0"),
                ("ext_max_sleep", "1000000"),
                ("ext_max_frag", "0.80"),
                ("slab_automove_freeratio", "0.010"),
                ("ext_drop_unread", "no"),
                ("num_napi_ids", "0"),
                ("memory_file", "(null)"),
                ("client_flags_size", "4"),
            ]
        );
        assert_eq!(names[at + 15], "dump_file");
    }

    #[test]
    fn stats_places_run_without_gaps() {
        let lines = stats_lines();
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(
                l.at as usize,
                i + 1,
                "stats settings line {} has place {}: the places must be 1..={} \
                 without gaps or repeats (a new line takes {})",
                l.name,
                l.at,
                lines.len(),
                lines.len() + 1
            );
        }
        let mut names: Vec<&str> = lines.iter().map(|l| l.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), lines.len(), "a stats settings name repeats");
    }

    #[test]
    fn extended_keys_are_unambiguous() {
        let mut names = Vec::new();
        for e in EXTENDED {
            names.push(e.key.to_string());
            if matches!(e.value, Value::Toggle(_)) {
                names.push(format!("no_{}", e.key));
            }
            if matches!(e.value, Value::Family { .. }) {
                assert!(e.key.ends_with('_'), "{}: a family ends in '_'", e.key);
            }
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "an -o name is given by two rows");
        for n in &names {
            let (row, _) = find_extended(n).unwrap();
            assert!(n.ends_with(row.key), "{n} found row {}", row.key);
        }
    }

    #[test]
    fn flag_names_are_unique() {
        let mut names: Vec<&str> = FLAGS
            .iter()
            .flat_map(|f| [f.short, f.long])
            .filter(|n| !n.is_empty())
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a flag name is given by two rows");
    }

    #[test]
    fn help_defaults_come_from_settings_default() {
        let mut d = Settings::default();
        for e in EXTENDED {
            let lines: &[&str] = match e.help {
                Help::Listed(l) | Help::ListedNo(l) => {
                    assert!(!l.is_empty(), "{}: a listed option needs a line", e.key);
                    l
                }
                Help::Lines(l) => l,
                Help::Unlisted => &[],
            };
            if lines.iter().any(|l| l.contains("{default}")) {
                assert!(
                    e.value.show(&mut d).is_some(),
                    "{}: {{default}} in -h, but the value has nothing to show",
                    e.key
                );
            }
        }
        let help = help_text();
        assert!(!help.contains("{default}"));
        assert!(help.contains(
            "   - watcher_logbuf_size: kilobytes of log buffer per watcher (default: 256)\n"
        ));
        assert!(help.contains("   - no_lru_crawler:      do not run the LRU crawler\n"));
        assert!(help.contains(
            "   - maxconns_fast:       close connections over the -c limit at once (default: on)\n"
        ));
    }
}
