//! Replication (doc/replication.md): a master streams every change of its
//! cache to its replicas over the client port, Redis-style; memcachedb's
//! `rep_*` commands report and tune it.
//!
//! ```text
//!  replica                                  master
//!    connect, "rep_sync <replid|?> <offset|-1>"  ->
//!                       <-  "REP_CONTINUE <replid> <offset>"   (backlog covers it)
//!                       <-  "REP_FULLSYNC <replid> <offset> <bytes>" + a dump file
//!                           (written by a forked child; changes made
//!                           meanwhile wait in the replica's buffer)
//!                       <-  the stream: rep_set / rep_del / rep_flush / rep_ping
//!    "rep_ack <offset>" once a second  ->
//! ```
//!
//! Every byte of the stream advances the offset; the master keeps the last
//! `repl_backlog_size` bytes so a replica that reconnects with a known
//! replication id and an offset still covered continues where it was.
//!
//! A replica may serve replicas of its own: it forwards the exact bytes
//! of its master's stream (replica.rs) and adds nothing, so offsets agree
//! down a chain.
//!
//! The rooms: stream.rs (the commands' text), master.rs (replica feeds,
//! the snapshot child, the backlog), replica.rs (the link to the master,
//! applying through the store door). This file holds the shared state, the
//! `rep_*` commands and `stats replication`.

pub mod buffer;
pub mod master;
pub mod replica;
pub mod stream;

use crate::settings::Settings;

/// Tokens of replica feeds (master side): this plus the feed's index.
pub const TOKEN_FEED_BASE: u64 = 1 << 42;
/// The token of the link to the master (replica side).
pub const TOKEN_LINK: u64 = 1 << 43;

/// Counters of `stats replication`.
#[derive(Debug, Default)]
pub struct ReplStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Replicas dropped for a buffer over its bound or a silent link.
    pub replicas_dropped: u64,
    /// How long the last snapshot's fork held the loop, in microseconds.
    pub latest_fork_usec: u64,
    /// The most stream bytes held for one replica while it waited for
    /// or received a snapshot.
    pub sync_buffer_peak: u64,
    /// Writes whose replicas did not acknowledge within the ack timeout.
    pub ack_timeouts: u64,
    /// Change records this master put into its stream.
    pub records_sent: u64,
    /// Stream commands this replica applied (pings included).
    pub records_applied: u64,
    /// Times this server's master changed (`rep_replicaof`).
    pub master_changes: u64,
    /// Links to the master that failed to connect, or dropped when up.
    pub connect_fail: u64,
    pub links_dropped: u64,
}

/// Replication's state, on a master and on a replica.
pub struct Repl {
    /// False with `-o no_replication`: `rep_*` answer REP_DISABLE.
    pub enabled: bool,
    /// The history this server's stream belongs to: 40 hex digits, new
    /// for a master that starts a history, the master's on a replica.
    pub replid: String,
    /// Master: the end of its stream. Replica: how far it has applied.
    pub offset: u64,
    /// The history this server's data belonged to before `replid` (a
    /// restart from a dump file, a master that took a new id), and the
    /// offset it ends at: a replica of that history continues from here
    /// up to that offset.
    pub replid2: Option<(String, u64)>,
    /// The stream held for the backlog and the replicas (buffer.rs).
    pub buf: buffer::StreamBuf,
    /// Master side: the replicas attached to this server.
    pub master: master::Feeds,
    /// Replica side: the link to the master (None on a master).
    pub link: Option<replica::Link>,
    /// The address this server is known by (`repl_self`).
    pub self_addr: String,
    pub timeout_ms: u64,
    /// memcachedb's tunables. The priority is announced to the master
    /// (elections use it); the ack policy and timeout hold write replies
    /// (master.rs); bulk off sends each write as it is made; request is
    /// the replica's reconnection backoff, MIN and MAX milliseconds.
    pub priority: u32,
    pub ack_policy: u32,
    /// Microseconds.
    pub ack_timeout: u32,
    pub bulk: bool,
    pub request: (u32, u32),
    pub stats: ReplStats,
    /// A replica's user and password for its master (`repl_auth_file`).
    pub auth: Option<(Vec<u8>, Vec<u8>)>,
    /// A replica whose buffered stream passes this many bytes is dropped
    /// (`repl_buffer_limit`).
    pub buffer_limit: usize,
    /// The group's size, master included (`repl_sites`; 0: the known
    /// replicas and this server).
    pub sites: u32,
}

