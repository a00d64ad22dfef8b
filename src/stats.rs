//! Counters and the `stats` command's general group, with memcached 1.6's
//! field names and order. Counters live next to the code that bumps them:
//! request counters here (one thread, so memcached's per-thread stats are
//! one set), item counters in items::ItemStats, slab totals in slabs.

use std::fmt::Display;
use std::io::Write;

/// Request and connection counters (memcached's thread_stats plus
/// stats_state).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub get_cmds: u64,
    pub get_hits: u64,
    pub get_misses: u64,
    pub touch_cmds: u64,
    pub touch_hits: u64,
    pub touch_misses: u64,
    pub set_cmds: u64,
    pub flush_cmds: u64,
    pub meta_cmds: u64,
    pub delete_hits: u64,
    pub delete_misses: u64,
    pub incr_hits: u64,
    pub incr_misses: u64,
    pub decr_hits: u64,
    pub decr_misses: u64,
    pub cas_hits: u64,
    pub cas_misses: u64,
    pub cas_badval: u64,
    pub store_too_large: u64,
    pub store_no_memory: u64,
    pub auth_cmds: u64,
    pub auth_errors: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub conn_yields: u64,
    pub total_conns: u64,
    pub rejected_conns: u64,
    pub listen_disabled_num: u64,
    /// Connections currently open (clients only).
    pub curr_conns: u64,
    /// Most connection structures ever in use at once.
    pub conn_structs: u64,
    pub malloc_fails: u64,
    /// Connections closed by idle_timeout.
    pub idle_kicks: u64,
}

impl Stats {
    /// `stats reset`: clears the counters that memcached resets, keeping
    /// gauges (current connections, structures).
    pub fn reset(&mut self) {
        let curr = self.curr_conns;
        let structs = self.conn_structs;
        *self = Stats::default();
        self.curr_conns = curr;
        self.conn_structs = structs;
    }
}

/// Appends one `STAT name value\r\n` line.
#[inline]
pub fn append_stat(out: &mut Vec<u8>, name: &str, value: impl Display) {
    let _ = write!(out, "STAT {} {}\r\n", name, value);
}

