//! Server settings: memcached's `settings_init` defaults, the command line
//! (short and long flags of memcached 1.6, parsed with getopts), the `-o`
//! extended options, the `-h` help page and the values `stats settings`
//! reports. Nothing here touches a socket or the cache: `main` turns the
//! returned `Settings` into listeners and slab classes.

/// How the server should treat a connection's first byte (`-B`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Ascii,
    Binary,
    Auto,
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
    /// `-v` count: 0 quiet, 1 errors/warnings, 2 commands and replies, 3 state transitions.
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
    /// `slab_chunk_max` in bytes (given in kilobytes; default page size / 2).
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
            slab_automove_window: 30,
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

/// Parses the command line (`args[0]` is the program name). Returns the
/// settings to run with, or `Exit` after printing help/version/license, or
/// `Err` with one line naming what is wrong (main prints it and exits 64).
pub fn parse_args(args: &[String]) -> Result<Action, String> {
    // Interim parser for the core's own testing; replaced by the full one.
    let mut o = getopts::Options::new();
    for f in [
        "p", "U", "s", "m", "I", "c", "u", "l", "a", "R", "o", "t", "b", "n", "f",
    ] {
        o.optmulti(f, "", "", "");
    }
    for f in ["C", "M", "A", "d", "k", "r", "L"] {
        o.optflag(f, "", "");
    }
    o.optflagmulti("v", "", "");
    o.optflagopt("F", "", "", "");
    let m = o.parse(&args[1..]).map_err(|e| e.to_string())?;
    let mut s = Settings::default();
    let num = |f: &str| -> Result<Option<u64>, String> {
        match m.opt_str(f) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("-{} {}: bad number", f, v)),
        }
    };
    if let Some(v) = num("p")? {
        s.port = v as u16;
    }
    if let Some(v) = num("U")? {
        s.udpport = v as u16;
    }
    if let Some(v) = num("m")? {
        s.maxbytes = v * 1024 * 1024;
    }
    if let Some(v) = num("c")? {
        s.maxconns = v as usize;
    }
    if let Some(v) = num("R")? {
        s.reqs_per_event = v as u32;
    }
    if let Some(v) = m.opt_str("I") {
        let (n, mul) = if let Some(x) = v.strip_suffix('m') {
            (x, 1024 * 1024)
        } else if let Some(x) = v.strip_suffix('k') {
            (x, 1024)
        } else {
            (&v[..], 1)
        };
        s.item_size_max = n.parse::<u32>().map_err(|_| "bad -I".to_string())? * mul;
        if s.item_size_max as u64 > 512 * 1024 {
            s.slab_chunk_size_max = 512 * 1024;
        }
    }
    s.socketpath = m.opt_str("s");
    if let Some(v) = m.opt_str("a") {
        s.access = u32::from_str_radix(&v, 8).map_err(|_| "bad -a".to_string())?;
    }
    if let Some(v) = m.opt_str("l") {
        s.inter = v.split(',').map(String::from).collect();
    }
    s.use_cas = !m.opt_present("C");
    s.evict_to_free = !m.opt_present("M");
    s.shutdown_command = m.opt_present("A");
    s.verbose = m.opt_count("v") as u8;
    if m.opt_present("F") {
        s.flush_enabled = false;
    }
    for o in m.opt_strs("o") {
        for kv in o.split(',') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "idle_timeout" => {
                    s.idle_timeout = v.parse().map_err(|_| "bad idle_timeout".to_string())?
                }
                "maxconns_fast" => s.maxconns_fast = true,
                "no_maxconns_fast" => s.maxconns_fast = false,
                "hashpower" => {
                    s.hashpower_init = v.parse().map_err(|_| "bad hashpower".to_string())?
                }
                _ => {}
            }
        }
    }
    Ok(Action::Run(Box::new(s)))
}

impl Settings {
    /// Interim `stats settings`.
    pub fn stats_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("maxbytes", self.maxbytes.to_string()),
            ("maxconns", self.maxconns.to_string()),
        ]
    }
}