/// A new replication id: 40 hex digits from the kernel's random source.
pub(crate) fn new_replid() -> String {
    let mut b = [0u8; 20];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

impl Repl {
    pub fn new(settings: &Settings) -> Repl {
        let self_addr = settings.repl_self.clone().unwrap_or_else(|| {
            let host = settings
                .inter
                .first()
                .cloned()
                .unwrap_or_else(|| "127.0.0.1".to_string());
            format!("{}:{}", host, settings.port)
        });
        Repl {
            enabled: settings.replication,
            replid: new_replid(),
            offset: 0,
            replid2: None,
            buf: buffer::StreamBuf::new(settings.repl_backlog_size as usize),
            master: master::Feeds::default(),
            link: settings
                .replicaof
                .as_ref()
                .map(|hp| replica::Link::new(hp.clone())),
            self_addr,
            timeout_ms: settings.repl_timeout as u64,
            priority: settings.repl_priority,
            ack_policy: settings.repl_ack_policy,
            ack_timeout: settings.repl_ack_timeout,
            bulk: true,
            request: (100, 5000),
            stats: ReplStats::default(),
            auth: None,
            buffer_limit: settings.repl_buffer_limit as usize,
            sites: settings.repl_sites,
        }
    }

    /// True while this server is a replica (its writes come from a master).
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.link.is_some()
    }

    /// True if connections must tell the loop when a command wrote: on a
    /// master with an ack policy, or with the bulk stream off.
    #[inline]
    pub fn watches_writes(&self) -> bool {
        (self.ack_policy != master::ACK_NONE || !self.bulk) && self.enabled && !self.is_replica()
    }

    /// The master's `host:port` on a replica.
    pub fn master_addr(&self) -> Option<&str> {
        self.link.as_ref().map(|l| l.addr.as_str())
    }

    /// Where this server's data stands in its history, for the dump file:
    /// None when replication is off or a replica has not synced yet.
    pub fn position(&self) -> Option<crate::dump::format::ReplPosition> {
        let synced = self.link.as_ref().is_none_or(|l| l.synced());
        (self.enabled && synced).then(|| crate::dump::format::ReplPosition {
            replid: self.replid.clone(),
            offset: self.offset,
            by_replica: self.is_replica(),
        })
    }

    /// At start, the position of the dump file just loaded. A replica
    /// takes it as its own and asks its master to continue from there. A
    /// master starts a new history at that offset and keeps the old id as
    /// `replid2`, so a replica that holds exactly what the file holds
    /// continues, and one that got further (from a stream this server
    /// lost when it stopped) cannot graft a different future onto it.
    fn resume(&mut self, pos: crate::dump::format::ReplPosition) {
        if !self.enabled {
            return;
        }
        self.offset = pos.offset;
        self.buf.reset(pos.offset);
        match self.link.as_mut() {
            Some(l) => {
                l.mark_synced();
                self.replid = pos.replid;
            }
            None => self.replid2 = Some((pos.replid, pos.offset)),
        }
        log::info!(
            "replication: resuming at offset {} of {}",
            self.offset,
            self.replid2.as_ref().map_or(&self.replid, |r| &r.0)
        );
    }

    /// True if a replica asking for `replid` at `offset` may continue
    /// from this server's stream (if the backlog still holds it).
    pub fn same_history(&self, replid: &str, offset: i64) -> bool {
        offset >= 0
            && (replid == self.replid
                || self
                    .replid2
                    .as_ref()
                    .is_some_and(|(id, end)| id == replid && offset as u64 <= *end))
    }

    /// Appends bytes of stream (the backlog and every attached replica
    /// read them from `buf`) and moves the offset.
    pub fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.buf.push(bytes);
        self.offset = self.buf.end();
    }

    /// As `feed`, for a whole buffer of stream bytes the stream takes
    /// over as one of its blocks, without copying them (a replica's
    /// read buffer, once applied).
    pub fn feed_block(&mut self, block: Vec<u8>) {
        self.buf.adopt(block);
        self.offset = self.buf.end();
    }
}