/// The general `stats` group, in memcached 1.6's order. Fields that only
/// exist for memcached's worker threads, extstore or TLS are left out;
/// `threads` reports 1, the server's real thread count.
pub fn server_stats(core: &crate::Core, out: &mut Vec<u8>) {
    let s = &core.stats;
    let is = &core.cache.stats;
    let clock = &core.cache.clock;
    let (ru_user, ru_sys) = crate::sys::rusage();
    let usec = |us: u64| format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    append_stat(out, "pid", std::process::id());
    append_stat(
        out,
        "uptime",
        clock
            .current_time
            .saturating_sub(crate::items::ITEM_UPDATE_INTERVAL + 2),
    );
    append_stat(out, "time", clock.now_unix());
    append_stat(out, "version", env!("CARGO_PKG_VERSION"));
    append_stat(out, "libevent", "epoll");
    append_stat(out, "pointer_size", 8 * std::mem::size_of::<usize>());
    append_stat(out, "rusage_user", usec(ru_user));
    append_stat(out, "rusage_system", usec(ru_sys));
    append_stat(out, "max_connections", core.settings.maxconns);
    append_stat(out, "curr_connections", s.curr_conns);
    append_stat(out, "total_connections", s.total_conns);
    if core.settings.maxconns_fast {
        append_stat(out, "rejected_connections", s.rejected_conns);
    }
    append_stat(out, "connection_structures", s.conn_structs);
    append_stat(out, "response_obj_oom", 0);
    append_stat(out, "response_obj_count", 0);
    append_stat(out, "response_obj_bytes", 0);
    append_stat(out, "read_buf_count", core.pool.rbufs_in_use);
    append_stat(out, "read_buf_bytes", core.pool.rbuf_bytes_in_use);
    append_stat(out, "read_buf_bytes_free", core.pool.free_bytes());
    append_stat(out, "read_buf_oom", 0);
    append_stat(out, "reserved_fds", core.reserved_fds);
    append_stat(out, "cmd_get", s.get_cmds);
    append_stat(out, "cmd_set", s.set_cmds);
    append_stat(out, "cmd_flush", s.flush_cmds);
    append_stat(out, "cmd_touch", s.touch_cmds);
    append_stat(out, "cmd_meta", s.meta_cmds);
    append_stat(out, "get_hits", s.get_hits);
    append_stat(out, "get_misses", s.get_misses);
    append_stat(out, "get_expired", is.get_expired);
    append_stat(out, "get_flushed", is.get_flushed);
    append_stat(out, "delete_misses", s.delete_misses);
    append_stat(out, "delete_hits", s.delete_hits);
    append_stat(out, "incr_misses", s.incr_misses);
    append_stat(out, "incr_hits", s.incr_hits);
    append_stat(out, "decr_misses", s.decr_misses);
    append_stat(out, "decr_hits", s.decr_hits);
    append_stat(out, "cas_misses", s.cas_misses);
    append_stat(out, "cas_hits", s.cas_hits);
    append_stat(out, "cas_badval", s.cas_badval);
    append_stat(out, "touch_hits", s.touch_hits);
    append_stat(out, "touch_misses", s.touch_misses);
    append_stat(out, "store_too_large", s.store_too_large);
    append_stat(out, "store_no_memory", s.store_no_memory);
    append_stat(out, "auth_cmds", s.auth_cmds);
    append_stat(out, "auth_errors", s.auth_errors);
    if core.settings.idle_timeout > 0 {
        append_stat(out, "idle_kicks", s.idle_kicks);
    }
    append_stat(out, "bytes_read", s.bytes_read);
    append_stat(out, "bytes_written", s.bytes_written);
    append_stat(out, "limit_maxbytes", core.settings.maxbytes);
    append_stat(out, "accepting_conns", u8::from(core.accepting));
    append_stat(out, "listen_disabled_num", s.listen_disabled_num);
    append_stat(out, "time_in_listen_disabled_us", 0);
    append_stat(out, "threads", 1);
    append_stat(out, "conn_yields", s.conn_yields);
    append_stat(out, "hash_power_level", core.cache.assoc.hashpower);
    append_stat(out, "hash_bytes", core.cache.assoc.hash_bytes());
    append_stat(
        out,
        "hash_is_expanding",
        u8::from(core.cache.assoc.expanding),
    );
    // Page moving, the crawler, watchers and the segmented LRU arrive with
    // the operations work; until then nothing of theirs has happened.
    for name in [
        "slab_reassign_rescues",
        "slab_reassign_chunk_rescues",
        "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim",
        "slab_reassign_busy_items",
        "slab_reassign_busy_deletes",
        "slab_reassign_running",
        "slabs_moved",
        "lru_crawler_running",
        "lru_crawler_starts",
        "lru_maintainer_juggles",
    ] {
        append_stat(out, name, 0);
    }
    append_stat(out, "malloc_fails", s.malloc_fails);
    for name in [
        "log_worker_dropped",
        "log_worker_written",
        "log_watcher_skipped",
        "log_watcher_sent",
        "log_watchers",
    ] {
        append_stat(out, name, 0);
    }
    append_stat(out, "bytes", is.curr_bytes);
    append_stat(out, "curr_items", is.curr_items);
    append_stat(out, "total_items", is.total_items);
    append_stat(out, "slab_global_page_pool", 0);
    append_stat(out, "expired_unfetched", is.expired_unfetched);
    append_stat(out, "evicted_unfetched", is.evicted_unfetched);
    append_stat(out, "evicted_active", is.evicted_active);
    append_stat(out, "evictions", is.evictions);
    append_stat(out, "reclaimed", is.reclaimed);
    for name in [
        "crawler_reclaimed",
        "crawler_items_checked",
        "lrutail_reflocked",
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
        "lru_bumps_dropped",
    ] {
        append_stat(out, name, 0);
    }
    crate::dump::append_stats(core, out);
}