/// At start: replication takes the position of the dump file just loaded
/// (`Repl::resume`). A master resuming a history records every change
/// from now on, replicas or not: a replica that held exactly the file
/// continues from the backlog and must find there every change since.
pub fn resume(core: &mut crate::server::Core, pos: crate::dump::format::ReplPosition) {
    core.repl.resume(pos);
    if core.repl.enabled && !core.repl.is_replica() {
        core.cache.listen_changes(true);
    }
}

/// The reply to a `rep_*` command.
pub fn command(core: &mut crate::server::Core, toks: &[&[u8]]) -> String {
    let r = &mut core.repl;
    let n = toks.len();
    let bad = || "CLIENT_ERROR bad command line format".to_string();
    if !r.enabled {
        return match toks[0] {
            b"rep_ismaster"
            | b"rep_whoismaster"
            | b"rep_get_priority"
            | b"rep_set_priority"
            | b"rep_set_ack_policy"
            | b"rep_set_ack_timeout"
            | b"rep_set_bulk"
            | b"rep_set_request"
            | b"rep_replicaof"
            | b"rep_forget" => "REP_DISABLE".to_string(),
            _ => "ERROR".to_string(),
        };
    }
    let num = |t: &[u8]| -> Option<u32> { std::str::from_utf8(t).ok()?.parse().ok() };
    match (toks[0], n) {
        (b"rep_ismaster", 1) => if r.is_replica() {
            "REP_FALSE"
        } else {
            "REP_TRUE"
        }
        .to_string(),
        (b"rep_whoismaster", 1) => match &r.link {
            Some(l) => l.addr.clone(),
            None => r.self_addr.clone(),
        },
        (b"rep_get_priority", 1) => r.priority.to_string(),
        (b"rep_set_priority", 2) => match num(toks[1]) {
            Some(v) => {
                r.priority = v;
                v.to_string()
            }
            None => bad(),
        },
        (b"rep_set_ack_policy", 2) => match num(toks[1]) {
            Some(v) if (1..=6).contains(&v) => {
                r.ack_policy = v;
                v.to_string()
            }
            _ => bad(),
        },
        (b"rep_set_ack_timeout", 2) => match num(toks[1]) {
            Some(v) if v > 0 => {
                r.ack_timeout = v;
                v.to_string()
            }
            _ => bad(),
        },
        (b"rep_set_bulk", 2) => match toks[1] {
            b"0" | b"1" => {
                r.bulk = toks[1] == b"1";
                String::from_utf8_lossy(toks[1]).into_owned()
            }
            _ => bad(),
        },
        (b"rep_set_request", 3) => match (num(toks[1]), num(toks[2])) {
            (Some(lo), Some(hi)) if lo > 0 && lo <= hi => {
                r.request = (lo, hi);
                format!("{}/{}", lo, hi)
            }
            _ => bad(),
        },
        (b"rep_forget", 2) => match std::str::from_utf8(toks[1]) {
            Ok(id) if r.master.forget(id) => "OK".to_string(),
            Ok(_) => "NOT_FOUND".to_string(),
            Err(_) => bad(),
        },
        (b"rep_replicaof", 3) if toks[1] == b"no" && toks[2] == b"one" => {
            replica::become_master(core);
            "OK".to_string()
        }
        (b"rep_replicaof", 3) => match (std::str::from_utf8(toks[1]), num(toks[2])) {
            (Ok(host), Some(port)) if port > 0 && port < 65536 => {
                replica::become_replica(core, format!("{}:{}", host, port));
                "OK".to_string()
            }
            _ => bad(),
        },
        _ => bad(),
    }
}

/// memcachedb's replication stats groups, with this server's numbers
/// under memcachedb's names: `rep` (its st_* counters), `repmgr`,
/// `repcfg` (the tunables) and `repms` (the sites). False for any other
/// group.
pub fn append_group(core: &crate::server::Core, group: &[u8], out: &mut Vec<u8>) -> bool {
    use crate::stats::append_stat;
    let r = &core.repl;
    let (known, _) = r.master.known();
    let nsites = match r.sites {
        0 => 1 + if r.is_replica() { 1 } else { known },
        n => n as usize,
    };
    let up = r.link.as_ref().map(|l| l.status() == "up");
    match group {
        b"rep" => {
            append_stat(out, "st_env_priority", r.priority);
            append_stat(out, "st_log_queued", r.master.queued(r.offset));
            append_stat(out, "st_log_records", r.stats.records_applied);
            append_stat(out, "st_master_changes", r.stats.master_changes);
            append_stat(out, "st_msgs_sent", r.stats.records_sent);
            append_stat(out, "st_nsites", nsites);
            append_stat(out, "st_startup_complete", up.unwrap_or(true) as u8);
        }
        b"repmgr" => {
            append_stat(out, "st_perm_failed", r.stats.ack_timeouts);
            append_stat(out, "st_msgs_queued", r.master.queued(r.offset));
            append_stat(
                out,
                "st_connection_drop",
                r.stats.replicas_dropped + r.stats.links_dropped,
            );
            append_stat(out, "st_connect_fail", r.stats.connect_fail);
        }
        b"repcfg" => {
            append_stat(out, "rep_priority", r.priority);
            append_stat(out, "rep_ack_policy", r.ack_policy);
            append_stat(out, "rep_ack_timeout", r.ack_timeout);
            append_stat(out, "rep_bulk", r.bulk as u8);
            append_stat(
                out,
                "rep_request",
                format!("{}/{}", r.request.0, r.request.1),
            );
            append_stat(out, "rep_nsites", nsites);
        }
        b"repms" => {
            let role = if r.is_replica() { "CLIENT" } else { "MASTER" };
            append_stat(out, "site-00", format!("{}/{}/--", r.self_addr, role));
            match &r.link {
                Some(l) => {
                    let state = if up == Some(true) {
                        "CONNECTED"
                    } else {
                        "DISCONNECTED"
                    };
                    append_stat(out, "site-01", format!("{}/MASTER/{}", l.addr, state));
                }
                None => r.master.site_lines(1, out),
            }
        }
        _ => return false,
    }
    true
}

/// `stats replication`.
pub fn append_stats(core: &crate::server::Core, out: &mut Vec<u8>) {
    use crate::stats::append_stat;
    let r = &core.repl;
    append_stat(
        out,
        "role",
        if r.is_replica() { "replica" } else { "master" },
    );
    append_stat(out, "repl_enabled", if r.enabled { "yes" } else { "no" });
    append_stat(out, "repl_id", &r.replid);
    append_stat(out, "repl_offset", r.offset);
    if let Some((id, end)) = &r.replid2 {
        append_stat(out, "repl_id2", id);
        append_stat(out, "repl_id2_offset", end);
    }
    if let Some(l) = &r.link {
        append_stat(out, "master", &l.addr);
        append_stat(out, "master_link_status", l.status());
        l.append_stats(out);
    }
    append_stat(out, "connected_replicas", r.master.online());
    append_stat(out, "sync_full", r.stats.sync_full);
    append_stat(out, "sync_partial_ok", r.stats.sync_partial_ok);
    append_stat(out, "sync_partial_err", r.stats.sync_partial_err);
    append_stat(out, "replicas_dropped", r.stats.replicas_dropped);
    append_stat(out, "latest_fork_usec", r.stats.latest_fork_usec);
    append_stat(out, "sync_buffer_peak", r.stats.sync_buffer_peak);
    append_stat(out, "ack_timeouts", r.stats.ack_timeouts);
    append_stat(out, "repl_backlog_size", r.buf.backlog);
    append_stat(out, "repl_backlog_histlen", r.buf.len());
    r.master.append_stats(r.offset, out);
}
